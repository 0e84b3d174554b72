"""Webhook notifications: Teams / Slack / generic bodies, retries, no secrets, and the CLI end to end."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.core.errors import NetworkError
from reconciler.history.notify import build_payload, guess_format, send
from tests.history.helpers import VALUES, write_tenant

runner = CliRunner()
HOOK = "https://contoso.webhook.office.com/webhookb2/SECRET-TOKEN-123/IncomingWebhook/abc"

DOC = {"generated": "2026-11-30T06:00:00Z", "tenants": [
    {"tenant": "t1", "name": "Contoso", "last_run": "r3", "last_run_complete": False,
     "counts": {"open": 4, "new": 1, "reopened": 1, "resolved": 2, "stuck": 2},
     "findings": [{"id": "f1", "state": "new", "scenario": "cloud_only_twin", "property": "UserPrincipalName",
                   "value": "lena.fischer@contoso.com"},
                  {"id": "f2", "state": "open", "scenario": "no_holder", "property": "ProxyAddress",
                   "value": "diego@contoso.com"}]}]}


def test_format_from_host():
    assert guess_format(HOOK) == "teams"
    assert guess_format("https://prod-12.westeurope.logic.azure.com/workflows/x") == "teams"
    assert guess_format("https://hooks.slack.com/services/T/B/X") == "slack"
    assert guess_format("https://ops.example.net/hook") == "generic"


@pytest.mark.parametrize("fmt", ["teams", "slack", "generic"])
def test_counts_only_by_default(fmt: str):
    body = json.dumps(build_payload(DOC, fmt))
    assert "4 open, 1 new, 1 reopened, 2 resolved, 2 stuck" in body and "Contoso" in body
    assert "lena.fischer" not in body and "diego" not in body  # no personal data unless asked
    assert "incomplete" in body


def test_values_only_for_new_and_reopened():
    body = json.dumps(build_payload(DOC, "generic", "values"))
    assert "lena.fischer@contoso.com" in body and "diego@contoso.com" not in body
    teams = build_payload(DOC, "teams", "values")
    assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "lena.fischer@contoso.com" in json.dumps(teams)


def test_retries_throttling_then_succeeds():
    calls, waits = [], []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(json.loads(req.content))
        if len(calls) < 3:
            return httpx.Response(429 if len(calls) == 1 else 503, headers={"Retry-After": "2"})
        return httpx.Response(200)

    status = send(HOOK, {"a": 1}, transport=httpx.MockTransport(handler), sleep=waits.append)
    assert status == 200 and len(calls) == 3 and waits == [2.0, 2.0]


def test_gives_up_without_leaking_the_url():
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    with pytest.raises(NetworkError) as e:
        send(HOOK, {"a": 1}, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    assert "SECRET-TOKEN-123" not in str(e.value) and "contoso.webhook.office.com" in str(e.value)
    assert e.value.exit_code == 5


def test_client_errors_are_not_retried():
    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, text="bad card")

    with pytest.raises(NetworkError, match="HTTP 400"):
        send(HOOK, {"a": 1}, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    assert len(calls) == 1


class Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        n = int(self.headers["Content-Length"])
        Hook.bodies.append(json.loads(self.rfile.read(n)))
        self.send_response(410 if "/gone/" in self.path else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook_url():
    Hook.bodies = []
    srv = HTTPServer(("127.0.0.1", 0), Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}/hook/TOKEN-XYZ"
    srv.shutdown()
    srv.server_close()


def test_report_notify_end_to_end(tmp_path: Path, hook_url: str, monkeypatch: pytest.MonkeyPatch):
    db = tmp_path / "r.db"
    tenant = write_tenant(tmp_path / "t.json", ["lena", "diego"])
    assert runner.invoke(app, ["scan", "--tenant", str(tenant), "--db", str(db), "-q", "-f", "json"]).exit_code == 0
    r = runner.invoke(app, ["report", "--db", str(db), "-f", "json", "-o", str(tmp_path / "r.json"),
                            "--notify", hook_url, "--check"])
    assert r.exit_code == 1  # findings open; the notification still went out
    assert "notified http://127.0.0.1/… (generic, HTTP 200)" in r.stderr and "TOKEN-XYZ" not in r.stderr
    (body,) = Hook.bodies
    assert body["schema"] == "reconciler.notify/1" and body["tenants"][0]["counts"]["new"] == 2
    assert "findings" not in body
    monkeypatch.setenv("RECONCILER_NOTIFY_URL", hook_url)
    r = runner.invoke(app, ["report", "--db", str(db), "-q", "--notify-detail", "values", "--notify-format", "slack"])
    assert r.exit_code == 0 and VALUES["lena"] in json.dumps(Hook.bodies[-1]) and "blocks" in Hook.bodies[-1]


def test_notify_failure_exits_5_after_writing_the_report(tmp_path: Path, hook_url: str):
    db = tmp_path / "r.db"
    tenant = write_tenant(tmp_path / "t.json", ["lena"])
    runner.invoke(app, ["scan", "--tenant", str(tenant), "--db", str(db), "-q", "-f", "json"])
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", "--db", str(db), "-f", "html", "-o", str(out), "--notify",
                            hook_url.replace("/hook/", "/gone/"), "--check"])
    assert r.exit_code == 5 and out.exists()
    assert "TOKEN-XYZ" not in r.stderr and "notification to http://127.0.0.1/… failed: HTTP 410" in r.stderr
