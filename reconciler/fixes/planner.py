"""PURE: findings + tenant context -> an inert ``reconciler.plan/1`` plan.

Input is the findings JSON as the store keeps it (``Store.findings(run)``)
plus each finding's stored detail columns (``Store.finding_detail``), not
:class:`~reconciler.core.model.Finding` objects: ``plan`` works from the database
alone (docs/plan-apply.md), and the JSON is the persisted contract, so a plan made today
from last week's run sees exactly what the reviewer saw in ``explain``.

Every step a remedy plans is first put to the guards of its target
(:mod:`reconciler.fixes.guards`; docs/safety.md): the remedies here decide
*what* would fix a finding, the guards decide whether it may touch that target.
What the findings JSON cannot answer (roles, eligibility, feature flags,
federated domains, ``onPremisesObjectIdentifier``) comes from a
:class:`TenantContext`, built from the scanned snapshot by
:func:`context_from_snapshot` and stored next to the run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..core.anchors import guid_to_immutable_id, immutable_id_to_guid
from ..core.model import fold
from .context import TenantContext, context_from_snapshot
from .emit import render_command
from .guards import (
    Flags,
    SourceFacts,
    TargetState,
    Verdict,
    match_failures,
    match_mode,
    may_purge,
    purge_concerns,
    write_failures,
)
from .remedies import HANDLED as REMEDY_SCENARIOS
from .remedies import cloud_sync_only, cloud_sync_refusal, cloud_sync_twin, orphan_via_cloud, plan_remedy
from .steps import Executor, Step, StepKind, holds_expect, smtp_entries

__all__ = [
    "PLAN_SCHEMA",
    "QUARANTINE_WAIT_MINUTES",
    "Plan",
    "PlanOptions",
    "Refusal",
    "TenantContext",
    "canonical_json",
    "context_from_snapshot",
    "fingerprint",
    "make_plan",
    "plan_reanchors",
    "target_state",
]

PLAN_SCHEMA = "reconciler.plan/1"
#: DAR's hourly restore job plus one default 30-minute sync cycle.
QUARANTINE_WAIT_MINUTES = 90


# --------------------------------------------------------------------------- plan value


@dataclass(frozen=True)
class Refusal:
    finding: str
    guard: str
    reason: str

    def data(self) -> dict[str, str]:
        return {"finding": self.finding, "guard": self.guard, "reason": self.reason}


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (docs/plan-apply.md: the fingerprint's input)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def fingerprint(tenant: str, steps: Sequence[Mapping[str, Any]], refusals: Sequence[Mapping[str, Any]],
                warnings: Sequence[str] = ()) -> str:
    """SHA-256 over the canonical JSON of tenant, steps, refusals and warnings (the reviewer saw all four)."""
    body = canonical_json({"tenant": tenant, "steps": list(steps), "refusals": list(refusals),
                           "warnings": list(warnings)})
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Plan:
    tenant: str
    created: str
    scan_run: str | None
    steps: tuple[Step, ...]
    refusals: tuple[Refusal, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.tenant, [s.data for s in self.steps], [r.data() for r in self.refusals],
                           list(self.warnings))

    @property
    def data(self) -> dict[str, Any]:
        return {"schema": PLAN_SCHEMA, "tenant": self.tenant, "created": self.created,
                "scan_run": self.scan_run, "fingerprint": self.fingerprint,
                "steps": [s.data for s in self.steps], "refusals": [r.data() for r in self.refusals],
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class PlanOptions:
    scenarios: frozenset[str] = frozenset()
    findings: frozenset[str] = frozenset()
    allow_reanchor: bool = False
    assume_flags: bool = False
    prefer_restore: bool = False
    allow_purge: bool = False  # purge licensed / mailbox-holding / possibly original objects (plan --allow-purge)
    orphans: str = "adsynctools"  # "cloud": move an orphan's source of authority to the cloud (beta), delete it


# --------------------------------------------------------------------------- builder


_EXISTENCE = "*"  # a claim on the object itself (remove, delete, purge, restore): overlaps every attribute
_WHOLE = frozenset({StepKind.DELETE_OBJECT, StepKind.PURGE_DELETED, StepKind.RESTORE_DELETED,
                    StepKind.REMOVE_SYNCED_OBJECT})


def _claims(step: Step) -> list[tuple[tuple[str, str], str]]:
    """(object, attribute) pairs a step changes; scheduler and manual steps change no directory object."""
    t = step.target
    if not t:
        return []
    if t.get("type") == "onprem":
        if not t.get("dn"):
            return []
        obj = ("onprem", str(t["dn"]).casefold())
    elif t.get("id"):
        obj = ("cloud", str(t["id"]).casefold())
    else:
        return []
    if step.kind in _WHOLE:
        return [(obj, _EXISTENCE)]
    if step.executor is Executor.POWERSHELL:
        return [(obj, "proxyaddresses")]
    return [(obj, str(k).casefold()) for k in step.change] or [(obj, _EXISTENCE)]


class _Builder:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.refusals: list[Refusal] = []
        self.warnings: list[str] = []
        self.scheduler_tails: list[str] = []
        self._pause: str | None = None
        self.claims: dict[tuple[str, str], list[tuple[str, str, str]]] = {}  # object -> (attr, finding, who)
        self._mark: tuple[int, int, int, str | None] = (0, 0, 0, None)

    # -- one finding at a time: its steps are kept only if they change nothing another finding changes

    def begin(self) -> None:
        self._mark = (len(self.steps), len(self.warnings), len(self.scheduler_tails), self._pause)

    def rollback(self) -> None:
        n_steps, n_warn, n_tails, pause = self._mark
        del self.steps[n_steps:]
        del self.warnings[n_warn:]
        del self.scheduler_tails[n_tails:]
        self._pause = pause

    def rollback_steps(self) -> None:
        """Drop the finding's steps but keep what it says (warnings)."""
        n_steps, _, n_tails, pause = self._mark
        del self.steps[n_steps:]
        del self.scheduler_tails[n_tails:]
        self._pause = pause

    def commit(self, fid: str, names: Mapping[str, str]) -> None:
        """Keep the finding's steps, or refuse it when one of them changes what an earlier finding changes."""
        new = self.steps[self._mark[0]:]
        if not any(s.finding == fid for s in new):  # refused after the shared pause was added: drop it again
            self.rollback_steps()
            return
        clashes: list[str] = []
        for step in new:
            for obj, attr in _claims(step):
                for other_attr, other, who in self.claims.get(obj, ()):
                    if other != fid and (attr == other_attr or _EXISTENCE in (attr, other_attr)):
                        clashes.append(f"{who}: {step.kind.value} here vs finding {other}")
        if clashes:
            self.rollback()
            self.refuse(fid, "ambiguous_target", "one target, one change: " + "; ".join(dict.fromkeys(clashes))
                        + ". Resolve the other finding first, scan again, then plan this one")
            return
        for step in new:
            for obj, attr in _claims(step):
                who = names.get(obj[1]) or f"{obj[0]} {obj[1]}"
                self.claims.setdefault(obj, []).append((attr, fid, who))

    def add(self, kind: StepKind, executor: Executor, target: Mapping[str, Any] | None, *, finding: str | None,
            after: Sequence[str] = (), expect: Mapping[str, Any] | None = None,
            change: Mapping[str, Any] | None = None, undo: Mapping[str, Any] | None = None, why: str) -> str:
        sid = f"s{len(self.steps) + 1}"
        self.steps.append(Step(id=sid, kind=kind, executor=executor, target=target, expect=expect or {},
                               change=change or {}, undo=undo, why=why, finding=finding, after=tuple(after)))
        return sid

    def pause(self) -> str:
        if self._pause is None:
            self._pause = self.add(
                StepKind.PAUSE_SYNC_SCHEDULER, Executor.POWERSHELL, {"type": "onprem", "dn": None}, finding=None,
                change=_ps(StepKind.PAUSE_SYNC_SCHEDULER, {}), undo=_ps(StepKind.RESUME_SYNC_SCHEDULER, {}),
                why="Stop Entra Connect from exporting while duplicates are removed and anchors are stamped; "
                    "otherwise a sync cycle could re-create the duplicate in between.")
        return self._pause

    def refuse(self, finding: str, guard: str, reason: str) -> None:
        r = Refusal(finding, guard, reason)
        if r not in self.refusals:
            self.refusals.append(r)

    def refuse_all(self, finding: str, verdicts: Sequence[Verdict]) -> bool:
        """Record every failed guard; True when there was none."""
        for v in verdicts:
            self.refuse(finding, v.guard or "refused", v.reason)
        return not verdicts

    def finish_scheduler(self) -> None:
        if self._pause is None:
            return
        resume = self.add(StepKind.RESUME_SYNC_SCHEDULER, Executor.POWERSHELL, {"type": "onprem", "dn": None},
                          finding=None, after=self.scheduler_tails or [self._pause],
                          change=_ps(StepKind.RESUME_SYNC_SCHEDULER, {}),
                          undo=_ps(StepKind.PAUSE_SYNC_SCHEDULER, {}),
                          why="Turn the sync scheduler back on once every merge above is done.")
        self.add(StepKind.RUN_DELTA_SYNC, Executor.MANUAL, None, finding=None, after=[resume],
                 change={"text": "On the Entra Connect server run: Start-ADSyncSyncCycle -PolicyType Delta"},
                 why="The delta sync hard/soft-matches the on-prem sources onto the prepared cloud objects. "
                     f"Quarantined values come back within about {QUARANTINE_WAIT_MINUTES} minutes "
                     "(hourly DAR job plus a cycle).")


