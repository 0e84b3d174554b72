"""A large export checked in parts (child processes, ``Checker.absorb``) finds what one checker finds.

The parts are cut at random places of a stream of objects that share values heavily (a small pool of UPNs,
addresses, nicknames, targets, anchors; two forests), so values meet again within a part, across two parts
and across many; ``absorb`` merges the parts' indexes and must give the same problems, in the same order,
with the same related objects and keep decisions as :meth:`Checker.add` on every object.
"""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.checks.engine import Checker, PartChecker
from reconciler.core.model import OnPremObject
from tests.checks.checks_helpers import NOW, TLDS

_POOL = ["ann@contoso.com", "Ann@Contoso.com", "bob@contoso.com", "eve@fabrikam.com", "x y@contoso.com",
         "dup@contoso.local"]
_GUIDS = [f"{i:08x}-1111-4000-8000-000000000000" for i in range(1, 6)]


@st.composite
def _objects(draw: st.DrawFn) -> list[tuple[str, OnPremObject]]:
    out = []
    for i in range(draw(st.integers(1, 60))):
        cls = draw(st.sampled_from(["user", "user", "contact", "group"]))
        proxies = draw(st.lists(st.sampled_from(_POOL), max_size=3))
        kinds = draw(st.lists(st.sampled_from(["SMTP:", "smtp:", "X500:/o=", "smtp: "]), min_size=len(proxies),
                              max_size=len(proxies)))
        o = OnPremObject(
            dn=f"CN=O{i},OU=Staff,DC=corp,DC=contoso,DC=com", object_class=cls,
            object_guid=draw(st.sampled_from(_GUIDS)),
            user_principal_name=draw(st.sampled_from([None, *_POOL])) if cls == "user" else None,
            mail=draw(st.sampled_from([None, *_POOL])),
            mail_nickname=draw(st.sampled_from([None, "ann", "Ann", "bob"])),
            sam_account_name=draw(st.sampled_from([None, "ann", "bob"])) if cls == "user" else None,
            target_address=draw(st.sampled_from([None, "SMTP:ann@contoso.com", "smtp:ann@contoso.com"])),
            proxy_addresses=tuple(k + v for k, v in zip(kinds, proxies)),
            user_account_control=draw(st.sampled_from([512, 514, None])),
            when_created=draw(st.sampled_from([None, "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"])),
            home_mdb=draw(st.sampled_from([None, "CN=DB1"])),
        )
        out.append((draw(st.sampled_from(["forest1.ldif", "forest2.ldif"])), o))
    return out


def _data(res) -> list[dict]:  # type: ignore[no-untyped-def]
    return res.data()


@settings(max_examples=200, deadline=None)
@given(objs=_objects(), cuts=st.lists(st.integers(0, 60), max_size=8), new_parts=st.lists(st.integers(0, 60)),
       here=st.sampled_from([None, "forest1.ldif", "forest2.ldif"]))
def test_parts_absorbed_in_order_equal_one_checker(objs: list[tuple[str, OnPremObject]], cuts: list[int],
                                                   new_parts: list[int], here: str | None) -> None:
    """A batch ends at each cut; at some cuts the next batch is a new part (a child process of its own, or a part
    finished in the parent); the objects of the file ``here`` are added by the parent itself (a file too small to
    split, read between two large ones)."""
    one = Checker(TLDS, None, None, NOW)
    for label, o in objs:
        one.add(o, label)
    many = Checker(TLDS, None, None, NOW)
    by_label = {label: PartChecker(many.part_config(label)) for label in ("forest1.ldif", "forest2.ldif")}
    numbers = dict.fromkeys(by_label, 0)
    # a batch holds one label's objects (one file); a new batch starts at a cut or when the file changes
    part, current = None, None
    for i, (label, o) in enumerate(objs):
        if part is not None and (label != current or i in cuts):
            many.absorb(pickle.loads(pickle.dumps(part.drain())))  # as it crosses the pipe
            if i in new_parts:
                numbers[current] += 1  # type: ignore[index]
                part.start(numbers[current])  # type: ignore[index]
            part = None
        current = label
        if label == here:
            many.add(o, label)
            continue
        part = by_label[label]
        part.take(o)
    if part is not None:
        many.absorb(pickle.loads(pickle.dumps(part.drain())))
    assert _data(many.finish("x")) == _data(one.finish("x"))


def test_a_batch_out_of_order_is_refused() -> None:
    many = Checker(TLDS, None, None, NOW)
    part = PartChecker(many.part_config("f.ldif"))
    objs = [OnPremObject(dn=f"CN=U{i},DC=corp,DC=contoso,DC=com", object_class="user",
                         user_principal_name=f"u{i}@contoso.com") for i in range(2)]
    part.take(objs[0])
    first = part.drain()
    part.take(objs[1])
    second = part.drain()
    try:
        many.absorb(second)
    except ValueError:
        many.absorb(first)
        many.absorb(second)
        assert many.finish("x").scanned == 2
        return
    raise AssertionError("a batch whose records would land in the wrong place was absorbed")


def test_a_value_met_in_three_parts_is_one_group_of_all_its_holders() -> None:
    objs = [OnPremObject(dn=f"CN=U{i},DC=corp,DC=contoso,DC=com", object_class="user",
                         object_guid=f"{i:08x}-2222-4000-8000-000000000000", user_principal_name="same@contoso.com",
                         user_account_control=512) for i in range(6)]
    many = Checker(TLDS, None, None, NOW)
    part = PartChecker(many.part_config("f.ldif"))
    for chunk in (objs[:1], objs[1:3], objs[3:4], objs[4:]):  # alone, two within a part, alone, two again
        for o in chunk:
            part.take(o)
        many.absorb(part.drain())
    res = many.finish("x")
    dups = [p for p in res.problems if p.rule == "upn-duplicate"]
    assert sorted(p.dn for p in dups) == sorted(o.dn for o in objs)  # each holder once
    assert all(len(p.related) == 5 for p in dups)


def test_a_part_checker_refuses_a_cloud_view() -> None:
    from tests.checks.checks_helpers import cloud_user, snapshot

    c = Checker(TLDS, snapshot(cloud_user("c1", "a@contoso.com")), None, NOW)
    try:
        c.part_config("f.ldif")
    except ValueError:
        return
    raise AssertionError("a checker with a cloud view handed its work to a part checker")
