"""Renderers for findings and explanations. They write to a text stream and nothing else."""

from __future__ import annotations

import csv
import html
import io
from typing import Any, Mapping, Sequence, TextIO

import orjson

from ..core.explain import ROWS
from ..core.model import fold

__all__ = ["render_findings", "render_explanation", "FORMATS", "summary_line", "stats_lines"]

FORMATS = ("table", "json", "csv", "md", "html")

CSV_COLUMNS = ("id", "scenario", "category", "property", "value", "occurred", "object_id", "object_type",
               "object_name", "object_upn", "source_dn", "holder_id", "holder_type", "holder_state",
               "holder_synced", "holder_matched_on", "holders", "keep", "reasons", "origin", "origins")


def object_label(f: Mapping[str, Any]) -> str:
    """The error object's name, or what stands for it when the cloud has none yet (a failed Cloud Sync create)."""
    o = f.get("object")
    if o is None:
        src = f.get("source") or {}
        return f"(not in the cloud yet) {src.get('dn') or src.get('immutable_id') or ''}".rstrip()
    return o.get("user_principal_name") or o.get("display_name") or o["id"]


def origins_label(f: Mapping[str, Any]) -> str:
    c = f.get("conflict") or {}
    return "+".join(c.get("origins") or [c.get("origin") or "connect"])


def _flat(f: Mapping[str, Any]) -> dict[str, Any]:
    h = f["holders"][0] if f["holders"] else None
    return {
        "id": f["id"], "scenario": f["scenario"], "category": f["conflict"]["category"],
        "property": f["conflict"]["property"], "value": f["conflict"]["value"],
        "occurred": f["conflict"].get("occurred") or "",
        "object_id": (f["object"] or {}).get("id") or "", "object_type": (f["object"] or {}).get("type") or "",
        "object_name": (f["object"] or {}).get("display_name") or "",
        "object_upn": (f["object"] or {}).get("user_principal_name") or "",
        "source_dn": (f.get("source") or {}).get("dn") or "",
        "holder_id": h["id"] if h else "", "holder_type": h["type"] if h else "",
        "holder_state": h["state"] if h else "", "holder_synced": str(h["synced"]).lower() if h else "",
        "holder_matched_on": ";".join(h["matched_on"]) if h else "",
        "holders": len(f["holders"]), "keep": f.get("keep") or "",
        "reasons": " | ".join(f.get("reasons") or ()),
        "origin": f["conflict"].get("origin") or "connect", "origins": ";".join(f["conflict"].get("origins") or ()),
    }


def summary_line(findings: Sequence[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["scenario"]] = counts.get(f["scenario"], 0) + 1
    if not findings:
        return "no sync conflicts found"
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"{len(findings)} finding{'s' if len(findings) != 1 else ''}: {parts}"


def stats_lines(stats: Mapping[str, Any]) -> list[str]:
    """The scan summary's evidence lines: per on-prem source what it could not link, and the holders
    no source could decide, each with the reason (empty when every source links everything)."""
    lines = []
    for s in stats.get("onprem_sources") or ():
        parts = [f"could not link {n} {why}" for why, n in (s.get("not_linkable") or {}).items()]
        if not s.get("complete", True):
            parts.append("incomplete: " + "; ".join(s.get("incomplete") or ()))
        if parts:
            lines.append(f"on-prem {s['source']}: {s['objects']} objects; " + "; ".join(parts))
    for why, n in (stats.get("unverified_holders") or {}).items():
        lines.append(f"{n} holder{'s' if n != 1 else ''} not covered (unverified_holder): {why}")
    return lines


def _holder_label(f: Mapping[str, Any]) -> str:
    if not f["holders"]:
        return "-"
    h = f["holders"][0]
    more = f" (+{len(f['holders']) - 1})" if len(f["holders"]) > 1 else ""
    name = h.get("user_principal_name") or h.get("display_name") or h["id"]
    return f"{h['type']} {name} [{h['state']}{', synced' if h['synced'] else ''}]{more}"


def render_findings(doc: Mapping[str, Any], fmt: str, out: TextIO, *, color: bool = False,
                    width: int | None = None) -> None:
    findings = doc["findings"]
    if fmt == "json":
        out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "csv":
        w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        for f in findings:
            w.writerow(_flat(f))
    elif fmt == "md":
        out.write(f"# Sync conflicts — tenant {doc['tenant']}\n\n_{summary_line(findings)}; "
                  f"generated {doc['generated']}_\n\n")
        out.write("| id | scenario | origin | property | value | object | first holder | source DN | keep |\n")
        out.write("|---|---|---|---|---|---|---|---|---|\n")
        for f in findings:
            cells = [f["id"], f["scenario"], origins_label(f), f["conflict"]["property"], f["conflict"]["value"],
                     object_label(f), _holder_label(f), (f.get("source") or {}).get("dn") or "-", f.get("keep") or "-"]
            out.write("| " + " | ".join(_md(c) for c in cells) + " |\n")
    elif fmt == "html":
        out.write(_html_findings(doc))
    elif fmt == "table":
        _table_findings(doc, out, color, width)
    else:  # pragma: no cover - the CLI validates the choice
        raise ValueError(fmt)


def _md(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _html_findings(doc: Mapping[str, Any]) -> str:
    e = html.escape
    rows = []
    for f in doc["findings"]:
        rows.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in (
            f["id"], f["scenario"], origins_label(f), f["conflict"]["property"], f["conflict"]["value"],
            object_label(f), _holder_label(f), (f.get("source") or {}).get("dn") or "-", f.get("keep") or "-")) + "</tr>")
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Sync conflicts — {e(doc['tenant'])}</title><style>"
            "body{font-family:system-ui,sans-serif;margin:1rem;color:#111}"
            "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.3rem;"
            "text-align:left;vertical-align:top;word-break:break-word}th{background:#e8e8e8}</style></head>"
            f"<body><h1>Sync conflicts — tenant {e(doc['tenant'])}</h1>"
            f"<p>{e(summary_line(doc['findings']))}; generated {e(doc['generated'])}</p>"
            "<table><thead><tr><th scope=\"col\">id</th><th scope=\"col\">scenario</th><th scope=\"col\">origin</th>"
            "<th scope=\"col\">property</th><th scope=\"col\">value</th><th scope=\"col\">object</th>"
            "<th scope=\"col\">first holder</th><th scope=\"col\">source DN</th><th scope=\"col\">keep</th>"
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></body></html>\n")


