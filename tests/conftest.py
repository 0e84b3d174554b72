"""Shared test fixtures: a clean environment and the bundled sample."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SAMPLE_TENANT = FIXTURES / "sample" / "sample-tenant.json"
SAMPLE_LDIF = FIXTURES / "sample" / "sample-onprem.ldif"
SAMPLE_EXPECTED = FIXTURES / "sample" / "sample-expected.json"

_SCRUB_PREFIXES = ("AZURE_", "RECONCILER_", "REQUESTS_", "MSAL_")
_SCRUB = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
          "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR"}
_KEEP = {"RECONCILER_TEST_LDAP"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--live", action="store_true", help="run tests against a real tenant")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--live"):
        return
    skip = pytest.mark.skip(reason="needs a real tenant: pass --live")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials, proxies or user config leak into tests; the DB defaults to a temp file."""
    for key in list(os.environ):
        if key in _KEEP:
            continue
        if key.startswith(_SCRUB_PREFIXES) or key in _SCRUB:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    if isinstance(host, str) and self.family in (socket.AF_INET, socket.AF_INET6):
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            raise OSError(f"test tried to reach non-loopback address {host}")
    return _real_connect(self, address)  # type: ignore[arg-type]


_real_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if isinstance(host, bytes):
        host = host.decode()
    if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost", "")):
        raise socket.gaierror(socket.EAI_NONAME, f"test tried to resolve non-loopback host {host}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never leave the machine: no connection to, and no DNS lookup of, a non-loopback host."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
