"""Protocols every source implements. Pure: no I/O library imported here."""

from __future__ import annotations

import ipaddress
from typing import Any, Mapping, Protocol, runtime_checkable
from urllib.parse import urlsplit

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


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is this machine (localhost, 127.0.0.0/8, ::1): where ``--auth none`` and
    plain http are accepted (the emulator)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # an unclosed IPv6 bracket
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def as_mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object from a service answer, or an empty one when the field is missing or not an object."""
    return value if isinstance(value, Mapping) else {}
