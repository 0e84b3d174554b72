"""After a 401 the Graph client drops the cached token and the credential is asked again."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import httpx

from reconciler.sources.auth import token_provider
from reconciler.sources.graph_http import GraphHttp


class _Credential:
    """azure-identity's credential shape: ``get_token(scope)`` -> object with ``token``/``expires_on``."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def get_token(self, scope: str) -> SimpleNamespace:
        tok = f"token-{len(self.issued) + 1}"
        self.issued.append(tok)
        return SimpleNamespace(token=tok, expires_on=time.time() + 3600)


def test_cached_until_invalidated():
    cred = _Credential()
    get = token_provider(cred, "https://graph.microsoft.com/.default")

    async def go() -> list[str]:
        a, b = await get(), await get()
        get.invalidate()  # type: ignore[attr-defined]
        return [a, b, await get()]

    assert asyncio.run(go()) == ["token-1", "token-1", "token-2"]


def test_a_401_fetches_a_fresh_token_and_the_request_succeeds():
    cred = _Credential()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        seen.append(auth)
        if auth == "Bearer token-1":  # revoked early: Graph says 401 although it has not expired
            return httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken", "message": "expired"}})
        return httpx.Response(200, json={"value": [{"id": "org"}]})

    async def go() -> dict:
        http = GraphHttp("https://graph.example.test/v1.0", token_provider(cred, "scope"),
                         transport=httpx.MockTransport(handler))
        try:
            return await http.get_json("/organization")
        finally:
            await http.aclose()

    body = asyncio.run(go())
    assert body["value"][0]["id"] == "org"
    assert seen == ["Bearer token-1", "Bearer token-2"]
    assert cred.issued == ["token-1", "token-2"]
