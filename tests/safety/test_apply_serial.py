"""Class 2 "two sources, one twin" (apply part): two steps on one target in the same dependency level never run at
the same time; plan order decides, the second sees the first's write and drifts instead of racing it."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from reconciler.core.errors import DriftDetected
from reconciler.fixes.steps import Executor
from tests.fixes.emu import Emu, save_plan, stamp, tenant_doc

from .conftest import apply_emu, run


class Overlap:
    """Wraps a writer: counts writes in flight per target (and overall) while each write takes a while."""

    executor = Executor.GRAPH

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.peak_all = 0

    async def read(self, step: Any) -> Any:
        await asyncio.sleep(0.01)  # a slow re-read widens the window a race would need
        return await self.inner.read(step)

    async def write(self, step: Any, current: Any) -> None:
        key = str(step.target["id"])
        self.now[key] += 1
        self.peak[key] = max(self.peak[key], self.now[key])
        self.peak_all = max(self.peak_all, sum(self.now.values()))
        try:
            await asyncio.sleep(0.02)
            await self.inner.write(step, current)
        finally:
            self.now[key] -= 1


@pytest.mark.parametrize("concurrency", [2, 8])
def test_class2_two_matches_onto_one_account_never_overlap_and_plan_order_wins(tmp_path, journal, concurrency):
    emu = Emu(tenant_doc(4))
    forest_a = stamp(0, sid="a-stamp")
    forest_b = replace(stamp(0, sid="b-stamp"), change={"onPremisesImmutableId": "FORESTB=="})
    path = save_plan(tmp_path, [forest_a, forest_b, stamp(1), stamp(2), stamp(3)], journal)
    writer = Overlap(emu.writer())
    with pytest.raises(DriftDetected) as e:
        run(apply_emu(emu, path, journal, {Executor.GRAPH: writer}, doit=True, concurrency=concurrency))
    by = {o.step: o.status for o in e.value.report.outcomes}
    assert by == {"a-stamp": "done", "b-stamp": "drift", "s1-stamp": "done", "s2-stamp": "done", "s3-stamp": "done"}
    assert writer.peak["c-0"] == 1  # never two writes on one target at once
    assert writer.peak_all >= 2  # other targets still ran side by side
    assert emu.get("/users/c-0")["onPremisesImmutableId"] == "NEW0=="  # read back: the first source, not a race
    assert len([w for w in emu.writes() if w["path"].endswith("/users/c-0")]) == 1
