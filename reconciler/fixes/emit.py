"""PURE: PowerShell and LDIF renderings of plan steps the tool does not execute itself.

PowerShell safety rule (docs/plan-apply.md): every value that comes from directory data
or the plan is ONE single-quoted literal with every single-quote character
doubled (PowerShell also treats the typographic quotes U+2018..U+201B as
single quotes, so those are doubled too). Cmdlet names, parameter names and
constants such as ``$false`` come from the templates below, never from the
plan; a step's ``change.command`` is for reading only and is re-rendered here
from ``kind`` + ``params``. Comments carry only printable single-line text.

LDIF: RFC 2849 change records (``changetype: modify``); a value that is not a
SAFE-STRING (non-ASCII, leading space/colon/``<``, trailing space, any control character)
is base64 (``attr::``); lines are folded at 76 columns.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .steps import Executor, Step, StepKind

__all__ = [
    "BINARY_ATTRIBUTES",
    "PS_KINDS",
    "HOSTS",
    "emit_ldif",
    "emit_ps1",
    "emit_scripts",
    "host_of",
    "names_from_findings",
    "render_review",
    "target_name",
    "ldif_line",
    "ps_quote",
    "render_command",
]

_PS_QUOTES = "'\u2018\u2019\u201a\u201b"
BINARY_ATTRIBUTES = frozenset({"ms-ds-consistencyguid", "objectguid", "objectsid", "usercertificate",
                               "usersmimecertificate"})
_RECIPIENTS = {"user": ("Set-Mailbox", "-WindowsEmailAddress"),
               "contact": ("Set-MailContact", "-PrimarySmtpAddress")}
_OBJECT_TYPES = ("User", "Group", "Contact")


def ps_quote(value: Any) -> str:
    """One PowerShell single-quoted literal: no interpolation, every quote character doubled."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a NUL character cannot be passed to PowerShell")
    return "'" + "".join(c + c if c in _PS_QUOTES else c for c in text) + "'"


def _param(params: Mapping[str, Any], name: str) -> str:
    v = params.get(name)
    if v is None or v == "":
        raise ValueError(f"PowerShell step parameter {name} is missing")
    return ps_quote(v)


def _exchange(params: Mapping[str, Any], tail: str) -> str:
    """Set-* on the right recipient type; a cloud group is a Microsoft 365 group or a distribution group."""
    ident = _param(params, "Identity")
    recipient = params.get("Recipient")
    if recipient == "group":
        return (f"if ((Get-Recipient -Identity {ident}).RecipientTypeDetails -eq 'GroupMailbox') "
                f"{{ Set-UnifiedGroup -Identity {ident} {tail} }} "
                f"else {{ Set-DistributionGroup -Identity {ident} {tail} }}")
    if recipient not in _RECIPIENTS:
        raise ValueError(f"unknown recipient type {recipient!r}")
    return f"{_RECIPIENTS[recipient][0]} -Identity {ident} {tail}"


def render_command(kind: StepKind, params: Mapping[str, Any]) -> str:
    """The PowerShell text for a ``powershell`` step (or for the delta-sync instruction)."""
    if kind is StepKind.PAUSE_SYNC_SCHEDULER:
        return "Set-ADSyncScheduler -SyncCycleEnabled $false"
    if kind is StepKind.RESUME_SYNC_SCHEDULER:
        return "Set-ADSyncScheduler -SyncCycleEnabled $true"
    if kind is StepKind.RUN_DELTA_SYNC:
        return "Start-ADSyncSyncCycle -PolicyType Delta"
    if kind is StepKind.REMOVE_SYNCED_OBJECT:
        otype = params.get("ObjectType")
        if otype not in _OBJECT_TYPES:
            raise ValueError(f"ObjectType must be one of {', '.join(_OBJECT_TYPES)}")
        return (f"Remove-ADSyncToolsAadObject -SourceAnchor {_param(params, 'SourceAnchor')} "
                f"-ObjectType {ps_quote(otype)}")
    if kind is StepKind.REMOVE_PROXY_ADDRESS:
        op = "add" if params.get("Add") is True else "remove"
        return _exchange(params, f"-EmailAddresses @{{{op}={_param(params, 'Address')}}}")
    if kind is StepKind.SET_PRIMARY_SMTP:
        addr = _param(params, "Address")
        if params.get("Recipient") == "group":
            return _exchange(params, f"-PrimarySmtpAddress {addr}")
        flag = _RECIPIENTS.get(str(params.get("Recipient")), ("", "-PrimarySmtpAddress"))[1]
        return _exchange(params, f"{flag} {addr}")
    raise ValueError(f"{kind.value} is not a PowerShell step")


