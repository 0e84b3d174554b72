"""The one-pass mapping of a Graph dict gives what the property-by-property checks give, errors included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from reconciler.core.model import ObjectKind
from reconciler.emulator.generate import GenerateOptions, generate
from reconciler.sources.graphmap import _checked_cloud_object, to_cloud_object

_KEYS = {"users": ObjectKind.USER, "groups": ObjectKind.GROUP, "contacts": ObjectKind.CONTACT,
         "deletedUsers": ObjectKind.USER, "deletedGroups": ObjectKind.GROUP}


def _same(d: Any, kind: ObjectKind, deleted: bool = False) -> None:
    got_warnings: list[str] = []
    want_warnings: list[str] = []
    try:
        want = _checked_cloud_object(d, kind, deleted=deleted, warnings=want_warnings)
    except ValueError as e:
        with pytest.raises(ValueError) as got:
            to_cloud_object(d, kind, deleted=deleted, warnings=got_warnings)
        assert str(got.value) == str(e)
        return
    assert to_cloud_object(d, kind, deleted=deleted, warnings=got_warnings) == want
    assert got_warnings == want_warnings


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_objects_map_alike(tmp_path: Path, seed: int) -> None:
    generate(GenerateOptions(users=400, errors_per_1000=80, seed=seed), tmp_path / "t.json", tmp_path / "f.ldif")
    doc = orjson.loads((tmp_path / "t.json").read_bytes())
    n = 0
    for key, kind in _KEYS.items():
        for d in doc.get(key) or ():
            _same(d, kind, deleted=key.startswith("deleted"))
            n += 1
    assert n > 400


_FULL = {"id": "u1", "displayName": "D", "userPrincipalName": "u@x", "mail": "m@x", "proxyAddresses": ["SMTP:m@x"],
         "mailNickname": "n", "givenName": "g", "surname": "s", "userType": "Member", "accountEnabled": False,
         "createdDateTime": "c", "deletedDateTime": "dd", "assignedLicenses": [{}, {}], "onPremisesImmutableId": "i",
         "onPremisesSyncEnabled": True, "onPremisesDistinguishedName": "CN=u", "onPremisesSecurityIdentifier": "S-1",
         "onPremisesSamAccountName": "sam", "onPremisesDomainName": "dom", "onPremisesObjectIdentifier": "o",
         "onPremisesLastSyncDateTime": "l", "creationType": "Invitation", "externalUserState": "e", "employeeId": "7",
         "onPremisesProvisioningErrors": [{"category": "PropertyConflict", "propertyCausingError": "UserPrincipalName",
                                           "value": "u@x", "occurredDateTime": "not a time"}]}


class _Str(str):
    pass


@pytest.mark.parametrize("change", [
    {}, {"deletedDateTime": None}, {"proxyAddresses": None}, {"proxyAddresses": []}, {"assignedLicenses": {}},
    {"id": ""}, {"id": 5}, {"displayName": 5}, {"employeeId": ["x"]}, {"proxyAddresses": "SMTP:x"},
    {"proxyAddresses": ["SMTP:x", 5]}, {"accountEnabled": "yes"}, {"onPremisesSyncEnabled": 1},
    {"onPremisesProvisioningErrors": "x"}, {"onPremisesProvisioningErrors": [5]}, {"mail": _Str("s@x")},
    {"displayName": 5, "onPremisesSyncEnabled": "yes"}, {"surname": 1.5, "id": None},
])
@pytest.mark.parametrize("deleted", [False, True])
def test_every_property_lands_where_the_checks_put_it(change: dict[str, Any], deleted: bool) -> None:
    d = {**_FULL, **change}
    _same(d, ObjectKind.USER, deleted)
    _same({k: v for k, v in d.items() if k not in ("deletedDateTime", "mail")}, ObjectKind.GROUP, deleted)
    if not change:
        o = to_cloud_object(d, ObjectKind.USER)
        assert (o.display_name, o.mail_nickname, o.created, o.deleted_at, o.license_count, o.domain_name,
                o.employee_id, o.errors[0].value) == ("D", "n", "c", "dd", 2, "dom", "7", "u@x")


def test_not_an_object() -> None:
    for d in (None, [], "x", 5):
        _same(d, ObjectKind.USER)
