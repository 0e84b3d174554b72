"""Apply and undo a plan: dry run by default, one choke point per writer, journal, resume.

Writers (``reconciler.fixes.writers.graph.GraphWriter``, the LDAP writer, test fakes)
implement :class:`Writer`: ``read`` a step's target and ``write`` its change.
They never journal or compare; :class:`Gate` does, once per writer:

1. re-read the target; 2. compare it with the step's ``expect`` (drift ->
skip); 3. journal the intent with the before-values; 4. execute; 5. journal
the outcome, mapping directory errors to a failed step (authentication and
throttling give-ups abort the run: exit 5).

Between 2 and 3 the guards (:mod:`reconciler.fixes.guards`) run again on the fresh
read of a cloud target (roles, eligibility, type, anchors, names): a guard that
fails skips the step as drift, exactly like a changed ``expect``.

``apply_plan`` checks the fingerprint, the plan's age and the tenant (exit 4), the
``--confirm`` ids (exit 2) and the thresholds (exit 3: ``--doit`` stops before the
first write, a dry run shows the whole preview first), takes the plan's apply lock
(a second ``apply --doit`` of the same plan exits 4, "in progress"), then walks the
steps in ``after`` order, never two steps on one target at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from .steps import EXTERNAL, Executor, Step, StepKind, expect_holds

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
#: Keys the Graph re-read adds for the guards (reconciler.fixes.writers.graph.ROLES / ELIGIBLE).
ROLES_KEY = "@roles"
ELIGIBLE_KEY = "@eligibleRoles"
#: Plans older than this are refused (exit 4): what was true when it was reviewed may not be any more.
MAX_AGE_DAYS = 7.0


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
    skip_drift: bool = False  # --skip-drift: drifted steps are reported, but the exit reflects only the rest
    warnings: tuple[str, ...] = ()

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def exit_code(self) -> int:
        if self.count("drift") and not self.skip_drift:
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
    max_age_days: float = MAX_AGE_DAYS
    now: datetime | None = None  # the clock (tests); None: the real one
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
    """The one way a writer's steps reach the directory: re-read, compare, guard, journal, execute, map errors."""

    def __init__(self, writer: Writer, journal: Journal | None, run_id: str | None, fingerprint: str,
                 *, dry_run: bool, cloud: Writer | None = None) -> None:
        self.writer = writer
        self.journal = journal
        self.run_id = run_id
        self.fingerprint = fingerprint
        self.dry_run = dry_run
        self.cloud = cloud  # the Graph reader, for the cloud twin an on-prem change reaches with the next sync

    async def twin_verdict(self, step: Step, action: str) -> str | None:
        return await twin_verdict(self.cloud, step, action)

    async def read(self, step: Step) -> tuple[dict[str, Any] | None, StepOutcome | None]:
        """(the target as it is now, None) or (None, a failed outcome when it could not be read)."""
        try:
            return await self.writer.read(step), None
        except _FATAL:
            raise
        except DirectoryError as e:
            return None, self._out(step, "failed", f"could not re-read the target: {e}")

    async def run(self, step: Step, state: StepState | None, *, action: str = "do") -> StepOutcome:
        current, failed = await self.read(step)
        if failed is not None:
            return failed
        if state is not None and state.status in ("pending", "failed") and already_applied(step, current):
            self._journal_outcome(step, "done", state.before, current, "resumed: the change was already applied",
                                  action)
            return self._out(step, "done", "resumed: already applied before the interruption")
        diffs = expect_holds(step.expect, current)
        if not diffs:
            refused = guard_verdict(step, current, action=action) or await self.twin_verdict(step, action)
            diffs = [refused] if refused else []
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
        self.journal.outcome(self.run_id, self.fingerprint, step, status, before=before, after=_plain(after),
                             detail=detail, action=action)

    @staticmethod
    def _out(step: Step, status: str, detail: str = "") -> StepOutcome:
        return StepOutcome(step.id, status, detail, step.kind.value, step.executor.value)


# --------------------------------------------------------------------------- guards at the moment of writing

