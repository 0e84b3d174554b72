"""Low-level async Microsoft Graph HTTP layer: ONE ``httpx.AsyncClient``, ONE retry layer.

Everything that talks to Graph (the reader in :mod:`.graph`, the plan writers)
goes through :class:`GraphHttp`:

* a bearer token from a *token provider* callable (``None`` -> no header, for
  the loopback emulator with ``--auth none``);
* a ``client-request-id`` on every request, kept across retries of the same
  logical request and quoted in every error message;
* one retry layer (policy pieces in :mod:`.graph_retry`) (no msgraph RetryHandler, no tenacity stacked on
  top): ``Retry-After`` honoured on 429/503 per request *and* per ``$batch``
  item, exponential backoff with full jitter on 5xx and connection errors or
  resets, and a concurrency limit that halves when throttled and creeps back;
* a 2xx whose JSON body does not parse (cut short) is retried like a 5xx, never
  read as an empty page; a 401 asks the token provider again (calling its
  ``invalidate()`` first when it has one) and retries once before it is an
  :class:`AuthError`;
* ``RECONCILER_GRAPH_TIMEOUT`` (seconds per request, default 60) and
  ``RECONCILER_GRAPH_BACKOFF_CAP`` (longest backoff sleep, default 30) tune a
  client built without explicit values;
* 401 -> :class:`AuthError`, 403 -> :class:`PermissionDenied` naming the
  least-privilege permission from OUR table (:mod:`.graph_permissions`), never from
  the server's text; anything else -> :class:`GraphStatusError` (a
  ``NetworkError``) with status, Graph error code and client-request-id;
* orjson parsing, pages streamed (``paginate`` never holds more than one page);
* :class:`GraphCounters`: requests on the wire, ``$batch`` items, retries,
  throttled waits, resource units (``x-ms-resource-unit``).

Secrets: the token is only ever put in the ``Authorization`` header; it is
never logged, counted or put in an exception.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from urllib.parse import quote, urlencode, urlsplit

import httpx
import orjson

from ..core.errors import AuthError, NetworkError, PermissionDenied, ThrottledError, UsageError
from .graph_permissions import PERMISSIONS, permission_for, version_relative
from .graph_retry import RETRY_STATUS as _RETRY_STATUS
from .graph_retry import AdaptiveLimiter as _AdaptiveLimiter
from .graph_retry import retry_after as _retry_after

__all__ = [
    "GraphHttp", "GraphCounters", "BatchRequest", "BatchResponse", "GraphStatusError",
    "TokenProvider", "PERMISSIONS", "permission_for", "MAX_BATCH",
]

MAX_BATCH = 20
TokenProvider = Callable[[], "str | None | Awaitable[str | None]"]
_NETWORK_ERRORS = (httpx.TransportError,)
_UNREADABLE: Any = object()  # a body that is not valid JSON (e.g. cut short)
TIMEOUT_ENV = "RECONCILER_GRAPH_TIMEOUT"
BACKOFF_CAP_ENV = "RECONCILER_GRAPH_BACKOFF_CAP"

def _describe(e: Exception) -> str:
    """A transport failure in words an admin reads (httpx puts no token or secret in these messages)."""
    import socket

    if not isinstance(e, httpx.ConnectError):
        return type(e).__name__
    chain: list[BaseException] = []
    cur: BaseException | None = e
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any(isinstance(x, ConnectionRefusedError) for x in chain) or "refused" in str(e).lower():
        return "connection refused (nothing listens at that address and port)"
    if any(isinstance(x, socket.gaierror) for x in chain):
        return "the host name does not resolve"
    return f"cannot connect ({str(e).strip()[:120] or type(e).__name__})"


class GraphStatusError(NetworkError):
    """Graph answered with an unexpected status (after retries). Carries no secret."""

    def __init__(self, message: str, *, status: int, code: str | None, request_id: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


@dataclass(slots=True)
class GraphCounters:
    """What one :class:`GraphHttp` did on the wire (a ``$batch`` is one request)."""

    requests: int = 0
    batches: int = 0
    batch_items: int = 0
    retries: int = 0
    throttled: int = 0
    throttled_wait_s: float = 0.0
    faults: int = 0
    resource_units: float = 0.0
    bytes_received: int = 0
    pages: int = 0
    succeeded: int = 0  # requests answered 2xx with a readable body
    token_refreshes: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One ``$batch`` item; ``url`` is relative to the version root (``/users?...``)."""

    id: str
    url: str
    method: str = "GET"
    headers: Mapping[str, str] | None = None
    body: Any = None
    depends_on: tuple[str, ...] = ()

    def wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "method": self.method.upper(), "url": self.url}
        if self.headers:
            d["headers"] = dict(self.headers)
        if self.body is not None:
            d["body"] = self.body
            d.setdefault("headers", {}).setdefault("Content-Type", "application/json")
        if self.depends_on:
            d["dependsOn"] = list(self.depends_on)  # camelCase, as Graph documents it
        return d


