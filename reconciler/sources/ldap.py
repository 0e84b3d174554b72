"""Active Directory over LDAP (ldap3): the on-prem reader and the shared connection code.

- URLs: ``ldaps://dc:636``; ``ldap://dc:389`` upgraded with StartTLS (the default); plain
  ``ldap://`` without TLS only with ``insecure`` (which on ``ldaps://`` means "encrypt, but do not
  verify the certificate"). Ports 3268 (StartTLS) / 3269 (TLS) are the Global Catalog.
- Certificates are verified against the system store or ``ca_file``; the host name is checked.
- Simple bind with a DN, ``user@domain`` or ``DOMAIN\\user``; the password is handed in (never read
  from the command line here) and never appears in a message.
- The search base defaults to the rootDSE ``defaultNamingContext`` (Global Catalog: the forest root
  ``rootDomainNamingContext``). Paged search, 1,000 entries a page; a server that ignores the paging
  control (Windows stops at MaxPageSize=1000 with sizeLimitExceeded) is a clear error, not a silent
  truncation.
- Raw attribute bytes go to :func:`reconciler.sources.onprem.decode_entry`, the one decoding path
  shared with the LDIF and csvde readers.
- The Global Catalog does not carry ``mS-DS-ConsistencyGuid`` unless an admin added it to the
  partial attribute set: the reader checks the schema and, when it is missing, says plainly that
  anchors fall back to objectGUID (wrong for users whose ConsistencyGuid differs, e.g. migrated).
"""

from __future__ import annotations

import base64
import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from ..core.errors import AuthError, DirectoryError, NetworkError, PermissionDenied, UsageError
from ..core.model import OnPremObject, OnPremSource
from .base import NullProgress, Progress
from .onprem import ONPREM_ATTRIBUTES, EntryError, decode_entry

if TYPE_CHECKING:
    from .prefilter import NeededKeys

__all__ = [
    "DEFAULT_FILTER",
    "FETCH_ALL_SHARE",
    "FETCH_BATCH",
    "PAGE_SIZE",
    "SKELETON_ATTRIBUTES",
    "LdapIndex",
    "LdapConnection",
    "LdapReader",
    "LdapSettings",
    "RootDse",
    "escape_filter_bytes",
    "escape_filter_value",
    "iter_paged",
    "normalize_raw",
    "open_connection",
    "raise_for_result",
    "read_root_dse",
    "write_ldif",
]

PAGE_SIZE = 1000
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
GC_PORTS = (3268, 3269)

#: Users, contacts and groups, minus what Entra Connect's default sync rules never export:
#: computers, critical system objects (Administrator, krbtgt, built-in groups), its own and other
#: service accounts (MSOL_, AAD_, SUPPORT_388945a0, CAS_), Exchange system mailboxes
#: (cn SystemMailbox{…), objects hidden with adminDescription User_/Group_ and replication
#: conflicts (cn containing "\nCNF:"). Only attributes of the base AD schema are used, so the
#: filter also works on forests without the Exchange schema.
DEFAULT_FILTER = (
    "(&(|(objectClass=user)(objectClass=contact)(objectClass=group))"
    "(!(objectClass=computer))(!(isCriticalSystemObject=TRUE))"
    "(!(sAMAccountName=MSOL_*))(!(sAMAccountName=AAD_*))(!(sAMAccountName=SUPPORT_388945a0*))"
    "(!(sAMAccountName=CAS_*))(!(cn=SystemMailbox{*))"
    "(!(adminDescription=User_*))(!(adminDescription=Group_*))(!(cn=*\\0aCNF:*)))"
)

# result codes (RFC 4511 + AD)
SUCCESS, OPERATIONS_ERROR, SIZE_LIMIT_EXCEEDED, STRONGER_AUTH = 0, 1, 4, 8
REFERRAL, UNAVAILABLE_CRITICAL_EXTENSION, CONFIDENTIALITY_REQUIRED = 10, 12, 13
NO_SUCH_ATTRIBUTE, CONSTRAINT_VIOLATION, VALUE_EXISTS = 16, 19, 20
NO_SUCH_OBJECT, INVALID_CREDENTIALS, INSUFFICIENT_ACCESS = 32, 49, 50
BUSY, UNAVAILABLE, UNWILLING = 51, 52, 53