def _ps(kind: StepKind, params: Mapping[str, Any]) -> dict[str, Any]:
    return {"params": dict(params), "command": render_command(kind, params)}


# --------------------------------------------------------------------------- detail helpers


class _F:
    """One finding with its detail columns, read defensively (stored JSON)."""

    def __init__(self, f: Mapping[str, Any], detail: Mapping[str, Any], ctx: TenantContext) -> None:
        self.f = f
        self.detail = detail
        self.ctx = ctx
        self.id = str(f["id"])
        self.cols = {c.get("role"): c.get("attrs") or {} for c in reversed(detail.get("columns") or [])
                     if isinstance(c, Mapping)}
        self.value = str(f["conflict"]["value"])
        self.property = str(f["conflict"]["property"])
        self.obj = f.get("object") or {}
        self.holder = (f.get("holders") or [None])[0] or {}
        self.source = f.get("source")

    def attrs(self, role: str) -> Mapping[str, Any]:
        return self.cols.get(role) or {}

    @property
    def h(self) -> Mapping[str, Any]:
        return self.attrs("holder")

    @property
    def o(self) -> Mapping[str, Any]:
        return self.attrs("object")

    def state(self, role: str, *, deleted: bool | None = None) -> TargetState:
        """The guards' view of the error object (``object``) or the first holder (``holder``)."""
        ref = self.holder if role == "holder" else self.obj
        return target_state(self.ctx, self.attrs(role), str(ref.get("id") or ""), ref.get("type"), deleted=deleted)

    def source_facts(self) -> SourceFacts:
        """The on-prem source as read; without it, the synced duplicate (sync copied the source's names)."""
        src = self.attrs("source")
        if src:
            return SourceFacts.from_onprem(src)
        o = self.o
        return SourceFacts(given_name=o.get("givenName"), surname=o.get("surname"),
                           display_name=o.get("displayName") or self.obj.get("display_name"),
                           employee_id=o.get("employeeId"),
                           enabled=o.get("accountEnabled") if isinstance(o.get("accountEnabled"), bool) else None,
                           dn=(self.source or {}).get("dn"))

    def label(self) -> str:
        src = self.source or {}
        return str(src.get("dn") or src.get("immutable_id") or f"the source of {self.obj.get('id')}")


