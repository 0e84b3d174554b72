"""Apply and undo a plan: dry run by default, one choke point per writer, journal, resume.

Writers (``reconciler.fixes.writers.graph.GraphWriter``, the LDAP writer, test fakes)
implement :class:`Writer`: ``read`` a step's target and ``write`` its change.
They never journal or compare; :class:`Gate` does, once per writer:

1. re-read the target; 2. compare it with the step's ``expect`` (drift ->
skip); 3. journal the intent with the before-values; 4. execute; 5. journal
the outcome, mapping directory errors to a failed step (authentication and
throttling give-ups abort the run: exit 5).

``apply_plan`` checks the fingerprint (exit 4), the tenant (exit 4) and the
thresholds (exit 3, dry runs too), then walks the steps in ``after`` order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..core.errors import (
    AuthError,
    DirectoryError,
    DriftDetected,
    PermissionDenied,
    PlanMismatch,
    ThrottledError,
    UnsafePlan,
    UsageError,
)
from .journal import Journal, JournalEntry, StepState
from .planfile import LoadedPlan
from .steps import Executor, Step, StepKind, expect_holds

__all__ = [
    "ApplyOptions",
    "ApplyReport",
    "Gate",
    "StepOutcome",
    "Writer",
    "already_applied",
    "apply_plan",
    "check_thresholds",
    "undo_run",
    "verify_plan",
]

# stop the whole run (exit 5): nothing else will work either; a missing permission is named once
_FATAL = (AuthError, PermissionDenied, ThrottledError)


class Writer(Protocol):
    """Reads and writes one kind of directory; knows nothing of plans, journals or drift."""

    executor: Executor

    async def read(self, step: Step) -> dict[str, Any] | None:
        """The target as it is now (attribute names as in ``expect``; ``deleted``: in the recycle bin), or None."""
        ...

    async def write(self, step: Step, current: Mapping[str, Any] | None) -> None:
        """Execute ``step.change`` (kind-specific) on the target; raise a DirectoryError on failure."""
        ...


@dataclass
class StepOutcome:
    step: str
    status: str  # done | would_run | planned | drift | failed | skipped | waiting | confirmed | irreversible
    detail: str = ""
    kind: str = ""
    executor: str = ""


@dataclass
class ApplyReport:
    run_id: str | None
    dry_run: bool
    fingerprint: str
    outcomes: list[StepOutcome] = field(default_factory=list)
    external: list[Step] = field(default_factory=list)  # ready for the admin (emit .ps1 / LDIF)
    undo_external: list[Step] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        if self.count("drift"):
            return 4
        return 1 if self.count("failed") else 0

    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out


@dataclass(frozen=True)
class ApplyOptions:
    doit: bool = False
    tenant_id: str | None = None  # the connected tenant; None: not checked (offline dry run)
    checksum: str | None = None
    max_deletes: int = 10
    max_changes: int = 50
    force: bool = False
    skip_drift: bool = False
    confirm: tuple[str, ...] = ()
    concurrency: int = 8
    on_step: Callable[[StepOutcome], None] | None = field(default=None, compare=False)  # progress: each outcome


# --------------------------------------------------------------------------- kind semantics


def already_applied(step: Step, current: Mapping[str, Any] | None) -> bool:
    """Whether the target already shows the step's effect (resume after a kill)."""
    k = step.kind
    if k in (StepKind.PURGE_DELETED, StepKind.DELETE_OBJECT, StepKind.REMOVE_SYNCED_OBJECT):
        return current is None
    if k is StepKind.RESTORE_DELETED:
        return current is not None and not current.get("deleted")
    if current is None:
        return False
    for attr, spec in step.change.items():
        have = current.get(attr)
        if isinstance(spec, Mapping):
            values = have if isinstance(have, list) else []
            if any(v in values for v in spec.get("remove") or ()) or any(v not in values for v in spec.get("add") or ()):
                return False
        elif have != spec:
            return False
    return bool(step.change)


# --------------------------------------------------------------------------- the choke point


