"""``fold`` is the comparison key of every address and UPN: spelled out for speed, it must keep its meaning."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.model import fold, strip_smtp


@settings(max_examples=3000)
@given(st.text(alphabet=" \t\n\u00a0\u2028sSmMtTpP:@.aÄßİx", max_size=16))
def test_fold_is_the_prefix_stripped_trimmed_casefolded_value(value: str) -> None:
    assert fold(value) == strip_smtp(value.strip()).strip().casefold()


def test_what_fold_makes_of_real_values() -> None:
    assert fold(" SMTP: John.Doe@Contoso.com ") == "john.doe@contoso.com"
    assert fold("smtp:straße@contoso.com") == "strasse@contoso.com"  # casefold, not lower
    assert fold("X500:/o=Contoso") == "x500:/o=contoso"  # only the smtp: prefix goes
    assert fold("smtp:smtp:a@b") == "smtp:a@b"  # one prefix
