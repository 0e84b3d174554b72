"""Graph (and Azure Resource Manager) credentials for every ``--auth`` mode, and national-cloud endpoints.

azure-identity is imported lazily, inside :func:`build_credential`, so
``reconciler --help`` and tenant-file scans never pay for it. The result of
:func:`token_provider` is the zero-argument async callable :class:`GraphHttp`
expects; it caches the token until five minutes before it expires and runs the
(blocking) azure-identity call in a worker thread.

Connect Health is read through Azure Resource Manager (ARM), which takes a token for the
management scope: :func:`arm_token_provider` asks the same credential for it (one sign-in serves
both), and :class:`Cloud` names each national cloud's ARM endpoint next to its Graph one.

Secrets only ever come from the environment (or a certificate file), never from
the command line, and never appear in messages.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from ..core.errors import AuthError, BadInput, UsageError

__all__ = ["CLOUDS", "Cloud", "AUTH_MODES", "cloud", "build_credential", "token_provider",
           "static_token_provider", "TOKEN_ENV", "ARM_TOKEN_ENV", "arm_token_provider"]

TOKEN_ENV = "RECONCILER_GRAPH_TOKEN"
#: ``--auth token``: the management-scope bearer token for Azure Resource Manager (Connect Health).
ARM_TOKEN_ENV = "RECONCILER_ARM_TOKEN"
AUTH_MODES = ("environment", "secret", "certificate", "device-code", "azure-cli", "managed-identity",
              "workload-identity", "token", "none")
#: Azure CLI's public client id: the default for device-code sign-in when no --client-id is given.
_PUBLIC_CLIENT = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


@dataclass(frozen=True, slots=True)
class Cloud:
    name: str
    authority: str  # host, as azure-identity's ``authority=`` expects
    graph: str  # Graph root without version
    arm: str = "https://management.azure.com"  # Azure Resource Manager root (Connect Health)

    @property
    def base_url(self) -> str:
        return self.graph + "/v1.0"

    @property
    def scope(self) -> str:
        return self.graph + "/.default"

    @property
    def arm_scope(self) -> str:
        """The management scope an ARM token is asked for (``https://management.azure.com/.default``)."""
        return self.arm + "/.default"


# ARM roots: Azure Government (both usgov and DoD tenants) answers at management.usgovcloudapi.net,
# Azure operated by 21Vianet at management.chinacloudapi.cn.
CLOUDS: dict[str, Cloud] = {
    "global": Cloud("global", "login.microsoftonline.com", "https://graph.microsoft.com",
                    "https://management.azure.com"),
    "usgov": Cloud("usgov", "login.microsoftonline.us", "https://graph.microsoft.us",
                   "https://management.usgovcloudapi.net"),
    "usgov-dod": Cloud("usgov-dod", "login.microsoftonline.us", "https://dod-graph.microsoft.us",
                       "https://management.usgovcloudapi.net"),
    "china": Cloud("china", "login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn",
                   "https://management.chinacloudapi.cn"),
}


def cloud(name: str) -> Cloud:
    try:
        return CLOUDS[name]
    except KeyError:
        raise UsageError(f"--cloud must be one of {', '.join(CLOUDS)}; got {name!r}") from None


def _need(value: str | None, what: str, env: str, flag: str | None = None) -> str:
    if value:
        return value
    how = f"{flag} or {env}" if flag else env
    raise UsageError(f"--auth needs the {what}: set {how}")


def _quiet_library_loggers() -> None:
    """azure-identity and MSAL log failures as warnings; with no handler Python prints them raw on stderr.
    Our error is one line, raised with what failed, so their loggers stay quiet."""
    import logging

    for name in ("azure", "msal"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def build_credential(mode: str, *, tenant_id: str | None = None, client_id: str | None = None,
                     certificate: Path | None = None, cloud_name: str = "global",
                     env: Mapping[str, str] | None = None,
                     prompt: Callable[[str], None] | None = None) -> Any:
    """An azure-identity credential for ``mode`` (not ``token``/``none``, which need none)."""
    env = os.environ if env is None else env
    c = cloud(cloud_name)
    tenant = tenant_id or env.get("AZURE_TENANT_ID")
    client = client_id or env.get("AZURE_CLIENT_ID")
    import azure.identity as ai  # lazy: ~0.3 s of imports

    _quiet_library_loggers()

    common: dict[str, Any] = {"authority": c.authority}
    builders: dict[str, Callable[[], Any]] = {
        "environment": lambda: _environment(ai, tenant, client, certificate, env, common,
                                            overridden=bool(tenant_id or client_id or certificate)),
        "secret": lambda: ai.ClientSecretCredential(
            _need(tenant, "tenant id", "AZURE_TENANT_ID", "--tenant-id"),
            _need(client, "client id", "AZURE_CLIENT_ID", "--client-id"),
            _need(env.get("AZURE_CLIENT_SECRET"), "client secret", "AZURE_CLIENT_SECRET"), **common),
        "certificate": lambda: _certificate(ai, tenant, client, certificate, env, common),
        "device-code": lambda: ai.DeviceCodeCredential(
            client_id=client or _PUBLIC_CLIENT, tenant_id=tenant or "organizations",
            prompt_callback=_device_prompt(prompt), **common),
        "azure-cli": lambda: ai.AzureCliCredential(tenant_id=tenant) if tenant else ai.AzureCliCredential(),
        "managed-identity": lambda: (ai.ManagedIdentityCredential(client_id=client) if client
                                     else ai.ManagedIdentityCredential()),
        "workload-identity": lambda: _workload(ai, tenant, client, env, common),
    }
    if mode not in builders:
        raise UsageError(f"--auth must be one of {', '.join(AUTH_MODES)}; got {mode!r}")
    return builders[mode]()


def _environment(ai: Any, tenant: str | None, client: str | None, certificate: Path | None,
                 env: Mapping[str, str], common: dict[str, Any], *, overridden: bool) -> Any:
    if certificate or (overridden and env.get("AZURE_CLIENT_CERTIFICATE_PATH")):
        return _certificate(ai, tenant, client, certificate, env, common)
    if overridden and env.get("AZURE_CLIENT_SECRET"):
        return ai.ClientSecretCredential(_need(tenant, "tenant id", "AZURE_TENANT_ID", "--tenant-id"),
                                         _need(client, "client id", "AZURE_CLIENT_ID", "--client-id"),
                                         env["AZURE_CLIENT_SECRET"], **common)
    if not (env.get("AZURE_CLIENT_SECRET") or env.get("AZURE_CLIENT_CERTIFICATE_PATH")
            or env.get("AZURE_USERNAME")):
        raise UsageError("--auth environment found no credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                         "AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), or choose another --auth")
    return ai.EnvironmentCredential(**common)


def _certificate(ai: Any, tenant: str | None, client: str | None, certificate: Path | None,
                 env: Mapping[str, str], common: dict[str, Any]) -> Any:
    path = certificate or (Path(env["AZURE_CLIENT_CERTIFICATE_PATH"])
                           if env.get("AZURE_CLIENT_CERTIFICATE_PATH") else None)
    if path is None:
        raise UsageError("--auth certificate needs --certificate FILE (PEM or PFX) or "
                         "AZURE_CLIENT_CERTIFICATE_PATH")
    if not Path(path).is_file():
        raise UsageError(f"{path}: certificate file not found")
    tenant = _need(tenant, "tenant id", "AZURE_TENANT_ID", "--tenant-id")
    client = _need(client, "client id", "AZURE_CLIENT_ID", "--client-id")
    try:  # azure-identity loads the key here: a bad file or password fails now, not at the first request
        return ai.CertificateCredential(tenant, client, certificate_path=str(path),
                                        password=env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None, **common)
    except (ValueError, TypeError) as e:
        kind = "wrong AZURE_CLIENT_CERTIFICATE_PASSWORD?" if "password" in str(e).lower() else \
            "not a PEM or PFX certificate with its private key"
        raise BadInput(path, f"cannot load the client certificate ({kind})") from None


def _workload(ai: Any, tenant: str | None, client: str | None, env: Mapping[str, str],
              common: dict[str, Any]) -> Any:
    """Kubernetes (AZURE_FEDERATED_TOKEN_FILE) or GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_*)."""
    t = _need(tenant, "tenant id", "AZURE_TENANT_ID", "--tenant-id")
    c = _need(client, "client id", "AZURE_CLIENT_ID", "--client-id")
    token_file = env.get("AZURE_FEDERATED_TOKEN_FILE")
    if token_file:
        return ai.WorkloadIdentityCredential(tenant_id=t, client_id=c, token_file_path=token_file, **common)
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if url and bearer:
        return ai.ClientAssertionCredential(t, c, lambda: _github_oidc(url, bearer), **common)
    raise UsageError("--auth workload-identity needs AZURE_FEDERATED_TOKEN_FILE (Kubernetes) or a GitHub "
                     "Actions job with 'permissions: id-token: write' (ACTIONS_ID_TOKEN_REQUEST_URL)")


def _github_oidc(url: str, bearer: str) -> str:
    import httpx

    sep = "&" if "?" in url else "?"
    r = httpx.get(f"{url}{sep}audience=api://AzureADTokenExchange",
                  headers={"Authorization": f"Bearer {bearer}"}, timeout=30)
    if r.status_code != 200:
        raise AuthError(f"GitHub Actions OIDC token request failed: HTTP {r.status_code}")
    return str(r.json()["value"])


def _device_prompt(prompt: Callable[[str], None] | None) -> Callable[[str, str, Any], None]:
    def show(verification_uri: str, user_code: str, expires_on: Any) -> None:
        msg = f"To sign in, open {verification_uri} and enter the code {user_code}"
        if prompt:
            prompt(msg)
        else:
            import sys

            print(msg, file=sys.stderr, flush=True)
    return show


def static_token_provider(env: Mapping[str, str] | None = None) -> Callable[[], str]:
    """``--auth token``: the bearer token in RECONCILER_GRAPH_TOKEN."""
    env = os.environ if env is None else env
    tok = env.get(TOKEN_ENV, "").strip()
    if not tok:
        raise UsageError(f"--auth token needs a bearer token in {TOKEN_ENV}")
    return lambda: tok


class _CachedToken:
    """Async, cached, single-flight ``get_token`` over a sync azure-identity credential.

    ``invalidate()`` drops the cached token: the Graph client calls it after a 401 (a token revoked or
    expired early), so the next call asks the credential for a fresh one.
    """

    def __init__(self, credential: Any, scope: str, mode: str) -> None:
        self._credential, self._scope, self._mode = credential, scope, mode
        self._token: str | None = None
        self._expires = 0.0
        self._lock: asyncio.Lock | None = None

    def _fresh(self) -> bool:
        return bool(self._token) and self._expires - 300 > time.time()

    async def __call__(self) -> str:
        if self._fresh():
            return str(self._token)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._fresh():
                at = await asyncio.to_thread(_get_token, self._credential, self._scope, self._mode)
                self._token, self._expires = at.token, float(at.expires_on)
        return str(self._token)

    def invalidate(self) -> None:
        self._token, self._expires = None, 0.0

    def for_scope(self, scope: str) -> "_CachedToken":
        """The same credential asked for another scope (one sign-in, e.g. a device code, serves both)."""
        return _CachedToken(self._credential, scope, self._mode)


def token_provider(credential: Any, scope: str, mode: str = "") -> Callable[[], Awaitable[str]]:
    """Async, cached, single-flight ``get_token`` over a sync azure-identity credential (see _CachedToken)."""
    return _CachedToken(credential, scope, mode)


def _get_token(credential: Any, scope: str, mode: str) -> Any:
    try:
        return credential.get_token(scope)
    except Exception as e:  # azure-identity raises ClientAuthenticationError / CredentialUnavailableError
        first = (str(e).strip().splitlines() or [""])[0][:240]
        what = "an Azure Resource Manager" if "management" in scope else "a Graph"
        raise AuthError(f"could not get {what} token (--auth {mode or 'environment'}): "
                        f"{type(e).__name__}: {first}") from None


def provider_for(mode: str, *, tenant_id: str | None = None, client_id: str | None = None,
                 certificate: Path | None = None, cloud_name: str = "global",
                 env: Mapping[str, str] | None = None) -> Callable[[], Any] | None:
    """The token provider for ``--auth mode``: None for ``none``, static for ``token``, else azure-identity."""
    if mode == "none":
        return None
    if mode == "token":
        return static_token_provider(env)
    cred = build_credential(mode, tenant_id=tenant_id, client_id=client_id, certificate=certificate,
                            cloud_name=cloud_name, env=env)
    return token_provider(cred, cloud(cloud_name).scope, mode)


def arm_token_provider(graph_tokens: Callable[[], Any] | None, mode: str, *, cloud_name: str = "global",
                       env: Mapping[str, str] | None = None) -> Callable[[], Any] | None:
    """The management-scope token provider for ARM, next to ``graph_tokens`` from :func:`provider_for`.

    ``none`` -> None (loopback only); ``token`` -> ``RECONCILER_ARM_TOKEN`` (a Graph token has the wrong
    audience for ARM); otherwise the Graph provider's own credential, asked for the cloud's ARM scope.
    """
    if mode == "none":
        return None
    if mode == "token":
        env = os.environ if env is None else env
        tok = env.get(ARM_TOKEN_ENV, "").strip()
        if not tok:
            raise UsageError(f"--auth token needs an Azure Resource Manager bearer token in {ARM_TOKEN_ENV} "
                             "to read Connect Health")
        return lambda: tok
    if isinstance(graph_tokens, _CachedToken):
        return graph_tokens.for_scope(cloud(cloud_name).arm_scope)
    raise UsageError(f"--auth {mode}: no credential to ask for an Azure Resource Manager token")
