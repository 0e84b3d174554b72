"""Exchange Online's serviceProvisioningErrors: the XML errorDetail, duplicates, resolved errors."""

from __future__ import annotations

from reconciler.core.model import DUPLICATE, PROXY, ObjectKind, Scenario
from reconciler.sources.exchange import duplicate_address, parse_error_detail, service_error_records
from reconciler.sources.timestamps import normalise_time, parse_since
from tests.origins.origins_helpers import _XML, EXCHANGE_DUP_TEXT, EXCHANGE_GUID_TEXT, XML_ERROR, xml_error


def test_the_documented_item_and_the_parsed_layout():
    assert parse_error_detail(XML_ERROR["errorDetail"]) == (None, [(None, "<a/>")])  # no record: kept as text
    layout = _XML["errorDetail_xml_layout"]["shape"]
    name, recs = parse_error_detail(layout)
    assert name == "exchange/..." and recs == [("…", "…")]
    two = ('<ServiceInstance xmlns="urn:x" Name="exchange/EURPRD01-002-01"><ObjectErrors>'
           "<ErrorRecord><ErrorCode>A1</ErrorCode><ErrorDescription>first</ErrorDescription></ErrorRecord>"
           "<ErrorRecord><ErrorCode>B2</ErrorCode><ErrorDescription>second</ErrorDescription></ErrorRecord>"
           "</ObjectErrors></ServiceInstance>")
    assert parse_error_detail(two) == ("exchange/EURPRD01-002-01", [("A1", "first"), ("B2", "second")])
    assert parse_error_detail("not xml < at all") == (None, [(None, "not xml < at all")])


def test_duplicate_address_texts():
    assert duplicate_address(EXCHANGE_DUP_TEXT) is None  # "smtp:<shared mailbox name>" is a placeholder, no address
    assert duplicate_address(_XML["exchange_description_texts"][1]["text"]) == ("test_student_11@dev2.rb.moe.gov.sa",
                                                                               None)
    assert duplicate_address('The proxy address "SMTP:a@b.com" is already being used by the proxy addresses or '
                             'LegacyExchangeDN of "Sales Team". Please choose another proxy address.') == \
        ("a@b.com", "Sales Team")
    assert duplicate_address(EXCHANGE_GUID_TEXT) is None


def test_records_unresolved_only_duplicates_and_service_errors():
    d = {"id": "u1", "displayName": "Omar", "serviceProvisioningErrors": [
        xml_error('The proxy address "SMTP:sales@contoso.com" is already being used by the proxy addresses or '
                  'LegacyExchangeDN of "Sales". Please choose another proxy address.'),
        xml_error('The proxy address "SMTP:old@contoso.com" is already being used.', resolved=True),
        {**xml_error("x"), "isResolved": "true"},  # a string is still resolved
        xml_error(EXCHANGE_GUID_TEXT, code="ExA1")]}
    warnings: list[str] = []
    dup, svc = service_error_records(d, ObjectKind.USER, warnings)
    assert not warnings
    assert (dup.error.property, dup.error.value, dup.error.nature, dup.error.origin) == \
        (PROXY, "sales@contoso.com", DUPLICATE, "exchange")
    assert dup.object_id == "u1" and any("Sales" in e for e in dup.evidence)
    assert svc.error.nature == Scenario.SERVICE_ERROR.value and svc.error.code == "ExA1"
    assert "ExchangeGuid" in svc.error.description and svc.error.occurred == "2020-01-31T17:45:18Z"


def test_time_stamps():
    assert normalise_time("2018-04-30T22:13:47.6380995Z") == ("2018-04-30T22:13:47.638099Z", None)
    raw, warn = normalise_time("11/07/2024 23:11:06", "e[0]")  # 11 July or 7 November: never guessed
    assert raw == "11/07/2024 23:11:06" and "day and month cannot be told apart" in warn
    assert normalise_time("11/17/2024 11:11:06 PM") == ("2024-11-17T23:11:06", None)  # one reading only
    assert normalise_time("2026-11-19T22:03:40+02:00") == ("2026-11-19T20:03:40Z", None)
    raw, warn = normalise_time("Tuesday", "users[3] occurredDateTime")
    assert raw == "Tuesday" and "users[3] occurredDateTime" in warn
    assert parse_since("2026-12-01").isoformat().startswith("2026-12-01T00:00:00")
