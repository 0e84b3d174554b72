"""Core data model: slim, frozen, stdlib only.

Cloud objects keep Graph's meaning with Python names; on-prem objects keep AD's.
Everything the matcher, planner and renderers need is here; nothing here does I/O.
"""

from __future__ import annotations

import builtins
import enum
from dataclasses import MISSING, dataclass, field, fields, make_dataclass
from typing import Any, Callable, Mapping, TypeVar

from .anchors import guid_to_immutable_id

__all__ = [
    "ObjectKind",
    "Scenario",
    "Keep",
    "ProvisioningError",
    "ErrorRecord",
    "Origin",
    "ORIGINS",
    "DUPLICATE",
    "CloudObject",
    "new_cloud_object",
    "new_onprem_object",
    "frozen_builder",
    "Domain",
    "CloudSnapshot",
    "OnPremObject",
    "OnPremSource",
    "Coverage",
    "Holder",
    "SourceRef",
    "Finding",
    "ScanResult",
    "UPN",
    "PROXY",
    "normalize_property",
    "strip_smtp",
    "fold",
]


class ObjectKind(str, enum.Enum):
    USER = "user"
    GROUP = "group"
    CONTACT = "contact"


class Scenario(str, enum.Enum):
    """The closed set of conflict scenarios (README, "What a finding says")."""

    CLOUD_ONLY_TWIN = "cloud_only_twin"
    CLOUD_ONLY_OTHER_TYPE = "cloud_only_other_type"
    ONPREM_DUPLICATE = "onprem_duplicate"
    ORPHANED_HOLDER = "orphaned_holder"
    UNVERIFIED_HOLDER = "unverified_holder"
    DELETED_HOLDER = "deleted_holder"
    NO_HOLDER = "no_holder"
    DATA_VALIDATION = "data_validation"
    LARGE_ATTRIBUTE = "large_attribute"
    ADMIN_ROLE_CONFLICT = "admin_role_conflict"
    HARD_MATCH_BLOCKED = "hard_match_blocked"
    FEDERATED_DOMAIN_CHANGE = "federated_domain_change"
    SERVICE_ERROR = "service_error"
    UNSUPPORTED = "unsupported"


class Origin(str, enum.Enum):
    """Where a sync error was read (the findings' ``conflict.origin``)."""

    CONNECT = "connect"  # onPremisesProvisioningErrors (Entra Connect Sync, DAR)
    CLOUD_SYNC = "cloud_sync"  # provisioning logs of AD2AADProvisioning.* jobs
    EXCHANGE = "exchange"  # serviceProvisioningErrors (Exchange Online)
    HEALTH = "health"  # Entra Connect Health export errors (Azure Resource Manager)


# Order of preference when one conflict is reported by several origins: the first
# listed that reported it becomes ``conflict.origin`` (and supplies category and time).
ORIGINS: tuple[str, ...] = tuple(o.value for o in Origin)

# ``ProvisioningError.nature`` for a duplicate-value conflict (classified by its holders).
DUPLICATE = "duplicate"


class Keep(str, enum.Enum):
    SOURCE = "source"
    HOLDER = "holder"
    UNDECIDED = "undecided"


UPN = "UserPrincipalName"
PROXY = "ProxyAddress"


def normalize_property(prop: str | None) -> str:
    """Fold Graph/MSOnline spellings: ``ProxyAddresses`` -> ``ProxyAddress``.

    Unknown names are returned unchanged (never dropped).
    """
    p = (prop or "").strip()
    low = p.lower()
    if low in ("proxyaddress", "proxyaddresses"):
        return PROXY
    if low in ("userprincipalname", "userprincipalnames"):
        return UPN
    if low in ("mail", "smtp", "smtpproxyaddress", "primarysmtpaddress", "emailaddress", "emailaddresses"):
        return PROXY
    return p


def strip_smtp(value: str) -> str:
    """Remove one leading ``smtp:`` prefix, any case."""
    if value[:5].lower() == "smtp:":
        return value[5:]
    return value


def fold(value: str) -> str:
    """The comparison key for an address or UPN: prefix stripped, case-folded, trimmed.

    (``strip_smtp(value.strip()).strip().casefold()``, spelled out: it runs for every address of every object.)"""
    v = value.strip()
    if v[:5].lower() == "smtp:":
        v = v[5:].strip()
    return v.casefold()


