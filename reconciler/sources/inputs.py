"""Opening input files: every failure is one ``BadInput`` line naming the file."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from ..core.errors import BadInput

__all__ = ["open_input", "read_input", "decode_utf16", "utf16_codec", "read_text"]


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


def utf16_codec(head: bytes) -> tuple[str, int] | None:
    """(codec, bytes to skip) when ``head`` is UTF-16 text, with or without a byte-order mark."""
    if head[:2] == b"\xff\xfe":
        return "utf-16-le", 2
    if head[:2] == b"\xfe\xff":
        return "utf-16-be", 2
    # Without a BOM: ASCII text in UTF-16 has a zero byte in every other position
    # ("d\x00n\x00" is "dn" little-endian).
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0 and head[2] != 0:
        return "utf-16-le", 0
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] != 0 and head[3] != 0:
        return "utf-16-be", 0
    return None


def decode_utf16(data: bytes, path: Path) -> bytes | None:
    """UTF-8 bytes of ``data`` when it is UTF-16 (``ldifde -u``, ``csvde -u``, PowerShell "Unicode"), else None."""
    kind = utf16_codec(data[:4])
    if kind is None:
        return None
    codec, skip = kind
    try:
        return data[skip:].decode(codec, errors="strict").encode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(path, f"not valid {codec.upper()} text at byte {e.start + skip}") from None


def read_text(path: Path, hint: str) -> str:
    """A text export decoded: UTF-16 (with or without BOM), else UTF-8 (BOM dropped); ``hint`` ends the error."""
    data = read_input(path)
    wide = decode_utf16(data, path)
    if wide is not None:
        data = wide
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise BadInput(path, f"not UTF-8 text ({hint})", line=line) from None
