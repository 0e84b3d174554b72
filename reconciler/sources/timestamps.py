"""Time stamps from any origin -> ISO 8601 UTC, or the raw text with a warning.

Graph sends ``2026-11-19T22:03:40Z``; exports and some services send
``11/07/2024 23:11:06`` (US month first), 7-digit fractions
(``2018-04-30T22:13:47.6380995Z``) or an offset. One helper for every reader.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["normalise_time", "parse_time", "parse_since"]

_FRACTION = re.compile(r"^(?P<head>[^.]+)\.(?P<frac>\d+)(?P<tail>.*)$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?\s*(AM|PM)?$", re.I)


def parse_time(raw: str) -> datetime | None:
    """A timezone-aware UTC datetime, or None when ``raw`` is not a time stamp we can read.

    Times without a zone are taken as UTC (Graph and Connect Health write UTC)."""
    s = raw.strip()
    if not s:
        return None
    m = _US.match(s)
    if m:
        mon, day, year, hour, minute, sec, ampm = m.groups()
        h = int(hour)
        if ampm:
            h = h % 12 + (12 if ampm.upper() == "PM" else 0)
        try:
            dt = datetime(int(year), int(mon), int(day), h, int(minute), int(sec or 0))
        except ValueError:
            return None
        return dt.replace(tzinfo=timezone.utc)
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    m = _FRACTION.match(s)
    if m:  # Python reads at most 6 fraction digits
        s = f"{m.group('head')}.{m.group('frac')[:6].ljust(6, '0')}{m.group('tail')}"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _iso(dt: datetime) -> str:
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0") + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise_time(raw: object, where: str = "") -> tuple[str | None, str | None]:
    """(ISO 8601 UTC text, None) or, when unreadable, (the raw text, a warning naming ``where``)."""
    if raw is None or raw == "":
        return None, None
    if not isinstance(raw, str):
        raw = str(raw)
    dt = parse_time(raw)
    if dt is None:
        return raw, f"{where or 'a time stamp'}: {raw!r} is not an ISO 8601 time; kept as is"
    return _iso(dt), None


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
    return _iso(dt.astimezone(timezone.utc))
