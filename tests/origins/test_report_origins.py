"""report, the HTML report, explain and the scan table show where each finding was read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_LDIF

from .origins_helpers import LENA_CLOUD, run_cli
from .test_origins_e2e import NORA_GUID, tenant


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mp = pytest.MonkeyPatch()
    try:
        return _scanned(tmp_path_factory.mktemp("report"), mp)
    finally:
        mp.undo()


def _scanned(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from .origins_helpers import ldif_user

    t = tmp / "t.json"
    t.write_text(json.dumps(tenant()))
    nora = ldif_user(tmp / "nora.ldif", "Nora Quist", NORA_GUID, "nora.quist@contoso.com", "nora.quist@contoso.com")
    db = tmp / "r.db"
    code, out, err = run_cli(monkeypatch, "scan", "--tenant", t, "--onprem", SAMPLE_LDIF, "--onprem", nora,
                             "--db", db, "--format", "md")
    assert code == 0, err
    assert "| connect+cloud_sync |" in out and "(not in the cloud yet)" in out  # the origin and object columns
    return db


def test_report_counts_by_origin_and_category(db, monkeypatch):
    code, out, err = run_cli(monkeypatch, "report", "--db", db, "--format", "json")
    assert code == 0, err
    t = json.loads(out)["tenants"][0]
    c = t["counts"]
    assert c["by_origin"] == {"cloud_sync": 2, "connect": 7, "exchange": 2}
    assert sum(c["by_category"].values()) == c["open"] == len(t["findings"])
    assert c["by_category"]["PropertyConflict"] >= 5 and c["by_category"]["ExA1B2C3"] == 1
    lena = next(f for f in t["findings"] if f["object"]["id"] == LENA_CLOUD)
    assert lena["origins"] == ["connect", "cloud_sync"] and lena["category"] == "PropertyConflict"
    nora = next(f for f in t["findings"] if f["object"]["id"].startswith("onprem:"))
    assert nora["origins"] == ["cloud_sync"]
    code, html, _ = run_cli(monkeypatch, "report", "--db", db, "--format", "html")
    assert code == 0 and "Reported by" in html and "connect, cloud_sync" in html
    code, md, _ = run_cli(monkeypatch, "report", "--db", db, "--format", "md")
    assert "Open by origin: cloud_sync 2, connect 7, exchange 2" in md


def test_explain_says_which_origins_reported_it(db, monkeypatch):
    code, out, err = run_cli(monkeypatch, "explain", LENA_CLOUD, "--db", db)
    assert code == 0, err
    assert "reported by connect+cloud_sync" in out
    code, out, _ = run_cli(monkeypatch, "explain", "nora.quist@contoso.com", "--db", db, "--format", "json")
    f = json.loads(out)["findings"][0]
    assert f["object"] is None and f["detail"]["origins"] == ["cloud_sync"]
    assert f["detail"]["columns"][0]["attrs"]["state"] == "not created"
