"""PURE: check on-prem objects before they sync (the IdFix successor).

One streaming pass over the objects of every given forest applies the
per-attribute rules (:mod:`reconciler.checks.rules`) and fills hash indexes of
folded values; duplicates (same attribute and cross-attribute: a UPN that is
another object's SMTP proxy or mail) fall out of the indexes at the end, so the
whole check is linear in the number of values. With a cloud snapshot every
UPN / mail / SMTP proxy is also looked up among the Entra objects, predicting a
quarantine (``cloud_conflict``) or a merge (``soft_match``).

Only a compact record per checked object is kept (what the keep/lose decision
and the duplicate report need), never the decoded objects themselves.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from ..core.anchors import guid_to_immutable_id, immutable_id_to_guid, normalize_dn
from ..core.matcher import cloud_values, decide_keep
from ..core.model import CloudObject, CloudSnapshot, Keep, ObjectKind, OnPremObject, OnPremSource, fold
from .rules import (
    ANCHOR_RULES,
    ERROR,
    LARGE_RULES,
    RULES,
    WARNING,
    Hit,
    check_certificates,
    check_large,
    check_mail,
    check_proxy,
    check_simple,
    check_target_address,
    check_upn,
    primary_smtp,
    skip_reason,
)

__all__ = ["RELATED_CAP", "SCHEMA", "CheckResult", "Checker", "CloudView", "PartChecker", "Problem", "check"]

SCHEMA = "reconciler.checks/1"
RELATED_CAP = 50  # a value held by thousands of objects names the first 50 in ``related``

UPN_F, MAIL_F, SMTP_F = 1, 2, 4
PART_SHIFT = 32  # an object's ordinal: its part's number << PART_SHIFT | its place in the part
_PLACE = (1 << PART_SHIFT) - 1
MAX_PARTS = 64  # part numbers per PartChecker config (a file is cut into at most 16 parts, each finished at most
#                 once in the parent: 32)
_ATTR_BY_FLAG = ((UPN_F, "userPrincipalName"), (SMTP_F, "proxyAddresses"), (MAIL_F, "mail"))
_FLAG_BY_ATTR = {name: bit for bit, name in _ATTR_BY_FLAG}
_DUP_RULE = {UPN_F: "upn-duplicate", SMTP_F: "smtp-duplicate", MAIL_F: "mail-duplicate"}
_OTHER_NS = {"x": ("proxyAddresses", "proxy-duplicate"), "nick": ("mailNickname", "mailnickname-duplicate"),
             "target": ("targetAddress", "targetaddress-duplicate"),
             "sam": ("sAMAccountName", "samaccountname-duplicate")}
_SEP = "\x00"


@dataclass(frozen=True, slots=True)
class Problem:
    dn: str
    attribute: str
    value: str
    kind: str
    rule: str
    severity: str
    message: str
    proposed: str | None = None
    related: tuple[Mapping[str, Any], ...] = ()
    keep: str | None = None
    action: str | None = None  # "edit" (write proposed), "remove" (delete the value) or None (review)
    source: str = ""

    def data(self) -> dict[str, Any]:
        return {"dn": self.dn, "attribute": self.attribute, "value": self.value, "kind": self.kind,
                "rule": self.rule, "severity": self.severity, "message": self.message,
                "proposed": self.proposed, "related": [dict(r) for r in self.related], "keep": self.keep,
                "action": self.action, "source": self.source}


@dataclass(slots=True)
class CheckResult:
    generated: str
    scanned: int
    skipped: int
    problems: list[Problem]
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # moved users whose re-anchoring passed the guards, for reconciler.fixes.planner.plan_reanchors (with the
    # tenant context it needs); not part of the JSON document
    reanchors: list[dict[str, Any]] = field(default_factory=list)
    plan_context: dict[str, Any] | None = None

    @property
    def has_errors(self) -> bool:
        return any(p.severity == ERROR for p in self.problems)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.rule] = out.get(p.rule, 0) + 1
        return dict(sorted(out.items()))

    def data(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "generated": self.generated, "scanned": self.scanned,
                "skipped": self.skipped, "skipped_by_reason": dict(sorted(self.skipped_by_reason.items())),
                "counts": self.counts(), "notes": list(self.notes),
                "problems": [p.data() for p in self.problems]}


# ---------------------------------------------------------------------------- compact records

def _record(o: OnPremObject, source: int) -> str | tuple[str, ...]:
    """dn, source no., class, nick, sam, given, sn, created, uac, mailbox, upn, mail, target, *proxies:
    one NUL-joined string (a tuple in the odd case a value holds a NUL)."""
    parts = (o.dn, str(source), o.object_class, o.mail_nickname or "", o.sam_account_name or "",
             o.given_name or "", o.sn or "", o.when_created or "",
             "" if o.user_account_control is None else str(o.user_account_control),
             "1" if o.has_mailbox else "", o.user_principal_name or "", o.mail or "", o.target_address or "",
             *o.proxy_addresses)
    joined = _SEP.join(parts)
    return parts if joined.count(_SEP) != len(parts) - 1 else joined


@dataclass(frozen=True, slots=True)
class _Rec:
    obj: OnPremObject  # slim: what decide_keep reads
    upn: str
    mail: str
    target: str
    proxies: tuple[str, ...]

    @classmethod
    def load(cls, raw: str | tuple[str, ...], labels: Sequence[str]) -> _Rec:
        p = raw.split(_SEP) if isinstance(raw, str) else list(raw)
        o = OnPremObject(dn=p[0], object_class=p[2], mail_nickname=p[3] or None, sam_account_name=p[4] or None,
                         given_name=p[5] or None, sn=p[6] or None, when_created=p[7] or None,
                         user_account_control=int(p[8]) if p[8] else None, home_mdb="yes" if p[9] else None,
                         source=labels[int(p[1])])
        return cls(o, p[10], p[11], p[12], tuple(p[13:]))


# ---------------------------------------------------------------------------- the cloud side


def _privileged(snap: CloudSnapshot) -> set[str]:
    ids = {m for members in snap.directory_role_members.values() for m in members}
    for a in snap.role_assignments or ():
        if a.get("principalId"):
            ids.add(str(a["principalId"]))
    for gid in list(ids):
        ids.update(snap.group_members.get(gid, ()))
    return ids


def _cloud_primary(c: CloudObject) -> str | None:
    for p in c.proxy_addresses:
        if p.startswith("SMTP:"):
            return fold(p)
    return fold(c.mail) if c.mail else None


def _related_cloud(c: CloudObject) -> dict[str, Any]:
    return {"cloud_id": c.id, "type": c.kind.value, "state": c.state, "synced": c.synced,
            "name": c.user_principal_name or c.mail or c.display_name}


def _who(c: CloudObject) -> str:
    return f"{c.kind.value} {c.user_principal_name or c.mail or c.display_name or ''} ({c.id})".replace("  ", " ")


_KIND = {"user": ObjectKind.USER, "group": ObjectKind.GROUP, "contact": ObjectKind.CONTACT}


class CloudView:
    """Hash indexes over a cloud snapshot: folded value -> holders, anchor -> object, SID -> object."""

    def __init__(self, snap: CloudSnapshot) -> None:
        self.by_value: dict[str, list[tuple[CloudObject, int]]] = {}
        self.by_anchor: dict[str, CloudObject] = {}
        self.by_sid: dict[str, CloudObject] = {}
        for c in snap.objects:
            self._index(c)
        self.privileged = _privileged(snap)
        self.verified = frozenset(d.name.casefold() for d in snap.domains)
        self.initial_domain = snap.initial_domain
        f = snap.features
        self.soft_upn: bool | None = None if f is None else f.get("softMatchOnUpnEnabled")
        self.block_soft: bool | None = None if f is None else f.get("blockSoftMatchEnabled")

    def _index(self, c: CloudObject) -> None:
        vals: dict[str, int] = {}
        for attr, k in cloud_values(c):
            vals[k] = vals.get(k, 0) | _FLAG_BY_ATTR[attr]
        for k, flags in vals.items():
            self.by_value.setdefault(k, []).append((c, flags))
        if c.immutable_id and (c.immutable_id not in self.by_anchor or not c.deleted):
            self.by_anchor[c.immutable_id] = c
        if c.sid and (c.sid.upper() not in self.by_sid or not c.deleted):
            self.by_sid[c.sid.upper()] = c

    def own(self, o: OnPremObject) -> CloudObject | None:
        """The cloud object this on-prem object already is (anchor for users, SID for groups)."""
        a = o.anchor
        c = self.by_anchor.get(a) if a else None
        if c is None and o.consistency_guid and o.object_guid:
            c = self.by_anchor.get(guid_to_immutable_id(o.object_guid))
        if c is None and o.object_sid:
            c = self.by_sid.get(o.object_sid.upper())
        return c

    def upn_flag_text(self) -> str:
        if self.soft_upn is None:
            return ("softMatchOnUpnEnabled is unknown (flags not readable), assumed on as for every tenant "
                    "created since 2017")
        return f"softMatchOnUpnEnabled is {'on' if self.soft_upn else 'off'}"


def _soft_route(view: CloudView, o: OnPremObject, flag: int, key: str, c: CloudObject,
                o_primary: str | None) -> str | None:
    """How ``c`` would be soft-matched through this value, or None."""
    if c.deleted or c.synced or _KIND.get(o.object_class) is not c.kind:
        return None
    if flag & UPN_F and o.object_class == "user" and c.user_principal_name and fold(c.user_principal_name) == key:
        return "userPrincipalName"
    if key == o_primary and _cloud_primary(c) == key:
        return "primary SMTP address"
    return None


def _soft_blocker(view: CloudView, c: CloudObject, route: str) -> str | None:
    if c.immutable_id:
        return (f"it already has an immutable id ({c.immutable_id}), so the match fails (InvalidSoftMatch) "
                "and the value is quarantined")
    if view.block_soft:
        return "blockSoftMatchEnabled is on, so no soft match happens and the value is quarantined"
    if c.id in view.privileged:
        return ("it holds a directory role, and Entra never soft-matches an admin: the value is quarantined "
                "(remove the roles first)")
    if route == "userPrincipalName" and view.soft_upn is False:
        return "softMatchOnUpnEnabled is off, so a UPN alone does not merge: the value is quarantined"
    return None


def cloud_problems(view: CloudView, o: OnPremObject, values: Sequence[tuple[int, str, str]],
                   source: str) -> tuple[list[Problem], CloudObject | None]:
    """Problems for ``o``'s address values held in Entra, and ``o``'s own cloud object."""
    held: dict[str, tuple[int, str]] = {}  # one entry per value: all the attributes it is in here
    for f, k, v in values:
        if k in view.by_value:
            prev = held.get(k)
            held[k] = (f, v) if prev is None else (prev[0] | f, _preferred(prev, (f, v)))
    if not held:
        return [], None
    hits = [(f, k, v, view.by_value[k]) for k, (f, v) in held.items()]
    own = view.own(o) if o.object_class != "contact" else _own_contact(o, hits)
    prim = primary_smtp(o.proxy_addresses)
    o_primary = fold(prim[0]) if prim else (fold(o.mail) if o.mail and not o.proxy_addresses else None)
    target, routes = None, set()
    if own is None:
        for f, k, _, holders in hits:
            for c, _cf in holders:
                r = _soft_route(view, o, f, k, c, o_primary)
                if r and (target is None or target.id == c.id):
                    target = c
                    routes.add(r)
    route = " and ".join(sorted(routes, reverse=True)) or None
    out = []
    for f, _k, v, holders in hits:
        for c, _cf in holders:
            if own is not None and c.id == own.id:
                continue
            out.append(_cloud_problem(view, o, f, v, c, own, target, route, source))
    return out, own


def _preferred(a: tuple[int, str], b: tuple[int, str]) -> str:
    """The value to show for a value held in several attributes: UPN, else the SMTP proxy, else mail."""
    for bit in (UPN_F, SMTP_F, MAIL_F):
        for flag, value in (a, b):
            if flag & bit:
                return value
    return a[1]


def _own_contact(o: OnPremObject, hits: Sequence[tuple[int, str, str, list[tuple[CloudObject, int]]]]
                 ) -> CloudObject | None:
    """Graph exposes no anchor for contacts: a synced contact holding its address is this contact
    (spec "Linking"), unless its known on-prem DN says otherwise."""
    for _, _, _, holders in hits:
        for c, _cf in holders:
            if c.kind is ObjectKind.CONTACT and c.synced and not c.deleted and (
                    c.dn is None or normalize_dn(c.dn) == normalize_dn(o.dn)):
                return c
    return None


def _attr_of(flag: int) -> str:
    for bit, name in _ATTR_BY_FLAG:
        if flag & bit:
            return name
    return "proxyAddresses"


def _cloud_problem(view: CloudView, o: OnPremObject, flag: int, value: str, c: CloudObject,
                   own: CloudObject | None, target: CloudObject | None, route: str | None,
                   source: str) -> Problem:
    rel = (_related_cloud(c),)
    attr = _attr_of(flag)
    if c.deleted:
        when = c.deleted_at or "at an unknown time"
        msg = (f"{value} is held by {_who(c)} in the Entra recycle bin (deleted {when}). A recycle-bin holder "
               "can block the value (Connect Health's fix fails until it is hard-deleted): purge it, or restore "
               "it if it is the real one.")
        return Problem(o.dn, attr, value, "cloud_conflict", "cloud-conflict", WARNING, msg, related=rel, source=source)
    if c.synced:
        where = c.dn or c.domain_name or "a source not supplied"
        msg = (f"{value} is already held by {_who(c)}, synced from {where}. Entra keeps the value there and "
               "quarantines it on this object (DAR: a UPN becomes <name><4 digits>@<tenant>.onmicrosoft.com, "
               "a proxy address is dropped). Decide which object should own it and remove it from the other "
               "in its source directory.")
        return Problem(o.dn, attr, value, "cloud_conflict", "cloud-conflict", ERROR, msg, related=rel, source=source)
    if target is not None and c.id == target.id and route:
        blocker = _soft_blocker(view, c, route)
        if blocker is None:
            msg = (f"{value} belongs to cloud-only {_who(c)}, which has no immutable id. This object is new to "
                   f"Entra, so the first sync soft-matches (merges) it into that {c.kind.value} by {route}: the "
                   "cloud object's attributes are overwritten from AD and it becomes synced. Make sure it is the "
                   f"same recipient. {view.upn_flag_text()}; blockSoftMatchEnabled is "
                   f"{'unknown' if view.block_soft is None else 'off'}.")
            return Problem(o.dn, attr, value, "soft_match", "soft-match", WARNING, msg, related=rel, source=source)
        msg = f"{value} belongs to cloud-only {_who(c)}, which would match this new object by {route}, but {blocker}."
        return Problem(o.dn, attr, value, "cloud_conflict", "cloud-conflict", ERROR, msg, related=rel, source=source)
    if own is not None:
        why = f"this object is already synced as {own.kind.value} {own.id}, so nothing is matched any more"
    elif _KIND.get(o.object_class) is not c.kind:
        why = (f"it is a {c.kind.value} and this object a {o.object_class} (ObjectTypeMismatch), so it cannot be "
               "merged")
    elif target is not None:
        why = f"this object will merge into another cloud object ({target.id}), not into this one"
    else:
        why = "soft match uses only the UPN and the primary SMTP address, and this value is neither on both sides"
    msg = (f"{value} belongs to cloud-only {_who(c)}; {why}. Sync will quarantine the value on this object: "
           "remove it from the cloud object (Exchange Online) or from this one.")
    return Problem(o.dn, attr, value, "cloud_conflict", "cloud-conflict", ERROR, msg, related=rel, source=source)


# ---------------------------------------------------------------------------- the checker


class Checker:
    """Feed objects with :meth:`add` (any number of forests), then call :meth:`finish` once."""

    def __init__(self, tlds: frozenset[str], cloud: CloudSnapshot | None = None,
                 rules: frozenset[str] | None = None, now: datetime | None = None) -> None:
        self.tlds = tlds
        self.view = CloudView(cloud) if cloud is not None else None
        self._cloud = cloud
        self.rules = frozenset(RULES) if rules is None else rules
        self.now = now or datetime.now(UTC)  # certificates expire relative to this
        on = self.rules
        self._mail_on = any(r in on for r in ("mail-chars", "mail-format", "mail-idn", "mail-tld"))
        self._large_on = bool(on & LARGE_RULES)
        self._anchors_on = bool(on & ANCHOR_RULES)
        self._upn_domain_on = "upn-unverified-suffix" in on and self.view is not None and bool(self.view.verified)
        self._moved: list[tuple[OnPremObject, str, CloudObject, str]] = []  # source (slim), label, cloud, key
        self._reanchors: list[dict[str, Any]] = []
        self.scanned = 0
        self.skipped_by_reason: dict[str, int] = {}
        self.problems: list[Problem] = []
        # records by ordinal: part << PART_SHIFT | place in the part; this checker's own objects are part 0, parts
        # absorbed from PartCheckers have numbers from 1 (part_config hands them out), so no entry is renumbered
        self._records: list[str | tuple[str, ...]] = []
        self._parts: dict[int, list[str | tuple[str, ...]]] = {0: self._records}
        self._base = 0  # the ordinal of self._records[0]
        self._next_part = 1
        self._labels: list[str] = []
        self._label_index: dict[str, int] = {}
        self._index: dict[str, dict[Any, Any]] = {ns: {} for ns in ("addr", "x", "nick", "target", "sam", "anchor")}
        self._collided: list[tuple[str, str | int]] = []
        self._own: dict[int, CloudObject] = {}
        self._messages: dict[str, str] = {}

    def add_source(self, src: OnPremSource) -> None:
        for o in src.objects:
            self.add(o, src.label)

    def _report(self, dn: str, attribute: str, value: str, hit: Hit, label: str) -> None:
        """Append a rule problem; equal messages share one string (millions of '.local' UPNs)."""
        msg = self._messages.setdefault(hit.message, hit.message)
        rule = RULES[hit.rule]
        self.problems.append(Problem(dn, attribute, value, rule.kind, hit.rule, rule.severity, msg, hit.proposed,
                                     action=hit.action, source=label))

    def _source_no(self, label: str) -> int:
        n = self._label_index.get(label)
        if n is None:
            n = self._label_index[label] = len(self._labels)
            self._labels.append(label)
        return n

    def _put(self, ns: str, key: str | int, packed: int, ordinal: int) -> None:
        d = self._index[ns]
        cur = d.setdefault(key, packed)
        if cur is packed:
            return
        if type(cur) is int:
            if cur >> 3 == ordinal:
                d[key] = cur | packed
            else:
                d[key] = [cur, packed]
                self._collided.append((ns, key))
        elif cur[-1] >> 3 == ordinal:
            cur[-1] |= packed
        else:
            cur.append(packed)

    def add(self, o: OnPremObject, source: str | None = None) -> None:
        self.scanned += 1
        label = source if source is not None else o.source
        reason = skip_reason(o)
        if reason is not None:
            self.skipped_by_reason[reason] = self.skipped_by_reason.get(reason, 0) + 1
            return
        ordinal = self._base + len(self._records)
        source_no = self._label_index.get(label)
        self._records.append(_record(o, self._source_no(label) if source_no is None else source_no))
        values = self._address_values(o, ordinal, label)
        self._other_values(o, ordinal, label)
        for attr, value, hit in check_simple(o):
            self._report(o.dn, attr, value, hit, label)
        own = None
        if self.view is not None:
            probs, own = cloud_problems(self.view, o, values, label)
            self.problems += probs
            if own is not None:
                self._own[ordinal] = own
        self._beyond_idfix(o, ordinal, label, own)

    # ------------------------------------------------------------------ a large export checked on every core

    def part_config(self, label: str) -> tuple[Any, ...]:
        """What a :class:`PartChecker` in a child process needs to check objects of ``label`` exactly as
        :meth:`add` would here (without a cloud snapshot only: the cloud rules need the object in this
        process). Each config has its own :data:`MAX_PARTS` part numbers."""
        if self.view is not None:
            raise ValueError("a part checker has no cloud view")
        first, self._next_part = self._next_part, self._next_part + MAX_PARTS
        return (self.tlds, self.rules, self.now, label, self._source_no(label), first)

    def _rec(self, ordinal: int) -> str | tuple[str, ...]:
        return self._parts[ordinal >> PART_SHIFT][ordinal & _PLACE]

    def absorb(self, part: tuple[Any, ...]) -> None:
        """Take a :meth:`PartChecker.drain` (the next objects of the file, in order): the same records, index
        entries, duplicate groups and problems as :meth:`add` on each of those objects. A value met again across
        parts collides here; the index is merged with set and dict operations, not object by object."""
        scanned, skipped, first, records, index, collided, problems = part
        held = self._parts.get(first >> PART_SHIFT, [])
        if not first >> PART_SHIFT or len(held) != first & _PLACE:  # refused before anything changes
            raise ValueError(f"a part's batch out of order (ordinal {first:#x}, {len(held)} records held)")
        self._parts[first >> PART_SHIFT] = held
        self.scanned += scanned
        for reason, n in skipped.items():
            self.skipped_by_reason[reason] = self.skipped_by_reason.get(reason, 0) + n
        held += records  # the entries' ordinals name their part and place: none is renumbered
        again: set[tuple[str, Any]] = set()
        for ns, got in index.items():
            d = self._index[ns]
            for k in d.keys() & got.keys():  # held by an earlier part's object too
                cur, new = d[k], got[k]
                if type(cur) is int:
                    if type(new) is int:
                        self._collided.append((ns, k))
                        got[k] = [cur, new]
                    else:
                        got[k] = [cur, *new]
                else:
                    if type(new) is int:
                        cur.append(new)
                    else:
                        cur += new
                        again.add((ns, k))  # collided in both: listed once
                    got[k] = cur
            d.update(got)
        self._collided += [c for c in collided if c not in again] if again else collided
        for t in problems:
            msg = self._messages.setdefault(t[6], t[6])
            self.problems.append(Problem(*t[:6], msg, *t[7:]))  # type: ignore[misc,call-arg]

    # ------------------------------------------------------------------ beyond IdFix (docs/check-onprem.md)

    def _beyond_idfix(self, o: OnPremObject, ordinal: int, label: str, own: CloudObject | None) -> None:
        """mail as an address, large attributes, source anchors, UPN suffix against the tenant's domains."""
        if self._mail_on and o.mail:
            for hit in check_mail(o.mail, self.tlds):
                self._report(o.dn, "mail", o.mail, hit, label)
        if self._large_on:
            if len(o.proxy_addresses) > 300 or o.thumbnail_photo_size:
                for attr, value, hit in check_large(o):
                    self._report(o.dn, attr, value, hit, label)
            if len(o.user_certificates) > 15 or len(o.smime_certificates) > 15:
                for attr, value, hit in check_certificates(o, self.now):
                    self._report(o.dn, attr, value, hit, label)
        if o.object_class not in ("user", "group"):
            return
        if self._anchors_on:
            cg = o.consistency_guid
            key = _anchor_key(cg) if cg else _guid_key(o.object_guid) if o.object_guid else None
            if key is not None:
                self._put("anchor", key, ordinal << 3, ordinal)
                if own is None and self.view is not None and o.object_class == "user":
                    self._check_moved(o, label, o.anchor or "")
        if self._upn_domain_on and o.object_class == "user" and o.user_principal_name:
            self._check_upn_domain(o, label, own)

    def _check_moved(self, o: OnPremObject, label: str, anchor: str) -> None:
        """A user new to Entra whose UPN / primary SMTP is a cloud user's that carries another immutable id."""
        assert self.view is not None
        keys = [fold(o.user_principal_name)] if o.user_principal_name else []
        prim = primary_smtp(o.proxy_addresses)
        if prim:
            keys.append(fold(prim[0]))
        for k in keys:
            found = {c.id: c for c, _ in self.view.by_value.get(k, ()) if c.kind is ObjectKind.USER and not c.deleted
                     and c.immutable_id and c.immutable_id != anchor}
            if found:
                if len(found) == 1:
                    slim = OnPremObject(o.dn, o.object_class, object_guid=o.object_guid,
                                        consistency_guid=o.consistency_guid, given_name=o.given_name, sn=o.sn,
                                        display_name=o.display_name, user_account_control=o.user_account_control)
                    self._moved.append((slim, label, next(iter(found.values())), k))
                return

    def _check_upn_domain(self, o: OnPremObject, label: str, own: CloudObject | None) -> None:
        assert self.view is not None and o.user_principal_name
        upn = o.user_principal_name
        suffix = upn.rpartition("@")[2].strip().casefold()
        if not suffix or suffix in self.view.verified:
            return
        nick = _predicted_nickname(o)
        initial = self.view.initial_domain or "<tenant>.onmicrosoft.com"
        now = (f" This user is already synced as {own.user_principal_name}; Entra recalculates the UPN when the "
               "on-prem UPN next changes." if own is not None and own.user_principal_name else "")
        msg = (f"The UPN suffix {suffix} is not a verified domain of the tenant, so Entra cannot use this UPN: it "
               f"gives the user {nick}@{initial} (<MailNickName>@<initial domain>) and sign-in names differ from AD."
               f"{now} Verify {suffix} in the tenant (a subdomain of a verified domain must be added too) or give "
               "the user a UPN in a verified domain.")
        self._report(o.dn, "userPrincipalName", upn, Hit("upn-unverified-suffix", msg), label)

    def _moved_problems(self) -> list[Problem]:
        out = []
        idx = self._index["anchor"]
        claims: dict[str, list[str]] = {}
        for src, _, c, _ in self._moved:
            claims.setdefault(c.id, []).append(src.dn)
        for src, label, c, key in self._moved:
            dn, current = src.dn, src.consistency_guid
            iid = c.immutable_id or ""
            holder = idx.get(_anchor_key(iid))
            rel = (_related_cloud(c),)
            base = (f"This user is new to Entra (no cloud object carries its source anchor), but {_who(c)} holds "
                    f"its {'UPN' if c.user_principal_name and fold(c.user_principal_name) == key else 'primary SMTP address'} "
                    f"with the immutable id {iid}. The next sync cannot soft-match them (the cloud user is "
                    "anchored elsewhere): the value is quarantined or a second user is created.")
            proposed = None
            if holder is not None:
                first = holder if type(holder) is int else holder[0]
                other = _Rec.load(self._rec(first >> 3), self._labels).obj
                msg = (f"{base} {other.dn} ({other.source}) still has that anchor: these are two objects, not a "
                       "moved user; resolve the duplicate instead of copying the anchor.")
            elif len(claims[c.id]) > 1:
                others = [d for d in claims[c.id] if d != dn]
                msg = (f"{base} {', '.join(others[:3])} would take the same cloud user: only one object can carry "
                       "its anchor; decide which is the moved user (the others need their own UPN).")
            elif immutable_id_to_guid(iid) is None:
                msg = (f"{base} The immutable id is not a GUID in base64, so it cannot become mS-DS-ConsistencyGuid: "
                       "clear it on the cloud user or match by hand.")
            elif refused := _reanchor_refusals(self._cloud, src, c):
                msg = (f"{base} Copying the immutable id would hand the cloud user to this object, and the fix "
                       f"engine's guards refuse that: {refused}.")
            else:
                proposed = iid
                self._reanchors.append(_move(src, c, len(self._reanchors) + 1))
                msg = (f"{base} If it is the same person (moved from another forest), set this user's "
                       f"mS-DS-ConsistencyGuid to the cloud user's immutable id so the next sync hard-matches it "
                       "(set_consistency_guid: `check-onprem --plan-out FILE` plans it through the fix engine's guards "
                       "for review and `reconciler apply`; ADSyncTools: Set-ADSyncToolsMsDsConsistencyGuid).")
            rule = RULES["anchor-cloud-mismatch"]
            out.append(Problem(dn, "mS-DS-ConsistencyGuid", current or "", rule.kind, rule.id, rule.severity,
                               msg, proposed, rel, None, None, label))
        return out

    def _address_values(self, o: OnPremObject, ordinal: int, label: str) -> list[tuple[int, str, str]]:
        """UPN, mail and SMTP proxies: rules, then the address index. Returns (flag, key, value)."""
        base = ordinal << 3
        tlds = self.tlds
        values: list[tuple[int, str, str]] = []
        upn = o.user_principal_name
        if upn:
            for hit in check_upn(upn, tlds):
                self._report(o.dn, "userPrincipalName", upn, hit, label)
            values.append((UPN_F, fold(upn), upn))
        mail = o.mail
        if mail:
            values.append((MAIL_F, fold(mail), mail))
        primaries = 0
        for p in o.proxy_addresses:
            for hit in check_proxy(p, tlds):
                self._report(o.dn, "proxyAddresses", p, hit, label)
            if p[:5].lower() == "smtp:":
                if p[:5] == "SMTP:":
                    primaries += 1
                values.append((SMTP_F, p[5:].strip().casefold(), p))
            else:
                self._put("x", p.strip().casefold(), base, ordinal)
        if primaries > 1:
            self._report(o.dn, "proxyAddresses", ", ".join(primary_smtp(o.proxy_addresses)), Hit(
                "smtp-primary-count", f"{primaries} values are marked primary (SMTP:); an object has exactly "
                "one primary address and soft match uses it, so Exchange Online rejects the set."), label)
        for flag, key, _ in values:
            if key:
                self._put("addr", key, base | flag, ordinal)
        return values

    def _other_values(self, o: OnPremObject, ordinal: int, label: str) -> None:
        base = ordinal << 3
        if o.mail_nickname:
            self._put("nick", o.mail_nickname.casefold(), base, ordinal)
        t = o.target_address
        if t:
            for hit in check_target_address(t, self.tlds):
                self._report(o.dn, "targetAddress", t, hit, label)
            self._put("target", fold(t), base, ordinal)
        if o.sam_account_name and not o.user_principal_name:
            self._put("sam", o.sam_account_name.casefold(), base, ordinal)

    # ------------------------------------------------------------------ duplicates

    def finish(self, generated: str = "") -> CheckResult:
        problems = list(self.problems)
        for ns, key in self._collided:
            if ns == "anchor":
                problems += self._anchor_group(key, self._index[ns][key])
            else:
                problems += self._group(ns, str(key), self._index[ns][key])  # only anchor keys are ints
        if self._moved and "anchor-cloud-mismatch" in self.rules:
            problems += self._moved_problems()
        if len(self.rules) < len(RULES):
            problems = [p for p in problems if p.rule in self.rules]
        # stable: a value's rule chain keeps its order, so the last proposal of a chain is the final value
        problems.sort(key=lambda p: (p.dn.casefold(), p.attribute, p.value.casefold(), p.source))
        notes = []
        if self.view is not None and not self.view.verified and "upn-unverified-suffix" in self.rules:
            notes.append("the cloud source lists no verified domains: UPN suffixes were not checked against them")
        if self.view is not None and self.view.soft_upn is None:
            notes.append("tenant soft-match flags are unknown (reading them needs delegated Global "
                         "Administrator): soft matches on UPN are predicted as if softMatchOnUpnEnabled were on")
        res = CheckResult(generated, self.scanned, sum(self.skipped_by_reason.values()), problems,
                          dict(self.skipped_by_reason), notes)
        if self._reanchors and "anchor-cloud-mismatch" in self.rules and self._cloud is not None:
            from ..fixes.planner import context_from_snapshot

            res.reanchors = list(self._reanchors)
            res.plan_context = context_from_snapshot(self._cloud).data()
        return res

    def _anchor_group(self, key: Any, packed: list[int]) -> list[Problem]:
        recs = [_Rec.load(self._rec(p >> 3), self._labels) for p in packed]
        anchor = _anchor_text(key)
        guid = immutable_id_to_guid(anchor)
        rule = RULES["anchor-duplicate"]
        out = []
        for i, r in enumerate(recs):
            others = _others(i, recs[:RELATED_CAP + 1])
            related = tuple({"dn": x.obj.dn, "attribute": "sourceAnchor", "source": x.obj.source} for x in others)
            names = ", ".join(f"{x.obj.dn} ({x.obj.source})" for x in others[:3])
            more = f" and {len(recs) - 4} more" if len(recs) > 4 else ""
            msg = (f"The source anchor {anchor}{f' (GUID {guid})' if guid else ''} is also the effective anchor "
                   f"(mS-DS-ConsistencyGuid, else objectGUID) of {names}{more}. Entra Connect exports objects with "
                   "one sourceAnchor to one Entra object: unless the sync joins them as the same person "
                   "(multi-forest 'users are represented only once'), one of them fails to export or they overwrite "
                   "each other. If one is a migrated copy, keep the anchor on the object that should stay synced and "
                   "clear mS-DS-ConsistencyGuid on the other (ADSyncTools: Get-ADSyncToolsDuplicateUsersSourceAnchor "
                   "lists such pairs).")
            out.append(Problem(r.obj.dn, "sourceAnchor", anchor, rule.kind, rule.id, rule.severity, msg, None,
                               related, "undecided", None, r.obj.source))
        return out

    def _group(self, ns: str, key: str | int, packed: list[int]) -> list[Problem]:
        members = [(p >> 3, p & 7) for p in packed]
        recs = [_Rec.load(self._rec(m), self._labels) for m, _ in members]
        values = [_value_of(ns, r, f, key) for r, (_, f) in zip(recs, members)]
        keeps = _keep_group(values[0], [r.obj for r in recs], [self._own.get(m) for m, _ in members])
        counts = {bit: sum(1 for _, f in members if f & bit) for bit in (UPN_F, MAIL_F, SMTP_F)}
        out = []
        for i, ((_, f), r) in enumerate(zip(members, recs)):
            if ns == "addr":
                shared = [b for b, _ in _ATTR_BY_FLAG if f & b and counts[b] > 1]
                bit = shared[0] if shared else next(b for b, _ in _ATTR_BY_FLAG if f & b)
                attr, rule = _attr_of(bit), _DUP_RULE[bit] if shared else "cross-duplicate"
                value = _value_of(ns, r, bit, key)
            else:
                (attr, rule), value = _OTHER_NS[ns], values[i]
            out.append(self._dup_problem(i, attr, rule, value, members, recs, keeps[i]))
        if ns == "addr" and _galsync(recs):
            out = [_as_galsync(p) for p in out]
        return out

    def _dup_problem(self, i: int, attr: str, rule: str, value: str, members: list[tuple[int, int]],
                     recs: list[_Rec], keep: tuple[str, str]) -> Problem:
        me = recs[i]
        others = _others(i, [(r, f) for r, (_, f) in zip(recs[:RELATED_CAP + 1], members)])
        related = tuple({"dn": r.obj.dn, "attribute": _held_as(f, r), "source": r.obj.source} for r, f in others)
        names = ", ".join(f"{r.obj.dn} ({_held_as(f, r)})" for r, f in others[:3])
        more = f" and {len(recs) - 4} more" if len(recs) > 4 else ""
        what = RULES[rule]
        msg = (f"{value} is also held by {names}{more}. Entra lets one object hold a UPN or SMTP address; the "
               "others get it quarantined (or the sync fails)." if rule in _ADDR_RULES else
               f"{value} is also held by {names}{more} ({what.checks}).")
        action = proposal = None
        if keep[0] == "no":
            action, proposal, advice = _loser_fix(attr, value)
            msg += " " + advice
        msg += " Keep: " + keep[1]
        return Problem(me.obj.dn, attr, value, what.kind, rule, what.severity, msg, proposal, related,
                       keep[0], action, me.obj.source)


