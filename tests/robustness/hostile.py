"""Hypothesis strategies for hostile values: quotes, $(), backticks, newlines, NUL, RTL marks, homoglyphs, 64 KB."""

from __future__ import annotations

from hypothesis import strategies as st

PIECES = [
    "'", "''", "\u2018", "\u2019", "\u201a", "\u201b", '"', "\u201c", "$()", "$(Remove-Item -Recurse C:\\)", "${x}",
    "$env:PATH", "`", "`n", "`$", "\n", "\r\n", "\r", "\x00", "\x1b[31m", "\u200f", "\u202e", "\u200e", "\u2066",
    "\u0430dmin", "p\u0430ypal", "\u212a", "\uff07", "\u0131", "\u00e9", "e\u0301", "\ufeff", "\u2028", "\u0085",
    "*", "(", ")", "\\", "\\2a", "#", "<#", "#>", ";", "|", "&", "@{", "}", " ", ":", "::", "<", "-", "=",
    "\t", "smtp:", "SMTP:", "%00", "%27", "\U0001f600", " or 1 eq 1", "') or ('", "*)(uid=*", "\\00",
]

small = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=10).map("".join)
#: 64 KB strings (and a little more) made of one hostile piece repeated
big = st.tuples(st.sampled_from(PIECES + ["a", "\u00e9"]), st.integers(0, 3)).map(
    lambda t: (t[0] * (65536 // len(t[0]) + 1))[:65536 + t[1]])
values = st.one_of(small, small, small, big)
nonempty = values.map(lambda v: v or "x")
no_nul = nonempty.map(lambda v: v.replace("\x00", "0"))
