"""Emulator fixtures: a small generated tenant, and clients in-process and over real HTTP."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; its TestClient still drives httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.emulator.generate import GenerateOptions, generate
from tests.conftest import SAMPLE_TENANT

BASE = "http://emulator/v1.0"


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """~600 users with every scenario planted (shared, read-only)."""
    d = tmp_path_factory.mktemp("generated")
    paths = {"tenant": d / "tenant.json", "ldif": d / "forest.ldif", "expected": d / "expected.json"}
    generate(GenerateOptions(users=600, errors_per_1000=60, seed=11), paths["tenant"], paths["ldif"],
             paths["expected"])
    return paths


@pytest.fixture(scope="session")
def generated_doc(generated: dict[str, Path]) -> dict[str, Any]:
    return orjson.loads(generated["tenant"].read_bytes())


@pytest.fixture
def tenant_doc(generated_doc: dict[str, Any]) -> dict[str, Any]:
    """A private deep copy: writes in one test never leak into another."""
    return copy.deepcopy(generated_doc)


@pytest.fixture
def sample_doc() -> dict[str, Any]:
    return orjson.loads(SAMPLE_TENANT.read_bytes())


Factory = Callable[..., httpx.Client]


@pytest.fixture(params=["in-process", "http"])
def graph(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """Builds a client on an emulator, in-process (ASGI) or over real HTTP on port 0."""
    stack: list[Any] = []

    def make(tenant: Any, config: EmulatorConfig | None = None, **kw: Any) -> httpx.Client:
        app = create_app(tenant, config, **kw)
        if request.param == "in-process":
            client: httpx.Client = TestClient(app, base_url=BASE, raise_server_exceptions=True)
            client.__enter__()
            stack.append(client)
        else:
            ctx = serve_in_thread(app)
            url = ctx.__enter__()
            stack.append(ctx)
            client = httpx.Client(base_url=url, timeout=30)
            stack.append(client)
        client.app = app  # type: ignore[attr-defined]
        return client

    yield make
    for item in reversed(stack):
        item.__exit__(None, None, None)


def emulator_of(client: httpx.Client) -> Any:
    return client.app.state.emulator  # type: ignore[attr-defined]


def follow(client: httpx.Client, url: str, **kw: Any) -> list[dict[str, Any]]:
    """Every item of a collection, following @odata.nextLink."""
    out: list[dict[str, Any]] = []
    r = client.get(url, **kw)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["value"])
        nxt = body.get("@odata.nextLink")
        if not nxt:
            return out
        r = client.get(nxt, headers=kw.get("headers"))
