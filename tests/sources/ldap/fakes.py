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
- ``evaluate=True``: subtree searches apply the filter (RFC 4515: ``& | !``, equality, presence and
  ``*`` substrings, ``\\XX`` escapes; text compared case-insensitively, binary attributes byte for
  byte) — what the batched fetch of a scan relies on; a malformed filter raises ``ValueError``.
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
    evaluate: bool = False
    _matched: list[str] | None = None
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
        return self._subtree(search_base, attributes, paged_size, paged_cookie, search_filter)

    def _subtree(self, base: str, attributes: Any, size: int | None, cookie: bytes | None, flt: str = "") -> bool:
        dns = [dn for dn in self.entries if dn.lower().endswith(base.lower())]
        if self.evaluate:  # evaluated once per paged search (the cookie continues it), as a server would
            if cookie is None or self._matched is None:
                test = parse_filter(flt)
                self._matched = [dn for dn in dns if test(self.entries[dn])]
            dns = [dn for dn in self._matched if dn in self.entries]
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


# ------------------------------------------------------------------ a small RFC 4515 filter evaluator

BINARY = {"objectguid", "objectsid", "ms-ds-consistencyguid"}


def _unescape(text: str) -> bytes:
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "\\":
            out.append(int(text[i + 1:i + 3], 16))  # ValueError on a bad escape
            i += 3
        else:
            if text[i] in "()*\x00":
                raise ValueError(f"unescaped {text[i]!r} in an assertion value")
            out += text[i].encode("utf-8")
            i += 1
    return bytes(out)


def parse_filter(flt: str):  # type: ignore[no-untyped-def]
    """``flt`` -> predicate over an entry's raw attributes; raises ValueError on anything malformed."""
    test, end = _parse(flt, 0)
    if end != len(flt):
        raise ValueError(f"trailing text at {end}")
    return test


def _parse(s: str, i: int):  # type: ignore[no-untyped-def]
    if s[i] != "(":
        raise ValueError(f"expected '(' at {i}")
    i += 1
    if s[i] in "&|!":
        op, i, parts = s[i], i + 1, []
        while s[i] == "(":
            part, i = _parse(s, i)
            parts.append(part)
        if s[i] != ")" or not parts or (op == "!" and len(parts) != 1):
            raise ValueError(f"bad {op} at {i}")
        if op == "&":
            return (lambda e: all(p(e) for p in parts)), i + 1
        if op == "|":
            eqs: dict[str, set[bytes]] = {}
            for p in parts:
                eq = getattr(p, "equality", None)
                if eq is None:
                    return (lambda e: any(p(e) for p in parts)), i + 1
                eqs.setdefault(eq[0], set()).add(eq[1])

            def any_equal(e: dict[str, list[bytes]]) -> bool:  # an OR of equalities: one set lookup per value
                for k, vs in e.items():
                    name = k.split(";")[0].lower()
                    want = eqs.get(name)
                    if want and any((v if name in BINARY else v.lower()) in want for v in vs):
                        return True
                return False
            return any_equal, i + 1
        return (lambda e: not parts[0](e)), i + 1
    close = i
    depth_ok = True
    while s[close] != ")":
        if s[close] == "(":
            depth_ok = False
        close += 1
    item = s[i:close]
    if not depth_ok or "=" not in item:
        raise ValueError(f"bad item {item!r}")
    attr, value = item.split("=", 1)
    name = attr.lower()

    def values(e: dict[str, list[bytes]]) -> list[bytes]:
        return [v for k, vs in e.items() if k.split(";")[0].lower() == name for v in vs]

    if value == "*":
        return (lambda e: bool(values(e))), close + 1
    pieces = [_unescape(p) for p in value.split("*")]
    binary = name in BINARY

    def norm(v: bytes) -> bytes:
        return v if binary else v.lower()

    if len(pieces) == 1:
        want = norm(pieces[0])

        def equal(e: dict[str, list[bytes]]) -> bool:
            return any(norm(v) == want for v in values(e))
        equal.equality = (name, want)  # type: ignore[attr-defined]
        return equal, close + 1
    low = [norm(p) for p in pieces]

    def substr(e: dict[str, list[bytes]]) -> bool:
        for v in map(norm, values(e)):
            if not (v.startswith(low[0]) and v.endswith(low[-1])):
                continue
            at = len(low[0])
            for mid in low[1:-1]:
                at = v.find(mid, at)
                if at < 0:
                    break
                at += len(mid)
            else:
                if at <= len(v) - len(low[-1]):
                    return True
        return False
    return substr, close + 1
