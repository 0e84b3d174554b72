"""JSON Schemas (draft 2020-12) of every file reconciler reads or writes; described in docs/formats.md.

``reconciler schema NAME`` prints one. Each schema allows keys it does not name wherever the format
keeps unknown keys (readers ignore what they do not know), except the config file, whose unknown keys
are refused.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["NAMES", "load", "text"]

#: name -> the ``schema`` value the document declares (the config file, TOML, declares none)
NAMES: dict[str, str | None] = {
    "tenant": "reconciler.tenant/1",
    "findings": "reconciler.findings/1",
    "plan": "reconciler.plan/1",
    "report": "reconciler.report/1",
    "checks": "reconciler.checks/1",
    "config": None,
}


def text(name: str) -> str:
    """The schema file's text; ``KeyError`` for a name not in :data:`NAMES`."""
    if name not in NAMES:
        raise KeyError(name)
    return (resources.files(__name__) / f"{name}.schema.json").read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """The schema as a dict."""
    value: dict[str, Any] = json.loads(text(name))
    return value
