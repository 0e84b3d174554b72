"""Conflict planting for :mod:`reconciler.emulator.generate`: one function per scenario (README, "What a finding says").

Each planter writes the erroring object (E), its on-prem source (S) when the
LDIF holds one, the holder (H) as the scenario needs it, and records the
finding *as planted*. Variants rotate so every holder kind appears: users,
groups and contacts, active and deleted, linked, orphaned and from the second
forest that the LDIF does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .generate import (
    CORP_DOMAIN,
    CORP_SID,
    DOMAIN,
    FAB_DOMAIN,
    FAB_SID,
    INITIAL,
    ROLES,
    SYNC_TIME,
    OnPrem,
    Person,
    _b64,
    _deleted_user,
    error,
)

if TYPE_CHECKING:
    from .generate import Generator

__all__ = ["PLANTERS", "plant"]


def _source(gen: Generator, *, forest: str = "corp") -> tuple[Person, OnPrem, str, str]:
    """A new on-prem user S: primary address v and a secondary alias."""
    p = gen.person()
    v, alias = f"{p.local}@{DOMAIN}", f"{p.first.lower()}{p.serial}@{DOMAIN}"
    op = gen.onprem_user(p, forest=forest, proxies=[f"SMTP:{v}", f"smtp:{alias}"], write=forest == "corp")
    return p, op, v, alias


def _upn_error_user(gen: Generator, p: Person, op: OnPrem, v: str, alias: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """E after DAR quarantined its UPN: <prefix><4 digits>@initial domain."""
    err = error("UserPrincipalName", v)
    upn = f"{p.local}{gen.rng.randint(1000, 9999)}@{INITIAL}"
    user = gen.cloud_user(p, op, upn=upn, mail=v, proxies=[f"SMTP:{v}", f"smtp:{alias}"], errors=[err])
    user["onPremisesUserPrincipalName"] = v
    return user, err


def _proxy_error_user(gen: Generator, p: Person, op: OnPrem, v: str, alias: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """E after DAR left out one proxy address (spelled with or without ``smtp:``)."""
    err = error("ProxyAddress", gen.rng.choice((f"smtp:{alias}", alias)))
    return gen.cloud_user(p, op, proxies=[f"SMTP:{v}"], errors=[err]), err


def _error_user(gen: Generator, upn: bool, p: Person, op: OnPrem, v: str, alias: str
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    return (_upn_error_user if upn else _proxy_error_user)(gen, p, op, v, alias)


def _other_person(gen: Generator, extra_proxies: list[str], forest: str | None = None,
                  upn: str | None = None, write: bool = False) -> tuple[dict[str, Any], OnPrem | None]:
    hp = gen.person()
    mail = f"{hp.local}@{DOMAIN}"
    proxies = [f"SMTP:{mail}", *extra_proxies]
    op = gen.onprem_user(hp, forest=forest, proxies=proxies, upn=upn, write=write) if forest else None
    return gen.cloud_user(hp, op, upn=upn, mail=mail, proxies=proxies), op


def _orphan_anchor(gen: Generator, dn: str, serial: int, domain: str = CORP_DOMAIN) -> OnPrem:
    """An anchor no LDIF object carries (the AD object was deleted or re-created)."""
    g = gen.guid()
    return OnPrem(dn, g, f"{CORP_SID}-{900000 + serial}", domain, _b64(g.bytes_le))


def twin(gen: Generator) -> None:
    p, op, v, alias = _source(gen)
    upn = gen.variant("cloud_only_twin", 2) == 0
    if upn:  # the cloud mailbox created before sync holds the UPN
        h = gen.cloud_user(p, None)
    else:  # the cloud account holds the alias as its address
        h = gen.cloud_user(p, None, upn=f"{p.local}@{INITIAL}", mail=alias, proxies=[f"SMTP:{alias}"])
    e, err = _error_user(gen, upn, p, op, v, alias)
    gen.sink.add("users", h)
    gen.sink.add("users", e)
    scenario = "cloud_only_twin"
    note = "cloud-only user created before sync holds the value"
    if gen.rng.random() < 0.25 and gen.give_role(h["id"], "cloud twin holds, is eligible for, or inherits a directory role"):
        scenario = "admin_role_conflict"  # an active role (direct or inherited): Entra never soft-matches it
        note = "cloud-only user with an active directory role holds the value"
    if gen.rng.random() < 0.15:  # a recycle-bin copy also holds it: the active twin stays first
        d, _ = _other_person(gen, [f"smtp:{v if upn else alias}"])
        gen.sink.add("deletedUsers", _deleted_user(d))
        note += "; a deleted user also holds it (sorts after the active holder)"
    gen.expect(e, "user", err, scenario, h, op, note)


def other_type(gen: Generator) -> None:
    variant = gen.variant("cloud_only_other_type", 3)
    if variant == 2:
        return _group_error_user_holder(gen)
    p, op, v, alias = _source(gen)
    if variant == 0:
        local = alias.split("@")[0]
        h = gen.group(f"{p.first} {local} team", alias, [f"SMTP:{alias}", f"smtp:{local}@{INITIAL}"])
        gen.sink.add("groups", h)
        note = "cloud-only Microsoft 365 group holds the address"
    else:
        h = gen.contact(p, alias, [f"SMTP:{alias}"], synced=False)
        gen.sink.add("contacts", h)
        note = "cloud-only mail contact holds the address"
    e, err = _proxy_error_user(gen, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "cloud_only_other_type", h, op, note)


def _group_error_user_holder(gen: Generator) -> None:
    gen.serial += 1
    n = gen.serial
    name, mail, alias = f"Project {n}", f"project{n}@{DOMAIN}", f"proj{n}@{DOMAIN}"
    gop = gen.onprem_group(name, mail, [f"SMTP:{mail}", f"smtp:{alias}"])
    err = error("ProxyAddress", f"smtp:{alias}")
    e = gen.group(name, mail, [f"SMTP:{mail}"], op=gop, errors=[err], unified=False)
    h, _ = _other_person(gen, [f"smtp:{alias}"])
    gen.sink.add("groups", e)
    gen.sink.add("users", h)
    gen.expect(e, "group", err, "cloud_only_other_type", h, gop, "synced group's alias is held by a cloud-only user")


def onprem_duplicate(gen: Generator) -> None:
    variant = gen.variant("onprem_duplicate", 4)
    p, op, v, alias = _source(gen)
    if variant == 0:  # two AD users with the same UPN
        h, _ = _other_person(gen, [], forest="corp", upn=v, write=True)
        gen.sink.add("users", h)
        note = "two on-prem users carry the same UPN"
    elif variant == 1:
        h, _ = _other_person(gen, [f"smtp:{alias}"], forest="corp", write=True)
        gen.sink.add("users", h)
        note = "two on-prem users carry the same proxy address"
    elif variant == 2:
        gen.serial += 1
        name, gmail = f"Distribution {gen.serial}", f"dl{gen.serial}@{DOMAIN}"
        gop = gen.onprem_group(name, gmail, [f"SMTP:{gmail}", f"smtp:{alias}"])
        h = gen.group(name, gmail, [f"SMTP:{gmail}", f"smtp:{alias}"], op=gop, unified=False)
        gen.sink.add("groups", h)
        note = "a synced on-prem group also carries the address"
    else:
        cp = gen.person()
        gen.onprem_contact(cp, alias, [f"SMTP:{alias}"])
        h = gen.contact(cp, alias, [f"SMTP:{alias}"], synced=True)
        gen.sink.add("contacts", h)
        note = "a synced on-prem contact also carries the address"
    e, err = _error_user(gen, variant == 0, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "onprem_duplicate", h, op, note)


def orphaned(gen: Generator) -> None:
    variant = gen.variant("orphaned_holder", 3)
    p, op, v, alias = _source(gen)
    if variant == 0:  # AD object re-created at the same DN with a new objectGUID: the old cloud object stays
        h = gen.cloud_user(p, _orphan_anchor(gen, op.dn, p.serial))
        note = "re-created in AD: the cloud object of the old AD object (same DN, old anchor) holds the UPN"
        gen.sink.add("users", h)
    elif variant == 1:
        hp = gen.person()
        old = _orphan_anchor(gen, f"CN={hp.display} {hp.serial},OU={hp.ou},DC=corp,DC=contoso,DC=com", hp.serial)
        h = gen.cloud_user(hp, old, proxies=[f"SMTP:{hp.local}@{DOMAIN}", f"smtp:{alias}"])
        note = "synced user whose AD object is gone (out of scope or deleted) holds the alias"
        gen.sink.add("users", h)
    else:
        gen.serial += 1
        name, gmail = f"Old List {gen.serial}", f"oldlist{gen.serial}@{DOMAIN}"
        h = gen.group(name, gmail, [f"SMTP:{gmail}", f"smtp:{alias}"],
                      op=_orphan_anchor(gen, "", gen.serial), unified=False)
        note = "synced group from the supplied domain whose SID is no longer in AD holds the alias"
        gen.sink.add("groups", h)
    e, err = _error_user(gen, variant == 0, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "orphaned_holder", h, op, note)


def unverified(gen: Generator) -> None:
    variant = gen.variant("unverified_holder", 3)
    p, op, v, alias = _source(gen)
    if variant == 0:  # a user synced from the forest the LDIF does not hold
        h, _ = _other_person(gen, [], forest="fabrikam", upn=v)
        gen.sink.add("users", h)
        note = f"holder synced from {FAB_DOMAIN}, a forest not in the LDIF"
    elif variant == 1:
        cp = gen.person()
        h = gen.contact(cp, alias, [f"SMTP:{alias}"], synced=True)
        gen.sink.add("contacts", h)
        note = "synced contact not in the LDIF: Graph shows no DN or domain for contacts, coverage unknown"
    else:
        gen.serial += 1
        name, gmail = f"Fabrikam List {gen.serial}", f"fablist{gen.serial}@{DOMAIN}"
        g = gen.guid()
        fab = OnPrem("", g, f"{FAB_SID}-{100000 + gen.serial}", FAB_DOMAIN, _b64(g.bytes_le))
        h = gen.group(name, gmail, [f"SMTP:{gmail}", f"smtp:{alias}"], op=fab, unified=False)
        gen.sink.add("groups", h)
        note = f"group synced from {FAB_DOMAIN}, a forest not in the LDIF"
    e, err = _error_user(gen, variant == 0, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "unverified_holder", h, op, note)


def deleted(gen: Generator) -> None:
    variant = gen.variant("deleted_holder", 2)
    p, op, v, alias = _source(gen)
    if variant == 0:  # deleted user: Graph mangles its UPN, but mail and proxy still hold the value
        h = _deleted_user(gen.cloud_user(p, None))
        gen.sink.add("deletedUsers", h)
        note = "a user in the recycle bin holds the address (its UPN is prefixed with its id)"
    else:
        local = alias.split("@")[0]
        h = gen.group(f"{local} archive", alias, [f"SMTP:{alias}"])
        h["deletedDateTime"] = "2026-11-12T08:00:00Z"
        gen.sink.add("deletedGroups", h)
        note = "a group in the recycle bin holds the alias"
    e, err = _error_user(gen, variant == 0, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "deleted_holder", h, op, note)


def no_holder(gen: Generator) -> None:
    variant = gen.variant("no_holder", 2)
    if variant == 0:
        p, op, v, alias = _source(gen)
        e, err = _proxy_error_user(gen, p, op, v, alias)
        src: OnPrem | None = op
        note = "the holder was fixed since; the hourly DAR job will restore the value"
    else:
        p, op, v, alias = _source(gen, forest="fabrikam")
        e, err = _upn_error_user(gen, p, op, v, alias)
        src = None
        note = f"error object synced from {FAB_DOMAIN} (not in the LDIF) and nobody holds the value"
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "no_holder", None, src, note)


def unsupported(gen: Generator) -> None:
    p, op, v, alias = _source(gen)
    err = error("UserPrincipalName", v, gen.rng.choice(("dn-attributes-failure", "Error Type 114")))
    e = gen.cloud_user(p, op, proxies=[f"SMTP:{v}", f"smtp:{alias}"], errors=[err])
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "unsupported", None, op, f"category {err['category']} is reported as is")


# ------------------------------------------------------------------ the other origins and categories
#
# Cloud Sync failures go to the tenant file's ``provisioningLogs`` (provisioningObjectSummary as Graph returns
# it), Connect Health errors to ``connectHealthErrors`` (MergedExportError as ARM returns it), Exchange errors
# to the objects' ``serviceProvisioningErrors`` (serviceProvisioningXmlError).

UNIQUENESS = ("An attribute value violates a uniqueness constraint. Please study the values of the attributes, "
              "comparing them the attributes of already-existing objects in Azure Active Directory and resolve "
              "the conflict by modifying the value in the source directory.")


def _failure(gen: Generator, op: OnPrem, name: str, *, reason: str, action: str, target: str = "",
             code: str = "") -> None:
    from datetime import timedelta

    n = len(gen.provisioning_logs) + 1
    at = gen.now - timedelta(minutes=gen.rng.randint(5, 3 * 24 * 60))
    for cycle in range(gen.rng.randint(1, 3)):  # Cloud Sync retries every cycle: the same failure repeats
        when = (at - timedelta(minutes=2 * cycle)).strftime("%Y-%m-%dT%H:%M:%SZ")
        gen.provisioning_logs.append({
            "id": f"{gen.guid()}", "activityDateTime": when, "tenantId": gen.tenant_hex,
            "jobId": f"AD2AADProvisioning.{gen.tenant_hex}.{gen.guid()}"[:95], "cycleId": str(gen.guid()),
            "changeId": str(gen.guid()), "provisioningAction": action, "durationInMilliseconds": 1200 + n,
            "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"},
            "servicePrincipal": {"id": "1a4721b3-e57f-4451-ae87-ef078703ec94", "displayName": "corp.contoso.com"},
            "sourceSystem": {"id": str(gen.guid()), "displayName": "Active Directory", "details": {}},
            "targetSystem": {"id": str(gen.guid()), "displayName": "Azure Active Directory", "details": {}},
            "sourceIdentity": {"id": str(op.guid), "displayName": name, "identityType": "User", "details": {}},
            "targetIdentity": {"id": target, "displayName": name if target else "", "identityType": "User",
                               "details": {}},
            "provisioningStatusInfo": {"status": "failure", "errorInformation": {
                "errorCode": code, "reason": reason, "additionalDetails": None, "errorCategory": "nonServiceFailure",
                "recommendedAction": None}},
            "provisioningSteps": [
                {"name": "EntryImport", "provisioningStepType": "import", "status": "success",
                 "description": f"Received User '{name}' from Active Directory", "details": {}},
                {"name": "EntryExportAdd" if action == "create" else "EntryExportUpdate",
                 "provisioningStepType": "export", "status": "failure",
                 "description": f"Failed to {action} User '{name}' in Azure Active Directory", "details": {}}],
            "modifiedProperties": [{"displayName": "displayName", "oldValue": None, "newValue": name}]})
    if gen.rng.random() < 0.3:  # and an older week's failure of the same object: outside --since, never reported
        old = dict(gen.provisioning_logs[-1], id=str(gen.guid()),
                   activityDateTime=(gen.now - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        gen.provisioning_logs.append(old)


def cloud_sync_create(gen: Generator) -> None:
    """Cloud Sync could not create the user (a cloud-only account has its UPN); the text names no value."""
    p = gen.person()
    v = f"{p.local}@{DOMAIN}"
    op = gen.onprem_user(p, proxies=[f"SMTP:{v}"])
    h = gen.cloud_user(p, None)
    gen.sink.add("users", h)
    _failure(gen, op, p.display, reason=UNIQUENESS, action="create")
    gen.expect(None, None, {"propertyCausingError": "UserPrincipalName", "value": v}, "cloud_only_twin", h, op,
               "Cloud Sync create failed (no cloud object yet); its text names no value: the on-prem UPN is held",
               origins=("cloud_sync",))


def cloud_sync_update(gen: Generator) -> None:
    """Cloud Sync could not update a synced user: the failure text names the address a cloud group holds."""
    p, op, v, alias = _source(gen)
    local = alias.split("@")[0]
    h = gen.group(f"{p.first} {local} list", alias, [f"SMTP:{alias}"])
    e = gen.cloud_user(p, op, proxies=[f"SMTP:{v}"])
    gen.sink.add("groups", h)
    gen.sink.add("users", e)
    _failure(gen, op, p.display, reason=f"{UNIQUENESS} [ProxyAddresses SMTP:{alias};]", action="update",
             target=e["id"])
    gen.expect(e, "user", {"propertyCausingError": "ProxyAddress", "value": alias}, "cloud_only_other_type", h, op,
               "Cloud Sync update failed on an address a cloud group holds", origins=("cloud_sync",))


def _xml_error(desc: str, code: str, resolved: bool = False) -> dict[str, Any]:
    esc = desc.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"createdDateTime": "2026-11-21T08:14:03Z", "isResolved": resolved,
            "serviceInstance": "exchange/EURPRD04-009-01",
            "errorDetail": (f'<ServiceInstance Name="exchange/EURPRD04-009-01"><ObjectErrors><ErrorRecord>'
                            f"<ErrorCode>{code}</ErrorCode><ErrorDescription>{esc}</ErrorDescription></ErrorRecord>"
                            "</ObjectErrors></ServiceInstance>")}


def _dup_text(addr: str, name: str) -> str:
    return (f'The proxy address "SMTP:{addr}" is already being used by the proxy addresses or LegacyExchangeDN of '
            f'"{name}". Please choose another proxy address.')


def exchange_duplicate(gen: Generator) -> None:
    """Exchange Online reports an address a cloud contact uses; half the time Connect reports it too."""
    p, op, v, alias = _source(gen)
    h = gen.contact(p, alias, [f"SMTP:{alias}"], synced=False)
    both = gen.variant("exchange_duplicate", 2) == 0
    errs = [error("ProxyAddress", f"smtp:{alias}")] if both else []
    e = gen.cloud_user(p, op, proxies=[f"SMTP:{v}"], errors=errs)
    e["serviceProvisioningErrors"] = [
        _xml_error(_dup_text(alias, h["displayName"]), "ExB10BE9"),
        _xml_error(_dup_text(f"old.{alias}", "Someone"), "ExB10BE9", resolved=True)]  # resolved: ignored
    gen.sink.add("contacts", h)
    gen.sink.add("users", e)
    gen.expect(e, "user", {"propertyCausingError": "ProxyAddress", "value": alias}, "cloud_only_other_type", h, op,
               "Exchange Online: the address is used by a cloud contact" + ("; Connect reports it too" if both else ""),
               origins=("connect", "exchange") if both else ("exchange",))


def service_error(gen: Generator) -> None:
    p, op, v, alias = _source(gen)
    desc = (f'The value "{gen.guid()}" of property "ExchangeGuid" is used by another recipient object. '
            "Please specify a unique value.")
    e = gen.cloud_user(p, op, proxies=[f"SMTP:{v}", f"smtp:{alias}"])
    e["serviceProvisioningErrors"] = [_xml_error(desc, "ExA21F4C")]
    gen.sink.add("users", e)
    gen.expect(e, "user", {"propertyCausingError": "ExA21F4C", "value": desc}, "service_error", None, op,
               "an Exchange error that is not a duplicate: reported with its description", origins=("exchange",))


def _health_item(gen: Generator, etype: str, attribute: str, value: str, op: OnPrem, name: str, upn: str,
                 existing: dict[str, Any] | None = None) -> None:
    n = len(gen.health_errors) + 1
    when = (gen.now.replace(microsecond=0)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    obj = {"displayName": name, "distinguishedName": op.dn, "lastDirSyncTime": SYNC_TIME, "mail": upn,
           "objectGuid": str(op.guid), "objectType": "user", "onpremisesUserPrincipalName": upn,
           "proxyAddresses": f"SMTP:{upn}", "sourceAnchor": op.immutable_id, "sourceOfAuthority": "Active Directory",
           "timeOccurred": when, "userPrincipalName": upn}
    gen.health_errors.append({
        "incomingObjectDisplayName": name, "incomingObjectType": "user", "userPrincipalName": upn, "type": etype,
        "attributeName": attribute, "attributeValue": value, "timeOccurred": when,
        "timeFirstOccurred": "2026-11-18T06:00:00.000Z", "csObjectId": str(gen.guid()), "dn": op.dn,
        "incomingObject": obj, "existingObject": existing or {}, "modifiedOrRemovedAttributeValue": None,
        "runStepResultId": str(gen.guid()), "samAccountName": name.split()[0].lower(),
        "serverErrorDetail": f"{etype}: {attribute}", "serviceId": str(gen.guid()), "serviceMemberId": str(gen.guid()),
        "id": f"mee-{gen.tenant_hex[:8]}-{n}", "mergedEntityId": str(gen.guid()),
        "createdDate": when, "exportErrorStatus": 1})


def health_duplicate(gen: Generator) -> None:
    """A UPN conflict Connect quarantined and Connect Health lists too, with both objects: one finding."""
    p, op, v, alias = _source(gen)
    h = gen.cloud_user(p, None)
    e, err = _upn_error_user(gen, p, op, v, alias)
    gen.sink.add("users", h)
    gen.sink.add("users", e)
    _health_item(gen, "AttributeValueMustBeUnique", "UserPrincipalName", v, op, p.display, v,
                 existing={"displayName": h["displayName"], "userPrincipalName": v, "objectType": "User",
                           "sourceOfAuthority": "Azure Active Directory"})
    gen.expect(e, "user", err, "cloud_only_twin", h, op, "Connect and Connect Health report the same conflict",
               origins=("connect", "health"))


def _health_only(gen: Generator, etype: str, attribute: str, scenario: str, note: str) -> None:
    p, op, v, alias = _source(gen)
    e = gen.cloud_user(p, op, proxies=[f"SMTP:{v}", f"smtp:{alias}"])
    value = {"UserPrincipalName": v, "userCertificate": "16", "SourceAnchor": op.immutable_id}.get(attribute, v)
    if scenario == "data_validation":
        value = f"{p.first.lower()} {p.last.lower()}{p.serial}@{DOMAIN}"  # a space: not a valid UPN
    if scenario == "federated_domain_change":
        value = f"{p.local}@fabrikam.com"
    gen.sink.add("users", e)
    if scenario == "hard_match_blocked":  # sync was turned off for the cloud object; the anchor is still its own
        e["onPremisesSyncEnabled"] = None
    _health_item(gen, etype, attribute, value, op, p.display, v)
    prop = {"UserPrincipalName": "UserPrincipalName"}.get(attribute, attribute)
    gen.expect(e, "user", {"propertyCausingError": prop, "value": value}, scenario, None, op, note,
               origins=("health",))


def data_validation(gen: Generator) -> None:
    _health_only(gen, "IdentityDataValidationFailed", "UserPrincipalName", "data_validation",
                 "Connect Health: the UPN has a character Entra refuses")


def large_attribute(gen: Generator) -> None:
    _health_only(gen, "LargeObject", "userCertificate", "large_attribute",
                 "Connect Health: more than 15 certificates")


def federated_domain_change(gen: Generator) -> None:
    _health_only(gen, "FederatedDomainChangeError", "UserPrincipalName", "federated_domain_change",
                 "Connect Health: the UPN moved between federated domains")


def hard_match_blocked(gen: Generator) -> None:
    _health_only(gen, "InvalidHardMatch", "SourceAnchor", "hard_match_blocked",
                 "Connect Health: the anchor is a cloud object's immutable id, and takeover is blocked")


def admin_role_conflict(gen: Generator) -> None:
    """A cloud-only Global Administrator holds the UPN of a new synced user: never soft-matched."""
    p, op, v, alias = _source(gen)
    h = gen.cloud_user(p, None)
    e, err = _upn_error_user(gen, p, op, v, alias)
    gen.sink.add("users", h)
    gen.sink.add("users", e)
    if gen.variant("admin_role_conflict", 2) == 1:
        gen.give_role(h["id"], "regular admin")
    else:  # the role comes through a role-assignable group
        name, template = ROLES[0]
        gen.role_group_member(h["id"], name, template)
    gen.no_hard_match.append({"id": h["id"], "why": "cloud account with an active directory role"})
    gen.expect(e, "user", err, "admin_role_conflict", h, op, "a cloud-only administrator holds the UPN")


PLANTERS: dict[str, Callable[[Generator], None]] = {
    "cloud_only_twin": twin, "cloud_only_other_type": other_type, "onprem_duplicate": onprem_duplicate,
    "orphaned_holder": orphaned, "unverified_holder": unverified, "deleted_holder": deleted,
    "no_holder": no_holder, "unsupported": unsupported, "admin_role_conflict": admin_role_conflict,
    "data_validation": data_validation, "large_attribute": large_attribute,
    "hard_match_blocked": hard_match_blocked, "federated_domain_change": federated_domain_change,
    "service_error": service_error, "cloud_sync_create": cloud_sync_create, "cloud_sync_update": cloud_sync_update,
    "exchange_duplicate": exchange_duplicate, "health_duplicate": health_duplicate,
}


def plant(gen: Generator, scenario: str) -> None:
    PLANTERS[scenario](gen)
