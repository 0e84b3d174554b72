"""End to end: a Cloud Sync create that failed because a cloud-only twin holds the user's UPN is merged without
ADSyncTools or the sync scheduler — scan (Graph + provisioning logs + the AD export), plan, apply --doit against
the emulator: the twin carries the AD object's anchor, and the plan's only other step is the provision on demand."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest

from reconciler.emulator import create_app, serve_in_thread
from tests.origins.health_helpers import tenant
from tests.origins.origins_helpers import UNIQUENESS_TEXT, failure
from tests.origins.test_health_scan import invoke, user

GUID = "5d7f9e1a-3c2b-4e8f-9a1d-2b3c4d5e6f70"
ANCHOR = base64.b64encode(uuid.UUID(GUID).bytes_le).decode()


@pytest.mark.parametrize("blocked", [False, True])
def test_a_cloud_sync_twin_is_merged_without_adsynctools(tmp_path: Path, blocked: bool) -> None:
    forest = tmp_path / "forest.ldif"
    forest.write_text(
        f"dn: CN=Lena Fischer,OU=Sync,DC=corp,DC=contoso,DC=com\nobjectClass: user\ncn: Lena Fischer\n"
        f"givenName: Lena\nsn: Fischer\ndisplayName: Lena Fischer\nobjectGUID:: {ANCHOR}\n"
        "sAMAccountName: lfischer\nuserPrincipalName: lena@contoso.com\nuserAccountControl: 512\n\n"
        "dn: CN=Other,OU=Other,DC=corp,DC=contoso,DC=com\nobjectClass: user\ncn: Other\n"
        f"objectGUID:: {base64.b64encode(uuid.uuid4().bytes_le).decode()}\nsAMAccountName: other\n")
    twin = user("u-twin", "lena@contoso.com", synced=False, givenName="Lena", surname="Fischer",
                displayName="Lena Fischer")
    doc = tenant(None, [twin])
    doc["onPremisesSynchronization"]["features"]["blockCloudObjectTakeoverThroughHardMatchEnabled"] = blocked
    doc["provisioningLogs"] = [failure(1, GUID, reason=UNIQUENESS_TEXT, name="Lena Fischer")]
    application = create_app(doc)
    users = application.state.emulator.state.collections["users"]
    db = tmp_path / "r.db"
    with serve_in_thread(application) as url:
        r = invoke("scan", "--graph-url", url, "--auth", "none", "--onprem", forest, "--db", db, "--format", "json")
        assert r.exit_code == 0, r.output
        (f,) = json.loads(r.stdout[r.stdout.index("{"):])["findings"]
        assert f["scenario"] == "cloud_only_twin" and f["conflict"]["origins"] == ["cloud_sync"]
        assert f["object"] is None and f["holders"][0]["id"] == "u-twin"
        plan = tmp_path / "plan.json"
        r = invoke("plan", "-o", plan, "--db", db)
        assert r.exit_code == 0, r.output
        steps = json.loads(plan.read_text())["steps"]
        if blocked:  # Cloud Sync never soft-matches on the UPN: nothing to run, the reason says what to do
            assert steps == [] and json.loads(plan.read_text())["refusals"][0]["guard"] == \
                "cloud_sync_no_upn_soft_match"
            return
        assert [(s["kind"], s["executor"]) for s in steps] == [("set_immutable_id", "graph"),
                                                                ("run_delta_sync", "manual")]
        assert "ADSync" not in plan.read_text() and "Provision on demand" in steps[1]["change"]["text"]
        r = invoke("apply", plan, "--graph-url", url, "--auth", "none", "--db", db, "--doit")
        assert r.exit_code == 0, r.output
    assert users.get("u-twin")["onPremisesImmutableId"] == ANCHOR
