"""Adapter from plan steps (``executor: ldap``) to the guarded ``fixes.writers.ldapconn.LdapWriter``."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from ...core.anchors import guid_bytes_to_str
from ...core.errors import DirectoryError, DriftDetected
from ..steps import Executor, Step, StepKind

__all__ = ["LdapStepWriter"]

_BINARY = {"ms-ds-consistencyguid": lambda b: base64.b64encode(b).decode("ascii"),
           "objectguid": guid_bytes_to_str,
           "usercertificate": lambda b: base64.b64encode(b).decode("ascii"),
           "usersmimecertificate": lambda b: base64.b64encode(b).decode("ascii")}
_MULTI = {"proxyaddresses", "usercertificate", "usersmimecertificate"}


class LdapStepWriter:
    executor = Executor.LDAP

    def __init__(self, writer: Any) -> None:
        self.w = writer  # reconciler.fixes.writers.ldapconn.LdapWriter (or anything with its methods)

    async def read(self, step: Step) -> dict[str, Any] | None:
        names = list(dict.fromkeys([*step.expect, *step.change]))
        try:
            raw = self.w.read(str(step.dn), names)
        except DriftDetected:
            return None
        out: dict[str, Any] = {}
        for name in names:
            vals = raw.get(name.lower()) or []
            conv = _BINARY.get(name.lower(), lambda b: b.decode("utf-8"))
            decoded = [conv(v) for v in vals]
            out[name] = decoded if name.lower() in _MULTI else (decoded[0] if decoded else None)
        return out

    async def write(self, step: Step, current: Mapping[str, Any] | None) -> None:
        dn, cur = str(step.dn), current or {}
        if step.kind not in (StepKind.SET_USER_PRINCIPAL_NAME, StepKind.REMOVE_PROXY_ADDRESS,
                             StepKind.SET_CONSISTENCY_GUID, StepKind.REMOVE_ATTRIBUTE_VALUE):
            raise DirectoryError(f"step {step.id}: {step.kind.value} is not an LDAP step")
        for attr, spec in step.change.items():
            low = attr.lower()
            if low in ("usercertificate", "usersmimecertificate") and isinstance(spec, Mapping):
                if spec.get("remove"):
                    self.w.remove_binary_values(dn, attr, list(spec["remove"]))
                if spec.get("add"):
                    self.w.add_binary_values(dn, attr, list(spec["add"]))
            elif low == "proxyaddresses" and isinstance(spec, Mapping):
                for v in spec.get("remove") or ():
                    self.w.remove_proxy_address(dn, v)
                for v in spec.get("add") or ():
                    self.w.add_proxy_address(dn, v)
            elif low == "userprincipalname":
                self.w.replace_upn(dn, cur.get(attr), spec)
            elif low == "ms-ds-consistencyguid":
                if spec is None:
                    self.w.clear_consistency_guid(dn, cur.get(attr))
                else:
                    self.w.set_consistency_guid(dn, cur.get(attr), spec)
            else:
                raise DirectoryError(f"step {step.id}: {step.kind.value} cannot write {attr} over LDAP")
