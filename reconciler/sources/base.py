"""Protocols every source implements. Pure: no I/O library imported here."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..core.model import CloudSnapshot, OnPremSource

__all__ = ["Progress", "CloudSource", "OnPremReader", "NullProgress"]


class Progress(Protocol):
    """Progress sink; the CLI draws it on stderr, libraries may pass ``NullProgress``."""

    def stage(self, name: str, total: int | None = None) -> None: ...

    def advance(self, n: int = 1, **counters: int) -> None: ...

    def note(self, message: str) -> None: ...


class NullProgress:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1, **counters: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@runtime_checkable
class CloudSource(Protocol):
    """Reads a tenant: error objects and (at least) every object that may hold their values."""

    label: str

    async def read(self, progress: Progress) -> CloudSnapshot: ...


@runtime_checkable
class OnPremReader(Protocol):
    """Reads one forest/domain (a file or an LDAP connection)."""

    label: str

    def read(self, progress: Progress) -> OnPremSource: ...
