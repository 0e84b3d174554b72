"""A local Microsoft Graph v1.0 for one tenant file: strict where Graph is strict.

Usage::

    from reconciler.emulator import create_app, EmulatorConfig, serve_in_thread
    app = create_app("tenant.json", EmulatorConfig(page_size=100, throttle="graph"))
    with serve_in_thread(app) as base_url:      # http://127.0.0.1:PORT/v1.0
        ...
    app.state.emulator.stats, app.state.emulator.log, app.state.emulator.state

Or in-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1.0")``.

The HTTP parts need the ``emulator`` extra (``pip install 'entra-reconciler[emulator]'``: starlette, uvicorn);
the tenant generator (:mod:`.generate`) does not, so names are imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["THROTTLE_PROFILES", "EmulatedReset", "Emulator", "EmulatorConfig", "create_app", "serve_in_thread"]

_HOMES = {"EmulatedReset": "app", "Emulator": "app", "create_app": "app", "THROTTLE_PROFILES": "config",
          "EmulatorConfig": "config", "serve_in_thread": "server"}

if TYPE_CHECKING:
    from .app import EmulatedReset, Emulator, create_app
    from .config import THROTTLE_PROFILES, EmulatorConfig
    from .server import serve_in_thread


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
