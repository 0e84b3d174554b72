import uuid

import pytest

from reconciler.core.anchors import (
    common_dn_suffix,
    dn_domain,
    dn_is_under,
    guid_bytes_to_str,
    guid_str_to_bytes,
    guid_to_immutable_id,
    immutable_id_to_guid,
    normalize_dn,
    sid_bytes_to_str,
    sid_str_to_bytes,
    split_dn,
)


def test_immutable_id_matches_published_example():
    # Microsoft's published example: f7cc07d7-... -> 1wfM9xV8fUSHbcAbDlqeOA== (little-endian .NET byte order)
    assert guid_to_immutable_id("f7cc07d7-7c15-447d-876d-c01b0e5a9e38") == "1wfM9xV8fUSHbcAbDlqeOA=="
    assert immutable_id_to_guid("1wfM9xV8fUSHbcAbDlqeOA==") == "f7cc07d7-7c15-447d-876d-c01b0e5a9e38"


def test_big_endian_bytes_would_give_another_anchor():
    g = "f7cc07d7-7c15-447d-876d-c01b0e5a9e38"
    assert guid_str_to_bytes(g) != uuid.UUID(g).bytes
    assert guid_bytes_to_str(guid_str_to_bytes(g)) == g


@pytest.mark.parametrize("bad", ["not base64!", "AAAA", ""])
def test_immutable_id_that_is_not_a_guid(bad):
    assert immutable_id_to_guid(bad) is None


def test_guid_bytes_must_be_16():
    with pytest.raises(ValueError):
        guid_bytes_to_str(b"\x00" * 15)


@pytest.mark.parametrize("sid", ["S-1-5-21-3623811015-3361044348-30300820-1105", "S-1-5-32-544", "S-1-1-0"])
def test_sid_round_trip(sid):
    assert sid_bytes_to_str(sid_str_to_bytes(sid)) == sid


def test_sid_from_ldif_bytes():
    import base64

    raw = base64.b64decode("AQUAAAAAAAUVAAAAx/f+13x3VciUWs4BUQQAAA==")
    assert sid_bytes_to_str(raw) == "S-1-5-21-3623811015-3361044348-30300820-1105"


@pytest.mark.parametrize("raw", [b"\x01", b"\x01\x05" + b"\x00" * 6 + b"\x00" * 4])
def test_sid_wrong_length(raw):
    with pytest.raises(ValueError):
        sid_bytes_to_str(raw)


def test_split_dn_honours_escapes_and_quotes():
    assert split_dn(r"CN=Smith\, John,OU=Staff,DC=corp,DC=com") == [r"CN=Smith\, John", "OU=Staff", "DC=corp", "DC=com"]
    assert split_dn(r"CN=a\2Cb,DC=x") == [r"CN=a\2Cb", "DC=x"]
    assert split_dn('CN="Doe, Jane",DC=x') == ['CN="Doe, Jane"', "DC=x"]
    assert split_dn("") == []


def test_dn_comparison_is_case_and_space_insensitive():
    assert normalize_dn("CN=Jörg Müller, OU=Staff,DC=Corp,DC=com") == normalize_dn("cn=jörg müller,ou=staff,dc=corp,dc=COM")
    assert dn_is_under("CN=x,OU=Staff,DC=corp,DC=com", "dc=CORP,dc=com")
    assert dn_is_under("DC=corp,DC=com", "DC=corp,DC=com")
    assert not dn_is_under("CN=x,DC=child,DC=corp,DC=com", "OU=Staff,DC=corp,DC=com")
    assert not dn_is_under("DC=com", "DC=corp,DC=com")


def test_common_suffix():
    dns = ["CN=a,OU=Staff,DC=corp,DC=com", "CN=b,OU=Groups,DC=corp,DC=com"]
    assert common_dn_suffix(dns) == "DC=corp,DC=com"
    assert common_dn_suffix(["CN=a,OU=Staff,DC=corp,DC=com", "cn=b,ou=staff,dc=corp,dc=com"]) == "OU=Staff,DC=corp,DC=com"
    assert common_dn_suffix(["CN=a,DC=x", "CN=b,DC=y"]) is None
    assert common_dn_suffix([]) is None


def test_dn_domain_takes_every_dc_component():
    assert dn_domain("OU=Staff,DC=corp,DC=contoso,DC=com") == "corp.contoso.com"
    assert dn_domain("DC=child,DC=corp,DC=contoso,DC=com") == "child.corp.contoso.com"
    assert dn_domain("OU=Staff") is None


def test_sids_of_one_domain_read_the_same_after_the_first():
    """The domain part's text is remembered: later SIDs of the domain (any RID, and SIDs one byte short or long of
    a remembered one) read exactly as a fresh reading does."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from reconciler.core.anchors import _sid_text

    domain = sid_str_to_bytes("S-1-5-21-3623811015-3361044348-30300820-0")[:-4]

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.one_of(
        st.integers(0, 2**32 - 1).map(lambda rid: domain + rid.to_bytes(4, "little")),
        st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=6).map(
            lambda subs: sid_str_to_bytes("S-1-5" + "".join(f"-{s}" for s in subs))),
        st.binary(min_size=0, max_size=32)), min_size=1, max_size=20))
    def check(raws: list[bytes]) -> None:
        for raw in raws:
            try:
                want: str | Exception = _sid_text(raw)
            except ValueError as e:
                want = e
            if isinstance(want, str):
                assert sid_bytes_to_str(raw) == want
            else:
                with pytest.raises(ValueError):
                    sid_bytes_to_str(raw)

    check()
