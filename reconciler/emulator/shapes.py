"""Graph response shapes: errors, property projection, paging tokens, permission sets."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

__all__ = [
    "LIST_PROPS",
    "PERMS",
    "USER_DEFAULT",
    "GraphError",
    "decode_token",
    "encode_token",
    "known_properties",
    "project",
]


class GraphError(Exception):
    """Becomes ``{"error": {"code", "message", "innerError"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def not_found(oid: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound",
                      f"Resource '{oid}' does not exist or one of its queried reference-property objects "
                      f"are not present.")


def denied() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


# Users return only this set unless $select says otherwise (Graph v1.0 default).
USER_DEFAULT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
LIST_PROPS = frozenset({"businessPhones", "proxyAddresses", "otherMails", "assignedLicenses",
                        "onPremisesProvisioningErrors", "groupTypes", "imAddresses", "identities",
                        "serviceProvisioningErrors", "assignedPlans", "provisionedPlans", "addresses",
                        "phones", "resourceBehaviorOptions", "resourceProvisioningOptions"})
_INTERNAL = frozenset({"members"})

_COMMON = {"id", "deletedDateTime", "displayName", "mail", "mailNickname", "proxyAddresses",
           "onPremisesSyncEnabled", "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors",
           "serviceProvisioningErrors", "createdDateTime", "description"}
_STATIC = {
    "user": _COMMON | {"userPrincipalName", "givenName", "surname", "userType", "accountEnabled",
                       "assignedLicenses", "onPremisesImmutableId", "onPremisesDistinguishedName",
                       "onPremisesSecurityIdentifier", "onPremisesSamAccountName", "onPremisesDomainName",
                       "onPremisesUserPrincipalName", "onPremisesExtensionAttributes", "otherMails",
                       "businessPhones", "jobTitle", "mobilePhone", "officeLocation", "preferredLanguage",
                       "companyName", "department", "employeeId", "identities", "imAddresses",
                       "externalUserState", "creationType", "usageLocation", "assignedPlans",
                       "signInActivity", "onPremisesObjectIdentifier"},
    "group": _COMMON | {"mailEnabled", "securityEnabled", "groupTypes", "visibility", "isAssignableToRole",
                        "onPremisesSecurityIdentifier", "onPremisesSamAccountName", "onPremisesDomainName",
                        "onPremisesNetBiosName", "securityIdentifier", "classification", "renewedDateTime",
                        "expirationDateTime", "membershipRule", "resourceProvisioningOptions"},
    "orgContact": _COMMON | {"givenName", "surname", "companyName", "department", "jobTitle", "addresses",
                             "phones"},
    "directoryRole": {"id", "deletedDateTime", "description", "displayName", "roleTemplateId"},
    "unifiedRoleAssignment": {"id", "roleDefinitionId", "principalId", "directoryScopeId", "appScopeId",
                              "condition", "principalOrganizationId"},
    "unifiedRoleEligibilitySchedule": {"id", "roleDefinitionId", "principalId", "directoryScopeId",
                                       "appScopeId", "memberType", "scheduleInfo", "status",
                                       "createdDateTime", "modifiedDateTime", "createdUsing"},
    "directoryObject": {"id", "deletedDateTime"},
}


def known_properties(type_name: str, seen: set[str] | None = None) -> set[str]:
    return set(_STATIC.get(type_name, {"id"})) | (seen or set()) - _INTERNAL


def project(obj: dict[str, Any], type_name: str, select: list[str] | None,
            cast: bool = False) -> dict[str, Any]:
    """The object as Graph returns it for this ``$select`` (None = the type's default set)."""
    out: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{type_name}"} if cast else {}
    if select is None:
        if type_name == "user":
            select = list(USER_DEFAULT)
        else:
            out.update((k, v) for k, v in obj.items() if k not in _INTERNAL)
            return out
    for prop in select:
        v = obj.get(prop)
        out[prop] = [] if v is None and prop in LIST_PROPS else v
    if "id" not in out and "id" in obj:
        out["id"] = obj["id"]
    return out


# ---------------------------------------------------------------- opaque paging tokens


def _sig(payload: bytes, secret: bytes) -> str:
    return hashlib.blake2s(payload, key=secret, digest_size=6).hexdigest()


def encode_token(state: dict[str, Any], secret: bytes) -> str:
    payload = orjson.dumps(state)
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + _sig(payload, secret)


def decode_token(token: str, secret: bytes) -> dict[str, Any]:
    body, sig = token[:-12], token[-12:]
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if _sig(payload, secret) != sig:
            raise ValueError("signature")
        state = orjson.loads(payload)
        if not isinstance(state, dict):
            raise ValueError("shape")  # noqa: TRY004 (caught just below, like every bad token)
        return state
    except (ValueError, orjson.JSONDecodeError):
        raise bad_request("The specified page token value has expired or is invalid: '$skiptoken'.",
                          "Directory_ExpiredPageToken") from None


# ---------------------------------------------------------------- application permissions

_DIR_R = {"Directory.Read.All", "Directory.ReadWrite.All"}
PERMS: dict[str, set[str]] = {
    "user.read": {"User.Read.All", "User.ReadWrite.All"} | _DIR_R,
    # a delegated Group.ReadWrite.All session (the only way to purge a deleted group) reads groups too
    "group.read": {"Group.Read.All", "Group.ReadWrite.All", "delegated:Group.ReadWrite.All"} | _DIR_R,
    "member.read": {"GroupMember.Read.All", "GroupMember.ReadWrite.All", "Group.Read.All",
                    "Group.ReadWrite.All"} | _DIR_R,
    "contact.read": {"OrgContact.Read.All"} | _DIR_R,
    "role.read": {"RoleManagement.Read.Directory", "RoleManagement.Read.All",
                  "RoleManagement.ReadWrite.Directory"} | _DIR_R,
    "eligibility.read": {"RoleEligibilitySchedule.Read.Directory", "RoleEligibilitySchedule.ReadWrite.Directory",
                         "RoleManagement.Read.Directory", "RoleManagement.Read.All",
                         "RoleManagement.ReadWrite.Directory"},
    "org.read": {"Organization.Read.All", "Organization.ReadWrite.All"} | _DIR_R,
    # provisioning logs: AuditLog.Read.All only (Directory.Read.All does not reach the audit logs)
    "audit.read": {"AuditLog.Read.All"},
    # Delegated-only in Graph (plus Global Administrator); a token carrying it stands for that session.
    "sync.read": {"OnPremDirectorySynchronization.Read.All", "OnPremDirectorySynchronization.ReadWrite.All"},
    "user.update": {"User.ReadWrite.All", "User.ReadUpdate.All", "Directory.ReadWrite.All"},
    "user.delete": {"User.ReadWrite.All", "User.DeleteRestore.All"},
    "group.delete": {"Group.ReadWrite.All", "Directory.ReadWrite.All"},
    "user.purge": {"User.DeleteRestore.All", "User.ReadWrite.All"},
    # Purging deleted groups is delegated-only: no application permission works.
    "group.purge": {"delegated:Group.ReadWrite.All"},
    "user.restore": {"User.DeleteRestore.All", "User.ReadWrite.All"},
    "group.restore": {"Group.ReadWrite.All"},
}
