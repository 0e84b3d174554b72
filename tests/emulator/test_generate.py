"""tenant generate: deterministic, Graph-shaped, LDIF-consistent, and the planted truth matches scan."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.emulator.generate import FINDING_SCENARIOS, GenerateOptions, generate
from reconciler.sources.onprem import read_onprem_file
from reconciler.sources.tenantfile import read_tenant_file

runner = CliRunner()
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DAR = re.compile(r"^.+\d{4}@contoso\.onmicrosoft\.com$")


def _gen(tmp: Path, name: str, **kw: Any) -> dict[str, Path]:
    paths = {"tenant": tmp / f"{name}.json", "ldif": tmp / f"{name}.ldif", "expected": tmp / f"{name}-exp.json"}
    generate(GenerateOptions(**kw), paths["tenant"], paths["ldif"], paths["expected"])
    return paths


def test_same_seed_same_bytes_other_seed_other_tenant(tmp_path):
    a = _gen(tmp_path, "a", users=300, seed=5, errors_per_1000=50)
    b = _gen(tmp_path, "b", users=300, seed=5, errors_per_1000=50)
    c = _gen(tmp_path, "c", users=300, seed=6, errors_per_1000=50)
    for k in ("tenant", "ldif"):
        assert a[k].read_bytes() == b[k].read_bytes()
        assert a[k].read_bytes() != c[k].read_bytes()
    assert orjson.loads(a["expected"].read_bytes())["findings"] == orjson.loads(b["expected"].read_bytes())["findings"]


def test_files_are_valid_for_our_own_readers(generated, generated_doc):
    snap = read_tenant_file(generated["tenant"])
    assert sum(1 for o in snap.objects if o.kind.value == "user" and not o.deleted) == 600
    src = read_onprem_file(generated["ldif"])
    assert src.base_dn == "DC=corp,DC=contoso,DC=com"
    assert generated_doc["schema"] == "reconciler.tenant/1"


def test_objects_are_graph_shaped(generated_doc):
    for coll in ("users", "groups", "contacts", "deletedUsers", "deletedGroups"):
        assert generated_doc[coll], coll
        for o in generated_doc[coll]:
            assert GUID.match(o["id"]), o["id"]
            assert isinstance(o["proxyAddresses"], list)
            assert isinstance(o["onPremisesProvisioningErrors"], list)
    users = generated_doc["users"]
    assert {u["userType"] for u in users} == {"Member", "Guest"}
    assert any(u["assignedLicenses"] for u in users)
    for d in generated_doc["deletedUsers"]:
        assert d["deletedDateTime"] and d["userPrincipalName"].startswith(d["id"].replace("-", ""))


def test_immutable_ids_come_from_the_ldif_anchors(generated, generated_doc):
    src = read_onprem_file(generated["ldif"])
    by_dn = {o.dn: o for o in src.objects}
    linked = 0
    for u in generated_doc["users"]:
        o = by_dn.get(u.get("onPremisesDistinguishedName") or "")
        if o is None or u["onPremisesImmutableId"] != o.anchor:
            continue
        linked += 1
        guid = uuid.UUID(bytes_le=base64.b64decode(u["onPremisesImmutableId"]))
        assert str(guid) in (o.object_guid, o.consistency_guid)
        assert u["onPremisesSecurityIdentifier"] == o.object_sid
    assert linked > 400


def test_every_scenario_and_the_tricky_holders_are_planted(generated):
    exp = orjson.loads(generated["expected"].read_bytes())
    assert exp["schema"] == "reconciler.expected/1"
    assert set(exp["counts"]) == set(FINDING_SCENARIOS)  # every scenario is planted
    assert set(exp["by_origin"]) == {"connect", "cloud_sync", "exchange", "health"}  # and every origin
    notes = " ".join(f["note"] for f in exp["findings"])
    for word in ("group", "contact", "recycle bin", "not in the LDIF", "re-created"):
        assert word in notes, word
    assert exp["no_hard_match_onto"] and exp["must_not_report"]


def test_dar_renamed_upns_carry_the_quarantined_value(generated_doc):
    dar = [u for u in generated_doc["users"] if DAR.match(u["userPrincipalName"])]
    assert dar
    for u in dar:
        errs = [e for e in u["onPremisesProvisioningErrors"] if e["propertyCausingError"] == "UserPrincipalName"]
        assert errs and u["userPrincipalName"].split("@")[0][:-4] == errs[0]["value"].split("@")[0]


def test_roles_reference_existing_principals(generated_doc):
    ids = {o["id"] for c in ("users", "groups") for o in generated_doc[c]}
    for role in generated_doc["directoryRoles"]:
        assert set(role["members"]) <= ids
    assert {a["principalId"] for a in generated_doc["roleAssignments"]} <= ids
    assert any(g.get("isAssignableToRole") and g["members"] for g in generated_doc["groups"])


def _key(obj_id: str, prop: str, value: str) -> tuple[str, str, str]:
    v = value.casefold()
    return obj_id, prop, v.removeprefix("smtp:")


def _scan(source: list[str], generated: dict[str, Path], tmp_path: Path) -> Path:
    out = tmp_path / "findings.json"
    r = runner.invoke(app, ["scan", *source, "--onprem", str(generated["ldif"]), "--db", str(tmp_path / "r.db"),
                            "--format", "json", "-o", str(out), "-q"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return out


def test_scan_agrees_with_the_planted_truth(generated, tmp_path):
    """Runs the real `reconciler scan` on a generated tenant + LDIF; compares per error."""
    out = _scan(["--tenant", str(generated["tenant"])], generated, tmp_path)
    _compare(out, generated)


@pytest.mark.parametrize("config", [EmulatorConfig(), EmulatorConfig(throttle="storm", seed=2, time_scale=0.01,
                                                                      fault_rate=0.05)], ids=["calm", "storm"])
def test_scan_over_the_emulator_agrees_with_the_planted_truth(generated, tmp_path, config):
    """The same, reading the tenant through the Graph client from the emulator over real HTTP."""
    emulator = create_app(generated["tenant"], config)
    with serve_in_thread(emulator) as url:
        arm = url.removesuffix("/v1.0") + "/arm"  # Connect Health's ARM API, served beside Graph
        out = _scan(["--graph-url", url, "--auth", "none", "--health-url", arm], generated, tmp_path)
    _compare(out, generated)
    stats = emulator.state.emulator.stats
    assert stats["by_endpoint"]["users"] > 0 and (config.throttle is None or stats["throttled"] > 0)


def _object_key(f: dict[str, Any]) -> str:
    return f["object"]["id"] if f["object"] else "onprem:" + ((f["source"] or {}).get("immutable_id") or "")


def _compare(out: Path, generated: dict[str, Path]) -> None:
    got = {_key(_object_key(f), f["conflict"]["property"], f["conflict"]["value"]): f
           for f in json.loads(out.read_text())["findings"]}
    exp = orjson.loads(generated["expected"].read_bytes())
    want = {_key(f["object_key"], f["property"], f["value"]): f for f in exp["findings"]}
    assert set(got) == set(want), (set(got) ^ set(want))
    wrong = []
    for k, w in want.items():
        g = got[k]
        seen = (g["scenario"], g["holders"][0]["id"] if g["holders"] else None, (g["source"] or {}).get("dn"),
                g["conflict"]["origins"])
        if seen != (w["scenario"], w["holder"], w["source_dn"], w["origins"]):
            wrong.append((w["note"], seen, (w["scenario"], w["holder"], w["source_dn"], w["origins"])))
    assert not wrong, wrong[:5]
    reported = {f["object"]["id"] for f in got.values() if f["object"]}
    assert not reported & {m["id"] for m in exp["must_not_report"]}


def test_cli_generate_and_bad_options(tmp_path):
    args = ["tenant", "generate", "--users", "50", "-o", str(tmp_path / "t.json"), "--ldif", str(tmp_path / "f.ldif")]
    r = runner.invoke(app, args + ["--seed", "2", "--mix", "no_holder=1,deleted_holder=2"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.stderr and read_tenant_file(tmp_path / "t.json").tenant_id
    bad = runner.invoke(app, args + ["--mix", "cloud_twin=1"])
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "cloud_twin" in bad.stderr
    bad = runner.invoke(app, args[:3] + ["0"] + args[4:])
    assert bad.exit_code == 2 and "--users" in bad.stderr
    bad = runner.invoke(app, args[:5] + [str(tmp_path / "no" / "such" / "t.json")] + args[6:])
    assert bad.exit_code == 2 and "cannot write" in bad.stderr


@pytest.mark.parametrize("mix", [{"no_holder": 1}, {"unverified_holder": 1}])
def test_mix_limits_the_scenarios(tmp_path, mix):
    p = _gen(tmp_path, "m", users=200, seed=1, errors_per_1000=100, mix=mix)
    assert set(orjson.loads(p["expected"].read_bytes())["counts"]) == set(mix)