_CLOUD_TARGETS = {"user": "user", "group": "group", "contact": "contact", "deleted": None}


def cloud_target(step: Step) -> str | None:
    """The cloud object type a step writes ("user" | "group" | "contact"), or None for on-prem / no target."""
    t = step.target or {}
    ttype = str(t.get("type"))
    if ttype not in _CLOUD_TARGETS or not t.get("id"):
        return None
    return _CLOUD_TARGETS[ttype] or str(t.get("object") or "user")


def guard_verdict(step: Step, current: Mapping[str, Any] | None, *, action: str = "do") -> str | None:
    """Why the guards refuse this write on the fresh read (one line naming the guard), or None.

    Every write onto a cloud object runs :func:`~reconciler.fixes.guards.may_write` (roles, eligibility and
    their readability, external accounts, recycle-bin state). A hard match (``set_immutable_id`` that stamps
    an anchor) also runs :func:`~reconciler.fixes.guards.may_match` with the source's names rebuilt from the
    step's ``expect``; the tenant's sync flags were checked when planning and are not re-read here.
    """
    otype = cloud_target(step)
    if otype is None or current is None:
        return None
    from .guards import Flags, SourceFacts, TargetState, may_match, may_write

    state = TargetState.from_graph(current, roles=current.get(ROLES_KEY), eligible_roles=current.get(ELIGIBLE_KEY),
                                   type=otype, deleted=bool(current.get("deleted")))
    verdict = may_write(step.kind, state)
    if verdict.ok and action == "do" and step.kind is StepKind.SET_IMMUTABLE_ID and \
            step.change.get("onPremisesImmutableId"):
        reanchor = bool(step.expect.get("onPremisesImmutableId"))  # planned with --allow-reanchor, reviewed
        opts = _MatchOpts(allow_reanchor=reanchor)
        verdict = may_match(SourceFacts.from_expect(step.expect), state, Flags(features={}, federated=reanchor),
                            opts)
    if verdict.ok:
        return None
    return f"guard {verdict.guard}: {verdict.reason}"


async def twin_verdict(cloud: Writer | None, step: Step, action: str = "do") -> str | None:
    """An on-prem step whose target names the cloud object its next sync changes (``target.cloud_id``): that
    object is re-read and guarded like a direct write. Without a cloud source the step is refused."""
    t = step.target or {}
    cid = t.get("cloud_id")
    if step.executor is Executor.GRAPH or not cid:
        return None
    if cloud is None:
        return ("guard roles_unknown: this on-prem change reaches cloud object "
                f"{_shown(str(cid))} with the next sync; pass the cloud source (--graph) so apply can re-check it")
    proxy = Step(id=step.id, kind=step.kind, executor=Executor.GRAPH,
                 target={"type": str(t.get("cloud_type") or "user"), "id": str(cid)})
    twin = await cloud.read(proxy)
    if twin is None:
        return f"the cloud object {_shown(str(cid))} this change reaches no longer exists"
    return guard_verdict(proxy, twin, action=action)


@dataclass(frozen=True)
class _MatchOpts:
    allow_reanchor: bool = False
    assume_flags: bool = True  # the flags were checked when planning


