"""Entra Cloud Sync failures from the provisioning logs (``GET /auditLogs/provisioning``).

Only failures of Cloud Sync jobs count: ``jobId`` starting ``AD2AADProvisioning.``,
``provisioningStatusInfo.status`` ``failure``, ``activityDateTime`` within the
window (``--since``, default 7 days). Graph filters this endpoint with ``eq``,
``contains``, ``gt`` and ``lt`` only, case-sensitively, so the query is::

    activityDateTime gt <since> and provisioningStatusInfo/status eq 'failure'
    and contains(jobId,'AD2AADProvisioning.')

with a large ``$top``, following ``@odata.nextLink``; the job prefix and the
window are checked again here. The endpoint has its own throttle (5 requests per
10 s per app and tenant): :class:`WindowLimiter` keeps every request inside it,
so one week of failures costs a few requests and never a 429 of our making.

Each failure names its on-prem object (``sourceIdentity.id``, the objectGUID)
and, for an update, its cloud object (``targetIdentity.id``); a failed create
has none. Values are read from the failure text (``reason``,
``additionalDetails``); when the text names none, the matcher tries the on-prem
object's UPN, mail and SMTP values (else the failure's ``modifiedProperties``).
No Cloud Sync error code for duplicates is documented, so the text decides.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from ..core.model import DUPLICATE, PROXY, UPN, ErrorRecord, ObjectKind, Origin, ProvisioningError, Scenario
from .base import as_mapping
from .timestamps import iso, normalise_time, parse_time

__all__ = ["JOB_PREFIX", "DEFAULT_SINCE", "WindowLimiter", "failure_records", "provisioning_filter",
           "read_failures", "is_cloud_sync_failure", "PROVISIONING_PATH"]

JOB_PREFIX = "AD2AADProvisioning."
DEFAULT_SINCE = timedelta(days=7)
PROVISIONING_PATH = "/auditLogs/provisioning"
PAGE_SIZE = 1000
WINDOW_REQUESTS, WINDOW_SECONDS = 5, 10.0

_ADDR = re.compile(r"(?:smtp:)?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)", re.I)
_BRACKET = re.compile(r"\[\s*(UserPrincipalName|ProxyAddresses|ProxyAddress|Mail)\s+([^;\]]+);?\s*\]", re.I)
_DUP_TEXT = re.compile(r"uniqueness constraint|already (?:exists?|in use|used|associated)|duplicate|"
                       r"AttributeValueMustBeUnique|must be unique|same (?:value|proxy|user ?principal)", re.I)
_ADMIN_TEXT = re.compile(r"admin(?:istrator)? role|directory role", re.I)
_HARD_TEXT = re.compile(r"hard ?match", re.I)
_VALIDATION_TEXT = re.compile(r"invalid (?:character|format|value)|not a verified domain|unverified domain", re.I)
_LARGE_TEXT = re.compile(r"exceed(?:s|ed)? (?:the )?(?:maximum|allowed)|too (?:many|large)", re.I)


class WindowLimiter:
    """At most ``limit`` acquisitions in any ``window`` seconds (sliding window, async)."""

    def __init__(self, limit: int = WINDOW_REQUESTS, window: float = WINDOW_SECONDS,
                 clock: Any = time.monotonic, sleep: Any = asyncio.sleep) -> None:
        self.limit, self.window = limit, window
        self._clock, self._sleep = clock, sleep
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.waited = 0.0

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._times and now - self._times[0] >= self.window:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                # a little slack: the server stamps the request later than we do
                pause = self.window - (now - self._times[0]) + 0.01 + 0.01 * self.window
                self.waited += pause
                await self._sleep(pause)


def provisioning_filter(since: datetime) -> str:
    return (f"activityDateTime gt {iso(since)} and provisioningStatusInfo/status eq 'failure' "
            f"and contains(jobId,'{JOB_PREFIX}')")


async def read_failures(http: Any, since: datetime, limiter: WindowLimiter | None = None,
                        top: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Every Cloud Sync failure since ``since``: one request per page, each inside the throttle window.

    Raises the client's errors (``PermissionDenied`` on 403) for the caller to turn into a warning."""
    limiter = limiter or WindowLimiter()
    url: str | None = http.url(PROVISIONING_PATH, {"$filter": provisioning_filter(since), "$top": top})
    out: list[dict[str, Any]] = []
    while url:
        await limiter.acquire()
        body = await http.get_json(url)
        body = body if isinstance(body, dict) else {}
        out += [d for d in body.get("value") or [] if isinstance(d, dict)]
        nxt = body.get("@odata.nextLink")
        url = nxt if isinstance(nxt, str) and nxt else None
    return out


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return d


def is_cloud_sync_failure(d: Mapping[str, Any], since: datetime | None, until: datetime | None = None) -> bool:
    job = d.get("jobId")
    if not isinstance(job, str) or not job.startswith(JOB_PREFIX):
        return False
    status = _get(d, "provisioningStatusInfo", "status")
    if not isinstance(status, str) or status.casefold() != "failure":
        return False
    if since is not None or until is not None:
        at = parse_time(str(d.get("activityDateTime") or ""))
        if at is None:
            return True  # unreadable time: kept (with a warning), never dropped silently
        if since is not None and at <= since:
            return False
        if until is not None and at > until:
            return False
    return True


def _kind(identity_type: Any) -> ObjectKind | None:
    t = str(identity_type or "").casefold()
    return {"user": ObjectKind.USER, "group": ObjectKind.GROUP, "contact": ObjectKind.CONTACT}.get(t)