class Gate:
    """The one way a writer's steps reach the directory: re-read, compare, journal, execute, map errors."""

    def __init__(self, writer: Writer, journal: Journal | None, run_id: str | None, fingerprint: str,
                 *, dry_run: bool) -> None:
        self.writer = writer
        self.journal = journal
        self.run_id = run_id
        self.fingerprint = fingerprint
        self.dry_run = dry_run

    async def run(self, step: Step, state: StepState | None, *, action: str = "do") -> StepOutcome:
        try:
            current = await self.writer.read(step)
        except _FATAL:
            raise
        except DirectoryError as e:
            return self._out(step, "failed", f"could not re-read the target: {e}")
        if state is not None and state.status in ("pending", "failed") and already_applied(step, current):
            self._journal_outcome(step, "done", state.before, current, "resumed: the change was already applied",
                                  action)
            return self._out(step, "done", "resumed: already applied before the interruption")
        diffs = expect_holds(step.expect, current)
        if diffs:
            self._journal_outcome(step, "drift", _subset(step, current), current, "; ".join(diffs), action)
            return self._out(step, "drift", "; ".join(diffs))
        if self.dry_run:
            return self._out(step, "would_run", "target still as expected")
        before = _subset(step, current)
        assert self.journal is not None and self.run_id is not None
        if state is None or state.status != "pending":  # a killed run's intent still stands: one per write
            self.journal.intent(self.run_id, self.fingerprint, step, before, action=action)
        try:
            await self.writer.write(step, current)
        except _FATAL as e:
            self._journal_outcome(step, "failed", before, None, str(e), action)
            raise
        except DriftDetected as e:  # the writer's own atomic re-check lost a race
            self._journal_outcome(step, "drift", before, None, str(e), action)
            return self._out(step, "drift", str(e))
        except DirectoryError as e:
            self._journal_outcome(step, "failed", before, None, str(e), action)
            return self._out(step, "failed", str(e))
        self._journal_outcome(step, "done", before, None, "", action)
        return self._out(step, "done")

    def _journal_outcome(self, step: Step, status: str, before: Any, after: Any, detail: str, action: str) -> None:
        if self.dry_run or self.journal is None or self.run_id is None:
            return
        self.journal.outcome(self.run_id, self.fingerprint, step, status, before=before, after=after,
                             detail=detail, action=action)

    @staticmethod
    def _out(step: Step, status: str, detail: str = "") -> StepOutcome:
        return StepOutcome(step.id, status, detail, step.kind.value, step.executor.value)


