"""What the planner's guards need of the tenant beyond the findings: :class:`TenantContext`.

:func:`context_from_snapshot` builds it at scan time; the scan stores its ``.data()`` with the run, so a plan
made later judges roles, features and domains as they were when the findings were made. (Apart from the
planner so that a scan, which stores the context, does not import the planner.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.model import CloudSnapshot

__all__ = ["TenantContext", "context_from_snapshot"]


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
