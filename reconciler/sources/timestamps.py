"""Time stamps of every error origin: ISO 8601 UTC, or the raw text with a warning; the ``--since`` window.

The normalising itself is :func:`reconciler.core.timestamps.normalize_time` (one rule for every reader:
Graph's 0-7 fraction digits and offsets, ``/Date(ms)/``, GeneralizedTime, culture strings; a day and
month that cannot be told apart are never guessed). This module turns its answer into (value, warning)
for the readers and parses times for window filters.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ..core.timestamps import is_iso, normalize_time, time_problem

__all__ = ["normalise_time", "parse_time", "parse_since", "iso"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_time(raw: str) -> datetime | None:
    """A timezone-aware UTC datetime, or None when ``raw`` is not a time stamp we can read unambiguously.

    Times without a zone are taken as UTC (Graph and Connect Health write UTC)."""
    v = normalize_time(raw)
    if v is not None and _DATE.match(v):  # a bare date (--since 2026-12-01): midnight UTC
        v += "T00:00:00Z"
    if v is None or not is_iso(v):
        return None
    try:
        dt = datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith("Z") else v)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def normalise_time(raw: object, where: str = "") -> tuple[str | None, str | None]:
    """(ISO 8601 text, None) or, when it cannot be normalised, (the raw text, a warning naming ``where``)."""
    if raw is None or raw == "":
        return None, None
    v = normalize_time(raw)
    if v is None or is_iso(v):
        return v, None
    return v, (f"{where or 'a time stamp'}: {v!r} kept as given, not ISO 8601 ({time_problem(v)})")


_SINCE = re.compile(r"^(\d+)\s*([dhm])$", re.I)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``7d``, ``36h``, ``90m`` or an ISO date/time -> the UTC start of the window (ValueError if neither)."""
    now = now or datetime.now(timezone.utc)
    m = _SINCE.match(text.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2).lower()
        return now - {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n)}[unit]
    dt = parse_time(text)
    if dt is None:
        raise ValueError(f"--since {text!r}: give a duration such as 7d, 36h or 90m, or an ISO 8601 date")
    return dt


def iso(dt: datetime) -> str:
    """UTC ISO 8601 with ``Z``, fraction digits only when there are any."""
    dt = dt.astimezone(timezone.utc)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0") + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
