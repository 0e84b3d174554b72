"""PURE: remedies for the scenarios that are not duplicate-value conflicts, and the cloud
source-of-authority alternative for orphans (docs/plan-apply.md, "Remedies").

The planner hands every finding to :func:`plan_remedy` first; it plans the finding and returns
True when the finding is one of these, else False (the planner's own remedies run):

==========================  ==========================================================================
scenario                    remedy
==========================  ==========================================================================
data_validation             the on-prem fix with check-onprem's proposed value (an ``ldap`` step)
large_attribute             remove expired certificates first, then the oldest, until 15 are left
                            (``ldap`` steps; the removed values are the undo)
federated_domain_change     the onmicrosoft.com UPN detour (``graph``), then a delta sync
admin_role_conflict         a manual runbook: never automated
hard_match_blocked          a manual runbook with the risk of the flag window: never automated
service_error               reported (a warning in the plan), no step
orphaned_holder             only with ``--orphans cloud``: move the orphan's source of authority to the
                            cloud (beta ``onPremisesSyncBehavior``), delete it through Graph, purge it
==========================  ==========================================================================

Every step that writes is checked by :mod:`reconciler.fixes.guards` on the cloud object it changes
(directly, or through the next sync for an on-prem change of its source): a role holder, a PIM-eligible
account, unreadable role data or an external account refuses the step with the guard's reason.

The sink ``b`` is the planner's builder: ``add(kind, executor, target, *, finding, after, expect, change,
undo, why) -> step id``, ``refuse(finding, guard, reason)`` and a ``warnings`` list.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ..checks.rules import check_proxy, check_upn
from ..core.model import fold
from .guards import TargetState, may_purge, may_write
from .steps import Executor, StepKind, holds_expect

__all__ = [
    "CERT_ATTRIBUTES",
    "CERT_LIMIT",
    "HANDLED",
    "Cert",
    "Sink",
    "certificate_removals",
    "cloud_sync_only",
    "cloud_sync_refusal",
    "cloud_sync_twin",
    "parse_certificate",
    "plan_remedy",
    "proposed_value",
    "remove_orphan_via_cloud",
]

#: Entra Connect exports at most 15 values of each certificate attribute (docs/plan-apply.md).
CERT_LIMIT = 15
CERT_ATTRIBUTES = ("userCertificate", "userSMIMECertificate")
_INITIAL_SUFFIX = ".onmicrosoft.com"


class Sink(Protocol):
    warnings: list[str]

    def add(self, kind: StepKind, executor: Executor, target: Mapping[str, Any] | None, *, finding: str | None,
            after: Sequence[str] = (), expect: Mapping[str, Any] | None = None,
            change: Mapping[str, Any] | None = None, undo: Mapping[str, Any] | None = None, why: str) -> str: ...

    def refuse(self, finding: str, guard: str, reason: str) -> None: ...


class _F:
    """One finding (stored JSON) with its detail columns by role (object, holder, source, holder_source)."""

    def __init__(self, f: Mapping[str, Any], detail: Mapping[str, Any]) -> None:
        self.f = f
        self.id = str(f["id"])
        self.cols: dict[str, Mapping[str, Any]] = {}
        for c in reversed(detail.get("columns") or []):  # the first column of a role wins
            self.cols[str(c.get("role"))] = c.get("attrs") or {}
        conflict = f.get("conflict") or {}
        self.value = str(conflict.get("value") or "")
        self.property = str(conflict.get("property") or "")
        self.category = str(conflict.get("category") or "")
        self.description = str(conflict.get("description") or "")
        self.obj: Mapping[str, Any] | None = f.get("object")
        self.holder: Mapping[str, Any] | None = (f.get("holders") or [None])[0]
        self.source: Mapping[str, Any] | None = f.get("source")

    def attrs(self, role: str) -> Mapping[str, Any]:
        return self.cols.get(role) or {}

    @property
    def onprem(self) -> Mapping[str, Any]:
        return self.attrs("source")

    @property
    def dn(self) -> str | None:
        return self.onprem.get("distinguishedName") or (self.source or {}).get("dn")

    def who(self) -> str:
        o = self.obj or {}
        return str(o.get("user_principal_name") or o.get("display_name") or o.get("id") or self.dn or self.value)


# --------------------------------------------------------------------------- guards


def _state(ctx: Any, oid: str, otype: str, attrs: Mapping[str, Any]) -> TargetState:
    """The guards' view of a cloud object from the scan's stored column and the run's role data."""
    known = bool(getattr(ctx, "stored", True)) and bool(getattr(ctx, "roles_known", True))
    roles = tuple(ctx.role_holders.get(oid, ())) if known else None
    elig = None if ctx.eligible is None else tuple(ctx.eligible.get(oid, ()))
    return TargetState.from_graph({**attrs, "id": oid}, roles=roles, eligible_roles=elig, type=otype)