@dataclass(frozen=True, slots=True)
class ProvisioningError:
    """One sync error as an origin reported it.

    ``category`` is the origin's own word (``PropertyConflict``,
    ``AttributeValueMustBeUnique``, ``InvalidHardMatch``…), kept as sent.
    ``nature`` says how the matcher classifies it: ``DUPLICATE`` (by its
    holders), a ``Scenario`` value for the non-duplicate scenarios, or ``None``
    to derive it from ``category`` (``matcher.nature_of``). ``value`` is ``""``
    when the origin names no value. ``description`` is the origin's text
    (parsed Exchange ``ErrorDescription``, Cloud Sync ``reason``…), ``code``
    its error code when it has one.
    """

    category: str
    property: str  # as the origin sent it; see normalize_property
    value: str
    occurred: str | None = None
    origin: str = "connect"
    nature: str | None = None
    description: str | None = None
    code: str | None = None

    @builtins.property  # the field above shadows the builtin inside this class body
    def normalized_property(self) -> str:
        return normalize_property(self.property)


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """A sync error read outside ``onPremisesProvisioningErrors``, handed to the matcher.

    Contract for every reader (Cloud Sync, Exchange, Connect Health…): put the
    records in ``CloudSnapshot.error_records``; ``matcher.match`` does the rest
    (holders, on-prem link, scenario, merging with the same conflict from other
    origins). Fill what the origin gives, leave the rest empty:

    - ``error``: ``origin`` (an ``Origin`` value), ``category`` as the origin
      says it, ``property`` (``UserPrincipalName`` / ``ProxyAddress`` / the
      origin's attribute name), ``value`` (``""`` when the origin names none),
      ``occurred`` (ISO 8601, or raw + a warning from the reader), and
      ``nature`` when the reader knows better than the category table.
    - ``object_id``: the cloud object that carries the error, when known. It
      must be in ``CloudSnapshot.objects`` (readers add it there); an id not in
      the snapshot is treated as unknown (the matcher then warns in evidence).
    - ``onprem_guid`` / ``onprem_anchor``: the on-prem object (objectGUID, or
      the sourceAnchor / immutable id). When ``object_id`` is ``None`` the
      matcher looks for a cloud user whose immutable id equals the anchor
      (derived from the GUID when only that is given); none found means the
      finding's ``object`` is null (a create that failed) and its id uses
      ``onprem:<immutable id>``.
    - ``candidates``: ``(property, value)`` pairs to try when ``error.value``
      is ``""`` (e.g. Cloud Sync ``modifiedProperties``); the on-prem object's
      UPN, mail and SMTP values are tried first when the on-prem data has it.
      Each candidate another cloud object holds becomes a finding; none held
      -> one finding reported as is.
    - ``existing``: the other object as the origin describes it (Connect
      Health's ``existingObject``), kept as evidence; holders are still found
      in the cloud data.
    - ``evidence``: lines shown with the finding (``explain``).
    """

    error: ProvisioningError
    object_id: str | None = None
    object_kind: ObjectKind | None = None
    onprem_guid: str | None = None
    onprem_anchor: str | None = None
    candidates: tuple[tuple[str, str], ...] = ()
    existing: Mapping[str, Any] | None = None
    evidence: tuple[str, ...] = ()
    display_name: str | None = None  # the origin's name for the object (shown when object is null)


@dataclass(frozen=True, slots=True)
class CloudObject:
    """A user, group or contact as Graph returns it, active or in the recycle bin."""

    id: str
    kind: ObjectKind
    display_name: str | None = None
    user_principal_name: str | None = None
    mail: str | None = None
    proxy_addresses: tuple[str, ...] = ()
    mail_nickname: str | None = None
    given_name: str | None = None
    surname: str | None = None
    user_type: str | None = None
    account_enabled: bool | None = None
    created: str | None = None
    deleted: bool = False
    deleted_at: str | None = None
    license_count: int = 0
    immutable_id: str | None = None
    sync_enabled: bool | None = None
    dn: str | None = None
    sid: str | None = None
    sam_account_name: str | None = None
    domain_name: str | None = None
    on_premises_object_identifier: str | None = None
    last_sync: str | None = None
    creation_type: str | None = None  # "Invitation": a B2B account, whatever its userType
    external_user_state: str | None = None
    employee_id: str | None = None
    errors: tuple[ProvisioningError, ...] = ()

    @property
    def synced(self) -> bool:
        """Synced means ``onPremisesSyncEnabled`` is true; anything else is cloud-mastered."""
        return self.sync_enabled is True

    @property
    def state(self) -> str:
        return "deleted" if self.deleted else "active"

    def smtp_addresses(self) -> tuple[str, ...]:
        """SMTP proxy addresses without prefix (other types are not addresses)."""
        return tuple(p[5:] for p in self.proxy_addresses if p[:5].lower() == "smtp:")


