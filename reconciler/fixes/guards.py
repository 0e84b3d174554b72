"""PURE: the guards, one layer that belongs to the target, not to a remedy (docs/safety.md).

Given what is known about one cloud object right now (:class:`TargetState`), the
guards say whether a write may touch it and, when not, why, in one sentence an
administrator can act on (:class:`Verdict`). The planner asks them for every step
it plans; apply asks them again immediately before each write, on a fresh read.

* :func:`may_write` — any write of any kind (rename, match, remove, delete, purge,
  restore, address change) onto a cloud object: refused for a holder of a directory
  role or of a PIM eligibility (directly, through a role-assignable group, scoped to
  an administrative unit, or a custom role), when that role data is not readable, and
  for an external (B2B) account.
* :func:`may_match` — a hard or soft match (or a re-anchor) onto a cloud account:
  everything :func:`may_write` requires, plus an internal member, empty anchors,
  names that agree, enabled accounts on both sides and tenant flags that allow it.
* :func:`may_purge` — a purge of a licensed or mailbox-holding object, or of one
  that may be the original, needs ``plan --allow-purge``.

``None`` always means "not readable", never "none": an unknown fact refuses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .steps import StepKind

__all__ = [
    "CLOUD_WRITES",
    "Flags",
    "OK",
    "SourceFacts",
    "TargetState",
    "Verdict",
    "display_names_agree",
    "external_reasons",
    "fold_name",
    "match_failures",
    "match_mode",
    "may_match",
    "may_purge",
    "may_write",
    "names_agree",
    "purge_concerns",
    "write_failures",
]

#: Kinds that write a cloud object (directly, or through the next sync for an on-prem change of its source).
CLOUD_WRITES = frozenset({
    StepKind.DELETE_OBJECT, StepKind.PURGE_DELETED, StepKind.RESTORE_DELETED, StepKind.SET_IMMUTABLE_ID,
    StepKind.SET_USER_PRINCIPAL_NAME, StepKind.REMOVE_PROXY_ADDRESS, StepKind.SET_PRIMARY_SMTP,
    StepKind.SET_CONSISTENCY_GUID, StepKind.REMOVE_SYNCED_OBJECT, StepKind.REMOVE_ATTRIBUTE_VALUE,
    StepKind.SET_CLOUD_MANAGED,
})
_ON_DELETED = frozenset({StepKind.PURGE_DELETED, StepKind.RESTORE_DELETED})


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    guard: str | None  # stable guard name; None when ok
    reason: str  # one sentence an admin can act on ("" when ok)

    def __bool__(self) -> bool:
        return self.ok


OK = Verdict(True, None, "")


def _no(guard: str, reason: str) -> Verdict:
    return Verdict(False, guard, reason)


# --------------------------------------------------------------------------- facts


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) and v != "" else None


def _names(v: Iterable[Any] | None) -> tuple[str, ...] | None:
    if v is None:
        return None
    return tuple(str(x) for x in v)


@dataclass(frozen=True, slots=True)
class TargetState:
    """What is known about one cloud object right now (a Graph read, or a scan's stored columns)."""

    id: str
    type: str  # "user" | "group" | "contact"
    deleted: bool = False
    user_principal_name: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    employee_id: str | None = None
    user_type: str | None = None  # "Member" | "Guest"
    creation_type: str | None = None  # "Invitation" => external
    external_user_state: str | None = None
    account_enabled: bool | None = None
    on_premises_sync_enabled: bool | None = None
    on_premises_immutable_id: str | None = None
    on_premises_object_identifier: str | None = None
    created: str | None = None  # createdDateTime; None when Graph has none (accounts from before mid-2018)
    licences: int | None = None
    mail: str | None = None
    proxy_addresses: tuple[str, ...] = ()
    roles: tuple[str, ...] | None = None  # active roles, every path; None = NOT READABLE
    eligible_roles: tuple[str, ...] | None = None  # PIM eligibility; None = not readable

    @classmethod
    def from_graph(cls, obj: Mapping[str, Any], *, roles: Iterable[Any] | None,
                   eligible_roles: Iterable[Any] | None, type: str | None = None,
                   deleted: bool | None = None) -> TargetState:
        """Graph JSON (or a scan's stored cloud column, which uses Graph's names) -> state.

        ``roles``/``eligible_roles``: what the role reads said about this object (``()`` = read, none;
        ``None`` = could not be read).
        """
        otype = type or _s(obj.get("type")) or _odata_type(obj) or "user"
        lic = obj.get("assignedLicenses")
        licences = len(lic) if isinstance(lic, list) else obj.get("licences")
        proxies = obj.get("proxyAddresses")
        if deleted is None:
            deleted = obj.get("deletedDateTime") is not None or obj.get("state") == "deleted" \
                or bool(obj.get("deleted") is True)
        enabled = obj.get("accountEnabled")
        sync = obj.get("onPremisesSyncEnabled")
        return cls(
            id=str(obj.get("id") or ""), type=otype, deleted=bool(deleted),
            user_principal_name=_s(obj.get("userPrincipalName")), display_name=_s(obj.get("displayName")),
            given_name=_s(obj.get("givenName")), surname=_s(obj.get("surname")),
            employee_id=_s(obj.get("employeeId")), user_type=_s(obj.get("userType")),
            creation_type=_s(obj.get("creationType")), external_user_state=_s(obj.get("externalUserState")),
            account_enabled=enabled if isinstance(enabled, bool) else None,
            on_premises_sync_enabled=sync if isinstance(sync, bool) else None,
            on_premises_immutable_id=_s(obj.get("onPremisesImmutableId")),
            on_premises_object_identifier=_s(obj.get("onPremisesObjectIdentifier")),
            created=_s(obj.get("createdDateTime")),
            licences=licences if isinstance(licences, int) and not isinstance(licences, bool) else None,
            mail=_s(obj.get("mail")),
            proxy_addresses=tuple(p for p in proxies if isinstance(p, str)) if isinstance(proxies, list) else (),
            roles=_names(roles), eligible_roles=_names(eligible_roles))

    @property
    def who(self) -> str:
        name = self.user_principal_name or self.display_name or self.mail
        mangled = self.id.replace("-", "")
        if self.deleted and name and mangled and name.startswith(mangled):  # Graph prefixes a deleted UPN
            name = name[len(mangled):]
        return f"{'deleted ' if self.deleted else ''}{self.type} {name} ({self.id})" if name \
            else f"{self.type} {self.id}"

    @property
    def may_hold_mailbox(self) -> bool:
        """A mail address or an SMTP proxy address: Exchange may hold a mailbox (or recipient) for it."""
        return bool(self.mail) or any(p[:5].lower() == "smtp:" for p in self.proxy_addresses)

    @property
    def licensed(self) -> bool:
        return (self.licences or 0) > 0


def _odata_type(obj: Mapping[str, Any]) -> str | None:
    t = _s(obj.get("@odata.type"))
    if not t:
        return None
    t = t.rpartition(".")[2].lower()
    return "contact" if t == "orgcontact" else t


@dataclass(frozen=True, slots=True)
class SourceFacts:
    """What a match relies on about its on-prem source (or, at apply time, what the plan recorded)."""

    given_name: str | None = None
    surname: str | None = None
    display_name: str | None = None
    employee_id: str | None = None
    enabled: bool | None = None  # None: not known (an export without userAccountControl)
    dn: str | None = None

    @classmethod
    def from_onprem(cls, attrs: Mapping[str, Any]) -> SourceFacts:
        """From a scan's stored on-prem column (AD names: givenName, sn, displayName, employeeID, enabled)."""
        enabled = attrs.get("enabled")
        return cls(given_name=_s(attrs.get("givenName")), surname=_s(attrs.get("sn") or attrs.get("surname")),
                   display_name=_s(attrs.get("displayName")),
                   employee_id=_s(attrs.get("employeeID") or attrs.get("employeeId")),
                   enabled=enabled if isinstance(enabled, bool) else None, dn=_s(attrs.get("distinguishedName")))

    @classmethod
    def from_expect(cls, expect: Mapping[str, Any]) -> SourceFacts:
        """From a match step's ``expect``: the names the plan found agreeing with the source."""
        return cls(given_name=_s(expect.get("givenName")), surname=_s(expect.get("surname")),
                   display_name=_s(expect.get("displayName")), employee_id=_s(expect.get("employeeId")))


@dataclass(frozen=True, slots=True)
class Flags:
    """The tenant's sync feature flags (``None`` = not readable) and what the match would use."""

    features: Mapping[str, Any] | None
    federated: bool = False  # the target's UPN domain is federated
    property: str = "UserPrincipalName"  # the attribute a soft match would join on


# --------------------------------------------------------------------------- may_write


def external_reasons(t: TargetState) -> list[str]:
    """Why ``t`` is an external (B2B) account; empty for an internal member, a group or a contact."""
    if t.type != "user":
        return []
    out = []
    if t.user_type is not None and t.user_type != "Member":
        out.append(f"userType {t.user_type!r}")
    if "#ext#" in (t.user_principal_name or "").lower():
        out.append("an #EXT# user principal name")
    if (t.creation_type or "").lower() == "invitation":
        out.append("creationType 'Invitation'")
    if t.external_user_state:
        out.append(f"externalUserState {t.external_user_state!r}")
    return out


def write_failures(kind: StepKind, t: TargetState) -> list[Verdict]:
    """Every guard a write of ``kind`` onto ``t`` fails (empty = allowed)."""
    if kind not in CLOUD_WRITES:
        return []
    out: list[Verdict] = []
    if t.roles is None:
        out.append(_no("roles_unknown", f"directory role holders could not be read, so {t.who} may be an "
                       "administrator: grant RoleManagement.Read.Directory and scan again"))
    elif t.roles:
        out.append(_no("holder_has_role", f"{t.who} holds directory role(s) {', '.join(t.roles)} (directly, "
                       "through a role-assignable group, scoped to an administrative unit or a custom role): "
                       "no write touches an administrator; remove the roles first, then plan again"))
    if t.eligible_roles is None:
        out.append(_no("eligibility_unknown", f"PIM role eligibility could not be read, so {t.who} may be "
                       "eligible for a directory role: grant RoleManagement.Read.Directory and scan again "
                       "(role eligibility (PIM) is not readable)"))
    elif t.eligible_roles:
        out.append(_no("holder_eligible_for_role", f"{t.who} is eligible (PIM) for directory role(s) "
                       f"{', '.join(t.eligible_roles)}: remove the eligibility first, then plan again"))
    ext = external_reasons(t)
    if ext:
        out.append(_no("external_account", f"{t.who} is an external account ({', '.join(ext)}): no write "
                       "touches a guest or B2B account; fix it by hand if it is really yours"))
    elif t.type == "user" and t.user_type is None:
        out.append(_no("user_type_unknown", f"{t.who} has no userType in the data, so it cannot be told from "
                       "an external account: scan again with this version"))
    if kind in _ON_DELETED and not t.deleted:
        out.append(_no("target_state", f"{t.who} is not in the recycle bin, so it cannot be "
                       f"{'purged' if kind is StepKind.PURGE_DELETED else 'restored'}"))
    elif kind not in _ON_DELETED and t.deleted:
        out.append(_no("target_state", f"{t.who} is in the recycle bin; only a purge or a restore applies"))
    return out


def may_write(kind: StepKind, target: TargetState) -> Verdict:
    """Whether a step of ``kind`` may write ``target`` (any kind; steps that touch no cloud object pass)."""
    fails = write_failures(kind, target)
    return fails[0] if fails else OK


def purge_concerns(target: TargetState, *, possibly_original: bool = False) -> list[str]:
    """Why purging ``target`` needs consent: licensed, may hold a mailbox, may be the original (empty: none)."""
    why = [w for w, on in (("it is licensed", target.licensed), ("it may hold a mailbox", target.may_hold_mailbox),
                           ("it may be the original account", possibly_original)) if on]
    if target.licences is None and target.type == "user":
        why.append("its licences are unknown")
    return why


def may_purge(target: TargetState, *, allow_purge: bool, possibly_original: bool = False) -> Verdict:
    """A purge of a licensed or mailbox-holding object, or one that may be the original, needs --allow-purge."""
    why = [] if allow_purge else purge_concerns(target, possibly_original=possibly_original)
    if not why:
        return OK
    return _no("purge_needs_allow_purge", f"{target.who} is not purged because {' and '.join(why)}: it stays "
               "in the recycle bin (restorable for 30 days, then Entra purges it); check it holds nothing to keep "
               "and plan again with --allow-purge to purge it now")


# --------------------------------------------------------------------------- names


def fold_name(value: str | None) -> str:
    """Case-folded, diacritics removed, whitespace collapsed ("Müller " == "muller")."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def _tokens(value: str | None) -> list[str]:
    return sorted(t for t in re.split(r"[\W_]+", fold_name(value)) if t)


def display_names_agree(a: str | None, b: str | None) -> bool:
    """Equal as words, in any order and punctuation ("Fischer, Lena" == "Lena Fischer"); both must be known."""
    ta, tb = _tokens(a), _tokens(b)
    return bool(ta) and ta == tb


def names_agree(source: SourceFacts, t: TargetState) -> tuple[bool, str]:
    """(agree, why not): given name and surname both present on both sides and equal, else display names.

    A display name present on both sides must agree too, and an employeeId present on both sides must be
    equal: a different person who shares an address is not a twin.
    """
    pairs = (("givenName", t.given_name, source.given_name), ("surname", t.surname, source.surname))
    if all(x and y for _, x, y in pairs):
        for name, x, y in pairs:
            if fold_name(x) != fold_name(y):
                return False, f"{name} differs: cloud {x!r} vs on-prem {y!r}"
        if t.display_name and source.display_name and not display_names_agree(t.display_name, source.display_name):
            return False, (f"displayName differs: cloud {t.display_name!r} vs on-prem {source.display_name!r} "
                           "although given name and surname agree")
    else:
        missing = [f"{side} {n}" for n, x, y in pairs for side, v in (("cloud", x), ("on-prem", y)) if not v]
        if not (t.display_name and source.display_name):
            return False, (f"the names cannot be compared: {', '.join(missing)} missing and no display name on "
                           "both sides")
        if not display_names_agree(t.display_name, source.display_name):
            return False, (f"{', '.join(missing)} missing, and displayName differs: cloud {t.display_name!r} vs "
                           f"on-prem {source.display_name!r}")
    if t.employee_id and source.employee_id and t.employee_id.strip().casefold() != \
            source.employee_id.strip().casefold():
        return False, f"employeeId differs: cloud {t.employee_id!r} vs on-prem {source.employee_id!r}"
    return True, ""


# --------------------------------------------------------------------------- may_match


def match_mode(flags: Flags, *, user: bool, assume_flags: bool) -> tuple[str | None, Verdict]:
    """("hard" | "soft" | None, verdict) from the tenant's sync feature flags."""
    feats = flags.features
    if feats is None:
        if not assume_flags:
            return None, _no("flags_unknown", "the tenant's sync feature flags are unknown (reading them needs "
                             "delegated Global Administrator); pass --assume-flags if you checked them")
        feats = {}
    if user and not feats.get("blockCloudObjectTakeoverThroughHardMatchEnabled"):
        return "hard", OK
    if not feats.get("blockSoftMatchEnabled") and (flags.property != "UserPrincipalName"
                                                   or feats.get("softMatchOnUpnEnabled")):
        return "soft", OK
    return None, _no("tenant_blocks_match", "the tenant blocks this match (blockCloudObjectTakeoverThroughHard"
                     "MatchEnabled / blockSoftMatchEnabled / softMatchOnUpnEnabled); clear the flag only while "
                     "the merge runs, then plan again")


def match_failures(source: SourceFacts, target: TargetState, flags: Flags, opts: Any = None, *,
                   reanchor: bool = False) -> list[Verdict]:
    """Every guard a match of ``source`` onto ``target`` fails (empty = allowed).

    ``reanchor``: the on-prem source takes over the target's existing anchor (an orphaned holder kept as the
    original), so the target's anchors are expected and the tenant's match flags do not apply.
    """
    allow_reanchor = bool(getattr(opts, "allow_reanchor", False))
    assume_flags = bool(getattr(opts, "assume_flags", False))
    kind = StepKind.SET_CONSISTENCY_GUID if reanchor else StepKind.SET_IMMUTABLE_ID
    out = write_failures(kind, target)  # roles, eligibility, external (userType not Member included), state
    if not reanchor:
        if target.on_premises_immutable_id and not (allow_reanchor and flags.federated and target.type == "user"
                                                    and target.on_premises_sync_enabled is not True):
            hint = ("; it is in a federated domain: --allow-reanchor plans the onmicrosoft.com UPN detour"
                    if flags.federated and target.on_premises_sync_enabled is not True else "")
            out.append(_no("holder_has_immutable_id", f"{target.who} already has onPremisesImmutableId "
                           f"{target.on_premises_immutable_id}{hint}"))
        if target.on_premises_object_identifier:
            out.append(_no("holder_has_object_identifier", f"{target.who} already has onPremisesObjectIdentifier "
                           f"{target.on_premises_object_identifier}: it is linked to another on-prem object"))
    if target.type == "user" or source.given_name or source.surname:
        same, why = names_agree(source, target)
    else:
        same = display_names_agree(target.display_name, source.display_name)
        why = f"displayName differs: cloud {target.display_name!r} vs on-prem {source.display_name!r}"
    if not same:
        out.append(_no("names_disagree", f"{target.who}: {why} (a different person sharing an address is not a "
                       "twin)"))
    if target.account_enabled is False:
        out.append(_no("target_disabled", f"{target.who} is disabled: a disabled cloud account is often a "
                       "leaver's; matching a source onto it hands that account (mailbox, files) to someone else. "
                       "Enable it first if it is really this person's"))
    if source.enabled is False:
        out.append(_no("source_disabled", f"the on-prem source {source.dn or ''} is disabled: after the match "
                       "sync would disable the cloud account too. Enable it on-prem first, or remove it from sync"))
    if not reanchor:
        _mode, v = match_mode(flags, user=target.type == "user", assume_flags=assume_flags)
        if not v.ok:
            out.append(v)
    return out


def may_match(source: SourceFacts, target: TargetState, flags: Flags, opts: Any = None, *,
              reanchor: bool = False) -> Verdict:
    """Whether ``source`` may be hard/soft-matched (or re-anchored) onto ``target``; the first failing guard."""
    fails = match_failures(source, target, flags, opts, reanchor=reanchor)
    return fails[0] if fails else OK
