"""PURE: provisioning errors x cloud objects x on-prem objects -> findings.

One pass over the cloud objects collects the holders of every conflicting value
(hash lookups on the wanted values only), one pass over the on-prem objects
builds the link indexes, then every error is classified: O(objects + errors).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from .anchors import dn_domain, dn_is_under, guid_to_immutable_id, normalize_dn
from .model import (
    DUPLICATE,
    ORIGINS,
    PROXY,
    UPN,
    CloudObject,
    CloudSnapshot,
    Coverage,
    ErrorRecord,
    Finding,
    Holder,
    Keep,
    ObjectKind,
    OnPremObject,
    OnPremSource,
    ProvisioningError,
    Scenario,
    SourceRef,
    fold,
    normalize_property,
)

__all__ = [
    "match",
    "finding_id",
    "upn_origin",
    "UpnOrigin",
    "decide_keep",
    "KeepDecision",
    "OnPremIndex",
    "REMEDIES",
    "cloud_values",
    "holds_any",
    "uncovered_reason",
    "forest_warnings",
    "nature_of",
    "role_holders",
    "CATEGORY_NATURES",
]

ATTR_UPN = "userPrincipalName"
ATTR_MAIL = "mail"
ATTR_PROXY = "proxyAddresses"
_ATTR_ORDER = (ATTR_UPN, ATTR_MAIL, ATTR_PROXY)

REMEDIES: dict[Scenario, str] = {
    Scenario.CLOUD_ONLY_TWIN: (
        "Merge: the cloud-only object is probably the same recipient created before sync. "
        "Hard- or soft-match it to the on-prem source (after checking roles, names and "
        "userType), then let sync run."),
    Scenario.CLOUD_ONLY_OTHER_TYPE: (
        "Remove the value from the cloud-only holder (Exchange Online), or rename one of them."),
    Scenario.ONPREM_DUPLICATE: (
        "Two on-prem objects carry the value: fix it on-prem, keeping it on the object that "
        "should own it, then run a delta sync."),
    Scenario.ORPHANED_HOLDER: (
        "The holder is a leftover of a re-created AD object (or a reinstall/out-of-scope delete): "
        "re-anchor the source onto it to keep the original account, or remove the orphan."),
    Scenario.UNVERIFIED_HOLDER: (
        "The holder is synced from a forest or OU that was not supplied: supply that on-prem "
        "source to tell an orphan from a duplicate. Never delete on this evidence."),
    Scenario.DELETED_HOLDER: (
        "Only recycle-bin objects hold the value: purge them (or restore the one that is real)."),
    Scenario.NO_HOLDER: (
        "Nobody holds the value any more: the hourly quarantine job restores it. "
        "Re-check after about 1 hour plus a sync cycle."),
    Scenario.DATA_VALIDATION: (
        "The value is malformed for Entra (characters, format or an unverified domain): fix it on-prem "
        "with check-onprem's rule and proposed value, then let sync run."),
    Scenario.LARGE_ATTRIBUTE: (
        "Too many or too large values: remove stale values on-prem (expired certificates first), "
        "then let sync run."),
    Scenario.ADMIN_ROLE_CONFLICT: (
        "Entra never soft-matches a cloud account that holds a directory role: a manual runbook "
        "(remove the roles, match or delete, sync, restore the roles). Never automated."),
    Scenario.HARD_MATCH_BLOCKED: (
        "The anchor equals a cloud object's immutable id but takeover through hard match is blocked: "
        "manual, clear the block only for the takeover window, with the risk stated."),
    Scenario.FEDERATED_DOMAIN_CHANGE: (
        "The UPN moved between federated domains: set the cloud UPN to the onmicrosoft.com address "
        "first; the next sync applies the new one."),
    Scenario.SERVICE_ERROR: "Reported with its parsed description: a service (Exchange Online) error, not a sync duplicate.",
    Scenario.UNSUPPORTED: "Reported as is: this error category is not a duplicate-attribute conflict.",
}

# The origins' error words -> how the matcher classifies them (case-insensitive).
# Duplicates are classified by their holders; the rest have their own scenario.
CATEGORY_NATURES: dict[str, str] = {
    **{k: DUPLICATE for k in (
        "propertyconflict", "attributevaluemustbeunique", "quarantinedattributevaluemustbeunique",
        "invalidsoftmatch", "objecttypemismatch", "duplicateattributeerror", "duplicateattribute",
        "azureactivedirectoryduplicateuserprincipalname", "azureactivedirectoryduplicateproxyaddress",
        "uniquenessconstraint", "duplicatevalue", "proxyaddressinuse")},
    **{k: Scenario.HARD_MATCH_BLOCKED.value for k in ("invalidhardmatch",)},
    **{k: Scenario.DATA_VALIDATION.value for k in (
        "identitydatavalidationfailed", "datavalidationfailed", "datavalidationerror", "datavalidation")},
    **{k: Scenario.LARGE_ATTRIBUTE.value for k in (
        "largeobject", "exceededallowedlength", "largeattribute")},
    **{k: Scenario.FEDERATED_DOMAIN_CHANGE.value for k in (
        "federateddomainchangeerror", "federateddomainchange")},
    **{k: Scenario.ADMIN_ROLE_CONFLICT.value for k in (
        "existingadminroleconflict", "existing admin role conflict", "adminroleconflict")},
    **{k: Scenario.SERVICE_ERROR.value for k in ("serviceerror", "serviceprovisioningerror")},
}


def nature_of(err: ProvisioningError) -> str | None:
    """``DUPLICATE``, a ``Scenario`` value, or ``None`` (unsupported) for one error."""
    if err.nature:
        return err.nature
    return CATEGORY_NATURES.get((err.category or "").strip().casefold())


def role_holders(snapshot: CloudSnapshot) -> set[str] | None:
    """Principal ids with an active directory role (role-assignable groups expanded); None when unknown."""
    if not snapshot.roles_known:
        return None
    direct = {m for members in snapshot.directory_role_members.values() for m in members}
    direct |= {str(a.get("principalId")) for a in (snapshot.role_assignments or ()) if a.get("principalId")}
    out = set(direct)
    for pid in direct:
        out.update(snapshot.group_members.get(pid, ()))
    return out


def finding_id(tenant_id: str, object_id: str, prop: str, value: str) -> str:
    """Stable id: the same conflict gets the same id on every run (never the scenario)."""
    key = "|".join((tenant_id.casefold(), object_id.casefold(), normalize_property(prop), fold(value)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


def cloud_values(obj: CloudObject) -> Iterable[tuple[str, str]]:
    """(attribute, folded value) pairs an object holds: UPN, mail and SMTP proxies only."""
    if obj.user_principal_name:
        yield ATTR_UPN, fold(obj.user_principal_name)
    if obj.mail:
        yield ATTR_MAIL, fold(obj.mail)
    for p in obj.proxy_addresses:
        if p[:5].lower() == "smtp:":
            yield ATTR_PROXY, fold(p)


def holds_any(obj: CloudObject, wanted: set[str] | frozenset[str]) -> bool:
    """Whether one of ``cloud_values(obj)`` is in ``wanted`` (spelled out, :func:`fold` too: it runs for every
    object of a tenant, twice in a scan)."""
    for v in (obj.user_principal_name, obj.mail):
        if v:
            v = v.strip()
            if v[4:5] == ":" and v[:5].lower() == "smtp:":
                v = v[5:].strip()
            if v.casefold() in wanted:
                return True
    for p in obj.proxy_addresses:
        # fold(p) for an SMTP proxy: its own first five characters are the prefix, so p.strip() keeps them there
        if p[:5].lower() == "smtp:" and p[5:].strip().casefold() in wanted:
            return True
    return False


def onprem_values(obj: OnPremObject) -> set[str]:
    """The folded UPN, mail and SMTP addresses of an on-prem object: what can collide with a cloud value."""
    vals = set()
    if obj.user_principal_name:
        vals.add(fold(obj.user_principal_name))
    if obj.mail:
        vals.add(fold(obj.mail))
    for p in obj.smtp_addresses():
        vals.add(fold(p))
    return vals


# --------------------------------------------------------------------------- DAR / MOERA

_DAR = re.compile(r"^(?P<prefix>.+?)(?P<digits>\d{4})@(?P<domain>[^@]+)$")


@dataclass(frozen=True, slots=True)
class UpnOrigin:
    """What a UPN at the initial domain is: ``dar_rename``, ``moera`` or ``normal``."""

    kind: str
    original: str | None
    explanation: str


def upn_origin(obj: CloudObject, initial_domain: str | None) -> UpnOrigin:
    upn = obj.user_principal_name or ""
    local, _, domain = upn.rpartition("@")
    if not upn or not initial_domain or domain.casefold() != initial_domain.casefold():
        return UpnOrigin("normal", None, "UPN is not at the initial onmicrosoft.com domain.")
    upn_errors = [e for e in obj.errors if e.normalized_property == UPN]
    m = _DAR.match(upn)
    if m and upn_errors:
        prefix = m.group("prefix").casefold()
        for e in upn_errors:
            if fold(e.value).partition("@")[0] == prefix:
                return UpnOrigin(
                    "dar_rename", e.value,
                    f"DAR quarantine rename: Entra replaced {e.value} with {upn} "
                    f"(prefix + 4 digits @ {initial_domain}) because another object holds it.")
    if not upn_errors and obj.mail_nickname and local.casefold() == obj.mail_nickname.casefold():
        return UpnOrigin(
            "moera", None,
            f"MOERA fallback, no quarantine: {upn} is mailNickname@{initial_domain}, which Entra "
            "uses when the on-prem UPN suffix is not a verified domain. Verify the domain or fix "
            "the on-prem UPN suffix; there is no conflict to resolve.")
    if m and not upn_errors:
        return UpnOrigin(
            "normal", None,
            "Looks like prefix + 4 digits at the initial domain but the object carries no "
            "UserPrincipalName provisioning error: no quarantine is recorded.")
    return UpnOrigin("normal", None, f"UPN at the initial domain {initial_domain}; no quarantine recorded.")


# --------------------------------------------------------------------------- on-prem indexes


@dataclass(slots=True)
class OnPremIndex:
    sources: Sequence[OnPremSource]
    by_anchor: dict[str, OnPremObject] = field(default_factory=dict)
    by_guid_anchor: dict[str, OnPremObject] = field(default_factory=dict)
    by_sid: dict[str, OnPremObject] = field(default_factory=dict)
    _by_dn: dict[tuple[str, ...], list[OnPremObject]] | None = None
    contacts_by_smtp: dict[str, list[OnPremObject]] = field(default_factory=dict)
    by_value: dict[str, list[OnPremObject]] = field(default_factory=dict)
    by_guid: dict[str, OnPremObject] = field(default_factory=dict)

    @classmethod
    def build(cls, sources: Sequence[OnPremSource], wanted: set[str] | None = None) -> "OnPremIndex":
        idx = cls(sources)
        for src in sources:
            for o in src.objects:
                a = o.anchor
                if a:
                    idx.by_anchor.setdefault(a, o)
                if o.object_sid:
                    idx.by_sid.setdefault(o.object_sid.upper(), o)
                if o.object_guid:
                    idx.by_guid.setdefault(o.object_guid.casefold(), o)
                vals = onprem_values(o)
                if o.object_class == "contact":
                    for v in vals:
                        idx.contacts_by_smtp.setdefault(v, []).append(o)
                if wanted is not None:
                    for v in vals & wanted:
                        idx.by_value.setdefault(v, []).append(o)
        return idx

    @property
    def by_dn(self) -> dict[tuple[str, ...], list[OnPremObject]]:
        """DN index, built on first use (only evidence lookups need it)."""
        if self._by_dn is None:
            self._by_dn = {}
            for src in self.sources:
                for o in src.objects:
                    self._by_dn.setdefault(normalize_dn(o.dn), []).append(o)
        return self._by_dn

    def coverage(self, obj: CloudObject) -> Coverage | None:
        """The source whose scope holds ``obj``: DN under its base DN; else domain equals the base DN's domain.

        When several do, the first that can decide absence (anchored for the
        object's kind and complete) wins; None when no supplied source's scope
        holds the object.
        """
        found: Coverage | None = None
        for src in self.sources:
            if not src.base_dn:
                continue
            if obj.dn:
                inside = dn_is_under(obj.dn, src.base_dn)
            else:
                inside = bool(obj.domain_name) and dn_domain(src.base_dn) == (obj.domain_name or "").casefold()
            if not inside:
                continue
            c = Coverage(src.label, src.anchored(obj.kind.value), src.complete)
            if c.decisive:
                return c
            found = found or c
        return found

    def covers(self, obj: CloudObject) -> bool:
        """Spec "covers", narrowed to evidence that can decide: a source covers only what it can link."""
        c = self.coverage(obj)
        return c is not None and c.decisive

    def link(self, obj: CloudObject, *, value: str | None = None,
             exclude: OnPremObject | None = None) -> OnPremObject | None:
        """The on-prem object behind a cloud object, by the rule for its type."""
        if obj.kind is ObjectKind.USER:
            return self.by_anchor.get(obj.immutable_id) if obj.immutable_id else None
        if obj.kind is ObjectKind.GROUP:
            return self.by_sid.get(obj.sid.upper()) if obj.sid else None
        keys = [value] if value else []
        keys += [fold(a) for a in obj.smtp_addresses()]
        if obj.mail:
            keys.append(fold(obj.mail))
        for k in keys:
            for o in self.contacts_by_smtp.get(k, ()):
                if o is not exclude:
                    return o
        return None

    def recreated_evidence(self, obj: CloudObject) -> list[str]:
        """Same DN or SID on-prem with another anchor: evidence, never a link."""
        out = []
        seen: set[str] = set()
        if obj.dn:
            for o in self.by_dn.get(normalize_dn(obj.dn), ()):
                if o.anchor != obj.immutable_id:
                    seen.add(o.dn)
                    out.append(f"re-created in AD: {o.dn} has the same DN but a new anchor "
                               f"(objectGUID {o.object_guid}; cloud immutable id {obj.immutable_id})")
        if obj.sid:
            same_sid = self.by_sid.get(obj.sid.upper())
            if same_sid is not None and same_sid.dn not in seen and (obj.kind is not ObjectKind.GROUP):
                out.append(f"same SID {obj.sid} on-prem at {same_sid.dn} with another anchor")
        return out


def _ref(o: OnPremObject | None) -> SourceRef | None:
    if o is None:
        return None
    return SourceRef(dn=o.dn, object_guid=o.object_guid, immutable_id=o.anchor, source=o.source)


# --------------------------------------------------------------------------- keep / lose


@dataclass(frozen=True, slots=True)
class KeepDecision:
    keep: Keep
    reasons: tuple[str, ...]


def _value_matches_identity(o: OnPremObject, value: str) -> bool:
    local = fold(value).partition("@")[0]
    names = [o.mail_nickname, o.sam_account_name]
    if o.given_name and o.sn:
        names.append(f"{o.given_name}.{o.sn}")
    return any(n and n.casefold() == local for n in names)


def _label(o: OnPremObject) -> str:
    return o.dn


def decide_keep(value: str, a: OnPremObject, b: OnPremObject, *,
                a_cloud: CloudObject | None = None, b_cloud: CloudObject | None = None,
                a_role: Keep = Keep.SOURCE, b_role: Keep = Keep.HOLDER) -> KeepDecision:
    """Which of two on-prem objects should keep ``value``; the first separating criterion decides.

    (1) its cloud object holds the value now and has a licence or a mailbox;
    (2) enabled over disabled; (3) the value matches its own mailNickname /
    sAMAccountName / given.surname; (4) older whenCreated. When (1) and (2) tie
    and (3) and (4) disagree: undecided, with the evidence.
    """
    v = fold(value)

    def c1(o: OnPremObject, c: CloudObject | None) -> bool:
        holds = c is not None and any(val == v for _, val in cloud_values(c))
        return holds and ((c is not None and c.license_count > 0) or o.has_mailbox)

    r1a, r1b = c1(a, a_cloud), c1(b, b_cloud)
    if r1a != r1b:
        win, lose = (a, b) if r1a else (b, a)
        return KeepDecision(a_role if r1a else b_role, (
            f"{_label(win)} keeps {value}: its cloud object holds the value now and has a licence "
            f"or mailbox; {_label(lose)} does not.",))
    da, db = a.disabled, b.disabled
    if da is not None and db is not None and da != db:
        win = b if da else a
        return KeepDecision(b_role if da else a_role, (
            f"{_label(win)} keeps {value}: it is enabled and the other account is disabled "
            "(userAccountControl).",))
    m_a, m_b = _value_matches_identity(a, value), _value_matches_identity(b, value)
    c3 = None if m_a == m_b else (a_role if m_a else b_role)
    c4 = None
    if a.when_created and b.when_created and a.when_created != b.when_created:
        c4 = a_role if a.when_created < b.when_created else b_role
    ev = []
    if c3 is not None:
        ev.append(f"the value matches the own name of the {c3.value} "
                  f"({_label(a if c3 == a_role else b)}: mailNickname, sAMAccountName or given.surname)")
    if c4 is not None:
        ev.append(f"the {c4.value} is older (whenCreated {a.when_created if c4 == a_role else b.when_created})")
    if c3 is not None and c4 is not None and c3 != c4:
        return KeepDecision(Keep.UNDECIDED, tuple(
            ["undecided: licence/mailbox and enabled state tie, and the name and age evidence "
             "disagree"] + ev))
    if c3 is not None:
        return KeepDecision(c3, (f"{ev[0]}, so it keeps {value} (licence and enabled state tie).",))
    if c4 is not None:
        return KeepDecision(c4, (f"{ev[-1]}, so it keeps {value} (licence, enabled state and "
                                 "name evidence tie).",))
    return KeepDecision(Keep.UNDECIDED, (
        "undecided: no evidence separates the two objects (licence, mailbox, enabled state, "
        "name and whenCreated all tie or are unknown)",))


# --------------------------------------------------------------------------- matching


def _same_kind(prop: str, attrs: Sequence[str]) -> bool:
    if prop == UPN:
        return ATTR_UPN in attrs
    return ATTR_PROXY in attrs or ATTR_MAIL in attrs


def _holders(err_obj: CloudObject | None, prop: str, value: str,
             index: dict[str, dict[str, tuple[CloudObject, set[str]]]]) -> list[tuple[CloudObject, tuple[str, ...], bool]]:
    found = index.get(fold(value), {})
    out = []
    for oid, (obj, attrs) in found.items():
        if err_obj is not None and oid == err_obj.id:
            continue
        ordered = tuple(a for a in _ATTR_ORDER if a in attrs)
        out.append((obj, ordered, _same_kind(prop, ordered)))
    out.sort(key=lambda t: (t[0].deleted, not t[2], t[0].id))
    return out


def _who(obj: CloudObject) -> str:
    return f"{obj.kind.value} {obj.user_principal_name or obj.mail or obj.display_name} ({obj.id})"


_NATURE_REASONS = {
    Scenario.DATA_VALIDATION: "the value is malformed for Entra (data validation)",
    Scenario.LARGE_ATTRIBUTE: "the object has too many or too large values (large attribute)",
    Scenario.ADMIN_ROLE_CONFLICT: "the origin reports an existing admin role conflict",
    Scenario.HARD_MATCH_BLOCKED: "the anchor equals a cloud object's immutable id, but takeover through hard match is blocked",
    Scenario.FEDERATED_DOMAIN_CHANGE: "the UPN suffix moved between federated domains",
    Scenario.SERVICE_ERROR: "a service error that is not a duplicate",
}


def _classify(err: ProvisioningError, holders: Sequence[Holder], err_obj: CloudObject | None,
              onprem: OnPremIndex, linked: list[OnPremObject | None],
              roles: set[str] | None = None) -> tuple[Scenario, list[str]]:
    nature = nature_of(err)
    what = f"{err.origin} error {err.category!r}"
    if nature is None:
        return Scenario.UNSUPPORTED, [f"{what} is not a duplicate-attribute conflict or another known "
                                      "category; reported with its raw fields"]
    if nature != DUPLICATE:
        scenario = Scenario(nature)
        why = [f"{what}: {_NATURE_REASONS.get(scenario, nature)}"]
        if err.description:
            why.append(f"description: {err.description}")
        return scenario, why
    if not err.value:
        return Scenario.UNSUPPORTED, [f"{what} names no value, and none of the on-prem object's UPN, mail or SMTP "
                                      "values is held by another cloud object; reported as is"]
    if err.normalized_property not in (UPN, PROXY):
        return Scenario.UNSUPPORTED, [f"{what} on {err.property!r}: a duplicate of an attribute that is not a "
                                      "UPN or an address; reported with its raw fields"]
    if not holders:
        return Scenario.NO_HOLDER, ["no other user, group or contact (active or deleted) holds "
                                    f"{err.value}"]
    first = holders[0].object
    who = _who(first)
    if first.deleted:
        return Scenario.DELETED_HOLDER, [f"only recycle-bin objects hold the value; first: {who}, "
                                         f"deleted {first.deleted_at}"]
    if not first.synced:
        if roles is not None and first.kind is ObjectKind.USER and first.id in roles:
            return Scenario.ADMIN_ROLE_CONFLICT, [
                f"holder {who} is active, cloud-mastered and holds a directory role",
                "Entra never soft-matches an account with a directory role"]
        kind = err_obj.kind if err_obj is not None else None
        if kind is None or first.kind is kind:
            return Scenario.CLOUD_ONLY_TWIN, [
                f"holder {who} is active and cloud-mastered (onPremisesSyncEnabled is not true)",
                f"it is of the same type as the error object ({first.kind.value}): probably the "
                "same recipient, created in the cloud before sync"]
        return Scenario.CLOUD_ONLY_OTHER_TYPE, [
            f"holder {who} is active and cloud-mastered (onPremisesSyncEnabled is not true)",
            f"it is a {first.kind.value}, the error object is a {kind.value}"]
    if linked[0] is not None:
        return Scenario.ONPREM_DUPLICATE, [
            f"holder {who} is synced and linked to on-prem {linked[0].dn}",
            "two on-prem objects carry the value"]
    cov = onprem.coverage(first)
    if cov is not None and cov.decisive:
        return Scenario.ORPHANED_HOLDER, [
            f"holder {who} is synced but its anchor matches nothing in the supplied on-prem data, "
            "which covers its location "
            f"({first.dn or first.domain_name})"]
    where = first.dn or first.domain_name or "an unknown location"
    if cov is not None:
        return Scenario.UNVERIFIED_HOLDER, [
            f"holder {who} is synced from {where}, inside {cov.source}, but that source "
            f"{uncovered_reason(cov, first.kind.value)}: it cannot prove the holder is gone on-prem, "
            "so an orphan cannot be told from a duplicate"]
    return Scenario.UNVERIFIED_HOLDER, [
        f"holder {who} is synced from {where}, which no supplied on-prem source covers: "
        "cannot tell an orphan from a duplicate"]


def uncovered_reason(cov: Coverage | None, kind: str) -> str:
    """Why a holder's location is not decided by the supplied sources (stats and reasons)."""
    if cov is None:
        return "no supplied source covers its location"
    why = []
    if not cov.anchored:
        why.append(f"cannot link {kind}s (its {kind}s lack the link attribute)")
    if not cov.complete:
        why.append("is incomplete (cut off or a size limit hit)")
    return " and ".join(why)
@dataclass(slots=True)
class _Work:
    """One error to turn into a finding: its object, on-prem source and (property, value)."""

    err: ProvisioningError
    obj: CloudObject | None
    src: OnPremObject | None
    anchor: str | None  # the on-prem immutable id, for the object key of a null object
    record: ErrorRecord | None = None
    candidates: tuple[tuple[str, str], ...] = ()  # value named by nobody: try these
    from_onprem: bool = False


def _onprem_candidates(o: OnPremObject) -> list[tuple[str, str]]:
    out = []
    if o.user_principal_name:
        out.append((UPN, o.user_principal_name))
    if o.mail:
        out.append((PROXY, o.mail))
    out += [(PROXY, a) for a in o.smtp_addresses()]
    seen: set[str] = set()
    uniq = []
    for prop, v in out:
        if fold(v) and fold(v) not in seen:
            seen.add(fold(v))
            uniq.append((prop, v))
    return uniq


def _resolve(snapshot: CloudSnapshot, onprem_pre: OnPremIndex, by_id: dict[str, CloudObject],
             by_immutable: dict[str, CloudObject], rec: ErrorRecord) -> _Work:
    obj = by_id.get(rec.object_id) if rec.object_id else None
    anchor = rec.onprem_anchor
    if anchor is None and rec.onprem_guid:
        try:
            anchor = guid_to_immutable_id(rec.onprem_guid)
        except ValueError:
            anchor = None
    src = None
    if rec.onprem_guid:
        src = onprem_pre.by_guid.get(rec.onprem_guid.casefold())
    if src is None and anchor:
        src = onprem_pre.by_anchor.get(anchor)
    if obj is None:
        for a in (anchor, src.anchor if src else None):
            if a and a in by_immutable:
                obj = by_immutable[a]
                break
    if src is not None and src.anchor and rec.onprem_anchor is None:
        anchor = src.anchor
    w = _Work(rec.error, obj, src, anchor, rec)
    if not rec.error.value and nature_of(rec.error) == DUPLICATE:
        if src is not None:
            w.candidates, w.from_onprem = tuple(_onprem_candidates(src)), True
        else:
            w.candidates = tuple((normalize_property(p), v) for p, v in rec.candidates if v)
    return w


def match(snapshot: CloudSnapshot, sources: Sequence[OnPremSource] = ()) -> list[Finding]:
    """Link every sync error (every origin) to its holders and on-prem objects, classify it,
    and merge the same conflict reported by several origins into one finding."""
    err_objects = [o for o in snapshot.objects if o.errors and not o.deleted]
    works: list[_Work] = []
    pre = OnPremIndex.build(sources) if snapshot.error_records else None
    if snapshot.error_records:
        by_id = {o.id: o for o in snapshot.objects if not o.deleted}
        by_immutable = {o.immutable_id: o for o in snapshot.objects
                        if o.immutable_id and not o.deleted and o.kind is ObjectKind.USER}
        works = [_resolve(snapshot, pre, by_id, by_immutable, r) for r in snapshot.error_records]  # type: ignore[arg-type]
    wanted = {fold(e.value) for o in err_objects for e in o.errors if e.value}
    for w in works:
        if w.err.value:
            wanted.add(fold(w.err.value))
        wanted.update(fold(v) for _, v in w.candidates)
    wanted.discard("")
    holder_index: dict[str, dict[str, tuple[CloudObject, set[str]]]] = {}
    for obj in snapshot.objects:
        if not holds_any(obj, wanted):
            continue
        for attr, val in cloud_values(obj):
            if val in wanted:
                slot = holder_index.setdefault(val, {})
                entry = slot.get(obj.id)
                if entry is None:
                    slot[obj.id] = (obj, {attr})
                else:
                    entry[1].add(attr)
    onprem = OnPremIndex.build(sources, wanted)
    roles = role_holders(snapshot)
    findings: list[Finding] = []
    for obj in err_objects:
        src_obj = onprem.link(obj)
        for err in obj.errors:
            findings.append(_finding(snapshot, obj, err, src_obj, holder_index, onprem, roles=roles))
    for w in works:
        src_obj = w.src
        if w.obj is not None:
            src_obj = onprem.link(w.obj) or w.src
        extra = list(w.record.evidence) if w.record else []
        if w.record is not None and w.record.existing:
            extra.append("the origin names the other object: " + _describe_existing(w.record.existing))
        if w.record is not None and w.record.object_id and w.obj is None:
            extra.append(f"the origin names cloud object {w.record.object_id}, which the cloud data does not hold")
        if w.err.value or not w.candidates:
            findings.append(_finding(snapshot, w.obj, w.err, src_obj, holder_index, onprem,
                                     anchor=w.anchor, extra=extra, roles=roles, record=w.record))
            continue
        held = []
        for prop, v in w.candidates:
            others = [oid for oid in holder_index.get(fold(v), {}) if w.obj is None or oid != w.obj.id]
            if others:
                held.append((prop, v))
        where = "the on-prem object's" if w.from_onprem else "the failure's modified properties'"
        if not held:
            findings.append(_finding(snapshot, w.obj, w.err, src_obj, holder_index, onprem, anchor=w.anchor,
                                     extra=extra + [f"the error names no value; none of {where} values "
                                                    f"({', '.join(v for _, v in w.candidates)}) is held by "
                                                    "another cloud object"], roles=roles, record=w.record))
            continue
        for prop, v in held:
            err = ProvisioningError(
                category=w.err.category, property=prop, value=strip_value(v), occurred=w.err.occurred,
                origin=w.err.origin, nature=w.err.nature, description=w.err.description, code=w.err.code)
            findings.append(_finding(snapshot, w.obj, err, src_obj, holder_index, onprem, anchor=w.anchor,
                                     extra=extra + [f"the error names no value; {v} is one of {where} values "
                                                    "and another cloud object holds it"],
                                     roles=roles, record=w.record))
    merged = _merge(findings)
    merged.sort(key=lambda f: (f.object.id if f.object else "", f.property, fold(f.error.value), f.id))
    return merged


def strip_value(v: str) -> str:
    """A candidate value as an error would carry it: without its ``smtp:`` prefix."""
    return v[5:] if v[:5].lower() == "smtp:" else v


def _describe_existing(d: Mapping[str, Any]) -> str:
    keys = ("displayName", "objectType", "userPrincipalName", "mail", "distinguishedName", "sourceAnchor",
            "sourceOfAuthority")
    parts = [f"{k}={d[k]}" for k in keys if isinstance(d.get(k), (str, int)) and d.get(k) != ""]
    return ", ".join(parts) or "(no fields)"


def _origin_rank(origin: str) -> int:
    return ORIGINS.index(origin) if origin in ORIGINS else len(ORIGINS)


def _merge(findings: list[Finding]) -> list[Finding]:
    """One conflict, one finding: the same id from several origins becomes one finding listing them all."""
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.id, []).append(f)
    out = []
    for group in groups.values():
        if len(group) == 1:
            f = group[0]
            out.append(f if f.origins else replace(f, origins=(f.error.origin,)))
            continue
        group.sort(key=lambda f: (_origin_rank(f.error.origin), f.object is None))
        primary = group[0]
        origins = tuple(sorted({o for f in group for o in f.all_origins}, key=_origin_rank))
        evidence = tuple(dict.fromkeys(e for f in group for e in f.evidence))
        reasons = list(primary.reasons)
        extra = [r for f in group[1:] for r in f.reasons if r.startswith(_CLOUD_SYNC_SMTP_ONLY) and r not in reasons]
        extra.append("reported by " + ", ".join(origins) + ": one conflict, one finding")
        at = len(reasons) - 1 if reasons else 0
        reasons[at:at] = extra
        for f in group[1:]:
            if f.error.description and f.error.description != primary.error.description:
                evidence += (f"{f.error.origin} says: {f.error.description}",)
        out.append(replace(primary, origins=origins, evidence=evidence, reasons=tuple(reasons)))
    return out


