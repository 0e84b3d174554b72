"""Opening input files: every failure is one ``BadInput`` line naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from ..core.errors import BadInput

__all__ = ["open_input", "read_input"]


def open_input(path: Path) -> IO[bytes]:
    """``path`` opened for binary reading, or ``BadInput`` (missing, a directory, unreadable)."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise BadInput(path, "no such file") from None
    except IsADirectoryError:
        raise BadInput(path, "is a directory, not a file") from None
    except OSError as e:
        raise BadInput(path, f"cannot read: {e.strerror}") from None


def read_input(path: Path) -> bytes:
    with open_input(path) as f:
        try:
            return f.read()
        except OSError as e:
            raise BadInput(path, f"cannot read: {e.strerror}") from None
