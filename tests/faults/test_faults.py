"""The fault suite: each fault class ends in the fault-free findings or a clean exit 5.

Outcomes (docs/reliability.md has the table): a scan either completes with findings
identical to a fault-free scan of the same tenant, or exits 5 with one line saying what
failed and how many requests had succeeded; a failed run stores nothing, so findings of
the previous good run stay open (never "resolved").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import TOKEN, Tenant, assert_identical, failed_after_good_run, run_scan, succeeded

pytestmark = pytest.mark.faults


# ---------------------------------------------------------------- 429 storms with long Retry-After


def test_429_storm_long_retry_after_same_findings(tenant: Tenant, tmp_path: Path) -> None:
    # Retry-After: 120 s, shrunk by time_scale; the client honours each one and loses nothing
    scan = run_scan(tenant, tenant.config(faults={"429": 0.35}, seed=7, fault_retry_after=120), tmp_path / "r.db")
    assert_identical(tenant, scan)
    assert scan.stats["throttled"] >= 3


def test_429_storm_that_never_ends_exits_5(tenant: Tenant, tmp_path: Path) -> None:
    scan = failed_after_good_run(tenant, tenant.config(faults={"429": 1.0}, fault_after=4), tmp_path)
    assert "kept throttling" in scan.stderr


# ---------------------------------------------------------------- 5xx bursts


@pytest.mark.usefixtures("fast_client")
def test_5xx_burst_same_findings(tenant: Tenant, tmp_path: Path) -> None:
    # 500, 502, 503 (with Retry-After), 504 in a row, then the service recovers
    scan = run_scan(tenant, tenant.config(faults={"5xx": 1.0}, fault_after=3, fault_limit=8), tmp_path / "r.db")
    assert_identical(tenant, scan)
    assert scan.stats["faults"] == 8


@pytest.mark.usefixtures("fast_client")
def test_5xx_scattered_same_findings(tenant: Tenant, tmp_path: Path) -> None:
    scan = run_scan(tenant, tenant.config(faults={"5xx": 0.3}, seed=11), tmp_path / "r.db")
    assert_identical(tenant, scan)


@pytest.mark.usefixtures("fast_client")
def test_5xx_that_never_ends_exits_5(tenant: Tenant, tmp_path: Path) -> None:
    scan = failed_after_good_run(tenant, tenant.config(faults={"5xx": 1.0}, fault_after=4), tmp_path)
    assert "HTTP 5" in scan.stderr


# ---------------------------------------------------------------- connection resets mid-body


@pytest.mark.usefixtures("fast_client")
def test_connection_reset_mid_body_same_findings(tenant: Tenant, tmp_path: Path) -> None:
    scan = run_scan(tenant, tenant.config(faults={"reset": 0.3}, seed=5), tmp_path / "r.db")
    assert_identical(tenant, scan)


@pytest.mark.usefixtures("fast_client")
def test_connection_reset_every_time_exits_5(tenant: Tenant, tmp_path: Path) -> None:
    scan = failed_after_good_run(tenant, tenant.config(faults={"reset": 1.0}, fault_after=2), tmp_path)
    assert "RemoteProtocolError" in scan.stderr and "10 attempt(s)" in scan.stderr


# ---------------------------------------------------------------- truncated JSON (200 with half a body)


@pytest.mark.usefixtures("fast_client")
def test_truncated_json_is_retried_same_findings(tenant: Tenant, tmp_path: Path) -> None:
    scan = run_scan(tenant, tenant.config(faults={"truncate": 0.3}, seed=3), tmp_path / "r.db")
    assert_identical(tenant, scan)


@pytest.mark.usefixtures("fast_client")
def test_truncated_json_every_time_exits_5(tenant: Tenant, tmp_path: Path) -> None:
    scan = failed_after_good_run(tenant, tenant.config(faults={"truncate": 1.0}, fault_after=2), tmp_path)
    assert "JSON body was cut short" in scan.stderr


@pytest.mark.usefixtures("fast_client")
def test_truncated_page_mid_chain_is_not_the_end_of_the_list(tenants: dict[str, Tenant], tmp_path: Path) -> None:
    # read as "no value, no nextLink", a cut-short page would end paging early: holders lost, exit 0
    tenant = tenants["generated"]
    scan = run_scan(tenant, tenant.config(faults={"truncate": 1.0}, fault_after=5, fault_limit=3), tmp_path / "r.db")
    assert_identical(tenant, scan)
    assert scan.stats["faults"] == 3


# ---------------------------------------------------------------- a nextLink that answers 404 / 410


@pytest.mark.parametrize("status", [404, 410])
def test_next_link_gone_halfway_exits_5(tenants: dict[str, Tenant], tmp_path: Path, status: int) -> None:
    tenant = tenants["generated"]  # full read of 20-object pages: 15 pages of users
    scan = failed_after_good_run(tenant, tenant.config(faults={f"nextlink_{status}": 1.0}, fault_after=8),
                                 tmp_path)
    assert "@odata.nextLink" in scan.stderr and f"({status}" in scan.stderr and "run the scan again" in scan.stderr
    assert succeeded(scan) >= 5
    # no loop: the failing link was asked once, not retried or restarted over and over
    assert sum(1 for e in scan.log if e["status"] == status) == 1


# ---------------------------------------------------------------- token expiry (401) mid-scan


def test_token_expiry_fresh_token_continues(tenant: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_GRAPH_TOKEN", TOKEN)
    scan = run_scan(tenant, tenant.config(faults={"expire": 1.0}, fault_after=6, fault_limit=1), tmp_path / "r.db",
                    auth="token")
    assert_identical(tenant, scan)
    assert sum(1 for e in scan.log if e["status"] == 401 or
               any(b.get("status") == 401 for b in e.get("batch") or ())) == 1


def test_token_expiry_that_persists_exits_5(tenant: Tenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILER_GRAPH_TOKEN", TOKEN)
    scan = failed_after_good_run(tenant, tenant.config(faults={"expire": 1.0}, fault_after=6), tmp_path, auth="token")
    assert "401 InvalidAuthenticationToken" in scan.stderr


# ---------------------------------------------------------------- a server that stalls (client timeout)


@pytest.mark.usefixtures("fast_client")
def test_stall_then_recovery_same_findings(tenant: Tenant, tmp_path: Path) -> None:
    # each stall holds the answer 0.5 s; the client gives up after 0.25 s and asks again
    cfg = tenant.config(faults={"stall": 1.0}, fault_after=1, fault_limit=2, fault_stall_s=250)
    scan = run_scan(tenant, cfg, tmp_path / "r.db")
    assert_identical(tenant, scan)


@pytest.mark.usefixtures("fast_client")
def test_stall_that_never_ends_exits_5(tenant: Tenant, tmp_path: Path) -> None:
    cfg = tenant.config(faults={"stall": 1.0}, fault_after=2, fault_stall_s=250)
    scan = failed_after_good_run(tenant, cfg, tmp_path)
    assert "ReadTimeout" in scan.stderr


# ---------------------------------------------------------------- everything transient at once, several seeds


@pytest.mark.usefixtures("fast_client")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mixed_transient_faults_same_findings(tenants: dict[str, Tenant], tmp_path: Path, seed: int) -> None:
    tenant = tenants["generated"]
    cfg = tenant.config(faults={"429": 0.1, "5xx": 0.1, "reset": 0.1, "truncate": 0.1}, seed=seed,
                        fault_retry_after=30)
    scan = run_scan(tenant, cfg, tmp_path / "r.db")
    assert_identical(tenant, scan)
