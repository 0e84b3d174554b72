"""PURE: findings + tenant context -> an inert ``reconciler.plan/1`` plan.

Input is the findings JSON as the store keeps it (``Store.findings(run)``)
plus each finding's stored detail columns (``Store.finding_detail``), not
:class:`~reconciler.core.model.Finding` objects: ``plan`` works from the database
alone (docs/plan-apply.md), and the JSON is the persisted contract, so a plan made today
from last week's run sees exactly what the reviewer saw in ``explain``.

The guards that the findings JSON cannot answer (roles, eligibility, feature
flags, federated domains, ``onPremisesObjectIdentifier``) come from a
:class:`TenantContext`, built from the scanned snapshot by
:func:`context_from_snapshot` and stored next to the run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.model import CloudSnapshot, fold
from .emit import render_command
from .steps import Executor, Step, StepKind

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
]

PLAN_SCHEMA = "reconciler.plan/1"
#: DAR's hourly restore job plus one default 30-minute sync cycle.
QUARANTINE_WAIT_MINUTES = 90


# --------------------------------------------------------------------------- tenant context


@dataclass(frozen=True)
class TenantContext:
    """What the guards need beyond the findings. ``None`` always means "not readable", never "none"."""

    tenant: str
    features: Mapping[str, Any] | None = None
    domains: Mapping[str, str | None] = field(default_factory=dict)  # lower-case name -> Managed|Federated
    initial_domain: str | None = None
    role_holders: Mapping[str, Sequence[str]] = field(default_factory=dict)  # principal -> roles
    eligible: Mapping[str, Sequence[str]] | None = None
    object_identifiers: Mapping[str, str] = field(default_factory=dict)  # id -> onPremisesObjectIdentifier
    stored: bool = True  # False: no context was stored for the run (guards refuse matches)
    roles_known: bool = True  # False: active role holders could not be read (guards refuse matches)

    def data(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "features": dict(self.features) if self.features is not None else None,
                "domains": dict(self.domains), "initial_domain": self.initial_domain,
                "role_holders": {k: list(v) for k, v in self.role_holders.items()},
                "eligible": None if self.eligible is None else {k: list(v) for k, v in self.eligible.items()},
                "object_identifiers": dict(self.object_identifiers), "roles_known": self.roles_known}

    @classmethod
    def from_data(cls, d: Mapping[str, Any] | None, tenant: str) -> TenantContext:
        if not d:
            return cls(tenant=tenant, stored=False)
        return cls(tenant=str(d.get("tenant") or tenant), features=d.get("features"),
                   domains=d.get("domains") or {}, initial_domain=d.get("initial_domain"),
                   role_holders=d.get("role_holders") or {}, eligible=d.get("eligible"),
                   object_identifiers=d.get("object_identifiers") or {},
                   roles_known=bool(d.get("roles_known", False)))


def _expand(principals: Iterable[tuple[str, str]], groups: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """principal -> roles, with role-assignable groups expanded to their members."""
    out: dict[str, list[str]] = {}
    for pid, role in principals:
        for member in (pid, *groups.get(pid, ())):
            roles = out.setdefault(member, [])
            if role not in roles:
                roles.append(role)
    return out


def context_from_snapshot(snap: CloudSnapshot) -> TenantContext:
    """Build the context from a scanned snapshot (call at scan time; store ``.data()`` with the run)."""
    direct = [(m, role) for role, members in snap.directory_role_members.items() for m in members]
    direct += [(str(a.get("principalId")), str(a.get("roleDefinitionId")))
               for a in (snap.role_assignments or ()) if a.get("principalId")]
    eligible = None
    if snap.role_eligibility is not None:
        eligible = _expand([(str(a.get("principalId")), str(a.get("roleDefinitionId")))
                            for a in snap.role_eligibility if a.get("principalId")], snap.group_members)
    return TenantContext(
        tenant=snap.tenant_id, features=dict(snap.features) if snap.features is not None else None,
        domains={d.name.lower(): d.type for d in snap.domains}, initial_domain=snap.initial_domain,
        role_holders=_expand(direct, snap.group_members), eligible=eligible, roles_known=snap.roles_known,
        object_identifiers={o.id: o.on_premises_object_identifier for o in snap.objects
                            if o.on_premises_object_identifier})


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


def fingerprint(tenant: str, steps: Sequence[Mapping[str, Any]], refusals: Sequence[Mapping[str, Any]]) -> str:
    body = canonical_json({"tenant": tenant, "steps": list(steps), "refusals": list(refusals)})
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
        return fingerprint(self.tenant, [s.data for s in self.steps], [r.data() for r in self.refusals])

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


# --------------------------------------------------------------------------- builder


class _Builder:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.refusals: list[Refusal] = []
        self.warnings: list[str] = []
        self.scheduler_tails: list[str] = []
        self._pause: str | None = None

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
        self.refusals.append(Refusal(finding, guard, reason))

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

    def __init__(self, f: Mapping[str, Any], detail: Mapping[str, Any]) -> None:
        self.f = f
        self.id = str(f["id"])
        self.cols = {c.get("role"): c.get("attrs") or {} for c in reversed(detail.get("columns") or [])}
        self.value = str(f["conflict"]["value"])
        self.property = str(f["conflict"]["property"])
        self.obj = f["object"]
        self.holder = (f.get("holders") or [None])[0]
        self.source = f.get("source")

    def attrs(self, role: str) -> Mapping[str, Any]:
        return self.cols.get(role) or {}

    @property
    def h(self) -> Mapping[str, Any]:
        return self.attrs("holder")

    @property
    def o(self) -> Mapping[str, Any]:
        return self.attrs("object")


def _entries(values: Iterable[str] | None, value: str) -> list[str]:
    """The exact proxyAddresses entries that carry ``value`` (SMTP only)."""
    key = fold(value)
    return [v for v in values or () if v[:5].lower() == "smtp:" and fold(v) == key]


def _domain(upn: str | None) -> str:
    return (upn or "").rpartition("@")[2].lower()


def _local(upn: str | None) -> str:
    return (upn or "").rpartition("@")[0]


def _holds(attrs: Mapping[str, Any], value: str) -> dict[str, Any]:
    """``expect`` entries proving that an object still holds ``value``."""
    out: dict[str, Any] = {}
    if fold(attrs.get("userPrincipalName") or "") == fold(value):
        out["userPrincipalName"] = attrs["userPrincipalName"]
    if fold(attrs.get("mail") or "") == fold(value):
        out["mail"] = attrs["mail"]
    entries = _entries(attrs.get("proxyAddresses"), value)
    if entries:
        out["proxyAddresses"] = entries
    return out


# --------------------------------------------------------------------------- guards


def _names(a: Mapping[str, Any], b: Mapping[str, Any], b_surname: str) -> tuple[bool, str]:
    """(comparable and equal, explanation) for given name + surname, else display name."""
    pairs = [("givenName", a.get("givenName"), b.get("givenName")),
             ("surname", a.get("surname"), b.get(b_surname))]
    known = [(n, x, y) for n, x, y in pairs if x and y]
    if not known:
        known = [("displayName", a.get("displayName"), b.get("displayName"))]
        if not all(known[0][1:]):
            return False, "the names cannot be compared (given name, surname and display name missing)"
    for n, x, y in known:
        if fold(str(x)) != fold(str(y)):
            return False, (f"{n} differs: cloud {x!r} vs on-prem {y!r} (a different person sharing an "
                           "address is not a twin)")
    return True, ""


def _match_guards(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F, *,
                  check_anchor: bool = True) -> bool:
    """Role, eligibility, immutable id, object identifier, userType and names. True = all pass."""
    hid, h, ok = F.holder["id"], F.h, True
    who = f"{F.holder.get('type')} {h.get('userPrincipalName') or h.get('displayName')} ({hid})"
    if not ctx.stored:
        b.refuse(F.id, "context_unknown", "no tenant context (roles, flags, domains) was stored with this scan "
                 "run; re-run scan with this version before planning a match")
        return False
    if not ctx.roles_known:
        b.refuse(F.id, "roles_unknown", f"directory role holders could not be read for this scan; {who} may "
                 "be an administrator, and Entra never matches one. Grant RoleManagement.Read.Directory and "
                 "scan again")
        return False
    if ctx.role_holders.get(hid):
        b.refuse(F.id, "holder_has_role", f"{who} holds directory role(s) {', '.join(ctx.role_holders[hid])} "
                 "(directly or through a role-assignable group); Entra never matches an admin: remove the "
                 "roles first, then plan again")
        ok = False
    if ctx.eligible is None:
        b.warnings.append(f"finding {F.id}: role eligibility (PIM) is not readable; {who} may be eligible "
                          "for a directory role. Check it in the portal before applying.")
    elif ctx.eligible.get(hid):
        b.refuse(F.id, "holder_eligible_for_role", f"{who} is eligible for directory role(s) "
                 f"{', '.join(ctx.eligible[hid])}")
        ok = False
    if ctx.object_identifiers.get(hid):
        b.refuse(F.id, "holder_has_object_identifier", f"{who} already has onPremisesObjectIdentifier "
                 f"{ctx.object_identifiers[hid]}")
        ok = False
    if check_anchor and h.get("onPremisesImmutableId") and not _reanchor_allowed(ctx, opts, F):
        b.refuse(F.id, "holder_has_immutable_id", f"{who} already has onPremisesImmutableId "
                 f"{h['onPremisesImmutableId']}" + ("; it is in a federated domain: --allow-reanchor plans "
                                                    "the onmicrosoft.com UPN detour" if _federated(ctx, h)
                                                    else ""))
        ok = False
    if F.holder.get("type") == "user" and h.get("userType") != "Member":
        b.refuse(F.id, "holder_not_member", f"{who} has userType {h.get('userType')!r}, not 'Member'")
        ok = False
    src = F.attrs("source") or F.o
    same, why = _names(h, src, "sn" if F.attrs("source") else "surname")
    if not same:
        b.refuse(F.id, "names_disagree", f"{who}: {why}")
        ok = False
    return ok


def _federated(ctx: TenantContext, attrs: Mapping[str, Any]) -> bool:
    return (ctx.domains.get(_domain(attrs.get("userPrincipalName"))) or "").lower() == "federated"


def _reanchor_allowed(ctx: TenantContext, opts: PlanOptions, F: _F) -> bool:
    return bool(opts.allow_reanchor and not F.holder.get("synced") and F.holder.get("type") == "user"
                and _federated(ctx, F.h))


def _match_mode(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> str | None:
    """"hard", "soft" or None (refused) from the tenant's sync feature flags."""
    feats = ctx.features
    if feats is None:
        if not opts.assume_flags:
            b.refuse(F.id, "flags_unknown", "the tenant's sync feature flags are unknown (reading them needs "
                     "delegated Global Administrator); pass --assume-flags if you checked them")
            return None
        b.warnings.append(f"finding {F.id}: feature flags unknown, assumed to allow hard match (--assume-flags)")
        feats = {}
    user = F.holder.get("type") == "user"
    if user and not feats.get("blockCloudObjectTakeoverThroughHardMatchEnabled"):
        return "hard"
    soft_ok = not feats.get("blockSoftMatchEnabled") and (
        F.property != "UserPrincipalName" or feats.get("softMatchOnUpnEnabled"))
    if soft_ok:
        return "soft"
    b.refuse(F.id, "tenant_blocks_match", "the tenant blocks this match (blockCloudObjectTakeoverThroughHard"
             "MatchEnabled / blockSoftMatchEnabled / softMatchOnUpnEnabled); clear the flag only while the "
             "merge runs, then plan again")
    return None