class LdapConnection(Protocol):
    """The part of ``ldap3.Connection`` the adapters use (tests pass a fake or a MOCK_SYNC one)."""

    result: Any
    response: Any

    def search(self, search_base: str, search_filter: str, search_scope: str = ..., *,
               attributes: Any = ..., paged_size: int | None = ..., paged_criticality: bool = ...,
               paged_cookie: bytes | None = ..., **kw: Any) -> Any: ...

    def modify(self, dn: str, changes: Mapping[str, Any], controls: Any = ...) -> Any: ...

    def unbind(self) -> Any: ...


# ------------------------------------------------------------------ settings


@dataclass(frozen=True, slots=True)
class LdapSettings:
    """Where and how to connect. ``password`` is never shown (``repr=False``)."""

    host: str
    port: int
    tls: str  # "ldaps" | "starttls" | "plain"
    bind_dn: str | None = None
    password: str | None = field(default=None, repr=False)
    base_dn: str | None = None
    search_filter: str | None = None
    ca_file: Path | None = None
    verify: bool = True
    page_size: int = PAGE_SIZE
    full_read: bool = False  # a scan reads every entry in full instead of the cheap pass + batched fetch
    connect_timeout: float = 10.0
    receive_timeout: float = 120.0

    @classmethod
    def from_url(cls, url: str, *, insecure: bool = False, **kw: Any) -> LdapSettings:
        """``ldaps://dc:636`` / ``ldap://dc`` (StartTLS) / ``ldap://dc`` + insecure (plain)."""
        try:
            u = urlparse(url.strip())
        except ValueError as e:  # an unclosed IPv6 bracket
            raise UsageError(f"--ldap {url!r}: {e}; expected ldaps://HOST[:PORT] or ldap://HOST[:PORT]") from None
        scheme = u.scheme.lower()
        if scheme not in ("ldap", "ldaps") or not u.hostname:
            raise UsageError(f"--ldap {url!r}: expected ldaps://HOST[:PORT] or ldap://HOST[:PORT]")
        try:
            port = u.port or (636 if scheme == "ldaps" else 389)
        except ValueError:
            raise UsageError(f"--ldap {url!r}: invalid port") from None
        if scheme == "ldaps":
            tls, verify = "ldaps", not insecure
        else:
            tls, verify = ("plain", False) if insecure else ("starttls", True)
        path_dn = unquote(u.path.lstrip("/")) or None
        if path_dn and not kw.get("base_dn"):
            kw["base_dn"] = path_dn
        return cls(host=u.hostname, port=port, tls=tls, verify=verify, **kw)

    @property
    def url(self) -> str:
        scheme = "ldaps" if self.tls == "ldaps" else "ldap"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def global_catalog(self) -> bool:
        return self.port in GC_PORTS

    def with_password(self, password: str | None) -> LdapSettings:
        return replace(self, password=password)


# ------------------------------------------------------------------ connecting


def _tls(s: LdapSettings) -> Any:
    import ldap3

    if s.ca_file is not None and not Path(s.ca_file).is_file():
        raise UsageError(f"--ldap-ca {s.ca_file}: no such file")
    if not s.verify:
        return ldap3.Tls(validate=ssl.CERT_NONE)
    return ldap3.Tls(validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT,
                     ca_certs_file=str(s.ca_file) if s.ca_file else None)


def _is_tls_problem(e: BaseException) -> bool:
    text = f"{type(e).__name__} {e}".lower()
    return any(w in text for w in ("ssl", "certificate", "tls", "handshake"))


def _open_error(s: LdapSettings, e: BaseException) -> DirectoryError:
    import ldap3.core.exceptions as lx

    text = f"{type(e).__name__} {e}".lower()
    if isinstance(e, lx.LDAPSocketReceiveError) or "timed out" in text or "timeout" in text:
        return NetworkError(f"{s.url}: no answer within {s.receive_timeout:g} s (timeout)")
    if isinstance(e, lx.LDAPCertificateError) or "certificate" in text:
        hint = f"--ldap-ca {s.ca_file}" if s.ca_file else "the system trust store (use --ldap-ca FILE)"
        return NetworkError(f"{s.url}: TLS failed: the server certificate could not be verified "
                            f"against {hint} or does not name host {s.host!r}")
    if isinstance(e, lx.LDAPStartTLSError) or _is_tls_problem(e):
        return NetworkError(f"{s.url}: TLS failed: no TLS handshake with the server "
                            "(is this an LDAPS port? does the DC have a certificate?)")
    return NetworkError(f"{s.url}: cannot connect: server unreachable or refused the connection")