_T = TypeVar("_T")


def frozen_builder(cls: type[_T]) -> Callable[..., _T]:
    """``cls(...)`` for a frozen slots dataclass at a tenth of the cost, for the paths that make one per directory
    object: a frozen class's ``__init__`` sets each field through ``object.__setattr__`` (about 0.1 µs a field, 3 µs
    for a CloudObject). The builder fills a plain twin with the same slots, then gives the result ``cls`` as its
    class: the same layout, so the object is an ordinary, still frozen ``cls`` (equal, hashable, picklable)."""
    spec = [(f.name, f.type, field(default=f.default, init=f.init, kw_only=f.kw_only) if f.default is not MISSING else
             field(default_factory=f.default_factory, init=f.init, kw_only=f.kw_only)
             if f.default_factory is not MISSING else field(init=f.init, kw_only=f.kw_only))
            for f in fields(cls)]  # type: ignore[arg-type]  # the same __init__ signature as cls
    twin = make_dataclass(f"_{cls.__name__}Builder", spec, slots=True, eq=False, repr=False, match_args=False)
    assert twin.__slots__ == cls.__slots__  # type: ignore[attr-defined]

    def build(*args: Any, **kwargs: Any) -> _T:
        obj = twin(*args, **kwargs)
        obj.__class__ = cls
        made: _T = obj
        return made

    return build


new_cloud_object = frozen_builder(CloudObject)  # CloudObject(...), faster (see frozen_builder)


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    is_default: bool = False
    is_initial: bool = False
    type: str | None = None  # "Managed" | "Federated" when known


@dataclass(slots=True)
class CloudSnapshot:
    """What one read of a tenant produced.

    ``objects`` may be the whole tenant (tenant file, full dump) or only the
    error objects plus every candidate holder (targeted Graph reads): the
    matcher gives the same answer for any superset of the real holders.
    ``features``, ``role_assignments`` and ``role_eligibility`` are ``None``
    when unknown (not readable), never silently empty.
    """

    tenant_id: str
    tenant_name: str | None = None
    domains: tuple[Domain, ...] = ()
    features: Mapping[str, Any] | None = None
    objects: list[CloudObject] = field(default_factory=list)
    directory_role_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    role_assignments: tuple[Mapping[str, Any], ...] | None = None
    role_eligibility: tuple[Mapping[str, Any], ...] | None = None
    group_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    complete: bool = True
    source_label: str = ""
    roles_known: bool = True  # False: neither roleAssignments nor directoryRoles could be read
    error_records: list[ErrorRecord] = field(default_factory=list)  # errors from origins other than connect
    origins_read: tuple[str, ...] = ("connect",)  # origins actually read (a refused one is absent)
    warnings: list[str] = field(default_factory=list)  # reader warnings (refused origin, raw time stamps…)

    def __repr__(self) -> str:  # a summary: asyncio formats a finished task's result (twice per asyncio.run)
        return (f"CloudSnapshot(tenant_id={self.tenant_id!r}, source_label={self.source_label!r}, "
                f"objects={len(self.objects)}, error_records={len(self.error_records)}, complete={self.complete!r})")

    @property
    def initial_domain(self) -> str | None:
        for d in self.domains:
            if d.is_initial:
                return d.name
        return None


