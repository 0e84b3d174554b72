"""Pure history: states, stuck, windows and trend from literal runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.history.timeline import RunPoint, Sighting, parse_duration, resolve_since, tenant_history

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # six hours after the last nightly run


def s(fid: str) -> Sighting:
    return Sighting(fid, "cloud_only_twin", "UserPrincipalName", f"{fid}@contoso.com", f"obj-{fid}", fid.title())


def runs(*specs: tuple[str, bool, list[str]]) -> tuple[list[RunPoint], dict[str, list[Sighting]]]:
    """specs: (day, complete, finding ids); run i is on 2026-11-<day> at 02:00."""
    points, seen = [], {}
    for i, (day, complete, ids) in enumerate(specs):
        rid = f"r{i + 1}"
        points.append(RunPoint(rid, f"2026-11-{day}T02:00:00Z", complete, "t1", "Contoso"))
        seen[rid] = [s(x) for x in ids]
    return points, seen


def states(h) -> dict[str, str]:
    return {f.id: f.state for f in h.findings}


def test_three_runs_new_resolved_reopened_and_stuck():
    p, seen = runs(("27", True, ["a", "b", "c", "d"]), ("28", True, ["a", "b", "e"]),
                   ("29", True, ["a", "c", "f"]))
    h = tenant_history(p, seen, now=NOW)
    assert states(h) == {"a": "open", "c": "reopened", "f": "new", "b": "resolved", "e": "resolved"}
    assert (h.count("open"), h.count("new"), h.count("reopened"), h.count("resolved")) == (3, 1, 1, 2)
    stuck = {f.id for f in h.findings if f.stuck}
    assert stuck == {"a"}  # open since the 27th; c's current streak began on the 29th
    a = next(f for f in h.findings if f.id == "a")
    assert (a.first_seen, a.last_seen, a.resolved_at) == ("2026-11-27T02:00:00Z", "2026-11-29T02:00:00Z", None)
    b = next(f for f in h.findings if f.id == "b")
    assert b.resolved_at == "2026-11-29T02:00:00Z" and b.last_seen == "2026-11-28T02:00:00Z"
    assert h.trend == [("r1", "2026-11-27T02:00:00Z", 4), ("r2", "2026-11-28T02:00:00Z", 3),
                       ("r3", "2026-11-29T02:00:00Z", 3)]
    assert h.baseline.id == "r2" and h.latest.id == "r3"


def test_partial_run_counts_for_nothing_and_resolves_nothing():
    p, seen = runs(("28", True, ["a", "b"]), ("29", False, []))
    h = tenant_history(p, seen, now=NOW)
    assert states(h) == {"a": "new", "b": "new"}  # still the first complete run's view
    assert h.count("resolved") == 0
    assert h.last_run.id == "r2" and not h.last_run.complete and h.latest.id == "r1"
    assert [t[0] for t in h.trend] == ["r1"]


def test_partial_run_between_complete_runs_is_skipped():
    p, seen = runs(("27", True, ["a", "b"]), ("28", False, ["a"]), ("29", True, ["a", "b"]))
    h = tenant_history(p, seen, now=NOW)
    assert states(h) == {"a": "open", "b": "open"}  # b was never resolved: r2 was partial


def test_no_complete_run_means_no_findings():
    p, seen = runs(("29", False, ["a"]))
    h = tenant_history(p, seen, now=NOW)
    assert h.findings == [] and h.latest is None and h.last_run.id == "r1"


def test_last_n_widens_the_window():
    p, seen = runs(("26", True, ["a", "b"]), ("27", True, ["a"]), ("28", True, ["a", "c"]),
                   ("29", True, ["a", "c"]))
    assert states(tenant_history(p, seen, now=NOW)) == {"a": "open", "c": "open"}
    wide = tenant_history(p, seen, last=3, now=NOW)
    assert states(wide) == {"a": "open", "c": "new", "b": "resolved"}
    assert [t[0] for t in wide.trend] == ["r2", "r3", "r4"] and wide.baseline.id == "r1"


def test_since_uses_the_last_run_before_it_as_baseline():
    p, seen = runs(("26", True, ["a", "b"]), ("27", True, ["a"]), ("28", True, ["a", "b"]),
                   ("29", True, ["a", "b"]))
    h = tenant_history(p, seen, since="2026-11-27T12:00:00Z", now=NOW)
    assert h.baseline.id == "r2"
    assert states(h) == {"a": "open", "b": "reopened"}
    everything = tenant_history(p, seen, since="2026-01-01", now=NOW)
    assert everything.baseline is None and states(everything) == {"a": "new", "b": "new"}


def test_resolved_before_the_window_is_not_news():
    p, seen = runs(("27", True, ["a", "b"]), ("28", True, ["a"]), ("29", True, ["a"]))
    assert states(tenant_history(p, seen, now=NOW)) == {"a": "open"}


def test_stuck_after_threshold():
    p, seen = runs(("29", True, ["a"]))
    assert not tenant_history(p, seen, now=NOW).findings[0].stuck  # open for 6 h
    assert tenant_history(p, seen, now=NOW, stuck_after=timedelta(hours=3)).findings[0].stuck


def test_scenario_comes_from_the_latest_sighting():
    p, seen = runs(("28", True, ["a"]), ("29", True, []))
    seen["r2"] = [Sighting("a", "orphaned_holder", "UserPrincipalName", "a@x", "o", None)]
    h = tenant_history(p, seen, now=NOW)
    assert h.findings[0].latest.scenario == "orphaned_holder" and h.by("scenario") == {"orphaned_holder": 1}


@pytest.mark.parametrize("text,seconds", [("24h", 86400), ("90m", 5400), ("1d12h", 129600), ("1w", 604800),
                                          ("30s", 30), ("0s", 0)])
def test_parse_duration(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "1x", "-1h"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_resolve_since_accepts_dates_and_durations():
    assert resolve_since("24h", NOW) == "2026-11-28T08:00:00Z"
    assert resolve_since("2026-11-28", NOW) == "2026-11-28T00:00:00Z"
    assert resolve_since("2026-11-28T01:00:00+01:00", NOW) == "2026-11-28T00:00:00Z"
    with pytest.raises(ValueError, match="not a date"):
        resolve_since("yesterday", NOW)