def _bind_error(s: LdapSettings, result: Mapping[str, Any]) -> DirectoryError:
    code = result.get("result")
    who = s.bind_dn or "anonymous"
    if code == INVALID_CREDENTIALS:
        return AuthError(f"{s.url}: bind refused for {who}: invalid credentials "
                         "(check --bind-dn and RECONCILER_LDAP_PASSWORD)")
    if code in (STRONGER_AUTH, CONFIDENTIALITY_REQUIRED):
        return AuthError(f"{s.url}: bind refused for {who}: the server requires TLS or signing "
                         "(use ldaps:// or StartTLS, i.e. drop --insecure)")
    return AuthError(f"{s.url}: bind refused for {who}: {result.get('description', code)}")


def open_connection(s: LdapSettings, *, read_only: bool = True) -> Any:
    """Connect, upgrade with StartTLS when asked, simple-bind; raise our errors on failure."""
    import ldap3
    import ldap3.core.exceptions as lx

    server = ldap3.Server(s.host, port=s.port, use_ssl=s.tls == "ldaps", get_info=ldap3.NONE,
                          tls=_tls(s) if s.tls != "plain" else None, connect_timeout=s.connect_timeout)
    auth = ldap3.SIMPLE if s.bind_dn else ldap3.ANONYMOUS
    conn = ldap3.Connection(server, user=s.bind_dn, password=s.password or None, authentication=auth,
                            read_only=read_only, check_names=False, auto_referrals=False,
                            auto_range=True, receive_timeout=max(1, int(s.receive_timeout)),
                            raise_exceptions=False)
    try:
        conn.open()
        if s.tls == "starttls" and not conn.start_tls():
            raise NetworkError(f"{s.url}: StartTLS refused by the server "
                               f"({conn.result.get('description') if conn.result else 'no answer'})")
        if not conn.bind():
            raise _bind_error(s, conn.result or {})
    except DirectoryError:
        conn.unbind()
        raise
    except (TimeoutError, lx.LDAPException, OSError) as e:
        conn.unbind()
        raise _open_error(s, e) from None
    return conn


# ------------------------------------------------------------------ rootDSE and search


@dataclass(frozen=True, slots=True)
class RootDse:
    default_naming_context: str | None = None
    root_domain_naming_context: str | None = None
    schema_naming_context: str | None = None
    supported_controls: tuple[str, ...] = ()
    dns_host_name: str | None = None

    @property
    def supports_paging(self) -> bool:
        return PAGED_RESULTS_OID in self.supported_controls


def _first(raw: Mapping[str, Sequence[bytes]], name: str) -> str | None:
    vals = normalize_raw(raw).get(name.lower())
    return vals[0].decode("utf-8", "replace") if vals else None


def read_root_dse(conn: LdapConnection, url: str = "") -> RootDse:
    attrs = ["defaultNamingContext", "rootDomainNamingContext", "schemaNamingContext",
             "supportedControl", "dnsHostName"]
    _search(conn, url, "", "(objectClass=*)", "BASE", attrs)
    raise_for_result(url, conn.result or {}, "reading the rootDSE")
    entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
    if not entries:
        raise DirectoryError(f"{url}: the server returned no rootDSE: is this an LDAP directory?")
    raw = entries[0].get("raw_attributes") or {}
    controls = normalize_raw(raw).get("supportedcontrol", [])
    return RootDse(_first(raw, "defaultNamingContext"), _first(raw, "rootDomainNamingContext"),
                   _first(raw, "schemaNamingContext"),
                   tuple(c.decode("ascii", "replace") for c in controls), _first(raw, "dnsHostName"))


def normalize_raw(raw: Mapping[str, Sequence[bytes]]) -> dict[str, list[bytes]]:
    """ldap3 ``raw_attributes`` -> lower-case names without options (``;range=0-1499``), no empties."""
    out: dict[str, list[bytes]] = {}
    for name, values in raw.items():
        if values:
            out.setdefault(name.split(";", 1)[0].lower(), []).extend(values)
    return out