@dataclass(frozen=True, slots=True)
class OnPremObject:
    """An Active Directory object, decoded once (LDIF, csvde and LDAP share the decoder)."""

    dn: str
    object_class: str  # most specific of user / group / contact / computer / other
    object_classes: tuple[str, ...] = ()
    object_guid: str | None = None  # canonical GUID string
    object_sid: str | None = None  # S-1-5-21-...
    consistency_guid: str | None = None  # base64 of the raw mS-DS-ConsistencyGuid bytes
    user_principal_name: str | None = None
    mail: str | None = None
    proxy_addresses: tuple[str, ...] = ()
    mail_nickname: str | None = None
    sam_account_name: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    sn: str | None = None
    cn: str | None = None
    target_address: str | None = None
    home_mdb: str | None = None
    recipient_type_details: str | None = None
    user_account_control: int | None = None
    when_created: str | None = None
    when_changed: str | None = None
    is_critical_system_object: bool = False
    group_type: int | None = None
    hidden_from_address_lists: bool = False
    source: str = ""  # label of the OnPremSource it came from
    # large attributes, when the source carries them (an LDIF export that includes them): raw DER certificates
    # (check-onprem's LargeObject checks; the large-attribute remedy picks the stale ones), the photo's size only
    user_certificates: tuple[bytes, ...] = ()
    smime_certificates: tuple[bytes, ...] = ()
    thumbnail_photo_size: int | None = None

    @property
    def anchor(self) -> str | None:
        """The sourceAnchor Entra Connect would use: ConsistencyGuid, else objectGUID (base64)."""
        if self.consistency_guid:
            return self.consistency_guid
        if self.object_guid:
            return guid_to_immutable_id(self.object_guid)
        return None

    @property
    def disabled(self) -> bool | None:
        if self.user_account_control is None:
            return None
        return bool(self.user_account_control & 0x2)

    @property
    def has_mailbox(self) -> bool:
        return bool(self.home_mdb or self.recipient_type_details)

    def smtp_addresses(self) -> tuple[str, ...]:
        return tuple(p[5:] for p in self.proxy_addresses if p[:5].lower() == "smtp:")


# Why a source cannot link an object of a kind (the attribute the link rule needs is absent).
UNLINKABLE_REASONS: dict[str, str] = {
    "user": "users without objectGUID or mS-DS-ConsistencyGuid (the anchor)",
    "group": "groups without objectSid",
    "contact": "contacts without mail or proxyAddresses",
    "unknown": "entries without objectClass and without objectGUID or mS-DS-ConsistencyGuid",
}


new_onprem_object = frozen_builder(OnPremObject)  # OnPremObject(...), faster (see frozen_builder)


def _kind(o: "OnPremObject") -> str | None:
    """The link rule an object falls under; None for objects no cloud object links to (OUs, computers)."""
    if o.object_class in ("user", "group", "contact"):
        return o.object_class
    if not o.object_classes and o.anchor is None:
        return "unknown"  # the export left out objectClass and the anchors: nothing says what it is
    return None


def _linkable(o: "OnPremObject", kind: str) -> bool:
    if kind == "user":
        return o.anchor is not None
    if kind == "group":
        return o.object_sid is not None
    if kind == "contact":
        return bool(o.mail or o.proxy_addresses)
    return False


@dataclass(slots=True)
class OnPremSource:
    """One supplied forest/domain export or LDAP connection, with what it covers.

    ``complete`` is False when the reader saw that the export is only part of
    what it claims (cut off, a size limit hit); ``incomplete`` says why. A source
    covers only what it can link: see :meth:`anchored`.
    """

    label: str
    base_dn: str | None
    objects: list[OnPremObject] = field(default_factory=list)
    skipped: int = 0
    notes: tuple[str, ...] = ()
    complete: bool = True
    incomplete: tuple[str, ...] = ()
    _gaps: dict[str, int] | None = field(default=None, repr=False, compare=False)
    _kinds: dict[str, int] | None = field(default=None, repr=False, compare=False)
    count: int | None = None  # objects read, when ``objects`` keeps only those a scan needs

    def __repr__(self) -> str:  # a summary, as CloudSnapshot's
        return (f"OnPremSource(label={self.label!r}, base_dn={self.base_dn!r}, objects={len(self.objects)}, "
                f"count={self.count!r}, complete={self.complete!r})")

    def _count(self) -> None:
        gaps: dict[str, int] = {}
        kinds: dict[str, int] = {}
        for o in self.objects:
            k = _kind(o)
            if k is None:
                continue
            kinds[k] = kinds.get(k, 0) + 1
            if not _linkable(o, k):
                gaps[k] = gaps.get(k, 0) + 1
        self._gaps, self._kinds = gaps, kinds

    def linkable_count(self) -> int:
        """Objects of a linkable kind that carry their link attribute."""
        if self._gaps is None:
            self._count()
        return sum((self._kinds or {}).values()) - sum((self._gaps or {}).values())

    def unlinkable(self) -> dict[str, int]:
        """Objects this source holds but cannot link to a cloud object: {reason: count}."""
        if self._gaps is None:
            self._count()
        return {UNLINKABLE_REASONS[k]: n for k, n in sorted((self._gaps or {}).items())}

    def anchored(self, kind: str) -> bool:
        """Whether the source can link every object of ``kind`` ("user", "group", "contact") it holds.

        A source links a kind only when it holds objects of that kind and every one
        carries the link attribute: an export filtered to users says nothing about
        groups, and an export without the link attributes (``-l`` omitted
        objectGUID, only DNs) is anchored for nothing.
        """
        if self._gaps is None:
            self._count()
        return bool((self._kinds or {}).get(kind)) and not (self._gaps or {}).get(kind)


