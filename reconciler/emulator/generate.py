"""Synthetic tenants: a ``reconciler.tenant/1`` file, a matching on-prem LDIF and the planted truth.

Deterministic for a seed. Streams: users go straight to the tenant file, the
other collections are spooled to temporary files and appended, LDIF entries
are written as they are made, so memory stays flat at any size. The expected
file (``reconciler.expected/1``) records each conflict *as planted* (scenario,
first holder, source DN), never as our matcher computes it.

Forest ``corp.contoso.com`` is the one the LDIF holds; ``emea.fabrikam.com``
is a second forest that syncs into the same tenant but is not in the LDIF
(its holders are ``unverified_holder``).
"""

from __future__ import annotations

import base64
import random
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from ..core.anchors import sid_str_to_bytes
from ..core.errors import UsageError

__all__ = ["DEFAULT_MIX", "EXPECTED_SCHEMA", "FINDING_SCENARIOS", "SCENARIOS", "GenerateOptions", "GenerateSummary",
           "generate"]

EXPECTED_SCHEMA = "reconciler.expected/1"
#: what --mix plants: every scenario, plus one kind per error origin (their scenario is in the expected file)
SCENARIOS = ("cloud_only_twin", "cloud_only_other_type", "onprem_duplicate", "orphaned_holder",
             "unverified_holder", "deleted_holder", "no_holder", "unsupported",
             "admin_role_conflict", "data_validation", "large_attribute", "hard_match_blocked",
             "federated_domain_change", "service_error",
             "cloud_sync_create", "cloud_sync_update", "exchange_duplicate", "health_duplicate")
#: the closed set of scenarios a finding can have (every one is planted by the default mix)
FINDING_SCENARIOS = ("cloud_only_twin", "cloud_only_other_type", "onprem_duplicate", "orphaned_holder",
                     "unverified_holder", "deleted_holder", "no_holder", "data_validation", "large_attribute",
                     "admin_role_conflict", "hard_match_blocked", "federated_domain_change", "service_error",
                     "unsupported")
DEFAULT_MIX = {"cloud_only_twin": 3, "cloud_only_other_type": 2, "onprem_duplicate": 3, "orphaned_holder": 2,
               "unverified_holder": 2, "deleted_holder": 2, "no_holder": 1, "unsupported": 1,
               "admin_role_conflict": 1, "data_validation": 1, "large_attribute": 1, "hard_match_blocked": 1,
               "federated_domain_change": 1, "service_error": 1, "cloud_sync_create": 1, "cloud_sync_update": 1,
               "exchange_duplicate": 1, "health_duplicate": 1}

DOMAIN, INITIAL = "contoso.com", "contoso.onmicrosoft.com"
CORP_BASE, CORP_DOMAIN, CORP_SID = "DC=corp,DC=contoso,DC=com", "corp.contoso.com", "S-1-5-21-3623811015-3361044348-30300820"
FAB_BASE, FAB_DOMAIN, FAB_SID = "DC=emea,DC=fabrikam,DC=com", "emea.fabrikam.com", "S-1-5-21-1004336348-1177238915-682003330"
OUS = ("Staff", "Sales", "Engineering", "Finance", "Operations")
SKUS = ("05e9a617-0261-4cee-bb44-138d3ef5d965", "c7df2760-2c81-4ef7-b578-5b5392b571df",
        "18181a46-0d4e-45cd-891e-60aabd171b4e")
