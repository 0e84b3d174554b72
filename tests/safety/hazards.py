"""Generated tenants with planted hazards, for the planner's and apply's safety tests.

One :class:`Tenant` is a ``reconciler.tenant/1`` document (the emulator serves it, the tenant-file reader
reads it) plus the on-prem sources a scan would be given, and the ground truth the tests judge a plan by,
recorded by the generator itself (never derived from the code under test): which accounts hold or are
eligible for a role by any path, which are external, which are licensed or may hold a mailbox.

Hazards (each a function ``plant_<name>(t, i, rng)``): admins (direct, directoryRoles, role-assignable
group, administrative-unit scope, custom role), PIM eligibility (direct and through a group), B2B members
(userType Member + creationType Invitation + #EXT# UPN), guests, disabled accounts, name mismatches, null
creation dates, two sources for one twin, duplicate candidates, cloud-only admins holding an on-prem group's
address, cloud-only users whose sign-in name an on-prem group was given, anchorless and truncated exports
(orphans a source cannot prove), deleted licensed mailboxes and synced groups without an immutable id.

``random_tenant(seed)`` draws a mix; ``Tenant.plan(opts)`` runs the real matcher and planner in memory.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.model import OnPremObject, OnPremSource
from reconciler.fixes.planner import Plan, PlanOptions, context_from_snapshot, make_plan
from reconciler.sources.tenantfile import tenant_from_document
from reconciler.workflow import scan_snapshot

TENANT_ID = "0bbfd26b-5005-41e4-bbf2-e3fb704bde8b"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
CUSTOM_ROLE = "c0ffee00-0000-4000-8000-00000000c057"
BASE_DN = "DC=corp,DC=contoso,DC=com"
OTHER_BASE_DN = "DC=emea,DC=fabrikam,DC=com"
SKU = "05e9a617-0261-4cee-bb44-138d3ef5d965"
FEATURES = {"softMatchOnUpnEnabled": True, "blockSoftMatchEnabled": False,
            "blockCloudObjectTakeoverThroughHardMatchEnabled": False}


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _anchor(guid: str) -> str:
    return base64.b64encode(uuid.UUID(guid).bytes_le).decode()


@dataclass
class Tenant:
    doc: dict[str, Any]
    sources: list[OnPremSource]
    role_holders: set[str] = field(default_factory=set)  # hold or are eligible for a role, any path
    external: set[str] = field(default_factory=set)
    valuable: set[str] = field(default_factory=set)  # licensed or may hold a mailbox: purge needs --allow-purge
    onprem_of: dict[str, str] = field(default_factory=dict)  # on-prem DN (folded) -> cloud id it syncs to
    hazards: list[str] = field(default_factory=list)
    seq: int = 0

    # ------------------------------------------------------------------ building

    def next(self) -> int:
        self.seq += 1
        return self.seq

    def user(self, rng: random.Random, *, upn: str, given: str | None, sn: str | None, display: str | None = None,
             synced: bool = False, anchor: str | None = None, created: str | None = "2024-01-01T00:00:00Z",
             licensed: bool = False, mail: str | None = None, proxies: list[str] | None = None,
             user_type: str = "Member", creation_type: str | None = None, ext_state: str | None = None,
             enabled: bool = True, dn: str | None = None, deleted: bool = False,
             errors: list[dict[str, Any]] | None = None, employee_id: str | None = None) -> str:
        oid = _guid(rng)
        u = {"id": oid, "displayName": display if display is not None else " ".join(x for x in (given, sn) if x),
             "givenName": given, "surname": sn, "userPrincipalName": upn, "mail": mail,
             "mailNickname": upn.split("@")[0], "proxyAddresses": list(proxies or ([f"SMTP:{mail}"] if mail else [])),
             "userType": user_type, "creationType": creation_type, "externalUserState": ext_state,
             "accountEnabled": enabled, "createdDateTime": created, "employeeId": employee_id,
             "assignedLicenses": [{"disabledPlans": [], "skuId": SKU}] if licensed else [],
             "onPremisesImmutableId": anchor, "onPremisesSyncEnabled": True if synced else None,
             "onPremisesDistinguishedName": dn, "onPremisesDomainName": "corp.contoso.com" if synced else None,
             "onPremisesProvisioningErrors": errors or []}
        if deleted:
            u["deletedDateTime"] = "2026-11-01T00:00:00Z"
        self.doc["deletedUsers" if deleted else "users"].append(u)
        if licensed or mail or any(p[:5].lower() == "smtp:" for p in u["proxyAddresses"]):
            self.valuable.add(oid)
        if user_type != "Member" or creation_type == "Invitation" or ext_state or "#EXT#" in upn:
            self.external.add(oid)
        return oid

    def onprem(self, *, dn: str, guid: str | None, given: str | None, sn: str | None, upn: str | None = None,
               mail: str | None = None, proxies: tuple[str, ...] = (), cls: str = "user", base: str = BASE_DN,
               disabled: bool = False, display: str | None = None, sid: str | None = None) -> OnPremObject:
        o = OnPremObject(dn=dn, object_class=cls, object_guid=guid, object_sid=sid, given_name=given, sn=sn,
                         user_principal_name=upn,
                         mail=mail, proxy_addresses=proxies, sam_account_name=(upn or dn).split("@")[0][:20],
                         display_name=display if display is not None else " ".join(x for x in (given, sn) if x),
                         user_account_control=514 if disabled else 512, when_created="2026-11-19T22:00:00Z",
                         source="corp" if base == BASE_DN else "emea")
        self.source(base).objects.append(o)
        return o

    def source(self, base: str) -> OnPremSource:
        for s in self.sources:
            if s.base_dn == base:
                return s
        s = OnPremSource(label="corp.ldif" if base == BASE_DN else "emea.ldif", base_dn=base, objects=[])
        self.sources.append(s)
        return s

    def grant(self, oid: str, how: str, rng: random.Random) -> None:
        """Make ``oid`` a role holder along one path (recorded as ground truth)."""
        self.role_holders.add(oid)
        n = self.next()
        if how == "directoryRoles":
            role = {"id": _guid(rng), "displayName": f"Global Administrator {n}", "roleTemplateId": GLOBAL_ADMIN,
                    "members": [oid]}
            self.doc.setdefault("directoryRoles", []).append(role)
            return
        principal = oid
        if how in ("group", "eligible_group"):
            gid = _guid(rng)
            self.doc["groups"].append({"id": gid, "displayName": f"Tier 0 admins {n}", "isAssignableToRole": True,
                                       "securityEnabled": True, "mailEnabled": False, "members": [oid],
                                       "onPremisesSyncEnabled": None, "proxyAddresses": []})
            principal = gid
        scope = f"/administrativeUnits/{_guid(rng)}" if how == "au" else "/"
        role = CUSTOM_ROLE if how == "custom" else rng.choice((GLOBAL_ADMIN, HELPDESK_ADMIN))
        entry = {"id": f"ra-{n}", "principalId": principal, "roleDefinitionId": role, "directoryScopeId": scope}
        self.doc.setdefault("roleEligibilitySchedules" if how.startswith("eligible") else "roleAssignments",
                            []).append(entry)

    # ------------------------------------------------------------------ using

    def write(self, folder: Path) -> tuple[Path, list[Path]]:
        """The tenant file and one LDIF export per source, as `reconciler scan --tenant --onprem` reads them."""
        folder.mkdir(parents=True, exist_ok=True)
        tenant = folder / "tenant.json"
        tenant.write_text(json.dumps(self.doc, indent=1))
        out = []
        for src in self.sources:
            path = folder / src.label
            path.write_text("\n".join(_ldif(o) for o in src.objects), encoding="utf-8")
            out.append(path)
        return tenant, out

    def snapshot(self) -> Any:
        return tenant_from_document(copy.deepcopy(self.doc), "<hazards>")

    def scan(self) -> tuple[Any, list[dict[str, Any]], dict[str, dict[str, Any]]]:
        snap = self.snapshot()
        result, details = scan_snapshot(snap, self.sources)
        return snap, [f.data() for f in result.findings], details

    def plan(self, opts: PlanOptions = PlanOptions()) -> Plan:
        snap, findings, details = self.scan()
        return make_plan(findings, details, context_from_snapshot(snap), opts, created="hazards")


_CLASSES = {"user": ("top", "person", "organizationalPerson", "user"), "group": ("top", "group"),
            "contact": ("top", "person", "organizationalPerson", "contact")}


def _sid_bytes(sid: str) -> bytes:
    parts = sid.split("-")  # S-1-5-21-...
    subs = [int(x) for x in parts[3:]]
    return struct.pack("<BB", int(parts[1]), len(subs)) + int(parts[2]).to_bytes(6, "big") + \
        b"".join(struct.pack("<I", x) for x in subs)


def _ldif(o: OnPremObject) -> str:
    """One LDIF record as ldifde / ldapsearch write it (binary attributes base64 with '::')."""
    lines = [f"dn: {o.dn}", *(f"objectClass: {c}" for c in _CLASSES.get(o.object_class, ("top",)))]
    for attr, value in (("givenName", o.given_name), ("sn", o.sn), ("displayName", o.display_name),
                        ("sAMAccountName", o.sam_account_name), ("userPrincipalName", o.user_principal_name),
                        ("mail", o.mail)):
        if value:
            lines.append(f"{attr}: {value}")
    lines += [f"proxyAddresses: {p}" for p in o.proxy_addresses]
    if o.object_class == "user" and o.user_account_control is not None:
        lines.append(f"userAccountControl: {o.user_account_control}")
    if o.object_guid:
        lines.append("objectGUID:: " + base64.b64encode(uuid.UUID(o.object_guid).bytes_le).decode())
    if o.object_sid:
        lines.append("objectSid:: " + base64.b64encode(_sid_bytes(o.object_sid)).decode())
    return "\n".join(lines) + "\n"


def empty_tenant() -> Tenant:
    doc: dict[str, Any] = {
        "schema": "reconciler.tenant/1",
        "organization": {"id": TENANT_ID, "displayName": "Contoso",
                         "verifiedDomains": [{"name": "contoso.com", "isDefault": True, "isInitial": False},
                                             {"name": "contoso.onmicrosoft.com", "isInitial": True}]},
        "onPremisesSynchronization": {"features": dict(FEATURES)},
        "users": [], "groups": [], "contacts": [], "deletedUsers": [], "deletedGroups": [],
        "directoryRoles": [], "roleAssignments": [], "roleEligibilitySchedules": []}
    return Tenant(doc=doc, sources=[])


# --------------------------------------------------------------------------- hazards

ROLE_PATHS = ("direct", "directoryRoles", "group", "au", "custom", "eligible", "eligible_group")
NAMES = (("Lena", "Fischer"), ("Omar", "Haddad"), ("Priya", "Raman"), ("Jörg", "Müller"), ("Ana", "Souza"),
         ("Tomasz", "Kowalski"), ("Grace", "Okafor"), ("Hugo", "Brandt"))


def _error(prop: str, value: str) -> list[dict[str, Any]]:
    return [{"category": "PropertyConflict", "occurredDateTime": "2026-11-19T22:03:12Z",
             "propertyCausingError": prop, "value": value}]


def _newcomer(t: Tenant, i: int, rng: random.Random, given: str, sn: str, value: str, *, base: str = BASE_DN,
              prop: str = "UserPrincipalName", disabled: bool = False) -> str:
    """An on-prem user whose synced copy is DAR-quarantined on ``value`` (the error object)."""
    guid = _guid(rng)
    dn = f"CN={given} {sn} {i},OU=Staff,{base}"
    t.onprem(dn=dn, guid=guid, given=given, sn=sn, upn=value, mail=value, proxies=(f"SMTP:{value}",), base=base,
             disabled=disabled)
    local = value.split("@")[0]
    oid = t.user(rng, upn=f"{local}{rng.randint(1000, 9999)}@contoso.onmicrosoft.com", given=given, sn=sn,
                 synced=True, anchor=_anchor(guid), created="2026-11-19T22:03:11Z", licensed=True,
                 mail=value if prop == "UserPrincipalName" else None, dn=dn, errors=_error(prop, value),
                 enabled=not disabled)
    t.onprem_of[dn.casefold()] = oid
    return oid


def plant_twin(t: Tenant, i: int, rng: random.Random, hazard: str | None = None) -> None:
    """cloud_only_twin; ``hazard`` is what makes the twin untouchable (None: a clean twin)."""
    given, sn = rng.choice(NAMES)
    value = f"{given.lower()}.{sn.lower()}{i}@contoso.com"
    kw: dict[str, Any] = {}
    src_given, src_sn = given, sn
    if hazard == "b2b":
        kw = {"creation_type": "Invitation", "ext_state": "Accepted"}
    elif hazard == "guest":
        kw = {"user_type": "Guest"}
    elif hazard == "disabled":
        kw = {"enabled": False}
    elif hazard == "no_surname":
        kw = {"display": f"{given} Schwarz"}
    elif hazard == "employee":
        kw = {"employee_id": "1001"}
    elif hazard == "null_date":
        kw = {"created": None}
    twin_sn = None if hazard == "no_surname" else sn
    twin = t.user(rng, upn=value, given=given, sn=twin_sn, created=kw.pop("created", "2025-06-01T00:00:00Z"), **kw)
    if hazard in ROLE_PATHS:
        t.grant(twin, hazard, rng)
    _newcomer(t, i, rng, src_given, src_sn, value, disabled=hazard == "source_disabled")
    t.hazards.append(f"twin:{hazard}")


def plant_b2b_by_address(t: Tenant, i: int, rng: random.Random) -> None:
    """A B2B member (#EXT# UPN, creationType Invitation, userType Member) holding the newcomer's address."""
    given, sn = rng.choice(NAMES)
    value = f"{given.lower()}{i}@contoso.com"
    t.user(rng, upn=f"{given.lower()}{i}_fabrikam.com#EXT#@contoso.onmicrosoft.com", given=given, sn=sn,
           mail=value, creation_type="Invitation", ext_state="Accepted")
    _newcomer(t, i, rng, given, sn, value, prop="ProxyAddress")
    t.hazards.append("b2b_member")


def plant_two_sources(t: Tenant, i: int, rng: random.Random) -> None:
    """Two forests each with a user of the same name and address, one cloud twin (class 2)."""
    given, sn = rng.choice(NAMES)
    value = f"{given.lower()}.{sn.lower()}{i}@contoso.com"
    t.user(rng, upn=value, given=given, sn=sn, created="2025-06-01T00:00:00Z")
    _newcomer(t, i, rng, given, sn, value, base=BASE_DN)
    _newcomer(t, i, rng, given, sn, value, base=OTHER_BASE_DN)
    t.hazards.append("two_sources")


def plant_admin_other_type(t: Tenant, i: int, rng: random.Random) -> None:
    """A cloud-only Global Administrator whose UPN an on-prem group was given as a proxy address (class 4)."""
    value = f"admin{i}@contoso.com"
    admin = t.user(rng, upn=value, given="Olga", sn=f"Admin{i}", created="2023-01-09T08:00:00Z")
    t.grant(admin, rng.choice(("direct", "directoryRoles", "group")), rng)
    gid = _guid(rng)
    sid = f"S-1-5-21-1-2-3-{5000 + i}"
    dn = f"CN=Helpdesk {i},OU=Groups,{BASE_DN}"
    o = t.onprem(dn=dn, guid=gid, given=None, sn=None, mail=f"helpdesk{i}@contoso.com",
                 proxies=(f"SMTP:helpdesk{i}@contoso.com", f"smtp:{value}"), cls="group", display=f"Helpdesk {i}")
    del o
    t.doc["groups"].append({"id": _guid(rng), "displayName": f"Helpdesk {i}", "mail": f"helpdesk{i}@contoso.com",
                            "mailEnabled": True, "securityEnabled": False, "proxyAddresses":
                            [f"SMTP:helpdesk{i}@contoso.com"], "onPremisesSyncEnabled": True,
                            "onPremisesSecurityIdentifier": sid, "onPremisesDomainName": "corp.contoso.com",
                            "onPremisesProvisioningErrors": _error("ProxyAddresses", f"smtp:{value}")})
    t.hazards.append("admin_other_type")


def plant_user_upn_other_type(t: Tenant, i: int, rng: random.Random, *, primary: bool = False,
                              admin: str | None = None) -> str:
    """A cloud-only user (no role unless ``admin``) signs in with an address an on-prem group was given later
    (class 4: the user's sign-in name must never be renamed for it). ``primary``: the group's primary address.
    Returns the on-prem group's DN (its synced group is in ``onprem_of``)."""
    given, sn = rng.choice(NAMES)
    value = f"{given.lower()}.{sn.lower()}.u{i}@contoso.com"
    person = t.user(rng, upn=value, given=given, sn=sn, mail=value, created="2022-03-01T08:00:00Z")
    if admin:
        t.grant(person, admin, rng)
    gid = _guid(rng)
    sid = f"S-1-5-21-4-5-6-{7000 + i}"
    dn = f"CN=Shared Inbox {i},OU=Groups,{BASE_DN}"
    proxies = (f"SMTP:{value}",) if primary else (f"SMTP:shared{i}@contoso.com", f"smtp:{value}")
    t.onprem(dn=dn, guid=gid, given=None, sn=None, mail=value if primary else f"shared{i}@contoso.com",
             proxies=proxies, cls="group", display=f"Shared Inbox {i}", sid=sid)
    group = _guid(rng)
    t.doc["groups"].append({"id": group, "displayName": f"Shared Inbox {i}", "mail": f"shared{i}@contoso.com",
                            "mailEnabled": True, "securityEnabled": False,
                            "proxyAddresses": [f"SMTP:shared{i}@contoso.com"], "onPremisesSyncEnabled": True,
                            "onPremisesSecurityIdentifier": sid, "onPremisesDomainName": "corp.contoso.com",
                            "createdDateTime": "2026-11-19T22:03:11Z",
                            "onPremisesProvisioningErrors": _error("ProxyAddresses", f"smtp:{value}")})
    t.onprem_of[dn.casefold()] = group
    t.hazards.append(f"user_upn_other_type:{primary}:{admin}")
    return dn


def plant_orphan(t: Tenant, i: int, rng: random.Random, *, created: str | None = "2019-09-03T10:00:00Z",
                 licensed: bool = True, admin: str | None = None, export: str = "full") -> None:
    """An orphaned holder: synced account whose AD object was re-created (class 3).

    ``export``: "full" (the re-created object is in the export with its new objectGUID), "anchorless" (the
    export has no objectGUID at all, so nothing links), "truncated" (the export stops before the holder's
    own object, which is really still there).
    """
    given, sn = rng.choice(NAMES)
    value = f"{given.lower()}.{sn.lower()}{i}@contoso.com"
    dn = f"CN={given} {sn} {i},OU=Staff,{BASE_DN}"
    old_guid = _guid(rng)
    holder = t.user(rng, upn=value, given=given, sn=sn, synced=True, anchor=_anchor(old_guid), created=created,
                    licensed=licensed, mail=value if licensed else None, dn=dn)
    if admin:
        t.grant(holder, admin, rng)
    new_guid = _guid(rng)
    t.onprem(dn=dn, guid=None if export == "anchorless" else new_guid, given=given, sn=sn, upn=value, mail=value,
             proxies=(f"SMTP:{value}",))
    if export == "truncated":  # the holder's own object exists on-prem, but the export never got that far
        t.onprem_of[dn.casefold()] = holder
        src = t.source(BASE_DN)
        src.complete = False
        src.incomplete = ("the export stops before its trailer (size limit)",)
    t.user(rng, upn=f"{given.lower()}{i}{rng.randint(1000, 9999)}@contoso.onmicrosoft.com", given=given, sn=sn,
           synced=True, anchor=_anchor(new_guid), created="2026-11-19T22:03:25Z", licensed=True, dn=dn,
           errors=_error("UserPrincipalName", value))
    t.hazards.append(f"orphan:{export}:{created is None}:{admin}")


def plant_group_orphan(t: Tenant, i: int, rng: random.Random) -> None:
    """A synced group holding the value, covered by the source but linked to nothing (no immutable id)."""
    value = f"team{i}@contoso.com"
    t.doc["groups"].append({"id": _guid(rng), "displayName": f"Team {i}", "mail": value, "mailEnabled": True,
                            "securityEnabled": False, "proxyAddresses": [f"SMTP:{value}"],
                            "onPremisesSyncEnabled": True, "onPremisesDomainName": "corp.contoso.com",
                            "onPremisesDistinguishedName": f"CN=Team {i},OU=Groups,{BASE_DN}",
                            "createdDateTime": "2020-01-01T00:00:00Z"})
    t.onprem(dn=f"CN=Other Team {i},OU=Groups,{BASE_DN}", guid=_guid(rng), given=None, sn=None, cls="group",
             display=f"Other Team {i}", sid=f"S-1-5-21-7-8-9-{6000 + i}")
    given, sn = rng.choice(NAMES)
    _newcomer(t, i, rng, given, sn, value, prop="ProxyAddress")
    t.hazards.append("group_orphan")


def plant_deleted_mailbox(t: Tenant, i: int, rng: random.Random, *, licensed: bool = True) -> None:
    """The only holder is a deleted licensed mailbox (class 10: never purged without --allow-purge)."""
    given, sn = rng.choice(NAMES)
    value = f"{given.lower()}.{sn.lower()}{i}@contoso.com"
    t.user(rng, upn=f"gone{i}@contoso.com", given=given, sn=sn, mail=value if licensed else None,
           proxies=[f"SMTP:{value}"], licensed=licensed, deleted=True)
    _newcomer(t, i, rng, given, sn, value, prop="ProxyAddress")
    t.hazards.append("deleted_mailbox")


def plant_duplicate_candidates(t: Tenant, i: int, rng: random.Random) -> None:
    """Two cloud holders of one value: a cloud twin and a deleted user (the twin sorts first)."""
    plant_twin(t, i, rng, rng.choice((None, "direct", "eligible_group")))
    value = t.doc["users"][-2]["userPrincipalName"]
    given, sn = rng.choice(NAMES)
    t.user(rng, upn=f"old{i}@contoso.com", given=given, sn=sn, mail=value, licensed=True, deleted=True)
    t.hazards.append("duplicate_candidates")


HAZARDS: dict[str, Callable[[Tenant, int, random.Random], None]] = {
    "clean_twin": lambda t, i, r: plant_twin(t, i, r, None),
    "admin_twin": lambda t, i, r: plant_twin(t, i, r, r.choice(ROLE_PATHS)),
    "b2b_twin": lambda t, i, r: plant_twin(t, i, r, "b2b"),
    "guest_twin": lambda t, i, r: plant_twin(t, i, r, "guest"),
    "disabled_twin": lambda t, i, r: plant_twin(t, i, r, r.choice(("disabled", "source_disabled"))),
    "name_twin": lambda t, i, r: plant_twin(t, i, r, "no_surname"),
    "null_date_twin": lambda t, i, r: plant_twin(t, i, r, "null_date"),
    "b2b_member": plant_b2b_by_address,
    "two_sources": plant_two_sources,
    "admin_other_type": plant_admin_other_type,
    "orphan": lambda t, i, r: plant_orphan(t, i, r, created=r.choice((None, "2019-09-03T10:00:00Z",
                                                                      "2026-12-01T00:00:00Z")),
                                           licensed=r.random() < 0.6,
                                           admin=r.choice((None, None, "direct", "group", "eligible")),
                                           export=r.choice(("full", "anchorless", "truncated"))),
    "group_orphan": plant_group_orphan,
    "deleted_mailbox": lambda t, i, r: plant_deleted_mailbox(t, i, r, licensed=r.random() < 0.7),
    "duplicate_candidates": plant_duplicate_candidates,
}


def random_tenant(seed: int, n: int | None = None) -> Tenant:
    """A tenant with ``n`` (default 3-8) hazards drawn from :data:`HAZARDS` by ``seed``."""
    rng = random.Random(seed)
    t = empty_tenant()
    for i in range(n if n is not None else rng.randint(3, 8)):
        HAZARDS[rng.choice(sorted(HAZARDS))](t, i, rng)
    extra = random.Random(seed + 1_000_003)  # hazards added later draw from their own stream: the mix above is kept
    if extra.random() < 0.4:
        plant_user_upn_other_type(t, 90, extra, primary=extra.random() < 0.3,
                                  admin=extra.choice((None, None, "direct", "eligible")))
    if rng.random() < 0.15:
        t.doc.pop("roleEligibilitySchedules")  # PIM not readable: every write is refused
    if rng.random() < 0.1:
        t.doc.pop("onPremisesSynchronization")  # feature flags not readable
    return t