def _plain(value: Any) -> Any:
    """A re-read without the guard keys (they are not directory attributes)."""
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if not str(k).startswith("@")}
    return value


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
    return text if text and text.isprintable() and len(text) <= limit else repr(text[:limit])


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
    check_age(loaded, journal, opts)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def check_age(loaded: LoadedPlan, journal: Journal | None, opts: ApplyOptions) -> None:
    """Plans expire (exit 4): roles, names and anchors checked at plan time go stale.

    The age is the one this database recorded when ``plan`` made it (the file's ``created`` is not part of
    the fingerprint, so it is trusted only for a plan applied with ``--checksum``).
    """
    fp = loaded.plan.fingerprint
    recorded = journal.plan_created(fp) if journal is not None else None
    made = _when(recorded) or _when(loaded.plan.created)
    if made is None:
        raise PlanMismatch(f"{loaded.path}: the plan has no valid creation time ({_shown(loaded.plan.created)}), "
                           "so its age cannot be checked; make a new plan")
    now = opts.now or datetime.now(UTC)
    age_days = (now - made).total_seconds() / 86400
    if age_days > opts.max_age_days:
        raise PlanMismatch(f"{loaded.path}: the plan was made {age_days:.1f} days ago, over --max-age "
                           f"{opts.max_age_days:g} days: roles, names and anchors may have changed since it was "
                           "reviewed; scan and plan again")


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
        self.gates = {ex: Gate(w, journal, report.run_id, report.fingerprint, dry_run=not opts.doit,
                               cloud=writers.get(Executor.GRAPH))
                      for ex, w in writers.items()}
        self._locks: dict[str, asyncio.Lock] = {}

    def done(self, sid: str) -> bool:
        return self.states.get(sid, StepState("none")).status == "done"

    def blocker(self, step: Step) -> tuple[str, str] | None:
        """(status, reason) when a predecessor stops this step, else None.

        ``resume_sync_scheduler`` is stopped only by predecessors still to run: sync is never left paused
        because another step drifted, failed or was skipped.
        """
        resume = step.kind is StepKind.RESUME_SYNC_SCHEDULER
        for a in step.after:
            st = self.status.get(a)
            if st in ("done", "confirmed"):
                continue
            if st in ("would_run", "planned") and not self.opts.doit:
                return ("planned", f"after {a} (dry run)")
            if st in ("waiting", "emitted"):
                return ("waiting", f"waits for {a} to be confirmed")
            if resume and st in ("drift", "failed", "skipped"):
                continue
            return ("skipped", f"predecessor {a} is {st}")
        return None

    async def step(self, step: Step) -> StepOutcome:
        if self.done(step.id):
            return StepOutcome(step.id, "done", "already done (journal)", step.kind.value, step.executor.value)
        block = self.blocker(step)
        gate = self.gates.get(step.executor)
        # no writer for it (e.g. ldap without --ldap): emitted (LDIF) and confirmed like a script step
        if (step.external or gate is None or step.id in self.opts.confirm) and \
                (block is None or self.emitted_chain(step)):
            return await self.external(step, blocked=block is not None)
        if block or gate is None:
            status, why = block or ("waiting", "emitted for the admin")
            return StepOutcome(step.id, status, why, step.kind.value, step.executor.value)
        return await gate.run(step, self.states.get(step.id))

    def emitted_chain(self, step: Step) -> bool:
        """External steps after external steps go into the same script (the admin runs it in order)."""
        emitted = {s.id for s in self.report.external}
        return all(self.status.get(a) in ("done", "confirmed") or a in emitted for a in step.after)

    async def external(self, step: Step, *, blocked: bool = False) -> StepOutcome:
        if step.id in self.opts.confirm and not blocked:
            return await self.confirm(step)
        refused = await self.guard_external(step)
        if refused is not None:
            return refused
        self.report.external.append(step)
        if step.executor is Executor.LDAP and self.opts.doit and self.journal is not None and \
                self.report.run_id is not None:  # only an ldap step handed out by --doit may be confirmed later
            self.journal.emitted(self.report.run_id, self.report.fingerprint, step)
        why = "cannot be confirmed before its predecessors; " if step.id in self.opts.confirm else ""
        how = _HOW.get(step.executor, "run it")
        return StepOutcome(step.id, "waiting", f"{why}{how}, then --confirm {step.id}",
                           step.kind.value, step.executor.value)

    async def guard_external(self, step: Step) -> StepOutcome | None:
        """A script step onto a cloud object is handed out only if its target passes the guards now; an LDIF step
        whose next sync reaches a cloud object (``target.cloud_id``) only if that object does."""
        gate = self.gates.get(Executor.GRAPH)
        if step.executor is Executor.LDAP and (step.target or {}).get("cloud_id"):
            refused = await twin_verdict(gate.writer if gate is not None else None, step)
            if refused is None:
                return None
            if self.opts.doit and self.journal is not None and self.report.run_id is not None:
                self.journal.outcome(self.report.run_id, self.report.fingerprint, step, "drift", detail=refused)
            return StepOutcome(step.id, "drift", "not handed out: " + refused, step.kind.value, step.executor.value)
        if step.executor is not Executor.POWERSHELL or gate is None or cloud_target(step) is None:
            return None
        current, failed = await gate.read(step)
        if failed is not None:
            return failed
        # after emitted predecessors its expect describes the state they leave; the guards hold regardless
        chained = any(self.status.get(a) not in ("done", "confirmed") for a in step.after)
        diffs = ([] if chained else expect_holds(step.expect, current)) or \
            [r for r in [guard_verdict(step, current)] if r]
        if not diffs:
            return None
        if self.opts.doit and self.journal is not None and self.report.run_id is not None:
            self.journal.outcome(self.report.run_id, self.report.fingerprint, step, "drift", after=_plain(current),
                                 detail="; ".join(diffs))
        return StepOutcome(step.id, "drift", "not handed out: " + "; ".join(diffs), step.kind.value,
                           step.executor.value)

    async def confirm(self, step: Step) -> StepOutcome:
        """Record an external step the admin ran; an LDIF-applied ldap step is read back when --ldap is given."""
        gate = self.gates.get(Executor.LDAP) if step.executor is Executor.LDAP else None
        before: Any = None
        after: Any = None
        detail = "confirmed by the admin"
        if gate is not None:
            current, failed = await gate.read(step)
            if failed is not None:
                return failed
            if not already_applied(step, current):
                return StepOutcome(step.id, "drift", "not confirmed: the directory does not show the change "
                                   f"(read back: {_brief(step, current)}); apply the LDIF first",
                                   step.kind.value, step.executor.value)
            before, after = confirmed_before(step), _subset(step, current)
            detail = "confirmed by the admin; read back from the directory"
            if before is None:
                detail += "; the values it replaced are not known, so it cannot be undone"
        elif step.executor is Executor.LDAP:
            detail = "confirmed by the admin without a source to read it back (--ldap): it cannot be undone"
        if not (self.opts.doit and self.journal is not None and self.report.run_id is not None):
            return StepOutcome(step.id, "planned", "would be recorded as confirmed (dry run)", step.kind.value,
                               step.executor.value)
        self.journal.confirm(self.report.run_id, self.report.fingerprint, [step], before=before, after=after,
                             detail=detail)
        return StepOutcome(step.id, "confirmed", detail, step.kind.value, step.executor.value)

    def lock_for(self, step: Step) -> asyncio.Lock:
        t = step.target or {}
        key = str(t.get("id") or t.get("dn") or f"step:{step.id}").casefold()
        return self._locks.setdefault(key, asyncio.Lock())

    async def run(self) -> None:
        for level in _levels(self.plan.steps):
            outs = await self._level(level)
            for o in outs:
                self.status[o.step] = o.status
                self.report.outcomes.append(o)
        order = {s.id: i for i, s in enumerate(self.plan.steps)}
        self.report.outcomes.sort(key=lambda o: order[o.step])  # report in plan order

    async def _level(self, level: list[Step]) -> list[StepOutcome]:
        """Steps of one level concurrently, but never two on one target at the same time (plan order wins)."""
        sem = asyncio.Semaphore(max(1, self.opts.concurrency))

        async def one(s: Step) -> StepOutcome:
            async with self.lock_for(s), sem:
                outcome = await self.step(s)
            if self.opts.on_step is not None:
                self.opts.on_step(outcome)
            return outcome

        return list(await asyncio.gather(*(one(s) for s in level)))


