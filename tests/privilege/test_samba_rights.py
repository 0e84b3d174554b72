"""AD least privilege on a real Samba AD DC (skipped unless RECONCILER_TEST_LDAP=1, as .ci/run sets it).

A plain authenticated account (no delegated write rights: what docs/permissions.md asks for a scan)
can ``scan --ldap``; the same account cannot ``apply --ldap --doit`` an ldap step: exit 5, one line
naming the missing rights, nothing written. The account the doc names for apply can.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.fixes.planfile import read_plan
from reconciler.fixes.steps import Executor, Step, StepKind
from tests.conftest import SAMPLE_TENANT
from tests.fixes.emu import save_plan
from tests.sources.ldap import forest
from tests.sources.ldap.conftest import samba  # noqa: F401  (fixture)

pytestmark = pytest.mark.ldap
OU = f"OU=Privilege Tests,{forest.BASE_DN}"
TARGET = f"CN=Priya Rights,{OU}"
READER = f"CN=reconciler-ro,{OU}"
READER_PASSWORD = "ReadOnly!Pass123"
URL = "ldaps://127.0.0.1"


@pytest.fixture
def ad(samba):  # noqa: F811
    with forest.admin_connection() as conn:
        forest.delete_tree(conn, OU)
        forest.ensure_ou(conn, OU)
        forest.add_user(conn, TARGET, sam="prights", upn="priya@rights.test",
                        proxies=["SMTP:priya.raman@rights.test", "smtp:priya@rights.test"])
        forest.add_user(conn, READER, sam="reconciler-ro", upn="ro@rights.test", password=READER_PASSWORD)
        yield conn
        forest.delete_tree(conn, OU)


def proxies(conn: Any) -> list[bytes]:
    conn.search(TARGET, "(objectClass=*)", "BASE", attributes=["proxyAddresses"])
    return sorted(conn.response[0]["raw_attributes"].get("proxyAddresses", []))


def cli(*args: Any, password: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args], env={"RECONCILER_LDAP_PASSWORD": password})
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout, r.stderr


def ldap_opts(bind_dn: str) -> list[Any]:
    return ["--ldap", URL, "--bind-dn", bind_dn, "--ldap-ca", forest.ca_file()]


def remove_proxy_plan(tmp: Path) -> tuple[Path, str]:
    step = Step(id="s1", kind=StepKind.REMOVE_PROXY_ADDRESS, executor=Executor.LDAP,
                target={"type": "onprem", "dn": TARGET}, expect={"proxyAddresses": ["smtp:priya@rights.test"]},
                change={"proxyAddresses": {"remove": ["smtp:priya@rights.test"]}},
                undo={"proxyAddresses": {"add": ["smtp:priya@rights.test"]}})
    path = save_plan(tmp, [step], None)
    return path, read_plan(path).plan.fingerprint


def test_a_read_only_account_can_scan(ad, tmp_path):
    code, _, err = cli("scan", "--tenant", SAMPLE_TENANT, *ldap_opts(READER), "--base-dn", OU,
                       "--db", tmp_path / "r.db", "-q", password=READER_PASSWORD)
    assert code == 0, err
    code, out, err = cli("check-onprem", *ldap_opts(READER), "--base-dn", OU, "--format", "json",
                         password=READER_PASSWORD)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["scanned"] == 2  # both users in the OU were read, proxyAddresses included
    # what LDAP does not read is said, with the rules that therefore did not run (never a silent pass)
    [note] = [n for n in doc["notes"] if "not read over LDAP" in n]
    assert "thumbnailphoto-size" in note and "usercertificate-count" in note and "ldifde" in note
    code, out, err = cli("check-onprem", *ldap_opts(READER), "--base-dn", OU, "--format", "json", "--rules", "idfix",
                         password=READER_PASSWORD)
    assert code == 0 and not [n for n in json.loads(out)["notes"] if "not read over LDAP" in n]


def apply_as_reader(ad: Any, tmp: Path) -> tuple[int, str, list[bytes]]:
    path, fingerprint = remove_proxy_plan(tmp)
    code, out, err = cli("apply", path, *ldap_opts(READER), "--db", tmp / "r.db", "--doit",
                         "--checksum", fingerprint, password=READER_PASSWORD)
    return code, out + err, proxies(ad)


def test_a_read_only_account_cannot_apply_an_ldap_step(ad, tmp_path):
    before = proxies(ad)
    code, out, after = apply_as_reader(ad, tmp_path)
    assert after == before  # nothing written
    assert code != 0
    assert "insufficientAccessRights" in out and "grant Write" in out
    assert "Traceback" not in out


def test_a_read_only_account_applying_is_exit_5(ad, tmp_path):
    assert apply_as_reader(ad, tmp_path)[0] == 5


def test_the_administrator_account_applies_the_same_step(ad, tmp_path):
    path, fingerprint = remove_proxy_plan(tmp_path)
    code, out, err = cli("apply", path, *ldap_opts(forest.ADMIN_DN), "--db", tmp_path / "r.db", "--doit",
                         "--checksum", fingerprint, password=forest.ADMIN_PASSWORD)
    assert code == 0, out + err
    assert b"smtp:priya@rights.test" not in proxies(ad)
