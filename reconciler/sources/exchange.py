"""Exchange Online's own errors: ``serviceProvisioningErrors`` on users, groups and contacts.

Each item is a ``serviceProvisioningXmlError`` (``createdDateTime``, ``isResolved``,
``serviceInstance`` such as ``exchange/NAMPRD09-001-01``, ``errorDetail``: an XML
string). The XML is read the way public scripts read it: root ``ServiceInstance``
(attribute ``Name``), then ``ObjectErrors/ErrorRecord/{ErrorCode,ErrorDescription}``;
a record list may hold several records. Namespaces are ignored.

Resolved errors (``isResolved`` true) are ignored. A duplicate-address record
("The proxy address "SMTP:x" is already being used by the proxy addresses or
LegacyExchangeDN of "name"…") becomes a ProxyAddress conflict; any other record
becomes ``service_error`` with its description. ``isResolved`` is not filterable
on the server (Graph answers ``Request_UnsupportedQuery``), so it is filtered here.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..core.model import DUPLICATE, PROXY, ErrorRecord, ObjectKind, Origin, ProvisioningError, Scenario
from .timestamps import normalise_time

__all__ = ["parse_error_detail", "service_error_records", "duplicate_address", "SERVICE_SELECT"]

SERVICE_SELECT = "serviceProvisioningErrors"
_MAX_TEXT = 2000

# "The proxy address "SMTP:x@y" is already being used by the proxy addresses or LegacyExchangeDN [of "Name"]."
# and the e-mail address variants Exchange uses for WindowsEmailAddress / PrimarySmtpAddress.
_DUP = re.compile(
    r"(?:proxy|e-?mail|smtp)\s+address(?:es)?\s+[\"“'](?P<addr>[^\"”']+)[\"”']\s+is\s+already\s+(?:being\s+)?used"
    r"(?:.*?\bof\s+[\"“'](?P<holder>[^\"”']+)[\"”'])?",
    re.I | re.S)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_error_detail(xml: str) -> tuple[str | None, list[tuple[str | None, str]]]:
    """(service instance name, [(error code, description)]) from an ``errorDetail`` string.

    Text that is not XML (or has no ErrorRecord) comes back as one record with
    the text itself as its description, so nothing is dropped."""
    text = (xml or "").strip()
    if not text:
        return None, []
    import xml.etree.ElementTree as ET  # here: every tenant read imports this module, few meet an errorDetail

    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None, [(None, text[:_MAX_TEXT])]
    name = root.get("Name") if _local(root.tag) == "ServiceInstance" else None
    out = []
    for el in root.iter():
        if _local(el.tag) != "ErrorRecord":
            continue
        code = desc = None
        for child in el:
            t = _local(child.tag)
            if t == "ErrorCode":
                code = (child.text or "").strip() or None
            elif t == "ErrorDescription":
                desc = (child.text or "").strip()
        out.append((code, (desc or code or "")[:_MAX_TEXT]))
    if not out:
        flat = " ".join(t.strip() for t in root.itertext() if t.strip())
        out.append((None, (flat or text)[:_MAX_TEXT]))
    return name, out


def duplicate_address(description: str) -> tuple[str, str | None] | None:
    """(address without prefix, the holder's name when the text gives it) for a duplicate-address text."""
    m = _DUP.search(description or "")
    if not m:
        return None
    addr = m.group("addr").strip()
    if addr[:5].lower() == "smtp:":
        addr = addr[5:]
    if "@" not in addr:
        return None
    return addr, m.group("holder")


def _is_resolved(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.strip().casefold() == "true")


def service_error_records(d: Mapping[str, Any], kind: ObjectKind,
                          warnings: list[str] | None = None) -> list[ErrorRecord]:
    """The unresolved ``serviceProvisioningErrors`` of one Graph object, as matcher records."""
    raw = d.get("serviceProvisioningErrors")
    if not raw or not isinstance(raw, list):
        return []
    oid = str(d.get("id") or "")
    out: list[ErrorRecord] = []
    for i, e in enumerate(raw):
        if not isinstance(e, Mapping) or _is_resolved(e.get("isResolved")):
            continue
        instance = str(e.get("serviceInstance") or "")
        occurred, warn = normalise_time(e.get("createdDateTime"),
                                        f"{kind.value} {oid} serviceProvisioningErrors[{i}].createdDateTime")
        if warn and warnings is not None:
            warnings.append(warn)
        name, records = parse_error_detail(str(e.get("errorDetail") or ""))
        service = (instance.split("/", 1)[0] or (name or "").split("/", 1)[0] or "service").casefold()
        origin = Origin.EXCHANGE.value if service == "exchange" else service
        where = instance or name or "unknown instance"
        if not records:
            records = [(None, "(no error detail)")]
        for code, desc in records:
            dup = duplicate_address(desc)
            evidence = [f"{where}: {desc}"]
            if dup is not None:
                addr, holder = dup
                if holder:
                    evidence.append(f"Exchange names the recipient that uses it: {holder}")
                err = ProvisioningError(category=code or "ProxyAddressInUse", property=PROXY, value=addr,
                                        occurred=occurred, origin=origin, nature=DUPLICATE, description=desc,
                                        code=code)
            else:
                # property/value keep two different errors of one object apart (the finding id hashes them)
                err = ProvisioningError(category=code or "ServiceError", property=code or "ServiceError", value=desc,
                                        occurred=occurred, origin=origin, nature=Scenario.SERVICE_ERROR.value,
                                        description=desc, code=code)
            out.append(ErrorRecord(error=err, object_id=oid, object_kind=kind, evidence=tuple(evidence),
                                   display_name=d.get("displayName") if isinstance(d.get("displayName"), str)
                                   else None))
    return out