def raise_for_result(url: str, result: Mapping[str, Any], what: str) -> None:
    """Map a failed search/modify result to one of our errors (one line, no secrets)."""
    code = result.get("result")
    if code == SUCCESS:
        return
    desc = result.get("description") or code
    if code == REFERRAL:
        refs = ", ".join(result.get("referrals") or []) or "another server"
        raise DirectoryError(f"{url}: {what}: the server referred to {refs}: that naming context is "
                             "held elsewhere; point --ldap at a DC of that domain or use the Global "
                             "Catalog (port 3268/3269)")
    if code == INSUFFICIENT_ACCESS:
        raise PermissionDenied(f"{url}: {what}: insufficient access rights for the bind identity")
    if code == OPERATIONS_ERROR and "bind" in str(result.get("message", "")).lower():
        raise AuthError(f"{url}: {what}: the server wants an authenticated bind: give --bind-dn")
    if code in (BUSY, UNAVAILABLE):
        raise NetworkError(f"{url}: {what}: server busy or unavailable ({desc})")
    raise DirectoryError(f"{url}: {what} failed: {desc} {result.get('message') or ''}".rstrip())


def _search(conn: LdapConnection, url: str, base: str, flt: str, scope: str,
            attrs: Sequence[str], **paging: Any) -> None:
    import ldap3.core.exceptions as lx

    try:
        conn.search(base, flt, scope, attributes=list(attrs), **paging)
    except lx.LDAPInvalidFilterError:
        raise UsageError(f"--ldap-filter {flt!r}: not a valid LDAP filter (RFC 4515)") from None
    except (TimeoutError, lx.LDAPSocketReceiveError, lx.LDAPSessionTerminatedByServerError):
        raise NetworkError(f"{url}: the server stopped answering (timeout or connection reset)") from None
    except lx.LDAPCommunicationError:
        raise NetworkError(f"{url}: connection lost during the search") from None


def _cookie(result: Mapping[str, Any]) -> bytes | None:
    ctrl = (result.get("controls") or {}).get(PAGED_RESULTS_OID)
    if not ctrl:
        return None
    return (ctrl.get("value") or {}).get("cookie") or None


def iter_paged(conn: LdapConnection, url: str, base: str, flt: str, attrs: Sequence[str],
               page_size: int = PAGE_SIZE) -> Iterator[list[tuple[str, dict[str, list[bytes]]]]]:
    """Yield pages of ``(dn, normalized raw attributes)``; referral continuations are skipped."""
    cookie: bytes | None = None
    while True:
        _search(conn, url, base, flt, "SUBTREE", attrs, paged_size=page_size,
                paged_criticality=True, paged_cookie=cookie)
        result = conn.result or {}
        entries = [(e["dn"], normalize_raw(e.get("raw_attributes") or {}))
                   for e in conn.response or [] if e.get("type") == "searchResEntry"]
        _check_page(url, result, len(entries))
        yield entries
        cookie = _cookie(result)
        if not cookie:
            return


def _check_page(url: str, result: Mapping[str, Any], n: int) -> None:
    code = result.get("result")
    if code == SIZE_LIMIT_EXCEEDED:
        raise DirectoryError(f"{url}: the server stopped after {n} entries (size limit) and did not "
                             "page the result: the paged-results control was not honoured; reading "
                             "on would silently miss objects")
    if code == UNAVAILABLE_CRITICAL_EXTENSION:
        raise DirectoryError(f"{url}: the server does not support the paged-results control "
                             f"({PAGED_RESULTS_OID}); cannot read the directory completely")
    raise_for_result(url, result, "search")


# ------------------------------------------------------------------ filters


def escape_filter_value(value: str) -> str:
    """RFC 4515 escaping of an assertion value: ``\\ * ( )``, NUL, and every byte that is not visible
    ASCII (controls, newlines, non-ASCII as its UTF-8 bytes, a leading/trailing space) become ``\\XX``.

    Only the first five must be escaped; escaping the rest too keeps client libraries that trim or
    re-encode filter text (ldap3 strips surrounding whitespace) from changing the value.
    """
    last = len(value) - 1
    return "".join(ch if ("!" <= ch <= "~" and ch not in "\\*()") or (ch == " " and 0 < i < last) else
                   "".join(f"\\{b:02x}" for b in ch.encode("utf-8")) for i, ch in enumerate(value))


def escape_filter_bytes(value: bytes) -> str:
    """Binary assertion value (objectGUID, objectSid) as ``\\XX`` for every byte."""
    return "".join(f"\\{b:02x}" for b in value)


# ------------------------------------------------------------------ the reader


