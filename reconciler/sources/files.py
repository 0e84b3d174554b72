"""File-backed sources: tenant files and on-prem exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

from ..core.model import ORIGINS, CloudSnapshot, OnPremObject, OnPremSource
from .base import Progress
from .onprem import iter_onprem_file, read_onprem_file
from .tenantfile import read_tenant_file

__all__ = ["TenantFileSource", "OnPremFileReader"]


class TenantFileSource:
    def __init__(self, path: Path | str, origins: Iterable[str] = ORIGINS, since: Any = None) -> None:
        self.path = Path(path)
        self.label = str(self.path)
        self.origins = tuple(origins)
        self.since = since

    async def read(self, progress: Progress) -> CloudSnapshot:
        progress.stage(f"reading {self.path.name}")
        snap = read_tenant_file(self.path, self.origins, self.since)
        progress.advance(len(snap.objects), objects=len(snap.objects))
        return snap


class OnPremFileReader:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.label = str(self.path)

    def read(self, progress: Progress) -> OnPremSource:
        progress.stage(f"reading {self.path.name}")
        src = read_onprem_file(self.path)
        progress.advance(len(src.objects), objects=len(src.objects))
        return src

    def iter_objects(self, progress: Progress) -> Iterator[OnPremObject]:
        """Stream the objects (flat memory for single-pass consumers such as check-onprem)."""
        return iter_onprem_file(self.path)
