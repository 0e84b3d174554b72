"""The published JSON Schemas (reconciler/schemas, docs/formats.md) describe what the tool really reads and writes.

Every output of the sample flow (scan, plan, report, check-onprem), a tenant file saved from Graph (the
emulator over loopback HTTP), a generated tenant, every bundled fixture and the documented config examples
validate; documents that break the format do not; the schemas' closed sets are the code's closed sets.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.schemas import NAMES, load, text
from tests.conftest import ROOT, SAMPLE_LDIF, SAMPLE_TENANT

runner = CliRunner()


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


def problems(name: str, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(name).iter_errors(doc)]


def cli(*args: Any) -> str:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code in (0, 1), (args, r.exit_code, r.stderr, r.exception)
    return r.stdout


@pytest.mark.parametrize("name", list(NAMES))
def test_each_schema_is_a_valid_draft_2020_12_schema(name):
    Draft202012Validator.check_schema(load(name))
    if NAMES[name]:
        assert load(name)["properties"]["schema"] == {"const": NAMES[name]}


@pytest.mark.parametrize("name", list(NAMES))
def test_reconciler_schema_prints_the_shipped_file(name):
    r = runner.invoke(app, ["schema", name])
    assert r.exit_code == 0 and json.loads(r.stdout) == json.loads(text(name))


def test_an_unknown_schema_name_is_a_usage_error_naming_the_choices():
    r = runner.invoke(app, ["schema", "findngs"])
    assert r.exit_code == 2 and "findings" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------- real outputs


@pytest.fixture(scope="module")
def sample_outputs(tmp_path_factory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("outputs")
    db = tmp / "r.db"
    cli("scan", "--tenant", SAMPLE_TENANT, "--onprem", SAMPLE_LDIF, "--db", db, "-f", "json", "-o", tmp / "f.json",
        "-q")
    cli("plan", "--db", db, "-o", tmp / "plan.json", "-q")
    cli("report", "--db", db, "-f", "json", "-o", tmp / "report.json", "-q")
    cli("check-onprem", "--onprem", SAMPLE_LDIF, "--tenant", SAMPLE_TENANT, "-f", "json", "-o", tmp / "checks.json",
        "-q")
    return {name: json.loads((tmp / f).read_text()) for name, f in
            [("findings", "f.json"), ("plan", "plan.json"), ("report", "report.json"), ("checks", "checks.json")]}


@pytest.mark.parametrize("name", ["findings", "plan", "report", "checks"])
def test_every_output_of_the_sample_flow_validates(sample_outputs, name):
    doc = sample_outputs[name]
    assert problems(name, doc) == []
    assert doc["schema"] == NAMES[name]


def test_the_outputs_are_not_trivially_empty(sample_outputs):
    """A schema check on empty lists proves nothing: the sample has findings, steps, problems and history."""
    assert len(sample_outputs["findings"]["findings"]) >= 5
    assert sample_outputs["plan"]["steps"] and sample_outputs["checks"]["problems"]
    assert sample_outputs["report"]["tenants"][0]["findings"]


def test_a_tenant_saved_from_graph_validates(tmp_path):
    """scan --graph-url --save-tenant over loopback HTTP: what the Graph reader writes is a conformant tenant file."""
    from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread

    out = tmp_path / "saved.json"
    with serve_in_thread(create_app(SAMPLE_TENANT, EmulatorConfig())) as url:
        cli("scan", "--graph-url", url, "--auth", "none", "--db", tmp_path / "r.db", "--save-tenant", out, "-q")
    saved = json.loads(out.read_text())
    assert saved["users"] and problems("tenant", saved) == []


def test_a_generated_tenant_validates(tmp_path):
    from reconciler.emulator.generate import GenerateOptions, generate

    generate(GenerateOptions(users=300, errors_per_1000=50, seed=7), tmp_path / "t.json", tmp_path / "f.ldif")
    doc = json.loads((tmp_path / "t.json").read_text())
    assert len(doc["users"]) >= 300 and problems("tenant", doc) == []


@pytest.mark.parametrize("path", sorted({*ROOT.glob("fixtures/**/*.json"), *ROOT.glob("reconciler/data/*.json")}),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bundled_fixture_validates_against_its_declared_schema(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    by_value = {v: k for k, v in NAMES.items() if v}
    if doc.get("schema") not in by_value:
        pytest.skip(f"{doc.get('schema')} is a test-only format")
    assert problems(by_value[doc["schema"]], doc) == []


# ---------------------------------------------------------------- documents that break the format fail


def _sample() -> dict[str, Any]:
    return json.loads(SAMPLE_TENANT.read_text())


@pytest.mark.parametrize("name,mutate,where", [
    ("tenant", lambda d: d["users"][0].pop("id"), "users/0"),
    ("tenant", lambda d: d.update(users={"id": "x"}), "users"),
    ("tenant", lambda d: d.update(schema="reconciler.tenant/2"), "schema"),
    ("tenant", lambda d: d["users"][0].update(proxyAddresses="SMTP:a@b.c"), "users/0/proxyAddresses"),
])
def test_a_broken_tenant_file_fails_where_it_is_broken(name, mutate, where):
    doc = _sample()
    mutate(doc)
    found = problems(name, doc)
    assert found and any(p.startswith(where) for p in found), found


def test_unknown_keys_are_allowed_where_the_format_keeps_them(sample_outputs):
    """Other versions add fields (coverage, stats, warnings): readers that validate must not break on them."""
    doc = _sample()
    doc["someFutureCollection"] = [{"x": 1}]
    doc["users"][0]["someGraphProperty"] = True
    assert problems("tenant", doc) == []
    f = copy.deepcopy(sample_outputs["findings"])
    f["stats"] = {"objects": 1}
    f["findings"][0]["coverage"] = {"forests": ["corp.contoso.com"]}
    f["findings"][0]["conflict"]["origin"] = "cloud_sync"
    f["findings"][0]["conflict"]["origins"] = ["cloud_sync", "health"]
    p = copy.deepcopy(sample_outputs["plan"])
    p["warnings"] = ["w"]
    assert problems("findings", f) == [] and problems("plan", p) == []


@pytest.mark.parametrize("name,mutate", [
    ("findings", lambda d: d["findings"][0].update(scenario="cloud_only_triplet")),
    ("findings", lambda d: d["findings"][0]["conflict"].update(origin="smtp_relay")),
    ("findings", lambda d: d["findings"][0]["holders"][0].update(state="archived")),
    ("plan", lambda d: d["steps"][0].update(kind="format_disk")),
    ("plan", lambda d: d["steps"][0].update(executor="bash")),
    ("plan", lambda d: d.update(fingerprint="md5:abc")),
    ("report", lambda d: d["tenants"][0]["findings"][0].update(state="forgotten")),
    ("checks", lambda d: d["problems"][0].update(severity="fatal")),
])
def test_values_outside_the_closed_sets_fail(sample_outputs, name, mutate):
    doc = copy.deepcopy(sample_outputs[name])
    mutate(doc)
    assert problems(name, doc)


def test_the_schemas_closed_sets_are_the_codes():
    from reconciler.core.model import Scenario
    from reconciler.fixes.steps import Executor, StepKind

    scenarios = set(load("findings")["properties"]["findings"]["items"]["properties"]["scenario"]["enum"])
    assert {s.value for s in Scenario} <= scenarios
    assert {"data_validation", "large_attribute", "admin_role_conflict", "hard_match_blocked",
            "federated_domain_change", "service_error"} <= scenarios
    step = load("plan")["properties"]["steps"]["items"]["properties"]
    assert set(step["kind"]["enum"]) == {k.value for k in StepKind}
    assert set(step["executor"]["enum"]) == {e.value for e in Executor}


# ---------------------------------------------------------------- the config file


def _toml_examples() -> list[tuple[str, str]]:
    import reconciler.config

    found = [("reconciler/config.py", re.search(r"::\n\n(.*?)\n\"\"\"", reconciler.config.__doc__ + '\n"""',
                                                 re.S)[1])]  # type: ignore[index]
    for md in sorted((ROOT / "docs").glob("*.md")):
        for m in re.finditer(r"```toml\n(.*?)```", md.read_text(encoding="utf-8"), re.S):
            found.append((md.name, m[1]))
    return found


@pytest.mark.parametrize("where,example", _toml_examples(), ids=lambda x: x if x.endswith((".md", ".py")) else "")
def test_documented_config_examples_validate_and_parse(where, example, tmp_path):
    import textwrap

    from reconciler.config import parse_config

    example = textwrap.dedent(example)
    raw = tomllib.loads(example)
    assert problems("config", raw) == [], where
    parse_config(example, tmp_path / "reconciler.toml")  # and the tool accepts it


@pytest.mark.parametrize("toml", [
    '[tenants.a]\ngraph = true\nclient_secret = "hunter2"\n',
    '[tenants.a]\ngraph = true\nauth = "password"\n',
    '[tenants.a]\ngraph = true\nmax_concurrency = 0\n',
    'parallel = 8\n',
])
def test_configs_the_tool_refuses_the_schema_refuses(toml, tmp_path):
    from reconciler.config import parse_config
    from reconciler.core.errors import BadInput

    with pytest.raises(BadInput):
        parse_config(toml, tmp_path / "reconciler.toml")
    assert problems("config", tomllib.loads(toml))
