"""reconciler: find and fix Microsoft Entra ID directory-sync duplicate-attribute conflicts."""

from .errors import BadInput, DirectoryError, ReconcilerError, UsageError
from .matcher import match
from .model import CloudObject, CloudSnapshot, Finding, OnPremObject, OnPremSource, Scenario

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
