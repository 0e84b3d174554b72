"""Use a script's configured msgraph ``GraphServiceClient`` (the ``msgraph`` extra) as reconciler's Graph source.

A script that already holds a ``GraphServiceClient`` passes it as ``Sources(graph_client=client)``. From it
reconciler takes two things and nothing else: the **base URL** of its request adapter (so a national cloud
client, e.g. ``https://graph.microsoft.us/v1.0``, stays in that cloud) and its **credential**, through the
adapter's own authentication provider (the same scopes, claims and allowed hosts the script configured).
The reads themselves go through reconciler's HTTP client (``$top=999``, ``$select``, ``$batch``, one retry
layer): the SDK's typed models are three orders of magnitude slower on bulk reads (docs/design.md).

Nothing here imports msgraph: the client is duck-typed (``request_adapter.base_url`` and
``request_adapter.convert_to_native_async``), so the extra is needed only by the script that builds it.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..core.errors import AuthError, UsageError

__all__ = ["from_graph_service_client"]


def from_graph_service_client(client: Any) -> tuple[str, Callable[[], Awaitable[str | None]]]:
    """(Graph base URL, async token provider) of a configured ``GraphServiceClient``."""
    adapter = getattr(client, "request_adapter", None)
    base = getattr(adapter, "base_url", None)
    if adapter is None or not isinstance(base, str) or not base or not hasattr(adapter, "convert_to_native_async"):
        raise UsageError("graph_client must be a msgraph GraphServiceClient (pip install 'entra-reconciler[msgraph]')")
    base = base.rstrip("/")
    probe = f"{base}/organization"

    async def token() -> str | None:
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation

        info = RequestInformation()
        info.http_method = Method.GET
        info.url = probe
        try:  # the adapter authenticates the request exactly as it would its own
            request = await adapter.convert_to_native_async(info)
        except Exception as e:  # azure-identity raises its own ClientAuthenticationError family
            raise AuthError(f"the GraphServiceClient's credential gave no token: {type(e).__name__}") from None
        header = request.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        return value if scheme.lower() == "bearer" and value else None

    return base, token
