"""A local Microsoft Graph v1.0 for one tenant file: strict where Graph is strict.

Usage::

    from reconciler.emulator import create_app, EmulatorConfig, serve_in_thread
    app = create_app("tenant.json", EmulatorConfig(page_size=100, throttle="graph"))
    with serve_in_thread(app) as base_url:      # http://127.0.0.1:PORT/v1.0
        ...
    app.state.emulator.stats, app.state.emulator.log, app.state.emulator.state

Or in-process: ``httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://emulator/v1.0")``.
"""

from .app import EmulatedReset, Emulator, create_app
from .config import THROTTLE_PROFILES, EmulatorConfig
from .server import serve_in_thread

__all__ = ["THROTTLE_PROFILES", "EmulatedReset", "Emulator", "EmulatorConfig", "create_app", "serve_in_thread"]