_PROBLEM_FIELDS = attrgetter(*(f.name for f in dataclass_fields(Problem)))


class PartChecker(Checker):
    """The checker of a child process that checks a part of a large export (no cloud snapshot): objects are
    checked by :meth:`Checker.add`; :meth:`drain` hands what the parent's :meth:`Checker.absorb` needs for
    those since the last drain (ordinals from 0) and starts afresh, so nothing accumulates here. Duplicates
    across parts are found by the parent, from the index."""

    def __init__(self, config: tuple[Any, ...]) -> None:
        tlds, rules, now, label, source_no, first = config
        super().__init__(tlds, None, rules, now)
        self._label = label
        self._label_index[label] = source_no  # records carry the parent's number for this source
        self._first_part = first
        self.start(0)

    def start(self, part: int) -> None:
        """Number the objects taken from now on as part ``part`` (0 to MAX_PARTS - 1) of this config, from its
        first place: each child process (and each part finished in the parent) checks a part of its own."""
        if self._records:
            raise ValueError("start a part after a drain")
        if not 0 <= part < MAX_PARTS:
            raise ValueError(f"part {part} out of range")
        self._base = (self._first_part + part) << PART_SHIFT

    def take(self, o: OnPremObject) -> None:
        self.add(o, self._label)

    def drain(self) -> tuple[Any, ...]:
        """(scanned, skipped by reason, ordinal of the first record, records, index by namespace, collided keys,
        problems as tuples)."""
        out = (self.scanned, self.skipped_by_reason, self._base, self._records,
               {ns: d for ns, d in self._index.items() if d}, self._collided, [_PROBLEM_FIELDS(p) for p in self.problems])
        self._base += len(self._records)
        self.scanned, self.skipped_by_reason, self._records, self._collided, self.problems = 0, {}, [], [], []
        self._index = {ns: {} for ns in self._index}
        return out


