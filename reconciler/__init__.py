"""reconciler: find and fix Microsoft Entra ID directory-sync duplicate-attribute conflicts.

From Python (docs/library.md)::

    import reconciler
    outcome = reconciler.scan(tenant="tenant.json", onprem=["corp.ldif"], db="reconciler.db")
    for finding in outcome.result.findings:
        print(finding.id, finding.scenario.value, finding.error.value)

The public names are imported on first use (PEP 562), so `reconciler --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # use cases (reconciler.library)
    "Sources",
    "scan",
    "scan_async",
    "explain",
    "plan",
    "apply",
    "apply_async",
    "report",
    # their options and results
    "ApplyOptions",
    "ApplyReport",
    "Explanation",
    "NullProgress",
    "Plan",
    "PlanOptions",
    "Progress",
    "Report",
    "ScanOutcome",
    "StepOutcome",
    # the model
    "CloudObject",
    "CloudSnapshot",
    "Finding",
    "OnPremObject",
    "OnPremSource",
    "Scenario",
    "match",
    # the exception tree
    "ReconcilerError",
    "UsageError",
    "BadInput",
    "UnsafePlan",
    "PlanMismatch",
    "DriftDetected",
    "DirectoryError",
    "NetworkError",
    "AuthError",
    "PermissionDenied",
    "ConstraintViolation",
    "ThrottledError",
]

_ERRORS = ("ReconcilerError", "UsageError", "BadInput", "UnsafePlan", "PlanMismatch", "DriftDetected", "DirectoryError",
           "NetworkError", "AuthError", "PermissionDenied", "ConstraintViolation", "ThrottledError")
_LIBRARY = ("Sources", "scan", "scan_async", "explain", "plan", "apply", "apply_async", "report", "ApplyOptions",
            "ApplyReport", "Explanation", "NullProgress", "Plan", "PlanOptions", "Progress", "Report", "ScanOutcome",
            "StepOutcome")
_HOMES = {
    **dict.fromkeys(_ERRORS, "core.errors"), **dict.fromkeys(_LIBRARY, "library"),
    "CloudObject": "core.model", "CloudSnapshot": "core.model", "Finding": "core.model", "OnPremObject": "core.model",
    "OnPremSource": "core.model", "Scenario": "core.model", "match": "core.matcher",
}

if TYPE_CHECKING:
    from .core.errors import (
        AuthError,
        BadInput,
        ConstraintViolation,
        DirectoryError,
        DriftDetected,
        NetworkError,
        PermissionDenied,
        PlanMismatch,
        ReconcilerError,
        ThrottledError,
        UnsafePlan,
        UsageError,
    )
    from .core.matcher import match
    from .core.model import CloudObject, CloudSnapshot, Finding, OnPremObject, OnPremSource, Scenario
    from .library import (
        ApplyOptions,
        ApplyReport,
        Explanation,
        NullProgress,
        Plan,
        PlanOptions,
        Progress,
        Report,
        ScanOutcome,
        Sources,
        StepOutcome,
        apply,
        apply_async,
        explain,
        plan,
        report,
        scan,
        scan_async,
    )


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