def _brief(step: Step, current: Mapping[str, Any] | None) -> str:
    if current is None:
        return "the object does not exist"
    return ", ".join(f"{k}={current.get(k)!r}" for k in step.change)[:200] or "nothing"


def confirmed_before(step: Step) -> dict[str, Any] | None:
    """The values an LDIF-applied ldap step replaced, known exactly because the emitted LDIF removes the old
    value by name (it fails if the directory held anything else); None when the plan did not record it."""
    out: dict[str, Any] = {}
    undo = {k.lower(): v for k, v in (step.undo or {}).items() if not isinstance(v, Mapping)}
    expect = {**undo, **{k.lower(): v for k, v in step.expect.items()}}  # what the emitted LDIF was guarded by
    for attr, spec in step.change.items():
        if isinstance(spec, Mapping):
            continue  # add/remove of values: the inverse needs no before-value
        if attr.lower() not in expect:
            return None
        out[attr] = expect[attr.lower()]
    return out


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


DRY_RUN_WARNINGS = 10  # a dry run shows the first plan warnings, then how many more: the step table stays in view


def check_confirm(loaded: LoadedPlan, confirm: Sequence[str], journal: Journal | None = None) -> None:
    """``--confirm`` takes only steps the admin runs: powershell and manual ids, and an ldap id only when an
    earlier ``apply --doit`` of this plan wrote that step to the LDIF file (the journal says so). A graph id (the
    tool runs those itself), an unknown id or any other ldap id is exit 2, before anything runs."""
    by_id = {s.id: s for s in loaded.plan.steps}
    unknown = [c for c in confirm if c not in by_id]
    if unknown:
        raise UsageError(f"--confirm names steps that are not in the plan: {', '.join(_shown(u) for u in unknown)}")
    graph = [c for c in confirm if by_id[c].executor is Executor.GRAPH]
    if graph:
        raise UsageError(f"--confirm {', '.join(graph)}: graph steps are run by the tool itself, never confirmed; "
                         "--confirm takes the ids of powershell and manual steps you ran (and ldap steps you "
                         "applied from the LDIF an earlier apply --doit wrote)")
    ldap = [c for c in confirm if by_id[c].executor is Executor.LDAP]
    emitted = journal.emitted_steps(loaded.plan.fingerprint) if journal is not None and ldap else set()
    never = [c for c in ldap if c not in emitted]
    if never:
        raise UsageError(f"--confirm {', '.join(never)}: no apply --doit of this plan wrote these ldap steps to an "
                         "LDIF file, so there is nothing of ours you can have run; run apply --doit (or pass --ldap "
                         "to let apply write them itself), apply the LDIF it writes, then --confirm")


