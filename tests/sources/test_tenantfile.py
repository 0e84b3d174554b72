import io
import json
import os
from pathlib import Path

import orjson
import pytest

from reconciler.core.errors import BadInput
from reconciler.core.model import ORIGINS, ObjectKind
from reconciler.emulator.generate import GenerateOptions, generate
from reconciler.sources import tenantfile
from reconciler.sources.onprem import read_onprem_file
from reconciler.sources.tenantfile import TENANT_SCHEMA, parse_json_bytes, read_sliced, read_tenant_file, tenant_from_document
from reconciler.workflow import scan_snapshot
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


# ---------------------------------------------------------------- the sliced reader


def _whole(data: bytes, path: Path, origins=ORIGINS):  # type: ignore[no-untyped-def]
    return tenant_from_document(parse_json_bytes(data, path, TENANT_SCHEMA), path, origins)


def _scan_doc(snapshot, sources) -> bytes:  # type: ignore[no-untyped-def]
    result, details = scan_snapshot(snapshot, sources)
    doc = result.data()
    doc.pop("generated", None)
    return orjson.dumps([doc, details], option=orjson.OPT_SORT_KEYS)


def _reshape(tenant: Path, shape: str) -> None:
    doc = orjson.loads(tenant.read_bytes())
    if shape == "tricky":  # cuts inside strings and inside items, characters beyond ASCII, keys in another order
        users = doc["users"]
        users[0]["displayName"] = 'Zoë }, {"id": "x"}, ] 😀'
        users[1]["assignedLicenses"] = [{"skuId": "a", "disabledPlans": []}, {"skuId": "b"}, {"skuId": "c"}]
        users[2]["surname"] = "\\\"},"
        order = ["deletedGroups", "groups", "directoryRoles", "users", "organization", "contacts", "deletedUsers"]
        doc = {k: doc[k] for k in order + [k for k in doc if k not in order]}  # schema last
    opt = orjson.OPT_INDENT_2 if shape in ("indented", "tricky") else 0
    tenant.write_bytes(orjson.dumps(doc, option=opt))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("shape", ["as written", "indented", "tricky"])
def test_sliced_reading_gives_the_same_snapshot_and_scan(tmp_path: Path, monkeypatch, seed: int, shape: str) -> None:
    tenant, ldif = tmp_path / "t.json", tmp_path / "f.ldif"
    generate(GenerateOptions(users=600, errors_per_1000=60, seed=seed), tenant, ldif)
    if shape != "as written":
        _reshape(tenant, shape)
    monkeypatch.setattr(tenantfile, "SLICE", 1500)  # many slices; some cuts fall inside an item or a string
    monkeypatch.setattr(tenantfile, "READ", 5000)  # the file read a little at a time
    data = tenant.read_bytes()
    onprem = read_onprem_file(ldif)
    for origins in (ORIGINS, ("connect",)):
        sliced = read_sliced(io.BytesIO(data), tenant, origins)
        assert sliced is not None  # the generated file is one the sliced reader takes on
        whole = _whole(data, tenant, origins)
        assert sliced == whole
        assert _scan_doc(sliced, [onprem]) == _scan_doc(whole, [onprem])
    assert read_tenant_file(tenant) == _whole(data, tenant)


_HEAD = '{"schema": "reconciler.tenant/1", "organization": {"id": "t"}'
_U = '{"id": "u%d", "displayName": "User %d", "onPremisesSyncEnabled": true}'


@pytest.mark.parametrize("text", [
    _HEAD + "}",
    _HEAD + ', "users": []}',
    _HEAD + ', "users": null, "groups": [], "contacts": null}',
    " \r\n\t" + _HEAD + ', "users": [' + ", ".join(_U % (i, i) for i in range(40)) + "]} \n",
    _HEAD + ', "users": [' + _U % (1, 1) + '], "users": [' + _U % (2, 2) + "]}",  # a key twice: the last one
    '{"users": [' + ",".join(_U % (i, i) for i in range(30)) + '], "schema": "reconciler.tenant/1"}',
    _HEAD + ', "groups": [{"id": "g", "members": [' + ",".join(f'"m{i}"' for i in range(900)) + "]}]}",
    _HEAD + ', "directoryRoles": [{"displayName": "Global Administrator", "members": ["u1"]}], "users": ['
    + ",".join(_U % (i, i) for i in range(30)) + "]}",
])
def test_unusual_valid_files_read_as_whole(tmp_path: Path, monkeypatch, text: str) -> None:
    monkeypatch.setattr(tenantfile, "SLICE", 300)
    monkeypatch.setattr(tenantfile, "READ", 700)
    p = _write(tmp_path, text)
    assert read_tenant_file(p) == _whole(p.read_bytes(), p)


