"""File-backed sources: tenant files and on-prem exports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from ..core.model import ORIGINS, CloudSnapshot, OnPremObject, OnPremSource
from .base import Progress
from .onprem import (
    ReadReport,
    is_ad_object,
    is_dn_only,
    iter_onprem_file,
    read_onprem_file,
    refuse_archive,
    refuse_without_ad_objects,
)
from .tenantfile import read_tenant_file

if TYPE_CHECKING:
    from .prefilter import Selectable

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
        self.warnings: list[str] = []  # what iter_objects noticed about the file, once it has been read

    def read(self, progress: Progress) -> OnPremSource:
        progress.stage(f"reading {self.path.name}")
        src = read_onprem_file(self.path)
        progress.advance(len(src.objects), objects=len(src.objects))
        return src

    def prepare(self) -> "Selectable":
        """The scan's cheap pass (LDIF: index only; csvde: read in full); ``.select(keys)`` keeps what is needed."""
        if self.path.suffix.casefold() in (".ldif", ".ldf"):
            from .prefilter import index_ldif_elsewhere

            refuse_archive(self.path)

            return index_ldif_elsewhere(self.path)
        from .prefilter import Whole

        return Whole(read_onprem_file(self.path, parallel=True))  # a large csvde file: decoded on every core

    def iter_digests(self, progress: Progress, digest: tuple[str, Any]) -> Iterator[Any] | None:
        """For an LDIF or csvde export large enough to split across processes: the objects' digests, in file
        order, made in the child processes by ``digest`` (``ldif_parts.iter_ldif_digests``,
        ``csv_parts.iter_csv_digests``), so the per-object work of a single-pass consumer runs on every core too;
        None when the file is read in one process (then use :meth:`iter_objects`). Refusals and ``warnings`` as
        :meth:`iter_objects`."""
        suffix = self.path.suffix.casefold()
        if suffix not in (".ldif", ".ldf", ".csv"):
            return None
        refuse_archive(self.path)
        report = ReadReport()
        tally: dict[str, Any] = {}
        if suffix == ".csv":
            from .csv_parts import iter_csv_digests

            items = iter_csv_digests(self.path, report, digest, tally)
        else:
            from .ldif_parts import iter_ldif_digests

            items = iter_ldif_digests(self.path, report, digest, tally)
        return None if items is None else self._digests(items, report, tally)

    def _digests(self, items: Iterator[Any], report: ReadReport, tally: dict[str, Any]) -> Iterator[Any]:
        yield from items
        refuse_without_ad_objects(self.path, tally["total"], tally["ad"], tally["only_dn"])
        self._warn(report)

    def _warn(self, report: ReadReport) -> None:
        self.warnings = [f"{self.label}: incomplete export: {why}; objects beyond it were not checked"
                         for why in report.incomplete] + [f"{self.label}: {n}" for n in report.notes]

    def iter_objects(self, progress: Progress) -> Iterator[OnPremObject]:
        """Stream the objects (flat memory for single-pass consumers such as check-onprem); what the reader
        noticed about the file (cut off, a size limit, type names instead of values) is in ``warnings``
        once the stream is exhausted."""
        report = ReadReport()
        total = ad = 0
        only_dn = True
        if self.path.suffix.casefold() in (".ldif", ".ldf"):  # a large export is decoded on every core
            from .ldif_parts import iter_ldif_objects_parallel

            refuse_archive(self.path)

            objects = iter_ldif_objects_parallel(self.path, report)
        elif self.path.suffix.casefold() == ".csv":  # a large csvde export too
            from .csv_parts import iter_csv_objects_parallel

            refuse_archive(self.path)
            objects = iter_csv_objects_parallel(self.path, report)
        else:
            objects = iter_onprem_file(self.path, report)
        for o in objects:
            total += 1
            ad += is_ad_object(o)
            only_dn = only_dn and is_dn_only(o)
            yield o
        refuse_without_ad_objects(self.path, total, ad, only_dn)  # never "0 problems" for an empty export
        self._warn(report)
