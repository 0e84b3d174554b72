"""Baseline: the same serial dump written with msgraph-sdk's typed models.

``GraphServiceClient`` with its default middleware (RetryHandler honours
Retry-After), ``$select`` + ``$top=999``, paging with ``with_url(odata_next_link)``,
every page deserialised into typed ``User``/``Group``/``OrgContact`` models, then
turned back into Graph dicts and matched with reconciler's matcher.

    python bench/baseline_msgraph_typed.py --graph-url http://127.0.0.1:PORT/v1.0
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import datetime, timezone
from typing import Any

from reconciler.core.matcher import match
from reconciler.core.model import CloudSnapshot, ObjectKind
from reconciler.sources.graphmap import CONTACT_SELECT, GROUP_SELECT, USER_SELECT, to_cloud_object, to_domains


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        v = v.astimezone(timezone.utc)
        return v.strftime("%Y-%m-%dT%H:%M:%S") + (f".{v.microsecond:06d}" if v.microsecond else "") + "Z"
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if hasattr(v, "category") and hasattr(v, "property_causing_error"):
        return {"category": v.category, "propertyCausingError": v.property_causing_error, "value": v.value,
                "occurredDateTime": _plain(v.occurred_date_time)}
    if hasattr(v, "sku_id"):
        return {"skuId": str(v.sku_id)}
    return getattr(v, "value", v) if hasattr(v, "value") and not isinstance(v, (str, int, bool)) else v


def to_dict(model: Any, select: str) -> dict[str, Any]:
    out = {}
    for name in select.split(","):
        attr = "deleted_date_time" if name == "deletedDateTime" else _snake(name)
        out[name] = _plain(getattr(model, attr, None))
    return out


def _client(base_url: str) -> Any:
    from kiota_abstractions.authentication import AnonymousAuthenticationProvider
    from msgraph import GraphRequestAdapter, GraphServiceClient

    adapter = GraphRequestAdapter(AnonymousAuthenticationProvider())
    adapter.base_url = base_url.rstrip("/")
    return GraphServiceClient(request_adapter=adapter)


async def _pages(builder: Any, params_cls: Any, select: str) -> Any:
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    cfg = RequestConfiguration(query_parameters=params_cls(select=select.split(","), top=999))
    info = builder.to_get_request_information(cfg)
    url = info.url.replace("/deletedItems/graph.", "/deletedItems/microsoft.graph.")  # emulator: full cast only
    page = await builder.with_url(url).get()
    while page is not None:
        yield page.value or []
        if not page.odata_next_link:
            break
        page = await builder.with_url(page.odata_next_link).get()


async def read(base_url: str) -> CloudSnapshot:
    from msgraph.generated.contacts.contacts_request_builder import ContactsRequestBuilder as C
    from msgraph.generated.directory.deleted_items.graph_group.graph_group_request_builder import GraphGroupRequestBuilder as DG
    from msgraph.generated.directory.deleted_items.graph_user.graph_user_request_builder import GraphUserRequestBuilder as DU
    from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder as G
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder as U

    client = _client(base_url)
    org = (await client.organization.get()).value[0]
    org_d = {"id": org.id, "displayName": org.display_name,
             "verifiedDomains": [{"name": d.name, "isDefault": d.is_default, "isInitial": d.is_initial}
                                 for d in org.verified_domains or []]}
    plan = [(client.users, U.UsersRequestBuilderGetQueryParameters, USER_SELECT, ObjectKind.USER, False),
            (client.groups, G.GroupsRequestBuilderGetQueryParameters, GROUP_SELECT, ObjectKind.GROUP, False),
            (client.contacts, C.ContactsRequestBuilderGetQueryParameters, CONTACT_SELECT, ObjectKind.CONTACT, False),
            (client.directory.deleted_items.graph_user, DU.GraphUserRequestBuilderGetQueryParameters,
             USER_SELECT + ",deletedDateTime", ObjectKind.USER, True),
            (client.directory.deleted_items.graph_group, DG.GraphGroupRequestBuilderGetQueryParameters,
             GROUP_SELECT + ",deletedDateTime", ObjectKind.GROUP, True)]
    objects = []
    for builder, params, select, kind, deleted in plan:
        async for page in _pages(builder, params, select):
            objects += [to_cloud_object(to_dict(m, select), kind, deleted=deleted) for m in page]
    sync = await client.directory.on_premises_synchronization.get()
    feats = None
    if sync and sync.value and sync.value[0].features:
        f = sync.value[0].features
        feats = {k: v for k, v in ((_camel(a), getattr(f, a)) for a in vars(f) if not a.startswith("_")
                                   and a not in ("additional_data", "odata_type", "backing_store"))
                 if v is not None}
    return CloudSnapshot(tenant_id=org_d["id"], tenant_name=org_d["displayName"], domains=to_domains(org_d),
                         features=feats, objects=objects)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph-url", required=True)
    a = ap.parse_args()
    t = time.perf_counter()
    snap = asyncio.run(read(a.graph_url))
    findings = match(snap)
    print(f"{len(findings)} findings from {len(snap.objects)} objects in {time.perf_counter() - t:.1f}s")


if __name__ == "__main__":
    main()