def _object_key(obj: CloudObject | None, anchor: str | None) -> str:
    if obj is not None:
        return obj.id
    return f"onprem:{anchor or ''}"


_CLOUD_SYNC_SMTP_ONLY = (
    "Cloud Sync soft-matches on the SMTP proxy address only, never on the UPN: ")


def _finding(snapshot: CloudSnapshot, obj: CloudObject | None, err: ProvisioningError,
             src_obj: OnPremObject | None, holder_index: dict[str, dict[str, tuple[CloudObject, set[str]]]],
             onprem: OnPremIndex, *, anchor: str | None = None, extra: Sequence[str] = (),
             roles: set[str] | None = None, record: ErrorRecord | None = None) -> Finding:
    prop = err.normalized_property
    raw = _holders(obj, prop, err.value, holder_index) if err.value else []
    linked: list[OnPremObject | None] = []
    holders = []
    evidence: list[str] = list(extra)
    for h, attrs, same in raw:
        o = None
        if h.synced and not h.deleted:
            o = onprem.link(h, value=fold(err.value), exclude=src_obj)
            if o is None:
                evidence += onprem.recreated_evidence(h)
        linked.append(o)
        holders.append(Holder(object=h, matched_on=attrs, source=_ref(o), same_kind=same))
    if obj is not None and src_obj is None and obj.synced:
        evidence += onprem.recreated_evidence(obj)
        if onprem.sources:
            evidence.append(f"the error object's anchor {obj.immutable_id} matches no object in the "
                            "supplied on-prem data")
    if obj is None:
        name = (record.display_name if record else None) or (src_obj.dn if src_obj else None)
        evidence.append(f"no cloud object yet (the create failed): on-prem object {name or anchor}, "
                        f"immutable id {anchor}")
    scenario, reasons = _classify(err, holders, obj, onprem, linked, roles)
    keep = None
    if scenario is Scenario.ONPREM_DUPLICATE and src_obj is not None and linked[0] is not None:
        d = decide_keep(err.value, src_obj, linked[0], a_cloud=obj, b_cloud=holders[0].object)
        keep = d.keep
        reasons += d.reasons
    elif scenario is Scenario.ONPREM_DUPLICATE:
        keep = Keep.UNDECIDED
        reasons.append("undecided: the error object's own on-prem source was not supplied")
    if err.origin == "cloud_sync" and scenario is Scenario.CLOUD_ONLY_TWIN and holders:
        h0 = holders[0]
        if ATTR_PROXY in h0.matched_on:
            reasons.append(_CLOUD_SYNC_SMTP_ONLY + "the holder carries the value as an SMTP address, so "
                           "a soft match on it is possible once the guards pass")
        else:
            reasons.append(_CLOUD_SYNC_SMTP_ONLY + "the holder has the value only as "
                           f"{'/'.join(h0.matched_on)}, so Cloud Sync will not soft-match it; "
                           "merge by hard match (set the anchor) instead")
    original = None
    if obj is not None:
        origin = upn_origin(obj, snapshot.initial_domain)
        if origin.kind == "dar_rename":
            reasons.append(origin.explanation)
        original = origin.original
    reasons.append("usual remedy: " + REMEDIES[scenario])
    return Finding(
        id=finding_id(snapshot.tenant_id, _object_key(obj, anchor), prop, err.value),
        scenario=scenario,
        object=obj,
        error=err,
        source=_ref(src_obj),
        holders=tuple(holders),
        keep=keep,
        reasons=tuple(reasons),
        evidence=tuple(dict.fromkeys(evidence)),
        original_upn=original,
        coverage=onprem.coverage(holders[0].object) if holders else None,
        origins=(err.origin,),
    )


def holder_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.scenario.value] = counts.get(f.scenario.value, 0) + 1
    return counts


def forest_warnings(snapshot: CloudSnapshot, sources: Sequence[OnPremSource]) -> list[str]:
    """Warn when no supplied source's domain is one the tenant's synced objects come from.

    Compares the ``DC=`` domain of each source's base DN with the synced objects'
    ``onPremisesDomainName``: no overlap means a wrong forest or a test export.
    """
    if not sources:
        return []
    synced = {o.domain_name.casefold() for o in snapshot.objects if o.synced and o.domain_name}
    if not synced:
        return []
    mine = {d for s in sources if s.base_dn and (d := dn_domain(s.base_dn))}
    if any(d == m or d.endswith("." + m) or m.endswith("." + d) for d in synced for m in mine):
        return []
    have = ", ".join(sorted(mine)) or "no domain (no common base DN)"
    want = ", ".join(sorted(synced)[:5]) + (" …" if len(synced) > 5 else "")
    return [f"no supplied on-prem source is from a domain the tenant syncs: the sources hold {have}, the "
            f"tenant's synced objects come from {want} (wrong forest, or a test export?)"]