def _unsafe_message(steps: Sequence[Step], opts: ApplyOptions) -> str | None:
    try:
        check_thresholds(steps, opts)
    except UnsafePlan as e:
        return str(e)
    return None


async def apply_plan(loaded: LoadedPlan, journal: Journal | None, writers: Mapping[Executor, Writer],
                     opts: ApplyOptions) -> ApplyReport:
    """Check, then run (or dry-run) the plan. Raises PlanMismatch/UnsafePlan before anything is written.

    Errors raised after steps ran (drift: DriftDetected; a dry run over the thresholds: UnsafePlan) carry
    the report as ``.report`` so the caller can still show every step.
    """
    verify_plan(loaded, journal, opts)
    check_confirm(loaded, opts.confirm, journal)
    states = journal.states(loaded.plan.fingerprint) if journal else {}
    todo = [s for s in loaded.plan.steps if states.get(s.id, StepState("none")).status != "done"]
    unsafe = _unsafe_message(todo, opts)
    if unsafe and opts.doit:
        raise UnsafePlan(unsafe)
    run_id = None
    fp = loaded.plan.fingerprint
    if opts.doit and journal is not None:
        run_id = journal.start_run(fp, loaded.plan.tenant, "apply", dry_run=False)
        holder = journal.acquire_lock(fp, run_id)
        if holder is not None:
            journal.finish_run(run_id, {"refused": 1})
            raise PlanMismatch(f"{loaded.path}: this plan is already being applied (in progress: run "
                               f"{holder['run_id']}, process {holder['pid']} on {holder['host']}, since "
                               f"{holder['since']}); nothing was written. Wait for it to finish; if that process "
                               "is gone, the next apply takes over")
    report = ApplyReport(run_id, not opts.doit, fp, skip_drift=opts.skip_drift, warnings=loaded.plan.warnings)
    try:
        await _Run(loaded, journal, writers, opts, report).run()
    finally:
        if run_id is not None and journal is not None:
            journal.finish_run(run_id, report.summary())
            journal.release_lock(fp, run_id)
    if unsafe:  # a dry run: the whole preview, then what would stop --doit
        err = UnsafePlan(f"{unsafe} (dry run: the preview above is complete; --doit would stop before the first "
                         "write)")
        err.report = report  # type: ignore[attr-defined]
        raise err
    if report.count("drift") and not opts.skip_drift:
        drifted = [o.step for o in report.outcomes if o.status == "drift"]
        err2 = DriftDetected(f"{len(drifted)} step(s) skipped because their target changed since the plan was made "
                             f"or a guard refused it: {', '.join(drifted[:20])} (re-scan and plan again, or "
                             "--skip-drift to run the rest)")
        err2.report = report  # what the other steps did
        raise err2
    return report


