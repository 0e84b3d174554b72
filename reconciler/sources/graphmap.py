"""Graph JSON (dicts as Graph v1.0 returns them) -> slim model objects.

Shared by the tenant-file reader and the Graph adapter, so a real dump and a
fixture map the same way. Raises ``ValueError`` with a short reason on a
wrong-shaped object; callers turn that into ``BadInput`` with the place.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..core.model import CloudObject, Domain, ObjectKind, ProvisioningError, new_cloud_object
from .timestamps import normalise_time

__all__ = ["to_cloud_object", "to_domains", "USER_SELECT", "GROUP_SELECT", "CONTACT_SELECT"]

# The properties reconciler reads; the Graph adapter $selects exactly these.
USER_SELECT = (
    "id,displayName,userPrincipalName,mail,proxyAddresses,mailNickname,givenName,surname,"
    "userType,accountEnabled,createdDateTime,assignedLicenses,onPremisesImmutableId,"
    "onPremisesSyncEnabled,onPremisesDistinguishedName,onPremisesSecurityIdentifier,"
    "onPremisesSamAccountName,onPremisesDomainName,onPremisesLastSyncDateTime,"
    "onPremisesProvisioningErrors,serviceProvisioningErrors,creationType,externalUserState,employeeId"
)
GROUP_SELECT = (
    "id,displayName,mail,mailEnabled,mailNickname,securityEnabled,groupTypes,proxyAddresses,"
    "createdDateTime,isAssignableToRole,onPremisesSyncEnabled,onPremisesSecurityIdentifier,"
    "onPremisesSamAccountName,onPremisesDomainName,onPremisesLastSyncDateTime,"
    "onPremisesProvisioningErrors,serviceProvisioningErrors"
)
CONTACT_SELECT = (
    "id,displayName,givenName,surname,mail,mailNickname,proxyAddresses,onPremisesSyncEnabled,"
    "onPremisesLastSyncDateTime,onPremisesProvisioningErrors,serviceProvisioningErrors"
)


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ValueError(f"{key} must be a string, not {type(v).__name__}")
    return v


def _opt_bool(d: Mapping[str, Any], key: str) -> bool | None:
    v = d.get(key)
    if v is None or isinstance(v, bool):
        return v
    raise ValueError(f"{key} must be true, false or null")


def _str_list(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    v = d.get(key)
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"{key} must be a list of strings")
    return tuple(v)


def _errors(d: Mapping[str, Any], warnings: list[str] | None = None) -> tuple[ProvisioningError, ...]:
    raw = d.get("onPremisesProvisioningErrors")
    if not raw:
        return ()
    if not isinstance(raw, list):
        raise ValueError("onPremisesProvisioningErrors must be a list")
    out = []
    for i, e in enumerate(raw):
        if not isinstance(e, dict):
            raise ValueError(f"onPremisesProvisioningErrors[{i}] must be an object")
        occurred, warn = normalise_time(e.get("occurredDateTime"),
                                        f"{d.get('id')} onPremisesProvisioningErrors[{i}].occurredDateTime")
        if warn and warnings is not None:
            warnings.append(warn)
        out.append(ProvisioningError(
            category=str(e.get("category") or ""),
            property=str(e.get("propertyCausingError") or ""),
            value=str(e.get("value") or ""),
            occurred=occurred,
        ))
    return tuple(out)


# The string properties read, in CloudObject's order, "id" last: one C-level pass fetches them all.
_STRINGS = ("displayName", "userPrincipalName", "mail", "mailNickname", "givenName", "surname", "userType",
            "createdDateTime", "deletedDateTime", "onPremisesImmutableId", "onPremisesDistinguishedName",
            "onPremisesSecurityIdentifier", "onPremisesSamAccountName", "onPremisesDomainName",
            "onPremisesObjectIdentifier", "onPremisesLastSyncDateTime", "creationType", "externalUserState",
            "employeeId", "id")
_PLAIN = frozenset((str, type(None)))
_BOOLS = frozenset((bool, type(None)))
_STR = frozenset((str,))


def to_cloud_object(d: Any, kind: ObjectKind, *, deleted: bool = False,
                    warnings: list[str] | None = None) -> CloudObject:
    """Map one Graph resource dict; ``deleted`` for recycle-bin objects.

    The usual object (plain strings, booleans and a list of strings, as JSON gives them) is checked in
    one pass; anything else goes through the property-by-property checks, which name what is wrong.
    """
    if type(d) is dict:
        get = d.get
        v = tuple(map(get, _STRINGS))
        proxies = get("proxyAddresses")
        enabled, sync = get("accountEnabled"), get("onPremisesSyncEnabled")
        if (v[19] and _PLAIN.issuperset(map(type, v)) and type(enabled) in _BOOLS and type(sync) in _BOOLS
                and (proxies is None or (type(proxies) is list and _STR.issuperset(map(type, proxies))))):
            lic = get("assignedLicenses")
            return new_cloud_object(
                v[19], kind, v[0], v[1], v[2], () if proxies is None else tuple(proxies), v[3], v[4], v[5], v[6],
                enabled, v[7], deleted or v[8] is not None, v[8], len(lic) if isinstance(lic, list) else 0, v[9],
                sync, v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], _errors(d, warnings))
    return _checked_cloud_object(d, kind, deleted=deleted, warnings=warnings)


def _checked_cloud_object(d: Any, kind: ObjectKind, *, deleted: bool = False,
                          warnings: list[str] | None = None) -> CloudObject:
    if not isinstance(d, dict):
        raise ValueError("must be a JSON object")
    oid = d.get("id")
    if not isinstance(oid, str) or not oid:
        raise ValueError("has no id")
    lic = d.get("assignedLicenses")
    return CloudObject(
        id=oid,
        kind=kind,
        display_name=_opt_str(d, "displayName"),
        user_principal_name=_opt_str(d, "userPrincipalName"),
        mail=_opt_str(d, "mail"),
        proxy_addresses=_str_list(d, "proxyAddresses"),
        mail_nickname=_opt_str(d, "mailNickname"),
        given_name=_opt_str(d, "givenName"),
        surname=_opt_str(d, "surname"),
        user_type=_opt_str(d, "userType"),
        account_enabled=_opt_bool(d, "accountEnabled"),
        created=_opt_str(d, "createdDateTime"),
        deleted=deleted or d.get("deletedDateTime") is not None,
        deleted_at=_opt_str(d, "deletedDateTime"),
        license_count=len(lic) if isinstance(lic, list) else 0,
        immutable_id=_opt_str(d, "onPremisesImmutableId"),
        sync_enabled=_opt_bool(d, "onPremisesSyncEnabled"),
        dn=_opt_str(d, "onPremisesDistinguishedName"),
        sid=_opt_str(d, "onPremisesSecurityIdentifier"),
        sam_account_name=_opt_str(d, "onPremisesSamAccountName"),
        domain_name=_opt_str(d, "onPremisesDomainName"),
        on_premises_object_identifier=_opt_str(d, "onPremisesObjectIdentifier"),
        last_sync=_opt_str(d, "onPremisesLastSyncDateTime"),
        creation_type=_opt_str(d, "creationType"),
        external_user_state=_opt_str(d, "externalUserState"),
        employee_id=_opt_str(d, "employeeId"),
        errors=_errors(d, warnings),
    )


def to_domains(org: Any) -> tuple[Domain, ...]:
    if not isinstance(org, dict):
        return ()
    raw = org.get("verifiedDomains") or []
    if not isinstance(raw, list):
        raise ValueError("verifiedDomains must be a list")
    out = []
    for v in raw:
        if isinstance(v, dict) and isinstance(v.get("name"), str):
            out.append(Domain(name=v["name"], is_default=bool(v.get("isDefault")),
                              is_initial=bool(v.get("isInitial")), type=v.get("type")))
    return tuple(out)
