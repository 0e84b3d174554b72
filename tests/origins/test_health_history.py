"""History never takes an origin's silence for "resolved": a Connect Health finding stays open through a run in
which Connect Health was refused, and is resolved only by a run that read Connect Health and no longer saw it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.emulator.arm import READ_ACTION
from reconciler.history.unread import carry_unread
from tests.origins.health_helpers import item, tenant
from tests.origins.test_health_scan import READ, invoke, scan, user


def _states(db: Path) -> dict[str, str]:
    r = invoke("report", "--db", db, "--format", "json")
    assert r.exit_code == 0, r.output
    (t,) = json.loads(r.stdout)["tenants"]
    return {f["category"]: f["state"] for f in t["findings"]}


def test_a_refused_run_does_not_resolve_connect_health_findings(tmp_path: Path) -> None:
    doc = tenant([item(6, "IdentityDataValidationFailed", "UserPrincipalName", "mia müller@contoso.com",
                       anchor="ANCHOR6==")], [user("u-bad", "mia@contoso.onmicrosoft.com", synced=True,
                                                    anchor="ANCHOR6==")])
    tokens = {"both": set(READ) | {READ_ACTION}, "graph-only": set(READ)}
    application = create_app(doc, EmulatorConfig(permissions=tokens))
    db = tmp_path / "r.db"

    def run(token: str) -> Any:
        r = scan(url, db, "--auth", "token", env={"RECONCILER_GRAPH_TOKEN": token, "RECONCILER_ARM_TOKEN": token})
        assert r.exit_code == 0, r.output
        return r
    with serve_in_thread(application) as url:
        run("both")
        assert _states(db) == {"IdentityDataValidationFailed": "new"}
        assert "Connect Health was not read" in run("graph-only").stderr
        assert _states(db) == {"IdentityDataValidationFailed": "open"}  # not "resolved": nobody could see it
        application.state.emulator.state.extra["connectHealthErrors"] = []  # fixed, and Connect Health says so
        run("both")
        assert _states(db) == {"IdentityDataValidationFailed": "resolved"}


class _Run:
    def __init__(self, rid: str, read: list[str] | None, complete: bool = True) -> None:
        self.id, self.complete, self.tenant_id = rid, complete, "t"
        self.stats = {} if read is None else {"origins_read": read}


def test_carry_unread_rules() -> None:
    origins = {("r1", "a"): ["health"], ("r1", "b"): ["connect"], ("r1", "c"): ["connect", "health"]}
    runs = [_Run("r1", ["connect", "health"]), _Run("r2", ["connect"]), _Run("x", ["connect"], complete=False),
            _Run("r3", ["connect"]), _Run("r4", None)]
    seen = {"r1": ["a", "b", "c"], "r2": [], "r3": [], "r4": []}
    out, stored = carry_unread(runs, seen, str, lambda rid, fid: origins.get((rid, fid), []))
    # a: only health reported it and health was not read -> carried through r2 and r3, from r1's data
    # b, c: an origin that was read no longer reports them -> resolved; r4 has no record of origins: all read
    assert out == {"r1": ["a", "b", "c"], "r2": ["a"], "r3": ["a"], "r4": []}
    assert stored == {("r2", "a"): "r1", ("r3", "a"): "r1"}