# --------------------------------------------------------------------------- undo


def inverse(entry: JournalEntry) -> Step | None:
    """The step that puts the target back to its recorded before-values, or None (irreversible/external).

    Scalar attributes go back to the value read just before the write (``set_consistency_guid`` restores
    the previous GUID, it does not clear it); an ldap step applied from the emitted LDIF and confirmed has
    before-values only when it was read back (``--ldap``); without them it is not undone.
    """
    s, before = entry.step, entry.before
    if s.executor in (Executor.POWERSHELL, Executor.MANUAL) or \
            s.kind in (StepKind.PURGE_DELETED, StepKind.REMOVE_SYNCED_OBJECT):
        return None
    if entry.action == "confirm" and before is None:
        return None
    before = before or {}
    if s.kind is StepKind.DELETE_OBJECT:  # a Graph delete is a soft delete: restore it from the recycle bin
        target = {"type": "deleted", "id": s.object_id, "object": (s.target or {}).get("type", "user")}
        return Step(id=s.id, kind=StepKind.RESTORE_DELETED, executor=s.executor, target=target,
                    expect={"deleted": True}, why=f"undo of {s.id}: restore the deleted object")
    if s.kind is StepKind.RESTORE_DELETED:
        target = {"type": str(before.get("type") or (s.target or {}).get("object") or "user"), "id": s.object_id}
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
            if attr not in before:
                return None  # the value it replaced was never read: refusing beats clearing it
            change[attr] = before.get(attr)
            expect[attr] = spec
    return Step(id=s.id, kind=s.kind, executor=s.executor, target=s.target, expect=expect, change=change,
                why=f"undo of {s.id}: restore the recorded before-values")


async def undo_run(journal: Journal, writers: Mapping[Executor, Writer], run_id: str | None, *,
                   doit: bool, fingerprint: str | None = None, confirm: Sequence[str] = ()) -> ApplyReport:
    """Reverse executed steps newest first; drift-checked, guarded and journaled like any write.

    With ``run_id``: that apply run's steps. Without: every step the latest applied plan executed, over
    all its apply runs (an apply killed and resumed is several runs). ``confirm``: external steps whose
    emitted undo the admin ran.
    """
    target_run = run_id or journal.latest_apply_run(fingerprint)
    if target_run is None or journal.run_info(target_run) is None:
        raise UsageError(f"no apply run {run_id} in the journal" if run_id else "no apply run to undo")
    info = journal.run_info(target_run) or {}
    fp = str(info["fingerprint"])
    entries = journal.to_undo(fp, run_id)
    external = {e.step.id for e in entries if e.step.executor in EXTERNAL and e.step.undo and not e.undone}
    wrong = [c for c in confirm if c not in external]
    if wrong:
        raise UsageError(f"undo --confirm {', '.join(_shown(w) for w in wrong)}: only external (powershell/manual) "
                         f"steps whose emitted undo is still open can be confirmed; open: "
                         f"{', '.join(sorted(external)) or 'none'}")
    undo_id = journal.start_run(fp, str(info["tenant_id"]), "undo", dry_run=not doit) if doit else None
    report = ApplyReport(undo_id, not doit, fp)
    report.undo_run = target_run  # type: ignore[attr-defined]
    gates = {ex: Gate(w, journal, undo_id, fp, dry_run=not doit, cloud=writers.get(Executor.GRAPH))
             for ex, w in writers.items()}
    for entry in entries:
        report.outcomes.append(await _undo_one(entry, gates, report, journal, undo_id, confirm))
    if undo_id is not None:
        journal.finish_run(undo_id, report.summary())
    if report.count("drift"):
        drifted = [o.step for o in report.outcomes if o.status == "drift"]
        err = DriftDetected(f"undo skipped {', '.join(drifted)}: the target changed after apply")
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