def _onprem(F: _F, dn: str) -> dict[str, Any]:
    """An on-prem step's target naming the cloud object its next sync changes (apply re-reads and guards it)."""
    target: dict[str, Any] = {"type": "onprem", "dn": dn}
    if F.obj and F.obj.get("id"):
        target.update(cloud_id=str(F.obj["id"]), cloud_type=str(F.obj.get("type") or "user"))
    return target


def _usable(b: Sink, F: _F, *values: Any) -> bool:
    """Values a step would carry must fit a plan (one line, at most 1,024 characters): a hostile value from an
    error origin is refused here, never written into a plan that apply would then reject."""
    for v in values:
        if isinstance(v, str) and (len(v) > 1024 or any(c in v for c in "\r\n\x0b\x0c\x85\u2028\u2029\x00")):
            b.refuse(F.id, "value_unusable", f"the value {v[:60]!r}… cannot be carried by a plan step (a line break, "
                     "a NUL or over 1,024 characters): fix it by hand in the directory")
            return False
    return True


def _cloud_guard(ctx: Any, b: Sink, F: _F, kind: StepKind) -> bool:
    """may_write on the finding's cloud object (when it has one): True = the step may be planned."""
    if not F.obj:
        return True
    v = may_write(kind, _state(ctx, str(F.obj["id"]), str(F.obj.get("type") or "user"), F.attrs("object")))
    if not v.ok:
        b.refuse(F.id, str(v.guard), v.reason)
    return v.ok


# --------------------------------------------------------------------------- data validation


def proposed_value(prop: str, value: str) -> tuple[str | None, list[str]]:
    """(check-onprem's proposed value or None, the rule messages) for a value Entra refused.

    The top-level-domain rule is left out: a suffix is judged by the tenant's verified domains, and that
    rule proposes nothing anyway.
    """
    low = prop.casefold()
    if low == "userprincipalname":
        tld = value.rpartition(".")[2].casefold()
        hits = check_upn(value, frozenset({tld}))
    elif low in ("proxyaddress", "proxyaddresses"):
        tld = value.rpartition(".")[2].casefold()
        hits = check_proxy(value, frozenset({tld}))
    else:
        return None, []
    proposed = None
    for h in hits:
        proposed = h.proposed or proposed
    return (proposed if proposed and proposed != value else None), [h.message for h in hits]