def _nature(text: str) -> str | None:
    if _ADMIN_TEXT.search(text):
        return Scenario.ADMIN_ROLE_CONFLICT.value
    if _HARD_TEXT.search(text) and re.search(r"block", text, re.I):
        return Scenario.HARD_MATCH_BLOCKED.value
    if _DUP_TEXT.search(text):
        return DUPLICATE
    if _VALIDATION_TEXT.search(text):
        return Scenario.DATA_VALIDATION.value
    if _LARGE_TEXT.search(text):
        return Scenario.LARGE_ATTRIBUTE.value
    return None


def _named_property(text: str, code: str) -> str | None:
    both = f"{code} {text}"
    if re.search(r"user\s*principal\s*name|\bUPN\b", both, re.I):
        return UPN
    if re.search(r"proxy\s*add|\bmail\b|e-?mail address|smtp", both, re.I):
        return PROXY
    return None


def text_values(text: str, code: str = "") -> list[tuple[str, str]]:
    """(property, value) pairs a failure text names: ``[Attr value;]`` brackets, else addresses in it."""
    out = [(UPN if m.group(1).casefold() == "userprincipalname" else PROXY, m.group(2).strip())
           for m in _BRACKET.finditer(text)]
    if out:
        return [(p, v[5:] if v[:5].lower() == "smtp:" else v) for p, v in out]
    prop = _named_property(text, code) or PROXY
    vals = list(dict.fromkeys(m.group(1) for m in _ADDR.finditer(text)))
    return [(prop, v) for v in vals]


_MODIFIED = {"userprincipalname": UPN, "mail": PROXY, "proxyaddresses": PROXY}


def modified_values(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, value) from ``modifiedProperties`` (UPN, mail, SMTP proxy addresses only)."""
    out = []
    for m in d.get("modifiedProperties") or ():
        if not isinstance(m, Mapping):
            continue
        prop = _MODIFIED.get(str(m.get("displayName") or "").casefold())
        new = m.get("newValue")
        if prop is None or not isinstance(new, str) or not new.strip():
            continue
        if str(m.get("displayName")).casefold() == "proxyaddresses":
            out += [(PROXY, a) for a in re.findall(r"smtp:([^\s\",;\]\[]+@[^\s\",;\]\[]+)", new, re.I)]
        else:
            out.append((prop, new.strip().strip('"[]')))
    return out


def failure_records(items: Iterable[Mapping[str, Any]], since: datetime | None,
                    until: datetime | None = None) -> tuple[list[ErrorRecord], list[str]]:
    """Cloud Sync failures -> matcher records, the newest occurrence of each repeated failure only."""
    warnings: list[str] = []
    latest: dict[tuple[Any, ...], tuple[datetime, ErrorRecord]] = {}
    for n, d in enumerate(items):
        if not isinstance(d, Mapping) or not is_cloud_sync_failure(d, since, until):
            continue
        src: Mapping[str, Any] = as_mapping(d.get("sourceIdentity"))
        tgt: Mapping[str, Any] = as_mapping(d.get("targetIdentity"))
        info = _get(d, "provisioningStatusInfo", "errorInformation") or {}
        code = str(info.get("errorCode") or "") if isinstance(info, Mapping) else ""
        reason = str(info.get("reason") or "") if isinstance(info, Mapping) else ""
        extra = str(info.get("additionalDetails") or "") if isinstance(info, Mapping) else ""
        steps = " ".join(str(s.get("description") or "") for s in d.get("provisioningSteps") or ()
                         if isinstance(s, Mapping) and str(s.get("status") or "").casefold() == "failure")
        text = " ".join(t for t in (reason, extra) if t)
        occurred, warn = normalise_time(d.get("activityDateTime"), f"provisioning log {d.get('id') or n} activityDateTime")
        if warn:
            warnings.append(warn)
        nature = _nature(f"{code} {text} {steps}")
        guid = str(src.get("id") or "") or None
        target = str(tgt.get("id") or "") or None
        kind = _kind(src.get("identityType")) or _kind(tgt.get("identityType"))
        name = str(src.get("displayName") or "") or None
        evidence = [f"Cloud Sync job {d.get('jobId')} ({d.get('provisioningAction') or 'action unknown'}) failed at "
                    f"{occurred}: {code or 'no error code'}: {(text or steps or 'no reason given')[:500]}"]
        description = (text or steps or code)[:1000] or None
        category = code or "CloudSyncFailure"
        named = text_values(text, code) if nature == DUPLICATE else []
        base = dict(object_id=target, object_kind=kind, onprem_guid=guid, evidence=tuple(evidence), display_name=name)
        recs = []
        if nature == DUPLICATE and named:
            for prop, value in named:
                recs.append(ErrorRecord(error=ProvisioningError(
                    category=category, property=prop, value=value, occurred=occurred, origin=Origin.CLOUD_SYNC.value,
                    nature=nature, description=description, code=code or None), **base))  # type: ignore[arg-type]
        elif nature == DUPLICATE:
            recs.append(ErrorRecord(error=ProvisioningError(
                category=category, property=_named_property(text, code) or "", value="", occurred=occurred,
                origin=Origin.CLOUD_SYNC.value, nature=nature, description=description, code=code or None),
                candidates=tuple(modified_values(d)), **base))  # type: ignore[arg-type]
        else:
            recs.append(ErrorRecord(error=ProvisioningError(
                category=category, property=code or "CloudSyncFailure", value="", occurred=occurred,
                origin=Origin.CLOUD_SYNC.value, nature=nature, description=description, code=code or None),
                **base))  # type: ignore[arg-type]
        at = parse_time(occurred or "") or datetime.min.replace(tzinfo=timezone.utc)
        for r in recs:
            key = (guid, target, r.error.property, r.error.value.casefold(), r.error.code)
            if key not in latest or at > latest[key][0]:
                latest[key] = (at, r)
    return [r for _, r in latest.values()], warnings