async def _undo_one(entry: JournalEntry, gates: Mapping[Executor, Gate], report: ApplyReport,
                    journal: Journal, undo_id: str | None, confirm: Sequence[str]) -> StepOutcome:
    s = entry.step
    if entry.undone:
        return StepOutcome(s.id, "done", "already undone", s.kind.value, s.executor.value)
    if entry.pending:  # the process died around the write: re-read, as resume does
        gate = gates.get(s.executor)
        if gate is None:
            return StepOutcome(s.id, "skipped", f"interrupted write: no {s.executor.value} source to re-read it",
                               s.kind.value, s.executor.value)
        current, failed = await gate.read(s)
        if failed is not None:
            return failed
        if not already_applied(s, current):
            return StepOutcome(s.id, "skipped", "interrupted before the write reached the directory: nothing to "
                               "undo", s.kind.value, s.executor.value)
    if s.executor in EXTERNAL and s.undo:
        if s.id in confirm:
            if undo_id is not None:
                journal.confirm(undo_id, entry.fingerprint, [s], detail="undo confirmed by the admin", action="undo")
                return StepOutcome(s.id, "confirmed", "undo confirmed by the admin", s.kind.value, s.executor.value)
            return StepOutcome(s.id, "planned", "would be recorded as undone (dry run)", s.kind.value,
                               s.executor.value)
        report.undo_external.append(s)
        return StepOutcome(s.id, "waiting", f"external step: run the emitted undo script, then undo --confirm {s.id}",
                           s.kind.value, s.executor.value)
    inv = inverse(entry)
    if inv is None:
        if entry.action == "confirm":
            why = "applied from the LDIF and confirmed without reading it back (--ldap): the values it replaced " \
                  "are unknown, so it is not undone"
        elif s.kind in (StepKind.PURGE_DELETED, StepKind.REMOVE_SYNCED_OBJECT) or not s.undo:
            why = "cannot be undone (the plan said so)"
        else:
            why = "the values it replaced were not recorded, so it is not undone"
        return StepOutcome(s.id, "irreversible", why, s.kind.value, s.executor.value)
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


def _emit(report: ApplyReport, plan_path: Path | None, ps1: Path | None, ldif: Path | None, notify: Any,
          *, undo_run: str | None = None) -> None:
    """Write what the admin runs: one .ps1 per host (Entra Connect server, Exchange Online), the LDIF."""
    from .emit import emit_ldif, emit_scripts
    from .planfile import write_text

    undo = undo_run is not None
    steps = report.undo_external if undo else report.external
    ld = [s for s in steps if s.executor is Executor.LDAP]
    base = ps1 or (plan_path.with_name(plan_path.stem + ".ps1") if plan_path is not None
                   else Path.cwd() / f"reconciler-undo-{undo_run}.ps1")
    confirm = (f"reconciler undo --run {undo_run} --doit --confirm" if undo
               else f"reconciler apply {plan_path} --doit --confirm")
    for host, (ids, text) in emit_scripts(steps, fingerprint=report.fingerprint, confirm=confirm,
                                          undo=undo).items():
        path = base.with_name(f"{base.stem}.{host}.ps1")
        write_text(path, text)
        notify(f"{len(ids)} PowerShell step(s) for {host} written to {path}: review, run it there, then "
               f"{confirm} {' '.join(ids)}")
    if ld and report.dry_run and not undo:  # only an LDIF written by --doit is journaled, so only it can be confirmed
        notify(f"dry run: {len(ld)} LDAP step(s) ({', '.join(s.id for s in ld[:10])}) would be written to an LDIF "
               "file by apply --doit (or run by it with --ldap); no LDIF is written by a dry run")
        ld = []
    if ld:
        assert plan_path is not None or undo
        path = ldif or (plan_path.with_name(plan_path.stem + ".ldif") if plan_path is not None
                        else Path.cwd() / f"reconciler-undo-{undo_run}.ldif")
        write_text(path, emit_ldif(ld, undo=undo))
        notify(f"{len(ld)} LDAP step(s) written to {path} (ldifde -i -f FILE), or pass --ldap to run them")
    for s in steps:
        if s.executor is Executor.MANUAL:
            notify(f"{s.id} (manual): {_shown(str(s.change.get('text') or s.why), 2000)}")


