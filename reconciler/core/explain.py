"""PURE: what `explain` shows, and how a KEY (id, UPN, value or pasted error text) is resolved.

``finding_detail`` builds the side-by-side columns (error object, holders, their
on-prem sources) when a scan runs; the store keeps them, so `explain` works
from the database alone.
"""

from __future__ import annotations

import base64
import builtins
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .model import PROXY, UPN, CloudObject, Finding, OnPremObject, fold

__all__ = ["ParsedErrorText", "parse_error_text", "finding_detail", "resolve_key", "ROWS",
           "onprem_columns_for", "clean_pasted_text", "ERROR_NAMES"]

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
    error_name: str | None = None  # AttributeValueMustBeUnique, InvalidSoftMatch, ... when the text names one

    @builtins.property  # the field above shadows the builtin inside this class body
    def meaning(self) -> str | None:
        return ERROR_NAMES.get(self.error_name) if self.error_name else None


# Entra Connect error names (Event 6941 "Error Name:", Connect Health, the portal) and what they mean.
ERROR_NAMES: dict[str, str] = {
    "AttributeValueMustBeUnique": (
        "another object already holds the userPrincipalName, mail or proxyAddresses value this object exports "
        "(usually two objects with different sourceAnchors): keep it on one, remove it from the other in that "
        "object's source directory"),
    "QuarantinedAttributeValueMustBeUnique": (
        "the same duplicate, after duplicate attribute resiliency quarantined the value (a UPN becomes "
        "prefix+4 digits@<tenant>.onmicrosoft.com; a proxy address is dropped)"),
    "InvalidSoftMatch": (
        "a soft match (SMTP address or UPN) found a cloud object that already has another immutable id: "
        "an on-prem duplicate, a forest move, or an AD object re-created with a new objectGUID"),
    "InvalidHardMatch": (
        "the anchor equals an existing immutable id but taking the cloud object over through hard match "
        "is blocked in the tenant"),
    "ObjectTypeMismatch": (
        "the soft-match value is held by an object of another type (for example a cloud group or contact "
        "holds a new user's address): remove the duplicate at its source"),
    "IdentityDataValidationFailed": "the value is malformed for Entra (UPN characters or format): fix it on-prem",
    "FederatedDomainChangeError": (
        "the UPN suffix moved between two federated domains: set the cloud UPN through the onmicrosoft.com "
        "domain first"),
    "LargeObject": ("the object is too large (userCertificate/userSMIMECertificate over 15 values, "
                    "thumbnailPhoto, many proxyAddresses): remove stale values on-prem"),
    "ExceededAllowedLength": "an attribute value is longer than Entra allows: shorten it on-prem",
}
_ERROR_NAME = re.compile(r"\b(" + "|".join(sorted(ERROR_NAMES, key=len, reverse=True)) + r")\b")

_ATTRS = r"(UserPrincipalName|ProxyAddresses|ProxyAddress|Mail|SipProxyAddress)"
_BRACKET = re.compile(r"\[\s*" + _ATTRS + r"\s*([^;\]\s]+)\s*;?", re.IGNORECASE)
_ATTR_ONLY = re.compile(r":\s*" + _ATTRS + r"\s*(?:\.|$)", re.IGNORECASE)  # "...services: UserPrincipalName."
_PROXY_MSG = re.compile(r"same proxy address already exists|duplicate Proxy address conflict|同じプロキシ アドレス",
                        re.IGNORECASE)
_MODIFIED = re.compile(r"modify the " + _ATTRS + r" property from\s+(\S+)", re.IGNORECASE)  # the portal's DAR note
_LOCAL_MSG = re.compile(r"may already be associated with another object", re.IGNORECASE)
_FDC = re.compile(r"FederatedUser\.\s*UserPrincipalName", re.IGNORECASE)
_ADDRESS = re.compile(r"(?:smtp:)?[A-Za-z0-9._%+'\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]{0,15}(?:\s[^<>]{0,200})?>")
_ESCAPED = re.compile(r"\\([@<>_*`\[\]\\.])")


def clean_pasted_text(text: str) -> str:
    """A message as copied from a web page or e-mail, made plain: HTML tags and entities, markdown
    emphasis and code marks, backslash escapes (``john\\@contoso.com``) and ``<pii>`` tags removed."""
    import html

    t = _ESCAPED.sub(r"\1", text)
    t = html.unescape(t)
    t = _TAG.sub("", t)
    for mark in ("**", "__", "`"):
        t = t.replace(mark, "")
    t = re.sub(r"(?<![A-Za-z0-9])\*|\*(?![A-Za-z0-9])", "", t)  # *italics* around a value
    return t


def _norm_prop(prop: str) -> str:
    low = prop.lower()
    return UPN if low == "userprincipalname" else PROXY if low.startswith("proxyaddress") else prop


