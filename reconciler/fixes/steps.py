"""PURE: the closed set of plan step kinds and the inert ``Step`` value.

A step is data (docs/plan-apply.md): what to change on which target, the values
the decision relied on (``expect``), how to reverse it (``undo``) and why.
Nothing here performs I/O; :mod:`reconciler.fixes.apply` executes steps through one
choke point per writer, the emitters in :mod:`reconciler.fixes.emit` write the
external ones (PowerShell, LDIF).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Never, NoReturn

from ..core.model import fold

__all__ = [
    "smtp_entries", "holds_expect",
    "DELETES",
    "EXTERNAL",
    "IRREVERSIBLE",
    "Executor",
    "Step",
    "StepKind",
    "StepShapeError",
    "assert_never",
    "check_step",
    "expect_holds",
]


class StepKind(str, enum.Enum):
    """Every kind of step a plan may hold; adding one forces the exhaustiveness tests to fail."""

    DELETE_OBJECT = "delete_object"
    PURGE_DELETED = "purge_deleted"
    RESTORE_DELETED = "restore_deleted"
    SET_IMMUTABLE_ID = "set_immutable_id"
    SET_USER_PRINCIPAL_NAME = "set_user_principal_name"
    REMOVE_PROXY_ADDRESS = "remove_proxy_address"
    SET_PRIMARY_SMTP = "set_primary_smtp"
    SET_CONSISTENCY_GUID = "set_consistency_guid"
    REMOVE_SYNCED_OBJECT = "remove_synced_object"
    PAUSE_SYNC_SCHEDULER = "pause_sync_scheduler"
    RESUME_SYNC_SCHEDULER = "resume_sync_scheduler"
    RUN_DELTA_SYNC = "run_delta_sync"
    WAIT = "wait"
    #: manual: a runbook an administrator follows (admin-role conflicts, blocked hard matches); never automated
    RUNBOOK = "runbook"
    #: ldap: remove listed values of a multi-valued attribute (stale certificates of a large object)
    REMOVE_ATTRIBUTE_VALUE = "remove_attribute_value"
    #: graph (beta ``onPremisesSyncBehavior``): move an object's source of authority to the cloud
    SET_CLOUD_MANAGED = "set_cloud_managed"


class Executor(str, enum.Enum):
    GRAPH = "graph"
    LDAP = "ldap"
    POWERSHELL = "powershell"
    MANUAL = "manual"


#: Kinds counted against ``--max-deletes`` (purges and removals count).
DELETES = frozenset({StepKind.DELETE_OBJECT, StepKind.PURGE_DELETED, StepKind.REMOVE_SYNCED_OBJECT})
#: Kinds that cannot be reversed; the plan says so in ``why`` before they happen.
IRREVERSIBLE = frozenset({StepKind.PURGE_DELETED, StepKind.REMOVE_SYNCED_OBJECT})
#: Executors the admin runs; a step of theirs is done once confirmed (``--confirm``).
EXTERNAL = frozenset({Executor.POWERSHELL, Executor.MANUAL})


def assert_never(value: Never) -> NoReturn:  # pragma: no cover - reached only on a new enum member
    raise AssertionError(f"unhandled value: {value!r}")


class StepShapeError(ValueError):
    """A step dict that does not have the ``reconciler.plan/1`` shape (message names the field)."""


@dataclass(frozen=True)
class Step:
    """One inert plan step; ``data`` is its ``reconciler.plan/1`` JSON form."""

    id: str
    kind: StepKind
    executor: Executor
    target: Mapping[str, Any] | None
    expect: Mapping[str, Any] = field(default_factory=dict)
    change: Mapping[str, Any] = field(default_factory=dict)
    undo: Mapping[str, Any] | None = None
    why: str = ""
    finding: str | None = None
    after: tuple[str, ...] = ()

    @property
    def data(self) -> dict[str, Any]:
        return {"id": self.id, "finding": self.finding, "after": list(self.after), "kind": self.kind.value,
                "executor": self.executor.value,
                "target": dict(self.target) if self.target is not None else None,
                "expect": dict(self.expect), "change": dict(self.change),
                "undo": dict(self.undo) if self.undo is not None else None, "why": self.why}

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> Step:
        """Parse one plan step; raises :class:`StepShapeError` naming the bad field."""
        if not isinstance(d, Mapping):
            raise StepShapeError("a step must be an object")
        sid = _str(d, "id")
        kind = _enum(StepKind, d, "kind")
        executor = _enum(Executor, d, "executor")
        after = d.get("after") or []
        if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
            raise StepShapeError("after must be a list of step ids")
        target = d.get("target")
        for key in ("expect", "change"):
            if not isinstance(d.get(key, {}), Mapping):
                raise StepShapeError(f"{key} must be an object")
        if target is not None and not isinstance(target, Mapping):
            raise StepShapeError("target must be an object or null")
        undo = d.get("undo")
        if undo is not None and not isinstance(undo, Mapping):
            raise StepShapeError("undo must be an object or null")
        return cls(id=sid, kind=kind, executor=executor, target=target, expect=d.get("expect") or {},
                   change=d.get("change") or {}, undo=undo, why=str(d.get("why") or ""),
                   finding=d.get("finding"), after=tuple(after))

    @property
    def is_delete(self) -> bool:
        return self.kind in DELETES

    @property
    def external(self) -> bool:
        return self.executor in EXTERNAL

    @property
    def object_id(self) -> str | None:
        return None if self.target is None else self.target.get("id")

    @property
    def dn(self) -> str | None:
        return None if self.target is None else self.target.get("dn")


def _str(d: Mapping[str, Any], key: str) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise StepShapeError(f"{key} must be a non-empty string")
    return v


def _enum(cls: type[enum.Enum], d: Mapping[str, Any], key: str) -> Any:
    v = d.get(key)
    try:
        return cls(v)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
        raise StepShapeError(f"{key} {v!r} is not one of {allowed}") from None


def expect_holds(expect: Mapping[str, Any], current: Mapping[str, Any] | None) -> list[str]:
    """Differences between a step's ``expect`` and the target as re-read (empty = holds).

    ``current`` is ``None`` when the target no longer exists. A list in
    ``expect`` means "contains these values" (multi-valued attributes).
    """
    if current is None:
        return ["the target no longer exists"]
    out: list[str] = []
    for key, want in expect.items():
        have = current.get(key)
        if isinstance(want, list):
            have_list = have if isinstance(have, list) else ([] if have is None else [have])
            missing = [w for w in want if w not in have_list]
            if missing:
                out.append(f"{key} no longer contains {missing!r}")
        elif have != want:
            out.append(f"{key} is {have!r}, expected {want!r}")
    return out


# --------------------------------------------------------------------------- what each kind may touch
#
# A plan is checked before anything runs (docs/plan-apply.md, "A plan is checked before anything runs"):
# every key of a step's change, expect and undo must be an attribute its kind and executor may touch,
# and every value a string (or a list of strings) of bounded length without line breaks; booleans,
# null and small integers are allowed where the kind uses them (``deleted``, ``Add``, ``minutes``).
# ``expect`` keys are what apply's re-read returns for that executor, so every expectation can be
# checked; anything else could never hold (or, worse, could carry text into a script or LDIF file).

#: Graph user/group attributes apply re-reads (reconciler.fixes.writers.graph) and a step may expect.
GRAPH_EXPECT = frozenset({
    "deleted", "type", "id", "userPrincipalName", "displayName", "givenName", "surname", "mail", "mailNickname",
    "proxyAddresses", "userType", "onPremisesImmutableId", "onPremisesObjectIdentifier", "onPremisesSyncEnabled",
    "creationType", "externalUserState", "employeeId", "accountEnabled", "createdDateTime", "mailEnabled",
    "securityEnabled", "licences", "onPremisesDistinguishedName", "onPremisesDomainName",
    "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "deletedDateTime"})
#: On-prem attributes the LDAP writer reads back (names compared without letter case, as AD does).
LDAP_ATTRIBUTES = frozenset(a.lower() for a in (
    "userPrincipalName", "proxyAddresses", "mail", "mS-DS-ConsistencyGuid", "objectGUID", "sAMAccountName",
    "displayName", "givenName", "sn", "employeeID", "distinguishedName", "objectClass", "userCertificate",
    "userSMIMECertificate"))
#: Multi-valued LDAP attributes a step changes with ``{"add": [...], "remove": [...]}``.
LDAP_LISTS = frozenset({"proxyaddresses", "usercertificate", "usersmimecertificate"})
#: Certificates travel base64-encoded DER (a few KB each), far longer than any name or address.
LONG_VALUES = frozenset({"usercertificate", "usersmimecertificate"})
MAX_CERTIFICATE = 32_768
#: Parameters the PowerShell templates use (reconciler.fixes.emit.render_command).
PS_PARAMS = frozenset({"Identity", "Recipient", "Address", "Add", "SourceAnchor", "ObjectType"})
_PS = {"change": frozenset({"params", "command"}), "undo": frozenset({"params", "command"})}


@dataclass(frozen=True)
class KindShape:
    """Which keys one (kind, executor) may carry in change / expect / undo."""

    change: frozenset[str] = frozenset()
    expect: frozenset[str] = frozenset()
    undo: frozenset[str] = frozenset()


def _shape(change: set[str] | frozenset[str] = frozenset(), expect: frozenset[str] = frozenset(),
           undo: set[str] | frozenset[str] = frozenset()) -> KindShape:
    return KindShape(frozenset(change), frozenset(expect), frozenset(undo))


_PS_SHAPE = _shape(_PS["change"], frozenset({"proxyAddresses", "onPremisesImmutableId", "userPrincipalName",
                                             "mail", "deleted", "displayName"}), _PS["undo"])
SHAPES: dict[tuple[StepKind, Executor], KindShape] = {
    (StepKind.SET_IMMUTABLE_ID, Executor.GRAPH): _shape({"onPremisesImmutableId"}, GRAPH_EXPECT,
                                                        {"onPremisesImmutableId"}),
    (StepKind.SET_USER_PRINCIPAL_NAME, Executor.GRAPH): _shape({"userPrincipalName"}, GRAPH_EXPECT,
                                                               {"userPrincipalName"}),
    (StepKind.SET_USER_PRINCIPAL_NAME, Executor.LDAP): _shape({"userprincipalname"}, LDAP_ATTRIBUTES,
                                                              {"userprincipalname"}),
    (StepKind.REMOVE_PROXY_ADDRESS, Executor.LDAP): _shape({"proxyaddresses"}, LDAP_ATTRIBUTES, {"proxyaddresses"}),
    (StepKind.SET_CONSISTENCY_GUID, Executor.LDAP): _shape({"ms-ds-consistencyguid"}, LDAP_ATTRIBUTES,
                                                           {"ms-ds-consistencyguid"}),
    (StepKind.DELETE_OBJECT, Executor.GRAPH): _shape(frozenset(), GRAPH_EXPECT, {"restore"}),
    (StepKind.PURGE_DELETED, Executor.GRAPH): _shape(frozenset(), GRAPH_EXPECT),
    (StepKind.RESTORE_DELETED, Executor.GRAPH): _shape({"autoReconcileProxyConflict", "newUserPrincipalName"},
                                                       GRAPH_EXPECT, {"delete"}),
    (StepKind.REMOVE_PROXY_ADDRESS, Executor.POWERSHELL): _PS_SHAPE,
    (StepKind.SET_PRIMARY_SMTP, Executor.POWERSHELL): _PS_SHAPE,
    (StepKind.REMOVE_SYNCED_OBJECT, Executor.POWERSHELL): _PS_SHAPE,
    (StepKind.PAUSE_SYNC_SCHEDULER, Executor.POWERSHELL): _PS_SHAPE,
    (StepKind.RESUME_SYNC_SCHEDULER, Executor.POWERSHELL): _PS_SHAPE,
    (StepKind.RUN_DELTA_SYNC, Executor.MANUAL): _shape({"text", "command"}),
    (StepKind.WAIT, Executor.MANUAL): _shape({"text", "minutes"}),
    (StepKind.RUNBOOK, Executor.MANUAL): _shape({"text"}),
    (StepKind.REMOVE_ATTRIBUTE_VALUE, Executor.LDAP): _shape(LONG_VALUES, LDAP_ATTRIBUTES, LONG_VALUES),
    (StepKind.SET_CLOUD_MANAGED, Executor.GRAPH): _shape({"isCloudManaged"}, GRAPH_EXPECT, {"isCloudManaged"}),
}

#: Longest value (characters) and longest list a step may carry; Entra's own limits are far below.
MAX_VALUE = 1024
MAX_ITEMS = 100
_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _bad_text(text: str, what: str, limit: int = MAX_VALUE) -> str | None:
    if len(text) > limit:
        return f"{what} is longer than {limit} characters"
    if any(c in _BREAKS for c in text):
        return f"{what} contains a line break"
    if "\x00" in text:
        return f"{what} contains a NUL character"
    return None


def _bad_scalar(value: Any, what: str, *, ints: bool = False) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _bad_text(value, what)
    if ints and isinstance(value, int) and 0 <= value <= 100_000:
        return None
    return f"{what} must be a string, a list of strings, true/false or null (got {type(value).__name__})"


def _bad_value(value: Any, what: str, *, ints: bool = False, limit: int = MAX_VALUE) -> str | None:
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            return f"{what} has more than {MAX_ITEMS} values"
        for i, v in enumerate(value):
            if not isinstance(v, str):
                return f"{what}[{i}] must be a string"
            bad = _bad_text(v, f"{what}[{i}]", limit)
            if bad:
                return bad
        return None
    return _bad_scalar(value, what, ints=ints)


def _bad_key(key: Any, where: str) -> str | None:
    if not isinstance(key, str) or not key or len(key) > 64:
        return f"{where} has a key that is not a short attribute name"
    if not all(c.isascii() and (c.isalnum() or c == "-") for c in key):
        return f"{where} key {key!r} is not an attribute name (letters, digits and '-' only)"
    return None


def _check_section(step: Step, section: str, data: Mapping[str, Any] | None, allowed: frozenset[str]) -> str | None:
    if not data:
        return None
    ldap = step.executor is Executor.LDAP
    for key, value in data.items():
        bad = _bad_key(key, section)
        if bad:
            return bad
        if (key.lower() if ldap else key) not in allowed:
            return (f"{section}.{key} is not an attribute a {step.kind.value} step ({step.executor.value}) "
                    "may touch")
        what = f"{section}.{key}"
        if isinstance(value, Mapping):
            bad = _check_nested(step, section, key, value)
        else:
            bad = _bad_value(value, what, ints=key == "minutes",
                             limit=MAX_CERTIFICATE if ldap and key.lower() in LONG_VALUES else MAX_VALUE)
        if bad:
            return bad
    return None


def _check_nested(step: Step, section: str, key: str, value: Mapping[str, Any]) -> str | None:
    what = f"{section}.{key}"
    if step.executor is Executor.POWERSHELL and key == "params":
        for name, v in value.items():
            if name not in PS_PARAMS:
                return f"{what}.{name} is not a parameter of the PowerShell templates"
            bad = _bad_scalar(v, f"{what}.{name}")
            if bad:
                return bad
        return None
    if step.executor is Executor.LDAP and section in ("change", "undo") and key.lower() in LDAP_LISTS:
        for op, v in value.items():
            if op not in ("add", "remove") or not isinstance(v, list):
                return f"{what} may only hold add and remove lists"
            bad = _bad_value(v, f"{what}.{op}", limit=MAX_CERTIFICATE if key.lower() in LONG_VALUES else MAX_VALUE)
            if bad:
                return bad
        return None
    return f"{what} must be a string, a list of strings, true/false or null"


def check_step(step: Step) -> str | None:
    """Why this step may not run (one line naming the field), or None: the kind table and value rules above."""
    shape = SHAPES.get((step.kind, step.executor))
    if shape is None:
        return f"a {step.kind.value} step cannot have executor {step.executor.value}"
    if any(c in _BREAKS or not c.isprintable() for c in step.id) or len(step.id) > 64:
        return "the step id must be printable, one line, at most 64 characters"
    for section, data, allowed in (("change", step.change, shape.change), ("expect", step.expect, shape.expect),
                                   ("undo", step.undo, shape.undo)):
        bad = _check_section(step, section, data, allowed)
        if bad:
            return bad
    target = step.target or {}
    for k in ("id", "dn", "type", "object", "name", "cloud_id", "cloud_type"):
        v = target.get(k)
        if v is not None and (not isinstance(v, str) or _bad_text(v, f"target.{k}")):
            return _bad_text(v, f"target.{k}") if isinstance(v, str) else f"target.{k} must be a string"
    return None


# --------------------------------------------------------------------------- expect: "still holds the value"


def smtp_entries(values: Iterable[str] | None, value: str) -> list[str]:
    """The exact proxyAddresses entries that carry ``value`` (SMTP only)."""
    key = fold(value)
    return [v for v in values or () if isinstance(v, str) and v[:5].lower() == "smtp:" and fold(v) == key]


def holds_expect(attrs: Mapping[str, Any], value: str) -> dict[str, Any]:
    """``expect`` entries proving that an object still holds ``value`` (its UPN, mail and SMTP entries)."""
    out: dict[str, Any] = {}
    if not value:
        return out
    if fold(attrs.get("userPrincipalName") or "") == fold(value):
        out["userPrincipalName"] = attrs["userPrincipalName"]
    if fold(attrs.get("mail") or "") == fold(value):
        out["mail"] = attrs["mail"]
    entries = smtp_entries(attrs.get("proxyAddresses"), value)
    if entries:
        out["proxyAddresses"] = entries
    return out
