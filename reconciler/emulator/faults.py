"""Named, seeded fault modes for the fault suite (``EmulatorConfig.faults``).

``faults`` maps a mode to the share of eligible requests that get it (0-1),
drawn from ``random.Random(seed)``, so one seed always faults the same requests
of a sequential client. ``fault_after`` keeps the first N requests clean (so a
scan gets part of the way; status modes count ``$batch`` items, body modes
count HTTP requests); ``fault_limit`` stops injecting after N faults (a
burst that ends) and ``None`` means the fault never ends.

Status modes answer before the handler runs; they apply to top-level requests
and to each ``$batch`` item alike:

* ``429``: ``TooManyRequests`` with ``Retry-After: fault_retry_after`` (scaled);
* ``5xx``: 500, 502, 503 (with ``Retry-After``) or 504, in turn;
* ``expire``: 401 ``InvalidAuthenticationToken`` (the token expired);
* ``nextlink_404`` / ``nextlink_410``: a request carrying a ``$skiptoken``
  (a followed ``@odata.nextLink``) answers 404 / 410 Gone.

Body modes change how a top-level response (a ``$batch`` envelope included)
goes over the wire:

* ``reset``: headers and the first half of the real body, then the connection drops;
* ``truncate``: a 200 whose body is the first half of the real JSON (a
  ``Content-Length`` that matches, so only the JSON is broken);
* ``stall``: the response waits ``fault_stall_s`` (scaled) before it starts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

__all__ = ["BODY_FAULTS", "FAULT_MODES", "STATUS_FAULTS", "FaultPlan"]

STATUS_FAULTS = ("429", "5xx", "expire", "nextlink_404", "nextlink_410")
BODY_FAULTS = ("reset", "truncate", "stall")
FAULT_MODES = STATUS_FAULTS + BODY_FAULTS
_5XX = (500, 502, 503, 504)


def check_faults(faults: Mapping[str, float]) -> None:
    for mode, rate in faults.items():
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(FAULT_MODES)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault {mode} rate must be between 0 and 1; got {rate}")


class FaultPlan:
    """Decides, request by request, which named fault (if any) to inject."""

    def __init__(self, faults: Mapping[str, float], seed: int, after: int = 0, limit: int | None = None) -> None:
        self.faults = dict(faults)
        self.rng = random.Random(seed ^ 0xFA17)
        self.after = after
        self.limit = limit
        self.seen = {"status": 0, "body": 0}
        self.injected: dict[str, int] = {}
        self._5xx = 0

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def pick(self, stage: str, *, next_link: bool = False) -> str | None:
        """A mode of ``stage`` (``status`` or ``body``) for this request, or None."""
        modes = STATUS_FAULTS if stage == "status" else BODY_FAULTS
        active = [(m, self.faults[m]) for m in modes if self.faults.get(m)]
        if not active:
            return None
        self.seen[stage] += 1
        if self.seen[stage] <= self.after or (self.limit is not None and self.total >= self.limit):
            return None
        for mode, rate in active:
            if mode.startswith("nextlink") and not next_link:
                continue
            if self.rng.random() < rate:
                self.injected[mode] = self.injected.get(mode, 0) + 1
                return mode
        return None

    def next_5xx(self) -> int:
        status = _5XX[self._5xx % len(_5XX)]
        self._5xx += 1
        return status
