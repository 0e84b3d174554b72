"""reconciler: find and fix Microsoft Entra ID directory-sync duplicate-attribute conflicts.

The public names are imported on first use (PEP 562), so `reconciler --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "BadInput",
    "CloudObject",
    "CloudSnapshot",
    "DirectoryError",
    "Finding",
    "OnPremObject",
    "OnPremSource",
    "ReconcilerError",
    "Scenario",
    "UsageError",
    "match",
]

_HOMES = {
    "BadInput": "core.errors", "DirectoryError": "core.errors", "ReconcilerError": "core.errors", "UsageError": "core.errors",
    "CloudObject": "core.model", "CloudSnapshot": "core.model", "Finding": "core.model", "OnPremObject": "core.model",
    "OnPremSource": "core.model", "Scenario": "core.model", "match": "core.matcher",
}

if TYPE_CHECKING:
    from .core.errors import BadInput, DirectoryError, ReconcilerError, UsageError
    from .core.matcher import match
    from .core.model import CloudObject, CloudSnapshot, Finding, OnPremObject, OnPremSource, Scenario


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
