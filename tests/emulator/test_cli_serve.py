"""`reconciler emulator serve` as a user runs it: prints its URL, serves, saves on Ctrl-C / SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.sources.tenantfile import read_tenant_file
from tests.conftest import SAMPLE_TENANT

runner = CliRunner()
LENA_TWIN = "a7b7cb9f-2a42-4c08-9c58-07e42ace933e"


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "emulator", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1.0"), proc.stderr.read()  # type: ignore[union-attr]
    return proc, url


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_url_and_saves_writes_on_shutdown(tmp_path, sig):
    saved, log = tmp_path / "after.json", tmp_path / "log.jsonl"
    proc, url = _start("--tenant", str(SAMPLE_TENANT), "--save", str(saved), "--request-log", str(log),
                       "--page-size", "7")
    try:
        assert len(httpx.get(f"{url}/users").json()["value"]) == 7
        assert httpx.delete(f"{url}/users/{LENA_TWIN}").status_code == 204
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped after 2 requests" in err
    assert any(o.id == LENA_TWIN and o.deleted for o in read_tenant_file(saved).objects)
    assert [json.loads(line)["status"] for line in log.read_text().splitlines()] == [200, 204]


def test_permissions_file(tmp_path):
    perms = tmp_path / "perms.json"
    perms.write_text(json.dumps({"reader": ["User.Read.All"]}))
    proc, url = _start("--tenant", str(SAMPLE_TENANT), "--permissions", str(perms), "-q")
    try:
        assert httpx.get(f"{url}/users", headers={"Authorization": "Bearer reader"}).status_code == 200
        assert httpx.get(f"{url}/groups", headers={"Authorization": "Bearer reader"}).status_code == 403
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


@pytest.mark.parametrize("args,words", [
    (["--tenant", "missing.json"], ("missing.json", "no such file")),
    (["--tenant", str(SAMPLE_TENANT), "--throttle", "hurricane"], ("throttle",)),
    (["--tenant", str(SAMPLE_TENANT), "--page-size", "1000"], ("page size",)),
    (["--tenant", str(SAMPLE_TENANT), "--permissions", "nope.json"], ("nope.json",)),
])
def test_bad_input_is_one_line_and_exit_2(args, words):
    r = runner.invoke(app, ["emulator", "serve", *args])
    assert r.exit_code == 2, r.output
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    for w in words:
        assert w in r.stderr


def test_not_a_tenant_file(tmp_path):
    bad = tmp_path / "plan.json"
    bad.write_text('{"schema": "reconciler.plan/1"}')
    r = runner.invoke(app, ["emulator", "serve", "--tenant", str(bad)])
    assert r.exit_code == 2 and "reconciler.tenant/1" in r.stderr