def _consistency_guid_in_gc(conn: LdapConnection, url: str, schema_nc: str | None) -> bool:
    if not schema_nc:
        return False
    _search(conn, url, schema_nc, "(lDAPDisplayName=mS-DS-ConsistencyGuid)", "SUBTREE",
            ["isMemberOfPartialAttributeSet"])
    for e in conn.response or []:
        vals = normalize_raw(e.get("raw_attributes") or {}).get("ismemberofpartialattributeset")
        if vals and vals[0].upper() == b"TRUE":
            return True
    return False


GC_NOTE = ("{url} is a Global Catalog, and mS-DS-ConsistencyGuid is not in this forest's partial "
           "attribute set: a Windows GC does not return it, so anchors fall back to objectGUID, which is "
           "wrong for users whose ConsistencyGuid differs (e.g. migrated between forests); read each "
           "domain's DC (port 636/389) for exact anchors")


class LdapReader:
    """Reads one forest/domain over LDAP into an :class:`OnPremSource` (implements OnPremReader).

    ``connect`` builds the bound connection; tests pass a fake or an ldap3 MOCK_SYNC connection.
    """

    #: attributes the decoder reads that are never asked for over LDAP (each can be ~100 KB on every user):
    #: check-onprem says which of its rules therefore did not run on this source
    unread_attributes = ("thumbnailPhoto", "userCertificate", "userSMIMECertificate")

    def __init__(self, settings: LdapSettings,
                 connect: Callable[[LdapSettings], LdapConnection] | None = None) -> None:
        self.settings = settings
        self.label = settings.url
        self._connect = connect or open_connection

    def read(self, progress: Progress) -> OnPremSource:
        objects: list[OnPremObject] = []
        progress.stage(f"reading {self.label}")
        with self._session() as (conn, base, notes):
            for page in iter_paged(conn, self.label, base, self.filter, ONPREM_ATTRIBUTES,
                                   self.settings.page_size):
                objects += [self._decode(dn, raw) for dn, raw in page]
                progress.advance(len(page), objects=len(page))
        for n in notes:
            progress.note(f"warning: {n}")
        return OnPremSource(label=self.label, base_dn=base, objects=objects, notes=tuple(notes))

    @property
    def filter(self) -> str:
        return self.settings.search_filter or DEFAULT_FILTER

    def iter_raw(self) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        """Every matching entry as ``(dn, raw attributes)``: what :func:`write_ldif` exports."""
        with self._session() as (conn, base, _notes):
            for page in iter_paged(conn, self.label, base, self.filter, ONPREM_ATTRIBUTES,
                                   self.settings.page_size):
                yield from page

    def prepare(self) -> Any:
        """The scan's cheap pass: every entry's kind, anchors, SID and DN (:class:`LdapIndex`); the full
        entries are fetched later, in batches, only for the keys the cloud side names.

        With ``full_read`` (or when an entry has no objectGUID to fetch it by) the source is read in full.
        """
        from .prefilter import Whole

        if self.settings.full_read:
            return Whole(self.read(NullProgress()))
        index = LdapIndex(self)
        with self._session() as (conn, base, notes):
            index.base_dn, index.notes = base, tuple(notes)
            for page in iter_paged(conn, self.label, base, self.filter, SKELETON_ATTRIBUTES, self.settings.page_size):
                if not index.add(page):
                    return Whole(self.read(NullProgress()))
            index.finish(conn)
        return index

    def _decode(self, dn: str, raw: Mapping[str, Sequence[bytes]]) -> OnPremObject:
        try:
            return decode_entry(dn, raw, self.label)
        except EntryError as e:
            raise DirectoryError(f"{self.label}: {dn}: {e}") from None

    def _session(self) -> _Session:
        return _Session(self)


#: What the cheap pass asks for: the kind, the link attributes of users and groups, and ``mail`` (a contact
#: is linkable by mail or proxyAddresses; the few without mail are fetched in full during the pass).
SKELETON_ATTRIBUTES = ("objectClass", "objectGUID", "objectSid", "mS-DS-ConsistencyGuid", "mail")
#: objectGUID terms per OR filter of the batched fetch (about 61 characters each).
FETCH_BATCH = 100
#: When more than this share of the entries is needed, one full paged pass fetches them (decoding only those).
FETCH_ALL_SHARE = 0.25