# --------------------------------------------------------------------------- remedies


def _remove_duplicate(b: _Builder, F: _F, after: Sequence[str]) -> str:
    """Remove the synced DAR duplicate through ADSyncTools, then purge it (ids are unique in the bin too)."""
    o, anchor = F.o, F.obj.get("on_premises_immutable_id")
    otype = str(F.obj.get("type") or "user")
    params = {"SourceAnchor": anchor, "ObjectType": otype.capitalize()}
    rm = b.add(StepKind.REMOVE_SYNCED_OBJECT, Executor.POWERSHELL, {"type": otype, "id": F.obj["id"]},
               finding=F.id, after=after,
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
    if not F.source or not F.source.get("immutable_id"):
        b.refuse(F.id, "no_source", "the error object's on-prem source was not supplied; cannot match")
        return
    if not _match_guards(ctx, opts, b, F):
        return
    mode = _match_mode(ctx, opts, b, F)
    if mode is None:
        return
    last = _remove_duplicate(b, F, [b.pause()])
    if mode == "hard":
        last = _hard_match(ctx, b, F, last)
    else:
        b.warnings.append(f"finding {F.id}: hard match is blocked; relying on soft match "
                          f"({F.property}) at the next delta sync")
    b.scheduler_tails.append(last)


def _hard_match(ctx: TenantContext, b: _Builder, F: _F, after: str) -> str:
    source = F.source or {}  # the caller checked it has an anchor
    h, hid, anchor = F.h, F.holder["id"], source["immutable_id"]
    expect: dict[str, Any] = {"onPremisesImmutableId": h.get("onPremisesImmutableId"),
                              "userPrincipalName": h.get("userPrincipalName"), "userType": "Member",
                              "givenName": h.get("givenName"), "surname": h.get("surname")}
    expect.update({k: v for k, v in _holds(h, F.value).items() if k != "userPrincipalName"})
    target = {"type": "user", "id": hid}
    upn = h.get("userPrincipalName")
    detour = bool(h.get("onPremisesImmutableId")) and _federated(ctx, h) and ctx.initial_domain
    if detour:
        tmp = f"{_local(upn)}@{ctx.initial_domain}"
        after = b.add(StepKind.SET_USER_PRINCIPAL_NAME, Executor.GRAPH, target, finding=F.id, after=[after],
                      expect=expect, change={"userPrincipalName": tmp}, undo={"userPrincipalName": upn},
                      why=f"Federated domain: move the UPN to {ctx.initial_domain} so the immutable id may "
                          "change (--allow-reanchor).")
        expect = {**expect, "userPrincipalName": tmp}
    last = b.add(StepKind.SET_IMMUTABLE_ID, Executor.GRAPH, target, finding=F.id, after=[after], expect=expect,
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
    h, htype, hid = F.h, str(F.holder.get("type")), F.holder["id"]
    if htype == "user" and fold(h.get("userPrincipalName") or "") == fold(F.value):
        if not ctx.initial_domain:
            b.refuse(F.id, "no_initial_domain", "the tenant's initial domain is unknown; cannot pick a new UPN")
            return
        new = f"{_local(h.get('userPrincipalName'))}@{ctx.initial_domain}"
        b.add(StepKind.SET_USER_PRINCIPAL_NAME, Executor.GRAPH, {"type": "user", "id": hid}, finding=F.id,
              expect={"userPrincipalName": h.get("userPrincipalName"), "onPremisesImmutableId":
                      h.get("onPremisesImmutableId")},
              change={"userPrincipalName": new}, undo={"userPrincipalName": h.get("userPrincipalName")},
              why=f"The cloud-only user holds the value as its UPN: rename it to {new} (Graph can write a "
                  "cloud user's UPN) so the synced object gets the value back.")
        return
    entries = _entries(h.get("proxyAddresses"), F.value)
    if not entries:
        b.refuse(F.id, "value_not_in_proxy", f"the cloud {htype} ({hid}) holds the value outside proxyAddresses; "
                 "change it in the Microsoft 365 admin center")
        return
    after: list[str] = []
    primary = [e for e in entries if e.startswith("SMTP:")]
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


def _onprem_duplicate(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    keep = F.f.get("keep")
    if keep not in ("source", "holder"):
        b.refuse(F.id, "keep_undecided", "no write step: it is undecided which on-prem object keeps the value. "
                 + " ".join(F.f.get("reasons") or []))
        return
    loser_role = "holder_source" if keep == "source" else "source"
    la = F.attrs(loser_role)
    fallback = ((F.holder or {}).get("source") or {}) if keep == "source" else (F.source or {})
    dn = la.get("distinguishedName") or fallback.get("dn")
    if not la or not dn:
        b.refuse(F.id, "loser_not_read", "the on-prem object that should lose the value was not in the data")
        return
    target = {"type": "onprem", "dn": dn}
    why = f"Keep/lose decision: {keep} keeps {F.value}; {dn} loses it. " + " ".join(F.f.get("reasons") or [])[:400]
    if fold(la.get("userPrincipalName") or "") == fold(F.value):
        _onprem_upn(b, F, la, target, why)
        return
    entries = _entries(la.get("proxyAddresses"), F.value)
    if any(e.startswith("SMTP:") for e in entries) or fold(la.get("mail") or "") == fold(F.value):
        b.refuse(F.id, "loser_primary_address", f"{dn} carries {F.value} as its primary address (mail / SMTP:); "
                 "a person must choose its new primary address")
        return
    if not entries:
        b.refuse(F.id, "value_not_found", f"{dn} does not carry {F.value} in proxyAddresses")
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


def _is_original(F: _F) -> tuple[bool, str]:
    h, o = F.h, F.o
    licensed = (h.get("licences") or 0) > 0
    mailbox = bool(h.get("mail") or h.get("proxyAddresses"))
    older = bool(h.get("createdDateTime") and o.get("createdDateTime")
                 and h["createdDateTime"] < o["createdDateTime"])
    why = f"holder licensed={licensed}, mailbox={mailbox}, older than the duplicate={older}"
    return older and (licensed or mailbox), why


def _orphan(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    h, hid = F.h, F.holder["id"]
    original, evidence = _is_original(F)
    anchor = h.get("onPremisesImmutableId")
    if original and F.source and anchor:
        if not _match_guards(ctx, opts, b, F, check_anchor=False):
            return
        last = _remove_duplicate(b, F, [b.pause()])
        src_anchor = F.source.get("immutable_id")
        guid_anchor = F.attrs("source").get("anchor")
        last = b.add(StepKind.SET_CONSISTENCY_GUID, Executor.LDAP, {"type": "onprem", "dn": F.source["dn"]},
                     finding=F.id, after=[last],
                     expect={"objectGUID": F.source.get("object_guid")},
                     change={"mS-DS-ConsistencyGuid": anchor},
                     undo={"mS-DS-ConsistencyGuid": None if guid_anchor == src_anchor else src_anchor},
                     why=f"Re-anchor ({evidence}): the holder is the original account, so the re-created AD "
                         f"object takes it over by carrying its immutable id {anchor}.")
        b.scheduler_tails.append(last)
        return
    rm = b.add(StepKind.REMOVE_SYNCED_OBJECT, Executor.POWERSHELL, {"type": F.holder.get("type"), "id": hid},
               finding=F.id, expect={"onPremisesImmutableId": anchor, **_holds(h, F.value)},
               change=_ps(StepKind.REMOVE_SYNCED_OBJECT,
                          {"SourceAnchor": anchor, "ObjectType": str(F.holder.get("type")).capitalize()}),
               why=f"Remove the orphan ({evidence}): it is not the original account, so ADSyncTools removes the "
                   "leftover synced object (irreversible from this tool).")
    b.add(StepKind.PURGE_DELETED, Executor.GRAPH, {"type": "deleted", "id": hid, "object": F.holder.get("type")},
          finding=F.id, after=[rm],
          expect={"deleted": True, "onPremisesImmutableId": anchor}, why="IRREVERSIBLE: purge the removed "
          "orphan from the recycle bin; a soft-deleted holder still blocks the value.")


def _deleted(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    h, hid, htype = F.h, F.holder["id"], str(F.holder.get("type"))
    expect = {"deleted": True, **{k: v for k, v in _holds(h, F.value).items() if k != "userPrincipalName"}}
    if opts.prefer_restore:
        b.add(StepKind.RESTORE_DELETED, Executor.GRAPH, {"type": "deleted", "id": hid, "object": htype}, finding=F.id,
              expect=expect, undo={"delete": True},
              why="--prefer restore: the deleted object is the real one; restore it (undo deletes it again). "
                  "The newcomer then still conflicts and must be removed on-prem.")
        return
    note = " Purging a deleted group needs delegated auth (Group.ReadWrite.All)." if htype == "group" else ""
    b.add(StepKind.PURGE_DELETED, Executor.GRAPH, {"type": "deleted", "id": hid, "object": htype}, finding=F.id,
          expect=expect,
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
    b.refuse(F.id, "holder_unverified", f"the holder is synced from {where}, which was not supplied: supply that "
             "forest (--onprem/--ldap) so it can be told from an orphan; never delete it blind")


def _unsupported(ctx: TenantContext, opts: PlanOptions, b: _Builder, F: _F) -> None:
    b.warnings.append(f"finding {F.id}: error category {F.f['conflict'].get('category')!r} is not a duplicate "
                      "conflict; no step planned")


_REMEDIES: dict[str, Callable[[TenantContext, PlanOptions, _Builder, _F], None]] = {
    "cloud_only_twin": _twin, "cloud_only_other_type": _other_type, "onprem_duplicate": _onprem_duplicate,
    "orphaned_holder": _orphan, "unverified_holder": _unverified, "deleted_holder": _deleted,
    "no_holder": _no_holder, "unsupported": _unsupported,
}


def _selected(f: Mapping[str, Any], opts: PlanOptions) -> bool:
    if opts.scenarios and f.get("scenario") not in opts.scenarios:
        return False
    return not opts.findings or any(f["id"] == x or (len(x) >= 6 and f["id"].startswith(x)) for x in opts.findings)


def make_plan(findings: Sequence[Mapping[str, Any]], details: Mapping[str, Mapping[str, Any]],
              ctx: TenantContext, opts: PlanOptions = PlanOptions(), *, created: str = "",
              scan_run: str | None = None) -> Plan:
    """The remedies for every selected finding, in finding order, guards recorded as refusals."""
    b = _Builder()
    if not ctx.stored:
        b.warnings.append("no tenant context stored for this scan run: every match is refused")
    for f in findings:
        if not _selected(f, opts):
            continue
        remedy = _REMEDIES.get(str(f.get("scenario")))
        if remedy is None:
            b.warnings.append(f"finding {f.get('id')}: unknown scenario {f.get('scenario')!r}; no step planned")
            continue
        remedy(ctx, opts, b, _F(f, details.get(f["id"]) or {}))
    b.finish_scheduler()
    return Plan(tenant=ctx.tenant, created=created, scan_run=scan_run, steps=tuple(b.steps),
                refusals=tuple(b.refusals), warnings=tuple(dict.fromkeys(b.warnings)))
