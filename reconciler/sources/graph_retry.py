"""Retry policy pieces of the Graph HTTP layer: which statuses are retried, ``Retry-After``, and the
adaptive concurrency limit. :class:`~.graph_http.GraphHttp` is the one place that applies them.
"""

from __future__ import annotations

import asyncio
from typing import Mapping

__all__ = ["RETRY_STATUS", "AdaptiveLimiter", "retry_after"]

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class AdaptiveLimiter:
    """Bounded concurrency that halves on throttling and grows back by one per ``grow_after`` successes."""

    def __init__(self, maximum: int, minimum: int = 1, grow_after: int = 20) -> None:
        self.maximum = max(1, maximum)
        self.minimum = max(1, min(minimum, self.maximum))
        self.limit = self.maximum
        self.in_flight = 0
        self.peak = 0
        self._grow_after = grow_after
        self._ok = 0
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def throttled(self) -> None:
        self.limit = max(self.minimum, self.limit // 2)
        self._ok = 0

    def succeeded(self) -> None:
        self._ok += 1
        if self._ok >= self._grow_after and self.limit < self.maximum:
            self.limit += 1
            self._ok = 0


def retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after") or headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # HTTP-date form: fall back to backoff