def _others(i: int, head: list[Any]) -> list[Any]:
    """The first :data:`RELATED_CAP` members of a group other than member ``i``, from its first RELATED_CAP + 1
    (never the whole group for each member: a value held by 50,000 objects stays linear)."""
    return [x for j, x in enumerate(head) if j != i][:RELATED_CAP]


def _cloud_attrs(c: CloudObject) -> dict[str, Any]:
    """A cloud user in Graph's names (what the guards' TargetState reads)."""
    return {"id": c.id, "userPrincipalName": c.user_principal_name, "displayName": c.display_name,
            "givenName": c.given_name, "surname": c.surname, "userType": c.user_type, "creationType": c.creation_type,
            "externalUserState": c.external_user_state, "employeeId": c.employee_id,
            "accountEnabled": c.account_enabled, "onPremisesSyncEnabled": c.sync_enabled,
            "onPremisesImmutableId": c.immutable_id, "onPremisesObjectIdentifier": c.on_premises_object_identifier,
            "createdDateTime": c.created, "licences": c.license_count, "mail": c.mail,
            "proxyAddresses": list(c.proxy_addresses)}


def _source_attrs(src: OnPremObject) -> dict[str, Any]:
    return {"givenName": src.given_name, "sn": src.sn, "displayName": src.display_name,
            "enabled": None if src.disabled is None else not src.disabled, "distinguishedName": src.dn}


