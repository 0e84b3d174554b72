"""The one exception tree of reconciler.

Every error the library raises on purpose is a ``ReconcilerError``; the CLI maps
``exit_code`` to the process exit status and prints ``str(error)`` as one line.

::

    ReconcilerError                  (exit 1)
    ├── UsageError                   (exit 2) bad option combination
    ├── BadInput                     (exit 2) malformed or wrong-schema file; names file + place
    ├── UnsafePlan                   (exit 3) over --max-deletes/--max-changes without --force
    ├── PlanMismatch                 (exit 4) fingerprint, tenant or checksum mismatch
    ├── DriftDetected                (exit 4) a target no longer matches a step's ``expect``
    └── DirectoryError               (exit 5) a directory could not be read or written
        ├── NetworkError             unreachable server, timeouts, resets
        ├── AuthError                401, bad credentials, failed bind
        ├── PermissionDenied         403 / insufficientAccessRights; names what is missing
        ├── ConstraintViolation      the directory refused the value (e.g. a UPN already used)
        └── ThrottledError           gave up after repeated throttling

Messages never contain secrets: constructors take what to say, never a credential.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadInput",
    "ConstraintViolation",
    "DirectoryError",
    "DriftDetected",
    "NetworkError",
    "PermissionDenied",
    "PlanMismatch",
    "ReconcilerError",
    "ThrottledError",
    "UnsafePlan",
    "UsageError",
]


class ReconcilerError(Exception):
    """Base of every error reconciler raises on purpose.

    ``report``: when apply or undo stopped after running steps (drift, a dry run over a threshold), what it
    did with every step (an ``ApplyReport``); None otherwise.
    """

    exit_code: int = 1
    report: object = None


class UsageError(ReconcilerError):
    """Options that do not fit together, or a missing required input."""

    exit_code = 2


class BadInput(ReconcilerError):
    """An input file is missing, unreadable, malformed or of the wrong schema.

    ``str()`` is one line: ``<path>:<place>: <what is wrong>``.
    """

    exit_code = 2

    def __init__(self, path: object, problem: str, *, line: int | None = None,
                 column: int | None = None, place: str | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.column = column
        self.place = place
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.place:
            where += f" ({self.place})"
        return f"{where}: {self.problem}"


class UnsafePlan(ReconcilerError):
    """The plan exceeds a safety threshold; ``--force`` overrides."""

    exit_code = 3


class PlanMismatch(ReconcilerError):
    """The plan is not the one reviewed (fingerprint, tenant or checksum)."""

    exit_code = 4


class DriftDetected(ReconcilerError):
    """A target changed since the plan was made."""

    exit_code = 4


class DirectoryError(ReconcilerError):
    """A directory (Graph, LDAP) could not be read or written."""

    exit_code = 5


class NetworkError(DirectoryError):
    """The server could not be reached or stopped answering."""


class AuthError(DirectoryError):
    """Authentication failed (HTTP 401, bad credentials, refused bind)."""


class PermissionDenied(DirectoryError):
    """Authenticated, but not allowed (HTTP 403, insufficientAccessRights)."""


class ThrottledError(DirectoryError):
    """The server kept throttling past the retry budget."""


class ConstraintViolation(DirectoryError):
    """The directory refused the value (LDAP constraintViolation), e.g. a UPN already used in the forest."""