def _data_validation(ctx: Any, opts: Any, b: Sink, F: _F) -> None:
    dn = F.dn
    if not dn:
        b.refuse(F.id, "no_source", f"the on-prem object with the malformed {F.property or 'value'} was not in the "
                 "supplied data; supply its forest (--onprem/--ldap) so the fix can be planned")
        return
    proposal, messages = proposed_value(F.property, F.value)
    if proposal is None:
        _runbook(b, F, target=None, text=(
            f"Fix {F.property or 'the value'} {F.value!r} of {dn} on-premises"
            + (f" ({'; '.join(messages)})" if messages else "") +
            ". No automatic proposal exists for it (for an unverified UPN suffix: verify the domain in Entra, or "
            "give the user a UPN in a verified domain). Then run a delta sync and scan again."),
            why="Entra refused the value as malformed; check-onprem has no proposal for it, so a person decides.")
        return
    held = F.onprem
    low = F.property.casefold()
    if not _usable(b, F, F.value, proposal, dn):
        return
    if low == "userprincipalname":
        if held and fold(held.get("userPrincipalName") or "") != fold(F.value):
            b.refuse(F.id, "value_not_found", f"{dn} no longer carries the UPN {F.value!r} in the scanned data")
            return
        if not _cloud_guard(ctx, b, F, StepKind.SET_USER_PRINCIPAL_NAME):
            return
        expect = {"userPrincipalName": F.value}
        if held.get("sAMAccountName"):
            expect["sAMAccountName"] = held["sAMAccountName"]
        b.add(StepKind.SET_USER_PRINCIPAL_NAME, Executor.LDAP, _onprem(F, dn), finding=F.id,
              expect=expect, change={"userPrincipalName": proposal}, undo={"userPrincipalName": F.value},
              why=f"Entra refused the UPN {F.value!r} of {dn} as malformed ({'; '.join(messages)}). check-onprem's "
                  f"proposal {proposal!r} is written on-premises; the next sync exports it.")
        return
    entries = [p for p in held.get("proxyAddresses") or () if p == F.value] if held else [F.value]
    if not entries:
        b.refuse(F.id, "value_not_found", f"{dn} no longer carries {F.value!r} in proxyAddresses in the scanned data")
        return
    if not _cloud_guard(ctx, b, F, StepKind.REMOVE_PROXY_ADDRESS):
        return
    b.add(StepKind.REMOVE_PROXY_ADDRESS, Executor.LDAP, _onprem(F, dn), finding=F.id,
          expect={"proxyAddresses": entries}, change={"proxyAddresses": {"remove": entries, "add": [proposal]}},
          undo={"proxyAddresses": {"remove": [proposal], "add": entries}},
          why=f"Entra refused the proxy address {F.value!r} of {dn} as malformed ({'; '.join(messages)}); it is "
              f"replaced on-premises by check-onprem's proposal {proposal!r}.")


# --------------------------------------------------------------------------- large attribute


@dataclass(frozen=True, slots=True)
class Cert:
    value: str  # base64 of the DER bytes, exactly as stored
    not_before: datetime | None
    not_after: datetime | None
    subject: str = ""

    def expired(self, now: datetime) -> bool:
        return self.not_after is not None and self.not_after < now


def parse_certificate(value_b64: str) -> Cert:
    """Read notBefore/notAfter of one DER (or PEM) certificate value; unreadable dates stay None."""
    from cryptography import x509  # lazy: only plans with a large-attribute finding pay for it

    try:
        raw = base64.b64decode(value_b64, validate=True)
    except ValueError:
        return Cert(value_b64, None, None)
    try:
        cert = x509.load_der_x509_certificate(raw) if not raw.lstrip().startswith(b"-----") \
            else x509.load_pem_x509_certificate(raw)
        return Cert(value_b64, cert.not_valid_before_utc, cert.not_valid_after_utc, cert.subject.rfc4514_string())
    except ValueError:
        return Cert(value_b64, None, None)


def certificate_removals(values: Sequence[str], now: datetime, limit: int = CERT_LIMIT) -> list[tuple[Cert, str]]:
    """Which certificate values to remove, with the reason: every expired one first, then the oldest valid ones
    (earliest notBefore) until at most ``limit`` are left. A value whose dates cannot be read is never removed."""
    certs = [parse_certificate(v) for v in values]
    expired = sorted((c for c in certs if c.expired(now)), key=lambda c: c.not_after or now)
    out = [(c, f"expired {c.not_after:%Y-%m-%d}") for c in expired if c.not_after]
    left = len(certs) - len(out)
    valid = sorted((c for c in certs if c.not_before is not None and not c.expired(now)),
                   key=lambda c: c.not_before or now)
    for c in valid:
        if left <= limit:
            break
        out.append((c, f"oldest still valid, issued {c.not_before:%Y-%m-%d}"))
        left -= 1
    return out