@pytest.mark.parametrize("text", [
    _HEAD + ', "users": [' + ",".join(_U % (i, i) for i in range(30)) + '], "groups": [{"id": 1}]}',
    _HEAD + ', "users": [' + ",".join(_U % (i, i) for i in range(30)) + ', {"x": 1}]}',
    _HEAD + ', "groups": [{"id": 1}], "users": [' + ",".join(_U % (i, i) for i in range(30)) + ", 7]}",  # users first
    _HEAD + ', "users": [' + ",".join(_U % (i, i) for i in range(30)) + '], "roleAssignments": {}, ',  # cut off
    _HEAD + ', "users": [' + ",".join(_U % (i, i) for i in range(30)) + "]} x",
    "\ufeff" + _HEAD + "}",
    _HEAD + ', "users": {"id": "u"}}',
    _HEAD.replace("tenant/1", "tenant/2") + ', "users": []}',
    '{"users": [' + _U % (1, 1) + "]}",
])
def test_bad_files_fail_as_the_whole_reader_fails(tmp_path: Path, monkeypatch, text: str) -> None:
    monkeypatch.setattr(tenantfile, "SLICE", 300)
    monkeypatch.setattr(tenantfile, "READ", 700)
    p = _write(tmp_path, text)
    with pytest.raises(BadInput) as whole:
        _whole(p.read_bytes(), p)
    with pytest.raises(BadInput) as got:
        read_tenant_file(p)
    assert str(got.value) == str(whole.value)


def test_garbage_collection_is_paused_only_while_reading(tmp_path: Path, monkeypatch) -> None:
    import gc

    seen: list[bool] = []
    real = tenantfile.read_sliced

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        return real(*a, **k)

    monkeypatch.setattr(tenantfile, "read_sliced", spy)
    assert gc.isenabled()
    read_tenant_file(SAMPLE_TENANT)
    with pytest.raises(BadInput):
        read_tenant_file(_write(tmp_path, '{"schema": "reconciler.tenant/1", "users": ['))
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        read_tenant_file(SAMPLE_TENANT)
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_the_file_is_never_held_whole(tmp_path: Path, monkeypatch) -> None:
    tenant = tmp_path / "t.json"
    generate(GenerateOptions(users=600, errors_per_1000=60, seed=4), tenant, tmp_path / "f.ldif")
    monkeypatch.setattr(tenantfile, "SLICE", 2000)
    monkeypatch.setattr(tenantfile, "READ", 4000)
    held: list[int] = []
    fill = tenantfile._Ahead.fill

    def spy(self, end: int) -> int:  # type: ignore[no-untyped-def]
        got = fill(self, end)
        held.append(len(self.buf))
        return got

    monkeypatch.setattr(tenantfile._Ahead, "fill", spy)
    snap = read_tenant_file(tenant)
    assert len(snap.objects) > 600
    assert max(held) < tenant.stat().st_size // 10  # the slices and the largest small value (the logs)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize(("text", "want"), [
    ('{"schema": "reconciler.tenant/1", "users": [{"id": "a"}, {"x": 1}]}', "users[1] has no id"),
    ('{"schema": "reconciler.tenant/1", "users": [{"id": "a"}, {"id": "b"}]}', "a b"),
])
def test_a_pipe_is_read_once(tmp_path: Path, text: str, want: str) -> None:
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []

    def read() -> None:
        try:
            got.append(" ".join(o.id for o in read_tenant_file(fifo).objects))
        except BadInput as e:
            got.append(str(e))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    fifo.write_text(text)
    reader.join(10)
    if reader.is_alive():  # it opened the pipe again and waits for a writer: let it go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
    assert len(got) == 1 and got[0].endswith(want)
