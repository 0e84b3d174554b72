"""The HTML history report: one self-contained file.

Inline CSS and an inline SVG trend chart; no scripts, no fonts, images or
anything else fetched. Readable on a phone (fluid layout, tables scroll inside
their own region), accessible (captions, ``scope`` headers, an SVG with a
title and description, text contrast of at least 7:1 on its background), and
every finding links to an explanation section built from the stored finding.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CHART_COLOR", "HEADER_COLOR", "chart_svg", "render_html"]

CHART_COLOR = "#2f6db5"  # bars of the trend chart (the browser test looks for this colour)
HEADER_COLOR = "#1f3d66"  # table header background (white text on it: 11:1)

_CSS = f"""
:root{{color-scheme:light}}
*{{box-sizing:border-box}}
body{{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1a1a1a;background:#fff}}
main{{max-width:72rem;margin:0 auto;padding:1rem}}
h1{{font-size:1.5rem;margin:.2rem 0}} h2{{font-size:1.25rem;margin:2rem 0 .5rem;border-bottom:2px solid {HEADER_COLOR}}}
h3{{font-size:1.05rem;margin:0 0 .4rem;word-break:break-word}}
.meta{{color:#3d3d3d;margin:.2rem 0 1rem}}
.scroll{{overflow-x:auto;margin:.5rem 0 1rem;border:1px solid #8a8a8a}}
.scroll:focus{{outline:3px solid #b35c00}}
table{{border-collapse:collapse;width:100%;font-size:.92rem}}
caption{{text-align:left;font-weight:600;padding:.4rem .5rem;background:#f1f1f1}}
th,td{{padding:.35rem .5rem;text-align:left;vertical-align:top;border-bottom:1px solid #c4c4c4}}
thead th{{background:{HEADER_COLOR};color:#fff;white-space:nowrap}}
tbody th{{font-weight:600}}
td.n,th.n{{text-align:right;font-variant-numeric:tabular-nums}}
td.v,th.v{{word-break:break-all;min-width:9rem}}
tbody tr:nth-child(even){{background:#f6f6f6}}
time .d{{white-space:nowrap}} a{{color:#0b4f9c}} a:focus{{outline:3px solid #b35c00}}
.badge{{display:inline-block;padding:0 .4rem;border-radius:.3rem;font-size:.85rem;font-weight:600;border:1px solid}}
.s-new{{color:#8a1616;background:#fde9e9}} .s-reopened{{color:#6b2d00;background:#fff0e0}}
.s-open{{color:#1a1a1a;background:#eeeeee}} .s-resolved{{color:#0d5a22;background:#e6f4ea}}
.stuck{{color:#5c1a78;background:#f3e8f8}}
.cards{{display:flex;flex-wrap:wrap;gap:.5rem;margin:.5rem 0;padding:0;list-style:none}}
.cards li{{border:1px solid #8a8a8a;border-radius:.4rem;padding:.3rem .7rem;min-width:6.5rem}}
.cards b{{display:block;font-size:1.3rem}}
figure{{margin:.5rem 0 1rem}} figcaption{{font-size:.9rem;color:#3d3d3d}}
svg.chart{{width:100%;max-width:40rem;height:auto;display:block}}
.finding{{border:1px solid #8a8a8a;border-radius:.4rem;padding:.6rem .8rem;margin:.6rem 0}}
.finding dl{{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .8rem;margin:.3rem 0}}
.finding dt{{font-weight:600}} .finding dd{{margin:0;word-break:break-word}}
@media (max-width:40rem){{main{{padding:.6rem}} th,td{{padding:.3rem}} .finding dl{{grid-template-columns:1fr}}
 .finding dd{{margin-bottom:.3rem}}}}
"""

_e = html.escape


def _esc(v: Any) -> str:
    return _e("" if v is None else str(v))


def render_html(report: Any) -> str:
    doc = report.doc
    since = f"; since {_esc(doc['since'])}" if doc.get("since") else ""
    parts = ["<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
             "<meta name=\"referrer\" content=\"no-referrer\">",
             "<title>Sync conflict report</title><style>", _CSS, "</style></head><body><main>",
             "<header><h1>Sync conflict report</h1>",
             (f"<p class=\"meta\">Generated {_esc(doc['generated'])}{since}. "
              f"Stuck means open for more than {float(doc.get('stuck_after_hours', 24)):g} h.</p></header>"),
             _summary_table(report.tenants)]
    for i, t in enumerate(report.tenants):
        parts.append(_tenant_section(t, i))
    parts.append(_explanations(report))
    parts.append("</main></body></html>\n")
    return "".join(parts)


def _when(iso: str | None) -> str:
    """An ISO time as a compact ``YYYY-MM-DD HH:MM`` keeping the full value machine-readable; it may wrap
    between date and time (never inside either), so a findings table fits a desktop window."""
    if not iso:
        return ""
    date, _, clock = iso[:16].partition("T")
    return (f"<time datetime=\"{_esc(iso)}\"><span class=\"d\">{_esc(date)}</span> "
            f"<span class=\"d\">{_esc(clock)}</span></time>")


def _breakable(token: str) -> str:
    """``cloud_only_other_type`` may wrap after its underscores (and only there)."""
    return _esc(token).replace("_", "_<wbr>")


def _state_badge(state: str) -> str:
    return f"<span class=\"badge s-{_esc(state)}\">{_esc(state)}</span>"


def _summary_table(tenants: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for i, t in enumerate(tenants):
        c = t["counts"]
        status = "" if t["last_run_complete"] else " <span class=\"badge s-reopened\">incomplete</span>"
        rows.append(f"<tr><th scope=\"row\"><a href=\"#t-{i}\">{_esc(t['name'] or t['tenant'])}</a></th>"
                    f"<td>{_when(t.get('last_run_at')) or _esc(t['last_run'])}{status}</td>"
                    + "".join(f"<td class=\"n\">{c[k]}</td>" for k in ("open", "new", "reopened", "resolved",
                                                                        "stuck")) + "</tr>")
    num = ' class="n"'
    head = "".join(f"<th scope=\"col\"{num if k not in ('Tenant', 'Last run') else ''}>{k}</th>"
                   for k in ("Tenant", "Last run", "Open", "New", "Reopened", "Resolved", "Stuck"))
    return ("<div class=\"scroll\" role=\"region\" aria-label=\"Tenants\" tabindex=\"0\"><table>"
            "<caption>Tenants</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _tenant_section(t: Mapping[str, Any], i: int) -> str:
    name = _esc(t["name"] or t["tenant"])
    c = t["counts"]
    cards = "".join(f"<li><b>{c[k]}</b>{k}</li>" for k in ("open", "new", "reopened", "resolved", "stuck"))
    by = "; ".join(f"{_esc(k)}: {v}" for k, v in {**c["by_scenario"], **c["by_property"]}.items())
    parts = [f"<section aria-labelledby=\"t-{i}\"><h2 id=\"t-{i}\">{name}</h2>",
             (f"<p class=\"meta\">Tenant id {_esc(t['tenant'])}; last run {_esc(t['last_run'])} at "
              f"{_esc(t.get('last_run_at'))}"
              f"{'' if t['last_run_complete'] else ' (incomplete: not counted)'}.</p>"),
             f"<ul class=\"cards\" aria-label=\"Counts\">{cards}</ul>",
             f"<p class=\"meta\">Open by scenario and attribute: {by or 'none'}.</p>" if c["open"] else "",
             chart_svg(t["trend"], f"c-{i}", name),
             _findings_table(t, name)]
    return "".join(parts) + "</section>"


def chart_svg(trend: Sequence[Mapping[str, Any]], ident: str, name: str) -> str:
    """Bar chart of open findings per complete run; the figure caption repeats the numbers as text."""
    if not trend:
        return "<p class=\"meta\">No complete run yet: no trend.</p>"
    w, h, left, bottom, top = 600, 220, 44, 30, 16
    n = len(trend)
    peak = max(p["open"] for p in trend) or 1
    slot = (w - left - 8) / n
    bar = min(56.0, max(2.0, slot * 0.7))
    desc = ", ".join(f"{p['at']}: {p['open']}" for p in trend)
    out = [(f"<figure><svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" "
            f"aria-labelledby=\"{ident}-t {ident}-d\" xmlns=\"http://www.w3.org/2000/svg\">"),
           f"<title id=\"{ident}-t\">Open findings per run, {name}</title>",
           f"<desc id=\"{ident}-d\">{_esc(desc)}</desc>",
           f"<line x1=\"{left}\" y1=\"{h - bottom}\" x2=\"{w - 4}\" y2=\"{h - bottom}\" stroke=\"#1a1a1a\"/>",
           f"<text x=\"{left - 6}\" y=\"{top + 5}\" text-anchor=\"end\" font-size=\"16\" fill=\"#1a1a1a\">{peak}</text>",
           f"<text x=\"{left - 6}\" y=\"{h - bottom}\" text-anchor=\"end\" font-size=\"16\" fill=\"#1a1a1a\">0</text>"]
    for k, p in enumerate(trend):
        bh = (h - bottom - top) * p["open"] / peak
        x = left + k * slot + (slot - bar) / 2
        out.append(f"<rect x=\"{x:.1f}\" y=\"{h - bottom - bh:.1f}\" width=\"{bar:.1f}\" height=\"{bh:.1f}\" "
                   f"fill=\"{CHART_COLOR}\"><title>{_esc(p['at'])}: {p['open']} open</title></rect>")
        if n <= 12:
            out.append(f"<text x=\"{x + bar / 2:.1f}\" y=\"{h - bottom - bh - 4:.1f}\" text-anchor=\"middle\" "
                       f"font-size=\"16\" fill=\"#1a1a1a\">{p['open']}</text>")
    out.append(f"<text x=\"{left}\" y=\"{h - 8}\" font-size=\"15\" fill=\"#1a1a1a\">{_esc(trend[0]['at'][:10])}</text>")
    if n > 1:
        out.append(f"<text x=\"{w - 4}\" y=\"{h - 8}\" text-anchor=\"end\" font-size=\"15\" fill=\"#1a1a1a\">"
                   f"{_esc(trend[-1]['at'][:10])}</text>")
    out.append(f"</svg><figcaption>Open findings in each of the last {n} complete run{'s' if n != 1 else ''}."
               "</figcaption></figure>")
    return "".join(out)


def _findings_table(t: Mapping[str, Any], name: str) -> str:
    if not t["findings"]:
        return "<p>No findings in this window.</p>"
    rows = []
    for f in t["findings"]:
        who = f["object"]["display_name"] or f["object"]["id"]
        stuck = ' <span class="badge stuck">stuck</span>' if f["stuck"] else ""
        rows.append("<tr>"
                    f"<td>{_state_badge(f['state'])}{stuck}</td>"
                    f"<th scope=\"row\" class=\"v\"><a href=\"#f-{_esc(f['id'])}\">{_esc(f['value'])}</a></th>"
                    f"<td>{_esc(f['property'])}</td><td>{_breakable(f['scenario'])}</td>"
                    f"<td>{_esc(', '.join(f.get('origins') or ['connect']))}</td><td>{_esc(who)}</td>"
                    f"<td>{_when(f['first_seen'])}</td><td>{_when(f['last_seen'])}</td>"
                    f"<td>{_when(f['resolved_at'])}</td></tr>")
    head = "".join(f"<th scope=\"col\">{k}</th>" for k in ("State", "Value", "Attribute", "Scenario", "Reported by",
                                                             "Object", "First seen", "Last seen", "Resolved"))
    return (f"<div class=\"scroll\" role=\"region\" aria-label=\"Findings, {name}\" tabindex=\"0\"><table>"
            f"<caption>Findings, {name}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _explanations(report: Any) -> str:
    parts = ["<section aria-labelledby=\"why\"><h2 id=\"why\">Explanations</h2>"]
    for i, t in enumerate(report.tenants):
        for f in t["findings"]:
            parts.append(_explanation(f, report.details.get(f["id"], {}), i))
    parts.append("</section>")
    return "".join(parts)


def _holder_text(h: Mapping[str, Any]) -> str:
    who = h.get("user_principal_name") or h.get("display_name") or h.get("id")
    synced = "synced" if h.get("synced") else "cloud-only"
    return (f"{h.get('type')} {who} ({h.get('state')}, {synced}; matched on "
            f"{', '.join(h.get('matched_on') or ()) or '-'})")


def _explanation(f: Mapping[str, Any], d: Mapping[str, Any], i: int) -> str:
    obj = d.get("object") or {}
    src = d.get("source") or {}
    rows = [("State", f["state"] + (", stuck" if f["stuck"] else "")), ("Scenario", f["scenario"]),
            ("Attribute", f["property"]), ("Value", f["value"]),
            ("Reported by", ", ".join(f.get("origins") or ["connect"])),
            ("Category", f.get("category") or (d.get("conflict") or {}).get("category") or "-"),
            ("Object", (f"{obj.get('type', '')} {obj.get('user_principal_name') or f['object']['display_name'] or ''}"
                        f" ({f['object']['id']})")),
            ("On-prem source", src.get("dn") or "none found in the supplied data"),
            ("Keep", d.get("keep") or "-"), ("First seen", f["first_seen"]), ("Last seen", f["last_seen"])]
    if f["resolved_at"]:
        rows.append(("Resolved", f["resolved_at"]))
    dl = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in rows)
    holders = "".join(f"<li>{_esc(_holder_text(h))}</li>" for h in d.get("holders") or ())
    reasons = "".join(f"<li>{_esc(r)}</li>" for r in d.get("reasons") or ())
    evidence = "".join(f"<li>{_esc(r)}</li>" for r in d.get("evidence") or ())
    return (f"<article class=\"finding\" id=\"f-{_esc(f['id'])}\" aria-labelledby=\"h-{_esc(f['id'])}\">"
            f"<h3 id=\"h-{_esc(f['id'])}\">{_esc(f['property'])} {_esc(f['value'])}</h3><dl>{dl}</dl>"
            + (f"<p><strong>Holders</strong></p><ul>{holders}</ul>" if holders else "<p>No holder.</p>")
            + (f"<p><strong>Why</strong></p><ul>{reasons}</ul>" if reasons else "")
            + (f"<p><strong>Evidence</strong></p><ul>{evidence}</ul>" if evidence else "")
            + f"<p class=\"meta\">Finding id {_esc(f['id'])}. <a href=\"#t-{i}\">Back to the tenant</a></p>"
            "</article>")