def _large_attribute(ctx: Any, opts: Any, b: Sink, F: _F) -> None:
    attr = next((a for a in CERT_ATTRIBUTES if a.casefold() == F.property.casefold()), None)
    dn = F.dn
    if attr is None:
        _runbook(b, F, target=None, text=(
            f"{F.who()}: {F.property or 'an attribute'} is too large for Entra ({F.description or F.category}). "
            "Remove stale values on-premises (thumbnailPhoto under 100 KB; proxyAddresses: remove unused "
            "addresses), then run a delta sync and scan again."),
            why="Only certificate attributes have an automatic remedy; this attribute needs a person to choose.")
        return
    if not dn:
        b.refuse(F.id, "no_source", f"the on-prem object with too many {attr} values was not in the supplied data; "
                 "supply its forest (--onprem/--ldap) so the fix can be planned")
        return
    values = F.onprem.get(attr)
    if not isinstance(values, list) or not values:
        b.refuse(F.id, "values_not_read", f"the {attr} values of {dn} were not read (the on-prem source must "
                 f"include {attr}); scan again with an LDAP source or an export that carries them")
        return
    now = _now(opts)
    removals = certificate_removals([str(v) for v in values], now)
    if not removals:
        b.refuse(F.id, "nothing_to_remove", f"{dn} holds {len(values)} {attr} value(s), none expired and not over "
                 f"{CERT_LIMIT}, or their dates cannot be read: a person must choose")
        return
    if not _cloud_guard(ctx, b, F, StepKind.REMOVE_ATTRIBUTE_VALUE):
        return
    remove = [c.value for c, _ in removals]
    why = "; ".join(f"{c.subject or 'certificate'}: {reason}" for c, reason in removals)
    b.add(StepKind.REMOVE_ATTRIBUTE_VALUE, Executor.LDAP, _onprem(F, dn), finding=F.id,
          expect={attr: remove}, change={attr: {"remove": remove}}, undo={attr: {"add": remove}},
          why=f"{dn} holds {len(values)} {attr} values; Entra Connect exports at most {CERT_LIMIT}. Remove "
              f"{len(remove)} (expired first, then the oldest; the values are kept as the undo): {why}"[:2000])


def _now(opts: Any) -> datetime:
    at = getattr(opts, "now", None)
    return at if isinstance(at, datetime) else datetime.now(UTC)


# --------------------------------------------------------------------------- federated domain change


def _federated_domain_change(ctx: Any, opts: Any, b: Sink, F: _F) -> None:
    if not F.obj:
        b.refuse(F.id, "no_cloud_object", "the user with the federated domain change has no cloud object in the "
                 "scanned data; nothing to rename")
        return
    cloud = F.attrs("object")
    upn = str(cloud.get("userPrincipalName") or F.obj.get("user_principal_name") or "")
    initial = getattr(ctx, "initial_domain", None)
    if not initial:
        b.refuse(F.id, "no_initial_domain", "the tenant's initial (onmicrosoft.com) domain is unknown; cannot plan "
                 "the UPN detour")
        return
    if not upn or upn.rpartition("@")[2].casefold() == initial.casefold():
        b.warnings.append(f"finding {F.id}: the cloud UPN is already in {initial}; run a delta sync and scan again")
        return
    if not _cloud_guard(ctx, b, F, StepKind.SET_USER_PRINCIPAL_NAME):
        return
    detour = f"{upn.rpartition('@')[0]}@{initial}"
    if not _usable(b, F, upn, detour, F.value):
        return
    target = {"type": "user", "id": str(F.obj["id"])}
    step = b.add(StepKind.SET_USER_PRINCIPAL_NAME, Executor.GRAPH, target, finding=F.id,
                 expect={"userPrincipalName": upn, "onPremisesImmutableId": cloud.get("onPremisesImmutableId")},
                 change={"userPrincipalName": detour}, undo={"userPrincipalName": upn},
                 why=f"The on-prem UPN moved from {upn} to {F.value or 'another federated domain'} and both domains "
                     "are federated, so Entra refuses the change (FederatedDomainChangeError). The documented fix "
                     f"is a detour through the tenant's initial domain: set the cloud UPN to {detour}; the next "
                     "sync then sets the new UPN.")
    b.add(StepKind.RUN_DELTA_SYNC, Executor.MANUAL, None, finding=F.id, after=[step],
          change={"text": "On the Entra Connect server run: Start-ADSyncSyncCycle -PolicyType Delta; the user's UPN "
                          f"becomes {F.value or 'the on-prem UPN'}. Scan again to confirm."},
          why="The sync applies the new UPN once the cloud UPN is in the initial domain.")


