"""Reader for ``reconciler.tenant/1`` files (docs/formats.md, "Tenant file").

Memory: the file is parsed once with orjson, then each collection is converted
object by object and its raw dicts are released as we go, so a 500k-user file
never holds two full copies of every object.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import orjson

from ..core.errors import BadInput
from ..core.model import ORIGINS, CloudSnapshot, ObjectKind, Origin
from .graphmap import to_cloud_object, to_domains
from .inputs import read_input

__all__ = ["TENANT_SCHEMA", "read_tenant_file", "parse_tenant_bytes", "load_json_document"]

TENANT_SCHEMA = "reconciler.tenant/1"

_COLLECTIONS = (
    ("users", ObjectKind.USER, False),
    ("groups", ObjectKind.GROUP, False),
    ("contacts", ObjectKind.CONTACT, False),
    ("deletedUsers", ObjectKind.USER, True),
    ("deletedGroups", ObjectKind.GROUP, True),
)


def _line_col(data: bytes, pos: int) -> tuple[int, int]:
    pos = max(0, min(pos, len(data)))
    line = data.count(b"\n", 0, pos) + 1
    col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
    return line, col


def load_json_document(path: Path | str, schema: str) -> dict[str, Any]:
    """Read a JSON file that must declare ``schema``; every failure is ``BadInput``."""
    p = Path(path)
    return parse_json_bytes(read_input(p), p, schema)


def parse_json_bytes(data: bytes, path: Path | str, schema: str) -> dict[str, Any]:
    if not data.strip():
        raise BadInput(path, "empty file, expected a JSON document")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        line, col = _line_col(data, e.pos)
        msg = str(e.msg) if hasattr(e, "msg") else str(e)
        raise BadInput(path, f"invalid JSON: {msg}", line=line, column=col) from None
    if not isinstance(doc, dict):
        raise BadInput(path, f"expected a JSON object with \"schema\": \"{schema}\"")
    found = doc.get("schema")
    if found != schema:
        what = "no \"schema\" key" if found is None else f"schema is {found!r}"
        raise BadInput(path, f"{what}; expected {schema!r}", place="schema")
    return doc


def read_tenant_file(path: Path | str, origins: Iterable[str] = ORIGINS, since: datetime | None = None) -> CloudSnapshot:
    doc = load_json_document(path, TENANT_SCHEMA)
    return tenant_from_document(doc, path, origins, since)


def parse_tenant_bytes(data: bytes, path: str = "<tenant>") -> CloudSnapshot:
    return tenant_from_document(parse_json_bytes(data, path, TENANT_SCHEMA), path)


def _optional_list(doc: dict[str, Any], key: str, path: Any) -> tuple[Any, ...] | None:
    if key not in doc or doc[key] is None:
        return None
    v = doc[key]
    if not isinstance(v, list):
        raise BadInput(path, f"{key} must be a list", place=key)
    return tuple(v)


def tenant_from_document(doc: dict[str, Any], path: Any, origins: Iterable[str] = ORIGINS,
                         since: datetime | None = None) -> CloudSnapshot:
    """The snapshot a tenant file describes, with the errors of every origin in ``origins``.

    ``provisioningLogs``: Cloud Sync failures within ``since`` .. the newest log entry (a file is a
    snapshot: its window ends when it was taken; default 7 days). ``serviceProvisioningErrors`` on
    users, groups and contacts: Exchange. ``connectHealthErrors``: Connect Health's export errors.
    """
    org = doc.get("organization") or {}
    if not isinstance(org, dict):
        raise BadInput(path, "organization must be an object", place="organization")
    try:
        domains = to_domains(org)
    except ValueError as e:
        raise BadInput(path, str(e), place="organization") from None
    sync = doc.get("onPremisesSynchronization")
    features = None
    if isinstance(sync, dict) and isinstance(sync.get("features"), dict):
        features = dict(sync["features"])
    snap = CloudSnapshot(
        tenant_id=str(org.get("id") or "unknown-tenant"),
        tenant_name=org.get("displayName"),
        domains=domains,
        features=features,
        source_label=str(path),
    )
    wanted = set(origins)
    from .exchange import service_error_records

    group_members: dict[str, tuple[str, ...]] = {}
    for key, kind, deleted in _COLLECTIONS:
        raw = doc.pop(key, None)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise BadInput(path, f"{key} must be a list", place=key)
        for i in range(len(raw)):
            item = raw[i]
            if key == "groups" and isinstance(item, dict) and isinstance(item.get("members"), list):
                group_members[str(item.get("id"))] = tuple(str(m) for m in item["members"])
            try:
                obj = to_cloud_object(item, kind, deleted=deleted, warnings=snap.warnings)
            except ValueError as e:
                raise BadInput(path, f"{key}[{i}] {e}", place=f"{key}[{i}]") from None
            if Origin.CONNECT.value not in wanted and obj.errors:
                from dataclasses import replace

                obj = replace(obj, errors=())
            snap.objects.append(obj)
            if (not deleted and Origin.EXCHANGE.value in wanted and isinstance(item, dict)
                    and item.get("serviceProvisioningErrors")):
                if not isinstance(item["serviceProvisioningErrors"], list):
                    raise BadInput(path, f"{key}[{i}] serviceProvisioningErrors must be a list",
                                   place=f"{key}[{i}]")
                snap.error_records += service_error_records(item, kind, snap.warnings)
            raw[i] = None  # release the raw dict as soon as it is converted
        del raw
    roles = doc.get("directoryRoles") or []
    members: dict[str, tuple[str, ...]] = {}
    if isinstance(roles, list):
        for r in roles:
            if isinstance(r, dict) and isinstance(r.get("members"), list):
                name = str(r.get("displayName") or r.get("id"))
                members[name] = tuple(str(m) for m in r["members"])
    snap.directory_role_members = members
    snap.group_members = group_members
    snap.role_assignments = _optional_list(doc, "roleAssignments", path)
    snap.roles_known = snap.role_assignments is not None or "directoryRoles" in doc
    snap.role_eligibility = _optional_list(doc, "roleEligibilitySchedules", path)
    read = [o for o in ORIGINS if o in wanted]  # a missing collection means none (the file format's rule)
    logs = _optional_list(doc, "provisioningLogs", path)
    if Origin.CLOUD_SYNC.value in wanted and logs is not None:
        from .cloudsync import DEFAULT_SINCE, failure_records
        from .timestamps import parse_time

        times = [t for t in (parse_time(str(d.get("activityDateTime") or "")) for d in logs if isinstance(d, dict)) if t]
        until = max(times) if times else None
        start = since or (until - DEFAULT_SINCE if until else None)
        recs, warns = failure_records(logs, start, until)
        snap.error_records += recs
        snap.warnings += warns
    health = _optional_list(doc, "connectHealthErrors", path)
    if Origin.HEALTH.value in wanted and health is not None:
        from .health import records_from_items

        snap.error_records += records_from_items(list(health))
    snap.origins_read = tuple(o for o in ORIGINS if o in read)
    return snap
