"""Time stamps from many writers, normalised to ISO 8601 UTC (``2024-11-07T23:11:06Z``) when they are unambiguous.

Culture strings carry no zone: they become ISO 8601 local time (no ``Z``).

Graph writes ISO 8601 with 0-7 fraction digits and ``Z`` or an offset; PowerShell
5.1 ``ConvertTo-Json`` writes ``/Date(ms)/``; ``Export-Csv`` and ``Format-List``
write the session culture (``2017/11/18 15:35:24`` ja-JP, ``07.11.2024 23:11:06``
de-DE, ``11/7/2024 11:11:06 PM`` en-US); AD writes GeneralizedTime
(``20200103130805.0Z``). A value whose day and month cannot be told apart
(``11/07/2024``) is not guessed: :func:`normalize_time` returns it unchanged and
:func:`is_iso` says so, so the caller can warn.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["normalize_time", "is_iso", "time_problem"]

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z?$")  # what this module writes
_ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_ISO_IN = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$", re.I)
_MSJSON = re.compile(r"^\\?/Date\((-?\d+)([+-]\d{4})?\)\\?/$")
_GENERALIZED = re.compile(r"^(\d{14})(?:\.\d+)?Z$")
_CULTURE = re.compile(r"^(\d{1,4})([./-])(\d{1,2})\2(\d{1,4}),?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,]\d+)?"
                      r"\s*(AM|PM|午前|午後)?$", re.I)


def _fmt(dt: datetime, frac: str = "", zone: str = "Z") -> str:
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    base = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    frac = frac[:6].rstrip("0")
    return f"{base}.{frac}{zone}" if frac else f"{base}{zone}"


def _culture(m: re.Match[str]) -> str | None:
    a, sep, b, c, hh, mm, ss, ampm = m.groups()
    h = int(hh)
    if ampm:
        pm = ampm.upper() in ("PM", "午後")
        if not 1 <= h <= 12:
            return None
        h = (h % 12) + (12 if pm else 0)
    if len(a) == 4:  # year first: yyyy/MM/dd (ja-JP, zh-CN, ...) — never year/day/month
        y, mo, d = int(a), int(b), int(c)
    elif len(c) == 4:
        first, second = int(a), int(b)
        if sep == ".":  # dd.MM.yyyy (de-DE, ru-RU, ...)
            d, mo = first, second
        elif first > 12 >= second:
            d, mo = first, second
        elif second > 12 >= first:
            mo, d = first, second
        else:
            return None  # 11/07/2024: 11 July or 7 November — not guessed
        y = int(c)
    else:
        return None
    try:
        # a culture string is local time of the machine that wrote it: ISO 8601 without a zone
        return _fmt(datetime(y, mo, d, h, int(mm), int(ss or 0)), zone="")
    except ValueError:
        return None


def normalize_time(value: object) -> str | None:
    """ISO 8601 UTC for every unambiguous shape; other strings unchanged; None for None/empty."""
    if value is None:
        return None
    v = str(value).strip()
    if not v:
        return None
    if _ISO_Z.match(v) and not v.endswith("0Z"):
        return v
    m = _ISO_IN.match(v)
    if m:
        day, clock, frac, zone = m.groups()
        if len(clock) == 5:
            clock += ":00"
        try:
            dt = datetime.fromisoformat(f"{day}T{clock}")
        except ValueError:
            return v
        if zone and zone.upper() != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            dt = dt - sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return _fmt(dt, frac or "")
    m = _MSJSON.match(v)
    if m:
        try:
            dt = datetime(1970, 1, 1) + timedelta(milliseconds=int(m.group(1)))
        except OverflowError:
            return v
        return _fmt(dt.replace(microsecond=0), f"{dt.microsecond:06d}")
    m = _GENERALIZED.match(v)
    if m:
        s = m.group(1)
        try:
            return _fmt(datetime(int(s[:4]), int(s[4:6]), int(s[6:8]), int(s[8:10]), int(s[10:12]), int(s[12:14])))
        except ValueError:
            return v
    m = _CULTURE.match(v)
    if m:
        return _culture(m) or v
    return v


def is_iso(value: str | None) -> bool:
    return value is None or bool(_ISO.match(value))


def time_problem(value: str) -> str:
    """Why a value stayed raw (for the warning)."""
    m = _CULTURE.match(value.strip())
    if m and len(m.group(4)) == 4 and int(m.group(1)) <= 12 and int(m.group(3)) <= 12:
        return "day and month cannot be told apart"
    return "not a recognised date format"
