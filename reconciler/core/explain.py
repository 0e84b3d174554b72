"""PURE: what `explain` shows, and how a KEY (id, UPN, value or pasted error text) is resolved.

``finding_detail`` builds the side-by-side columns (error object, holders, their
on-prem sources) when a scan runs; the store keeps them, so `explain` works
from the database alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .model import PROXY, UPN, CloudObject, Finding, OnPremObject, fold

__all__ = ["ParsedErrorText", "parse_error_text", "finding_detail", "resolve_key", "ROWS",
           "onprem_columns_for"]

# Attribute rows of the side-by-side view: (label, cloud field, on-prem field)
ROWS: tuple[tuple[str, str | None, str | None], ...] = (
    ("type", "type", "objectClass"),
    ("state", "state", None),
    ("displayName", "displayName", "displayName"),
    ("userPrincipalName", "userPrincipalName", "userPrincipalName"),
    ("mail", "mail", "mail"),
    ("proxyAddresses", "proxyAddresses", "proxyAddresses"),
    ("mailNickname", "mailNickname", "mailNickname"),
    ("givenName / sn", "givenName", "givenName"),
    ("surname", "surname", "sn"),
    ("sAMAccountName", "onPremisesSamAccountName", "sAMAccountName"),
    ("userType", "userType", None),
    ("licences", "licences", None),
    ("synced", "onPremisesSyncEnabled", None),
    ("immutable id / anchor", "onPremisesImmutableId", "anchor"),
    ("objectGUID", None, "objectGUID"),
    ("SID", "onPremisesSecurityIdentifier", "objectSid"),
    ("DN", "onPremisesDistinguishedName", "distinguishedName"),
    ("enabled", "accountEnabled", "enabled"),
    ("created", "createdDateTime", "whenCreated"),
    ("deleted", "deletedDateTime", None),
)


@dataclass(frozen=True, slots=True)
class ParsedErrorText:
    property: str | None
    value: str | None
    message: str
    missing: tuple[str, ...]


_BRACKET = re.compile(r"\[\s*(UserPrincipalName|ProxyAddresses|ProxyAddress|Mail|SipProxyAddress)\s+"
                      r"([^;\]\s]+)\s*;?", re.IGNORECASE)
_PROXY_MSG = re.compile(r"same proxy address already exists", re.IGNORECASE)
_LOCAL_MSG = re.compile(r"may already be associated with another object", re.IGNORECASE)
_ADDRESS = re.compile(r"(?:smtp:)?[A-Za-z0-9._%+'\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", re.IGNORECASE)


def parse_error_text(text: str) -> ParsedErrorText | None:
    """Extract attribute and value from a DirSync error message as admins receive it.

    Returns ``None`` when the text is not one of the known messages; otherwise
    says what could not be extracted in ``missing``.
    """
    m = _BRACKET.search(text)
    if m:
        prop = m.group(1)
        low = prop.lower()
        norm = UPN if low == "userprincipalname" else PROXY if low.startswith("proxyaddress") else prop
        return ParsedErrorText(norm, m.group(2), "duplicate attribute reported by directory sync", ())
    if _PROXY_MSG.search(text):
        addr = _ADDRESS.search(text)
        return ParsedErrorText(PROXY, addr.group(0) if addr else None,
                               "a synchronized object with the same proxy address already exists",
                               () if addr else ("value: this message does not name the address; "
                                                "pass the address or the object instead",))
    if _LOCAL_MSG.search(text):
        addr = _ADDRESS.search(text)
        return ParsedErrorText(None, addr.group(0) if addr else None,
                               "attributes may already be associated with another object",
                               ("attribute: this message does not say which attribute",)
                               + (() if addr else ("value: this message does not name the value",)))
    return None


def _cloud_attrs(o: CloudObject) -> dict[str, Any]:
    return {
        "type": o.kind.value, "state": o.state, "displayName": o.display_name,
        "userPrincipalName": o.user_principal_name, "mail": o.mail,
        "proxyAddresses": list(o.proxy_addresses), "mailNickname": o.mail_nickname,
        "givenName": o.given_name, "surname": o.surname, "onPremisesSamAccountName": o.sam_account_name,
        "userType": o.user_type, "licences": o.license_count if o.kind.value == "user" else None,
        "onPremisesSyncEnabled": o.synced, "onPremisesImmutableId": o.immutable_id,
        "onPremisesSecurityIdentifier": o.sid, "onPremisesDistinguishedName": o.dn,
        "accountEnabled": o.account_enabled, "createdDateTime": o.created,
        "deletedDateTime": o.deleted_at, "creationType": o.creation_type,
        "externalUserState": o.external_user_state, "employeeId": o.employee_id,
        "onPremisesObjectIdentifier": o.on_premises_object_identifier,
    }


def _onprem_attrs(o: OnPremObject) -> dict[str, Any]:
    return {
        "objectClass": o.object_class, "displayName": o.display_name,
        "userPrincipalName": o.user_principal_name, "mail": o.mail,
        "proxyAddresses": list(o.proxy_addresses), "mailNickname": o.mail_nickname,
        "givenName": o.given_name, "sn": o.sn, "sAMAccountName": o.sam_account_name,
        "anchor": o.anchor, "objectGUID": o.object_guid, "objectSid": o.object_sid,
        "distinguishedName": o.dn,
        "enabled": None if o.disabled is None else not o.disabled,
        "whenCreated": o.when_created,
    }


def onprem_columns_for(finding: Finding, onprem_by_dn: Mapping[str, OnPremObject]) -> list[dict[str, Any]]:
    cols = []
    if finding.source and finding.source.dn in onprem_by_dn:
        cols.append({"title": "on-prem source", "side": "onprem", "role": "source",
                     "attrs": _onprem_attrs(onprem_by_dn[finding.source.dn])})
    for i, h in enumerate(finding.holders, 1):
        if h.source and h.source.dn in onprem_by_dn:
            cols.append({"title": f"holder {i} on-prem", "side": "onprem", "role": "holder_source",
                         "attrs": _onprem_attrs(onprem_by_dn[h.source.dn])})
    return cols


def finding_detail(finding: Finding, onprem_by_dn: Mapping[str, OnPremObject]) -> dict[str, Any]:
    """Everything `explain` needs, as plain JSON data."""
    cols = [{"title": "error object", "side": "cloud", "role": "object", "attrs": _cloud_attrs(finding.object)}]
    for i, h in enumerate(finding.holders, 1):
        cols.append({"title": f"holder {i}", "side": "cloud", "role": "holder",
                     "matched_on": list(h.matched_on), "attrs": _cloud_attrs(h.object)})
    cols += onprem_columns_for(finding, onprem_by_dn)
    return {"columns": cols, "value": finding.error.value}


def resolve_key(key: str, findings: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], str]:
    """Findings a KEY designates, and how it was read (for the message when none match).

    KEY may be a finding id (or a unique prefix of 6+ characters), an object id,
    a UPN, the conflicting value, or the pasted text of a DirSync error.
    """
    k = key.strip()
    kf = fold(k)
    by_id = [f for f in findings if f["id"] == k or (len(k) >= 6 and f["id"].startswith(k))]
    if by_id:
        return by_id, f"finding id {k}"
    by_obj = [f for f in findings if f["object"]["id"].casefold() == kf]
    if by_obj:
        return by_obj, f"object id {k}"
    by_holder = [f for f in findings if any(h["id"].casefold() == kf for h in f["holders"])]
    by_val = [f for f in findings if fold(f["conflict"]["value"]) == kf
              or fold(f["object"].get("user_principal_name") or "") == kf]
    if by_val:
        return by_val, f"value {k}"
    if by_holder:
        return by_holder, f"holder id {k}"
    parsed = parse_error_text(k)
    if parsed is not None and parsed.value:
        hits = [f for f in findings if fold(f["conflict"]["value"]) == fold(parsed.value)
                and (parsed.property is None or f["conflict"]["property"] == parsed.property)]
        return hits, f"pasted error text ({parsed.property or 'attribute unknown'} {parsed.value})"
    if parsed is not None:
        return [], "pasted error text: " + "; ".join(parsed.missing)
    return [], f"{k!r} (not a finding id, object id, UPN, conflicting value or known error text)"
