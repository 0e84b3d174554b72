"""Emulator settings and throttle profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .faults import check_faults

__all__ = ["THROTTLE_PROFILES", "EmulatorConfig"]

#: ``none``: never throttle. ``graph``: Graph identity limits (resource units per
#: 10 s by tenant size, 3,000 writes per 150 s). ``storm``: a seeded 30% of
#: requests answer 429 regardless of load (exercises retry paths).
THROTTLE_PROFILES = ("none", "graph", "storm")


@dataclass
class EmulatorConfig:
    """How the emulator behaves. Defaults: Graph paging, no latency, no throttling, no auth."""

    page_size: int = 100
    latency_ms: float = 0.0
    latency_per_object_ms: float = 0.0
    throttle: str | None = None
    fault_rate: float = 0.0
    seed: int = 0
    time_scale: float = 1.0
    #: token -> application permissions it carries; None = no auth checks at all.
    permissions: dict[str, set[str]] | None = None
    request_log: Path | None = None
    #: at most this many objects per page even when ``$top`` asks for more (Graph may send fewer);
    #: lets small tenants exercise long nextLink chains.
    page_cap: int | None = None
    #: named fault modes -> share of eligible requests (see :mod:`.faults`), seeded by ``seed``.
    faults: dict[str, float] = field(default_factory=dict)
    #: the first N requests are never faulted by ``faults``.
    fault_after: int = 0
    #: at most N named faults in all (a burst that ends); None = no end.
    fault_limit: int | None = None
    #: ``Retry-After`` of the ``429`` and ``5xx`` (503) modes, in seconds before ``time_scale``.
    fault_retry_after: float = 120.0
    #: how long a ``stall`` fault holds the response, in seconds before ``time_scale``.
    fault_stall_s: float = 60.0

    def __post_init__(self) -> None:
        if self.throttle is not None and self.throttle not in THROTTLE_PROFILES:
            raise ValueError(f"throttle profile must be one of {', '.join(THROTTLE_PROFILES)}; "
                             f"got {self.throttle!r}")
        if not 1 <= self.page_size <= 999:
            raise ValueError(f"page size must be between 1 and 999; got {self.page_size}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1; got {self.fault_rate}")
        if self.time_scale <= 0:
            raise ValueError(f"time scale must be positive; got {self.time_scale}")
        check_faults(self.faults)
        if self.fault_after < 0 or (self.fault_limit is not None and self.fault_limit < 0):
            raise ValueError("fault_after and fault_limit must not be negative")
        if self.latency_ms < 0 or self.latency_per_object_ms < 0:
            raise ValueError("latency must not be negative")