@dataclass(slots=True)
class BatchResponse:
    id: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(slots=True)
class _Try:
    """One logical request across its attempts (same client-request-id on every retry)."""

    method: str
    url: str
    request_id: str
    idempotent: bool
    throttle_waited: float = 0.0
    last: str = ""
    refreshed: bool = False


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return str(code) if code else None
    return None


def _error_message(body: Any) -> str:
    """Graph's own ``error.message`` (what the admin needs to act), one printable line of at most 300 characters."""
    err = body.get("error") if isinstance(body, dict) else None
    msg = err.get("message") if isinstance(err, dict) else None
    if not isinstance(msg, str):
        return ""
    return "".join(c if c.isprintable() else " " for c in msg)[:300]


def _loads(content: bytes) -> Any:
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return _UNREADABLE


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"{name} must be a positive number of seconds; got {raw!r}")
    return value


class _PlainHttp(httpx.AsyncHTTPTransport):
    """A transport for plain ``http://`` only: its TLS context trusts nothing and it refuses every other scheme."""

    def __init__(self, limits: httpx.Limits) -> None:
        import ssl

        # verification stays on (hostname and certificate required) but no CA bundle is loaded: nothing over TLS
        # could be trusted, and nothing but http:// is sent anyway
        super().__init__(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), limits=limits, trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"this client was built for plain http (an http:// root); "
                                            f"{request.url.scheme}:// refused")
        return await super().handle_async_request(request)


