"""Time stamps as real writers send them (tests/data/real/graph, FACTS of Export-Csv/Format-List cultures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.core.timestamps import is_iso, normalize_time, time_problem
from reconciler.sources.tenantfile import parse_tenant_bytes

GRAPH = Path(__file__).resolve().parent.parent / "data" / "real" / "graph"


@pytest.mark.parametrize(("raw", "iso"), [
    ("2022-06-27T10:29:29.0922053Z", "2022-06-27T10:29:29.092205Z"),  # a real tenant: 7 fraction digits
    ("2016-12-31T23:59:26.1020738+03:00", "2016-12-31T20:59:26.102073Z"),  # Graph docs: offset
    ("2020-01-31T17:45:18.00", "2020-01-31T17:45:18Z"),  # serviceProvisioningXmlError docs: no zone
    ("2025-03-25T14:33:19Z", "2025-03-25T14:33:19Z"),
    ("2018-04-30T22:04:36.043Z", "2018-04-30T22:04:36.043Z"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),  # the Connect Health / sync job sentinel
    ("/Date(1730999466000)/", "2024-11-07T17:11:06Z"),  # PowerShell 5.1 ConvertTo-Json
    ("20200103130805.0Z", "2020-01-03T13:08:05Z"),  # AD GeneralizedTime
    ("2017/11/18 15:35:24", "2017-11-18T15:35:24"),  # ja-JP Export-Csv: local time, no zone
    ("2017/10/20 5:02:43", "2017-10-20T05:02:43"),  # ja-JP Format-List
    ("07.11.2024 23:11:06", "2024-11-07T23:11:06"),  # de-DE
    ("11/17/2024 11:11:06 PM", "2024-11-17T23:11:06"),  # en-US, day above 12
])
def test_unambiguous_shapes_are_normalised(raw: str, iso: str):
    assert normalize_time(raw) == iso and is_iso(iso)


@pytest.mark.parametrize("raw", ["11/07/2024 23:11:06", "11/7/2024 11:11:06 PM", "last tuesday"])
def test_ambiguous_or_unknown_stays_raw(raw: str):
    assert normalize_time(raw) == raw and not is_iso(raw)
    assert time_problem(raw) in ("day and month cannot be told apart", "not a recognised date format")


def test_real_tenant_fragment_is_read_with_its_plural_property_and_7_digit_time():
    fragment = (GRAPH / "onPremisesProvisioningErrors-fragment-icewolf.txt").read_text().rstrip().rstrip(",")
    user = json.loads("{" + fragment + "}")
    user.update(id="u1", userPrincipalName="IcewolfDemo@icewolf.ch", onPremisesSyncEnabled=True)
    snap = parse_tenant_bytes(json.dumps({"schema": "reconciler.tenant/1", "users": [user]}).encode())
    [e] = snap.objects[0].errors
    assert e.normalized_property == "ProxyAddress" and e.value == "SMTP:IcewolfDemo@icewolf.ch"
    assert e.occurred == "2022-06-27T10:29:29.092205Z"
