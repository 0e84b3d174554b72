"""The history report: build it from the store's runs (through a small Protocol) and render it.

``build_report`` turns stored runs into the ``reconciler.report/1`` document
(docs/reports.md) using the pure :mod:`reconciler.history.timeline`; the renderers
write table / json / csv / md / html to a text stream and nothing else.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TextIO

import orjson

from .timeline import RunPoint, Sighting, TenantHistory, tenant_history
from .unread import carry_unread_from_store

__all__ = [
    "CSV_COLUMNS",
    "REPORT_FORMATS",
    "REPORT_SCHEMA",
    "HistoryReader",
    "Report",
    "build_report",
    "check_exit",
    "render_outcomes",
    "render_report",
]

REPORT_SCHEMA = "reconciler.report/1"
REPORT_FORMATS = ("table", "json", "csv", "md", "html")
CSV_COLUMNS = ("tenant", "tenant_name", "id", "state", "stuck", "scenario", "property", "value", "object_id",
               "object_name", "first_seen", "last_seen", "resolved_at", "category", "origins")


class HistoryReader(Protocol):
    """What the report needs from the store (``reconciler.history.store.Store`` implements it)."""

    def history_runs(self, tenants: Sequence[str] = ()) -> Sequence[Any]: ...

    def history_sightings(self, run_ids: Sequence[str]) -> Mapping[str, Sequence[tuple[Any, ...]]]: ...

    def finding_data_many(self, keys: Sequence[tuple[str, str]]) -> Mapping[tuple[str, str], Mapping[str, Any]]:
        ...


@dataclass(slots=True)
class Report:
    """The report document plus, per finding id, the stored finding (reasons, holders) for explanations."""

    doc: dict[str, Any]
    details: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def tenants(self) -> list[dict[str, Any]]:
        return self.doc["tenants"]

    def total(self, key: str) -> int:
        return sum(t["counts"][key] for t in self.tenants)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _group_runs(runs: Sequence[Any]) -> dict[str, list[RunPoint]]:
    out: dict[str, list[RunPoint]] = {}
    for r in runs:
        point = RunPoint(r.id, r.started, bool(r.complete), r.tenant_id, r.tenant_name)
        out.setdefault(r.tenant_id, []).append(point)
    return out


def build_report(store: HistoryReader, *, tenants: Sequence[str] = (), since: str | None = None,
                 last: int | None = None, stuck_after: timedelta = timedelta(hours=24),
                 now: datetime | None = None) -> Report:
    """History of every tenant in the database (or those named by id or name)."""
    now = now or datetime.now(UTC)
    all_runs = store.history_runs(tenants)
    grouped = _group_runs(all_runs)
    complete_ids = [p.id for runs in grouped.values() for p in runs if p.complete]
    raw = store.history_sightings(complete_ids)
    seen = {rid: [Sighting(*row) for row in rows] for rid, rows in raw.items()}
    # a run that did not read an origin (refused, or --errors) does not resolve that origin's findings
    seen, stored_in = carry_unread_from_store(store, all_runs, seen, lambda s: s.id)
    histories = [tenant_history(runs, seen, since=since, last=last, stuck_after=stuck_after, now=now)
                 for runs in grouped.values()]
    histories.sort(key=lambda h: ((h.tenant_name or "").casefold(), h.tenant_id))
    keys = [(stored_in.get((f.last_seen_run, f.id), f.last_seen_run), f.id) for h in histories for f in h.findings]
    stored = store.finding_data_many(keys)
    details = {fid: data for (_, fid), data in stored.items()}
    bases = [h.since for h in histories if h.since]
    doc = {"schema": REPORT_SCHEMA, "generated": _iso(now), "since": since or (min(bases) if bases else None),
           "stuck_after_hours": round(stuck_after.total_seconds() / 3600, 3),
           "tenants": [_tenant_doc(h, details) for h in histories]}
    return Report(doc, details)


def _conflict(details: Mapping[str, Mapping[str, Any]], fid: str) -> Mapping[str, Any]:
    c = (details.get(fid) or {}).get("conflict")
    return c if isinstance(c, Mapping) else {}


def _origins(c: Mapping[str, Any]) -> list[str]:
    """Every origin a stored finding lists (runs stored before origins existed read as ``connect``)."""
    got = c.get("origins")
    return [str(o) for o in got] if isinstance(got, list) and got else [str(c.get("origin") or "connect")]


def _tenant_doc(h: TenantHistory, details: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    details = details or {}
    counts: dict[str, Any] = {k: h.count(k) for k in ("open", "new", "resolved", "reopened", "stuck")}
    counts["by_scenario"] = h.by("scenario")
    counts["by_property"] = h.by("property")
    by_origin: dict[str, int] = {}
    by_category: dict[str, int] = {}
    for f in h.findings:
        if not f.is_open:
            continue
        c = _conflict(details, f.id)
        for o in _origins(c):
            by_origin[o] = by_origin.get(o, 0) + 1
        cat = str(c.get("category") or "unknown")
        by_category[cat] = by_category.get(cat, 0) + 1
    counts["by_origin"] = dict(sorted(by_origin.items()))
    counts["by_category"] = dict(sorted(by_category.items()))
    return {
        "tenant": h.tenant_id, "name": h.tenant_name,
        "last_run": h.last_run.id if h.last_run else None,
        "last_run_at": h.last_run.at if h.last_run else None,
        "last_run_complete": bool(h.last_run and h.last_run.complete),
        "last_complete_run": h.latest.id if h.latest else None,
        "counts": counts,
        "findings": [{"id": f.id, "state": f.state, "stuck": f.stuck, "scenario": f.latest.scenario,
                      "property": f.latest.property, "value": f.latest.value,
                      "category": _conflict(details, f.id).get("category"),
                      "origins": _origins(_conflict(details, f.id)),
                      "object": {"id": f.latest.object_id, "display_name": f.latest.object_name},
                      "first_seen": f.first_seen, "last_seen": f.last_seen, "resolved_at": f.resolved_at}
                     for f in h.findings],
        "trend": [{"run": rid, "at": at, "open": n} for rid, at, n in h.trend],
    }


def check_exit(report: Report, *, new_only: bool = False) -> int:
    """``--check``: 1 when findings are open (``--new-only``: new or reopened), else 0."""
    keys = ("new", "reopened") if new_only else ("open",)
    return 1 if any(report.total(k) for k in keys) else 0


# --------------------------------------------------------------------------- renderers


def render_report(report: Report, fmt: str, out: TextIO, *, color: bool = False, width: int | None = None) -> None:
    if fmt == "json":
        out.write(orjson.dumps(report.doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "csv":
        _csv(report, out)
    elif fmt == "md":
        _md(report, out)
    elif fmt == "html":
        from .report_html import render_html

        out.write(render_html(report))
    elif fmt == "table":
        _table(report, out, color, width)
    else:  # pragma: no cover - the CLI validates the choice
        raise ValueError(fmt)


def _csv(report: Report, out: TextIO) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for t in report.tenants:
        for f in t["findings"]:
            w.writerow([t["tenant"], t["name"] or "", f["id"], f["state"], str(f["stuck"]).lower(), f["scenario"],
                        f["property"], _csv_safe(f["value"]), f["object"]["id"],
                        _csv_safe(f["object"]["display_name"] or ""), f["first_seen"], f["last_seen"],
                        f["resolved_at"] or "", _csv_safe(f.get("category") or ""), ";".join(f.get("origins") or ())])


def _csv_safe(v: str) -> str:
    """Directory values opened in a spreadsheet must not run as formulas."""
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[int]) -> str:
    if not values:
        return ""
    top = max(values) or 1
    return "".join(SPARK[min(len(SPARK) - 1, round(v / top * (len(SPARK) - 1)))] for v in values)


def summary_line(report: Report) -> str:
    parts = [f"{report.total(k)} {k}" for k in ("open", "new", "reopened", "resolved", "stuck")]
    n = len(report.tenants)
    return f"{n} tenant{'s' if n != 1 else ''}: " + ", ".join(parts)


def _md_cell(v: Any) -> str:
    return str(v if v is not None else "-").replace("|", "\\|").replace("\n", " ")


def _md(report: Report, out: TextIO) -> None:
    d = report.doc
    out.write(f"# Sync conflict report\n\n_{summary_line(report)}; generated {d['generated']}"
              f"{'; since ' + d['since'] if d['since'] else ''}_\n\n")
    out.write("| tenant | last run | open | new | reopened | resolved | stuck | trend |\n|---|---|--:|--:|--:|--:|--:|---|\n")
    for t in report.tenants:
        c = t["counts"]
        run = (t["last_run"] or "-") + ("" if t["last_run_complete"] else " (incomplete)")
        cells = [t["name"] or t["tenant"], run, c["open"], c["new"], c["reopened"], c["resolved"], c["stuck"],
                 sparkline([p["open"] for p in t["trend"]])]
        out.write("| " + " | ".join(_md_cell(x) for x in cells) + " |\n")
    for t in report.tenants:
        out.write(f"\n## {_md_cell(t['name'] or t['tenant'])}\n\n")
        if not t["findings"]:
            out.write("No findings.\n")
            continue
        c = t["counts"]
        for what in ("origin", "category"):
            if c.get(f"by_{what}"):
                out.write(f"Open by {what}: " + ", ".join(f"{_md_cell(k)} {n}" for k, n in c[f"by_{what}"].items())
                          + "\n\n")
        out.write("| state | stuck | scenario | reported by | property | value | object | first seen | resolved |\n"
                  "|---|---|---|---|---|---|---|---|---|\n")
        for f in t["findings"]:
            cells = [f["state"], "yes" if f["stuck"] else "", f["scenario"], ", ".join(f.get("origins") or ()),
                     f["property"], f["value"], f["object"]["display_name"] or f["object"]["id"], f["first_seen"],
                     f["resolved_at"]]
            out.write("| " + " | ".join(_md_cell(x) for x in cells) + " |\n")


_SHORT_PROPERTY = {"UserPrincipalName": "UPN", "ProxyAddress": "proxy"}
FINDING_COLUMNS = ("state", "stuck", "scenario", "reported by", "prop", "value", "object", "first seen", "id")
_FINDING_MIN = (8, 5, 23, 7, 5, 16, 10, 10, 8)  # state, stuck, scenario, prop and id never shrink


def _table(report: Report, out: TextIO, color: bool, width: int | None = None) -> None:
    """Fitted to the terminal (or ``width``): long values end in ``…``, never fold mid-word; whole in json."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text as T

    from ..core.textfit import fit_table

    con = Console(file=out, force_terminal=color, no_color=not color,
                  width=width if width is not None else (None if color else 160), highlight=False, soft_wrap=False)
    s = Table(title="Sync conflict report")
    head = ("tenant", "last run", "open", "new", "reopened", "resolved", "stuck", "trend")
    rows = []
    for t in report.tenants:
        c = t["counts"]
        run = (t["last_run"] or "-") + ("" if t["last_run_complete"] else " (incomplete)")
        rows.append((t["name"] or t["tenant"], run, *(str(c[k]) for k in ("open", "new", "reopened", "resolved",
                                                                          "stuck")),
                     sparkline([p["open"] for p in t["trend"]])))
    keep, widths, cut = fit_table(head, rows, (8, 10, 4, 3, 8, 8, 5, 5), con.width, drop_order=(7, 1))
    for i, w in zip(keep, widths):
        s.add_column(head[i], width=w, no_wrap=True, overflow="ellipsis",
                     justify="right" if head[i] in ("open", "new", "reopened", "resolved", "stuck") else "left")
    for r in cut:
        s.add_row(*(T(x) for x in r))
    con.print(s)
    for t in report.tenants:
        if not t["findings"]:
            continue
        frows = [(f["state"], "stuck" if f["stuck"] else "", f["scenario"], ", ".join(f.get("origins") or ()),
                  _SHORT_PROPERTY.get(f["property"], f["property"] or "-"), f["value"] or "-",
                  (f.get("object") or {}).get("display_name") or (f.get("object") or {}).get("id") or "-",
                  f["first_seen"][:10], f["id"][:8])
                 for f in t["findings"]]
        keep, widths, cut = fit_table(FINDING_COLUMNS, frows, _FINDING_MIN, con.width, drop_order=(7, 1, 3, 6))
        ft = Table(title=T(t["name"] or t["tenant"]))
        for i, w in zip(keep, widths):
            ft.add_column(FINDING_COLUMNS[i], width=w, no_wrap=True, overflow="ellipsis")
        for r in cut:
            ft.add_row(*(T(x) for x in r))
        con.print(ft)
        c = t["counts"]
        for what in ("origin", "category"):
            if c.get(f"by_{what}"):
                con.print(T(f"open by {what}: " + ", ".join(f"{k} {n}" for k, n in c[f"by_{what}"].items())))
    con.print(summary_line(report), markup=False)


# --------------------------------------------------------------------------- scan --all outcomes

OUTCOME_COLUMNS = ("name", "tenant", "run", "complete", "findings", "new", "error", "seconds")


def render_outcomes(outcomes: Sequence[Any], fmt: str, out: TextIO) -> None:
    """One row per tenant of ``scan --all`` (``reconciler.multiscan.TenantOutcome``)."""
    rows = [o.data() for o in outcomes]
    if fmt == "json":
        out.write(orjson.dumps({"schema": "reconciler.scan-all/1", "tenants": rows},
                               option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "csv":
        w = csv.DictWriter(out, fieldnames=OUTCOME_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows({k: ("" if r[k] is None else r[k]) for k in OUTCOME_COLUMNS} for r in rows)
    else:
        out.write("| tenant | run | complete | findings | new | error |\n|---|---|---|--:|--:|---|\n")
        for r in rows:
            cells = [r["name"], r["run"], "yes" if r["complete"] else "no", r["findings"], r["new"], r["error"]]
            out.write("| " + " | ".join(_md_cell(c) for c in cells) + " |\n")
