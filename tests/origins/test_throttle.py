"""The provisioning-log throttle (5 requests per 10 s per app and tenant) is honoured by the scan."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from reconciler.core.matcher import match
from reconciler.emulator import EmulatorConfig, create_app
from reconciler.emulator.auditlogs import REPORT_LIMIT
from reconciler.sources.base import NullProgress
from reconciler.sources.graph import GraphSource
from reconciler.sources.graph_http import GraphHttp

from .origins_helpers import UNIQUENESS_TEXT, failure, sample_doc

SCALE = 0.1  # the emulator's 10 s window becomes 1 s; the scan's limiter is given the same window


def _doc(n: int) -> dict[str, Any]:
    doc = sample_doc()
    doc["provisioningLogs"] = [failure(i, f"00000000-0000-4000-8000-{i:012d}", hours_ago=i / 100,
                                       reason=f"{UNIQUENESS_TEXT} [UserPrincipalName user{i}@contoso.com;]")
                               for i in range(n)]
    return doc


def _scan(doc: dict[str, Any], **kw: Any) -> tuple[Any, Any, float]:
    app = create_app(doc, EmulatorConfig(time_scale=SCALE))

    def factory() -> GraphHttp:
        return GraphHttp("http://emulator/v1.0", None, transport=httpx.ASGITransport(app))
    src = GraphSource(factory, report_window=10.0 * SCALE, **kw)
    t0 = time.monotonic()
    snap = asyncio.run(src.read(NullProgress()))
    return snap, app.state.emulator, time.monotonic() - t0


def test_no_more_than_five_provisioning_requests_in_any_window():
    snap, em, _ = _scan(_doc(60), report_page_size=5)  # 12 pages: the reads must spread over 3 windows
    history = em.report_throttle.history
    window = 10.0 * SCALE
    served = [t for t, throttled in history if not throttled]
    retried = sum(1 for _, throttled in history if throttled)
    assert len(served) == 12 and len(history) == 12 + retried
    for i, t in enumerate(served):
        assert sum(1 for u in served[i:] if u - t < window) <= REPORT_LIMIT
    assert served[-1] - served[0] >= 2 * window * 0.9  # it waited rather than hammering
    assert retried <= 2  # the client plans around the limit; a 429 only from clock skew, and it is retried
    assert len([r for r in snap.error_records if r.error.origin == "cloud_sync"]) == 60
    assert len([f for f in match(snap) if "cloud_sync" in f.all_origins]) == 60


def test_a_week_of_failures_is_a_few_requests():
    snap, em, _ = _scan(_doc(1000))
    assert em.stats["by_endpoint"]["auditLogs/provisioning"] == 1  # one page of 1,000: a big $top, filtered server-side
    assert len(snap.error_records) == 1000


class _NoPremium(httpx.AsyncBaseTransport):
    """The emulator, except that the provisioning logs answer like a tenant without Entra ID P1/P2."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "auditLogs/provisioning" in str(request.url):
            return httpx.Response(403, json={"error": {
                "code": "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "message": "Tenant does not have a SKU required for this call"}})
        return await self.inner.handle_async_request(request)


def test_a_tenant_without_the_licence_is_a_warning_naming_it():
    doc = _doc(3)
    transport = _NoPremium(create_app(doc))
    src = GraphSource(lambda: GraphHttp("http://emulator/v1.0", None, transport=transport))
    snap = asyncio.run(src.read(NullProgress()))
    assert "cloud_sync" not in snap.origins_read and {"connect", "exchange"} <= set(snap.origins_read)
    (w,) = [w for w in snap.warnings if "Cloud Sync" in w]
    assert "AuditLog.Read.All" in w and "P1/P2" in w and "not 'no errors'" in w
    assert not snap.error_records and any(o.errors for o in snap.objects)  # the rest of the scan is intact