PS_KINDS = frozenset({StepKind.PAUSE_SYNC_SCHEDULER, StepKind.RESUME_SYNC_SCHEDULER, StepKind.RUN_DELTA_SYNC,
                      StepKind.REMOVE_SYNCED_OBJECT, StepKind.REMOVE_PROXY_ADDRESS, StepKind.SET_PRIMARY_SMTP})


def _comment(text: str, limit: int = 300) -> str:
    """Printable one-line text for a ``#`` comment (no way to end the comment early)."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean[:limit]


def _safe_id(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c in "-_.")[:40] or "?"


#: Where each PowerShell step runs; one script per host, each starting with its #Requires and connect lines.
HOSTS: dict[str, tuple[frozenset[StepKind], list[str]]] = {
    "entra-connect": (frozenset({StepKind.PAUSE_SYNC_SCHEDULER, StepKind.RESUME_SYNC_SCHEDULER,
                                 StepKind.RUN_DELTA_SYNC, StepKind.REMOVE_SYNCED_OBJECT}),
                      ["#Requires -Modules ADSync, ADSyncTools",
                       "# Run on the Entra Connect server, in an elevated PowerShell.",
                       "Import-Module ADSync", "Import-Module ADSyncTools"]),
    "exchange-online": (frozenset({StepKind.REMOVE_PROXY_ADDRESS, StepKind.SET_PRIMARY_SMTP}),
                        ["#Requires -Modules ExchangeOnlineManagement",
                         "# Run where the ExchangeOnlineManagement module is installed; sign in as an Exchange "
                         "administrator.",
                         "Import-Module ExchangeOnlineManagement", "Connect-ExchangeOnline -ShowBanner:$false"]),
}


def host_of(kind: StepKind) -> str:
    for host, (kinds, _head) in HOSTS.items():
        if kind in kinds:
            return host
    raise ValueError(f"{kind.value} is not a PowerShell step")


def emit_ps1(steps: Sequence[Step], *, fingerprint: str, plan_path: str = "plan.json",
             undo: bool = False, confirm: str | None = None, host: str | None = None) -> str:
    """One reviewed script for ``powershell`` steps of one host, in order; stops at the first error.

    ``confirm``: the command that records them afterwards (default ``reconciler apply PLAN --doit --confirm``).
    """
    ps = [s for s in steps if s.executor is Executor.POWERSHELL]
    host = host or (host_of(ps[0].kind) if ps else "entra-connect")
    head = HOSTS[host][1]
    lines = [*head[:1], "# Generated by reconciler. Review before running; every value is a single-quoted literal.",
             f"# plan fingerprint: {_comment(fingerprint)}", *head[1:],
             "$ErrorActionPreference = 'Stop'", "Set-StrictMode -Version 3", ""]
    for s in ps:
        params = (s.undo if undo else s.change) or {}
        if undo and not s.undo:
            lines += [f"# {_safe_id(s.id)} {s.kind.value}: irreversible, nothing to undo", ""]
            continue
        kind = _undo_kind(s.kind) if undo else s.kind
        lines += [f"# {_safe_id(s.id)} {s.kind.value}{' (undo)' if undo else ''}: {_comment(s.why)}",
                  render_command(kind, params.get("params") or {}),
                  f"Write-Host {ps_quote('reconciler: done ' + _safe_id(s.id))}", ""]
    ids = " ".join(_safe_id(s.id) for s in ps)
    then = confirm or f"reconciler apply {_comment(plan_path)} --doit --confirm"
    lines.append(f"# then: {_comment(then)} {ids}")
    return "\n".join(lines) + "\n"


def emit_scripts(steps: Sequence[Step], *, fingerprint: str, confirm: str,
                 undo: bool = False) -> dict[str, tuple[list[str], str]]:
    """host -> (step ids, script): one script per host, in step order."""
    by_host: dict[str, list[Step]] = {}
    for s in steps:
        if s.executor is Executor.POWERSHELL:
            by_host.setdefault(host_of(s.kind), []).append(s)
    return {h: ([_safe_id(s.id) for s in group],
                emit_ps1(group, fingerprint=fingerprint, undo=undo, confirm=confirm, host=h))
            for h, group in by_host.items()}


def _undo_kind(kind: StepKind) -> StepKind:
    return {StepKind.PAUSE_SYNC_SCHEDULER: StepKind.RESUME_SYNC_SCHEDULER,
            StepKind.RESUME_SYNC_SCHEDULER: StepKind.PAUSE_SYNC_SCHEDULER}.get(kind, kind)


# --------------------------------------------------------------------------- LDIF


def _safe_string(value: bytes) -> bool:
    if not value:
        return True
    if value[0] in b" :<" or value[-1:] == b" ":
        return False
    return all(32 <= b < 127 for b in value)  # controls (tab too: readers strip it after "attr:") -> base64


def _fold(line: str, width: int = 76) -> list[str]:
    out = [line[:width]]
    rest = line[width:]
    while rest:
        out.append(" " + rest[:width - 1])
        rest = rest[width - 1:]
    return out


def ldif_line(attr: str, value: str | bytes | None, *, binary_b64: bool = False) -> list[str]:
    """``attr: value`` or ``attr:: base64``, folded. ``binary_b64``: value already is base64 of raw bytes."""
    if binary_b64:
        text = value.decode("ascii") if isinstance(value, bytes) else str(value)
        base64.b64decode(text, validate=True)  # refuse to emit something that is not base64
        return _fold(f"{attr}:: {text}")
    raw = value if isinstance(value, bytes) else str(value or "").encode("utf-8")
    if _safe_string(raw):
        return _fold(f"{attr}: {raw.decode('ascii')}")
    return _fold(f"{attr}:: {base64.b64encode(raw).decode('ascii')}")


def _values(attr: str, values: Iterable[Any]) -> list[str]:
    binary = attr.lower() in BINARY_ATTRIBUTES
    return [ln for v in values for ln in ldif_line(attr, v, binary_b64=binary)]


def _mods(change: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[str]:
    """Modify operations. A single value whose current value is known (``old``, from the step's ``expect``)
    is swapped by deleting that exact value and adding the new one: the directory refuses the whole record
    if the attribute holds anything else, so a confirmed LDIF step replaced exactly that value."""
    lines: list[str] = []
    known = {k.lower(): v for k, v in (old or {}).items()}
    for attr, spec in change.items():
        if isinstance(spec, Mapping):
            for op, ldif_op in (("remove", "delete"), ("add", "add")):
                if spec.get(op):
                    lines += [f"{ldif_op}: {attr}", *_values(attr, spec[op]), "-"]
        elif attr.lower() in known and not isinstance(known[attr.lower()], (list, Mapping)):
            was = known[attr.lower()]
            if was is not None:
                lines += [f"delete: {attr}", *_values(attr, [was]), "-"]
            if spec is not None:
                lines += [f"add: {attr}", *_values(attr, [spec]), "-"]
        else:
            lines += [f"replace: {attr}", *_values(attr, [] if spec is None else [spec]), "-"]
    return lines


def emit_ldif(steps: Sequence[Step], *, undo: bool = False) -> str:
    """RFC 2849 change file for ``ldap`` steps (``ldifde -i -f FILE`` / ``ldapmodify -f FILE``)."""
    out = ["version: 1", ""]
    for s in steps:
        if s.executor is not Executor.LDAP or not s.dn:
            continue
        change = s.undo if undo else s.change
        if not change:
            continue
        old = _undo_old(s) if undo else _believed(s)
        out += [f"# {_safe_id(s.id)} {s.kind.value}{' (undo)' if undo else ''}", *ldif_line("dn", s.dn),
                "changetype: modify", *_mods(change, old), ""]
    return "\n".join(out) + "\n"


def _believed(s: Step) -> dict[str, Any]:
    """What the step believes each single value holds now: its ``expect``, else the value its ``undo`` would
    put back (the plan's reading of the current value). The LDIF swap is guarded by it."""
    undo = {k: v for k, v in (s.undo or {}).items() if not isinstance(v, Mapping) and k in s.change}
    return {**undo, **s.expect}


def _undo_old(s: Step) -> dict[str, Any]:
    """What an undo record expects to find: the step's own new values."""
    return {k: v for k, v in s.change.items() if not isinstance(v, Mapping)}


# --------------------------------------------------------------------------- review rendering


def names_from_findings(findings: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """object id -> "display name (UPN)" for every cloud object the findings name (the review shows them)."""
    out: dict[str, str] = {}
    for f in findings:
        for o in [f.get("object") or {}, *(f.get("holders") or [])]:
            oid, name, upn = o.get("id"), o.get("display_name"), o.get("user_principal_name")
            if oid and (name or upn):
                out[str(oid)] = " ".join(x for x in (str(name or ""), f"({upn})" if upn and upn != name else "") if x)
    return out


def target_name(step: Step, names: Mapping[str, str] | None = None) -> str:
    """The target's names beside its id: display name / UPN (from the findings or the step), or the DN."""
    t = step.target or {}
    if not t.get("id") and not t.get("dn"):
        return "the Entra Connect server" if step.executor is Executor.POWERSHELL else "(no directory object)"
    if t.get("dn"):
        return str(t["dn"])
    oid = str(t.get("id") or "")
    known = (names or {}).get(oid) or t.get("name")
    if not known:
        e = step.expect
        upn = e.get("userPrincipalName") if isinstance(e.get("userPrincipalName"), str) else None
        disp = e.get("displayName") if isinstance(e.get("displayName"), str) else None
        mail = e.get("mail") if isinstance(e.get("mail"), str) else None
        known = " ".join(x for x in (disp or "", f"({upn or mail})" if upn or mail else "") if x)
    kind = str(t.get("object") or t.get("type") or "")
    return " ".join(x for x in (f"{'deleted ' if t.get('type') == 'deleted' else ''}{kind}".strip(), known or "",
                                f"[{oid}]" if oid else "") if x)


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def render_review(plan: Any, fmt: str = "md", names: Mapping[str, str] | None = None) -> str:
    """The plan as a change ticket (Markdown or HTML): what runs, on whom, and how to reverse it.

    Summary counts by kind; irreversible steps first and marked; every step with its target's names beside
    the id and its change, expect, undo and whole why; then refusals and warnings. Values are escaped, never
    executed.
    """
    from .steps import IRREVERSIBLE

    steps = sorted(plan.steps, key=lambda st: (st.kind not in IRREVERSIBLE, 0))
    counts: dict[str, int] = {}
    for st in plan.steps:
        counts[st.kind.value] = counts.get(st.kind.value, 0) + 1
    irreversible = [st for st in plan.steps if st.kind in IRREVERSIBLE]
    if fmt == "html":
        return _review_html(plan, steps, counts, irreversible, names)
    def cell(x: Any) -> str:
        return _comment(str(x), 100_000).replace("|", "\\|").replace("`", "'")
    lines = [f"# Change ticket: reconciler plan for tenant {cell(plan.tenant)}", "",
             f"- Fingerprint: `{cell(plan.fingerprint)}`", f"- Made: {cell(plan.created)} from scan run "
             f"{cell(plan.scan_run)}", f"- Steps: {len(plan.steps)}, of which **{len(irreversible)} irreversible**; "
             f"refusals: {len(plan.refusals)}; warnings: {len(plan.warnings)}", "",
             "## Summary by kind", "", "| kind | steps |", "|---|---|"]
    lines += [f"| {k}{' (IRREVERSIBLE)' if any(st.kind.value == k for st in irreversible) else ''} | {n} |"
              for k, n in sorted(counts.items())]
    lines += ["", "## Steps (irreversible first)", ""]
    for st in steps:
        mark = "IRREVERSIBLE " if st.kind in IRREVERSIBLE else ""
        lines += [f"### {mark}{cell(st.id)} `{st.kind.value}` ({st.executor.value}) on {cell(target_name(st, names))}",
                  "", f"- after: {cell(', '.join(st.after) or '(nothing)')}",
                  f"- finding: {cell(st.finding or '(none)')}",
                  f"- change: `{cell(_json(dict(st.change)))}`", f"- expect: `{cell(_json(dict(st.expect)))}`",
                  f"- undo: `{cell(_json(dict(st.undo)) if st.undo is not None else 'none: cannot be undone')}`",
                  f"- why: {cell(st.why)}", ""]
    lines += ["## Refused (no step planned)", ""]
    lines += [f"- **{cell(r.guard)}** (finding {cell(r.finding)}): {cell(r.reason)}" for r in plan.refusals] or \
        ["- none"]
    lines += ["", "## Warnings", ""] + ([f"- {cell(w)}" for w in plan.warnings] or ["- none"])
    return "\n".join(lines) + "\n"


def _review_html(plan: Any, steps: Sequence[Step], counts: Mapping[str, int], irreversible: Sequence[Step],
                 names: Mapping[str, str] | None) -> str:
    import html

    from .steps import IRREVERSIBLE

    esc = html.escape
    summary = "".join(f"<tr><td>{esc(k)}</td><td>{n}</td></tr>" for k, n in sorted(counts.items()))
    rows = []
    for st in steps:
        mark = "<b>IRREVERSIBLE</b> " if st.kind in IRREVERSIBLE else ""
        undo = _json(dict(st.undo)) if st.undo is not None else "none: cannot be undone"
        rows.append(f"<tr><td>{mark}{esc(st.id)}</td><td>{esc(st.kind.value)}</td><td>{esc(st.executor.value)}</td>"
                    f"<td>{esc(target_name(st, names))}</td><td>{esc(', '.join(st.after))}</td>"
                    f"<td><code>{esc(_json(dict(st.change)))}</code></td><td><code>{esc(_json(dict(st.expect)))}"
                    f"</code></td><td><code>{esc(undo)}</code></td><td>{esc(st.why)}</td></tr>")
    refs = "".join(f"<li><b>{esc(r.guard)}</b> ({esc(r.finding)}): {esc(r.reason)}</li>" for r in plan.refusals)
    warns = "".join(f"<li>{esc(w)}</li>" for w in plan.warnings)
    return (f"<!doctype html><meta charset='utf-8'><title>reconciler plan</title><h1>Change ticket: plan for tenant "
            f"{esc(plan.tenant)}</h1><p>Fingerprint <code>{esc(plan.fingerprint)}</code>; {len(plan.steps)} steps, "
            f"<b>{len(irreversible)} irreversible</b>; {len(plan.refusals)} refusals; {len(plan.warnings)} warnings"
            f"</p><h2>Summary by kind</h2><table border=1><tr><th>kind</th><th>steps</th></tr>{summary}</table>"
            "<h2>Steps (irreversible first)</h2><table border=1><tr><th>step</th><th>kind</th><th>executor</th>"
            "<th>target</th><th>after</th><th>change</th><th>expect</th><th>undo</th><th>why</th></tr>"
            f"{''.join(rows)}</table><h2>Refused</h2><ul>{refs or '<li>none</li>'}</ul><h2>Warnings</h2>"
            f"<ul>{warns or '<li>none</li>'}</ul>\n")
