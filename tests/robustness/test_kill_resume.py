"""apply under SIGKILL: killed at seeded random points and resumed, each step runs exactly once; undo is exact.

The full-size figures (1,000 steps x 20 seeds) come from bench/bench_kill_resume.py.
"""

from __future__ import annotations

import asyncio

import pytest

from reconciler.fixes.apply import ApplyOptions, apply_plan, undo_run
from reconciler.fixes.journal import Journal
from reconciler.fixes.steps import Executor
from reconciler.history.store import Store
from tests.fixes.emu import Emu, load, restore, save_plan, stamp, tenant_doc
from tests.fixes.fakes import KillAfter, Killed

from .killharness import one_round

SEEDS = (1, 2, 3, 4, 5)


@pytest.mark.parametrize("seed", SEEDS)
def test_apply_killed_at_random_points_resumes_to_exactly_once_and_undo_is_exact(tmp_path, seed):
    result = one_round(tmp_path, 200, seed, max_kills=4)
    assert result.problems == []
    assert result.kills >= 1 and result.runs == result.kills + 1


def test_across_seeds_some_kill_landed_between_intent_and_outcome(tmp_path):
    """The seeds above are not all lucky: kills mid-step (intent journaled, outcome not) do happen and resume."""
    resumed = sum(one_round(tmp_path / str(s), 60, s, max_kills=6, undo=False).resumed for s in (11, 12))
    assert resumed >= 1


# ---------------------------------------------------------------- regressions found by the kill test


@pytest.fixture
def journal(tmp_path):
    with Store(tmp_path / "r.db") as s:
        yield Journal(s)


async def _apply(emu, path, journal, writer=None, **kw):
    opts = ApplyOptions(tenant_id=await emu.writer().tenant_id(), doit=True, force=True, concurrency=1, **kw)
    return await apply_plan(load(path), journal, {Executor.GRAPH: writer or emu.writer()}, opts)


def test_restore_killed_after_the_post_resumes_as_done_not_drift(tmp_path, journal):
    emu = Emu(tenant_doc(2))
    path = save_plan(tmp_path, [restore(0), restore(1)], journal)
    with pytest.raises(Killed):
        asyncio.run(_apply(emu, path, journal, writer=KillAfter(emu.writer(), 0)))
    report = asyncio.run(_apply(emu, path, journal))
    assert {o.step: o.status for o in report.outcomes} == {"s0-restore": "done", "s1-restore": "done"}
    assert [w["method"] for w in emu.writes()] == ["POST", "POST"]


def test_resumed_step_keeps_one_intent_and_undo_covers_every_run(tmp_path, journal):
    emu = Emu(tenant_doc(4))
    path = save_plan(tmp_path, [stamp(i) for i in range(4)], journal)
    with pytest.raises(Killed):  # s0, s1 done; s2's intent journaled, then killed before the PATCH
        asyncio.run(_apply(emu, path, journal, writer=KillAfter(emu.writer(), 2, before_write=True)))
    asyncio.run(_apply(emu, path, journal))
    fp = load(path).plan.fingerprint
    assert journal.count(fp, phase="intent", status="pending") == {f"s{i}-stamp": 1 for i in range(4)}
    undo = asyncio.run(undo_run(journal, {Executor.GRAPH: emu.writer()}, None, doit=True))
    assert sorted(o.step for o in undo.outcomes if o.status == "done") == [f"s{i}-stamp" for i in range(4)]
    assert all(emu.get(f"/users/c-{i}")["onPremisesImmutableId"] is None for i in range(4))
    again = asyncio.run(undo_run(journal, {Executor.GRAPH: emu.writer()}, None, doit=True))
    assert {o.status for o in again.outcomes} == {"done"} and len(emu.writes()) == 8  # already undone: no write
