import json
from pathlib import Path

import pytest

from reconciler.core.errors import BadInput
from reconciler.core.model import ObjectKind
from reconciler.sources.tenantfile import read_tenant_file
from tests.conftest import SAMPLE_TENANT


def test_sample_tenant_is_read_with_graph_names(tmp_path):
    snap = read_tenant_file(SAMPLE_TENANT)
    assert snap.tenant_id == "0bbfd26b-5005-41e4-bbf2-e3fb704bde8b"
    assert snap.initial_domain == "contoso.onmicrosoft.com"
    kinds = [(o.kind, o.deleted) for o in snap.objects]
    assert kinds.count((ObjectKind.USER, False)) == 21
    assert kinds.count((ObjectKind.GROUP, False)) == 2
    assert kinds.count((ObjectKind.CONTACT, False)) == 1
    assert kinds.count((ObjectKind.USER, True)) == 1
    lena = next(o for o in snap.objects if o.id.startswith("14640a13"))
    assert lena.errors[0].property == "UserPrincipalName" and lena.synced
    assert snap.features == {"softMatchOnUpnEnabled": True, "blockSoftMatchEnabled": True,
                             "blockCloudObjectTakeoverThroughHardMatchEnabled": False}
    assert [a["principalId"] for a in snap.role_assignments] == ["34c71acf-76a4-4105-b85f-e98c57481343",
                                                                 "91d09d3c-78e0-4d6a-9d78-8e47a92121d8"]
    assert snap.role_eligibility == ()  # read, and nobody is eligible
    doc = json.loads(SAMPLE_TENANT.read_text())
    del doc["roleAssignments"], doc["roleEligibilitySchedules"]
    snap = read_tenant_file(_write(tmp_path, doc))
    assert snap.role_assignments is None and snap.role_eligibility is None  # absent means unknown, never "none"
    assert snap.directory_role_members["Global Administrator"] == ("34c71acf-76a4-4105-b85f-e98c57481343",)


def _write(tmp_path: Path, doc) -> Path:
    p = tmp_path / "t.json"
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def test_missing_collections_mean_empty_and_unknown_keys_are_kept(tmp_path):
    snap = read_tenant_file(_write(tmp_path, {"schema": "reconciler.tenant/1", "organization": {"id": "t"},
                                              "futureKey": [1, 2], "roleAssignments": []}))
    assert snap.objects == [] and snap.role_assignments == () and snap.features is None


def test_role_assignable_group_members_are_kept(tmp_path):
    doc = {"schema": "reconciler.tenant/1", "organization": {"id": "t"},
           "groups": [{"id": "g1", "isAssignableToRole": True, "members": ["u1", "u2"]}]}
    assert read_tenant_file(_write(tmp_path, doc)).group_members == {"g1": ("u1", "u2")}


@pytest.mark.parametrize(("content", "fragment"), [
    ('{"schema": "reconciler.tenant/1", "users": [', "invalid JSON"),
    ('{"schema": "reconciler.findings/1"}', "schema is 'reconciler.findings/1'; expected 'reconciler.tenant/1'"),
    ('{"users": []}', "no \"schema\" key"),
    ('[1, 2]', "expected a JSON object"),
    ('', "empty file"),
    ('{"schema": "reconciler.tenant/1", "users": {}}', "users must be a list"),
    ('{"schema": "reconciler.tenant/1", "users": [{"displayName": "x"}]}', "users[0] has no id"),
    ('{"schema": "reconciler.tenant/1", "users": [{"id": "a", "proxyAddresses": "SMTP:x"}]}',
     "users[0] proxyAddresses must be a list of strings"),
    ('{"schema": "reconciler.tenant/1", "groups": [{"id": "a", "onPremisesSyncEnabled": "yes"}]}',
     "groups[0] onPremisesSyncEnabled must be true, false or null"),
])
def test_bad_tenant_files(tmp_path, content, fragment):
    p = _write(tmp_path, content)
    with pytest.raises(BadInput) as e:
        read_tenant_file(p)
    assert str(e.value).startswith(str(p))
    assert fragment in str(e.value)


def test_truncated_json_names_line_and_column(tmp_path):
    p = _write(tmp_path, '{\n  "schema": "reconciler.tenant/1",\n  "users": [ {"id": "a"')
    with pytest.raises(BadInput) as e:
        read_tenant_file(p)
    assert str(e.value).startswith(f"{p}:3:")


def test_missing_and_directory(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        read_tenant_file(tmp_path / "nope.json")
    with pytest.raises(BadInput, match="is a directory"):
        read_tenant_file(tmp_path)
