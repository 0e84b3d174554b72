"""A fake ldap3 connection that behaves like Windows AD where Samba does not.

It answers the calls the adapters make (``search`` with paging, ``modify``, ``unbind``) and sets
``result``/``response`` like ldap3 does. Knobs:

- ``honour_paging=False``: ignore the paged-results control and stop at ``max_page_size`` with
  sizeLimitExceeded (Windows' MaxPageSize = 1000), as a proxy or old server would.
- ``pas``: whether mS-DS-ConsistencyGuid is in the partial attribute set; when the fake is a Global
  Catalog (``gc=True``) and it is not, entries come back without it (what a Windows GC does).
- proxyAddresses values compare case-insensitively (Windows): adding a case variant of an existing
  value fails with attributeOrValueExists; deleting a value matches it case-insensitively.
- ``deny_writes``: every modify fails with insufficientAccessRights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PAGED = "1.2.840.113556.1.4.319"
BASE = "DC=corp,DC=contoso,DC=com"
SCHEMA = f"CN=Schema,CN=Configuration,{BASE}"


def ok(**extra: Any) -> dict[str, Any]:
    return {"result": 0, "description": "success", "message": "", "referrals": None, **extra}


def fail(code: int, description: str, **extra: Any) -> dict[str, Any]:
    return {"result": code, "description": description, "message": "", "referrals": None, **extra}


@dataclass
class FakeAD:
    entries: dict[str, dict[str, list[bytes]]] = field(default_factory=dict)
    honour_paging: bool = True
    max_page_size: int = 1000
    gc: bool = False
    pas: bool = False
    deny_writes: bool = False
    search_result: dict[str, Any] | None = None  # force a result for the subtree search
    modify_result: dict[str, Any] | None = None  # force a result for modify
    paging_supported: bool = True
    calls: list[tuple[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=ok)
    response: list[dict[str, Any]] = field(default_factory=list)
    unbound: bool = False

    # ------------------------------------------------------------ search

    def search(self, search_base: str, search_filter: str, search_scope: str = "SUBTREE", *,
               attributes: Any = None, paged_size: int | None = None, paged_criticality: bool = False,
               paged_cookie: bytes | None = None, **kw: Any) -> bool:
        self.calls.append(("search", (search_base, search_filter, search_scope, paged_size, paged_cookie)))
        if search_base == "" and search_scope == "BASE":
            return self._root_dse()
        if search_base == SCHEMA:
            value = [b"TRUE"] if self.pas else []
            return self._answer([self._entry("CN=ms-DS-Consistency-Guid," + SCHEMA,
                                             {"isMemberOfPartialAttributeSet": value})], ok())
        if search_scope == "BASE":
            e = self.entries.get(search_base)
            if e is None:
                return self._answer([], fail(32, "noSuchObject"))
            return self._answer([self._entry(search_base, self._visible(e, attributes))], ok())
        if self.search_result is not None:
            return self._answer([], self.search_result)
        if paged_criticality and not self.paging_supported:
            return self._answer([], fail(12, "unavailableCriticalExtension"))
        return self._subtree(search_base, attributes, paged_size, paged_cookie)

    def _subtree(self, base: str, attributes: Any, size: int | None, cookie: bytes | None) -> bool:
        dns = [dn for dn in self.entries if dn.lower().endswith(base.lower())]
        start = int(cookie or b"0")
        if not self.honour_paging or not size:
            chunk = dns[: self.max_page_size]
            result = ok() if len(dns) <= self.max_page_size else fail(4, "sizeLimitExceeded")
            return self._answer([self._entry(d, self._visible(self.entries[d], attributes)) for d in chunk], result)
        chunk = dns[start:start + size]
        nxt = start + size
        next_cookie = str(nxt).encode() if nxt < len(dns) else b""
        controls = {PAGED: {"description": "paged", "criticality": False,
                            "value": {"size": len(dns), "cookie": next_cookie}}}
        refs = [{"type": "searchResRef", "uri": [f"ldap://other/{base}"]}] if start == 0 else []
        return self._answer([self._entry(d, self._visible(self.entries[d], attributes)) for d in chunk] + refs,
                            ok(controls=controls))

    def _visible(self, e: dict[str, list[bytes]], attributes: Any) -> dict[str, list[bytes]]:
        want = {a.lower() for a in attributes or []}
        out = {k: v for k, v in e.items() if not want or k.split(";")[0].lower() in want}
        if self.gc and not self.pas:
            out = {k: v for k, v in out.items() if k.lower() != "ms-ds-consistencyguid"}
        return {k: list(v) for k, v in out.items()}

    def _root_dse(self) -> bool:
        controls = [PAGED.encode()] if self.paging_supported else []
        attrs = {"defaultNamingContext": [BASE.encode()], "rootDomainNamingContext": [BASE.encode()],
                 "schemaNamingContext": [SCHEMA.encode()], "supportedControl": controls}
        return self._answer([self._entry("", attrs)], ok())

    @staticmethod
    def _entry(dn: str, raw: dict[str, list[bytes]]) -> dict[str, Any]:
        return {"type": "searchResEntry", "dn": dn, "raw_attributes": raw}

    def _answer(self, response: list[dict[str, Any]], result: dict[str, Any]) -> bool:
        self.response, self.result = response, result
        return result["result"] == 0

    # ------------------------------------------------------------ modify

    def modify(self, dn: str, changes: dict[str, list[tuple[str, list[Any]]]], controls: Any = None) -> bool:
        self.calls.append(("modify", (dn, changes)))
        if self.modify_result is not None:
            return self._answer([], self.modify_result)
        if self.deny_writes:
            return self._answer([], fail(50, "insufficientAccessRights"))
        e = self.entries.get(dn)
        if e is None:
            return self._answer([], fail(32, "noSuchObject"))
        for attr, ops in changes.items():
            code = self._apply(e, attr, ops)
            if code:
                return self._answer([], fail(code, {16: "noSuchAttribute", 20: "attributeOrValueExists"}[code]))
        return self._answer([], ok())

    @staticmethod
    def _apply(e: dict[str, list[bytes]], attr: str, ops: list[tuple[str, list[Any]]]) -> int:
        key = next((k for k in e if k.lower() == attr.lower()), attr)
        vals = list(e.get(key, []))
        def fold(v: object) -> bytes:
            return (v if isinstance(v, bytes) else str(v).encode()).lower()

        for op, new in ops:
            for v in new:
                hit = [x for x in vals if fold(x) == fold(v)]
                if op == "MODIFY_DELETE":
                    if not hit:
                        return 16
                    vals.remove(hit[0])
                elif op == "MODIFY_ADD":
                    if hit:
                        return 20
                    vals.append(v if isinstance(v, bytes) else str(v).encode())
        e[key] = vals
        return 0

    def unbind(self) -> bool:
        self.unbound = True
        return True
