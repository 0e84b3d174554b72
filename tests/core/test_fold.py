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


_VALUES = st.sampled_from(["a@x.com", " A@X.com ", "SMTP:a@x.com", "smtp:b@x.com", "X500:/o=a", "sip:a@x.com", "b@x.com",
                           "", "smtp:", "Straße@x.com"])


@settings(max_examples=500)
@given(st.one_of(st.none(), _VALUES), st.one_of(st.none(), _VALUES), st.lists(_VALUES, max_size=4),
       st.sets(st.sampled_from(["a@x.com", "b@x.com", "strasse@x.com", "x500:/o=a", "sip:a@x.com"])))
def test_holds_any_is_cloud_values_meeting_wanted(upn, mail, proxies, wanted) -> None:  # type: ignore[no-untyped-def]
    """holds_any spells cloud_values out for speed: it must say what cloud_values says."""
    from reconciler.core.matcher import cloud_values, holds_any
    from reconciler.core.model import CloudObject, ObjectKind

    obj = CloudObject("id", ObjectKind.USER, user_principal_name=upn, mail=mail, proxy_addresses=tuple(proxies))
    assert holds_any(obj, wanted) == any(v in wanted for _, v in cloud_values(obj))


_TEXT = st.builds(lambda pre, body, post: pre + body + post,
                  st.sampled_from(["", "smtp:", "SMTP: ", " sMtP:", "smtp:smtp:", "smtp: SMTP:", "x500:", "\u00a0smtp:",
                                   "smtp"]),
                  st.text(alphabet=" \t\u00a0sSmMtTpP:@.aÄßx", max_size=8), st.sampled_from(["", " ", "\t "]))


@settings(max_examples=3000)
@given(st.one_of(st.none(), _TEXT), st.one_of(st.none(), _TEXT), st.lists(_TEXT, max_size=3),
       st.lists(_TEXT, max_size=4))
def test_holds_any_says_what_cloud_values_says_for_any_text(upn, mail, proxies, others) -> None:  # type: ignore[no-untyped-def]
    """Any text (prefixes twice, spaces around them, no-break spaces, ß): the values wanted are folds of drawn
    text, so they often meet."""
    from reconciler.core.matcher import cloud_values, holds_any
    from reconciler.core.model import CloudObject, ObjectKind

    wanted = {fold(v) for v in others} | {fold(v)[1:] for v in others}
    obj = CloudObject("id", ObjectKind.USER, user_principal_name=upn, mail=mail, proxy_addresses=tuple(proxies))
    assert holds_any(obj, wanted) == any(v in wanted for _, v in cloud_values(obj))
    if proxies or upn or mail:  # and once with exactly the object's own folded values
        mine = {v for _, v in cloud_values(obj)}
        assert holds_any(obj, mine) == bool(mine)