# --------------------------------------------------------------------------- runbooks (never automated)


#: a plan value is at most 1,024 characters (steps.MAX_VALUE); a runbook that names long values is cut to fit
_TEXT_MAX = 1000


def _runbook(b: Sink, F: _F, *, target: Mapping[str, Any] | None, text: str, why: str) -> str:
    text = " ".join(text.split())  # one line: directory values never break the step's text
    if len(text) > _TEXT_MAX:
        text = text[:_TEXT_MAX - 1] + "…"
    return b.add(StepKind.RUNBOOK, Executor.MANUAL, target, finding=F.id, change={"text": text}, why=why)


def _roles_of(ctx: Any, oid: str | None) -> str:
    if not oid:
        return "its directory roles"
    roles = list(ctx.role_holders.get(oid, ())) + list((ctx.eligible or {}).get(oid, ()))
    return ", ".join(dict.fromkeys(roles)) or "its directory roles (none were read: check them in the portal)"


def _admin_role_conflict(ctx: Any, opts: Any, b: Sink, F: _F) -> None:
    holder = F.holder or {}
    hid = holder.get("id")
    name = F.attrs("holder").get("userPrincipalName") or holder.get("display_name") or hid or F.value
    text = (f"The value {F.value} is held by the cloud account {name}{f' ({hid})' if hid else ''}, which holds "
            f"{_roles_of(ctx, hid)}. Entra never soft-matches an administrator, so the on-prem object "
            f"{F.dn or F.who()} cannot join it. By hand, in a change window: 1) note and remove every directory "
            "role (active, PIM-eligible, through role-assignable groups and administrative units) from the account; "
            "2) if the account is the same person, let the next sync match it (or hard-match it); otherwise "
            "remove the quarantined duplicate; 3) run a delta sync and check the match; 4) give the roles back.")
    _runbook(b, F, target=None, text=text,
             why="Admin-role conflicts are never automated: removing and restoring roles is a privileged change a "
                 "person must own, and a wrong match hands an administrator account to another person.")


def _hard_match_blocked(ctx: Any, opts: Any, b: Sink, F: _F) -> None:
    holder = F.holder or {}
    anchor = (F.source or {}).get("immutable_id") or (F.obj or {}).get("on_premises_immutable_id") or F.value
    obj = F.obj or {}
    name = F.attrs("holder").get("userPrincipalName") or holder.get("display_name") or holder.get("id") \
        or (f"{obj.get('user_principal_name') or obj.get('display_name')} ({obj.get('id')})" if obj.get("id")
            else "the cloud account")
    text = (f"The on-prem object {F.dn or F.who()} has the anchor {anchor}, which equals the immutable id of "
            f"{name}, but the tenant blocks takeover through hard match "
            "(blockCloudObjectTakeoverThroughHardMatchEnabled). If that account really is this object's: "
            "1) confirm the names, roles and licences of both sides; 2) turn the flag off "
            "(Update-MgDirectoryOnPremiseSynchronization, features.blockCloudObjectTakeoverThroughHardMatchEnabled "
            "= false); 3) run a delta sync and check the join; 4) turn the flag back on at once. RISK: while the "
            "flag is off, ANY on-prem object whose anchor equals a cloud account's immutable id takes that "
            "account over, administrators included: keep the window minutes long.")
    _runbook(b, F, target=None, text=text,
             why="A blocked hard match is never automated: clearing the flag opens a tenant-wide takeover window.")


def _service_error(ctx: Any, opts: Any, b: Sink, F: _F) -> None:
    origin = (F.f.get("conflict") or {}).get("origin") or "a service"
    b.warnings.append(f"finding {F.id}: {origin} reported {F.category or 'an error'} on {F.who()}"
                      + (f": {F.description}" if F.description else "")[:500] + "; reported only, no step planned")


