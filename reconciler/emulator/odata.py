"""A small, real OData ``$filter`` parser for the subset Graph directory objects accept.

Tokenizer + recursive descent into a tiny AST (tuples), a policy check that
says whether an expression is allowed by default, only as an advanced query
(``ConsistencyLevel: eventual`` + ``$count=true``), or never; an evaluator; and
a planner that answers indexed expressions (``eq``/``in`` on
``userPrincipalName``, ``mail``, ``id``, ``proxyAddresses/any(...)``,
provisioning errors) from the collection's indexes instead of scanning.

AST nodes::

    ("or", [n, ...])  ("and", [n, ...])  ("not", n)
    ("cmp", op, path, value)          op in eq ne gt ge lt le; path a tuple of names
    ("in", path, [values])
    ("func", name, path, value)       startswith / endswith / contains
    ("any", path, var, body)          body paths are relative: () is the item itself
    ("count", path, op, value)        prop/$count eq 0
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_CLAUSES", "FilterError", "candidates", "check_filter", "evaluate", "parse_filter"]

MAX_CLAUSES = 15


class FilterError(Exception):
    """A filter Graph would reject; ``code`` is the Graph error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _unsupported(msg: str) -> FilterError:
    return FilterError("Request_UnsupportedQuery", msg)


# ---------------------------------------------------------------- tokenizer

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<date>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<name>\$?[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[()/,:])
""", re.VERBOSE)


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterError("BadRequest", f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(Tok(kind, m.group(), pos))
        pos = m.end()
    return out


# ---------------------------------------------------------------- parser

_CMP = ("eq", "ne", "gt", "ge", "lt", "le")
_FUNCS = ("startswith", "endswith", "contains")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.vars: list[str] = []

    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def is_word(self, word: str, offset: int = 0) -> bool:
        t = self.peek(offset)
        return t is not None and t.kind == "name" and t.text.lower() == word

    def expect(self, text: str) -> Tok:
        t = self.peek()
        if t is None or t.text != text:
            self.fail(f"expected '{text}'")
        self.i += 1
        return t  # type: ignore[return-value]

    def fail(self, what: str) -> None:
        t = self.peek()
        where = f"position {t.pos}" if t else "end of expression"
        raise FilterError("BadRequest", f"Invalid filter clause: {what} at {where} in '{self.text}'.")

    def parse(self) -> tuple[Any, ...]:
        node = self.or_expr()
        if self.peek() is not None:
            self.fail("unexpected token")
        return node

    def or_expr(self) -> tuple[Any, ...]:
        items = [self.and_expr()]
        while self.is_word("or"):
            self.i += 1
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else ("or", items)

    def and_expr(self) -> tuple[Any, ...]:
        items = [self.unary()]
        while self.is_word("and"):
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else ("and", items)

    def unary(self) -> tuple[Any, ...]:
        if self.is_word("not"):
            self.i += 1
            return ("not", self.unary())
        t = self.peek()
        if t is not None and t.text == "(":
            self.i += 1
            node = self.or_expr()
            self.expect(")")
            return node
        if t is not None and t.kind == "name" and t.text.lower() in _FUNCS:
            return self.func()
        return self.comparison()

    def func(self) -> tuple[Any, ...]:
        name = self.peek().text.lower()  # type: ignore[union-attr]
        self.i += 1
        self.expect("(")
        path = self.path()
        self.expect(",")
        value = self.literal()
        self.expect(")")
        return ("func", name, path, value)

    def comparison(self) -> tuple[Any, ...]:
        path = self.path()
        if isinstance(path, tuple) and path and path[0] == "any":
            return path
        if path[-1:] == ("$count",):
            op, value = self.operator(), self.literal()
            return ("count", path[:-1], op, value)
        if self.is_word("in"):
            self.i += 1
            self.expect("(")
            values = [self.literal()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.i += 1
                values.append(self.literal())
            self.expect(")")
            return ("in", path, values)
        op = self.operator()
        return ("cmp", op, path, self.literal())

    def operator(self) -> str:
        t = self.peek()
        if t is None or t.kind != "name" or t.text.lower() not in _CMP:
            self.fail("expected a comparison operator (eq, ne, gt, ge, lt, le) or 'in'")
        self.i += 1
        return t.text.lower()  # type: ignore[union-attr]

    def path(self) -> tuple[Any, ...]:
        t = self.peek()
        if t is None or t.kind != "name" or t.text.lower() in ("and", "or", "not", "true", "false", "null"):
            self.fail("expected a property name")
        self.i += 1
        parts: list[str] = [t.text]  # type: ignore[union-attr]
        while self.peek() is not None and self.peek().text == "/":  # type: ignore[union-attr]
            self.i += 1
            seg = self.peek()
            if seg is None or seg.kind != "name":
                self.fail("expected a property name after '/'")
            self.i += 1
            if seg.text.lower() in ("any", "all"):  # type: ignore[union-attr]
                return self.lambda_(tuple(parts), seg.text.lower())  # type: ignore[union-attr]
            parts.append(seg.text)  # type: ignore[union-attr]
        if self.vars and parts[0] in self.vars:
            return ("$item",) + tuple(parts[1:])
        return tuple(parts)

    def lambda_(self, path: tuple[str, ...], kind: str) -> tuple[Any, ...]:
        if kind == "all":
            raise _unsupported("Lambda operator 'all' is not supported.")
        self.expect("(")
        var = self.peek()
        if var is None or var.kind != "name":
            self.fail("expected a lambda variable")
        self.i += 1
        self.expect(":")
        self.vars.append(var.text)  # type: ignore[union-attr]
        body = self.or_expr()
        self.vars.pop()
        self.expect(")")
        return ("any", path, var.text, body)  # type: ignore[union-attr]

    def literal(self) -> Any:
        t = self.peek()
        if t is None:
            self.fail("expected a value")
        self.i += 1
        if t.kind == "str":  # type: ignore[union-attr]
            return t.text[1:-1].replace("''", "'")  # type: ignore[union-attr]
        if t.kind in ("guid", "date"):  # type: ignore[union-attr]
            return t.text  # type: ignore[union-attr]
        if t.kind == "num":  # type: ignore[union-attr]
            return float(t.text) if "." in t.text else int(t.text)  # type: ignore[union-attr]
        word = t.text.lower()  # type: ignore[union-attr]
        if word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word]
        self.i -= 1
        self.fail("expected a value (quoted string, number, true, false, null)")
        return None  # pragma: no cover


def parse_filter(text: str) -> tuple[Any, ...]:
    if not text.strip():
        raise FilterError("BadRequest", "Invalid filter clause: empty expression.")
    return _Parser(text).parse()


# ---------------------------------------------------------------- policy

_DEFAULT_EQ = {"id", "userPrincipalName", "mail", "displayName", "givenName", "surname", "mailNickname",
               "userType", "accountEnabled", "onPremisesImmutableId", "onPremisesSamAccountName",
               "onPremisesSecurityIdentifier", "securityEnabled", "mailEnabled", "employeeId",
               "jobTitle", "companyName", "roleDefinitionId", "principalId", "directoryScopeId",
               "roleTemplateId", "isAssignableToRole"}
_DEFAULT_STARTSWITH = {"userPrincipalName", "mail", "displayName", "givenName", "surname", "mailNickname"}
_DEFAULT_RANGE = {"createdDateTime"}
_ANY = {"proxyAddresses": {"$item"}, "onPremisesProvisioningErrors": {"category", "propertyCausingError", "value"},
        "assignedLicenses": {"skuId"}, "groupTypes": {"$item"}, "otherMails": {"$item"}, "businessPhones": {"$item"}}
_NEVER_ANY = {"serviceProvisioningErrors"}


@dataclass
class FilterCheck:
    clauses: int = 0
    advanced: bool = False


def check_filter(node: tuple[Any, ...], type_name: str, known: set[str]) -> FilterCheck:
    """Raise ``FilterError`` for what Graph never accepts; report clause count and advanced use."""
    fc = FilterCheck()
    _check(node, fc, type_name, known)
    if fc.clauses > MAX_CLAUSES:
        raise _unsupported(f"The filter has {fc.clauses} clauses; Microsoft Graph accepts at most "
                           f"{MAX_CLAUSES} in one $filter.")
    return fc


def _prop(path: tuple[Any, ...], type_name: str, known: set[str]) -> str:
    name = path[0]
    if name not in known:
        raise FilterError("Request_BadRequest", f"Could not find a property named '{name}' on type "
                          f"'microsoft.graph.{type_name}'.")
    if len(path) > 1:
        raise _unsupported(f"Unsupported query: property path '{'/'.join(path)}'.")
    return str(name)


def _check(node: tuple[Any, ...], fc: FilterCheck, type_name: str, known: set[str]) -> None:
    kind = node[0]
    if kind in ("or", "and"):
        for child in node[1]:
            _check(child, fc, type_name, known)
    elif kind == "not":
        fc.advanced = True
        _check(node[1], fc, type_name, known)
    elif kind == "cmp":
        _check_cmp(node, fc, _prop(node[2], type_name, known))
    elif kind == "in":
        name = _prop(node[1], type_name, known)
        fc.clauses += len(node[2])
        if name not in _DEFAULT_EQ:
            fc.advanced = True
    elif kind == "func":
        _check_func(node, fc, _prop(node[2], type_name, known))
    elif kind == "any":
        _check_any(node, fc, type_name, known)
    else:  # count
        _check_count(node, fc, type_name, known)


def _check_cmp(node: tuple[Any, ...], fc: FilterCheck, name: str) -> None:
    op, value = node[1], node[3]
    fc.clauses += 1
    if op == "ne" or value is None:
        fc.advanced = True
    elif op == "eq":
        fc.advanced = fc.advanced or name not in _DEFAULT_EQ
    elif name not in _DEFAULT_RANGE:
        fc.advanced = True


def _check_func(node: tuple[Any, ...], fc: FilterCheck, name: str) -> None:
    fc.clauses += 1
    if node[1] == "contains":
        raise _unsupported("Unsupported Query: 'contains' is not supported on directory objects.")
    if node[1] == "endswith" or name not in _DEFAULT_STARTSWITH:
        fc.advanced = True


def _check_any(node: tuple[Any, ...], fc: FilterCheck, type_name: str, known: set[str]) -> None:
    _, path, _var, body = node
    name = path[0] if path else ""
    if name in _NEVER_ANY:
        raise _unsupported(f"Unsupported or invalid query filter clause specified for property '{name}' "
                           f"of resource '{type_name}'.")
    _prop(path, type_name, known)
    allowed = _ANY.get(name)
    if allowed is None:
        raise _unsupported(f"Unsupported query: any() on property '{name}'.")
    for leaf in _leaves(body):
        inner = leaf[2] if leaf[0] in ("cmp", "func") else leaf[1]
        member = "$item" if inner == ("$item",) else (inner[1] if len(inner) == 2 else None)
        if member not in allowed:
            raise _unsupported(f"Unsupported query: '{'/'.join(map(str, inner))}' inside {name}/any().")
        if leaf[0] == "cmp" and leaf[3] is None and name == "onPremisesProvisioningErrors":
            raise _unsupported("Unsupported query: 'eq null' on onPremisesProvisioningErrors.")
        if leaf[0] == "cmp" and leaf[1] == "ne":
            fc.advanced = True
        if leaf[0] == "func" and (leaf[1] != "startswith" or name != "proxyAddresses"):
            raise _unsupported(f"Unsupported query: {leaf[1]}() inside {name}/any().")
        fc.clauses += len(leaf[2]) if leaf[0] == "in" else 1


def _leaves(node: tuple[Any, ...]) -> Iterable[tuple[Any, ...]]:
    if node[0] in ("or", "and"):
        for child in node[1]:
            yield from _leaves(child)
    elif node[0] == "not":
        raise _unsupported("Unsupported query: not() inside a lambda.")
    elif node[0] in ("cmp", "in", "func"):
        yield node
    else:
        raise _unsupported("Unsupported query: nested lambda or $count.")


def _check_count(node: tuple[Any, ...], fc: FilterCheck, type_name: str, known: set[str]) -> None:
    _, path, op, value = node
    _prop(path, type_name, known)
    fc.clauses += 1
    fc.advanced = True
    if op not in ("eq", "ne") or value != 0:
        raise _unsupported(f"Unsupported query: {'/'.join(path)}/$count {op} {value}; only 'eq 0' and "
                           f"'ne 0' are supported.")


# ---------------------------------------------------------------- evaluation


def _fold(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    cur = obj
    for part in path:
        if part == "$item":
            continue
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = _fold(left), _fold(right)
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        return bool({"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op])
    except TypeError:
        return False


def evaluate(node: tuple[Any, ...], obj: Any) -> bool:
    kind = node[0]
    if kind == "or":
        return any(evaluate(c, obj) for c in node[1])
    if kind == "and":
        return all(evaluate(c, obj) for c in node[1])
    if kind == "not":
        return not evaluate(node[1], obj)
    if kind == "cmp":
        return _compare(node[1], _get(obj, node[2]), node[3])
    if kind == "in":
        v = _fold(_get(obj, node[1]))
        return any(v == _fold(x) for x in node[2])
    if kind == "func":
        v, arg = _get(obj, node[2]), node[3]
        if not isinstance(v, str) or not isinstance(arg, str):
            return False
        fn = {"startswith": str.startswith, "endswith": str.endswith, "contains": str.__contains__}[node[1]]
        return bool(fn(v.casefold(), arg.casefold()))
    if kind == "any":
        return any(evaluate(node[3], item) for item in (_get(obj, node[1]) or ()))
    items = _get(obj, node[1]) or ()
    return _compare(node[2], len(items), node[3])


# ---------------------------------------------------------------- index planning


def candidates(node: tuple[Any, ...], coll: Any) -> set[str] | None:
    """A superset of matching ids answered from indexes, or None when a scan is needed."""
    kind = node[0]
    if kind == "or":
        parts = [candidates(c, coll) for c in node[1]]
        return None if any(p is None for p in parts) else set().union(*parts)  # type: ignore[arg-type]
    if kind == "and":
        found: list[set[str]] = [p for p in (candidates(c, coll) for c in node[1]) if p is not None]
        return set.intersection(*found) if found else None
    if kind == "cmp" and node[1] == "eq" and isinstance(node[3], str):
        return _lookup(node[2], [node[3]], coll)
    if kind == "in" and all(isinstance(v, str) for v in node[2]):
        return _lookup(node[1], node[2], coll)
    if kind == "func" and node[1] == "startswith" and node[2] == ("userPrincipalName",) and isinstance(node[3], str):
        prefix = node[3].casefold()  # the UPN index's keys are case-folded: a prefix scan of keys, not objects
        return {i for k, ids in coll.index["userPrincipalName"].items() if k.startswith(prefix)
                for i in (ids if isinstance(ids, list) else (ids,))}
    if kind == "any" and node[1] == ("onPremisesProvisioningErrors",):
        return set(coll.with_errors)
    if kind == "any" and node[1] == ("proxyAddresses",):
        return _any_proxy(node[3], coll)
    return None


def _lookup(path: tuple[Any, ...], values: list[str], coll: Any) -> set[str] | None:
    name = path[0] if len(path) == 1 else None
    if name == "id":
        return {v for v in values if coll.get(v) is not None}
    if name in ("userPrincipalName", "mail", "onPremisesImmutableId"):
        return {i for v in values for i in coll.lookup(name, v)}
    return None


def _any_proxy(body: tuple[Any, ...], coll: Any) -> set[str] | None:
    if body[0] == "or":
        parts = [_any_proxy(c, coll) for c in body[1]]
        return None if any(p is None for p in parts) else set().union(*parts)  # type: ignore[arg-type]
    if body[0] == "cmp" and body[1] == "eq" and isinstance(body[3], str):
        return set(coll.lookup("proxyAddresses", body[3]))
    if body[0] == "in" and all(isinstance(v, str) for v in body[2]):
        return {i for v in body[2] for i in coll.lookup("proxyAddresses", v)}
    return None