def _console(out: TextIO, color: bool, width: int | None = None) -> Any:
    """A console for ``out``: the terminal's width on a terminal, ``width`` when given, else wide (a pipe or a
    file keeps whole values for grep)."""
    from rich.console import Console

    return Console(file=out, force_terminal=color, no_color=not color,
                   width=width if width is not None else (None if color else 400), highlight=False, soft_wrap=False)


_SHORT_PROPERTY = {"UserPrincipalName": "UPN", "ProxyAddress": "proxy"}
FINDING_COLUMNS = ("id", "scenario", "origin", "prop", "value", "object", "first holder", "source DN", "keep")
#: narrowest each column gets, below 120 columns and from 120 on; id (a prefix `explain` and `plan --finding`
#: accept), scenario, prop and keep never shrink
_FINDING_MIN = {True: (8, 23, 7, 5, 16, 10, 12, 10, 6), False: (8, 23, 18, 5, 18, 8, 10, 8, 6)}  # wide: origins whole
#: left out first when the terminal is too narrow for every column
_FINDING_DROP = (7, 8, 5, 2, 6)


def _table_findings(doc: Mapping[str, Any], out: TextIO, color: bool, width: int | None = None) -> None:
    """Findings as a table that fits the console (80, 120 columns, ...): columns shrink, long values end in
    ``…``, and the least needed columns go first; ``--format json`` has every value whole."""
    from rich.table import Table
    from rich.text import Text

    from ..core.textfit import fit_table

    con = _console(out, color, width)
    narrow = con.width < 120
    rows = [(f["id"][:8] if con.width < 160 else f["id"][:12], f["scenario"], origins_label(f),
             _SHORT_PROPERTY.get(f["conflict"]["property"], f["conflict"]["property"]), f["conflict"]["value"] or "-",
             object_label(f), _holder_label(f), (f.get("source") or {}).get("dn") or "-", f.get("keep") or "-")
            for f in doc["findings"]]
    keep, widths, cut = fit_table(FINDING_COLUMNS, rows, _FINDING_MIN[narrow], con.width, drop_order=_FINDING_DROP)
    t = Table(title=Text(f"Sync conflicts — tenant {doc['tenant']}"), title_justify="left")
    for i, w in zip(keep, widths):
        t.add_column(FINDING_COLUMNS[i], width=w, no_wrap=True, overflow="ellipsis")
    for r in cut:
        t.add_row(*(Text(c) for c in r))
    con.print(t)
    left_out = [FINDING_COLUMNS[i] for i in range(len(FINDING_COLUMNS)) if i not in keep]
    con.print(Text(summary_line(doc["findings"]) + (f" (too narrow for: {', '.join(left_out)}; see --format json)"
                                                    if left_out else "")))


# --------------------------------------------------------------------------- explain


def _cell(value: Any) -> str:
    if value is None or value == [] or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _holds(value: Any, target: str) -> bool:
    if isinstance(value, list):
        return any(isinstance(v, str) and fold(v) == target for v in value)
    return isinstance(value, str) and fold(value) == target


def _cloud_or_onprem(col: Mapping[str, Any], row: tuple[str, str | None, str | None]) -> Any:
    key = row[1] if col["side"] == "cloud" else row[2]
    return col["attrs"].get(key) if key else None


