"""End to end: an orphaned holder removed without ADSyncTools — scan with an on-prem export, `plan --orphans
cloud`, `apply --doit` against the emulator (beta onPremisesSyncBehavior, delete, purge), and the permission
the beta call needs named when it is missing."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from tests.origins.health_helpers import tenant
from tests.origins.test_health_scan import READ, invoke, user

GUID = uuid.UUID("f7cc07d7-7c15-447d-876d-c01b0e5a9e38")
NEW = base64.b64encode(GUID.bytes_le).decode()  # the re-created AD object's anchor
BASE = "DC=corp,DC=contoso,DC=com"


def ldif(path: Path) -> Path:
    path.write_text(f"""dn: CN=Lena Fischer,OU=Staff,{BASE}
objectClass: user
cn: Lena Fischer
givenName: Lena
sn: Fischer
displayName: Lena Fischer
objectGUID:: {NEW}
sAMAccountName: lfischer
userPrincipalName: lena@contoso.com
userAccountControl: 512

dn: CN=Someone Else,OU=Other,{BASE}
objectClass: user
cn: Someone Else
objectGUID:: {base64.b64encode(uuid.uuid4().bytes_le).decode()}
sAMAccountName: selse
userPrincipalName: someone@contoso.com
userAccountControl: 512
""")
    return path


def doc() -> dict[str, Any]:
    dup = user("u-dup", "lena1234@contoso.onmicrosoft.com", synced=True, anchor=NEW, givenName="Lena",
               surname="Fischer", displayName="Lena Fischer", createdDateTime="2026-11-01T00:00:00Z",
               onPremisesDistinguishedName=f"CN=Lena Fischer,OU=Staff,{BASE}",
               onPremisesProvisioningErrors=[{"category": "PropertyConflict", "propertyCausingError":
                                              "UserPrincipalName", "value": "lena@contoso.com",
                                              "occurredDateTime": "2026-11-01T00:00:00Z"}])
    orphan = user("u-orphan", "lena@contoso.com", synced=True, anchor="T0xEQU5DSE9SLUxFTkE9PT09", givenName="Lena",
                  surname="Fischer", displayName="Lena Fischer", createdDateTime="2026-03-01T00:00:00Z",
                  onPremisesDistinguishedName=f"CN=Lena Fischer (old),OU=Staff,{BASE}")
    return tenant(None, [dup, orphan])


def test_orphans_cloud_plan_and_apply_against_the_emulator(tmp_path: Path) -> None:
    onprem = ldif(tmp_path / "forest.ldif")
    tokens = {"reader": set(READ), "no-soa": set(READ) | {"User.DeleteRestore.All"},
              "writer": set(READ) | {"User.DeleteRestore.All", "User-OnPremisesSyncBehavior.ReadWrite.All"}}
    application = create_app(doc(), EmulatorConfig(permissions=tokens))
    users = application.state.emulator.state.collections["users"]
    db = tmp_path / "r.db"
    with serve_in_thread(application) as url:
        r = invoke("scan", "--graph-url", url, "--onprem", onprem, "--auth", "token", "--db", db, "--format", "json",
                   "--errors", "connect", env={"RECONCILER_GRAPH_TOKEN": "reader"})
        assert r.exit_code == 0, r.output
        (f,) = json.loads(r.stdout[r.stdout.index("{"):])["findings"]
        assert f["scenario"] == "orphaned_holder" and f["holders"][0]["id"] == "u-orphan"
        plan = tmp_path / "plan.json"
        r = invoke("plan", "-o", plan, "--db", db, "--orphans", "cloud")
        assert r.exit_code == 0, r.output
        steps = json.loads(plan.read_text())["steps"]
        assert [(s["kind"], s["executor"]) for s in steps] == [
            ("set_cloud_managed", "graph"), ("delete_object", "graph"), ("purge_deleted", "graph")]
        assert "BETA" in steps[0]["why"]
        assert not any(s["executor"] == "powershell" for s in steps)  # no ADSyncTools, no GA password session
        base = ["--graph-url", url, "--auth", "token", "--db", db]
        r = invoke("apply", plan, *base, "--doit", env={"RECONCILER_GRAPH_TOKEN": "no-soa"})
        assert r.exit_code == 5 and "User-OnPremisesSyncBehavior.ReadWrite.All" in r.output
        assert users.get("u-orphan")["onPremisesSyncEnabled"] is True  # nothing changed
        r = invoke("apply", plan, *base, "--doit", env={"RECONCILER_GRAPH_TOKEN": "writer"})
        assert r.exit_code == 0, r.output
    state = application.state.emulator.state
    assert users.get("u-orphan") is None and state.find("u-orphan", ("deletedUsers",)) is None  # deleted, purged
    assert users.get("u-dup") is not None  # the synced newcomer is untouched