ROLES = (("Global Administrator", "62e90394-69f5-4237-9190-012177145e10"),
         ("Exchange Administrator", "29232cdf-9323-42fd-ade2-1d097af3e4de"),
         ("Helpdesk Administrator", "729827e3-9c14-49f7-bb1b-9608f156bbb8"),
         ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"))
FIRST = ["Alice", "Ben", "Chloe", "Diego", "Emma", "Farah", "Grace", "Hannah", "Ivan", "Julia", "Karim", "Lena", "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomasz", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Amir", "Bea", "Carl", "Dana", "Elif", "Finn", "Gita", "Hugo", "Ines", "Jonas", "Kaito", "Lucia", "Mateo", "Nora", "Oskar", "Paula", "Rafael", "Sofia", "Theo", "Ulla", "Vera", "Willem", "Yara", "Zain"]
LAST = ["Moreau", "Carter", "Nguyen", "Alvarez", "Schmidt", "Fischer", "Okafor", "Haddad", "Natarajan", "Kowalski", "Petrova", "Rossi", "Tanaka", "Silva", "Jensen", "Novak", "Ibrahim", "Kim", "Larsen", "Mendes", "Dubois", "Weber", "Costa", "Ahmed", "Berg", "Chen", "Dahl", "Evans", "Fontaine", "Garcia", "Horvat", "Ivanova", "Jovanovic", "Kaur", "Lopez", "Meyer", "Nilsen", "Olsen", "Park", "Quispe", "Romero", "Sato", "Torres", "Ueda", "Varga", "Wagner", "Xu", "Yilmaz", "Zhou"]
OLD = "2025-03-14T09:12:00Z"
SYNC_TIME = "2026-11-20T10:17:42Z"
ERROR_TIME = "2026-11-19T22:03:12Z"
DELETED_TIME = "2026-11-10T16:41:07Z"


@dataclass
class GenerateOptions:
    users: int
    errors_per_1000: float = 10.0
    seed: int = 0
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    #: provisioning-log times are planted before this moment (inside a 7-day --since window); default: now
    now: datetime | None = None

    def __post_init__(self) -> None:
        if self.users < 1:
            raise UsageError("--users must be at least 1")
        if not 0 <= self.errors_per_1000 <= 1000:
            raise UsageError("--errors-per-1000 must be between 0 and 1000")
        unknown = set(self.mix) - set(SCENARIOS)
        if unknown:
            raise UsageError(f"unknown scenario(s) in --mix: {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(SCENARIOS)}")
        if any(w < 0 for w in self.mix.values()) or not any(w > 0 for w in self.mix.values()):
            raise UsageError("--mix weights must be non-negative and not all zero")


@dataclass
class GenerateSummary:
    users: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)
    ldif_entries: int = 0


@dataclass
class Person:
    serial: int
    first: str
    last: str
    ou: str

    @property
    def local(self) -> str:
        return f"{self.first}.{self.last}{self.serial}".lower()

    @property
    def display(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def sam(self) -> str:
        return f"{self.first[0]}{self.last}{self.serial}".lower()[:20]


@dataclass
class OnPrem:
    """An on-prem object as generated: what the cloud copy needs to know about it."""

    dn: str
    guid: uuid.UUID
    sid: str
    domain: str
    immutable_id: str


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _ldif_value(name: str, value: str) -> str:
    if value and value.isascii() and value[0] not in " :<" and value[-1] != " " and "\n" not in value:
        return f"{name}: {value}\n"
    return f"{name}:: {_b64(value.encode())}\n"


class _Sink:
    """Where generated objects go: users streamed, other collections spooled, LDIF appended."""

    COLLECTIONS = ("users", "groups", "contacts", "deletedUsers", "deletedGroups")

    def __init__(self, tenant: IO[bytes], ldif: IO[str], tmpdir: Path) -> None:
        self.tenant, self.ldif = tenant, ldif
        self.spools = {c: (tmpdir / f"{c}.jsonl").open("wb") for c in self.COLLECTIONS[1:]}
        self.counts = {c: 0 for c in self.COLLECTIONS}
        self.ldif_entries = 0

    def add(self, coll: str, obj: dict[str, Any]) -> None:
        out = self.tenant if coll == "users" else self.spools[coll]
        out.write((b",\n" if self.counts[coll] else b"") + orjson.dumps(obj))
        self.counts[coll] += 1

    def entry(self, dn: str, attrs: list[tuple[str, Any]]) -> None:
        parts = [_ldif_value("dn", dn), "changetype: add\n"]
        for name, value in attrs:
            if value is None:
                continue
            if isinstance(value, bytes):
                parts.append(f"{name}:: {_b64(value)}\n")
            elif isinstance(value, (list, tuple)):
                parts.extend(_ldif_value(name, str(v)) for v in value)
            else:
                parts.append(_ldif_value(name, str(value)))
        self.ldif.write("".join(parts) + "\n")
        self.ldif_entries += 1

    def user_entry(self, p: Person, op: OnPrem, upn: str | None, proxies: list[str] | None,
                   consistency: bool) -> None:
        """The hot path: a user entry from generated (plain ASCII) values, without per-value checks."""
        local = p.local
        mail = f"{local}@{DOMAIN}"
        guid = _b64(op.guid.bytes_le)
        lines = "".join(f"proxyAddresses: {a}\n" for a in proxies or [f"SMTP:{mail}"])
        self.ldif.write(
            f"dn: {op.dn}\nchangetype: add\nobjectClass: top\nobjectClass: person\n"
            f"objectClass: organizationalPerson\nobjectClass: user\ncn: {p.display} {p.serial}\nsn: {p.last}\n"
            f"givenName: {p.first}\ndistinguishedName: {op.dn}\ndisplayName: {p.display}\n"
            f"whenChanged: 20261120101500.0Z\nobjectGUID:: {guid}\nuserAccountControl: 512\n"
            f"objectSid:: {_b64(sid_str_to_bytes(op.sid))}\nsAMAccountName: {p.sam}\n"
            f"userPrincipalName: {upn or mail}\nmail: {mail}\nmailNickname: {local}\n{lines}"
            + (f"mS-DS-ConsistencyGuid:: {guid}\n" if consistency else "") + "\n")
        self.ldif_entries += 1

    def finish_collections(self) -> None:
        for coll, spool in self.spools.items():
            spool.close()
            self.tenant.write(f'],\n"{coll}": [\n'.encode())
            with open(spool.name, "rb") as f:
                while chunk := f.read(1 << 20):
                    self.tenant.write(chunk)


class Generator:
    """Builds one tenant; every random choice comes from one seeded ``random.Random``."""

    def __init__(self, opts: GenerateOptions, sink: _Sink) -> None:
        self.opts, self.sink = opts, sink
        self.rng = random.Random(opts.seed)
        self.serial = 0
        self.findings: list[dict[str, Any]] = []
        self.must_not_report: list[dict[str, Any]] = []
        self.no_hard_match: list[dict[str, Any]] = []
        self.role_members: dict[str, list[str]] = {name: [] for name, _ in ROLES}
        self.assignments: list[dict[str, Any]] = []
        self.eligibility: list[dict[str, Any]] = []
        self.role_group: dict[str, Any] | None = None
        self._schedule = self._make_schedule()
        self._variant: dict[str, int] = {}
        self.provisioning_logs: list[dict[str, Any]] = []
        self.health_errors: list[dict[str, Any]] = []
        self.now = opts.now or datetime.now(UTC)
        self.tenant_hex = uuid.UUID(int=random.Random(opts.seed ^ 0xC0FFEE).getrandbits(128), version=4).hex

    # ------------------------------------------------------------ identities

    def guid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def person(self) -> Person:
        self.serial += 1
        r = self.rng
        return Person(self.serial, r.choice(FIRST), r.choice(LAST), r.choice(OUS))

    def onprem_user(self, p: Person, *, forest: str = "corp", proxies: list[str] | None = None,
                    upn: str | None = None, dn: str | None = None, consistency: bool = True,
                    write: bool = True) -> OnPrem:
        base, domain, sid_base = (CORP_BASE, CORP_DOMAIN, CORP_SID) if forest == "corp" else \
            (FAB_BASE, FAB_DOMAIN, FAB_SID)
        dn = dn or f"CN={p.display} {p.serial},OU={p.ou},{base}"
        guid = self.guid()
        sid = f"{sid_base}-{100000 + p.serial}"
        op = OnPrem(dn, guid, sid, domain, _b64(guid.bytes_le))
        if write:
            self.sink.user_entry(p, op, upn, proxies, consistency)
        return op

    def cloud_user(self, p: Person, op: OnPrem | None, *, upn: str | None = None, mail: str | None = None,
                   proxies: list[str] | None = None, errors: list[dict[str, Any]] | None = None,
                   user_type: str = "Member") -> dict[str, Any]:
        mail = mail or f"{p.local}@{DOMAIN}"
        synced = op is not None
        return {
            "id": str(self.guid()), "displayName": p.display, "givenName": p.first, "surname": p.last,
            "userPrincipalName": upn or mail, "mail": mail, "mailNickname": p.local,
            "proxyAddresses": proxies if proxies is not None else [f"SMTP:{mail}"], "otherMails": [],
            "userType": user_type, "accountEnabled": True, "createdDateTime": OLD,
            "assignedLicenses": [{"disabledPlans": [], "skuId": self.rng.choice(SKUS)}] if user_type == "Member"
            else [],
            "onPremisesImmutableId": op.immutable_id if op else None,
            "onPremisesSyncEnabled": True if synced else None,
            "onPremisesDistinguishedName": op.dn if op else None,
            "onPremisesSamAccountName": p.sam if op else None,
            "onPremisesUserPrincipalName": (upn or mail) if op else None,
            "onPremisesSecurityIdentifier": op.sid if op else None,
            "onPremisesDomainName": op.domain if op else None,
            "onPremisesLastSyncDateTime": SYNC_TIME if synced else None,
            "onPremisesProvisioningErrors": errors or [],
        }

    def group(self, name: str, mail: str, proxies: list[str], *, op: OnPrem | None = None,
              errors: list[dict[str, Any]] | None = None, unified: bool = True) -> dict[str, Any]:
        return {"id": str(self.guid()), "displayName": name, "description": None, "mail": mail,
                "mailEnabled": True, "mailNickname": mail.split("@")[0], "securityEnabled": not unified,
                "groupTypes": ["Unified"] if unified else [], "proxyAddresses": proxies, "createdDateTime": OLD,
                "isAssignableToRole": False,
                "onPremisesSyncEnabled": True if op else None,
                "onPremisesSecurityIdentifier": op.sid if op else None,
                "onPremisesSamAccountName": name.replace(" ", "")[:20] if op else None,
                "onPremisesDomainName": op.domain if op else None,
                "onPremisesNetBiosName": op.domain.split(".")[0].upper() if op else None,
                "onPremisesLastSyncDateTime": SYNC_TIME if op else None,
                "onPremisesProvisioningErrors": errors or []}

    def contact(self, p: Person, mail: str, proxies: list[str], *, synced: bool,
                errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {"id": str(self.guid()), "displayName": f"{p.display} (External)", "givenName": p.first,
                "surname": p.last, "mail": mail, "mailNickname": f"{p.local}.ext", "proxyAddresses": proxies,
                "companyName": "Partners", "onPremisesSyncEnabled": True if synced else None,
                "onPremisesLastSyncDateTime": SYNC_TIME if synced else None,
                "onPremisesProvisioningErrors": errors or []}

    def onprem_group(self, name: str, mail: str, proxies: list[str], forest: str = "corp",
                     write: bool = True) -> OnPrem:
        self.serial += 1
        base, domain, sid_base = (CORP_BASE, CORP_DOMAIN, CORP_SID) if forest == "corp" else \
            (FAB_BASE, FAB_DOMAIN, FAB_SID)
        dn = f"CN={name},OU=Groups,{base}"
        guid, sid = self.guid(), f"{sid_base}-{100000 + self.serial}"
        if write:
            self.sink.entry(dn, [("objectClass", ["top", "group"]), ("cn", name), ("distinguishedName", dn),
                                 ("displayName", name), ("objectGUID", guid.bytes_le),
                                 ("objectSid", sid_str_to_bytes(sid)), ("groupType", -2147483640),
                                 ("sAMAccountName", name.replace(" ", "")[:20]), ("mail", mail),
                                 ("mailNickname", mail.split("@")[0]), ("proxyAddresses", proxies)])
        return OnPrem(dn, guid, sid, domain, _b64(guid.bytes_le))

    def onprem_contact(self, p: Person, mail: str, proxies: list[str]) -> OnPrem:
        dn = f"CN={p.display} {p.serial} (External),OU=Contacts,{CORP_BASE}"
        guid = self.guid()
        self.sink.entry(dn, [("objectClass", ["top", "person", "organizationalPerson", "contact"]),
                             ("cn", f"{p.display} {p.serial} (External)"), ("sn", p.last), ("givenName", p.first),
                             ("distinguishedName", dn), ("displayName", f"{p.display} (External)"),
                             ("objectGUID", guid.bytes_le), ("mail", mail), ("mailNickname", f"{p.local}.ext"),
                             ("proxyAddresses", proxies), ("targetAddress", f"SMTP:{mail}")])
        return OnPrem(dn, guid, "", CORP_DOMAIN, _b64(guid.bytes_le))

    # ------------------------------------------------------------ regular objects

    def regular_user(self) -> None:
        p, roll = self.person(), self.rng.random()
        if roll < 0.88:
            op = self.onprem_user(p, consistency=self.rng.random() < 0.8)
            user = self.cloud_user(p, op)
        elif roll < 0.94:
            user = self.cloud_user(p, None)
        elif roll < 0.97:
            ext = f"{p.local}@fabrikam-partner.com"
            user = self.cloud_user(p, None, upn=f"{p.local}_fabrikam-partner.com#EXT#@{INITIAL}", mail=ext,
                                   proxies=[f"SMTP:{ext}"], user_type="Guest")
        elif roll < 0.98:
            user = self.moera_user(p)
        else:
            user = self.cloud_user(p, self.onprem_user(p, forest="fabrikam", write=False))
        self.sink.add("users", user)
        if self.rng.random() < 0.002:
            self.give_role(user["id"], "regular admin")

    def moera_user(self, p: Person) -> dict[str, Any]:
        """On-prem UPN in an unverified suffix: Entra uses mailNickname@initial domain, no digits, no error."""
        op = self.onprem_user(p, upn=f"{p.local}@corp.local")
        user = self.cloud_user(p, op, upn=f"{p.local}@{INITIAL}")
        user["onPremisesUserPrincipalName"] = f"{p.local}@corp.local"
        self.must_not_report.append({"id": user["id"], "why": "MOERA fallback UPN (mailNickname@initial domain, "
                                                             "no digits, no error)"})
        return user

    def regular_group(self) -> None:
        self.serial += 1
        name = f"{self.rng.choice(OUS)} Team {self.serial}"
        mail = f"team{self.serial}@{DOMAIN}"
        if self.rng.random() < 0.5:
            op = self.onprem_group(name, mail, [f"SMTP:{mail}"])
            self.sink.add("groups", self.group(name, mail, [f"SMTP:{mail}"], op=op, unified=False))
        else:
            self.sink.add("groups", self.group(name, mail, [f"SMTP:{mail}", f"smtp:team{self.serial}@{INITIAL}"]))

    def regular_contact(self) -> None:
        p = self.person()
        mail = f"{p.local}@partners.example.net"
        if self.rng.random() < 0.5:
            self.onprem_contact(p, mail, [f"SMTP:{mail}"])
            self.sink.add("contacts", self.contact(p, mail, [f"SMTP:{mail}"], synced=True))
        else:
            self.sink.add("contacts", self.contact(p, mail, [f"SMTP:{mail}"], synced=False))

    def regular_deleted(self) -> None:
        p = self.person()
        user = self.cloud_user(p, None)
        self.sink.add("deletedUsers", _deleted_user(user))

    # ------------------------------------------------------------ roles

    def give_role(self, principal: str, why: str) -> bool:
        """Give a role (active, eligible or through a role-assignable group); True when it is active."""
        name, template = self.rng.choice(ROLES)
        kind = self.rng.random()
        if kind < 0.5 or why == "regular admin":
            self.role_members[name].append(principal)
            self.assignments.append({"id": str(self.guid()), "roleDefinitionId": template,
                                     "principalId": principal, "directoryScopeId": "/"})
        elif kind < 0.8:
            self.eligibility.append({"id": str(self.guid()), "roleDefinitionId": template, "principalId": principal,
                                     "directoryScopeId": "/", "memberType": "Direct", "status": "Provisioned",
                                     "scheduleInfo": {"startDateTime": OLD, "expiration": {"type": "noExpiration"}}})
        else:
            self.role_group_member(principal, name, template)
        if why != "regular admin":
            self.no_hard_match.append({"id": principal, "why": why})
        return kind < 0.5 or why == "regular admin" or kind >= 0.8

    def role_group_member(self, principal: str, role: str, template: str) -> None:
        if self.role_group is None:
            self.serial += 1
            g = self.group(f"Tier0 Admins {self.serial}", f"tier0-{self.serial}@{DOMAIN}",
                           [f"SMTP:tier0-{self.serial}@{DOMAIN}"], unified=False)
            g.update(isAssignableToRole=True, mailEnabled=False, securityEnabled=True, members=[])
            self.role_group = g
            self.role_members[role].append(g["id"])
            self.assignments.append({"id": str(self.guid()), "roleDefinitionId": template,
                                     "principalId": g["id"], "directoryScopeId": "/"})
        self.role_group["members"].append(principal)

    # ------------------------------------------------------------ conflicts

    def _make_schedule(self) -> list[str]:
        weights = {k: v for k, v in self.opts.mix.items() if v > 0}
        scale = 20 / sum(weights.values())
        slots = [s for s, w in weights.items() for _ in range(max(1, round(w * scale)))]
        self.rng.shuffle(slots)
        return slots

    def next_scenario(self) -> str:
        idx = len(self.findings) % len(self._schedule)
        return self._schedule[idx]

    def variant(self, scenario: str, n: int) -> int:
        v = self._variant.get(scenario, 0)
        self._variant[scenario] = v + 1
        return v % n

    def expect(self, obj: dict[str, Any] | None, obj_type: str | None, err: dict[str, Any], scenario: str,
               holder: dict[str, Any] | None, source: OnPrem | None, note: str,
               origins: tuple[str, ...] = ("connect",)) -> None:
        """One planted finding. ``obj`` None: no cloud object yet (the key is ``onprem:<immutable id>``)."""
        self.findings.append({"object_id": obj["id"] if obj else None,
                              "object_key": obj["id"] if obj else f"onprem:{source.immutable_id if source else ''}",
                              "object_type": obj_type,
                              "property": err["propertyCausingError"], "value": err["value"], "scenario": scenario,
                              "holder": holder["id"] if holder else None, "source_dn": source.dn if source else None,
                              "origins": list(origins), "note": note})


def _deleted_user(user: dict[str, Any]) -> dict[str, Any]:
    """Graph prefixes a deleted user's UPN with its object id (no dashes)."""
    d = dict(user)
    d["userPrincipalName"] = user["id"].replace("-", "") + user["userPrincipalName"]
    d["deletedDateTime"] = DELETED_TIME
    return d


def error(prop: str, value: str, category: str = "PropertyConflict") -> dict[str, Any]:
    return {"category": category, "occurredDateTime": ERROR_TIME, "propertyCausingError": prop, "value": value}


ProgressFn = Callable[[int], None]


def generate(opts: GenerateOptions, tenant_path: Path, ldif_path: Path, expected_path: Path | None = None,
             progress: ProgressFn | None = None) -> GenerateSummary:
    """Write the tenant file, the LDIF and (optionally) the expected findings; returns counts."""
    from .generate_conflicts import plant

    tenant_tmp = tenant_path.with_name(f".{tenant_path.name}.tmp")
    ldif_tmp = ldif_path.with_name(f".{ldif_path.name}.tmp")
    expected_tmp = None if expected_path is None else expected_path.with_name(f".{expected_path.name}.tmp")
    temps = [t for t in (tenant_tmp, ldif_tmp, expected_tmp) if t is not None]
    try:
        if expected_tmp is not None:  # a folder that is not there fails now, before anything is written
            expected_tmp.open("wb").close()
        with tempfile.TemporaryDirectory(prefix="reconciler-gen-") as tmp, \
                tenant_tmp.open("wb", buffering=1 << 20) as tf, \
                ldif_tmp.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as lf:
            sink = _Sink(tf, lf, Path(tmp))
            gen = Generator(opts, sink)
            _write_head(tf, opts)
            _run(gen, opts, plant, progress)
            sink.finish_collections()
            _write_tail(tf, gen)
        if expected_tmp is not None and expected_path is not None:
            expected_tmp.write_bytes(_expected(gen, tenant_path, ldif_path))
        # all written: only now do the files asked for appear (or change), all of them or none
        tenant_tmp.replace(tenant_path)
        ldif_tmp.replace(ldif_path)
        if expected_tmp is not None and expected_path is not None:
            expected_tmp.replace(expected_path)
    except OSError as e:  # name the file asked for, not its temporary sibling
        final = {str(tenant_tmp): tenant_path, str(ldif_tmp): ldif_path, str(expected_tmp): expected_path}
        raise UsageError(f"{final.get(str(e.filename), e.filename or tenant_path)}: cannot write: {e.strerror}") from None
    finally:
        for t in temps:
            t.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    for f in gen.findings:
        counts[f["scenario"]] = counts.get(f["scenario"], 0) + 1
    return GenerateSummary(sink.counts["users"], counts, dict(sink.counts), sink.ldif_entries)


def _run(gen: Generator, opts: GenerateOptions, plant: Callable[[Generator, str], None],
         progress: ProgressFn | None) -> None:
    rate = opts.errors_per_1000 / 1000.0
    sink, rng, last = gen.sink, gen.rng, 0
    while sink.counts["users"] < opts.users:
        if rate and rng.random() < rate and opts.users - sink.counts["users"] >= 2:  # a bundle adds <= 2 users
            plant(gen, gen.next_scenario())
        else:
            gen.regular_user()
        r = rng.random()
        if r < 0.02:
            gen.regular_group()
        elif r < 0.03:
            gen.regular_contact()
        elif r < 0.035:
            gen.regular_deleted()
        if progress is not None and sink.counts["users"] - last >= 10000:
            progress(sink.counts["users"] - last)
            last = sink.counts["users"]
    if gen.role_group is not None:
        sink.add("groups", gen.role_group)
    if progress is not None:
        progress(sink.counts["users"] - last)


def _write_head(tf: IO[bytes], opts: GenerateOptions) -> None:
    org = {"id": str(uuid.UUID(int=random.Random(opts.seed ^ 0xC0FFEE).getrandbits(128), version=4)),
           "displayName": "Contoso (synthetic)",
           "verifiedDomains": [{"name": DOMAIN, "isDefault": True, "isInitial": False},
                               {"name": INITIAL, "isDefault": False, "isInitial": True}]}
    sync = {"features": {"softMatchOnUpnEnabled": True, "blockSoftMatchEnabled": False,
                         "blockCloudObjectTakeoverThroughHardMatchEnabled": True,
                         "quarantineUponUpnConflictEnabled": True, "quarantineUponProxyAddressesConflictEnabled": True}}
    tf.write(b'{"schema": "reconciler.tenant/1",\n"generator": ' +
             orjson.dumps({"users": opts.users, "errors_per_1000": opts.errors_per_1000, "seed": opts.seed}) +
             b',\n"organization": ' + orjson.dumps(org) + b',\n"onPremisesSynchronization": ' + orjson.dumps(sync) +
             b',\n"users": [\n')


def _write_tail(tf: IO[bytes], gen: Generator) -> None:
    roles = [{"id": str(uuid.UUID(int=random.Random(tid).getrandbits(128), version=4)), "displayName": name,
              "roleTemplateId": tid, "members": gen.role_members[name]} for name, tid in ROLES]
    tf.write(b'],\n"directoryRoles": ' + orjson.dumps(roles) + b',\n"roleAssignments": ' +
             orjson.dumps(gen.assignments) + b',\n"roleEligibilitySchedules": ' + orjson.dumps(gen.eligibility) +
             b',\n"provisioningLogs": ' + orjson.dumps(gen.provisioning_logs) +
             b',\n"connectHealthErrors": ' + orjson.dumps(gen.health_errors) + b"\n}\n")


def _expected(gen: Generator, tenant_path: Path, ldif_path: Path) -> bytes:
    counts: dict[str, int] = {}
    by_origin: dict[str, int] = {}
    for f in gen.findings:
        counts[f["scenario"]] = counts.get(f["scenario"], 0) + 1
        for o in f["origins"]:
            by_origin[o] = by_origin.get(o, 0) + 1
    doc = {"schema": EXPECTED_SCHEMA,
           "about": "Conflicts as planted by reconciler tenant generate: one entry per provisioning error with "
                    "scenario, first holder id (null = none) and source DN (null = none).",
           "tenant": tenant_path.name, "onprem": [ldif_path.name],
           "findings": sorted(gen.findings, key=lambda f: (f["object_key"], f["property"], f["value"].casefold())),
           "must_not_report": gen.must_not_report, "no_hard_match_onto": gen.no_hard_match,
           "counts": dict(sorted(counts.items())), "by_origin": dict(sorted(by_origin.items()))}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)
