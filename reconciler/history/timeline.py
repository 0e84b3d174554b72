"""PURE history of findings across runs: open / new / resolved / reopened / stuck, and a trend.

Input is what the store keeps: the runs of one tenant and, for each run, the
findings it saw (by their stable id). Only *complete* runs count: a partial run
(errors, throttling cut-off) never makes a finding new, resolved or reopened.

The comparison is between the latest complete run ``L`` and a *baseline* ``B``:

- default: ``B`` is the complete run just before ``L`` ("since the last run");
- ``last=N``: the window is the last N complete runs, ``B`` the run before it;
- ``since=T``: the window is the complete runs started at or after ``T``, ``B``
  the latest complete run before ``T``.

Then ``open`` = in ``L``; ``new`` = in ``L`` and never seen up to ``B``;
``reopened`` = in ``L``, seen before, and back after an absence inside the
window; ``resolved`` = not in ``L`` but seen at ``B`` or later;
``stuck`` = open, and its current open streak began longer than
``stuck_after`` before ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = [
    "TREND_RUNS",
    "FindingHistory",
    "RunPoint",
    "Sighting",
    "TenantHistory",
    "parse_duration",
    "parse_time",
    "resolve_since",
    "tenant_history",
]

TREND_RUNS = 30  # trend points shown when no window is given


@dataclass(frozen=True, slots=True)
class RunPoint:
    """One run of one tenant (complete or not)."""

    id: str
    at: str  # ISO 8601 UTC start time
    complete: bool
    tenant_id: str = ""
    tenant_name: str | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """A finding as one run saw it (the light columns of the findings table)."""

    id: str
    scenario: str
    property: str
    value: str
    object_id: str
    object_name: str | None = None


@dataclass(frozen=True, slots=True)
class FindingHistory:
    id: str
    state: str  # open | new | resolved | reopened
    stuck: bool
    latest: Sighting  # as last seen
    first_seen: str
    last_seen: str
    last_seen_run: str
    open_since: str | None  # start of the current open streak; None when resolved
    resolved_at: str | None

    @property
    def is_open(self) -> bool:
        return self.state != "resolved"


@dataclass(slots=True)
class TenantHistory:
    tenant_id: str
    tenant_name: str | None
    last_run: RunPoint | None  # the latest run of any kind
    latest: RunPoint | None  # the latest complete run
    baseline: RunPoint | None
    since: str | None
    findings: list[FindingHistory] = field(default_factory=list)
    trend: list[tuple[str, str, int]] = field(default_factory=list)  # (run id, at, open)

    def count(self, state: str) -> int:
        if state == "open":
            return sum(1 for f in self.findings if f.is_open)
        if state == "stuck":
            return sum(1 for f in self.findings if f.stuck)
        return sum(1 for f in self.findings if f.state == state)

    def by(self, attr: str) -> dict[str, int]:
        """Open findings counted by ``scenario`` or ``property``."""
        out: dict[str, int] = {}
        for f in self.findings:
            if f.is_open:
                key = getattr(f.latest, attr)
                out[key] = out.get(key, 0) + 1
        return dict(sorted(out.items()))


def parse_time(text: str) -> datetime:
    """ISO 8601 date or date-time; naive values are UTC."""
    t = datetime.fromisoformat(text.strip())
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _window(complete: Sequence[RunPoint], since: str | None,
            last: int | None) -> tuple[int, int | None]:
    """(index of the first run in the window, index of the baseline or None)."""
    if since is not None:
        t = parse_time(since)
        start = next((i for i, r in enumerate(complete) if parse_time(r.at) >= t), len(complete))
        start = min(start, len(complete) - 1)  # the latest run is always in the window
    else:
        start = len(complete) - (last or 1)
    start = max(start, 0)
    return start, (start - 1 if start > 0 else None)


def _trend_start(complete: Sequence[RunPoint], start: int, since: str | None, last: int | None) -> int:
    if since is None and last is None:
        return max(0, len(complete) - TREND_RUNS)
    return start


def tenant_history(runs: Sequence[RunPoint], seen: Mapping[str, Sequence[Sighting]], *,
                   since: str | None = None, last: int | None = None,
                   stuck_after: timedelta = timedelta(hours=24),
                   now: datetime | None = None) -> TenantHistory:
    """History of one tenant. ``runs`` in any order; ``seen`` maps run id -> its findings."""
    ordered = sorted(runs, key=lambda r: r.at)  # stable: ties keep the store's insertion order
    complete = [r for r in ordered if r.complete]
    last_run = ordered[-1] if ordered else None
    name = next((r.tenant_name for r in reversed(ordered) if r.tenant_name), None)
    tid = last_run.tenant_id if last_run else ""
    if not complete:
        return TenantHistory(tid, name, last_run, None, None, since)
    start, base = _window(complete, since, last)
    hist = TenantHistory(tid, name, last_run, complete[-1], complete[base] if base is not None else None,
                         since if since is not None else (complete[base].at if base is not None else None))
    now = now or datetime.now(UTC)
    presence = _presence(complete, seen)
    for fid, (marks, latest, last_run_id) in presence.items():
        f = _classify(fid, marks, complete, start, latest, last_run_id, stuck_after, now)
        if f is not None:
            hist.findings.append(f)
    hist.findings.sort(key=_sort_key)
    t0 = _trend_start(complete, start, since, last)
    hist.trend = [(r.id, r.at, len({s.id for s in seen.get(r.id, ())})) for r in complete[t0:]]
    return hist


_STATE_ORDER = {"new": 0, "reopened": 1, "open": 2, "resolved": 3}


def _sort_key(f: FindingHistory) -> tuple[int, bool, str, str]:
    return (_STATE_ORDER[f.state], not f.stuck, f.latest.property, f.latest.value.casefold())


def _presence(complete: Sequence[RunPoint], seen: Mapping[str, Sequence[Sighting]]
              ) -> dict[str, tuple[list[bool], Sighting, str]]:
    """finding id -> (present in each complete run, latest sighting, id of the run that saw it last)."""
    out: dict[str, tuple[list[bool], Sighting, str]] = {}
    for i, run in enumerate(complete):
        for s in seen.get(run.id, ()):
            entry = out.get(s.id)
            if entry is None:
                entry = ([False] * len(complete), s, run.id)
            entry[0][i] = True
            out[s.id] = (entry[0], s, run.id)
    return out


def _classify(fid: str, marks: list[bool], complete: Sequence[RunPoint], start: int, latest: Sighting,
              last_run_id: str, stuck_after: timedelta, now: datetime) -> FindingHistory | None:
    n = len(complete)
    first = marks.index(True)
    last_i = n - 1 - marks[::-1].index(True)
    base = start - 1
    if not marks[-1]:
        if base >= 0 and last_i < base:
            return None  # resolved before the window: not news
        return FindingHistory(fid, "resolved", False, latest, complete[first].at, complete[last_i].at,
                              last_run_id, None, complete[last_i + 1].at)
    streak = n - 1
    while streak > 0 and marks[streak - 1]:
        streak -= 1
    if base < 0 or first > base:
        state = "new"
    elif streak > base and streak > first:
        state = "reopened"
    else:
        state = "open"
    open_since = complete[streak].at
    stuck = now - parse_time(open_since) > stuck_after
    return FindingHistory(fid, state, stuck, latest, complete[first].at, complete[-1].at, last_run_id,
                          open_since, None)


_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """``24h``, ``90m``, ``2d``, ``1d12h``, ``1w``, ``3600s``; ValueError otherwise."""
    s = text.strip().lower()
    total, num = 0.0, ""
    if not s:
        raise ValueError("empty duration")
    for ch in s:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in _UNITS and num:
            total += float(num) * _UNITS[ch]
            num = ""
        else:
            raise ValueError(f"not a duration: {text!r} (use e.g. 24h, 90m, 2d)")
    if num:
        raise ValueError(f"not a duration: {text!r}: give a unit (s, m, h, d, w)")
    return timedelta(seconds=total)


def resolve_since(text: str, now: datetime) -> str:
    """``--since``: an ISO date/date-time, or a duration back from ``now`` (``24h``, ``7d``)."""
    try:
        t = now - parse_duration(text)
    except ValueError:
        try:
            t = parse_time(text)
        except ValueError:
            raise ValueError(f"not a date, date-time or duration: {text!r} "
                             "(e.g. 2026-11-30, 2026-11-30T06:00:00Z, 24h, 7d)") from None
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