def target_state(ctx: TenantContext, attrs: Mapping[str, Any], oid: str, otype: str | None = None, *,
                 deleted: bool | None = None) -> TargetState:
    """A scan's stored cloud column plus the run's role data -> the guards' :class:`TargetState`."""
    roles = tuple(ctx.role_holders.get(oid, ())) if ctx.stored and ctx.roles_known else None
    eligible = tuple(ctx.eligible.get(oid, ())) if ctx.stored and ctx.eligible is not None else None
    merged = {**attrs, "id": oid}
    if ctx.object_identifiers.get(oid) and not attrs.get("onPremisesObjectIdentifier"):
        merged["onPremisesObjectIdentifier"] = ctx.object_identifiers[oid]
    return TargetState.from_graph(merged, roles=roles, eligible_roles=eligible,
                                  type=otype or _s(attrs.get("type")), deleted=deleted)


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def onprem_target(dn: str, cloud: TargetState | Mapping[str, Any] | None) -> dict[str, Any]:
    """An on-prem step's target; ``cloud_id`` / ``cloud_type`` name the cloud object its next sync changes, so
    apply re-reads and guards that object too (docs/safety.md)."""
    target: dict[str, Any] = {"type": "onprem", "dn": dn}
    cid: str | None
    ctype: str | None
    if isinstance(cloud, TargetState):
        cid, ctype = cloud.id, cloud.type
    elif isinstance(cloud, Mapping):
        cid, ctype = _s(cloud.get("id")), _s(cloud.get("type"))
    else:
        cid, ctype = None, None
    if cid:
        target["cloud_id"] = str(cid)
        target["cloud_type"] = str(ctype or "user")
    return target


def current_consistency_guid(attrs: Mapping[str, Any]) -> tuple[bool, str | None]:
    """(known, value) of an on-prem object's mS-DS-ConsistencyGuid as scanned (base64, None = absent).

    Stored findings of older versions carry only ``anchor`` (the GUID if set, else objectGUID as base64): an
    anchor that differs from objectGUID is the GUID; one equal to it cannot tell "set to objectGUID" from
    "absent", so the value is unknown.
    """
    for key, value in attrs.items():
        if str(key).casefold() == "ms-ds-consistencyguid":
            return True, _s(value)
    anchor, guid = _s(attrs.get("anchor")), _s(attrs.get("objectGUID"))
    try:
        differs = bool(anchor and guid and anchor != guid_to_immutable_id(guid))
    except ValueError:  # an objectGUID that is not a GUID: nothing can be told
        differs = False
    return (True, anchor) if differs else (False, None)


def _domain(upn: str | None) -> str:
    return (upn or "").rpartition("@")[2].lower()


def _local(upn: str | None) -> str:
    return (upn or "").rpartition("@")[0]


def _federated(ctx: TenantContext, attrs: Mapping[str, Any]) -> bool:
    return (ctx.domains.get(_domain(attrs.get("userPrincipalName"))) or "").lower() == "federated"


def _flags(ctx: TenantContext, F: _F) -> Flags:
    return Flags(ctx.features, federated=_federated(ctx, F.h), property=F.property)