def _move(src: OnPremObject, c: CloudObject, n: int) -> dict[str, Any]:
    return {"id": f"check-onprem:anchor-cloud-mismatch:{n}", "dn": src.dn, "object_guid": src.object_guid,
            "consistency_guid": src.consistency_guid, "immutable_id": c.immutable_id, "source": _source_attrs(src),
            "target": _cloud_attrs(c)}


def _reanchor_refusals(snap: CloudSnapshot | None, src: OnPremObject, c: CloudObject) -> str:
    """The fix engine's re-anchor guards (roles, eligibility, external accounts, names, disabled accounts) for
    stamping ``c``'s immutable id on ``src``; '' when they all pass. Loaded only for a moved user."""
    from ..fixes.guards import Flags, SourceFacts, match_failures
    from ..fixes.planner import context_from_snapshot, target_state

    if snap is None:
        return "no cloud source"
    ctx = context_from_snapshot(snap)
    target = target_state(ctx, _cloud_attrs(c), c.id, "user", deleted=c.deleted)
    source = SourceFacts.from_onprem(_source_attrs(src))
    fails = match_failures(source, target, Flags(ctx.features), None, reanchor=True)
    return "; ".join(f"{v.guard}: {v.reason}" for v in fails)


def _le_swap(b: bytes) -> bytes:
    """GUID bytes between .NET ToByteArray (little-endian fields) and canonical order; its own inverse."""
    return b[3::-1] + b[5:3:-1] + b[7:5:-1] + b[8:]


