"""The emulator's named fault modes on the wire, and the client's answers to them, in-process."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from reconciler.core.errors import AuthError
from reconciler.core.matcher import match
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.sources.base import NullProgress
from reconciler.sources.graph import GraphSource
from reconciler.sources.graph_http import GraphHttp

from .conftest import SAMPLE

pytestmark = pytest.mark.faults
ALL = {"User.Read.All", "Group.Read.All", "OrgContact.Read.All", "RoleManagement.Read.Directory",
       "Organization.Read.All", "OnPremDirectorySynchronization.Read.All"}


def test_unknown_fault_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault mode 'teapot'"):
        EmulatorConfig(faults={"teapot": 0.5})
    with pytest.raises(ValueError, match="between 0 and 1"):
        EmulatorConfig(faults={"5xx": 2.0})


def test_truncate_sends_a_200_with_half_a_body() -> None:
    app = create_app(SAMPLE, EmulatorConfig(faults={"truncate": 1.0}))
    with serve_in_thread(app) as url:
        r = httpx.get(f"{url}/users?$select=id")
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content) > 10
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)


def test_reset_drops_the_connection_mid_body() -> None:
    app = create_app(SAMPLE, EmulatorConfig(faults={"reset": 1.0}))
    with serve_in_thread(app) as url, pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{url}/users?$select=id")


def test_next_link_faults_hit_only_followed_links_and_page_cap_makes_chains() -> None:
    app = create_app(SAMPLE, EmulatorConfig(page_cap=2, faults={"nextlink_410": 1.0}))
    with serve_in_thread(app) as url:
        first = httpx.get(f"{url}/users?$top=999&$select=id")
        assert first.status_code == 200 and len(first.json()["value"]) == 2
        gone = httpx.get(first.json()["@odata.nextLink"])
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "resyncRequired"


def test_fault_after_and_limit_make_a_burst() -> None:
    app = create_app(SAMPLE, EmulatorConfig(faults={"5xx": 1.0}, fault_after=2, fault_limit=4, time_scale=0.001))
    with serve_in_thread(app) as url:
        codes = [httpx.get(f"{url}/organization").status_code for _ in range(8)]
    assert codes == [200, 200, 500, 502, 503, 504, 200, 200]


# ---------------------------------------------------------------- the client, in-process (ASGITransport)


class RotatingToken:
    """A credential whose cached token expired: ``invalidate()`` makes the next call fetch a new one."""

    def __init__(self) -> None:
        self.current = "token-1"
        self.calls = 0
        self.invalidated = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.current

    def invalidate(self) -> None:
        self.invalidated += 1
        self.current = f"token-{self.invalidated + 1}"


def _read(app: Any, tokens: Any) -> Any:
    def factory() -> GraphHttp:
        return GraphHttp("http://emulator/v1.0", tokens, transport=httpx.ASGITransport(app),
                         backoff_base=0.001, backoff_cap=0.01)
    return asyncio.run(GraphSource(factory, strategy="full").read(NullProgress()))


def _findings(snapshot: Any) -> list[dict[str, Any]]:
    return [f.data() for f in match(snapshot)]


def test_expired_token_is_refreshed_and_the_fresh_one_is_used() -> None:
    clean = _findings(_read(create_app(SAMPLE, EmulatorConfig()), None))
    # after 5 requests one answer says token-1 expired; the client asks for a fresh one (token-2)
    app = create_app(SAMPLE, EmulatorConfig(permissions={"token-1": ALL, "token-2": ALL},
                                            faults={"expire": 1.0}, fault_after=5, fault_limit=1))
    tokens = RotatingToken()
    assert _findings(_read(app, tokens)) == clean
    assert tokens.invalidated == 1 and tokens.current == "token-2"


def test_refused_fresh_token_is_an_auth_error_not_a_loop() -> None:
    app = create_app(SAMPLE, EmulatorConfig(permissions={"token-1": ALL}, faults={"expire": 1.0},
                                            fault_after=5, fault_limit=1))
    tokens = RotatingToken()  # the refresh yields token-2, which this tenant does not accept
    with pytest.raises(AuthError, match="401 InvalidAuthenticationToken"):
        _read(app, tokens)
    assert tokens.invalidated >= 1


def test_resets_in_process_lose_nothing() -> None:
    clean = _findings(_read(create_app(SAMPLE, EmulatorConfig()), None))
    app = create_app(SAMPLE, EmulatorConfig(faults={"reset": 0.4, "truncate": 0.2}, seed=9))
    assert _findings(_read(app, None)) == clean
    assert app.state.emulator.stats["faults"] > 0


def test_reliability_doc_table_names_real_fault_tests() -> None:
    import re
    from pathlib import Path

    from . import test_faults

    doc = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text()
    named = set(re.findall(r"`(test_\w+)(?:\[\w+\])?`", doc))
    assert len(named) >= 14
    assert named == {n for n in dir(test_faults) if n.startswith("test_")}
