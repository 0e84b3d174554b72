"""$filter: the subset Graph accepts by default, advanced-only expressions, and rejections."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.emulator.odata import FilterError, candidates, parse_filter
from reconciler.emulator.state import TenantState

ADV = {"ConsistencyLevel": "eventual"}
ERRORS = "onPremisesProvisioningErrors/any(o:o/category eq 'PropertyConflict')"


def _ids(client: Any, path: str, flt: str, **extra: str) -> list[str]:
    headers = extra.pop("headers", None)
    r = client.get(path, params={"$filter": flt, "$select": "id", **extra}, headers=headers)
    assert r.status_code == 200, r.text
    return [v["id"] for v in r.json()["value"]]


def _rejected(client: Any, flt: str, code: str = "Request_UnsupportedQuery", **kw: Any) -> str:
    r = client.get("/users", params={"$filter": flt, **kw.pop("params", {})}, **kw)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code
    return r.json()["error"]["message"]


def test_parser_builds_the_expected_tree():
    assert parse_filter("userPrincipalName eq 'a@b.com' or mail in ('x', 'y''z')") == (
        "or", [("cmp", "eq", ("userPrincipalName",), "a@b.com"), ("in", ("mail",), ["x", "y'z"])])
    assert parse_filter("proxyAddresses/any(p:startswith(p, 'smtp:'))") == (
        "any", ("proxyAddresses",), "p", ("func", "startswith", ("$item",), "smtp:"))
    assert parse_filter("not (accountEnabled eq true) and onPremisesProvisioningErrors/$count ne 0") == (
        "and", [("not", ("cmp", "eq", ("accountEnabled",), True)),
                ("count", ("onPremisesProvisioningErrors",), "ne", 0)])


@pytest.mark.parametrize("text", ["userPrincipalName eq", "eq 'x'", "(mail eq 'a'", "mail eq 'a' or",
                                  "mail === 'a'", "proxyAddresses/any(p p eq 'x')", "mail eq 'unterminated"])
def test_parser_rejects_syntax_errors(text):
    with pytest.raises(FilterError) as e:
        parse_filter(text)
    assert e.value.code == "BadRequest"


def test_provisioning_errors_filter_works_by_default(graph, sample_doc):
    client = graph(sample_doc)
    want = {o["id"] for o in sample_doc["users"]
            if any(e["category"] == "PropertyConflict" for e in o["onPremisesProvisioningErrors"])}
    assert set(_ids(client, "/users", ERRORS)) == want
    assert len(want) < sum(1 for o in sample_doc["users"] if o["onPremisesProvisioningErrors"])
    by_prop = _ids(client, "/users", "onPremisesProvisioningErrors/any(o:o/propertyCausingError eq 'ProxyAddress')")
    assert by_prop and set(by_prop) < want


def test_eq_on_upn_mail_and_proxy_is_case_insensitive(graph, sample_doc):
    client = graph(sample_doc)
    user = sample_doc["users"][1]
    assert _ids(client, "/users", f"userPrincipalName eq '{user['userPrincipalName'].upper()}'") == [user["id"]]
    assert _ids(client, "/users", f"mail eq '{user['mail'].title()}'") == [user["id"]]
    proxy = user["proxyAddresses"][0]
    assert _ids(client, "/users", f"proxyAddresses/any(p:p eq '{proxy.lower()}')") == [user["id"]]
    group = sample_doc["groups"][0]
    assert _ids(client, "/groups", f"proxyAddresses/any(x:x eq '{group['proxyAddresses'][0].upper()}')") == \
        [group["id"]]


def test_startswith_in_and_or_combine(graph, sample_doc):
    client = graph(sample_doc)
    users = sample_doc["users"]
    a, b = users[0], users[1]
    got = _ids(client, "/users", f"userPrincipalName in ('{a['userPrincipalName']}', '{b['userPrincipalName']}')")
    assert got == [a["id"], b["id"]]
    got = _ids(client, "/users", f"mail eq '{a['mail']}' or proxyAddresses/any(p:p eq 'SMTP:{b['mail']}')")
    assert got == [a["id"], b["id"]]
    got = _ids(client, "/users", f"startswith(userPrincipalName, '{a['userPrincipalName'][:5].upper()}') "
                                 f"and accountEnabled eq true")
    assert a["id"] in got
    assert all(u["userPrincipalName"].lower().startswith(a["userPrincipalName"][:5].lower())
               for u in users if u["id"] in got)


def test_sixteen_clauses_are_too_many(graph, sample_doc):
    client = graph(sample_doc)
    ok = " or ".join(f"mail eq 'u{i}@contoso.com'" for i in range(15))
    assert _ids(client, "/users", ok) == []
    msg = _rejected(client, ok + " or mail eq 'u15@contoso.com'")
    assert "15" in msg
    values = ", ".join(f"'u{i}@contoso.com'" for i in range(16))
    _rejected(client, f"mail in ({values})")


@pytest.mark.parametrize("flt", [
    "userPrincipalName ne 'a@contoso.com'",
    "not(accountEnabled eq true)",
    "endswith(mail, '@contoso.com')",
    "onPremisesProvisioningErrors/$count ne 0",
    "onPremisesSyncEnabled eq true",
    "mail eq null",
])
def test_advanced_only_expressions_need_consistency_level_and_count(graph, sample_doc, flt):
    client = graph(sample_doc)
    _rejected(client, flt)
    _rejected(client, flt, headers=ADV)                      # header without $count=true
    _rejected(client, flt, params={"$count": "true"})       # $count=true without the header
    r = client.get("/users", params={"$filter": flt, "$count": "true", "$select": "id"}, headers=ADV)
    assert r.status_code == 200, r.text
    assert r.json()["@odata.count"] == len(r.json()["value"])


def test_advanced_results_are_correct(graph, sample_doc):
    client = graph(sample_doc)
    got = _ids(client, "/users", "onPremisesProvisioningErrors/$count eq 0", **{"$count": "true"}, headers=ADV)
    assert set(got) == {u["id"] for u in sample_doc["users"] if not u["onPremisesProvisioningErrors"]}
    got = _ids(client, "/users", "onPremisesSyncEnabled eq true", **{"$count": "true"}, headers=ADV)
    assert set(got) == {u["id"] for u in sample_doc["users"] if u["onPremisesSyncEnabled"] is True}


def test_count_without_header_is_silently_ignored(graph, sample_doc):
    r = graph(sample_doc).get("/users", params={"$count": "true"})
    assert r.status_code == 200 and "@odata.count" not in r.json()


@pytest.mark.parametrize("flt", [
    "contains(displayName, 'a')",
    "serviceProvisioningErrors/any(x:x/isResolved eq false)",
    "onPremisesProvisioningErrors/any(o:o/category eq null)",
    "onPremisesProvisioningErrors/$count eq 1",
    "proxyAddresses/all(p:p eq 'x')",
])
def test_never_supported_even_as_advanced_query(graph, sample_doc, flt):
    _rejected(graph(sample_doc), flt, params={"$count": "true"}, headers=ADV)


def test_unknown_property_in_filter(graph, sample_doc):
    msg = _rejected(graph(sample_doc), "shoeSize eq 42", code="Request_BadRequest")
    assert "shoeSize" in msg


def test_filtered_results_page_and_keep_the_filter(graph, generated_doc):
    client = graph(generated_doc)
    r = client.get("/users", params={"$filter": ERRORS, "$select": "id,onPremisesProvisioningErrors", "$top": "5"})
    pages, ids = 0, []
    while True:
        body = r.json()
        pages += 1
        ids += [v["id"] for v in body["value"]]
        if "@odata.nextLink" not in body:
            break
        r = client.get(body["@odata.nextLink"])
    assert set(ids) == {u["id"] for u in generated_doc["users"]
                        if any(e["category"] == "PropertyConflict" for e in u["onPremisesProvisioningErrors"])}
    assert pages > 2


def test_indexed_lookups_do_not_scan(generated_doc):
    """eq/in/any() on indexed properties are answered from indexes: the candidate set is exact-size."""
    state = TenantState.load(generated_doc)
    users = state.collections["users"]
    u = generated_doc["users"][7]
    proxy = u["proxyAddresses"][0].upper()
    node = parse_filter(f"userPrincipalName eq '{u['userPrincipalName']}' or proxyAddresses/any(p:p eq '{proxy}')")
    assert candidates(node, users) == {u["id"]}
    with_errors = {x["id"] for x in generated_doc["users"] if x["onPremisesProvisioningErrors"]}
    assert candidates(parse_filter(ERRORS), users) == with_errors  # a superset, then evaluated
    assert candidates(parse_filter("displayName eq 'x'"), users) is None  # not indexed: scanned


def test_search_needs_the_consistency_header(graph, sample_doc):
    client = graph(sample_doc)
    r = client.get("/users", params={"$search": '"displayName:fischer"'})
    assert r.status_code == 400 and r.json()["error"]["code"] == "Request_UnsupportedQuery"
    r = client.get("/users", params={"$search": '"displayName:fischer"', "$select": "displayName"}, headers=ADV)
    assert r.status_code == 200 and {u["displayName"] for u in r.json()["value"]} == {"Lena Fischer"}


def test_orderby_display_name_by_default_other_fields_advanced(graph, sample_doc):
    client = graph(sample_doc)
    r = client.get("/users", params={"$orderby": "displayName desc", "$select": "displayName", "$top": "999"})
    names = [u["displayName"] for u in r.json()["value"]]
    assert names == sorted((u["displayName"] for u in sample_doc["users"]), key=str.casefold, reverse=True)
    assert client.get("/users", params={"$orderby": "createdDateTime"}).status_code == 400
    assert client.get("/users", params={"$orderby": "shoeSize"}).status_code == 400
    r = client.get("/users", params={"$orderby": "displayName", "$filter": "accountEnabled eq true"})
    assert r.status_code == 400
    r = client.get("/users", params={"$orderby": "displayName", "$filter": "accountEnabled eq true",
                                     "$count": "true"}, headers=ADV)
    assert r.status_code == 200