def _anchor_key(anchor: str) -> int | str:
    """A base64 GUID anchor (mS-DS-ConsistencyGuid, immutable id) as the GUID's int, the key objectGUID
    gets from :func:`_guid_key` (compact in the index, no base64 round trip per object); any other anchor
    as given (anchors are case-sensitive)."""
    try:
        raw = binascii.a2b_base64(anchor, strict_mode=True)
    except (binascii.Error, ValueError):
        return anchor
    return int.from_bytes(_le_swap(raw), "big") if len(raw) == 16 else anchor


def _guid_key(guid: str) -> int | str:
    try:
        return int(guid.replace("-", ""), 16)
    except ValueError:
        return guid_to_immutable_id(guid)


def _anchor_text(key: int | str) -> str:
    if isinstance(key, int):
        return base64.b64encode(_le_swap(key.to_bytes(16, "big"))).decode("ascii")
    return key


def _predicted_nickname(o: OnPremObject) -> str:
    """Entra's MailNickName on first sync: mailNickname, else the prefix of the primary SMTP address, of mail,
    of the UPN, of a secondary smtp address."""
    if o.mail_nickname:
        return o.mail_nickname
    prim = primary_smtp(o.proxy_addresses)
    smtp = [p for p in o.proxy_addresses if p[:5] == "smtp:"]
    for v in (prim[0][5:] if prim else None, o.mail, o.user_principal_name, smtp[0][5:] if smtp else None):
        if v and "@" in v:
            return v.rpartition("@")[0]
    return "<mailNickname>"