# --------------------------------------------------------------------------- orphans: the cloud path (beta)


def _orphan_via_cloud(ctx: Any, opts: Any, b: Sink, F: _F) -> bool:
    """Move the orphan's source of authority to the cloud and delete it through Graph. False: not applicable
    (the planner's ADSyncTools path runs instead)."""
    holder = F.holder
    htype = str((holder or {}).get("type") or "")
    if not holder or htype not in ("user", "group"):
        return False  # contacts cannot be deleted through Graph
    h = F.attrs("holder")
    if _possibly_original(F):
        return False  # the planner re-anchors the source onto the original account instead
    remove_orphan_via_cloud(b, F.id, _state(ctx, str(holder["id"]), htype, h), h, F.value, opts,
                            evidence="no supplied on-prem object carries its anchor")
    return True


def remove_orphan_via_cloud(b: Sink, fid: str, holder: TargetState, attrs: Mapping[str, Any], value: str, opts: Any,
                            *, evidence: str, possibly_original: bool = False) -> None:
    """The steps that remove an orphaned holder without ADSyncTools (``plan --orphans cloud``): move its source of
    authority to the cloud (beta), delete it through Graph, purge it when the guards allow. The caller has already
    decided it is an orphan on positive evidence; every step still asks the target's guards."""
    for kind in (StepKind.SET_CLOUD_MANAGED, StepKind.DELETE_OBJECT):
        v = may_write(kind, holder)
        if not v.ok:
            b.refuse(fid, str(v.guard), v.reason)
            return
    anchor = attrs.get("onPremisesImmutableId")
    target = {"type": holder.type, "id": holder.id}
    holds = holds_expect(attrs, value)
    soa = b.add(StepKind.SET_CLOUD_MANAGED, Executor.GRAPH, target, finding=fid,
                expect={"onPremisesImmutableId": anchor, "onPremisesSyncEnabled": True, **holds},
                change={"isCloudManaged": True}, undo={"isCloudManaged": False},
                why="BETA API (Graph /beta onPremisesSyncBehavior; subject to change, not supported by Microsoft "
                    "for production): move the orphan's source of authority to the cloud, so Graph may delete "
                    "it without ADSyncTools and a Global Administrator password session. Needs "
                    f"{'User' if holder.type == 'user' else 'Group'}-OnPremisesSyncBehavior.ReadWrite.All.")
    rm = b.add(StepKind.DELETE_OBJECT, Executor.GRAPH, target, finding=fid, after=[soa],
               expect={"onPremisesImmutableId": anchor, **holds},
               why=f"Delete the orphaned holder ({evidence}) to the recycle bin; undo restores it.")
    verdict = may_purge(holder, allow_purge=bool(getattr(opts, "allow_purge", False)),
                        possibly_original=possibly_original)
    if not verdict.ok:
        b.warnings.append(f"finding {fid}: the plan stops at the recycle bin: {verdict.reason}")
        return
    b.add(StepKind.PURGE_DELETED, Executor.GRAPH, {"type": "deleted", "id": holder.id, "object": holder.type},
          finding=fid, after=[rm], expect={"deleted": True, "onPremisesImmutableId": anchor},
          why="IRREVERSIBLE: purge the deleted orphan; a soft-deleted holder still blocks the value.")


def orphan_via_cloud(ctx: Any, opts: Any, b: Sink, f: Mapping[str, Any], detail: Mapping[str, Any]) -> bool:
    """The planner's orphan remedy with ``--orphans cloud``, called only after its evidence checks (anchor,
    creation dates, coverage by a complete, anchored source). False: not applicable here."""
    return _orphan_via_cloud(ctx, opts, b, _F(f, detail))


def _possibly_original(F: _F) -> bool:
    h, o = F.attrs("holder"), F.attrs("object")
    older = bool(h.get("createdDateTime") and o.get("createdDateTime") and h["createdDateTime"] < o["createdDateTime"])
    return older and ((h.get("licences") or 0) > 0 or bool(h.get("mail") or h.get("proxyAddresses")))