def guid_filter(base_filter: str, guids: Sequence[bytes]) -> str:
    """``(&BASE(|(objectGUID=\\xx…)…))``: the entries of ``guids`` the base filter still selects."""
    terms = "".join(f"(objectGUID={escape_filter_bytes(g)})" for g in guids)
    return f"(&{base_filter}(|{terms}))"


class LdapIndex:
    """Result of the cheap pass over a DC: per entry its DN, objectGUID and the keys the matcher looks up.

    :meth:`select` fetches, by objectGUID in OR-filtered paged searches of :data:`FETCH_BATCH` terms,
    only the entries a key may hit (users and groups by anchor, objectGUID, SID or DN; every contact
    when a contact address is involved), decodes them with the one decoding path and keeps those
    :meth:`NeededKeys.needs` keeps: the same objects, in the same order, as cutting down a full read.
    Counts per kind, what cannot be linked, the base DN and the notes are those of every entry.
    """

    def __init__(self, reader: LdapReader) -> None:
        self.reader = reader
        self.label = reader.label
        self.base_dn: str | None = None
        self.notes: tuple[str, ...] = ()
        self.count = 0
        self.kinds: dict[str, int] = {}
        self.gaps: dict[str, int] = {}
        # one row per entry, in the server's order: (dn, raw objectGUID, skeleton object)
        self.rows: list[tuple[str, bytes, OnPremObject]] = []
        self.slot: dict[str, int] = {}  # casefolded objectGUID string -> row
        self.full: dict[int, OnPremObject | None] = {}  # row -> the fully decoded entry (None: gone since)
        self.requests = 0  # searches (pages) sent after the cheap pass
        self._mailless: list[int] = []  # contacts without mail: their proxyAddresses decide linkability
        self._lock = threading.Lock()
        self._open: tuple[_Session, LdapConnection] | None = None

    def add(self, page: Sequence[tuple[str, Mapping[str, Sequence[bytes]]]]) -> bool:
        """Take one page of the cheap pass; False when an entry cannot be fetched back by objectGUID."""
        from ..core.model import _kind, _linkable

        for dn, raw in page:
            o = self.reader._decode(dn, raw)
            guid = (raw.get("objectguid") or [b""])[0]
            if not guid or o.object_guid is None:
                return False
            i = len(self.rows)
            self.rows.append((dn, guid, o))
            self.slot[o.object_guid.casefold()] = i
            self.count += 1
            k = _kind(o)
            if k is None:
                continue
            self.kinds[k] = self.kinds.get(k, 0) + 1
            if k == "contact" and not o.mail:
                self._mailless.append(i)
            elif not _linkable(o, k):
                self.gaps[k] = self.gaps.get(k, 0) + 1
        return True

    def finish(self, conn: LdapConnection) -> None:
        """Fetch the contacts without mail (their proxyAddresses decide whether they are linkable)."""
        from ..core.model import _linkable

        self._fetch(conn, self._mailless)
        for i in self._mailless:
            o = self.full.get(i) or self.rows[i][2]
            if not _linkable(o, "contact"):
                self.gaps["contact"] = self.gaps.get("contact", 0) + 1

    def _fetch(self, conn: LdapConnection, rows: Sequence[int]) -> None:
        todo = [i for i in rows if i not in self.full]
        s = self.reader.settings
        if len(todo) > self.count * FETCH_ALL_SHARE:  # batches would cost more than one more full pass
            wanted = {self.rows[i][1]: i for i in todo}
            for page in iter_paged(conn, self.label, self.base_dn or "", self.reader.filter, ONPREM_ATTRIBUTES,
                                   s.page_size):
                self.requests += 1
                for dn, raw in page:
                    i = wanted.get((raw.get("objectguid") or [b""])[0])
                    if i is not None:
                        self.full[i] = self.reader._decode(dn, raw)
            for i in todo:
                self.full.setdefault(i, None)
            return
        for k in range(0, len(todo), FETCH_BATCH):
            batch = todo[k:k + FETCH_BATCH]
            by_guid = {self.rows[i][1]: i for i in batch}
            flt = guid_filter(self.reader.filter, list(by_guid))
            for page in iter_paged(conn, self.label, self.base_dn or "", flt, ONPREM_ATTRIBUTES, s.page_size):
                self.requests += 1
                for dn, raw in page:
                    i = by_guid.get((raw.get("objectguid") or [b""])[0])
                    if i is not None:
                        self.full[i] = self.reader._decode(dn, raw)
            for i in batch:
                self.full.setdefault(i, None)  # deleted or moved out of the filter since the cheap pass

    def _fetched(self, rows: Sequence[int]) -> None:
        """Fetch what is not fetched yet, on one connection kept for the index (see :meth:`close`); a
        connection the DC dropped while the cloud was read is opened once more."""
        todo = [i for i in rows if i not in self.full]
        if not todo:
            return
        try:
            self._fetch(self._connection(), todo)
        except NetworkError:
            self.close()
            self._fetch(self._connection(), todo)

    def _connection(self) -> LdapConnection:
        if self._open is None:
            session = self.reader._session()
            conn, _base, _notes = session.__enter__()
            self._open = (session, conn)
        return self._open[1]

    def close(self) -> None:
        """Unbind the fetch connection (the scan calls this once the selection is made)."""
        if self._open is not None:
            self._open[0].__exit__()
            self._open = None

    def candidates(self, keys: NeededKeys) -> list[int]:
        """Rows whose skeleton a key may hit (exact for users and groups; every contact when addresses count)."""
        out = []
        for i, (_dn, _g, o) in enumerate(self.rows):
            if keys.needs(o) or (keys.values and o.object_class == "contact"):
                out.append(i)
        return out

    def select(self, keys: NeededKeys) -> OnPremSource:
        """The source with only the objects ``keys`` needs; counts, base DN and notes of every entry."""
        with self._lock:
            rows = self.candidates(keys)
            self._fetched(rows)
            keep = [o for i in rows if (o := self.full.get(i)) is not None and keys.needs(o)]
        return OnPremSource(label=self.label, base_dn=self.base_dn, objects=keep, notes=self.notes,
                            _gaps=dict(self.gaps), _kinds=dict(self.kinds), count=self.count)

    def by_guid(self, guid: str) -> OnPremObject | None:
        """The entry with this objectGUID, fetched in full on demand."""
        i = self.slot.get(guid.casefold())
        if i is None:
            return None
        with self._lock:
            self._fetched([i])
            return self.full.get(i)