def plain_http_transport(base_url: str, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """For an ``http://`` root (the loopback emulator): a transport that loads no CA bundle; else None.

    httpx builds a verified TLS context for every client (loading the CA bundle: 0.05 s idle, most of a second
    on a busy machine) even when it only ever speaks plain http. An https root keeps httpx's own transport and
    its full verification, and so does any root when the environment names a proxy for it (that transport is
    the one that honours proxies).
    """
    if urlsplit(base_url).scheme != "http":
        return None
    from urllib.request import getproxies

    if {"http", "all"} & set(getproxies()):
        return None
    return _PlainHttp(limits)


class GraphHttp:
    """Async Graph client over one ``httpx.AsyncClient``; see the module docstring."""

    def __init__(self, base_url: str, token_provider: TokenProvider | None, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 http_client: httpx.AsyncClient | None = None,
                 max_concurrency: int = 16, min_concurrency: int = 1,
                 max_attempts: int = 10, backoff_base: float = 0.5, backoff_cap: float | None = None,
                 max_throttle_wait: float = 600.0, timeout: float | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None,
                 rng: random.Random | None = None, user_agent: str = "reconciler",
                 connect_attempts: int = 3, on_retry: Callable[[str], None] | None = None) -> None:
        """Build a client.

        ``base_url``: the version root, e.g. ``https://graph.microsoft.com/v1.0`` or the
        emulator's ``http://127.0.0.1:PORT/v1.0``.
        ``token_provider``: zero-argument callable returning a bearer token (``str``), or an
        awaitable of one; called before every attempt (credentials cache tokens themselves).
        ``None`` sends no ``Authorization`` header.
        ``transport``: an httpx transport for tests (``httpx.MockTransport(handler)``,
        ``httpx.ASGITransport(app)``); ignored when ``http_client`` is given.
        ``http_client``: an existing ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`).
        ``max_concurrency``/``min_concurrency``: bounds of the adaptive in-flight limit.
        ``max_attempts``: attempts per request (and per ``$batch`` item) before giving up;
        ``backoff_base``/``backoff_cap``: full-jitter exponential backoff in seconds (cap: default
        ``$RECONCILER_GRAPH_BACKOFF_CAP`` else 30); ``timeout``: seconds per request (default
        ``$RECONCILER_GRAPH_TIMEOUT`` else 60);
        ``max_throttle_wait``: total seconds one request may spend waiting on 429s.
        ``sleep``/``rng``: injectable for tests.
        ``connect_attempts``: attempts when the connection itself fails (refused, no route, DNS): nobody is
        listening, so a few quick tries (backoff capped at 2 s), not ``max_attempts`` with long backoff.
        ``on_retry``: called with one line per retry (what failed, which attempt, how long it waits); the CLI
        shows it with ``-v``.
        """
        self.base_url = base_url.rstrip("/")
        self._base = urlsplit(self.base_url)
        self._token_provider = token_provider
        self._own_client = http_client is None
        timeout = _env_seconds(TIMEOUT_ENV, 60.0) if timeout is None else timeout
        backoff_cap = _env_seconds(BACKOFF_CAP_ENV, 30.0) if backoff_cap is None else backoff_cap
        limits = httpx.Limits(max_connections=max_concurrency + 4, max_keepalive_connections=max_concurrency + 4)
        if http_client is None and transport is None:
            transport = plain_http_transport(self.base_url, limits)
        self._client = http_client or httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)), limits=limits,
            headers={"User-Agent": user_agent, "Accept": "application/json"})
        self.counters = GraphCounters()
        self.limiter = _AdaptiveLimiter(max_concurrency, min_concurrency)
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_throttle_wait = max_throttle_wait
        self._sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self.connect_attempts = max(1, connect_attempts)
        self.on_retry = on_retry
        self._resume_at = 0.0  # monotonic time before which nobody sends (tenant-wide Retry-After)
        self._token_generation = 0  # bumped by each refresh: concurrent 401s refresh once, not once each

    async def __aenter__(self) -> "GraphHttp":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    # -- public API -------------------------------------------------------------------------

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """Absolute URL for ``path`` (relative to the version root) plus OData ``params``."""
        if "://" in path:
            full = path
        else:
            full = self.base_url + "/" + path.lstrip("/")
        if params:
            sep = "&" if "?" in full else "?"
            full += sep + urlencode({k: v for k, v in params.items() if v is not None},
                                         safe="$,()/:'@", quote_via=quote)
        return full

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None,
                       headers: Mapping[str, str] | None = None) -> Any:
        """GET and parse; raises the mapped error on any non-2xx after retries."""
        _, body = await self._request("GET", self.url(path, params), headers=headers)
        return body

    async def paginate(self, path: str, params: Mapping[str, Any] | None = None,
                       headers: Mapping[str, str] | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield each page's ``value`` list, following ``@odata.nextLink``; one page in memory."""
        url: str | None = self.url(path, params)
        page = 0
        while url:
            try:
                _, body = await self._request("GET", url, headers=headers)
            except GraphStatusError as e:
                if "skiptoken" in url.lower() and e.status in (404, 410):
                    raise self._lost_page(e, url, page) from None
                raise
            page += 1
            body = body if isinstance(body, dict) else {}
            nxt = body.get("@odata.nextLink")
            value = body.get("value") or []
            self.counters.pages += 1
            del body
            yield value
            url = self._check_same_origin(nxt) if nxt else None

    async def post(self, path: str, json: Any = None, headers: Mapping[str, str] | None = None,
                   *, idempotent: bool = False) -> Any:
        """POST; connection failures are retried only when ``idempotent`` (never a double write)."""
        return (await self._request("POST", self.url(path), json=json, headers=headers,
                                    idempotent=idempotent))[1]

    async def patch(self, path: str, json: Any, headers: Mapping[str, str] | None = None) -> Any:
        return (await self._request("PATCH", self.url(path), json=json, headers=headers))[1]

    async def delete(self, path: str, headers: Mapping[str, str] | None = None) -> Any:
        return (await self._request("DELETE", self.url(path), headers=headers))[1]

    async def batch(self, items: Sequence[BatchRequest], *, raise_errors: bool = True) -> list[BatchResponse]:
        """POST ``/$batch`` (≤ 20 items); 429/5xx items are retried alone, honouring their Retry-After.

        Returns one :class:`BatchResponse` per item, in the order given. With
        ``raise_errors`` a final non-2xx item raises the same mapped error a
        plain request would (401/403/other), naming the item's URL.
        """
        if len(items) > MAX_BATCH:
            raise ValueError(f"a $batch holds at most {MAX_BATCH} requests, got {len(items)}")
        if len({i.id for i in items}) != len(items):
            raise ValueError("$batch request ids must be unique")
        done: dict[str, BatchResponse] = {}
        pending = list(items)
        throttle_waited = 0.0
        refreshed = False
        for attempt in range(self.max_attempts):
            generation = self._token_generation
            responses, request_id = await self._send_batch(pending)
            retry, wait = self._settle_batch(pending, responses, done, attempt, request_id)
            expired = [i for i in pending if done[i.id].status == 401 and i not in retry]
            if expired and not refreshed and self._token_provider is not None:
                refreshed = True  # a token that expired mid-scan: ask for a fresh one, once
                if generation == self._token_generation:
                    self._refresh_token()
                retry = [i for i in pending if i in retry or i in expired]
            if not retry:
                break
            self.counters.retries += len(retry)
            if throttle_waited + wait > self.max_throttle_wait:
                break
            throttle_waited += wait
            await self._pause(wait)
            pending = retry
        out = [done.get(i.id) or BatchResponse(i.id, 0) for i in items]
        if raise_errors:
            by_id = {i.id: i for i in items}
            for r in out:
                if not 200 <= r.status < 300:
                    raise self._error_for(r.status, r.body, by_id[r.id].method,
                                          self.url(by_id[r.id].url), request_id)
        return out

    def error_for_item(self, request: BatchRequest, response: BatchResponse) -> Exception:
        """The mapped error (AuthError, PermissionDenied, ...) for a failed ``$batch`` item."""
        return self._error_for(response.status, response.body, request.method, self.url(request.url),
                               response.headers.get("client-request-id", "-"))

    # -- batch internals ----------------------------------------------------------------

    async def _send_batch(self, pending: Sequence[BatchRequest]) -> tuple[list[dict[str, Any]], str]:
        payload = {"requests": [i.wire() for i in pending]}
        self.counters.batches += 1
        self.counters.batch_items += len(pending)
        req_id = str(uuid.uuid4())
        _, body = await self._request("POST", self.base_url + "/$batch", json=payload,
                                      idempotent=True, request_id=req_id)
        responses = body.get("responses") if isinstance(body, dict) else None
        if not isinstance(responses, list):
            raise GraphStatusError(f"Graph $batch returned no responses list (client-request-id: {req_id})",
                                   status=200, code=None, request_id=req_id)
        return responses, req_id

    def _settle_batch(self, pending: Sequence[BatchRequest], responses: list[dict[str, Any]],
                      done: dict[str, BatchResponse], attempt: int,
                      request_id: str) -> tuple[list[BatchRequest], float]:
        """Record final item answers in ``done``; return items to retry and how long to wait."""
        got = {str(r.get("id")): r for r in responses if isinstance(r, dict)}
        retry_ids: set[str] = set()
        wait = 0.0
        for item in pending:
            r = got.get(item.id)
            status = int(r.get("status", 0)) if r else 0
            headers = {str(k).lower(): str(v) for k, v in ((r or {}).get("headers") or {}).items()}
            self._count_units(headers)
            headers.setdefault("client-request-id", request_id)  # the envelope's, for error messages
            done[item.id] = BatchResponse(item.id, status, headers, (r or {}).get("body"))
            if status in _RETRY_STATUS or status == 0:
                retry_ids.add(item.id)
                wait = max(wait, self._item_wait(status, headers, attempt))
        for item in pending:  # a 424 whose dependency is retried goes again with it
            if done[item.id].status == 424 and set(item.depends_on) & retry_ids:
                retry_ids.add(item.id)
        return [i for i in pending if i.id in retry_ids], wait

    def _item_wait(self, status: int, headers: Mapping[str, str], attempt: int) -> float:
        ra = _retry_after(headers)
        wait = ra if ra is not None else self._backoff(attempt)
        if status == 429:
            self.counters.throttled += 1
            self.limiter.throttled()
            self._resume_at = max(self._resume_at, time.monotonic() + wait)
        else:
            self.counters.faults += 1
        return wait

    # -- the one retry loop -----------------------------------------------------------------

    async def _request(self, method: str, url: str, *, json: Any = None,
                       headers: Mapping[str, str] | None = None, idempotent: bool | None = None,
                       request_id: str | None = None) -> tuple[httpx.Response, Any]:
        t = _Try(method, url, request_id or str(uuid.uuid4()),
                 method != "POST" if idempotent is None else idempotent)
        content = orjson.dumps(json) if json is not None else None
        for attempt in range(self.max_attempts):
            await self._wait_for_gate()
            generation = self._token_generation
            try:
                resp = await self._send_once(method, url, content, headers, t.request_id, attempt)
            except _NETWORK_ERRORS as e:
                self.counters.faults += 1
                t.last = _describe(e)
                refused = isinstance(e, httpx.ConnectError)
                limit = min(self.max_attempts, self.connect_attempts) if refused else self.max_attempts
                if not t.idempotent or attempt + 1 >= limit:
                    break
                self.counters.retries += 1
                wait = min(2.0, self._backoff(attempt)) if refused else self._backoff(attempt)
                self._tell(t, attempt, limit, wait)
                await self._sleep(wait)
                continue
            body = _loads(resp.content)
            status = resp.status_code
            if body is _UNREADABLE and 200 <= status < 300:
                if not await self._retry_unreadable(t, attempt):
                    break
                continue
            body = None if body is _UNREADABLE else body
            if status == 401 and not t.refreshed and self._token_provider is not None:
                t.refreshed = True  # the token may have expired mid-scan: ask for a fresh one, once
                if generation == self._token_generation:
                    self._refresh_token()
                self.counters.retries += 1
                continue
            if status not in _RETRY_STATUS:
                self.limiter.succeeded()
                if status >= 400:
                    raise self._error_for(status, body, method, url, t.request_id)
                self.counters.succeeded += 1
                return resp, body
            wait = self._retry_wait(t, resp, body, attempt)
            self.counters.retries += 1
            self._tell(t, attempt, self.max_attempts, wait)
            await self._pause(wait)
        raise NetworkError(f"Graph {method} {version_relative(url)} failed: {t.last or 'no answer'} "
                           f"after {attempt + 1} attempt(s) (client-request-id: {t.request_id})")

    def _tell(self, t: "_Try", attempt: int, limit: int, wait: float) -> None:
        if self.on_retry is not None:
            self.on_retry(f"Graph {t.method} {version_relative(t.url)}: {t.last}; attempt {attempt + 1} of {limit} "
                          f"failed, retrying in {wait:.1f} s")

    async def _retry_unreadable(self, t: "_Try", attempt: int) -> bool:
        """A 2xx whose JSON is cut short: retry it like a 5xx (True), or give up (False)."""
        self.counters.faults += 1
        t.last = "a 2xx answer whose JSON body was cut short"
        if not t.idempotent:
            raise NetworkError(f"Graph {t.method} {version_relative(t.url)} answered, but its JSON body was cut "
                               f"short; the change may or may not have been made "
                               f"(client-request-id: {t.request_id})")
        if attempt + 1 >= self.max_attempts:
            return False
        self.counters.retries += 1
        await self._sleep(self._backoff(attempt))
        return True

    def _refresh_token(self) -> None:
        self._token_generation += 1
        self.counters.token_refreshes += 1
        invalidate = getattr(self._token_provider, "invalidate", None)
        if callable(invalidate):
            invalidate()

    def _retry_wait(self, t: "_Try", resp: httpx.Response, body: Any, attempt: int) -> float:
        """Seconds to wait before retrying a 429/5xx answer; raises when it must not be retried."""
        status = resp.status_code
        wait = self._wait_for_status(resp, attempt)
        t.last = f"HTTP {status}"
        where = f"{t.method} {version_relative(t.url)}"
        rid = f"(client-request-id: {t.request_id})"
        if not t.idempotent and status not in (429, 503):
            raise self._error_for(status, body, t.method, t.url, t.request_id)
        if status == 429:
            t.throttle_waited += wait
            if t.throttle_waited > self.max_throttle_wait:
                raise ThrottledError(f"Graph kept throttling {where} for {t.throttle_waited:.0f}s; "
                                     f"try again later {rid}")
        if attempt + 1 >= self.max_attempts:
            if status == 429:
                raise ThrottledError(f"Graph kept throttling {where} after {self.max_attempts} attempts {rid}")
            raise self._error_for(status, body, t.method, t.url, t.request_id)
        return wait

    async def _send_once(self, method: str, url: str, content: bytes | None,
                         headers: Mapping[str, str] | None, request_id: str, attempt: int) -> httpx.Response:
        h = {"client-request-id": request_id, "return-client-request-id": "true"}
        if attempt:
            h["retry-attempt"] = str(attempt)
        if content is not None:
            h["Content-Type"] = "application/json"
        token = await self._token()
        if token:
            h["Authorization"] = "Bearer " + token
        if headers:
            h.update(headers)
        async with self.limiter:
            self.counters.requests += 1
            resp = await self._client.request(method, url, content=content, headers=h)
        self.counters.bytes_received += len(resp.content)
        self._count_units(resp.headers)
        return resp

    async def _token(self) -> str | None:
        if self._token_provider is None:
            return None
        tok = self._token_provider()
        if inspect.isawaitable(tok):
            tok = await tok
        return tok  # type: ignore[return-value]

    def _count_units(self, headers: Mapping[str, str]) -> None:
        ru = headers.get("x-ms-resource-unit")
        if ru:
            try:
                self.counters.resource_units += float(ru)
            except ValueError:
                pass

    def _wait_for_status(self, resp: httpx.Response, attempt: int) -> float:
        ra = _retry_after(resp.headers)
        if resp.status_code == 429:
            self.counters.throttled += 1
            self.limiter.throttled()
            wait = ra if ra is not None else self._backoff(attempt)
            self._resume_at = max(self._resume_at, time.monotonic() + wait)
            return wait
        self.counters.faults += 1
        return ra if ra is not None else self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * (2 ** attempt)))

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.counters.throttled_wait_s += seconds
            await self._sleep(seconds)

    async def _wait_for_gate(self) -> None:
        """Everyone waits out the latest 429's Retry-After (Graph counts throttled time too)."""
        wait = self._resume_at - time.monotonic()
        if wait > 0:
            await self._sleep(wait)

    # -- errors -----------------------------------------------------------------------------

    @staticmethod
    def _lost_page(e: GraphStatusError, url: str, pages: int) -> GraphStatusError:
        """A nextLink that stopped working (404, or 410 Gone): the chain cannot be finished, so fail cleanly."""
        why = "expired the paging state (410 Gone)" if e.status == 410 else "no longer knows the page (404)"
        return GraphStatusError(f"Graph {why} while following @odata.nextLink of GET {version_relative(url)} "
                                f"after {pages} page(s) of that list; the list cannot be read to its end, run the "
                                f"scan again (client-request-id: {e.request_id})",
                                status=e.status, code=e.code, request_id=e.request_id)

    def _check_same_origin(self, next_link: str) -> str:
        p = urlsplit(next_link)
        if (p.scheme, p.netloc) != (self._base.scheme, self._base.netloc):
            raise NetworkError(f"Graph returned a nextLink to another host ({p.netloc}); "
                               "refusing to send the token there")
        return next_link

    def _error_for(self, status: int, body: Any, method: str, url: str, request_id: str) -> Exception:
        where = f"{method} {version_relative(url)}"
        code = _error_code(body)
        rid = f"(client-request-id: {request_id})"
        if status == 401:
            return AuthError(f"Graph refused the credentials for {where} (401 {code or 'Unauthorized'}); "
                             f"check the tenant, client id and credential {rid}")
        if status == 403:
            return PermissionDenied(f"Graph denied {where} (403 {code or 'Forbidden'}): grant "
                                    f"{permission_for(method, url)} and admin-consent it {rid}")
        if status == 429:
            return ThrottledError(f"Graph kept throttling {where} {rid}")
        said = _error_message(body)
        return GraphStatusError(f"Graph {where} failed: HTTP {status} {code or ''}".rstrip()
                                + (f": {said}" if said else "") + f" {rid}",
                                status=status, code=code, request_id=request_id)


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Split into lists of at most ``size`` (for 20-item ``$batch`` envelopes)."""
    buf: list[Any] = []
    for x in items:
        buf.append(x)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf
