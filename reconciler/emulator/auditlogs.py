"""``GET /auditLogs/provisioning``: the provisioning logs, as Graph serves them.

Served from the tenant file's ``provisioningLogs`` (provisioningObjectSummary
objects as Graph returns them), newest first. Graph's rules for this endpoint:

- ``$filter`` with ``eq``, ``contains``, ``gt`` and ``lt`` (joined by ``and``/``or``),
  compared **case-sensitively**; time stamps compare as times. Anything else is
  ``400 BadRequest``.
- ``$top`` (at most ``MAX_TOP`` here; Graph documents no maximum) and ``$skiptoken``
  paging through ``@odata.nextLink``.
- Its own throttle: 5 requests per 10 s per app and tenant (``429`` with
  ``Retry-After``; throttled requests still count, as in Graph). ``time_scale``
  shrinks the window.
- Permission ``AuditLog.Read.All`` (no directory-wide read permission implies it).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .listing import Req, Resp
from .odata import FilterError, parse_filter
from .shapes import GraphError, bad_request, decode_token, encode_token

if TYPE_CHECKING:
    from .app import Emulator

__all__ = ["provisioning_logs", "ReportThrottle", "MAX_TOP", "REPORT_LIMIT", "REPORT_WINDOW_S"]

MAX_TOP = 1000
DEFAULT_TOP = 50
REPORT_LIMIT, REPORT_WINDOW_S = 5, 10.0
_OPS = ("eq", "gt", "lt")


class ReportThrottle:
    """5 requests per 10 s sliding window per token (app) for this tenant."""

    def __init__(self, time_scale: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = REPORT_WINDOW_S * time_scale
        self.clock = clock
        self.seen: dict[str, deque[float]] = {}
        self.history: list[tuple[float, bool]] = []  # (time, throttled) of every request, for tests and benches

    def charge(self, app: str) -> float:
        """0 when allowed, else the seconds to wait (the request still counts)."""
        now = self.clock()
        q = self.seen.setdefault(app, deque())
        while q and now - q[0] >= self.window:
            q.popleft()
        q.append(now)
        # throttled requests count too, so a retry is served only once the oldest (len - 5) have left the window
        wait = max(0.001, self.window - (now - q[-REPORT_LIMIT])) if len(q) > REPORT_LIMIT else 0.0
        self.history.append((now, wait > 0))
        return wait


def _time(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    s = v.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    s = re.sub(r"\.(\d{6})\d+", r".\1", s)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    for p in path:
        obj = obj.get(p) if isinstance(obj, dict) else None
    return obj


def _check(node: tuple[Any, ...]) -> None:
    kind = node[0]
    if kind in ("and", "or"):
        for c in node[1]:
            _check(c)
        return
    if kind == "cmp" and node[1] in _OPS:
        return
    if kind == "func" and node[1] == "contains":
        return
    what = node[1] if kind in ("cmp", "func") else kind
    raise bad_request(f"Invalid filter clause: '{what}' is not supported on auditLogs/provisioning "
                      "(use eq, contains, gt or lt).", "BadRequest")


def _eval(node: tuple[Any, ...], obj: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "and":
        return all(_eval(c, obj) for c in node[1])
    if kind == "or":
        return any(_eval(c, obj) for c in node[1])
    v = _get(obj, node[2])
    arg = node[3]
    if kind == "func":  # contains: case-sensitive, as Graph documents for this endpoint
        return isinstance(v, str) and isinstance(arg, str) and arg in v
    op = node[1]
    a, b = _time(v), _time(arg) if isinstance(arg, str) else None
    if a is not None and b is not None:
        left, right = a, b
    else:
        left, right = v, arg
    if op == "eq":
        return bool(left == right)
    try:
        return bool(left > right if op == "gt" else left < right)
    except TypeError:
        return False


def provisioning_logs(em: Emulator, req: Req, m: re.Match[str]) -> Resp:
    em.require(req, "audit.read")
    throttle: ReportThrottle | None = getattr(em, "report_throttle", None)
    if throttle is None:
        throttle = em.report_throttle = ReportThrottle(em.config.time_scale)  # type: ignore[attr-defined]
    wait = throttle.charge(req.token or "anonymous")
    if wait:
        em.stats["throttled"] += 1
        em.stats["report_throttled"] = em.stats.get("report_throttled", 0) + 1
        retry = f"{wait:.3f}" if wait < 1 else str(int(wait + 0.999))
        raise GraphError(429, "TooManyRequests", "Too many requests.", {
            "Retry-After": retry, "x-ms-throttle-scope": "Tenant_Application/Read/AuditLogs",
            "x-ms-throttle-information": "ReportRequestLimitExceeded"})
    logs = [d for d in em.state.extra.get("provisioningLogs") or () if isinstance(d, dict)]
    secret = f"emulator-{em.config.seed}-auditlogs".encode()
    token = req.query.get("$skiptoken")
    if token:
        st = decode_token(token, secret)
        flt, top, offset = st.get("f") or "", int(st.get("t") or DEFAULT_TOP), int(st.get("o") or 0)
    else:
        flt, offset = req.query.get("$filter") or "", 0
        raw_top = req.query.get("$top") or str(DEFAULT_TOP)
        if not raw_top.isdigit() or not 1 <= int(raw_top) <= MAX_TOP:
            raise bad_request(f"Invalid $top value '{raw_top}': between 1 and {MAX_TOP}.", "BadRequest")
        top = int(raw_top)
    if flt:
        try:
            node = parse_filter(flt)
        except FilterError as e:
            raise bad_request(str(e), "BadRequest") from None
        _check(node)
        logs = [d for d in logs if _eval(node, d)]
    logs.sort(key=lambda d: _time(d.get("activityDateTime")) or datetime.min.replace(tzinfo=UTC), reverse=True)
    page = logs[offset:offset + top]
    body: dict[str, Any] = {"@odata.context": f"{req.base}/$metadata#auditLogs/provisioning", "value": page}
    if offset + top < len(logs):
        nxt = encode_token({"f": flt, "t": top, "o": offset + top}, secret)
        body["@odata.nextLink"] = f"{req.base}/auditLogs/provisioning?$skiptoken={nxt}"
    return Resp(200, body, objects=len(page))
