"""Post a report summary to an incoming webhook: Microsoft Teams, Slack, or generic JSON.

Only counts per tenant are sent unless the admin asks for ``detail="values"``
(then also the new/reopened findings' attribute, value and scenario, capped).
The webhook URL is itself a credential: it never appears in messages or errors
(only its scheme and host do). Retried with backoff on connection errors, 429
(honouring ``Retry-After``) and 5xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

import httpx

from ..core.errors import NetworkError, UsageError

__all__ = ["NOTIFY_FORMATS", "build_payload", "guess_format", "redact_url", "send"]

NOTIFY_FORMATS = ("auto", "teams", "slack", "generic")
MAX_VALUES = 25


def _parsed(url: str) -> Any:
    """The URL's parts, or None when it does not parse (a port that is not a number or out of range, an
    unclosed IPv6 bracket): never a traceback, which would print the URL and its token."""
    try:
        u = urlparse(url)
        u.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    return u


def redact_url(url: str) -> str:
    u = _parsed(url)
    return f"{u.scheme}://{u.hostname or '?'}/…" if u is not None else "a URL that does not parse"


def guess_format(url: str) -> str:
    u = _parsed(url)
    host = ((u.hostname if u is not None else None) or "").lower()
    if host == "hooks.slack.com" or host.endswith(".slack.com"):
        return "slack"
    if host.endswith((".webhook.office.com", ".logic.azure.com", ".powerplatform.com", ".office.com")):
        return "teams"
    return "generic"


def _lines(doc: Mapping[str, Any], detail: str) -> tuple[str, list[str]]:
    totals = {k: sum(t["counts"][k] for t in doc["tenants"]) for k in ("open", "new", "reopened", "resolved",
                                                                        "stuck")}
    title = (f"Sync conflicts: {totals['open']} open, {totals['new']} new, {totals['reopened']} reopened, "
             f"{totals['resolved']} resolved, {totals['stuck']} stuck")
    lines = []
    for t in doc["tenants"]:
        c = t["counts"]
        flag = "" if t["last_run_complete"] else " (last run incomplete)"
        lines.append(f"{t['name'] or t['tenant']}: {c['open']} open, {c['new']} new, {c['reopened']} reopened, "
                     f"{c['resolved']} resolved, {c['stuck']} stuck{flag}")
    if detail == "values":
        fresh = [(t, f) for t in doc["tenants"] for f in t["findings"] if f["state"] in ("new", "reopened")]
        for t, f in fresh[:MAX_VALUES]:
            lines.append(f"{f['state']}: {t['name'] or t['tenant']} {f['property']} {f['value']} ({f['scenario']})")
        if len(fresh) > MAX_VALUES:
            lines.append(f"… and {len(fresh) - MAX_VALUES} more")
    return title, lines


def build_payload(doc: Mapping[str, Any], fmt: str, detail: str = "counts") -> dict[str, Any]:
    """The JSON body for ``fmt`` (teams | slack | generic) from a ``reconciler.report/1`` document."""
    if detail not in ("counts", "values"):
        raise UsageError(f"--notify-detail must be counts or values; got {detail!r}")
    title, lines = _lines(doc, detail)
    if fmt == "slack":
        return {"text": title, "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900] or "no tenants"}}]}
    if fmt == "teams":
        body = [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True}]
        body += [{"type": "TextBlock", "text": ln, "wrap": True, "spacing": "Small"} for ln in lines]
        return {"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
            "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                        "version": "1.4", "body": body}}]}
    tenants = [{"tenant": t["tenant"], "name": t["name"], "last_run": t["last_run"],
                "last_run_complete": t["last_run_complete"],
                "counts": {k: t["counts"][k] for k in ("open", "new", "reopened", "resolved", "stuck")}}
               for t in doc["tenants"]]
    out: dict[str, Any] = {"schema": "reconciler.notify/1", "generated": doc["generated"], "summary": title,
                           "text": "\n".join([title, *lines]), "tenants": tenants}
    if detail == "values":
        out["findings"] = [{"tenant": t["tenant"], "id": f["id"], "state": f["state"], "scenario": f["scenario"],
                            "property": f["property"], "value": f["value"]}
                           for t in doc["tenants"] for f in t["findings"] if f["state"] in ("new", "reopened")
                           ][:MAX_VALUES]
    return out


def _retry_after(resp: httpx.Response, attempt: int, base: float) -> float:
    ra = resp.headers.get("Retry-After", "")
    if ra.strip().isdigit():
        return min(float(ra), 60.0)
    return base * (2 ** attempt)


def send(url: str, payload: Mapping[str, Any], *, attempts: int = 4, backoff: float = 1.0, timeout: float = 15.0,
         transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """POST ``payload``; returns the HTTP status. Raises NetworkError (exit 5) once retries are spent."""
    where = redact_url(url)
    u = _parsed(url)
    if u is None or u.scheme not in ("https", "http") or not u.hostname:
        raise UsageError(f"--notify needs an http(s) URL (host, optional port 1-65535); got {where}")
    last = "no attempt"
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=True) as client:
        for attempt in range(attempts):
            try:
                resp = client.post(url, json=dict(payload), headers={"User-Agent": "reconciler"})
            except httpx.TransportError as e:
                last = f"{type(e).__name__}"
                if attempt + 1 < attempts:
                    sleep(backoff * (2 ** attempt))
                continue
            if resp.status_code < 300:
                return resp.status_code
            last = f"HTTP {resp.status_code}"
            if resp.status_code != 429 and resp.status_code < 500:
                break  # 4xx other than 429: retrying will not help
            if attempt + 1 < attempts:
                sleep(_retry_after(resp, attempt, backoff))
    raise NetworkError(f"notification to {where} failed: {last}")
