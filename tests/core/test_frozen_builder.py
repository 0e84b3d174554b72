"""``new_cloud_object`` / ``new_onprem_object`` make the same frozen objects as the classes do, faster.

The readers build one object per directory object (the tenant file, Graph pages, LDIF and csvde exports), so the
builders are on every scan's path: what they return must be indistinguishable from ``CloudObject(...)``.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import timeit

import pytest

from reconciler.core.model import (
    CloudObject,
    ObjectKind,
    OnPremObject,
    ProvisioningError,
    new_cloud_object,
    new_onprem_object,
)

CLOUD = dict(id="u1", kind=ObjectKind.USER, display_name="Sven", user_principal_name="sven@contoso.com",
             proxy_addresses=("SMTP:sven@contoso.com",), account_enabled=True, immutable_id="AbC==",
             errors=(ProvisioningError("PropertyConflict", "UserPrincipalName", "sven@contoso.com"),))
ONPREM = dict(dn="CN=Sven,DC=corp", object_class="user", object_classes=("top", "user"), object_guid="g",
              user_certificates=(b"\x30\x82",), source="corp.ldif")


@pytest.mark.parametrize("cls, build, kw", [(CloudObject, new_cloud_object, CLOUD),
                                            (OnPremObject, new_onprem_object, ONPREM)])
def test_a_built_object_is_the_class_own(cls, build, kw) -> None:  # type: ignore[no-untyped-def]
    made, built = cls(**kw), build(**kw)
    assert type(built) is cls and isinstance(built, cls)
    assert built == made and hash(built) == hash(made) and repr(built) == repr(made)
    assert dataclasses.asdict(built) == dataclasses.asdict(made)
    assert pickle.loads(pickle.dumps(built)) == made and copy.deepcopy(built) == made
    assert dataclasses.replace(built, source="x") == dataclasses.replace(made, source="x") if cls is OnPremObject \
        else dataclasses.replace(built, mail="m") == dataclasses.replace(made, mail="m")
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.dn = "CN=other" if cls is OnPremObject else None  # type: ignore[misc]
    for obj in made, built:  # no new attributes either (what a frozen slots class raises here varies by version)
        with pytest.raises((AttributeError, TypeError)):
            obj.not_a_field = 1


@pytest.mark.parametrize("cls, build", [(CloudObject, new_cloud_object), (OnPremObject, new_onprem_object)])
def test_positional_values_and_defaults_land_in_the_same_fields(cls, build) -> None:  # type: ignore[no-untyped-def]
    values = [f"v{i}" for i, f in enumerate(dataclasses.fields(cls)) if f.init and not f.kw_only]
    assert build(*values) == cls(*values)
    assert [getattr(build(*values), f.name) for f in dataclasses.fields(cls)] == \
        [getattr(cls(*values), f.name) for f in dataclasses.fields(cls)]


def test_a_missing_or_unknown_value_is_refused_as_the_class_refuses_it() -> None:
    assert new_cloud_object("id", ObjectKind.GROUP) == CloudObject("id", ObjectKind.GROUP)
    with pytest.raises(TypeError):
        new_cloud_object("id")  # kind has no default, as in CloudObject
    with pytest.raises(TypeError):
        new_cloud_object("id", ObjectKind.USER, no_such_field=1)


def test_the_builder_is_several_times_faster_than_the_frozen_init() -> None:
    """What it is for: a 100k-user tenant makes 100k of them (3 µs each through the frozen __init__)."""
    args = tuple(CLOUD.values())
    slow = min(timeit.repeat(lambda: CloudObject(*args), number=20000, repeat=5))  # type: ignore[arg-type]
    fast = min(timeit.repeat(lambda: new_cloud_object(*args), number=20000, repeat=5))
    assert fast * 2.5 < slow, (fast, slow)