def _galsync(recs: list[_Rec]) -> bool:
    """One user or group plus contacts of it in other forests: the GALSync pattern."""
    owners = [r.obj for r in recs if r.obj.object_class != "contact"]
    return len(owners) == 1 and all(r.obj.source != owners[0].source for r in recs if r.obj is not owners[0])


def _as_galsync(p: Problem) -> Problem:
    note = ("Looks like a GALSync contact of the same recipient in another forest: if Entra Connect matches "
            "identities across forests (mail attribute), it joins them into one object and nothing is "
            "quarantined; otherwise the contact's value is quarantined. ")
    return Problem(p.dn, p.attribute, p.value, p.kind, p.rule, WARNING, note + p.message, p.proposed, p.related,
                   p.keep, None, p.source)


_ADDR_RULES = frozenset({"upn-duplicate", "smtp-duplicate", "mail-duplicate", "cross-duplicate"})


def _loser_fix(attr: str, value: str) -> tuple[str | None, str | None, str]:
    if attr == "proxyAddresses" and not value.startswith("SMTP:"):
        return "remove", None, "Proposed: remove this value from this object."
    if attr == "proxyAddresses":
        return None, None, "It is this object's primary address: make another address primary, then remove it."
    return None, None, f"Give this object another {attr}."


def _held_as(flag: int, r: _Rec) -> str:
    return "/".join(name for bit, name in _ATTR_BY_FLAG if flag & bit) or "same attribute"


