"""A finding is not "resolved" by a run that could not see it.

Each scan records the error origins it actually read (``stats.origins_read``): a refused optional origin —
Cloud Sync without ``AuditLog.Read.All``, Connect Health without Azure RBAC read — is absent, and so is an
origin left out with ``--errors``. When a finding reported only by origins that a later complete run did not
read is missing from that run, the run could not have seen it: :func:`carry_unread` carries it into that run
as still present, so history never reports "resolved" (and later "reopened") for an origin's silence. Runs
stored before origins were recorded count as having read every origin. No I/O here: the caller passes a
lookup of each finding's origins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["ALL_ORIGINS", "carry_unread", "carry_unread_from_store"]

ALL_ORIGINS = frozenset({"connect", "cloud_sync", "exchange", "health"})
S = TypeVar("S")


def _read(stats: Mapping[str, Any] | None) -> frozenset[str]:
    got = (stats or {}).get("origins_read")
    return frozenset(str(o) for o in got) if isinstance(got, list) else ALL_ORIGINS


def carry_unread(runs: Sequence[Any], seen: Mapping[str, Sequence[S]], key: Callable[[S], str],
                 origins: Callable[[str, str], Sequence[str]]
                 ) -> tuple[dict[str, list[S]], dict[tuple[str, str], str]]:
    """(``seen`` with the carried sightings, (run id, finding id) -> the run whose stored data a carried
    sighting comes from).

    ``runs``: one tenant's runs in time order (``.id``, ``.complete``, ``.stats``); ``seen``: run id ->
    sightings; ``key(sighting)``: its finding id; ``origins(run_id, finding_id)``: the origins that reported
    it in that run (a run that stored it).
    """
    out = {rid: list(v) for rid, v in seen.items()}
    data_run: dict[tuple[str, str], str] = {}
    prev: str | None = None
    for run in runs:
        if not run.complete:
            continue
        read = _read(getattr(run, "stats", None))
        if prev is not None and read != ALL_ORIGINS:
            here = {key(s) for s in out.get(run.id, ())}
            for s in out.get(prev, ()):
                fid = key(s)
                if fid in here:
                    continue
                stored_in = data_run.get((prev, fid), prev)
                got = set(origins(stored_in, fid) or ())
                if got and not got & read:
                    out.setdefault(run.id, []).append(s)
                    data_run[(run.id, fid)] = stored_in
                    here.add(fid)
        prev = run.id
    return out, data_run


def carry_unread_from_store(store: Any, runs: Sequence[Any], seen: Mapping[str, Sequence[S]],
                            key: Callable[[S], str]) -> tuple[dict[str, list[S]], dict[tuple[str, str], str]]:
    """:func:`carry_unread` for every tenant of ``runs`` (store rows in time order), origins read from the
    stored finding JSON (``store.finding_data_many``)."""
    def origins(rid: str, fid: str) -> list[str]:
        c = (store.finding_data_many([(rid, fid)]).get((rid, fid)) or {}).get("conflict") or {}
        got = c.get("origins") if isinstance(c, Mapping) else None
        return [str(o) for o in got] if isinstance(got, list) and got else [str(c.get("origin") or "connect")]

    by_tenant: dict[str, list[Any]] = {}
    for r in runs:
        by_tenant.setdefault(str(r.tenant_id), []).append(r)
    out: dict[str, list[S]] = {rid: list(v) for rid, v in seen.items()}
    data_run: dict[tuple[str, str], str] = {}
    for tenant_runs in by_tenant.values():
        out, more = carry_unread(tenant_runs, out, key, origins)
        data_run.update(more)
    return out, data_run