def explanation_rows(detail: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, bool]]]]:
    """(label, [(cell text, holds the conflicting value)]) per attribute row with any value."""
    target = fold(detail.get("value") or "")
    out = []
    for row in ROWS:
        cells = []
        for col in detail.get("columns", ()):
            v = _cloud_or_onprem(col, row)
            cells.append((_cell(v), bool(target) and _holds(v, target)))
        if any(c[0] != "-" for c in cells):
            out.append((row[0], cells))
    return out


def render_explanation(exp: Any, fmt: str, out: TextIO, *, color: bool = False, width: int | None = None) -> None:
    if fmt == "json":
        out.write(orjson.dumps({"schema": "reconciler.explain/1", "key": exp.key, "resolved_as": exp.how,
                                "notes": exp.notes, "findings": [
                                    {**f, "detail": exp.details.get(f["id"], {})} for f in exp.findings]},
                               option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if fmt == "md":
        _md_explanation(exp, out)
        return
    from rich.markup import escape

    con = _console(out, color, width)
    for note in exp.notes:
        con.print(escape(note))
    for f in exp.findings:
        d = exp.details.get(f["id"], {})
        c = f["conflict"]
        con.print(f"[bold]Finding {f['id']}[/bold] — {escape(f['scenario'])}: {escape(c['property'])} "
                  f"[bold red]{escape(c['value'])}[/bold red] ({escape(c['category'])}, "
                  f"occurred {escape(str(c.get('occurred')))}; reported by {escape(origins_label(f))})")
        if c.get("description"):
            con.print(f"description: {escape(c['description'])}")
        con.print(_explanation_table(d, con.width))
        for h in f["holders"]:
            con.print(f"holder {escape(h['id'])} matched on {', '.join(h['matched_on'])}")
        if f.get("keep"):
            con.print(f"keep: [bold]{f['keep']}[/bold]")
        con.print("[bold]Why[/bold]")
        for r in f.get("reasons") or ():
            con.print(f"  • {escape(r)}")
        for ev in f.get("evidence") or ():
            con.print(f"  • evidence: {escape(ev)}")


def _explanation_table(d: Mapping[str, Any], width: int) -> Any:
    """Side by side, fitted to ``width``: every column shrinks alike, values end in ``…`` instead of folding."""
    from rich.table import Table
    from rich.text import Text

    from ..core.textfit import ellipsis, fit_table

    cols = [c["title"] for c in d.get("columns", ())]
    rows = explanation_rows(d)
    mark = " ◀"
    texts = [[label, *[txt + (mark if hit else "") for txt, hit in cells]] for label, cells in rows]
    minimum = [max([len("attribute")] + [len(r[0]) for r in texts]), *([10] * len(cols))]
    _keep, widths, _cut = fit_table(["attribute", *cols], texts, minimum, width)
    t = Table(show_lines=True)
    t.add_column("attribute", style="bold", width=widths[0], no_wrap=True)
    for title, w in zip(cols, widths[1:]):
        t.add_column(ellipsis(title, w), width=w, no_wrap=True, overflow="ellipsis")
    for (label, cells), w_cells in zip(rows, [widths[1:]] * len(rows)):
        out = [Text(label)]
        for (txt, hit), w in zip(cells, w_cells):
            lines = [ellipsis(line, w - len(mark)) if hit else ellipsis(line, w) for line in txt.split("\n")]
            out.append(Text("\n".join(lines) + (mark if hit else ""), style="bold red" if hit else ""))
        t.add_row(*out)
    return t


def _md_explanation(exp: Any, out: TextIO) -> None:
    for note in exp.notes:
        out.write(f"> {note}\n\n")
    for f in exp.findings:
        d = exp.details.get(f["id"], {})
        out.write(f"## Finding {f['id']} — {f['scenario']}\n\n`{f['conflict']['property']}` "
                  f"**{f['conflict']['value']}** (reported by {', '.join(f['conflict'].get('origins') or ['connect'])})\n\n")
        cols = d.get("columns", ())
        out.write("| attribute | " + " | ".join(c["title"] for c in cols) + " |\n")
        out.write("|---" * (len(cols) + 1) + "|\n")
        for label, cells in explanation_rows(d):
            out.write(f"| {label} | " + " | ".join(
                (f"**{_md(t)}**" if hit else _md(t)).replace("\n", "<br>") for t, hit in cells) + " |\n")
        out.write("\n" + "".join(f"- {r}\n" for r in f.get("reasons") or ()))
        out.write("".join(f"- evidence: {ev}\n" for ev in f.get("evidence") or ()) + "\n")


def as_text(render: Any, *args: Any, **kw: Any) -> str:
    buf = io.StringIO()
    render(*args, buf, **kw)
    return buf.getvalue()
