"""Which least-privileged Graph permission each request needs: the table a 403 is explained from.

A 403 message names the permission from here, never from the error body (free text, sometimes
misleading). ``docs/permissions.md`` and the emulator's permission map are kept equal to this
table by ``tests/privilege/test_tables_agree.py``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["PERMISSIONS", "permission_for", "version_relative"]

# (methods, path regex relative to the version root, least-privilege permission).
# First match wins; the 403 message names the permission from here, never from
# the error body (which is free text and may even be misleading).
PERMISSIONS: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = tuple(
    (frozenset(m.split()), re.compile(p, re.I), perm) for m, p, perm in [
        ("PATCH", r"^/users/[^/]+/onPremisesSyncBehavior", "User-OnPremisesSyncBehavior.ReadWrite.All (beta)"),
        ("PATCH", r"^/groups/[^/]+/onPremisesSyncBehavior", "Group-OnPremisesSyncBehavior.ReadWrite.All (beta)"),
        ("GET", r"^/users/[^/]+/memberOf", "GroupMember.Read.All"),
        ("GET", r"^/groups/[^/]+/(transitive)?members", "GroupMember.Read.All"),
        ("GET", r"^/users(/|$|\?)", "User.Read.All"),
        ("PATCH", r"^/users/[^/]+$", "User.ReadUpdate.All (plus Privileged Authentication "
                                     "Administrator to change UPN/immutable id of an admin)"),
        ("DELETE", r"^/users/[^/]+$", "User.DeleteRestore.All"),
        ("GET", r"^/groups(/|$|\?)", "Group.Read.All"),
        ("PATCH DELETE", r"^/groups/[^/]+$", "Group.ReadWrite.All"),
        ("GET", r"^/contacts(/|$|\?)", "OrgContact.Read.All"),
        ("GET", r"^/directory/deletedItems/microsoft\.graph\.user", "User.Read.All"),
        ("GET", r"^/directory/deletedItems/microsoft\.graph\.group", "Group.Read.All"),
        ("GET", r"^/directory/deletedItems/", "User.Read.All or Group.Read.All"),
        ("POST", r"^/directory/deletedItems/[^/]+/restore", "User.DeleteRestore.All (users) or "
                                                            "Group.ReadWrite.All (groups)"),
        ("DELETE", r"^/directory/deletedItems/", "User.DeleteRestore.All (users) or delegated Group.ReadWrite.All "
                                                 "(groups: no application permission can purge a group)"),
        ("GET", r"^/roleManagement/directory/roleEligibility", "RoleEligibilitySchedule.Read.Directory"),
        ("GET", r"^/roleManagement/directory/", "RoleManagement.Read.Directory"),
        ("GET", r"^/directoryRoles", "RoleManagement.Read.Directory"),
        ("GET", r"^/organization", "Organization.Read.All"),
        ("GET PATCH", r"^/directory/onPremisesSynchronization",
         "delegated OnPremDirectorySynchronization.Read.All signed in as Global Administrator "
         "(application permissions are not supported)"),
        ("GET", r"^/domains", "Domain.Read.All"),
        ("GET", r"^/auditLogs/provisioning", "AuditLog.Read.All"),
    ])


def version_relative(url: str) -> str:
    """``https://graph.microsoft.com/v1.0/users?x`` or ``/users?x`` -> ``/users``."""
    path = urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    path = "/" + path.lstrip("/")
    m = re.match(r"^/(v1\.0|beta)(/.*)?$", path)
    if m:
        path = m.group(2) or "/"
    return path


def permission_for(method: str, url: str) -> str:
    """The least-privilege permission reconciler documents for ``method url``."""
    path = version_relative(url)
    for methods, pattern, perm in PERMISSIONS:
        if method.upper() in methods and pattern.search(path):
            return perm
    return "a Graph permission for " + f"{method.upper()} {path} (see docs/graph.md)"
