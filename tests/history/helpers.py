"""Tenant files whose sync errors change between runs, built from the bundled sample."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import SAMPLE_TENANT

_SAMPLE = json.loads(SAMPLE_TENANT.read_text())

# The sample's seven quarantined values (one per finding), by a short name.
VALUES = {
    "lena": "lena.fischer@contoso.com",
    "sales": "smtp:sales@contoso.com",
    "priya": "priya@contoso.com",
    "tomasz": "tomasz.kowalski@contoso.com",
    "grace": "grace.okafor@contoso.com",
    "diego": "diego@contoso.com",
    "hannah": "hannah.schmidt@contoso.com",
}


def write_tenant(path: Path, keep: Iterable[str], *, org_id: str | None = None, name: str | None = None,
                 display_names: dict[str, str] | None = None) -> Path:
    """The sample tenant with only the errors named in ``keep`` (keys of VALUES)."""
    doc = copy.deepcopy(_SAMPLE)
    wanted = {VALUES[k].casefold() for k in keep}
    if org_id:
        doc["organization"]["id"] = org_id
    if name:
        doc["organization"]["displayName"] = name
    for coll in ("users", "groups", "contacts"):
        for obj in doc.get(coll, []):
            errs = obj.get("onPremisesProvisioningErrors") or []
            obj["onPremisesProvisioningErrors"] = [e for e in errs if e["value"].casefold() in wanted]
            for k, v in (display_names or {}).items():
                if any(e["value"].casefold() == VALUES[k].casefold() for e in errs):
                    obj["displayName"] = v
    path.write_text(json.dumps(doc))
    return path


def iso(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def backdate(db: Path, run_id: str, days_ago: float, now: datetime | None = None) -> str:
    """Move a run back in time (stands in for a nightly schedule)."""
    at = iso((now or datetime.now(UTC)) - timedelta(days=days_ago))
    with sqlite3.connect(db) as c:
        c.execute("UPDATE runs SET started = ?, finished = ? WHERE id = ?", (at, at, run_id))
    return at
