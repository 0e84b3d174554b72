"""Plan files on disk: read with a schema check (every failure is ``BadInput``, exit 2), write atomically.

Also reads LDIF change files back (``changetype: modify``) with the same
line/folding/base64 decoding as the export reader, so an emitted change file
can be checked before an admin runs ``ldifde -i``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from ..core.errors import BadInput
from ..sources.ldif import _logical_lines, _split
from ..sources.tenantfile import load_json_document, parse_json_bytes
from .emit import emit_ldif, emit_ps1
from .planner import PLAN_SCHEMA, Plan, Refusal
from .steps import Executor, Step, StepShapeError, check_step

__all__ = [
    "LoadedPlan",
    "parse_plan_bytes",
    "plan_from_document",
    "read_ldif_changes",
    "read_plan",
    "write_plan",
    "write_text",
]


class LoadedPlan:
    """A plan as read from a file: the parsed steps plus the fingerprint the file claims."""

    def __init__(self, plan: Plan, claimed: str, path: str) -> None:
        self.plan = plan
        self.claimed = claimed
        self.path = path

    @property
    def intact(self) -> bool:
        return self.plan.fingerprint == self.claimed


def read_plan(path: Path | str) -> LoadedPlan:
    return plan_from_document(load_json_document(path, PLAN_SCHEMA), path)


def parse_plan_bytes(data: bytes, path: str = "<plan>") -> LoadedPlan:
    return plan_from_document(parse_json_bytes(data, path, PLAN_SCHEMA), path)


def _need(doc: Mapping[str, Any], key: str, typ: type, path: Any) -> Any:
    v = doc.get(key)
    if not isinstance(v, typ):
        raise BadInput(path, f"{key} must be a {typ.__name__}", place=key)
    return v


def plan_from_document(doc: Mapping[str, Any], path: Any) -> LoadedPlan:
    tenant = _need(doc, "tenant", str, path)
    claimed = _need(doc, "fingerprint", str, path)
    raw_steps = _need(doc, "steps", list, path)
    raw_ref = doc.get("refusals") or []
    if not isinstance(raw_ref, list):
        raise BadInput(path, "refusals must be a list", place="refusals")
    warnings = doc.get("warnings") or []
    if not isinstance(warnings, list):
        raise BadInput(path, "warnings must be a list", place="warnings")
    steps, seen = [], set()
    for i, d in enumerate(raw_steps):
        try:
            step = Step.from_data(d)
        except StepShapeError as e:
            raise BadInput(path, str(e), place=f"steps[{i}]") from None
        if step.id in seen:
            raise BadInput(path, f"duplicate step id {step.id!r}", place=f"steps[{i}].id")
        problem = _unusable(step)
        if problem:
            raise BadInput(path, f"step {step.id!r}: {problem}", place=f"steps[{i}]")
        missing = [a for a in step.after if a not in seen]
        if missing:
            raise BadInput(path, f"after names {missing!r}, which is not an earlier step", place=f"steps[{i}].after")
        seen.add(step.id)
        steps.append(step)
    refusals = []
    for i, r in enumerate(raw_ref):
        if not isinstance(r, Mapping) or not all(isinstance(r.get(k), str) for k in ("finding", "guard", "reason")):
            raise BadInput(path, "a refusal needs finding, guard and reason strings", place=f"refusals[{i}]")
        refusals.append(Refusal(r["finding"], r["guard"], r["reason"]))
    plan = Plan(tenant=tenant, created=str(doc.get("created") or ""), scan_run=doc.get("scan_run"),
                steps=tuple(steps), refusals=tuple(refusals),
                warnings=tuple(str(w) for w in warnings))
    return LoadedPlan(plan, claimed, str(path))


def _unusable(step: Step) -> str | None:
    """Why apply could not execute or emit this step (checked at read time, before anything is written)."""
    problem = check_step(step)
    if problem:
        return problem
    if step.executor not in (Executor.POWERSHELL, Executor.MANUAL):
        for attr, spec in step.change.items():
            if isinstance(spec, Mapping) and any(not isinstance(spec.get(op, []), list) for op in ("add", "remove")):
                return f"change.{attr}: add and remove must be lists"
    try:
        if step.executor is Executor.POWERSHELL:
            emit_ps1([step], fingerprint="")
            emit_ps1([step], fingerprint="", undo=True)
        elif step.executor is Executor.LDAP:
            emit_ldif([step])
            emit_ldif([step], undo=True)
    except (ValueError, TypeError) as e:
        return f"cannot be rendered for the admin: {e}"
    return None


def write_text(path: Path, text: str) -> None:
    """Write atomically (temp file renamed into place)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8", newline="\n")
        os.replace(tmp, path)
    except OSError as e:
        raise BadInput(path, f"cannot write: {e.strerror}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_plan(path: Path, plan: Plan) -> None:
    write_text(path, orjson.dumps(plan.data, option=orjson.OPT_INDENT_2).decode() + "\n")


def read_ldif_changes(data: bytes, label: str = "<ldif>") -> list[tuple[str, list[tuple[str, str, list[bytes]]]]]:
    """``[(dn, [(op, attribute, values)])]`` from an RFC 2849 modify-only change file."""
    path = Path(label)
    records: list[tuple[str, list[tuple[str, str, list[bytes]]]]] = []
    dn: str | None = None
    mods: list[tuple[str, str, list[bytes]]] = []
    for no, line in _logical_lines(io.BytesIO(data), path):
        if line is None:
            if dn is not None:
                records.append((dn, mods))
            dn, mods = None, []
            continue
        if line == b"-":
            continue
        attr, value = _split(line, no, path)
        if dn is None:
            if attr == "version":
                continue
            if attr != "dn":
                raise BadInput(path, f"record must start with 'dn:', found {attr!r}", line=no)
            dn = value.decode("utf-8")
        elif attr == "changetype":
            if value.strip() != b"modify":
                raise BadInput(path, "only 'changetype: modify' records are expected", line=no)
        elif attr in ("add", "delete", "replace"):
            mods.append((attr, value.decode("utf-8"), []))
        elif mods and attr == mods[-1][1].lower():
            mods[-1][2].append(value)
        else:
            raise BadInput(path, f"value for {attr!r} outside its add/delete/replace block", line=no)
    return records