def _subset(step: Step, current: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The before-values undo needs: every attribute the step changes or relied on."""
    if current is None:
        return None
    keys = set(step.change) | set(step.expect) | {"deleted", "type", "onPremisesSyncEnabled"}
    return {k: current.get(k) for k in sorted(keys) if k in current}


# --------------------------------------------------------------------------- checks before any write


def _norm_sum(value: str) -> str:
    v = value.strip().lower()
    return v if v.startswith("sha256:") else "sha256:" + v


def _shown(text: str, limit: int = 100) -> str:
    """A value from the plan file as it may be printed: control characters escaped, length capped."""
    return text if text.isprintable() and len(text) <= limit else repr(text[:limit])


def verify_plan(loaded: LoadedPlan, journal: Journal | None, opts: ApplyOptions) -> None:
    """Fingerprint, checksum, known-plan and tenant checks (PlanMismatch, exit 4)."""
    actual = loaded.plan.fingerprint
    if opts.checksum:
        if _norm_sum(opts.checksum) != actual:
            raise PlanMismatch(f"{loaded.path}: the plan's content hashes to {actual}, not the --checksum given")
    else:
        if actual != loaded.claimed:
            raise PlanMismatch(f"{loaded.path}: the plan was changed after it was made (content hashes to "
                               f"{actual}, file says {_shown(loaded.claimed)})")
        if journal is not None and not journal.knows_plan(actual):
            raise PlanMismatch(f"{loaded.path}: this database never made plan {actual}; apply it where it was "
                               "made, or pass --checksum with the reviewed fingerprint")
    if opts.tenant_id is not None and opts.tenant_id != loaded.plan.tenant:
        raise PlanMismatch(f"{loaded.path}: the plan is for tenant {_shown(loaded.plan.tenant)}, but the connected "
                           f"tenant is {opts.tenant_id}")


def check_thresholds(steps: Sequence[Step], opts: ApplyOptions) -> None:
    deletes = sum(1 for s in steps if s.is_delete)
    changes = sum(1 for s in steps if s.executor is not Executor.MANUAL)
    if opts.force:
        return
    if deletes > opts.max_deletes:
        raise UnsafePlan(f"the plan deletes or purges {deletes} objects, over --max-deletes {opts.max_deletes}; "
                         "review it and pass --force (or a higher --max-deletes)")
    if changes > opts.max_changes:
        raise UnsafePlan(f"the plan makes {changes} changes, over --max-changes {opts.max_changes}; review it and "
                         "pass --force (or a higher --max-changes)")


# --------------------------------------------------------------------------- apply


class _Run:
    def __init__(self, loaded: LoadedPlan, journal: Journal | None, writers: Mapping[Executor, Writer],
                 opts: ApplyOptions, report: ApplyReport) -> None:
        self.plan = loaded.plan
        self.journal = journal
        self.opts = opts
        self.report = report
        self.states = journal.states(report.fingerprint) if journal else {}
        self.status: dict[str, str] = {}
        self.gates = {ex: Gate(w, journal, report.run_id, report.fingerprint, dry_run=not opts.doit)
                      for ex, w in writers.items()}

    def done(self, sid: str) -> bool:
        return self.states.get(sid, StepState("none")).status == "done"

    def blocker(self, step: Step) -> tuple[str, str] | None:
        """(status, reason) when a predecessor stops this step, else None."""
        for a in step.after:
            st = self.status.get(a)
            if st in ("done", "confirmed"):
                continue
            if st in ("would_run", "planned") and not self.opts.doit:
                return ("planned", f"after {a} (dry run)")
            if st in ("waiting", "emitted"):
                return ("waiting", f"waits for {a} to be confirmed")
            return ("skipped", f"predecessor {a} is {st}")
        return None

    async def step(self, step: Step) -> StepOutcome:
        if self.done(step.id):
            return StepOutcome(step.id, "done", "already done (journal)", step.kind.value, step.executor.value)
        block = self.blocker(step)
        gate = self.gates.get(step.executor)
        # no writer for it (e.g. ldap without --ldap): emitted (LDIF) and confirmed like a script step
        if (step.external or gate is None) and (block is None or self.emitted_chain(step)):
            return self.external(step, blocked=block is not None)
        if block or gate is None:
            status, why = block or ("waiting", "emitted for the admin")
            return StepOutcome(step.id, status, why, step.kind.value, step.executor.value)
        return await gate.run(step, self.states.get(step.id))

    def emitted_chain(self, step: Step) -> bool:
        """External steps after external steps go into the same script (the admin runs it in order)."""
        emitted = {s.id for s in self.report.external}
        return all(self.status.get(a) in ("done", "confirmed") or a in emitted for a in step.after)

    def external(self, step: Step, *, blocked: bool = False) -> StepOutcome:
        if step.id in self.opts.confirm and not blocked:
            if self.opts.doit and self.journal is not None and self.report.run_id is not None:
                self.journal.confirm(self.report.run_id, self.report.fingerprint, [step])
                return StepOutcome(step.id, "confirmed", "confirmed by the admin", step.kind.value,
                                   step.executor.value)
            return StepOutcome(step.id, "planned", "would be recorded as confirmed (dry run)", step.kind.value,
                               step.executor.value)
        self.report.external.append(step)
        why = "cannot be confirmed before its predecessors; " if step.id in self.opts.confirm else ""
        how = _HOW.get(step.executor, "run it")
        return StepOutcome(step.id, "waiting", f"{why}{how}, then --confirm {step.id}",
                           step.kind.value, step.executor.value)

    async def run(self) -> None:
        for level in _levels(self.plan.steps):
            outs = await self._level(level)
            for o in outs:
                self.status[o.step] = o.status
                self.report.outcomes.append(o)
        order = {s.id: i for i, s in enumerate(self.plan.steps)}
        self.report.outcomes.sort(key=lambda o: order[o.step])  # report in plan order

    async def _level(self, level: list[Step]) -> list[StepOutcome]:
        sem = asyncio.Semaphore(max(1, self.opts.concurrency))

        async def one(s: Step) -> StepOutcome:
            async with sem:
                outcome = await self.step(s)
            if self.opts.on_step is not None:
                self.opts.on_step(outcome)
            return outcome

        return list(await asyncio.gather(*(one(s) for s in level)))


_HOW = {Executor.POWERSHELL: "run it from the emitted .ps1", Executor.LDAP: "apply the emitted LDIF (or use --ldap)",
        Executor.MANUAL: "do it"}


def _levels(steps: Sequence[Step]) -> list[list[Step]]:
    depth: dict[str, int] = {}
    levels: list[list[Step]] = []
    for s in steps:
        d = 1 + max((depth.get(a, 0) for a in s.after), default=-1)
        depth[s.id] = d
        while len(levels) <= d:
            levels.append([])
        levels[d].append(s)
    return levels


async def apply_plan(loaded: LoadedPlan, journal: Journal | None, writers: Mapping[Executor, Writer],
                     opts: ApplyOptions) -> ApplyReport:
    """Check, then run (or dry-run) the plan. Raises PlanMismatch/UnsafePlan before anything is written."""
    verify_plan(loaded, journal, opts)
    unknown = [c for c in opts.confirm if c not in {s.id for s in loaded.plan.steps}]
    if unknown:
        raise UsageError(f"--confirm names steps that are not in the plan: {', '.join(unknown)}")
    states = journal.states(loaded.plan.fingerprint) if journal else {}
    check_thresholds([s for s in loaded.plan.steps if states.get(s.id, StepState("none")).status != "done"], opts)
    run_id = None
    if opts.doit and journal is not None:
        run_id = journal.start_run(loaded.plan.fingerprint, loaded.plan.tenant, "apply", dry_run=False)
    report = ApplyReport(run_id, not opts.doit, loaded.plan.fingerprint)
    try:
        await _Run(loaded, journal, writers, opts, report).run()
    finally:
        if run_id is not None and journal is not None:
            journal.finish_run(run_id, report.summary())
    if report.count("drift") and not opts.skip_drift:
        drifted = [o.step for o in report.outcomes if o.status == "drift"]
        error = DriftDetected(f"{len(drifted)} step(s) skipped because their target changed since the plan was "
                              f"made: {', '.join(drifted[:20])} (re-scan and plan again, or --skip-drift)")
        error.report = report  # what the other steps did
        raise error
    return report


# --------------------------------------------------------------------------- undo


def inverse(entry: JournalEntry) -> Step | None:
    """The step that puts the target back to its recorded before-values, or None (irreversible/external)."""
    s, before = entry.step, entry.before or {}
    if s.external or s.kind in (StepKind.PURGE_DELETED, StepKind.REMOVE_SYNCED_OBJECT):
        return None
    if s.kind is StepKind.DELETE_OBJECT:  # a Graph delete is a soft delete: restore it from the recycle bin
        target = {"type": "deleted", "id": s.object_id, "object": (s.target or {}).get("type", "user")}
        return Step(id=s.id, kind=StepKind.RESTORE_DELETED, executor=s.executor, target=target,
                    expect={"deleted": True}, why=f"undo of {s.id}: restore the deleted object")
    if s.kind is StepKind.RESTORE_DELETED:
        target = {"type": str(before.get("type") or "user"), "id": s.object_id}
        return Step(id=s.id, kind=StepKind.DELETE_OBJECT, executor=s.executor, target=target,
                    expect={"deleted": False}, why=f"undo of {s.id}: delete the restored object again")
    change: dict[str, Any] = {}
    expect: dict[str, Any] = {}
    for attr, spec in s.change.items():
        if isinstance(spec, Mapping):
            change[attr] = {"add": list(spec.get("remove") or []), "remove": list(spec.get("add") or [])}
            change[attr] = {k: v for k, v in change[attr].items() if v}
            if spec.get("add"):
                expect[attr] = list(spec["add"])
        else:
            change[attr] = before.get(attr)
            expect[attr] = spec
    return Step(id=s.id, kind=s.kind, executor=s.executor, target=s.target, expect=expect, change=change,
                why=f"undo of {s.id}: restore the recorded before-values")


async def undo_run(journal: Journal, writers: Mapping[Executor, Writer], run_id: str | None, *,
                   doit: bool, fingerprint: str | None = None) -> ApplyReport:
    """Reverse executed steps newest first; drift-checked and journaled like any write.

    With ``run_id``: that apply run's steps. Without: every step the latest applied plan executed, over
    all its apply runs (an apply killed and resumed is several runs).
    """
    target_run = run_id or journal.latest_apply_run(fingerprint)
    if target_run is None or journal.run_info(target_run) is None:
        raise UsageError(f"no apply run {run_id} in the journal" if run_id else "no apply run to undo")
    info = journal.run_info(target_run) or {}
    fp = str(info["fingerprint"])
    undo_id = journal.start_run(fp, str(info["tenant_id"]), "undo", dry_run=not doit) if doit else None
    report = ApplyReport(undo_id, not doit, fp)
    gates = {ex: Gate(w, journal, undo_id, fp, dry_run=not doit) for ex, w in writers.items()}
    for entry in journal.to_undo(fp, run_id):
        report.outcomes.append(await _undo_one(entry, gates, report))
    if undo_id is not None:
        journal.finish_run(undo_id, report.summary())
    if report.count("drift"):
        drifted = [o.step for o in report.outcomes if o.status == "drift"]
        raise DriftDetected(f"undo skipped {', '.join(drifted)}: the target changed after apply")
    return report


async def _undo_one(entry: JournalEntry, gates: Mapping[Executor, Gate], report: ApplyReport) -> StepOutcome:
    s = entry.step
    if entry.undone:
        return StepOutcome(s.id, "done", "already undone", s.kind.value, s.executor.value)
    inv = inverse(entry)
    if inv is None:
        if s.external and s.undo:
            report.undo_external.append(s)
            return StepOutcome(s.id, "waiting", "external step: run the emitted undo script", s.kind.value,
                               s.executor.value)
        return StepOutcome(s.id, "irreversible", "cannot be undone (the plan said so)", s.kind.value,
                           s.executor.value)
    gate = gates.get(inv.executor)
    if gate is None:
        return StepOutcome(s.id, "skipped", f"no {inv.executor.value} writer available", s.kind.value,
                           s.executor.value)
    return await gate.run(inv, None, action="undo")


# --------------------------------------------------------------------------- use cases (CLI and library)


def plan_from_store(store: Any, opts: Any, *, run_id: str | None = None, tenant: str | None = None) -> Any:
    """Plan the findings of a stored scan run (default: the latest) and record the fingerprint."""
    from ..history.store import utcnow
    from .planner import TenantContext, make_plan

    run = store.get_run(run_id) if run_id else store.latest_run(tenant=tenant)
    if run is None:
        raise UsageError(f"no scan run {run_id} in the database" if run_id else
                         "no scan in the database yet: run `reconciler scan` first")
    findings = store.findings(run.id)
    details = {f["id"]: store.finding_detail(run.id, f["id"]) for f in findings}
    ctx = TenantContext.from_data(store.run_context(run.id), run.tenant_id)
    plan = make_plan(findings, details, ctx, opts, created=utcnow(), scan_run=run.id)
    Journal(store).record_plan(plan.fingerprint, plan.tenant, run.id, len(plan.steps))
    return plan


def _emit(report: ApplyReport, plan_path: Path, ps1: Path | None, ldif: Path | None, notify: Any,
          *, undo: bool = False) -> None:
    from .emit import emit_ldif, emit_ps1
    from .planfile import write_text

    steps = report.undo_external if undo else report.external
    ps = [s for s in steps if s.executor is Executor.POWERSHELL]
    ld = [s for s in steps if s.executor is Executor.LDAP]
    suffix = ".undo" if undo else ""
    if ps:
        path = ps1 or plan_path.with_name(plan_path.stem + suffix + ".ps1")
        write_text(path, emit_ps1(ps, fingerprint=report.fingerprint, plan_path=str(plan_path), undo=undo))
        notify(f"{len(ps)} PowerShell step(s) written to {path}: review, run, then --confirm them")
    if ld:
        path = ldif or plan_path.with_name(plan_path.stem + suffix + ".ldif")
        write_text(path, emit_ldif(ld, undo=undo))
        notify(f"{len(ld)} LDAP step(s) written to {path} (ldifde -i -f FILE), or pass --ldap to run them")
    for s in steps:
        if s.executor is Executor.MANUAL:
            notify(f"{s.id} (manual): {s.change.get('text') or s.why}")


async def run_apply(plan_path: Path, db: Path | None, src: Any, ldap_opts: Any, opts: ApplyOptions, *,
                    ps1: Path | None = None, ldif: Path | None = None, notify: Any = print) -> ApplyReport:
    from dataclasses import replace

    from ..history.store import Store
    from .planfile import read_plan
    from .writers import open_writers

    loaded = read_plan(plan_path)
    with Store(db) as store:
        journal = Journal(store)
        verify_plan(loaded, journal, opts)  # before connecting anywhere
        async with open_writers(src, ldap_opts, doit=opts.doit) as (writers, tenant_id):
            report = await apply_plan(loaded, journal, writers, replace(opts, tenant_id=tenant_id))
    _emit(report, plan_path, ps1, ldif, notify)
    return report


async def run_undo(run_id: str | None, db: Path | None, src: Any, ldap_opts: Any, *, doit: bool,
                   ps1: Path | None = None, notify: Any = print) -> ApplyReport:
    from ..history.store import Store
    from .writers import open_writers

    with Store(db) as store:
        journal = Journal(store)
        async with open_writers(src, ldap_opts, doit=doit) as (writers, _tenant):
            report = await undo_run(journal, writers, run_id, doit=doit)
    _emit(report, Path.cwd() / f"reconciler-{report.run_id or 'undo-dry-run'}.json", ps1, None, notify, undo=True)
    return report