class _Session:
    """Context manager: bound connection + resolved base DN + notes; always unbinds."""

    def __init__(self, reader: LdapReader) -> None:
        self.reader = reader
        self.conn: LdapConnection | None = None

    def __enter__(self) -> tuple[LdapConnection, str, list[str]]:
        s = self.reader.settings
        self.conn = self.reader._connect(s)
        try:
            return self._resolve(self.conn, s)
        except BaseException:
            self.__exit__()
            raise

    def _resolve(self, conn: LdapConnection, s: LdapSettings) -> tuple[LdapConnection, str, list[str]]:
        root = read_root_dse(conn, s.url)
        base = s.base_dn or (root.root_domain_naming_context if s.global_catalog else None) \
            or root.default_naming_context
        if not base:
            raise DirectoryError(f"{s.url}: the rootDSE names no defaultNamingContext: give --base-dn")
        notes = []
        if s.global_catalog and not _consistency_guid_in_gc(conn, s.url, root.schema_naming_context):
            notes.append(GC_NOTE.format(url=s.url))
        return conn, base, notes

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # closing a dead socket must not hide the real error
                self.conn.unbind()


# ------------------------------------------------------------------ LDIF export


def _ldif_safe(v: bytes) -> bool:
    if not v or v[0] in b" :<" or v[-1:] == b" ":
        return False
    try:
        text = v.decode("ascii")
    except UnicodeDecodeError:
        return False
    return all(32 <= ord(c) < 127 for c in text)


def _ldif_line(name: str, v: bytes) -> str:
    if _ldif_safe(v):
        return f"{name}: {v.decode('ascii')}"
    return f"{name}:: {base64.b64encode(v).decode('ascii')}"


_EXPORT_NAMES = {a.lower(): a for a in ONPREM_ATTRIBUTES}


def write_ldif(entries: Iterator[tuple[str, Mapping[str, Sequence[bytes]]]] | Sequence[Any],
               out: IO[str]) -> int:
    """Write entries as RFC 2849 content records (binary values base64); returns the count."""
    n = 0
    out.write("version: 1\n")
    for dn, raw in entries:
        out.write("\n" + _ldif_line("dn", dn.encode("utf-8")) + "\n")
        for key, values in raw.items():
            name = _EXPORT_NAMES.get(key, key)
            for v in values:
                out.write(_ldif_line(name, v) + "\n")
        n += 1
    return n
