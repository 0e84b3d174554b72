"""Snapshots and on-prem sources print as a summary.

``asyncio.run`` formats the finished main task, result included, when it restores the SIGINT handler
(twice on Python 3.11): a scan of 100k users spent about a second printing its snapshot there.
"""

from __future__ import annotations

import asyncio

from reconciler.core.model import CloudObject, CloudSnapshot, ObjectKind, OnPremObject, OnPremSource


def test_a_snapshot_prints_as_a_summary() -> None:
    snap = CloudSnapshot(tenant_id="t", objects=[CloudObject(id=f"id-{i}", kind=ObjectKind.USER) for i in range(2000)])
    text = repr(snap)
    assert "objects=2000" in text and "id-1" not in text and len(text) < 200


def test_an_onprem_source_prints_as_a_summary() -> None:
    src = OnPremSource("f.ldif", "DC=x", [OnPremObject(dn=f"CN=u{i},DC=x", object_class="user") for i in range(2000)])
    text = repr(src)
    assert "objects=2000" in text and "CN=u1," not in text and len(text) < 200


def test_asyncio_run_does_not_print_every_object() -> None:
    seen: list[int] = []

    class Loud(CloudObject):  # counts how often an object is formatted
        __slots__ = ()

        def __repr__(self) -> str:
            seen.append(1)
            return "x"

    async def read() -> CloudSnapshot:
        return CloudSnapshot(tenant_id="t", objects=[Loud(id="a", kind=ObjectKind.USER)])

    assert asyncio.run(read()).tenant_id == "t"
    assert seen == []
