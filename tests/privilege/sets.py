"""The documented least-privilege sets (docs/permissions.md), as data the tests run with.

Keep this file and the tables in docs/permissions.md in step: ``test_docs_agree`` parses the doc and
compares it with these sets.
"""

from __future__ import annotations

# Delegated-only permissions: the emulator accepts a token carrying them as "a delegated session".
SYNC_FLAGS = "OnPremDirectorySynchronization.Read.All"
PIM = "RoleEligibilitySchedule.Read.Directory"

#: scan / explain with a source / scan --save-tenant / check-onprem with a cloud source: required.
READ_REQUIRED = frozenset({"User.Read.All", "Group.Read.All", "OrgContact.Read.All", "Organization.Read.All",
                           "RoleManagement.Read.Directory"})
#: Cloud Sync's provisioning logs (origin cloud_sync); application permission, needs Entra ID P1/P2.
AUDIT = "AuditLog.Read.All"
#: optional reads and the warning the user sees without them.
READ_OPTIONAL = {SYNC_FLAGS: "sync feature flags are unknown",
                 AUDIT: "Cloud Sync was not read: Graph refused GET /auditLogs/provisioning; grant AuditLog.Read.All"}
#: PIM eligibility needs no extra permission (RoleManagement.Read.Directory reads it, Microsoft lists it as a
#: higher-privileged alternative to RoleEligibilitySchedule.Read.Directory); unreadable (no Entra ID P2)
#: it is "unknown" and the plan says so:
PIM_UNKNOWN = "role eligibility (PIM) is not readable"

#: apply --doit / undo --doit, per Graph step kind (always on top: Organization.Read.All, the tenant check, and
#: RoleManagement.Read.Directory: the guards re-read the target's roles and PIM eligibility before every write).
APPLY_BASE = frozenset({"Organization.Read.All", "RoleManagement.Read.Directory"})
APPLY_REQUIRED: dict[str, frozenset[str]] = {
    "set_immutable_id": APPLY_BASE | {"User.Read.All", "User.ReadUpdate.All"},
    "set_user_principal_name": APPLY_BASE | {"User.Read.All", "User.ReadUpdate.All"},
    "delete_object (user)": APPLY_BASE | {"User.Read.All", "User.DeleteRestore.All"},
    "delete_object (group)": APPLY_BASE | {"Group.ReadWrite.All"},
    "purge_deleted (user)": APPLY_BASE | {"User.Read.All", "User.DeleteRestore.All"},
    "purge_deleted (group)": APPLY_BASE | {"delegated:Group.ReadWrite.All"},
    "restore_deleted (user)": APPLY_BASE | {"User.Read.All", "User.DeleteRestore.All"},
    "restore_deleted (group)": APPLY_BASE | {"Group.ReadWrite.All"},
}
