"""``reconciler.toml``: the tenants to scan, their auth settings, on-prem sources and options.

Found at ``--config FILE``, else ``$RECONCILER_CONFIG``, else ``reconciler.toml`` in
the user config directory. Secrets are only ever *references* — the name of an
environment variable (``*_env``) or a file path (``*_file``) — and are read when
used; a secret written inline is refused (exit 2) without echoing it.

::

    db = "/var/lib/reconciler/reconciler.db"   # optional; --db wins
    parallel = 8                               # tenants scanned at once

    [notify]
    url_env = "RECONCILER_WEBHOOK_URL"         # or url_file; webhook URLs carry a token
    detail = "counts"                          # counts | values

    [tenants.contoso]
    graph = true                               # or graph_url = "http://127.0.0.1:8080/v1.0", or tenant_file = "x.json"
    tenant_id = "00000000-0000-0000-0000-000000000000"
    client_id = "11111111-1111-1111-1111-111111111111"
    auth = "certificate"
    certificate = "/etc/reconciler/contoso.pem"
    certificate_password_env = "CONTOSO_CERT_PASSWORD"
    max_concurrency = 4                        # this tenant's throttle budget: Graph requests in flight
    # health_url = "http://127.0.0.1:8080/arm" # Connect Health's ARM root (default with graph: the cloud's)
    onprem = ["exports/contoso.ldif"]

    [[tenants.contoso.ldap]]
    url = "ldaps://dc1.corp.contoso.com:636"
    bind_dn = "CN=svc-reconciler,OU=Service,DC=corp,DC=contoso,DC=com"
    password_env = "CONTOSO_LDAP_PASSWORD"
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .core.errors import BadInput, UsageError
from .wiring import SourceOptions

__all__ = [
    "Config",
    "LdapConfig",
    "NotifyConfig",
    "SecretRef",
    "TenantConfig",
    "find_config",
    "load_config",
    "parse_config",
]

AUTH_CHOICES = ("environment", "secret", "certificate", "device-code", "azure-cli", "managed-identity",
                "workload-identity", "token", "none")
_SECRET_WORDS = ("secret", "password", "token", "apikey", "api_key", "passphrase")
_TOP_KEYS = {"db", "parallel", "notify", "tenants", "stuck_after"}
_NOTIFY_KEYS = {"url_env", "url_file", "detail", "format"}
_TENANT_KEYS = {"tenant_file", "graph", "graph_url", "auth", "tenant_id", "client_id", "certificate",
                "certificate_password_env", "certificate_password_file", "client_secret_env",
                "client_secret_file", "token_env", "token_file", "cloud", "strategy", "onprem", "ldap",
                "max_concurrency", "max_throttle_wait", "enabled", "name", "health_url", "arm_token_env",
                "arm_token_file"}
_LDAP_KEYS = {"url", "bind_dn", "password_env", "password_file", "base_dn", "filter", "ca", "insecure"}


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives; ``str()`` names the place, never the value."""

    env: str | None = None
    file: Path | None = None

    def __str__(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def read(self) -> str:
        if self.env:
            value = os.environ.get(self.env, "")
            if not value:
                raise UsageError(f"environment variable {self.env} is not set (named in the config)")
            return value
        assert self.file is not None
        try:
            return self.file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise UsageError(f"{self.file}: cannot read the secret file: {e.strerror}") from None


@dataclass(frozen=True, slots=True)
class LdapConfig:
    url: str
    bind_dn: str | None = None
    password: SecretRef | None = None
    base_dn: str | None = None
    filter: str | None = None
    ca: Path | None = None
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class TenantConfig:
    name: str
    tenant_file: Path | None = None
    graph: bool = False
    graph_url: str | None = None
    auth: str = "environment"
    tenant_id: str | None = None
    client_id: str | None = None
    certificate: Path | None = None
    certificate_password: SecretRef | None = None
    client_secret: SecretRef | None = None
    token: SecretRef | None = None
    cloud: str = "global"
    strategy: str = "auto"
    onprem: tuple[Path, ...] = ()
    ldap: tuple[LdapConfig, ...] = ()
    max_concurrency: int | None = None
    max_throttle_wait: float | None = None
    enabled: bool = True
    health_url: str | None = None  # Connect Health's ARM root (default with graph = true: the cloud's ARM)
    arm_token: SecretRef | None = None  # auth = "token": the management-scope token for Connect Health

    def source_options(self) -> SourceOptions:
        """Cloud source and on-prem files (each LDAP forest: :meth:`ldap_options`).

        Every field this class shares with :class:`SourceOptions` by name is copied (``_SHARED``), so a
        setting added to both reaches the scan without a line here; ``tenant_file`` is ``--tenant``.
        """
        shared: dict[str, Any] = {name: getattr(self, name) for name in _SHARED}
        shared["onprem"] = list(self.onprem)
        return SourceOptions(tenant=self.tenant_file, **shared)

    def secret_env(self) -> dict[str, str]:
        """This tenant's Graph secrets under azure-identity's variable names, read from their references now."""
        pairs = (("AZURE_CLIENT_SECRET", self.client_secret),
                 ("AZURE_CLIENT_CERTIFICATE_PASSWORD", self.certificate_password),
                 ("RECONCILER_GRAPH_TOKEN", self.token), ("RECONCILER_ARM_TOKEN", self.arm_token))
        return {name: ref.read() for name, ref in pairs if ref is not None}

    def ldap_options(self) -> list[SourceOptions]:
        """One SourceOptions per forest, so each keeps its own bind identity and base DN."""
        return [SourceOptions(ldap=[f.url], bind_dn=f.bind_dn, base_dn=f.base_dn, ldap_filter=f.filter,
                              ldap_ca=f.ca, insecure=f.insecure) for f in self.ldap]


#: TenantConfig fields that are not SourceOptions fields: config bookkeeping, secret references (turned into
#: the environment by secret_env), LDAP forests (ldap_options: one SourceOptions each) and the tenant file
#: (SourceOptions.tenant)
CONFIG_ONLY = frozenset({"name", "enabled", "tenant_file", "certificate_password", "client_secret", "token", "ldap",
                         "arm_token"})
#: TenantConfig fields that are SourceOptions fields of the same name and meaning
_SHARED = tuple(sorted({f.name for f in fields(TenantConfig)} & {f.name for f in fields(SourceOptions)} - CONFIG_ONLY))


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    url: SecretRef | None = None
    detail: str = "counts"
    format: str = "auto"


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    tenants: tuple[TenantConfig, ...]
    db: Path | None = None
    parallel: int = 8
    stuck_after: str | None = None
    notify: NotifyConfig = field(default_factory=NotifyConfig)

    def tenant(self, name: str) -> TenantConfig:
        for t in self.tenants:
            if t.name.casefold() == name.casefold():
                return t
        raise UsageError(f"{self.path}: no tenant named {name!r} (have: {', '.join(t.name for t in self.tenants)})")


def user_config_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "reconciler"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "reconciler"


def find_config(explicit: Path | None = None) -> Path | None:
    """``--config``, else ``$RECONCILER_CONFIG``, else the user config dir's file if it exists."""
    if explicit is not None:
        return explicit
    env = os.environ.get("RECONCILER_CONFIG")
    if env:
        return Path(env)
    default = user_config_dir() / "reconciler.toml"
    return default if default.is_file() else None


def load_config(path: Path) -> Config:
    from .sources.inputs import read_input

    try:
        text = read_input(path).decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(path, f"not UTF-8 text: {e.reason} at byte {e.start}") from None
    return parse_config(text, path)


_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_config(text: str, path: Path) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = _AT.search(str(e))
        msg = _AT.sub("", str(e)).strip()
        raise BadInput(path, f"not valid TOML: {msg}", line=int(m[1]) if m else None,
                       column=int(m[2]) if m else None) from None
    return _Parser(path, text).config(raw)


class _Parser:
    """Validates the parsed TOML; every problem is one BadInput naming the key and, when found, its line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.base = path.parent

    def fail(self, place: str, problem: str) -> BadInput:
        return BadInput(self.path, problem, line=self._line_of(place), place=place)

    def _line_of(self, place: str) -> int | None:
        key = place.rsplit(".", 1)[-1].split("[")[0]
        pat = re.compile(rf"^\s*(\[\[?[^\]]*\b{re.escape(key)}\b[^\]]*\]\]?|\"?{re.escape(key)}\"?\s*=)")
        hits = [i + 1 for i, line in enumerate(self.lines) if pat.search(line)]
        section = place.split(".")[1] if place.startswith("tenants.") and place.count(".") >= 1 else None
        if section:
            start = next((i + 1 for i, ln in enumerate(self.lines) if re.search(
                rf"^\s*\[\[?tenants\.\"?{re.escape(section)}\"?", ln)), 0)
            hits = [h for h in hits if h >= start] or hits
        return hits[0] if hits else None

    def config(self, raw: dict[str, Any]) -> Config:
        self._keys(raw, _TOP_KEYS, "")
        tenants_raw = raw.get("tenants", {})
        if isinstance(tenants_raw, list):  # [[tenants]]: an array of tables, not the named tables we read
            raise self.fail("tenants", "tenants must be named tables, [tenants.NAME] (one per tenant), not "
                            "[[tenants]]")
        if not isinstance(tenants_raw, dict) or not tenants_raw:
            raise self.fail("tenants", "no tenants: add a [tenants.NAME] table per tenant")
        tenants = tuple(self.tenant(name, t) for name, t in tenants_raw.items())
        db = raw.get("db")
        return Config(path=self.path, tenants=tenants, db=self.path_of(db, "db") if db is not None else None,
                      parallel=self.int_of(raw.get("parallel", 8), "parallel", 1, 256),
                      stuck_after=self.str_of(raw.get("stuck_after"), "stuck_after"),
                      notify=self.notify(raw.get("notify", {})))

    def _keys(self, table: Any, allowed: set[str], prefix: str) -> None:
        if not isinstance(table, dict):
            raise self.fail(prefix.rstrip("."), "expected a table")
        for key in table:
            place = f"{prefix}{key}"
            low = key.lower()
            if any(w in low for w in _SECRET_WORDS) and not low.endswith(("_env", "_file")):
                raise self.fail(place, f"secrets are never written in the config: name an environment variable "
                                       f"({key}_env = \"VAR\") or a file ({key}_file = \"/path\") instead")
            if key not in allowed:
                raise self.fail(place, f"unknown key (known: {', '.join(sorted(allowed))})")

    def str_of(self, v: Any, place: str) -> str | None:
        if v is not None and not isinstance(v, str):
            raise self.fail(place, "expected a string")
        return v

    def int_of(self, v: Any, place: str, lo: int, hi: int) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise self.fail(place, f"expected a whole number from {lo} to {hi}")
        return v

    def path_of(self, v: Any, place: str) -> Path:
        if not isinstance(v, str) or not v:
            raise self.fail(place, "expected a file path (string)")
        p = Path(v).expanduser()
        return p if p.is_absolute() else self.base / p

    def secret(self, t: dict[str, Any], key: str, place: str) -> SecretRef | None:
        env, file = t.get(f"{key}_env"), t.get(f"{key}_file")
        if env is not None and file is not None:
            raise self.fail(f"{place}.{key}_env", f"give {key}_env or {key}_file, not both")
        if env is not None:
            if not isinstance(env, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
                raise self.fail(f"{place}.{key}_env", "expected an environment variable name")
            return SecretRef(env=env)
        if file is not None:
            return SecretRef(file=self.path_of(file, f"{place}.{key}_file"))
        return None

    def notify(self, n: Any) -> NotifyConfig:
        self._keys(n, _NOTIFY_KEYS, "notify.")
        detail = n.get("detail", "counts")
        if detail not in ("counts", "values"):
            raise self.fail("notify.detail", "expected \"counts\" or \"values\"")
        fmt = n.get("format", "auto")
        if fmt not in ("auto", "teams", "slack", "generic"):
            raise self.fail("notify.format", "expected auto, teams, slack or generic")
        return NotifyConfig(url=self.secret(n, "url", "notify"), detail=detail, format=fmt)

    def tenant(self, name: str, t: Any) -> TenantConfig:
        place = f"tenants.{name}"
        self._keys(t, _TENANT_KEYS, place + ".")
        sources = [k for k in ("tenant_file", "graph_url") if t.get(k)] + (["graph"] if t.get("graph") else [])
        if len(sources) != 1:
            raise self.fail(place, "give exactly one cloud source: tenant_file, graph = true, or graph_url")
        auth = t.get("auth", "environment")
        if auth not in AUTH_CHOICES:
            raise self.fail(f"{place}.auth", f"expected one of {', '.join(AUTH_CHOICES)}")
        onprem = t.get("onprem", [])
        if not isinstance(onprem, list):
            raise self.fail(f"{place}.onprem", "expected a list of file paths")
        ldap = t.get("ldap", [])
        if not isinstance(ldap, list):
            raise self.fail(f"{place}.ldap", "expected [[tenants.NAME.ldap]] tables")
        mc = t.get("max_concurrency")
        mtw = t.get("max_throttle_wait")
        if mtw is not None and (not isinstance(mtw, (int, float)) or isinstance(mtw, bool) or mtw <= 0):
            raise self.fail(f"{place}.max_throttle_wait", "expected seconds (a positive number)")
        return TenantConfig(
            name=str(t.get("name") or name),
            tenant_file=self.path_of(t["tenant_file"], f"{place}.tenant_file") if t.get("tenant_file") else None,
            graph=bool(t.get("graph", False)), graph_url=self.str_of(t.get("graph_url"), f"{place}.graph_url"),
            auth=auth, tenant_id=self.str_of(t.get("tenant_id"), f"{place}.tenant_id"),
            client_id=self.str_of(t.get("client_id"), f"{place}.client_id"),
            certificate=self.path_of(t["certificate"], f"{place}.certificate") if t.get("certificate") else None,
            certificate_password=self.secret(t, "certificate_password", place),
            client_secret=self.secret(t, "client_secret", place), token=self.secret(t, "token", place),
            cloud=self.str_of(t.get("cloud", "global"), f"{place}.cloud") or "global",
            strategy=self.str_of(t.get("strategy", "auto"), f"{place}.strategy") or "auto",
            onprem=tuple(self.path_of(p, f"{place}.onprem") for p in onprem),
            ldap=tuple(self.ldap(x, f"{place}.ldap[{i}]") for i, x in enumerate(ldap)),
            max_concurrency=self.int_of(mc, f"{place}.max_concurrency", 1, 64) if mc is not None else None,
            max_throttle_wait=float(mtw) if mtw is not None else None,
            enabled=bool(t.get("enabled", True)),
            health_url=self.str_of(t.get("health_url"), f"{place}.health_url"),
            arm_token=self.secret(t, "arm_token", place))

    def ldap(self, x: Any, place: str) -> LdapConfig:
        self._keys(x, _LDAP_KEYS, place + ".")
        if not isinstance(x.get("url"), str):
            raise self.fail(f"{place}.url", "expected an ldaps:// or ldap:// URL")
        return LdapConfig(url=x["url"], bind_dn=self.str_of(x.get("bind_dn"), f"{place}.bind_dn"),
                          password=self.secret(x, "password", place),
                          base_dn=self.str_of(x.get("base_dn"), f"{place}.base_dn"),
                          filter=self.str_of(x.get("filter"), f"{place}.filter"),
                          ca=self.path_of(x["ca"], f"{place}.ca") if x.get("ca") else None,
                          insecure=bool(x.get("insecure", False)))