def _older(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool | None:
    """Whether ``a`` was created before ``b``; None when either creation date is unknown (undecided)."""
    x, y = _s(a.get("createdDateTime")), _s(b.get("createdDateTime"))
    if x is None or y is None:
        return None
    return x < y


# --------------------------------------------------------------------------- remedies


def _remove_duplicate(opts: PlanOptions, b: _Builder, F: _F, after: Sequence[str], *, purpose: str) -> str | None:
    """Remove the synced DAR duplicate through ADSyncTools, then purge it (ids are unique in the bin too).

    The error object is guarded like any other target. A duplicate that is licensed, may hold a mailbox or
    may be older than the account it merges into is purged only with --allow-purge; without it the whole
    merge is refused (a duplicate left in the recycle bin still holds the anchor, and the next sync would
    restore it), and the plan says so. None = refused.
    """
    dup = F.state("object")
    anchor = _s(F.obj.get("on_premises_immutable_id"))
    otype = str(F.obj.get("type") or "user")
    if not anchor:
        b.refuse(F.id, "no_anchor", f"the synced duplicate {dup.who} has no immutable id in the data, so "
                 "ADSyncTools cannot remove it: remove it by moving its on-prem source out of sync scope")
        return None
    if not b.refuse_all(F.id, write_failures(StepKind.REMOVE_SYNCED_OBJECT, dup)):
        return None
    older = _older(F.o, F.h)
    concerns = [] if opts.allow_purge else purge_concerns(dup, possibly_original=older is True)
    if concerns:
        b.refuse(F.id, "purge_needs_allow_purge",
                 f"{purpose} needs the synced duplicate {dup.who} removed and purged (left in the recycle bin it "
                 f"still holds the anchor, and the next sync would restore it), but {' and '.join(concerns)}: "
                 "nothing is planned. Check it holds nothing to keep, then plan again with --allow-purge")
        b.warnings.append(f"finding {F.id}: not planned: {purpose.lower()} needs the purge of {dup.who}, which "
                          "needs --allow-purge (see refusals)")
        return None
    o = F.o
    params = {"SourceAnchor": anchor, "ObjectType": otype.capitalize()}
    target = {"type": otype, "id": F.obj["id"]}
    rm = b.add(StepKind.REMOVE_SYNCED_OBJECT, Executor.POWERSHELL, target, finding=F.id, after=after,
               expect={"userPrincipalName": o.get("userPrincipalName", F.obj.get("user_principal_name")),
                       "onPremisesImmutableId": anchor},
               change=_ps(StepKind.REMOVE_SYNCED_OBJECT, params), undo=None,
               why="Remove the quarantined synced duplicate from Entra ID (irreversible from this tool): Graph "
                   "cannot delete a synced object, so ADSyncTools removes it while the scheduler is paused. "
                   "Alternative: move the on-prem source out of sync scope, sync, and bring it back.")
    return b.add(StepKind.PURGE_DELETED, Executor.GRAPH, {"type": "deleted", "id": F.obj["id"], "object": otype},
                 finding=F.id,
                 after=[rm], expect={"deleted": True, "onPremisesImmutableId": anchor}, undo=None,
                 why="IRREVERSIBLE: purge the removed duplicate from the recycle bin; immutable ids are unique "
                     "there too, so the source could not be matched while it sits there.")


def _twin(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    if not ctx.stored:
        b.refuse(F.id, "context_unknown", "no tenant context (roles, flags, domains) was stored with this scan "
                 "run; re-run scan with this version before planning a match")
        return
    if not F.source or not F.source.get("immutable_id"):
        b.refuse(F.id, "no_source", "the error object's on-prem source was not supplied; cannot match")
        return
    holder, flags = F.state("holder"), _flags(ctx, F)
    if not b.refuse_all(F.id, match_failures(F.source_facts(), holder, flags, opts)):
        return
    mode, _ = match_mode(flags, user=holder.type == "user", assume_flags=opts.assume_flags)
    if cloud_sync_only(F.f):  # Entra Cloud Sync: no ADSyncTools, no scheduler (remedies.py)
        cloud_sync_twin(b, F.id, prop=F.property, mode=mode, has_duplicate=bool(F.obj.get("id")),
                        source_dn=F.source.get("dn"), stamp=lambda: _hard_match(ctx, b, F, None))
        return
    last = _remove_duplicate(opts, b, F, [b.pause()], purpose="Merging into the cloud twin")
    if last is None:
        return
    if ctx.features is None:
        b.warnings.append(f"finding {F.id}: feature flags unknown, assumed to allow hard match (--assume-flags)")
    if mode == "hard":
        last = _hard_match(ctx, b, F, last)
    else:
        b.warnings.append(f"finding {F.id}: hard match is blocked; relying on soft match "
                          f"({F.property}) at the next delta sync")
    b.scheduler_tails.append(last)


def _hard_match(ctx: TenantContext, b: _Builder, F: _F, after: str | None) -> str:
    source = F.source or {}  # the caller checked it has an anchor
    h, hid, anchor = F.h, F.holder["id"], source["immutable_id"]
    # everything may_match needs, so apply can re-check it on a fresh read (guards.SourceFacts.from_expect)
    expect: dict[str, Any] = {"onPremisesImmutableId": h.get("onPremisesImmutableId"),
                              "userPrincipalName": h.get("userPrincipalName"), "userType": "Member",
                              "givenName": h.get("givenName"), "surname": h.get("surname")}
    for key in ("displayName", "employeeId"):
        if h.get(key):
            expect[key] = h[key]
    expect.update({k: v for k, v in holds_expect(h, F.value).items() if k != "userPrincipalName"})
    target = {"type": "user", "id": hid}
    upn = h.get("userPrincipalName")
    detour = bool(h.get("onPremisesImmutableId")) and _federated(ctx, h) and ctx.initial_domain
    if detour:
        tmp = f"{_local(upn)}@{ctx.initial_domain}"
        after = b.add(StepKind.SET_USER_PRINCIPAL_NAME, Executor.GRAPH, target, finding=F.id, after=[after] if after else [],
                      expect=expect, change={"userPrincipalName": tmp}, undo={"userPrincipalName": upn},
                      why=f"Federated domain: move the UPN to {ctx.initial_domain} so the immutable id may "
                          "change (--allow-reanchor).")
        expect = {**expect, "userPrincipalName": tmp}
    last = b.add(StepKind.SET_IMMUTABLE_ID, Executor.GRAPH, target, finding=F.id, after=[after] if after else [],
                 expect=expect,
                 change={"onPremisesImmutableId": anchor},
                 undo={"onPremisesImmutableId": h.get("onPremisesImmutableId")},
                 why=f"Hard match: stamp the source's anchor {anchor} ({source.get('dn')}) on the cloud-only "
                     "twin, so the next sync joins them instead of creating a duplicate.")
    if detour:
        last = b.add(StepKind.SET_USER_PRINCIPAL_NAME, Executor.GRAPH, target, finding=F.id, after=[last],
                     expect={"userPrincipalName": f"{_local(upn)}@{ctx.initial_domain}",
                             "onPremisesImmutableId": anchor},
                     change={"userPrincipalName": upn}, undo={"userPrincipalName": f"{_local(upn)}@"
                                                                                  f"{ctx.initial_domain}"},
                     why="Federated domain: put the original UPN back after the anchor change.")
    return last


def _other_type(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    h, holder = F.h, F.state("holder")
    htype, hid = holder.type, holder.id
    if htype == "user" and fold(h.get("userPrincipalName") or "") == fold(F.value):
        _newcomer_loses(b, F, holder)  # a person's sign-in name is never renamed for an on-prem newcomer
        return
    entries = smtp_entries(h.get("proxyAddresses"), F.value)
    if not entries:
        b.refuse(F.id, "value_not_in_proxy", f"the cloud {htype} ({hid}) holds the value outside proxyAddresses; "
                 "change it in the Microsoft 365 admin center")
        return
    primary = [e for e in entries if e.startswith("SMTP:")]
    kinds = [StepKind.SET_PRIMARY_SMTP] * bool(primary) + [StepKind.REMOVE_PROXY_ADDRESS]
    if not b.refuse_all(F.id, [v for k in kinds for v in write_failures(k, holder)]):
        return
    after: list[str] = []
    if primary:
        others = [p[5:] for p in h.get("proxyAddresses") or () if p[:5].lower() == "smtp:" and p not in entries]
        if not others:
            b.refuse(F.id, "no_other_address", f"the value is the only SMTP address of the cloud {htype} ({hid}); "
                     "give it another address first")
            return
        params = {"Identity": hid, "Recipient": htype, "Address": others[0]}
        after = [b.add(StepKind.SET_PRIMARY_SMTP, Executor.POWERSHELL, {"type": htype, "id": hid}, finding=F.id,
                       expect={"proxyAddresses": primary}, change=_ps(StepKind.SET_PRIMARY_SMTP, params),
                       undo=_ps(StepKind.SET_PRIMARY_SMTP, {**params, "Address": primary[0][5:]}),
                       why=f"The value is the primary address of the cloud {htype}; Exchange Online must move the "
                           f"primary to {others[0]} before the address can be removed.")]
    for e in entries:
        params = {"Identity": hid, "Recipient": htype, "Address": "smtp:" + e[5:]}
        b.add(StepKind.REMOVE_PROXY_ADDRESS, Executor.POWERSHELL, {"type": htype, "id": hid}, finding=F.id,
              after=after, expect={"proxyAddresses": ["smtp:" + e[5:] if after else e]},
              change=_ps(StepKind.REMOVE_PROXY_ADDRESS, params),
              undo=_ps(StepKind.REMOVE_PROXY_ADDRESS, {**params, "Add": True}),
              why=f"A cloud {htype} of another type holds the synced user's address. proxyAddresses of cloud "
                  "recipients are read-only in Graph, so Exchange Online PowerShell removes it (the "
                  "alternative, renaming the synced user on-prem, changes a person's address).")


def _newcomer_loses(b: _Builder, F: _F, holder: TargetState) -> None:
    """A cloud-only user signs in with the value (its UPN) and an on-prem object of another type was given it.

    Renaming the user would let anyone who can edit an on-prem group or contact change a person's sign-in name,
    so it is never planned: the value is removed from the on-prem newcomer instead (a secondary ``smtp:`` proxy
    address), or the finding is refused with what to do (docs/safety.md, "A sign-in name is never renamed").
    """
    la = F.attrs("source")
    dn = _s(la.get("distinguishedName")) or _s((F.source or {}).get("dn"))
    value = F.value[5:] if F.value[:5].lower() == "smtp:" else F.value
    lead = (f"the cloud-only {holder.who} signs in with {value}; a person's sign-in name is never renamed "
            "because an on-prem object was given that address")
    if not la or not dn:
        b.refuse(F.id, "upn_not_renamed", f"{lead}, and the on-prem object that was given it "
                 f"({dn or 'its DN is unknown'}) is not in the supplied data: supply its forest (--onprem/--ldap) "
                 "so removing the address there can be planned, or remove it on-prem yourself")
        return
    entries = smtp_entries(la.get("proxyAddresses"), F.value)
    if any(e.startswith("SMTP:") for e in entries) or fold(la.get("mail") or "") == fold(F.value):
        b.refuse(F.id, "upn_not_renamed", f"{lead}, and {dn} carries it as its primary address (mail / SMTP:): "
                 "give that object another primary address on-prem (a person must choose it), then sync and scan "
                 "again; if the address really belongs to it, rename the cloud user yourself")
        return
    if not entries:
        b.refuse(F.id, "upn_not_renamed", f"{lead}, and {dn} does not carry it in proxyAddresses in the scanned "
                 "data: find where it comes from on-prem, remove it there, then sync and scan again")
        return
    newcomer = F.state("object")
    if not b.refuse_all(F.id, write_failures(StepKind.REMOVE_PROXY_ADDRESS, newcomer)):
        return
    b.add(StepKind.REMOVE_PROXY_ADDRESS, Executor.LDAP, onprem_target(dn, newcomer), finding=F.id,
          expect={"proxyAddresses": entries}, change={"proxyAddresses": {"remove": entries}},
          undo={"proxyAddresses": {"add": entries}},
          why=f"{lead}: the on-prem {la.get('objectClass') or 'object'} {dn} loses it instead (its next sync "
              "exports the change). If the address really belongs to that object, undo this step and rename the "
              "cloud user yourself.")


def _onprem_duplicate(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    keep = F.f.get("keep")
    if keep not in ("source", "holder"):
        b.refuse(F.id, "keep_undecided", "no write step: it is undecided which on-prem object keeps the value. "
                 + " ".join(str(r) for r in F.f.get("reasons") or []))
        return
    loser_role = "holder_source" if keep == "source" else "source"
    la = F.attrs(loser_role)
    fallback = ((F.holder or {}).get("source") or {}) if keep == "source" else (F.source or {})
    dn = la.get("distinguishedName") or fallback.get("dn")
    if not la or not dn:
        b.refuse(F.id, "loser_not_read", "the on-prem object that should lose the value was not in the data")
        return
    # the loser's cloud object changes with the next sync: it is guarded like a direct write
    twin = F.state("holder" if keep == "source" else "object")
    target = onprem_target(dn, twin)
    why = f"Keep/lose decision: {keep} keeps {F.value}; {dn} loses it. " + " ".join(
        str(r) for r in F.f.get("reasons") or [])
    if fold(la.get("userPrincipalName") or "") == fold(F.value):
        if b.refuse_all(F.id, write_failures(StepKind.SET_USER_PRINCIPAL_NAME, twin)):
            _onprem_upn(b, F, la, target, why)
        return
    entries = smtp_entries(la.get("proxyAddresses"), F.value)
    if any(e.startswith("SMTP:") for e in entries) or fold(la.get("mail") or "") == fold(F.value):
        b.refuse(F.id, "loser_primary_address", f"{dn} carries {F.value} as its primary address (mail / SMTP:); "
                 "a person must choose its new primary address")
        return
    if not entries:
        b.refuse(F.id, "value_not_found", f"{dn} does not carry {F.value} in proxyAddresses")
        return
    if not b.refuse_all(F.id, write_failures(StepKind.REMOVE_PROXY_ADDRESS, twin)):
        return
    b.add(StepKind.REMOVE_PROXY_ADDRESS, Executor.LDAP, target, finding=F.id, expect={"proxyAddresses": entries},
          change={"proxyAddresses": {"remove": entries}}, undo={"proxyAddresses": {"add": entries}}, why=why)


def _onprem_upn(b: _Builder, F: _F, la: Mapping[str, Any], target: Mapping[str, Any], why: str) -> None:
    sam, upn = la.get("sAMAccountName"), la.get("userPrincipalName")
    new = f"{sam}@{_domain(upn)}" if sam else None
    if not new or fold(new) == fold(upn or ""):
        b.refuse(F.id, "no_new_upn", f"{target['dn']}: cannot derive a new UPN (sAMAccountName missing or equal)")
        return
    b.add(StepKind.SET_USER_PRINCIPAL_NAME, Executor.LDAP, target, finding=F.id,
          expect={"userPrincipalName": upn, "sAMAccountName": sam}, change={"userPrincipalName": new},
          undo={"userPrincipalName": upn}, why=why + f" New UPN {new} (from sAMAccountName).")


COVERAGE_UNKNOWN = ("coverage evidence unknown: re-scan with a complete export that includes objectGUID and "
                    "mS-DS-ConsistencyGuid")


def _coverage(F: _F) -> str | None:
    """Why the orphan verdict is not positive evidence (None = a covering source with anchors, read completely)."""
    cov = F.f.get("coverage")
    if not isinstance(cov, Mapping):
        return COVERAGE_UNKNOWN
    where = cov.get("source") or "the covering source"
    if cov.get("anchored") is not True:
        return f"{where} carries no anchors (objectGUID / mS-DS-ConsistencyGuid) for its objects: " + COVERAGE_UNKNOWN
    if cov.get("complete") is not True:
        return f"{where} was not read completely (truncated or paged export): " + COVERAGE_UNKNOWN
    return None


def _orphan(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    h, holder = F.h, F.state("holder")
    anchor = _s(h.get("onPremisesImmutableId"))
    if not anchor:
        b.refuse(F.id, "no_anchor", f"{holder.who} has no immutable id in the data (Graph shows none on groups and "
                 "contacts), so ADSyncTools cannot remove it and no source can take it over: remove it by hand "
                 "once you have checked it is a leftover")
        return
    older = _older(h, F.o)
    if older is None:
        missing = [side for side, a in (("the holder", h), ("the duplicate", F.o)) if not a.get("createdDateTime")]
        b.refuse(F.id, "keep_undecided", f"keep/lose is undecided: {' and '.join(missing)} has no createdDateTime "
                 "(Graph has none for accounts created before mid-2018), so it cannot be told which account is "
                 "the original; nothing irreversible is planned. Decide by hand (licences, mailbox, sign-ins)")
        return
    licensed, mailbox = holder.licensed, holder.may_hold_mailbox
    evidence = f"holder licensed={licensed}, mailbox={mailbox}, older than the duplicate={older}"
    if older and (licensed or mailbox) and F.source:
        if not b.refuse_all(F.id, match_failures(F.source_facts(), holder, _flags(ctx, F), opts, reanchor=True)):
            return
        if cloud_sync_only(F.f):
            cloud_sync_refusal(b, F.id, "Re-anchoring onto the original account (removing the Cloud Sync duplicate)")
            return
        known, current = current_consistency_guid(F.attrs("source"))
        if not known:
            b.refuse(F.id, "consistency_guid_unknown", f"the current mS-DS-ConsistencyGuid of {F.label()} is not in "
                     "the scanned data, so apply could not tell whether it changed and undo could not put it back: "
                     "scan again with this version and an on-prem source that includes mS-DS-ConsistencyGuid")
            return
        last = _remove_duplicate(opts, b, F, [b.pause()], purpose="Re-anchoring the source onto the original")
        if last is None:
            return
        last = b.add(StepKind.SET_CONSISTENCY_GUID, Executor.LDAP, onprem_target(F.source["dn"], holder),
                     finding=F.id, after=[last],
                     expect={"objectGUID": F.source.get("object_guid"), "mS-DS-ConsistencyGuid": current},
                     change={"mS-DS-ConsistencyGuid": anchor},
                     undo={"mS-DS-ConsistencyGuid": current},
                     why=f"Re-anchor ({evidence}): the holder is the original account, so the re-created AD "
                         f"object takes it over by carrying its immutable id {anchor}.")
        b.scheduler_tails.append(last)
        return
    gap = _coverage(F)
    if gap:
        b.refuse(F.id, "coverage_unknown", f"{holder.who} is not removed: {gap}")
        return
    cloud_sync = cloud_sync_only(F.f)  # Entra Cloud Sync has no ADSyncTools: only the cloud path removes it
    if (opts.orphans == "cloud" or cloud_sync) and orphan_via_cloud(ctx, opts, b, F.f, F.detail):
        return  # the beta source-of-authority path (remedies.py), after the same evidence checks
    if cloud_sync:
        cloud_sync_refusal(b, F.id, f"Removing the orphan {holder.who}")
        return
    if not b.refuse_all(F.id, write_failures(StepKind.REMOVE_SYNCED_OBJECT, holder)):
        return
    htype = holder.type
    rm = b.add(StepKind.REMOVE_SYNCED_OBJECT, Executor.POWERSHELL, {"type": htype, "id": holder.id},
               finding=F.id, expect={"onPremisesImmutableId": anchor, **holds_expect(h, F.value)},
               change=_ps(StepKind.REMOVE_SYNCED_OBJECT, {"SourceAnchor": anchor, "ObjectType": htype.capitalize()}),
               why=f"Remove the orphan ({evidence}): it is not the original account, so ADSyncTools removes the "
                   "leftover synced object (it stays restorable in the recycle bin for 30 days unless purged).")
    consent = may_purge(replace(holder, deleted=True), allow_purge=opts.allow_purge, possibly_original=older)
    if not consent.ok:
        b.warnings.append(f"finding {F.id}: the plan stops at the recycle bin: {consent.reason}")
        return
    b.add(StepKind.PURGE_DELETED, Executor.GRAPH, {"type": "deleted", "id": holder.id, "object": htype},
          finding=F.id, after=[rm],
          expect={"deleted": True, "onPremisesImmutableId": anchor}, why="IRREVERSIBLE: purge the removed "
          "orphan from the recycle bin; a soft-deleted holder still blocks the value.")


def _deleted(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    h, holder = F.h, F.state("holder", deleted=True)
    hid, htype = holder.id, holder.type
    expect = {"deleted": True, **{k: v for k, v in holds_expect(h, F.value).items() if k != "userPrincipalName"}}
    target = {"type": "deleted", "id": hid, "object": htype}
    if opts.prefer_restore:
        if not b.refuse_all(F.id, write_failures(StepKind.RESTORE_DELETED, holder)):
            return
        change: dict[str, Any] = {}
        note = ""
        if htype == "user":
            change["autoReconcileProxyConflict"] = True
            note = (" Graph restores it with autoReconcileProxyConflict: any proxy address another object holds "
                    "now is dropped from the restored user instead of failing the restore.")
        b.add(StepKind.RESTORE_DELETED, Executor.GRAPH, target, finding=F.id, expect=expect, change=change,
              undo={"delete": True},
              why="--prefer restore: the deleted object is the real one; restore it (undo deletes it again). "
                  "The newcomer then still conflicts and must be removed on-prem." + note)
        return
    if not b.refuse_all(F.id, write_failures(StepKind.PURGE_DELETED, holder)):
        return
    consent = may_purge(holder, allow_purge=opts.allow_purge)
    if not consent.ok:
        b.refuse(F.id, consent.guard or "purge_needs_allow_purge", consent.reason)
        b.warnings.append(f"finding {F.id}: the plan stops at the recycle bin: {consent.reason}")
        return
    note = " Purging a deleted group needs delegated auth (Group.ReadWrite.All)." if htype == "group" else ""
    b.add(StepKind.PURGE_DELETED, Executor.GRAPH, target, finding=F.id, expect=expect,
          why="IRREVERSIBLE: the only holder is in the recycle bin; purge it so the quarantined value is "
              "released (use --prefer restore if the deleted object is the real one)." + note)


def _no_holder(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    b.add(StepKind.WAIT, Executor.MANUAL, None, finding=F.id,
          change={"minutes": QUARANTINE_WAIT_MINUTES,
                  "text": f"Nobody holds {F.value} any more. Wait about {QUARANTINE_WAIT_MINUTES} minutes "
                          "(hourly DAR restore job plus a sync cycle), then scan again."},
          why="No write is needed: the hourly quarantine job restores the value.")


def _unverified(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    h = F.h
    where = h.get("onPremisesDistinguishedName") or h.get("onPremisesDomainName") or "an unknown forest"
    b.refuse(F.id, "holder_unverified", f"the holder is synced from {where}, which was not supplied (or not "
             "completely, with anchors): supply that forest (--onprem/--ldap) so it can be told from an orphan; "
             "never delete it blind")


def _unsupported(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    b.warnings.append(f"finding {F.id}: error category {F.f['conflict'].get('category')!r} is not a duplicate "
                      "conflict; no step planned")


_REMEDIES: dict[str, Callable[[TenantContext, PlanOptions, _Builder, _F], None]] = {
    "cloud_only_twin": _twin, "cloud_only_other_type": _other_type, "onprem_duplicate": _onprem_duplicate,
    "orphaned_holder": _orphan, "unverified_holder": _unverified, "deleted_holder": _deleted,
    "no_holder": _no_holder, "unsupported": _unsupported,
}
#: Scenarios whose remedy hands a cloud account to an on-prem source (a match or a re-anchor).
_MATCHING = frozenset({"cloud_only_twin", "orphaned_holder"})


def _selected(f: Mapping[str, Any], opts: PlanOptions) -> bool:
    if opts.scenarios and str(f.get("scenario")) not in opts.scenarios:
        return False
    return not opts.findings or any(f["id"] == x or (len(x) >= 6 and f["id"].startswith(x)) for x in opts.findings)


def _source_key(f: Mapping[str, Any]) -> str:
    src: Mapping[str, Any] = f["source"] if isinstance(f.get("source"), Mapping) else {}
    obj: Mapping[str, Any] = f["object"] if isinstance(f.get("object"), Mapping) else {}
    if not (src.get("dn") or src.get("immutable_id")):
        return f"the source of object {obj.get('id')}"
    return f"{src.get('dn') or '(DN unknown)'} (anchor {src.get('immutable_id')})"


def _one_target_one_source(findings: Sequence[Mapping[str, Any]], b: _Builder) -> dict[str, str]:
    """Findings that would hand one cloud account to more than one source: refuse them all (ambiguous_target).

    Returns finding id -> the id of an earlier finding that plans the very same merge (same account, same
    source), which is then planned once.
    """
    by_target: dict[str, list[Mapping[str, Any]]] = {}
    for f in findings:
        holders = f.get("holders")
        holder = holders[0] if isinstance(holders, list) and holders else None
        if str(f.get("scenario")) in _MATCHING and isinstance(holder, Mapping) and holder.get("id"):
            by_target.setdefault(str(holder["id"]), []).append(f)
    same: dict[str, str] = {}
    for tid, fs in by_target.items():
        sources: dict[str, list[str]] = {}
        for f in fs:
            sources.setdefault(_source_key(f), []).append(str(f["id"]))
        if len(sources) > 1:
            names = "; ".join(f"{_source_key(f)} (finding {f['id']})" for f in fs)
            for f in fs:
                b.refuse(str(f["id"]), "ambiguous_target", f"the cloud account {tid} is claimed by "
                         f"{len(sources)} on-prem sources: {names}. Decide which person it belongs to, fix the "
                         "others on-prem, scan again")
            continue
        ids = next(iter(sources.values()))
        same.update({fid: ids[0] for fid in ids[1:]})
    return same


def make_plan(findings: Sequence[Mapping[str, Any]], details: Mapping[str, Mapping[str, Any]],
              ctx: TenantContext, opts: PlanOptions = PlanOptions(), *, created: str = "",
              scan_run: str | None = None) -> Plan:
    """The remedies for every selected finding, in finding order, guards recorded as refusals.

    Never raises on stored data: a finding whose data the remedy cannot read is refused (``plan_error``).
    """
    b = _Builder()
    if not ctx.stored:
        b.warnings.append("no tenant context stored for this scan run: every match is refused")
    elif ctx.eligible is None:
        b.warnings.append("role eligibility (PIM) is not readable: no write onto a cloud object is planned "
                          "(guard eligibility_unknown); grant RoleManagement.Read.Directory and scan again")
    selected = [f for f in findings if isinstance(f, Mapping) and isinstance(f.get("id"), str) and f["id"]
                and _selected(f, opts)]
    refused_before = {r.finding for r in b.refusals}
    same = _one_target_one_source(selected, b)
    ambiguous = {r.finding for r in b.refusals} - refused_before
    names: dict[str, str] = {}
    for f in selected:
        fid = str(f["id"])
        if fid in ambiguous:
            continue
        if fid in same:
            b.warnings.append(f"finding {fid}: the same merge as finding {same[fid]} (same cloud account, same "
                              "source); planned once there")
            continue
        scenario = str(f.get("scenario"))
        remedy = _REMEDIES.get(scenario)
        if remedy is None and scenario not in REMEDY_SCENARIOS:
            b.warnings.append(f"finding {fid}: unknown scenario {f.get('scenario')!r}; no step planned")
            continue
        b.begin()
        try:
            detail = details.get(fid) if isinstance(details, Mapping) else None
            F = _F(f, detail if isinstance(detail, Mapping) else {}, ctx)
            for ref, role in ((F.obj, "object"), (F.holder, "holder")):
                a = F.attrs(role)
                if ref.get("id"):
                    names[str(ref["id"]).casefold()] = str(a.get("userPrincipalName") or a.get("displayName")
                                                           or ref.get("display_name") or ref["id"])
            if remedy is not None:
                remedy(ctx, opts, b, F)
            else:  # the non-duplicate scenarios (remedies.py), in the same transaction and refusal handling
                plan_remedy(f, F.detail, ctx, opts, b)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            b.rollback()
            b.refuse(fid, "plan_error", f"the stored finding could not be planned ({type(e).__name__}: {e}); "
                     "nothing is planned for it: scan again, and report it if it persists")
            continue
        b.commit(fid, names)
    b.finish_scheduler()
    return Plan(tenant=ctx.tenant, created=created, scan_run=scan_run, steps=tuple(b.steps),
                refusals=tuple(b.refusals), warnings=tuple(dict.fromkeys(b.warnings)))


# --------------------------------------------------------------------------- check-onprem's moved users


def plan_reanchors(moves: Sequence[Mapping[str, Any]], ctx: TenantContext, opts: PlanOptions = PlanOptions(), *,
                   created: str = "", scan_run: str | None = None) -> Plan:
    """check-onprem's ``anchor-cloud-mismatch`` remedies (a user moved between forests) as plan steps.

    Each move (``reconciler.checks.engine.CheckResult.reanchors``): ``id``, ``dn``, ``object_guid``,
    ``consistency_guid`` (current, or None), ``immutable_id`` (the cloud user's), ``source`` (AD names:
    givenName, sn, displayName, enabled) and ``target`` (Graph names, with ``id``). The same re-anchor guards
    as an orphan take-over run again here; a move that fails one is refused, never planned. The steps:
    pause the scheduler, stamp the cloud user's immutable id as mS-DS-ConsistencyGuid, resume, delta sync.
    """
    b = _Builder()
    if not moves:
        b.warnings.append("check-onprem found no moved user whose re-anchoring passes the guards: nothing to plan")
    elif ctx.eligible is None:
        b.warnings.append("role eligibility (PIM) is not readable: no re-anchor is planned (guard "
                          "eligibility_unknown); grant RoleManagement.Read.Directory and check again")
    names: dict[str, str] = {}
    claimed: dict[str, str] = {}  # immutable id -> the DN planned to carry it (one anchor, one object)
    for m in moves:
        fid = str(m.get("id") or "")
        dn, iid, target = _s(m.get("dn")), _s(m.get("immutable_id")), m.get("target")
        if not fid or not dn or not iid or not isinstance(target, Mapping) or not target.get("id"):
            b.refuse(fid or "?", "plan_error", "the move lacks its DN, immutable id or cloud user; nothing planned")
            continue
        if immutable_id_to_guid(iid) is None:
            b.refuse(fid, "not_a_guid", f"the immutable id {iid} is not a base64 GUID; it cannot become "
                     "mS-DS-ConsistencyGuid")
            continue
        if iid in claimed and claimed[iid].casefold() != dn.casefold():
            b.refuse(fid, "ambiguous_target", f"{claimed[iid]} is already planned to carry {iid}; two objects with "
                     "one anchor export to one Entra object. Decide which is the moved user, then check again")
            continue
        if _s(target.get("onPremisesImmutableId")) != iid:
            b.refuse(fid, "anchor_changed", f"the cloud user's immutable id is no longer {iid}: check again")
            continue
        state = target_state(ctx, target, str(target["id"]), "user")
        source: Mapping[str, Any] = m["source"] if isinstance(m.get("source"), Mapping) else {}
        facts = SourceFacts.from_onprem({**source, "distinguishedName": dn})
        if not b.refuse_all(fid, match_failures(facts, state, Flags(ctx.features), opts, reanchor=True)):
            continue
        b.begin()
        current = _s(m.get("consistency_guid"))
        last = b.add(StepKind.SET_CONSISTENCY_GUID, Executor.LDAP, onprem_target(dn, state), finding=fid,
                     after=[b.pause()],
                     expect={"objectGUID": _s(m.get("object_guid")), "mS-DS-ConsistencyGuid": current},
                     change={"mS-DS-ConsistencyGuid": iid}, undo={"mS-DS-ConsistencyGuid": current},
                     why=f"Re-anchor the moved user: {dn} is new to Entra while {state.who} holds its UPN or "
                         f"primary SMTP address, anchored to the old forest ({iid}); carrying that immutable id, "
                         "the next sync hard-matches it onto the existing cloud user instead of quarantining "
                         "the value or creating a second user.")
        b.scheduler_tails.append(last)
        claimed[iid] = dn
        names[dn.casefold()] = dn
        names[str(target["id"]).casefold()] = state.who
        b.commit(fid, names)
    b.finish_scheduler()
    return Plan(tenant=ctx.tenant, created=created, scan_run=scan_run, steps=tuple(b.steps),
                refusals=tuple(b.refusals), warnings=tuple(dict.fromkeys(b.warnings)))