def _needs_cloud(loaded: LoadedPlan, journal: Journal, writers: Mapping[Executor, Any]) -> None:
    """Graph steps still to run and no cloud source: say so (exit 2) instead of listing them as waiting."""
    if Executor.GRAPH in writers:
        return
    states = journal.states(loaded.plan.fingerprint)
    todo = [s.id for s in loaded.plan.steps if s.executor is Executor.GRAPH
            and states.get(s.id, StepState("none")).status != "done"]
    if todo:
        raise UsageError(f"no cloud source given: the plan has {len(todo)} graph step(s) ({', '.join(todo[:10])}); "
                         "pass --graph (or --graph-url URL; --tenant FILE for a dry run)")


async def run_apply(plan_path: Path, db: Path | None, src: Any, ldap_opts: Any, opts: ApplyOptions, *,
                    ps1: Path | None = None, ldif: Path | None = None, notify: Any = print) -> ApplyReport:
    """The apply use case: the warnings first, then the run; the scripts are written even when it stops (exit
    3/4), so the step that resumes the sync scheduler always reaches the admin."""
    from dataclasses import replace

    from ..history.store import Store
    from .planfile import read_plan
    from .writers import open_writers

    loaded = read_plan(plan_path)
    with Store(db) as store:
        journal = Journal(store)
        verify_plan(loaded, journal, opts)  # before connecting anywhere
        check_confirm(loaded, opts.confirm, journal)
        async with open_writers(src, ldap_opts, doit=opts.doit) as (writers, tenant_id):
            _needs_cloud(loaded, journal, writers)
            warnings = loaded.plan.warnings
            shown = warnings if opts.doit else warnings[:DRY_RUN_WARNINGS]  # all of them before the first write
            for w in shown:
                notify(f"plan warning: {_shown(w, 400)}")
            if len(shown) < len(warnings):
                notify(f"plan warning: and {len(warnings) - len(shown)} more (the plan file's \"warnings\"; "
                       "`reconciler plan` printed them all, and apply --doit prints them all before its first write)")
            try:
                report = await apply_plan(loaded, journal, writers, replace(opts, tenant_id=tenant_id))
            except (DriftDetected, UnsafePlan) as e:
                partial = getattr(e, "report", None)
                if partial is not None:
                    _emit(partial, plan_path, ps1, ldif, notify)
                raise
    _emit(report, plan_path, ps1, ldif, notify)
    return report


async def run_undo(run_id: str | None, db: Path | None, src: Any, ldap_opts: Any, *, doit: bool,
                   ps1: Path | None = None, notify: Any = print, confirm: Sequence[str] = ()) -> ApplyReport:
    from ..history.store import Store
    from .writers import open_writers

    with Store(db) as store:
        journal = Journal(store)
        async with open_writers(src, ldap_opts, doit=doit) as (writers, _tenant):
            try:
                report = await undo_run(journal, writers, run_id, doit=doit, confirm=confirm)
            except DriftDetected as e:
                partial = getattr(e, "report", None)
                if partial is not None:
                    _emit(partial, None, ps1, None, notify, undo_run=partial.undo_run)
                raise
    _emit(report, None, ps1, None, notify, undo_run=report.undo_run)  # type: ignore[attr-defined]
    return report
