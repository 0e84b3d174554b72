"""PURE: the closed set of plan step kinds and the inert ``Step`` value.

A step is data (docs/plan-apply.md): what to change on which target, the values
the decision relied on (``expect``), how to reverse it (``undo``) and why.
Nothing here performs I/O; :mod:`reconciler.fixes.apply` executes steps through one
choke point per writer, the emitters in :mod:`reconciler.fixes.emit` write the
external ones (PowerShell, LDIF).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Never, NoReturn

__all__ = [
    "DELETES",
    "EXTERNAL",
    "IRREVERSIBLE",
    "Executor",
    "Step",
    "StepKind",
    "StepShapeError",
    "assert_never",
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