# --------------------------------------------------------------------------- Cloud Sync (no ADSyncTools, no scheduler)


def cloud_sync_only(f: Mapping[str, Any]) -> bool:
    """The conflict was reported by Entra Cloud Sync and by no origin of Entra Connect Sync (connect, health):
    its remedies may use neither ADSyncTools nor Set-ADSyncScheduler (Connect Sync tools)."""
    origins = (f.get("conflict") or {}).get("origins") or [(f.get("conflict") or {}).get("origin")]
    return "cloud_sync" in origins and not {"connect", "health"} & set(origins)


def _provision_text(dn: str | None) -> str:
    return ("Cloud Sync: in the Entra admin center open Entra Connect > Cloud Sync > the configuration > "
            f"Provision on demand, and provision {dn or 'the on-prem object'} (or wait for the next cycle, every "
            "2 minutes); then scan again.")


def cloud_sync_twin(b: Sink, fid: str, *, prop: str, mode: str | None, has_duplicate: bool, source_dn: str | None,
                    stamp: Callable[[], str]) -> None:
    """The twin merge for a Cloud Sync conflict: no scheduler pause and no ADSyncTools. Hard match stamps the
    anchor on the twin (``stamp`` plans it), then Cloud Sync provisions the object; with hard match blocked,
    Cloud Sync soft-matches on the primary SMTP address only, never on the UPN."""
    if has_duplicate:
        b.refuse(fid, "cloud_sync_duplicate", "Cloud Sync created a duplicate that holds the source's anchor; without "
                 "ADSyncTools it is removed by moving its on-prem source out of the Cloud Sync scope (then it is "
                 "deleted), after which this merge can be planned: scan again")
        return
    if mode == "hard":
        last = stamp()
        why = "Cloud Sync joins the source to the twin that now carries its anchor (hard match)."
    elif mode == "soft" and prop != "UserPrincipalName":
        b.warnings.append(f"finding {fid}: hard match is blocked; Cloud Sync soft-matches on the primary SMTP "
                          "address at its next cycle")
        last = None
        why = "Cloud Sync soft-matches the source to the twin on the primary SMTP address."
    else:
        b.refuse(fid, "cloud_sync_no_upn_soft_match", "hard match is blocked and Cloud Sync soft-matches on the "
                 "primary SMTP address only, never on the UPN: clear blockCloudObjectTakeoverThroughHardMatchEnabled "
                 "while the merge runs (see the blocked-hard-match runbook), then plan again")
        return
    b.add(StepKind.RUN_DELTA_SYNC, Executor.MANUAL, None, finding=fid, after=[last] if last else [],
          change={"text": _provision_text(source_dn)}, why=why)


def cloud_sync_refusal(b: Sink, fid: str, what: str) -> None:
    """A Connect Sync remedy (ADSyncTools, the scheduler) asked for a Cloud Sync conflict: refused, with the way."""
    b.refuse(fid, "cloud_sync_no_adsynctools", f"{what} needs ADSyncTools, which Entra Cloud Sync does not have: "
             "move the on-prem source out of the Cloud Sync scope (the object is then deleted), or plan with "
             "--orphans cloud where the holder is an orphan")


# --------------------------------------------------------------------------- dispatch


_REMEDIES: dict[str, Callable[[Any, Any, Sink, _F], None]] = {
    "data_validation": _data_validation,
    "large_attribute": _large_attribute,
    "federated_domain_change": _federated_domain_change,
    "admin_role_conflict": _admin_role_conflict,
    "hard_match_blocked": _hard_match_blocked,
    "service_error": _service_error,
}
HANDLED = frozenset(_REMEDIES)


def plan_remedy(f: Mapping[str, Any], detail: Mapping[str, Any], ctx: Any, opts: Any, b: Sink) -> bool:
    """Plan ``f`` when it is one of this module's scenarios (True); False leaves it to the planner."""
    scenario = str(f.get("scenario"))
    remedy = _REMEDIES.get(scenario)
    if remedy is None:
        return False
    remedy(ctx, opts, b, _F(f, detail))
    return True
