"""Resource-unit throttling after Graph's identity limits, and seeded fault injection.

Costs (Microsoft Graph throttling limits, https://learn.microsoft.com/en-us/graph/throttling-limits):
``GET users`` 2, ``groups/{id}/members`` 3, anything else 1; ``$select`` -1, ``$expand`` +1,
``$top`` under 20 -1; minimum 1. Writes
(POST, PATCH, DELETE) cost 1 unit and 1 write. Buckets are fixed windows:
resource units per 10 s by tenant size (S < 50 users 3,500; M ≤ 500 5,000;
L 8,000) and 3,000 writes per 150 s. ``time_scale`` shrinks every window and
every ``Retry-After``. Requests that are throttled still count (as in Graph).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FaultPicker", "Throttle", "Verdict", "format_retry_after", "request_cost", "ru_limit"]

RU_WINDOW_S = 10.0
WRITE_WINDOW_S = 150.0
WRITE_LIMIT = 3000
STORM_RATE = 0.3


def ru_limit(users: int) -> int:
    if users < 50:
        return 3500
    if users <= 500:
        return 5000
    return 8000


def request_cost(method: str, endpoint: str, query: dict[str, str]) -> int:
    if method != "GET":
        return 1
    base = {"users": 2, "users/{id}": 2, "groups/{id}/members": 3}.get(endpoint, 1)
    if "$select" in query:
        base -= 1
    if "$expand" in query:
        base += 1
    top = query.get("$top", "")
    if top.isdigit() and int(top) < 20:
        base -= 1
    return max(1, base)


def format_retry_after(seconds: float) -> str:
    """Whole seconds as HTTP wants; fractional only when time_scale shrank it under 1 s."""
    if seconds >= 1:
        return str(math.ceil(seconds))
    return f"{max(seconds, 0.001):.3f}"


@dataclass
class Verdict:
    throttled: bool
    retry_after: float = 0.0
    scope: str = ""
    info: str = ""
    used_pct: float = 0.0


class _Window:
    def __init__(self, length: float, limit: int, clock: Callable[[], float]) -> None:
        self.length, self.limit, self.clock = length, limit, clock
        self.start = clock()
        self.used = 0

    def charge(self, amount: int) -> tuple[bool, float]:
        now = self.clock()
        if now - self.start >= self.length:
            self.start += self.length * ((now - self.start) // self.length)
            self.used = 0
        over = self.used + amount > self.limit
        self.used += amount
        return over, self.start + self.length - now


class Throttle:
    """One app + tenant pair's buckets."""

    def __init__(self, profile: str | None, users: int, time_scale: float, seed: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.profile = profile or "none"
        self.scale = time_scale
        self.rng = random.Random(seed ^ 0x5EED)
        self.ru = _Window(RU_WINDOW_S * time_scale, ru_limit(users), clock)
        self.writes = _Window(WRITE_WINDOW_S * time_scale, WRITE_LIMIT, clock)

    def charge(self, cost: int, is_write: bool) -> Verdict:
        if self.profile == "none":
            return Verdict(False)
        if self.profile == "storm":
            if self.rng.random() < STORM_RATE:
                return Verdict(True, 1.0 * self.scale, "Tenant_Application/ReadWrite/All",
                               "ResourceUnitLimitExceeded")
            return Verdict(False)
        over, wait = self.ru.charge(cost)
        if over:
            return Verdict(True, wait, "Tenant_Application/ReadWrite/All", "ResourceUnitLimitExceeded")
        if is_write:
            over, wait = self.writes.charge(1)
            if over:
                return Verdict(True, wait, "Tenant_Application/Write/All", "WriteLimitExceeded")
        return Verdict(False, used_pct=100.0 * self.ru.used / self.ru.limit)


class FaultPicker:
    """Seeded choice of injected faults: 503, 504, connection reset, slow response."""

    KINDS = ("503", "504", "reset", "slow")

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.rng = random.Random(seed)

    def pick(self) -> str | None:
        if self.rate <= 0 or self.rng.random() >= self.rate:
            return None
        return self.rng.choice(self.KINDS)
