"""Hostile input, property-based: readers raise nothing but BadInput; parsers never crash."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.errors import BadInput
from reconciler.core.explain import parse_error_text
from reconciler.sources.csvde import parse_csvde_text
from reconciler.sources.ldif import parse_ldif_bytes
from reconciler.sources.tenantfile import parse_tenant_bytes

NASTY = ["'", "''", '"', "$()", "$(Remove-Item C:\\)", "`", "\n", "\r\n", "\x00", "\u202e", "а", "ⅰ", ",", ";",
         "\\", "#", ":", "::", " ", "smtp:", "SMTP:", "[UserPrincipalName ", ";]", "@", "\ufeff", "é"]

text = st.lists(st.one_of(st.characters(), st.sampled_from(NASTY)), max_size=60).map("".join)
ldif_lines = st.lists(st.one_of(
    st.sampled_from(["dn: CN=a,DC=x", "dn:: " + base64.b64encode("CN=ö,DC=x".encode()).decode(), "", "version: 1",
                     "objectClass: user", "objectGUID:: AAAAAAAAAAAAAAAAAAAAAA==", "objectGUID:: AAAA",
                     " folded", "# comment", "changetype: add", "changetype: delete", "objectSid:: AQUAAAAAAAUVAAAA",
                     "userAccountControl: x", "proxyAddresses: smtp:a@b.c", "mail:: //79"]),
    text.map(lambda s: s.replace("\n", " ")),
), max_size=30)

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=2000))
def test_ldif_reader_on_random_bytes(data):
    try:
        parse_ldif_bytes(data, "h.ldif")
    except BadInput as e:
        assert "\n" not in str(e) and str(e).startswith("h.ldif")


@SETTINGS
@given(ldif_lines)
def test_ldif_reader_on_ldif_shaped_lines(lines):
    try:
        objs = parse_ldif_bytes("\n".join(lines).encode("utf-8", "surrogatepass"), "h.ldif")
    except BadInput:
        return
    for o in objs:
        assert isinstance(o.dn, str)


@SETTINGS
@given(st.lists(st.lists(text, min_size=1, max_size=5), max_size=10), st.booleans())
def test_csvde_reader(rows, with_header):
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    if with_header:
        w.writerow(["DN", "objectGUID", "proxyAddresses", "mail", "objectClass"])
    for r in rows:
        w.writerow(r)
    try:
        parse_csvde_text(buf.getvalue(), "h.csv")
    except BadInput as e:
        assert str(e).startswith("h.csv")


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), text),
                           lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(text, c, max_size=4)),
                           max_leaves=20)
keys = st.sampled_from(["id", "userPrincipalName", "proxyAddresses", "mail", "onPremisesSyncEnabled",
                        "onPremisesProvisioningErrors", "assignedLicenses", "deletedDateTime", "displayName"])


@SETTINGS
@given(st.dictionaries(st.sampled_from(["users", "groups", "contacts", "deletedUsers", "organization",
                                        "directoryRoles", "roleAssignments", "onPremisesSynchronization"]),
                       st.one_of(json_values, st.lists(st.dictionaries(keys, json_values, max_size=6), max_size=4)),
                       max_size=5))
def test_tenant_reader_on_random_documents(doc):
    import json

    body = json.dumps({"schema": "reconciler.tenant/1", **doc}).encode()
    try:
        parse_tenant_bytes(body, "h.json")
    except BadInput as e:
        assert str(e).startswith("h.json")


@SETTINGS
@given(st.binary(max_size=500))
def test_tenant_reader_on_random_bytes(data):
    try:
        parse_tenant_bytes(data, "h.json")
    except BadInput:
        pass


@SETTINGS
@given(text)
def test_error_text_parser_never_crashes(s):
    parsed = parse_error_text(s)
    if parsed is not None and parsed.value is not None:
        assert parsed.value.strip()


def test_large_values_are_handled(tmp_path: Path):
    big = "a" * 65536
    [o] = parse_ldif_bytes(f"dn: CN=x,DC=y\nobjectClass: user\ndisplayName: {big}\n".encode())
    assert o.display_name == big


@SETTINGS
@given(st.lists(st.lists(st.one_of(text, st.sampled_from([
    "System.Byte[]", "Microsoft.ActiveDirectory.Management.ADPropertyValueCollection", "S-1-5-21-1-2-3-4",
    "S-1-5-99999999999", "S-1-999999999999999999-1", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 999",
    "b7de08a6-8417-491b-be62-85945a538f46", "SMTP:a@b.c smtp:x@y.z", "11/07/2024 23:11:06", "True"])),
    min_size=1, max_size=6), max_size=8), st.booleans(), st.sampled_from([",", ";", "\t"]))
def test_export_csv_reader(rows, type_line, sep):
    import csv
    import io

    from reconciler.sources.psexport import parse_export_csv_text

    buf = io.StringIO()
    if type_line:
        buf.write("#TYPE Microsoft.ActiveDirectory.Management.ADUser\n")
    w = csv.writer(buf, delimiter=sep)
    w.writerow(["DistinguishedName", "ObjectGUID", "SID", "proxyAddresses", "whenCreated", "Enabled"])
    for r in rows:
        w.writerow(r)
    try:
        parse_export_csv_text(buf.getvalue(), "h.csv")
    except BadInput as e:
        assert str(e).startswith("h.csv") and "\n" not in str(e)


def test_csvde_value_with_a_lone_surrogate_is_bad_input_not_a_traceback():
    """A UTF-16 file cut inside a surrogate pair decodes to a lone surrogate (found by the property above)."""
    with pytest.raises(BadInput) as e:
        parse_csvde_text('DN,mail\n"CN=a,DC=corp,DC=example",a\ud800@contoso.com\n', "h.csv")
    assert str(e.value).startswith("h.csv") and "mail" in str(e.value)
