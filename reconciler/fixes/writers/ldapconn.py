"""Guarded writes to Active Directory over LDAP (used by ``apply`` for ``executor: ldap`` steps).

Every write first reads the target and compares it with what the plan expected; a mismatch raises
:class:`~reconciler.core.errors.DriftDetected` and nothing is written. The change itself is sent so that
the directory re-checks the old value atomically: a value swap is one modify that deletes the old
value and adds the new one (it fails with noSuchAttribute when someone changed the value in
between), so a race is reported as drift too, never as a blind overwrite.

Result codes map to our errors:

=========================  ===================================================================
constraintViolation (19)   :class:`ConstraintViolation` (exit 5), e.g. the UPN is already used
                           in the forest (AD enforces forest-wide UPN uniqueness)
insufficientAccessRights   :class:`~reconciler.core.errors.PermissionDenied` (exit 5), names the
(50)                       attribute and DN
noSuchAttribute (16),      :class:`~reconciler.core.errors.DriftDetected` (exit 4): the value changed
attributeOrValueExists     between the guard and the write
(20), noSuchObject (32)
anything else              :class:`~reconciler.core.errors.DirectoryError` (exit 5)
=========================  ===================================================================

Usage::

    writer = LdapWriter.connect(LdapSettings.from_url("ldaps://dc1:636", bind_dn=..., password=...))
    with writer:
        writer.replace_upn(dn, expected="a@contoso.com", new="a2@contoso.com")
        writer.remove_proxy_address(dn, "smtp:priya@contoso.com")
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any, Self

from ...core.errors import ConstraintViolation, DriftDetected, PermissionDenied, UsageError
from ...sources.ldap import (
    CONSTRAINT_VIOLATION,
    INSUFFICIENT_ACCESS,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    SUCCESS,
    VALUE_EXISTS,
    LdapConnection,
    LdapSettings,
    normalize_raw,
    open_connection,
    raise_for_result,
)

__all__ = ["ConstraintViolation", "LdapWriter"]

UPN = "userPrincipalName"
PROXY = "proxyAddresses"
CGUID = "mS-DS-ConsistencyGuid"


def _b64(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"{what}: {value!r} is not base64") from None
    if len(raw) != 16:
        raise UsageError(f"{what}: mS-DS-ConsistencyGuid must be 16 bytes, got {len(raw)}")
    return raw


def _b64_any(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"{what}: a value is not base64") from None


class LdapWriter:
    """Guarded single-attribute writes on one bound connection.

    Every method raises :class:`DriftDetected` when the object does not hold what the caller
    expected, and returns ``None`` after a successful write. Use :meth:`read` to re-check a target
    (e.g. when resuming: "already changed" vs "still as expected").
    """

    def __init__(self, conn: LdapConnection, label: str = "ldap") -> None:
        self.conn = conn
        self.label = label

    @classmethod
    def connect(cls, settings: LdapSettings) -> LdapWriter:
        """Open a writable, bound connection (StartTLS/LDAPS as for reading)."""
        return cls(open_connection(settings, read_only=False), settings.url)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.unbind()

    # ------------------------------------------------------------ reading

    def read(self, dn: str, attributes: Sequence[str] = (UPN, PROXY, CGUID)) -> dict[str, list[bytes]]:
        """Current raw values of ``attributes`` on ``dn`` (lower-case keys; missing = absent).

        Raises :class:`DriftDetected` when the object does not exist any more.
        """
        self.conn.search(dn, "(objectClass=*)", "BASE", attributes=list(attributes))
        result = self.conn.result or {}
        if result.get("result") == NO_SUCH_OBJECT:
            raise DriftDetected(f"{self.label}: {dn} no longer exists")
        raise_for_result(self.label, result, f"reading {dn}")
        for e in self.conn.response or []:
            if e.get("type") == "searchResEntry":
                return normalize_raw(e.get("raw_attributes") or {})
        raise DriftDetected(f"{self.label}: {dn} no longer exists")

    def _text(self, dn: str, attr: str) -> str | None:
        vals = self.read(dn, [attr]).get(attr.lower())
        return vals[0].decode("utf-8") if vals else None

    # ------------------------------------------------------------ userPrincipalName

    def replace_upn(self, dn: str, expected: str | None, new: str) -> None:
        """Set userPrincipalName to ``new`` if it is ``expected`` now (``None``: not set).

        The comparison is case-insensitive, like AD's matching rule for the attribute.
        """
        current = self._text(dn, UPN)
        if (current or "").casefold() != (expected or "").casefold():
            raise DriftDetected(f"{self.label}: {dn}: userPrincipalName is {current!r}, "
                                f"the plan expected {expected!r}")
        changes: dict[str, list[tuple[str, list[Any]]]] = {UPN: []}
        if current is not None:
            changes[UPN].append(("MODIFY_DELETE", [current]))
        changes[UPN].append(("MODIFY_ADD", [new]))
        self._modify(dn, changes, UPN, new)

    # ------------------------------------------------------------ proxyAddresses

    def remove_proxy_address(self, dn: str, value: str) -> str:
        """Remove one proxyAddresses value, matched case-insensitively (``smtp:x`` finds ``SMTP:X``).

        Returns the stored form that was removed. Drift when no such value is present.
        """
        stored = self._find_proxy(dn, value)
        if stored is None:
            raise DriftDetected(f"{self.label}: {dn}: proxyAddresses no longer contains {value!r}")
        self._modify(dn, {PROXY: [("MODIFY_DELETE", [stored])]}, PROXY, value)
        return stored

    def add_proxy_address(self, dn: str, value: str) -> None:
        """Add one proxyAddresses value; drift when it (in any letter case) is already there.

        Windows AD treats ``smtp:A@x`` and ``smtp:a@x`` as the same value (attributeOrValueExists);
        Samba does not, so the guard checks case-insensitively itself.
        """
        stored = self._find_proxy(dn, value)
        if stored is not None:
            raise DriftDetected(f"{self.label}: {dn}: proxyAddresses already contains {stored!r}")
        self._modify(dn, {PROXY: [("MODIFY_ADD", [value])]}, PROXY, value)

    def _find_proxy(self, dn: str, value: str) -> str | None:
        want = value.casefold()
        for v in self.read(dn, [PROXY]).get(PROXY.lower(), []):
            text = v.decode("utf-8")
            if text.casefold() == want:
                return text
        return None

    # ------------------------------------------------------------ mS-DS-ConsistencyGuid

    def set_consistency_guid(self, dn: str, expected: str | None, new: str) -> None:
        """Set mS-DS-ConsistencyGuid to ``new`` (base64 of the 16 bytes, as an immutable id)
        if it holds ``expected`` now (base64, or ``None`` for empty)."""
        raw_new = _b64(new, "new consistency guid")
        current = self._consistency_guid(dn)
        if current != expected:
            raise DriftDetected(f"{self.label}: {dn}: mS-DS-ConsistencyGuid is {current!r}, "
                                f"the plan expected {expected!r}")
        ops: list[tuple[str, list[Any]]] = []
        if current is not None:
            ops.append(("MODIFY_DELETE", [base64.b64decode(current)]))
        ops.append(("MODIFY_ADD", [raw_new]))
        self._modify(dn, {CGUID: ops}, CGUID, new)

    def clear_consistency_guid(self, dn: str, expected: str) -> None:
        """Remove mS-DS-ConsistencyGuid if it holds ``expected`` (base64) now."""
        current = self._consistency_guid(dn)
        if current != expected:
            raise DriftDetected(f"{self.label}: {dn}: mS-DS-ConsistencyGuid is {current!r}, "
                                f"the plan expected {expected!r}")
        self._modify(dn, {CGUID: [("MODIFY_DELETE", [base64.b64decode(expected)])]}, CGUID, None)

    def _consistency_guid(self, dn: str) -> str | None:
        vals = self.read(dn, [CGUID]).get(CGUID.lower())
        return base64.b64encode(vals[0]).decode("ascii") if vals else None

    # ------------------------------------------------------------ binary values (certificates)

    def remove_binary_values(self, dn: str, attr: str, values_b64: Sequence[str]) -> None:
        """Remove the listed values (base64 of the raw bytes) of a multi-valued binary attribute such as
        userCertificate; drift when any of them is no longer there (nothing is removed then)."""
        raw = [_b64_any(v, attr) for v in values_b64]
        present = set(self.read(dn, [attr]).get(attr.lower(), []))
        missing = [v for v, r in zip(values_b64, raw) if r not in present]
        if missing:
            raise DriftDetected(f"{self.label}: {dn}: {attr} no longer holds {len(missing)} of the values to remove")
        self._modify(dn, {attr: [("MODIFY_DELETE", raw)]}, attr, None)

    def add_binary_values(self, dn: str, attr: str, values_b64: Sequence[str]) -> None:
        """Add values (base64 of the raw bytes) back to a multi-valued binary attribute (undo of a removal)."""
        raw = [_b64_any(v, attr) for v in values_b64]
        present = set(self.read(dn, [attr]).get(attr.lower(), []))
        if any(r in present for r in raw):
            raise DriftDetected(f"{self.label}: {dn}: {attr} already holds a value to add back")
        self._modify(dn, {attr: [("MODIFY_ADD", raw)]}, attr, None)

    # ------------------------------------------------------------ the write

    def _modify(self, dn: str, changes: Mapping[str, list[tuple[str, list[Any]]]], attr: str,
                value: str | None) -> None:
        import ldap3

        ops = {name: [(getattr(ldap3, op), vals) for op, vals in steps] for name, steps in changes.items()}
        self.conn.modify(dn, ops)
        self._check(dn, self.conn.result or {}, attr, value)

    def _check(self, dn: str, result: Mapping[str, Any], attr: str, value: str | None) -> None:
        code = result.get("result")
        if code == SUCCESS:
            return
        where = f"{self.label}: {dn}: {attr}"
        if code == INSUFFICIENT_ACCESS:
            raise PermissionDenied(f"{where}: the bind identity may not write this attribute "
                                   "(insufficientAccessRights); grant Write on it or use another account")
        if code == CONSTRAINT_VIOLATION:
            raise ConstraintViolation(f"{where}: the directory refused {value!r} (constraintViolation"
                                      f"{', probably already used by another object' if attr == UPN else ''})")
        if code in (NO_SUCH_ATTRIBUTE, VALUE_EXISTS, NO_SUCH_OBJECT):
            raise DriftDetected(f"{where}: changed while writing ({result.get('description')}); "
                                "re-read and re-plan")
        raise_for_result(self.label, result, f"writing {attr} on {dn}")