def _value_of(ns: str, r: _Rec, flag: int, index_key: str | int) -> str:
    key = str(index_key)  # anchors are indexed by int; every other namespace by its folded text
    if ns == "addr":
        if flag & UPN_F:
            return r.upn
        if flag & SMTP_F:
            return next((p for p in r.proxies if p[:5].lower() == "smtp:" and p[5:].strip().casefold() == key),
                        key)
        return r.mail
    if ns == "x":
        return next((p for p in r.proxies if p.strip().casefold() == key), key)
    return {"nick": r.obj.mail_nickname, "target": r.target, "sam": r.obj.sam_account_name}[ns] or key


def _keep_group(value: str, objs: list[OnPremObject],
                clouds: list[CloudObject | None]) -> list[tuple[str, str]]:
    """keep yes/no/undecided per member: a pairwise tournament, then the winner against each other member."""

    def cmp(a: int, b: int) -> tuple[Keep, str]:
        d = decide_keep(value, objs[a], objs[b], a_cloud=clouds[a], b_cloud=clouds[b])
        # decide_keep speaks of "the source" (a) and "the holder" (b): name the objects instead
        why = " ".join(d.reasons).replace("the source", objs[a].dn).replace("the holder", objs[b].dn)
        return d.keep, why

    w = 0
    for i in range(1, len(objs)):
        if cmp(w, i)[0] is Keep.HOLDER:
            w = i
    res: list[tuple[str, str]] = [("", "")] * len(objs)
    open_ = []
    for i in range(len(objs)):
        if i == w:
            continue
        k, why = cmp(w, i)
        if k is Keep.SOURCE:
            res[i] = ("no", why)
        else:
            res[i] = ("undecided", why)
            open_.append(objs[i].dn)
    group = "" if len(objs) == 2 else f" (compared pairwise with each of the {len(objs) - 1} others)"
    if open_:
        res[w] = ("undecided", (f"no clear winner{group}: nothing separates {objs[w].dn} from "
                                f"{', '.join(open_[:3])}; decide by hand."))
    else:
        res[w] = ("yes", f"this object should keep it{group}: " + res[1 if w == 0 else 0][1])
    return res


# ---------------------------------------------------------------------------- entry points


def check(sources: Iterable[OnPremSource], tlds: frozenset[str], cloud: CloudSnapshot | None = None,
          generated: str = "", rules: frozenset[str] | None = None, now: datetime | None = None) -> CheckResult:
    c = Checker(tlds, cloud, rules, now)
    for src in sources:
        c.add_source(src)
    return c.finish(generated)