@dataclass(frozen=True, slots=True)
class Coverage:
    """The supplied source whose scope holds an object's location, and whether it can decide absence.

    ``anchored``: the source carries the link attributes for the object's kind;
    ``complete``: the export is whole. Only a source that is both proves that an
    object is absent on-prem (an orphan).
    """

    source: str
    anchored: bool
    complete: bool

    @property
    def decisive(self) -> bool:
        return self.anchored and self.complete

    def data(self) -> dict[str, Any]:
        return {"source": self.source, "anchored": self.anchored, "complete": self.complete}


@dataclass(frozen=True, slots=True)
class SourceRef:
    dn: str
    object_guid: str | None
    immutable_id: str | None
    source: str = ""

    def data(self) -> dict[str, Any]:
        return {"dn": self.dn, "object_guid": self.object_guid, "immutable_id": self.immutable_id}


@dataclass(frozen=True, slots=True)
class Holder:
    object: CloudObject
    matched_on: tuple[str, ...]
    source: SourceRef | None = None
    same_kind: bool = True

    def data(self) -> dict[str, Any]:
        return {
            "id": self.object.id,
            "type": self.object.kind.value,
            "display_name": self.object.display_name,
            "user_principal_name": self.object.user_principal_name,
            "state": self.object.state,
            "synced": self.object.synced,
            "matched_on": list(self.matched_on),
            "source": self.source.data() if self.source else None,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    scenario: Scenario
    object: CloudObject | None  # None: the error has no cloud object yet (a Cloud Sync create that failed)
    error: ProvisioningError
    source: SourceRef | None
    holders: tuple[Holder, ...]
    keep: Keep | None = None
    reasons: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    original_upn: str | None = None  # the value DAR replaced, when the UPN is a DAR rename
    fixes: tuple[Mapping[str, Any], ...] = ()
    coverage: Coverage | None = None  # the supplied source whose scope holds the first holder
    origins: tuple[str, ...] = ()  # every origin that reported this conflict; () means (error.origin,)

    @property
    def origin(self) -> str:
        return self.error.origin

    @property
    def all_origins(self) -> tuple[str, ...]:
        return self.origins or (self.error.origin,)

    @property
    def property(self) -> str:
        return self.error.normalized_property

    def data(self) -> dict[str, Any]:
        o = self.object
        conflict: dict[str, Any] = {
            "category": self.error.category,
            "property": self.property,
            "value": self.error.value,
            "occurred": self.error.occurred,
            "origin": self.origin,
            "origins": list(self.all_origins),
        }
        if self.error.description:
            conflict["description"] = self.error.description
        if self.error.code:
            conflict["code"] = self.error.code
        return {
            "id": self.id,
            "scenario": self.scenario.value,
            "object": None if o is None else {
                "id": o.id,
                "type": o.kind.value,
                "display_name": o.display_name,
                "user_principal_name": o.user_principal_name,
                "on_premises_immutable_id": o.immutable_id,
            },
            "conflict": conflict,
            "source": self.source.data() if self.source else None,
            "holders": [h.data() for h in self.holders],
            "keep": self.keep.value if self.keep else None,
            "reasons": list(self.reasons),
            "evidence": list(self.evidence),
            "original_upn": self.original_upn,
            "fixes": [dict(f) for f in self.fixes],
            "coverage": self.coverage.data() if self.coverage else None,
        }


@dataclass(slots=True)
class ScanResult:
    tenant_id: str
    tenant_name: str | None
    generated: str
    findings: list[Finding]
    complete: bool = True
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        return {
            "schema": "reconciler.findings/1",
            "tenant": self.tenant_id,
            "generated": self.generated,
            "findings": [f.data() for f in self.findings],
            "stats": self.stats,
        }