def _address(raw: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The value when it looks like an address; else (None, why) — an obfuscated value is never searched."""
    if raw is None:
        return None, ()
    v = raw.strip().strip(".,;:'\"")
    if _ADDRESS.fullmatch(v):
        return v, ()
    return None, (f"value: {raw[:60]!r} does not look like an address (web pages hide addresses, e.g. "
                  "'[email protected]'); pass the address itself",)


def parse_error_text(text: str) -> ParsedErrorText | None:
    """Extract attribute and value from a DirSync error message as admins receive it.

    Reads the ``[Attribute value;]`` bracket in any language and in markdown or
    HTML copies, the attribute-only form (``...services: UserPrincipalName.``),
    the KB2647098 messages and bare error names (``InvalidSoftMatch``). Returns
    ``None`` when the text is none of these; otherwise ``missing`` says what
    could not be extracted and the caller asks for it.
    """
    t = clean_pasted_text(text)
    en = _ERROR_NAME.search(t)
    name = en.group(1) if en else None
    m = _BRACKET.search(t)
    if m:
        value, why = _address(m.group(2))
        return ParsedErrorText(_norm_prop(m.group(1)), value, "duplicate attribute reported by directory sync",
                               why, name)
    mod = _MODIFIED.search(t)
    if mod:
        value, why = _address(mod.group(2))
        return ParsedErrorText(_norm_prop(mod.group(1)), value, "duplicate attribute resiliency modified the "
                               "object: another object already holds the original value", why, name)
    if _FDC.search(t):
        return ParsedErrorText(UPN, None, ERROR_NAMES["FederatedDomainChangeError"],
                               ("value: this message does not name the UPN; pass the UPN or the object",),
                               "FederatedDomainChangeError")
    if _PROXY_MSG.search(t):
        addr = _ADDRESS.search(t)
        return ParsedErrorText(PROXY, addr.group(0) if addr else None,
                               "a synchronized object with the same proxy address already exists",
                               () if addr else ("value: this message does not name the address; "
                                                "pass the address or the object instead",), name)
    only = _ATTR_ONLY.search(t)
    if only:
        prop = _norm_prop(only.group(1))
        addr = _ADDRESS.search(t)
        return ParsedErrorText(prop, addr.group(0) if addr else None,
                               "attributes may already be associated with another object",
                               () if addr else (f"value: this message names the attribute {prop} but not the "
                                                "value; pass the value or the object",), name)
    if _LOCAL_MSG.search(t):
        addr = _ADDRESS.search(t)
        return ParsedErrorText(None, addr.group(0) if addr else None,
                               "attributes may already be associated with another object",
                               ("attribute: this message does not say which attribute",)
                               + (() if addr else ("value: this message does not name the value",)), name)
    if name:
        addr = _ADDRESS.search(t)
        return ParsedErrorText(None, addr.group(0) if addr else None, ERROR_NAMES[name],
                               () if addr else (f"value: {name} alone does not say which value; pass the value, "
                                                "the UPN or the object id",), name)
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
        "mS-DS-ConsistencyGuid": o.consistency_guid, "distinguishedName": o.dn,
        "enabled": None if o.disabled is None else not o.disabled,
        "whenCreated": o.when_created,
        **({"userCertificate": _b64(o.user_certificates)} if o.user_certificates else {}),
        **({"userSMIMECertificate": _b64(o.smime_certificates)} if o.smime_certificates else {}),
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
    if finding.object is not None:
        cols = [{"title": "error object", "side": "cloud", "role": "object", "attrs": _cloud_attrs(finding.object)}]
    else:  # a Cloud Sync create that failed: nothing in the cloud yet
        cols = [{"title": "error object (none in the cloud yet)", "side": "cloud", "role": "object",
                 "attrs": {"type": None, "state": "not created", "onPremisesImmutableId":
                           finding.source.immutable_id if finding.source else None}}]
    for i, h in enumerate(finding.holders, 1):
        cols.append({"title": f"holder {i}", "side": "cloud", "role": "holder",
                     "matched_on": list(h.matched_on), "attrs": _cloud_attrs(h.object)})
    cols += onprem_columns_for(finding, onprem_by_dn)
    return {"columns": cols, "value": finding.error.value, "origin": finding.origin,
            "origins": list(finding.all_origins)}


def resolve_key(key: str, findings: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], str]:
    """Findings a KEY designates, and how it was read (for the message when none match).

    KEY may be a finding id (or a unique prefix of 6+ characters), an object id,
    a UPN, the conflicting value, or the pasted text of a DirSync error.
    """
    k = key.strip()
    if not k:  # it matched every object without an id or UPN (not created in the cloud yet)
        return [], "an empty KEY (give a finding id, object id, UPN, value or the pasted error text)"
    kf = fold(k)
    by_id = [f for f in findings if f["id"] == k or (len(k) >= 6 and f["id"].startswith(k))]
    if by_id:
        return by_id, f"finding id {k}"
    by_obj = [f for f in findings if (f["object"] or {}).get("id", "").casefold() == kf]
    if by_obj:
        return by_obj, f"object id {k}"
    by_holder = [f for f in findings if any(h["id"].casefold() == kf for h in f["holders"])]
    by_val = [f for f in findings if fold(f["conflict"]["value"]) == kf
              or fold((f["object"] or {}).get("user_principal_name") or "") == kf]
    if by_val:
        return by_val, f"value {k}"
    if by_holder:
        return by_holder, f"holder id {k}"
    parsed = parse_error_text(k)
    if parsed is not None and parsed.value:
        hits = [f for f in findings if fold(f["conflict"]["value"]) == fold(parsed.value)
                and (parsed.property is None or f["conflict"]["property"] == parsed.property)]
        return hits, (f"pasted error text: searched {parsed.property or 'any attribute'} = {parsed.value}")
    if parsed is not None:
        return [], (f"pasted error text: {parsed.property or 'attribute unknown'}, no value to search ("
                    + "; ".join(parsed.missing) + ")")
    return [], f"{k!r} (not a finding id, object id, UPN, conflicting value or known error text)"


def _b64(values: tuple[bytes, ...]) -> list[str]:
    """Binary values as ldifde writes them (base64), for the JSON detail."""
    return [base64.b64encode(v).decode("ascii") for v in values]
