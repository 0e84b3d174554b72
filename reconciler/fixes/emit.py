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
    "emit_ldif",
    "emit_ps1",
    "ldif_line",
    "ps_quote",
    "render_command",
]

_PS_QUOTES = "'\u2018\u2019\u201a\u201b"
BINARY_ATTRIBUTES = frozenset({"ms-ds-consistencyguid", "objectguid", "objectsid"})
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


def emit_ps1(steps: Sequence[Step], *, fingerprint: str, plan_path: str = "plan.json",
             undo: bool = False) -> str:
    """One reviewed script for ``powershell`` steps, in order; stops at the first error."""
    ps = [s for s in steps if s.executor is Executor.POWERSHELL]
    lines = ["# Generated by reconciler. Review before running; every value is a single-quoted literal.",
             f"# plan fingerprint: {_comment(fingerprint)}",
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
    lines.append(f"# then: reconciler apply {_comment(plan_path)} --doit --confirm {ids}")
    return "\n".join(lines) + "\n"


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


def _mods(change: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for attr, spec in change.items():
        if isinstance(spec, Mapping):
            for op, ldif_op in (("remove", "delete"), ("add", "add")):
                if spec.get(op):
                    lines += [f"{ldif_op}: {attr}", *_values(attr, spec[op]), "-"]
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
        out += [f"# {_safe_id(s.id)} {s.kind.value}{' (undo)' if undo else ''}", *ldif_line("dn", s.dn),
                "changetype: modify", *_mods(change), ""]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- review rendering


def render_review(plan: Any, fmt: str = "md") -> str:
    """The plan as a change-ticket document (Markdown or HTML); values escaped, never executed."""
    import html

    rows = [(s.id, s.kind.value, s.executor.value, _target_text(s.target), ", ".join(s.after), s.why)
            for s in plan.steps]
    if fmt == "html":
        esc = html.escape
        body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        refs = "".join(f"<li><b>{esc(r.guard)}</b> ({esc(r.finding)}): {esc(r.reason)}</li>" for r in plan.refusals)
        warns = "".join(f"<li>{esc(w)}</li>" for w in plan.warnings)
        return (f"<!doctype html><meta charset='utf-8'><title>reconciler plan</title><h1>Plan for tenant "
                f"{esc(plan.tenant)}</h1><p>Fingerprint <code>{esc(plan.fingerprint)}</code></p><table border=1>"
                "<tr><th>step</th><th>kind</th><th>executor</th><th>target</th><th>after</th><th>why</th></tr>"
                f"{body}</table><h2>Refused</h2><ul>{refs}</ul><h2>Warnings</h2><ul>{warns}</ul>\n")
    def cell(x: str) -> str:
        return _comment(str(x), 2000).replace("|", "\\|")
    lines = [f"# Plan for tenant {cell(plan.tenant)}", "", f"Fingerprint `{cell(plan.fingerprint)}`", "",
             "| step | kind | executor | target | after | why |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    lines += ["", "## Refused", ""] + [f"- **{cell(r.guard)}** ({cell(r.finding)}): {cell(r.reason)}"
                                       for r in plan.refusals]
    lines += ["", "## Warnings", ""] + [f"- {cell(w)}" for w in plan.warnings]
    return "\n".join(lines) + "\n"


def _target_text(target: Mapping[str, Any] | None) -> str:
    if not target:
        return ""
    return f"{target.get('type')} {target.get('id') or target.get('dn') or ''}".strip()
