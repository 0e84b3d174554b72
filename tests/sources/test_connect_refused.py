"""A Graph URL where nothing listens fails in seconds, saying so; -v shows each retry and its wait."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from reconciler.core.errors import NetworkError
from reconciler.sources.graph_http import GraphHttp
from tests.conftest import ROOT


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_scan_against_a_closed_port_fails_in_seconds_and_says_why(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1.0"
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "reconciler", "scan", "--graph-url", url, "--auth", "none",
                        "--db", str(tmp_path / "r.db"), "-v"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    took = time.monotonic() - start
    assert r.returncode == 5 and took < 15, (took, r.stderr)
    assert "connection refused" in r.stderr and "Traceback" not in r.stderr
    retries = [line for line in r.stderr.splitlines() if "retrying in" in line]
    # -v: each retry, its attempt number and its wait (requests in flight at once each say so)
    assert retries and all(re.search(r"attempt [12] of 3 failed, retrying in \d+\.\d s$", line) for line in retries), \
        r.stderr


def test_without_verbose_a_pipe_sees_only_the_error(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1.0"
    r = subprocess.run([sys.executable, "-m", "reconciler", "scan", "--graph-url", url, "--auth", "none",
                        "--db", str(tmp_path / "r.db")], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 5 and "retrying" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _count(exc: Exception, **kw: object) -> tuple[int, list[float], list[str]]:
    calls, waits, told = [0], [], []

    def handler(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        raise exc

    async def sleep(s: float) -> None:
        waits.append(s)

    async def go() -> None:
        async with GraphHttp("http://graph.test/v1.0", None, transport=httpx.MockTransport(handler), sleep=sleep,
                             on_retry=told.append, **kw) as http:  # type: ignore[arg-type]
            await http.get_json("/users")

    with pytest.raises(NetworkError):
        asyncio.run(go())
    return calls[0], waits, told


def test_a_refused_connection_gets_a_few_quick_attempts_a_reset_gets_the_full_budget():
    refused, waits, told = _count(httpx.ConnectError("[Errno 111] Connection refused"))
    assert refused == 3 and all(w <= 2.0 for w in waits) and len(told) == 2
    reset, _, _ = _count(httpx.ReadError("connection reset by peer"), max_attempts=6)
    assert reset == 6  # a reset mid-read is transient: the normal retry budget
