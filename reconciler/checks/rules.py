"""PURE: IdFix's per-attribute rules (Multi-Tenant set), corrected for its false positives.

Each attribute runs a chain: a failing rule hands its proposed value to the
next one, as in IdFix. Every rule has a stable id listed in :data:`RULES`
(``docs/check-onprem.md`` documents each with its source). The common, valid
case costs one compiled regular expression and one set lookup per value.

Corrections to IdFix (docs/check-onprem.md, "Rules"):
- x400/x500 and other non-SMTP proxies get their own character rules
  (X.400 PrintableString allows space, ``'``, ``(``, ``)``; legacy free-form
  types such as NOTES/CCMAIL allow spaces and commas);
- the apostrophe is valid in UPN and SMTP local parts;
- top-level domains come from a current, replaceable list (any length, IDN
  ``xn--`` TLDs included), not IdFix's 2–17-letter pattern and ~928 entries;
- internationalised domains are judged as Entra stores them: an A-label
  (``xn--``) domain is valid; a Unicode domain gets its A-label form proposed.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..core.model import OnPremObject

__all__ = [
    "ERROR",
    "INFO",
    "RULES",
    "UPN_MAX",
    "WARNING",
    "Hit",
    "Rule",
    "check_proxy",
    "check_simple",
    "check_target_address",
    "check_upn",
    "check_certificates",
    "check_large",
    "check_mail",
    "check_names",
    "parse_tlds",
    "primary_smtp",
    "select_rules",
    "skip_reason",
]

ERROR, WARNING, INFO = "error", "warning", "info"
UPN_MAX, UPN_LOCAL_MAX, UPN_DOMAIN_MAX = 113, 64, 48
IDFIX_MT = "IdFix Multi-Tenant"
IDFIX_FIXED = "IdFix Multi-Tenant, corrected"
MS_DOCS = "Microsoft docs"
EXO = "Exchange Online"
OURS = "reconciler (not in IdFix)"
SOURCES = (IDFIX_MT, IDFIX_FIXED, MS_DOCS, EXO, OURS)
CERT_MAX, PHOTO_MAX, PROXY_COUNT_MAX, NAME_MAX = 15, 100 * 1024, 300, 64


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    attribute: str
    kind: str
    severity: str
    source: str
    checks: str
    bad: str  # an example the rule flags
    good: str  # a valid value it must not flag


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule firing on one value; ``action`` is ``edit`` (set ``proposed``), ``remove`` or None."""

    rule: str
    message: str
    proposed: str | None = None
    action: str | None = None


def _r(id: str, attribute: str, kind: str, severity: str, source: str, checks: str, bad: str,
       good: str) -> Rule:
    return Rule(id, attribute, kind, severity, source, checks, bad, good)


_RULE_LIST = (
    _r("displayname-length", "displayName", "length", ERROR, IDFIX_MT,
       "longer than 255 characters; proposes the first 255", "256 × 'a'", "Alice Moreau"),
    _r("displayname-blank", "displayName", "format", WARNING, IDFIX_MT,
       "blank or missing on a user, group or contact; proposes the cn", "(empty)", "Alice Moreau"),
    _r("givenname-length", "givenName", "length", ERROR, IDFIX_MT,
       "longer than 63 characters; proposes the first 63", "64 × 'a'", "Alice"),
    _r("mail-length", "mail", "length", ERROR, IDFIX_MT, "longer than 256 characters",
       "257-character address", "alice@contoso.com"),
    _r("mailnickname-length", "mailNickname", "length", ERROR, IDFIX_MT,
       "longer than 64 characters; proposes the first 64", "65 × 'a'", "alice.moreau"),
    _r("mailnickname-period", "mailNickname", "format", ERROR, IDFIX_FIXED,
       "starts (IdFix) or ends or holds two periods in a row (Exchange alias rule: every period between two "
       "valid characters); proposes it without", ".alice", "alice.moreau"),
    _r("mailnickname-chars", "mailNickname", "format", WARNING, EXO,
       "characters Exchange does not allow in an alias (allowed: A-Z a-z 0-9 ! # $ % & ' * + - / = ? ^ _ backtick { | } ~ "
       "., and U+00A1-U+00FF such as ä ö ü é ß); Entra writes '_' for each; proposes them removed",
       "alice moreau", "müller.o'brien"),
    _r("mail-chars", "mail", "format", ERROR, EXO,
       "whitespace or < > ( ) ; , [ ] \" in the address (apostrophe allowed); proposes them stripped",
       "alice moreau@contoso.com", "o'brien@contoso.com"),
    _r("mail-format", "mail", "format", ERROR, EXO,
       "not an RFC 5322 dot-atom address (one @, no leading/trailing/double period, ASCII name, LDH labels)",
       "alice..moreau@contoso.com", "alice.moreau+news@contoso.com"),
    _r("mail-idn", "mail", "format", WARNING, EXO,
       "domain written in Unicode; proposes its xn-- (A-label) form", "anna@bücher.example",
       "anna@xn--bcher-kva.example"),
    _r("mail-tld", "mail", "format", WARNING, EXO,
       "top-level domain not in the current TLD list (--tld-file replaces it)", "alice@contoso.local",
       "alice@contoso.cloud"),
    _r("sn-length", "sn", "length", ERROR, MS_DOCS, "longer than 64 characters (Entra's surname limit); proposes "
       "the first 64", "65 × 'a'", "Moreau-Lefèvre"),
    _r("name-chars", "displayName|givenName|sn", "format", WARNING, MS_DOCS,
       "control characters (tab, line break, …); proposes each replaced by a space",
       "Alice<TAB>Moreau", "Zoë O'Brien-Müller"),
    _r("proxy-length", "proxyAddresses", "length", ERROR, IDFIX_MT,
       "a value longer than 256 characters", "smtp:<250 × a>@contoso.com", "smtp:alice@contoso.com"),
    _r("proxy-extra-colon", "proxyAddresses", "format", ERROR, IDFIX_FIXED,
       "a colon after the type prefix (any type: 'X500::/o=…'; SMTP: anywhere in the address); "
       "proposes it removed", "smtp::alice@contoso.com", "X500:/o=Contoso/ou=Exchange/cn=Recipients/cn=alice"),
    _r("proxy-no-prefix", "proxyAddresses", "format", WARNING, OURS,
       "a value without a 'type:' prefix; proposes 'smtp:' for an address", "alice@contoso.com",
       "smtp:alice@contoso.com"),
    _r("smtp-chars", "proxyAddresses", "format", ERROR, IDFIX_FIXED,
       "SMTP address with whitespace or < > ( ) ; , [ ] \" (apostrophe allowed); proposes them stripped",
       "smtp:alice moreau@contoso.com", "smtp:o'brien@contoso.com"),
    _r("smtp-format", "proxyAddresses", "format", ERROR, IDFIX_FIXED,
       "not an RFC 5322 dot-atom address: one @, no leading/trailing/double period, LDH domain labels",
       "smtp:alice..moreau@contoso.com", "smtp:alice.moreau@contoso.com"),
    _r("smtp-idn", "proxyAddresses", "format", WARNING, IDFIX_FIXED,
       "domain written in Unicode; proposes its xn-- (A-label) form, which Entra stores",
       "smtp:anna@bücher.example", "smtp:anna@xn--bcher-kva.example"),
    _r("smtp-tld", "proxyAddresses", "format", WARNING, IDFIX_FIXED,
       "top-level domain not in the current TLD list (--tld-file replaces it)",
       "smtp:alice@contoso.local", "smtp:alice@contoso.cloud"),
    _r("smtp-primary-count", "proxyAddresses", "format", ERROR, OURS,
       "more than one primary 'SMTP:' value on one object", "SMTP:a@contoso.com + SMTP:b@contoso.com",
       "SMTP:a@contoso.com + smtp:b@contoso.com"),
    _r("x400-chars", "proxyAddresses", "format", ERROR, IDFIX_FIXED,
       "X400 value with control characters or [ ] \" (space, ' ( ) allowed: X.400 PrintableString)",
       "X400:C=US;A= ;P=Contoso;O=Exchange;S=[Smith];", "X400:C=US;A= ;P=Contoso;O=Exchange;S=O'Brien;"),
    _r("x500-chars", "proxyAddresses", "format", ERROR, IDFIX_FIXED,
       "X500 value with control characters or [ ] \" (spaces, ' and parentheses allowed)",
       "X500:/o=Contoso/cn=\"alice\"", "X500:/o=Contoso/ou=Exchange Administrative Group "
       "(FYDIBOHF23SPDLT)/cn=Recipients/cn=o'brien"),
    _r("proxy-chars", "proxyAddresses", "format", ERROR, IDFIX_FIXED,
       "other types: address-like (SIP, EUM, SPO) with whitespace or < > ( ) , [ ] \"; free-form "
       "legacy types (NOTES, CCMAIL, MS, GWISE, FAX, …) only with control characters",
       "SIP:alice moreau@contoso.com", "NOTES:Alice Moreau/Contoso@Contoso"),
    _r("targetaddress-length", "targetAddress", "length", ERROR, IDFIX_MT,
       "longer than 255 characters", "SMTP:<250 × a>@contoso.com", "SMTP:alice@contoso.mail.onmicrosoft.com"),
    _r("targetaddress-extra-colon", "targetAddress", "format", ERROR, IDFIX_MT,
       "a colon after the type prefix; proposes it removed", "SMTP::alice@fabrikam.com", "SMTP:alice@fabrikam.com"),
    _r("targetaddress-chars", "targetAddress", "format", ERROR, IDFIX_FIXED,
       "SMTP: whitespace or \\ < > ( ) ; , [ ] \"; other types the same without ';' (apostrophe allowed)",
       "SMTP:alice moreau@fabrikam.com", "SMTP:o'brien@fabrikam.com"),
    _r("targetaddress-format", "targetAddress", "format", ERROR, IDFIX_MT,
       "SMTP target that is not an RFC 5322 dot-atom address", "SMTP:alice@@fabrikam.com",
       "SMTP:alice@fabrikam.com"),
    _r("samaccountname-length", "sAMAccountName", "length", ERROR, IDFIX_MT,
       "longer than 20 characters (users) or 256 (others)", "21 × 'a' on a user", "amoreau"),
    _r("samaccountname-chars", "sAMAccountName", "format", ERROR, IDFIX_MT,
       "contains \\ \" | , / [ ] : < > + = ; ? *; proposes them stripped", "a|moreau", "a.moreau"),
    _r("upn-length", "userPrincipalName", "length", ERROR, IDFIX_FIXED,
       "longer than 113 characters, or more than 64 before the @ or 48 after it (Entra limits)",
       "<65 × a>@contoso.com", "alice.moreau@contoso.com"),
    _r("upn-chars", "userPrincipalName", "format", ERROR, IDFIX_FIXED,
       "characters Entra rejects (allowed before @: A–Z a–z 0–9 ' . - _ ! # ^ ~; accented letters are "
       "not); proposes them stripped, accents removed", "alice moreau@contoso.com", "o'brien@contoso.com"),
    _r("upn-format", "userPrincipalName", "format", ERROR, IDFIX_FIXED,
       "not user@domain: one @, no leading/trailing/double period before it, LDH domain labels",
       "alice.@contoso.com", "alice.moreau@contoso.com"),
    _r("upn-idn", "userPrincipalName", "format", ERROR, IDFIX_FIXED,
       "UPN suffix written in Unicode; proposes its xn-- (A-label) form", "anna@bücher.example",
       "anna@xn--bcher-kva.example"),
    _r("upn-tld", "userPrincipalName", "format", ERROR, IDFIX_FIXED,
       "UPN suffix whose top-level domain is not in the current TLD list (.local, .corp, …)",
       "alice@corp.local", "alice@contoso.swiss"),
    _r("upn-unverified-suffix", "userPrincipalName", "format", WARNING, MS_DOCS,
       "with a cloud source: the UPN suffix is not a verified domain of the tenant, so Entra gives the user "
       "<MailNickName>@<initial domain> (predicted in the message)", "alice@fabrikam.com (not verified)",
       "alice@contoso.com (verified)"),
    _r("upn-duplicate", "userPrincipalName", "duplicate", ERROR, IDFIX_MT,
       "the same UPN on two or more objects (case-insensitive, across all forests given)",
       "two users with alice@contoso.com", "one user with alice@contoso.com"),
    _r("smtp-duplicate", "proxyAddresses", "duplicate", ERROR, IDFIX_MT,
       "the same SMTP address (prefix stripped, case-insensitive) in two objects' proxyAddresses",
       "smtp:sales@contoso.com on two groups", "SMTP:sales@contoso.com on one group"),
    _r("mail-duplicate", "mail", "duplicate", ERROR, IDFIX_MT,
       "the same mail on two or more objects", "two contacts with mail bob@fabrikam.com",
       "one contact with mail bob@fabrikam.com"),
    _r("cross-duplicate", "userPrincipalName|mail|proxyAddresses", "cross_duplicate", ERROR, OURS,
       "one object's UPN, mail or SMTP proxy is another object's value in a different attribute "
       "(IdFix never compares attributes)", "UPN alice@contoso.com on A, smtp:alice@contoso.com on B",
       "UPN, mail and SMTP: alice@contoso.com all on A"),
    _r("proxy-duplicate", "proxyAddresses", "duplicate", WARNING, IDFIX_MT,
       "the same non-SMTP proxy (X500, X400, SIP, …) on two or more objects",
       "the same X500 on two mailboxes", "distinct X500 values"),
    _r("mailnickname-duplicate", "mailNickname", "duplicate", WARNING, IDFIX_MT,
       "the same mailNickname (alias) on two or more objects", "alias 'sales' on two groups",
       "distinct aliases"),
    _r("targetaddress-duplicate", "targetAddress", "duplicate", WARNING, IDFIX_MT,
       "the same targetAddress on two or more objects", "two contacts forwarding to SMTP:bob@fabrikam.com",
       "distinct targets"),
    _r("samaccountname-duplicate", "sAMAccountName", "duplicate", WARNING, IDFIX_MT,
       "the same sAMAccountName on two objects that have no UPN (across forests)",
       "jdoe in two forests, neither with a UPN", "jdoe in two forests, both with UPNs"),
    _r("cloud-conflict", "userPrincipalName|mail|proxyAddresses", "cloud_conflict", ERROR, OURS,
       "an Entra object (synced from elsewhere, cloud-only but not matchable, or in the recycle bin) "
       "already holds the value: sync will quarantine it (deleted holder: warning)",
       "UPN held by a synced user of another forest", "UPN held only by this object's own cloud user"),
    _r("usercertificate-count", "userCertificate", "length", ERROR, MS_DOCS,
       "more than 15 certificates (Entra's hard limit: LargeObject export error); the message counts the expired "
       "ones", "16 certificates", "15 certificates"),
    _r("usersmimecertificate-count", "userSMIMECertificate", "length", ERROR, MS_DOCS,
       "more than 15 certificates (LargeObject export error)", "16 certificates", "15 certificates"),
    _r("certificate-expired", "userCertificate|userSMIMECertificate", "length", WARNING, MS_DOCS,
       "on an object over the 15-certificate limit: a certificate whose notAfter has passed; proposes removing it "
       "(expired ones first)", "an expired certificate among 16", "expired certificates on an object with 15"),
    _r("thumbnailphoto-size", "thumbnailPhoto", "length", ERROR, MS_DOCS,
       "larger than 100 KB (LargeObject export error)", "a 150 KB photo", "a 100 KB photo"),
    _r("proxy-count", "proxyAddresses", "length", WARNING, MS_DOCS,
       "more than 300 values: the object nears Entra's object size limit (about 330 addresses for an otherwise "
       "bare user; LargeObject)", "301 values", "300 values"),
    _r("anchor-duplicate", "sourceAnchor", "duplicate", ERROR, OURS,
       "two users or groups (any forests given) with the same effective source anchor (mS-DS-ConsistencyGuid, "
       "else objectGUID): both export to one Entra object (ADSyncTools' duplicate source anchor case)",
       "one mS-DS-ConsistencyGuid on users of two forests", "distinct anchors"),
    _r("anchor-cloud-mismatch", "mS-DS-ConsistencyGuid", "cloud_conflict", ERROR, OURS,
       "with a cloud source: a user new to Entra whose UPN or primary SMTP address belongs to a cloud user with "
       "another immutable id (a user moved between forests): the next sync quarantines it or creates a duplicate; "
       "proposes the cloud user's immutable id as mS-DS-ConsistencyGuid (set_consistency_guid)",
       "migrated user, cloud user anchored to the old forest", "user whose anchor is the cloud user's immutable id"),
    _r("soft-match", "userPrincipalName|proxyAddresses", "soft_match", WARNING, OURS,
       "a new on-prem object whose UPN (softMatchOnUpnEnabled on or unknown) or primary SMTP equals a "
       "cloud-only object's: the first sync merges them", "new AD user alice@contoso.com, cloud-only "
       "user alice@contoso.com without immutable id", "AD user already synced (anchor matches)"),
)
RULES: dict[str, Rule] = {r.id: r for r in _RULE_LIST}

LARGE_RULES = frozenset({"usercertificate-count", "usersmimecertificate-count", "certificate-expired",
                         "thumbnailphoto-size", "proxy-count"})
ANCHOR_RULES = frozenset({"anchor-duplicate", "anchor-cloud-mismatch"})
RULE_GROUPS: dict[str, frozenset[str]] = {
    "all": frozenset(RULES),
    "idfix": frozenset(r.id for r in _RULE_LIST if r.source in (IDFIX_MT, IDFIX_FIXED)),
    "microsoft": frozenset(r.id for r in _RULE_LIST if r.source == MS_DOCS),
    "exchange": frozenset(r.id for r in _RULE_LIST if r.source == EXO),
    "reconciler": frozenset(r.id for r in _RULE_LIST if r.source == OURS),
    "large": LARGE_RULES,
    "anchors": ANCHOR_RULES,
}


def select_rules(spec: str | None) -> frozenset[str]:
    """``--rules``: comma-separated groups (all, idfix, microsoft, exchange, reconciler, large, anchors) and
    rule ids; a leading ``-`` removes (``all,-smtp-tld``). Raises ValueError naming an unknown entry."""
    if spec is None or not spec.strip():
        return RULE_GROUPS["all"]
    out: set[str] = set()
    parts = [p.strip().casefold() for p in spec.split(",") if p.strip()]
    if parts and all(p.startswith("-") for p in parts):
        out.update(RULE_GROUPS["all"])
    for p in parts:
        name = p.lstrip("-")
        ids = RULE_GROUPS.get(name) or (frozenset({name}) if name in RULES else None)
        if ids is None:
            raise ValueError(f"unknown rule or group {name!r} (groups: {', '.join(RULE_GROUPS)}; rule ids: see "
                             "docs/check-onprem.md)")
        if p.startswith("-"):
            out.difference_update(ids)
        else:
            out.update(ids)
    return frozenset(out)

# ------------------------------------------------------------------ TLDs


def parse_tlds(text: str) -> frozenset[str]:
    """One TLD a line, ``#`` comments; case-insensitive; a leading dot is allowed."""
    out = set()
    for line in text.splitlines():
        t = line.split("#", 1)[0].strip().lstrip(".").casefold()
        if t:
            out.add(t)
    return frozenset(out)


# ------------------------------------------------------------------ skipped objects (as IdFix skipped them)

_CN_PREFIXES = tuple(p.casefold() for p in (
    "Admini", "CAS_{", "DiscoverySearchMailbox", "FederatedEmail", "Guest", "HTTPConnector", "krbtgt",
    "iusr_", "iwam", "msol", "support_", "SystemMailbox", "WWIOadmini", "HealthMailbox",
    "Exchange Online-ApplicationAccount"))
_SAM_PREFIXES = ("cas_", "support_", "msol_")
_NICK_PREFIXES = ("cas_", "systemmailbox")
# msExchRecipientTypeDetails of system mailboxes, compared as numbers (IdFix compared hex strings
# such as "0x1000", which AD never returns, so its check could not fire).
_SYSTEM_RECIPIENT_TYPES = frozenset({0x1000, 0x2000, 0x800000, 0x20000000, 0x8000000000, 0x10000000000,
                                     0x80000000000})
_SYNCED_CLASSES = frozenset({"user", "group", "contact"})


def _leaf_cn(o: OnPremObject) -> str:
    if o.cn is not None:
        return o.cn
    first = o.dn.split(",", 1)[0]
    return first.partition("=")[2]


def skip_reason(o: OnPremObject) -> str | None:
    """Why Entra Connect never syncs ``o`` (and IdFix skipped it), or None when it is checked."""
    if o.object_class not in _SYNCED_CLASSES:
        return o.object_class  # computer, other
    dn = o.dn.casefold()
    if "\\0acnf:" in dn or "\ncnf:" in dn:
        return "replication conflict (CNF)"
    if o.is_critical_system_object:
        return "critical system object"
    cn = _leaf_cn(o).casefold()
    if cn.endswith("$"):
        return "name ends with $"
    if cn.startswith(_CN_PREFIXES):
        return "system account name"
    if o.object_class == "user" and (o.sam_account_name or "").casefold().startswith(_SAM_PREFIXES):
        return "system account name"
    if (o.mail_nickname or "").casefold().startswith(_NICK_PREFIXES):
        return "system mailbox"
    if o.hidden_from_address_lists and (o.display_name or "").casefold().startswith("msol"):
        return "system account name"
    rtd = o.recipient_type_details
    if rtd and rtd.strip().lstrip("-").isdigit() and int(rtd) in _SYSTEM_RECIPIENT_TYPES:
        return "system mailbox"
    return None


# ------------------------------------------------------------------ address grammar

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}\.)+{_LABEL}"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_DOMAIN}")
_UPN_LOCAL_CH = r"A-Za-z0-9'._!#^~-"
_UPN_OK = re.compile(rf"[A-Za-z0-9'_!#^~-]+(?:\.[A-Za-z0-9'_!#^~-]+)*@{_DOMAIN}")
_DOMAIN_RE = re.compile(_DOMAIN)
_UPN_BAD = re.compile(rf"[^{_UPN_LOCAL_CH}]")
_SMTP_BAD = re.compile(r"[\s<>();,\[\]\"]")
_TARGET_SMTP_BAD = re.compile(r"[\s\\<>();,\[\]\"]")
_TARGET_OTHER_BAD = re.compile(r"[\s\\<>(),\[\]\"]")
_X_BAD = re.compile(r"[\f\n\r\t\v\[\]\"]")
_ADDRLIKE_BAD = re.compile(r"[\s<>(),\[\]\"]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SAM_BAD = re.compile(r"[\\\"|,/\[\]:<>+=;?*]")
# Exchange alias (Set-Mailbox -Alias): letters, digits, !#$%&'*+-/=?^_`{|}~, periods, U+00A1-U+00FF
_NICK_BAD = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.\u00a1-\u00ff]")
_ADDRESS_LIKE_TYPES = frozenset({"sip", "eum", "spo"})


def _tld_ok(domain: str, tlds: frozenset[str]) -> bool:
    return domain.rpartition(".")[2].casefold() in tlds


_LOCAL_OK = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")  # the part of _ADDRESS before the @
_UPN_LOCAL_OK = re.compile(r"[A-Za-z0-9'_!#^~-]+(?:\.[A-Za-z0-9'_!#^~-]+)*")  # the part of _UPN_OK before the @
_GOOD_DOMAINS: dict[frozenset[str], dict[str, bool]] = {}  # TLD list -> domain -> _good_domain's answer


def _good_domain(domain: str, tlds: frozenset[str]) -> bool:
    """``_DOMAIN_RE.fullmatch(domain)`` and its TLD in ``tlds``, remembered per TLD list: the addresses of a forest
    share a handful of domains, and the domain grammar is the costly half of an address check."""
    known = _GOOD_DOMAINS.get(tlds)
    if known is None:
        if len(_GOOD_DOMAINS) >= 8:
            _GOOD_DOMAINS.clear()
        known = _GOOD_DOMAINS[tlds] = {}
    ok = known.get(domain)
    if ok is None:
        ok = bool(_DOMAIN_RE.fullmatch(domain)) and domain.rpartition(".")[2].lower() in tlds
        if len(known) < 4096:
            known[domain] = ok
    return ok


def _good_address(v: str, tlds: frozenset[str]) -> bool:
    """``_ADDRESS.fullmatch(v)`` with its TLD in ``tlds`` (neither part of _ADDRESS holds an @, so the last @
    splits it)."""
    local, at, domain = v.rpartition("@")
    if not at or not _LOCAL_OK.fullmatch(local):
        return False
    known = _GOOD_DOMAINS.get(tlds)  # _good_domain's remembered answer, without the call
    ok = None if known is None else known.get(domain)
    return _good_domain(domain, tlds) if ok is None else ok


def _a_label(domain: str) -> str | None:
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def _shown(chars: Iterable[str]) -> str:
    return " ".join(repr(c) if c.strip() else "whitespace" for c in sorted(set(chars)))


def _dotfix(local: str) -> str:
    return re.sub(r"\.{2,}", ".", local).strip(".")


# ------------------------------------------------------------------ userPrincipalName


def check_upn(v: str, tlds: frozenset[str]) -> list[Hit]:
    """userPrincipalName chain: length, characters, format, IDN, TLD (each sees the previous proposal)."""
    if _good_upn(v, tlds):
        return []
    hits: list[Hit] = []
    cur = v
    for step in (_upn_length, _upn_chars, _upn_format, _upn_idn):
        hit = step(cur)
        if hit is not None:
            hits.append(hit)
            cur = hit.proposed or cur
    domain = cur.rpartition("@")[2]
    if "@" in cur and domain.isascii() and "." in domain and not _tld_ok(domain, tlds):
        hits.append(Hit("upn-tld", f"UPN suffix ends in .{domain.rpartition('.')[2]}, which is not a "
                        "top-level domain: Entra cannot verify it, so sync replaces the UPN with "
                        "<mailNickname>@<tenant>.onmicrosoft.com and sign-in names change. Use a routable "
                        "suffix (add a UPN suffix in AD Domains and Trusts)."))
    return hits


def _good_upn(v: str, tlds: frozenset[str]) -> bool:
    """The common, valid UPN: ``_UPN_OK.fullmatch(v)``, within the lengths, a known TLD."""
    local, at, domain = v.rpartition("@")
    return bool(at and len(v) <= UPN_MAX and len(local) <= UPN_LOCAL_MAX and len(domain) <= UPN_DOMAIN_MAX
                and _UPN_LOCAL_OK.fullmatch(local)) and _good_domain(domain, tlds)


def _upn_length(v: str) -> Hit | None:
    local, _, domain = v.rpartition("@")
    if len(v) <= UPN_MAX and len(local) <= UPN_LOCAL_MAX and len(domain) <= UPN_DOMAIN_MAX:
        return None
    return Hit("upn-length", f"UPN is {len(v)} characters ({len(local)} before @, {len(domain)} after); Entra "
               f"allows {UPN_MAX} in total, {UPN_LOCAL_MAX} before the @ and {UPN_DOMAIN_MAX} after, and "
               "rejects the object (IdentityDataValidationFailed). Choose a shorter UPN.")


def _upn_chars(v: str) -> Hit | None:
    local, at, domain = v.rpartition("@")
    bad_local = _UPN_BAD.findall(local)
    bad_domain = [c for c in domain if c.isspace() or (ord(c) < 128 and not (c.isalnum() or c in ".-"))]
    if not bad_local and not bad_domain:
        return None
    fixed = _UPN_BAD.sub("", _strip_accents(local)) + at + "".join(c for c in domain if c not in bad_domain)
    return Hit("upn-chars", f"UPN contains characters Entra rejects ({_shown(bad_local + bad_domain)}); allowed "
               "before the @: A-Z a-z 0-9 ' . - _ ! # ^ ~. Sync fails with IdentityDataValidationFailed.",
               fixed, "edit")


def _upn_format(v: str) -> Hit | None:
    local, at, domain = v.rpartition("@")
    ascii_domain = domain.isascii()
    if at and local and local[0] != "." and local[-1] != "." and ".." not in local and "@" not in local \
            and (not ascii_domain or _DOMAIN_RE.fullmatch(domain)):
        return None
    fixed: str | None = f"{_dotfix(local.replace('@', ''))}@{domain}" if at and domain else None
    if fixed and ascii_domain and not _UPN_OK.fullmatch(fixed):
        fixed = None
    return Hit("upn-format", "UPN is not of the form user@domain.tld (one @, no period at the start or end of "
               "the name or twice in a row, a dotted domain); Entra rejects it.", fixed, "edit" if fixed else None)


def _upn_idn(v: str) -> Hit | None:
    local, at, domain = v.rpartition("@")
    if not at or domain.isascii():
        return None
    al = _a_label(domain)
    return Hit("upn-idn", f"UPN suffix {domain!r} is written in Unicode; Entra holds internationalised domains "
               "in their xn-- (A-label) form, so the suffix cannot match a verified domain as written.",
               f"{local}@{al}" if al else None, "edit" if al else None)


# ------------------------------------------------------------------ proxyAddresses


def _check_address(prefix: str, addr: str, tlds: frozenset[str], ids: tuple[str, str, str, str],
                   bad_re: re.Pattern[str], what: str) -> list[Hit]:
    """Characters, format, IDN and TLD of an SMTP address; ``ids`` = (chars, format, idn, tld) rule ids."""
    hits: list[Hit] = []
    bad = bad_re.findall(addr)
    if bad:
        addr = bad_re.sub("", addr)
        hits.append(Hit(ids[0], f"{what} contains {_shown(bad)}, which are not allowed in an SMTP address; "
                        "Exchange Online rejects the address (the apostrophe is allowed).",
                        prefix + addr, "edit"))
    local, _, domain = addr.rpartition("@")
    ascii_domain = domain.isascii()
    check_me = addr if ascii_domain else f"{local}@{_a_label(domain) or domain}"
    if ids[1] and not _ADDRESS.fullmatch(check_me):
        hits.append(Hit(ids[1], f"{what} is not a valid address (one @, a name without a period at the "
                        "start or end or twice in a row, ASCII letters, digits and !#$%&'*+/=?^_`{|}~- only, "
                        "a dotted domain); sync carries it but Exchange Online rejects it."))
        return hits
    if ids[2] and not ascii_domain:
        al = _a_label(domain)
        hits.append(Hit(ids[2], f"{what} has the Unicode domain {domain!r}; Entra and Exchange Online hold "
                        "internationalised domains in their xn-- (A-label) form.",
                        f"{prefix}{local}@{al}" if al else None, "edit" if al else None))
        domain = al or domain
    if ids[3] and "." in domain and domain.isascii() and not _tld_ok(domain, tlds):
        hits.append(Hit(ids[3], f"{what} ends in .{domain.rpartition('.')[2]}, which is not a top-level "
                        "domain: the domain can never be verified in Entra, so the address is dropped in "
                        "Exchange Online."))
    return hits


def _extra_colon(prefix: str, rest: str, smtp: bool) -> str | None:
    if smtp and ":" in rest:
        return prefix + rest.replace(":", "")
    if rest.startswith(":"):
        return prefix + rest.lstrip(":")
    return None


def check_proxy(v: str, tlds: frozenset[str]) -> list[Hit]:
    """One proxyAddresses value: length, extra colon, then the rules of its type."""
    if len(v) <= 256:  # fast paths for the common, valid values
        head = v[:5].lower()
        if head == "smtp:":
            if _good_address(v[5:], tlds):
                return []
        elif head in ("x500:", "x400:") and v[5:6] != ":" and _plain_x(v):
            return []
    ptype, colon, rest = v.partition(":")
    low = ptype.casefold()
    hits: list[Hit] = []
    if len(v) > 256:
        hits.append(Hit("proxy-length", f"proxy address is {len(v)} characters; Entra accepts at most 256 "
                        "and drops longer values."))
    if not colon:
        smtp_like = "@" in v and " " not in v.strip()
        hits.append(Hit("proxy-no-prefix", "proxy address has no 'type:' prefix; Exchange treats it as "
                        "invalid and Entra cannot tell whether it is an SMTP address.",
                        f"smtp:{v.strip()}" if smtp_like else None, "edit" if smtp_like else None))
        return hits
    prefix = ptype + ":"
    fixed = _extra_colon(prefix, rest, low == "smtp")
    if fixed is not None:
        hits.append(Hit("proxy-extra-colon", "proxy address has an extra ':' after the type prefix; "
                        "Entra rejects the value.", fixed, "edit"))
        rest = fixed[len(prefix):]
    if low == "smtp":
        hits += _check_address(prefix, rest, tlds, ("smtp-chars", "smtp-format", "smtp-idn", "smtp-tld"),
                               _SMTP_BAD, "SMTP address")
    else:
        hits += _check_other_proxy(low, ptype, prefix, rest)
    return hits


def _plain_x(v: str) -> bool:
    """No ``_X_BAD`` character after the 5-character prefix; ``isprintable`` (no control character) with no [ ] "
    answers most values quicker than the search."""
    return v.isprintable() and '"' not in v and "[" not in v and "]" not in v or not _X_BAD.search(v, 5)


def _check_other_proxy(low: str, ptype: str, prefix: str, rest: str) -> list[Hit]:
    if low in ("x400", "x500"):
        bad, rule = _X_BAD.findall(rest), f"{low}-chars"
        why = ("control characters, [ ] and \" are not allowed (spaces, apostrophes and parentheses are "
               "valid here)")
        fixed = _X_BAD.sub("", rest)
    elif low in _ADDRESS_LIKE_TYPES:
        bad, rule = _ADDRLIKE_BAD.findall(rest), "proxy-chars"
        why = "whitespace and < > ( ) , [ ] \" are not allowed in an address-like proxy"
        fixed = _ADDRLIKE_BAD.sub("", rest)
    else:
        bad, rule = _CONTROL.findall(rest), "proxy-chars"
        why = "control characters are not allowed"
        fixed = _CONTROL.sub("", rest)
    if not bad:
        return []
    return [Hit(rule, f"{ptype} proxy contains {_shown(bad)}: {why}; Entra rejects the value.",
                prefix + fixed.lstrip(":"), "edit")]  # stripping may uncover a colon after the prefix


def primary_smtp(proxies: Iterable[str]) -> list[str]:
    return [p for p in proxies if p.startswith("SMTP:")]


# ------------------------------------------------------------------ targetAddress


def check_target_address(v: str, tlds: frozenset[str]) -> list[Hit]:
    ptype, colon, rest = v.partition(":")
    low = ptype.casefold()
    if low == "smtp" and len(v) <= 255 and _ADDRESS.fullmatch(rest):
        return []
    hits: list[Hit] = []
    if len(v) > 255:
        hits.append(Hit("targetaddress-length", f"targetAddress is {len(v)} characters; at most 255 are "
                        "allowed."))
    if not colon:
        return hits
    prefix = ptype + ":"
    fixed = _extra_colon(prefix, rest, low == "smtp")
    if fixed is not None:
        hits.append(Hit("targetaddress-extra-colon", "targetAddress has an extra ':' after the type prefix.",
                        fixed, "edit"))
        rest = fixed[len(prefix):]
    if low == "smtp":
        hits += _check_address(prefix, rest, tlds, ("targetaddress-chars", "targetaddress-format", "", ""),
                               _TARGET_SMTP_BAD, "targetAddress")
    else:
        bad = _TARGET_OTHER_BAD.findall(rest)
        if bad:
            hits.append(Hit("targetaddress-chars", f"targetAddress contains {_shown(bad)}, which are not "
                            "allowed.", prefix + _TARGET_OTHER_BAD.sub("", rest), "edit"))
    return hits


# ------------------------------------------------------------------ mail


def check_mail(v: str, tlds: frozenset[str]) -> list[Hit]:
    """mail as Exchange Online reads it: a valid SMTP address (characters, format, IDN, TLD)."""
    if _good_address(v, tlds):
        return []
    return _check_address("", v, tlds, ("mail-chars", "mail-format", "mail-idn", "mail-tld"), _SMTP_BAD, "mail")


# ------------------------------------------------------------------ large attributes


def _not_after(der: bytes) -> datetime | None:
    """A certificate's notAfter (UTC), or None when the value is not a readable X.509 certificate."""
    from cryptography import x509  # lazy: only objects with certificates pay for the import

    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc
    except (ValueError, TypeError):
        return None


def check_certificates(o: OnPremObject, now: datetime) -> list[tuple[str, str, Hit]]:
    """userCertificate / userSMIMECertificate over 15 values; expired ones proposed for removal first.
    The value of a certificate problem is the certificate's base64 (as ldifde writes it)."""
    out: list[tuple[str, str, Hit]] = []
    for attr, rule, certs in (("userCertificate", "usercertificate-count", o.user_certificates),
                              ("userSMIMECertificate", "usersmimecertificate-count", o.smime_certificates)):
        if len(certs) <= CERT_MAX:
            continue
        dated = [(c, _not_after(c)) for c in certs]
        expired = [(c, t) for c, t in dated if t is not None and t < now]
        unreadable = sum(1 for _, t in dated if t is None)
        left = len(certs) - len(expired)
        tail = (f"Removing the {len(expired)} expired ones brings it to {left}"
                + (" (within the limit)." if left <= CERT_MAX else f", still over: remove {left - CERT_MAX} more "
                   "(revoked or superseded certificates).") if expired else
                "None has expired: remove revoked or superseded certificates.")
        if unreadable:
            tail += f" {unreadable} values are not readable X.509 certificates."
        out.append((attr, f"{len(certs)} values", Hit(rule, f"{attr} holds {len(certs)} certificates; Entra accepts "
                    f"at most {CERT_MAX} and the export fails (LargeObject). {tail}")))
        for c, t in sorted(expired, key=lambda ct: ct[1]):
            out.append((attr, base64.b64encode(c).decode("ascii"), Hit(
                "certificate-expired", f"expired on {t:%Y-%m-%d} (notAfter): an expired certificate is no longer "
                "used to encrypt or verify, so it is the first to remove.", None, "remove")))
    return out


def check_large(o: OnPremObject) -> list[tuple[str, str, Hit]]:
    """thumbnailPhoto over 100 KB, proxyAddresses over 300 values (certificates: check_certificates)."""
    out = []
    size = o.thumbnail_photo_size
    if size is not None and size > PHOTO_MAX:
        out.append(("thumbnailPhoto", f"{size} bytes", Hit("thumbnailphoto-size", f"thumbnailPhoto is "
                    f"{size / 1024:.0f} KB; Entra accepts at most 100 KB and the export fails (LargeObject). Store "
                    "a smaller photo (96×96 JPEG is what AD and Outlook use).")))
    n = len(o.proxy_addresses)
    if n > PROXY_COUNT_MAX:
        out.append(("proxyAddresses", f"{n} values", Hit("proxy-count", f"{n} proxy addresses; Entra limits the size "
                    "of the whole object (about 330 addresses on an otherwise bare user, fewer with certificates "
                    "and licences) and the export fails (LargeObject). Microsoft advises staying under about "
                    "300: remove unused addresses (old SMTP, X400, MSMail, CcMail).")))
    return out


# ------------------------------------------------------------------ simple attributes


def check_simple(o: OnPremObject) -> list[tuple[str, str, Hit]]:
    """displayName, givenName, sn, mail (length), mailNickname, sAMAccountName: (attribute, value, hit)."""
    dn_, g, n, s, sn = o.display_name, o.given_name, o.mail_nickname, o.sam_account_name, o.sn
    if (dn_ and len(dn_) <= 255 and not dn_.isspace() and (not g or len(g) <= 63) and (not sn or len(sn) <= NAME_MAX)
            and (not o.mail or len(o.mail) <= 256) and (not n or (len(n) <= 64 and not _NICK_BAD.search(n)
                                                                  and n[0] != "." and n[-1] != "." and ".." not in n))
            and (not s or (len(s) <= 20 and not _SAM_BAD.search(s)))
            and dn_.isprintable() and (not g or g.isprintable()) and (not sn or sn.isprintable())):
        return []  # the common, valid case
    out: list[tuple[str, str, Hit]] = []
    if dn_ is None or not dn_.strip():
        cn = _leaf_cn(o)
        out.append(("displayName", dn_ or "", Hit(
            "displayname-blank", "displayName is blank; Entra and the address lists then show no usable "
            "name for the object (IdFix proposes the cn).", cn[:255] or None, "edit" if cn else None)))
    elif len(dn_) > 255:
        out.append(("displayName", dn_, Hit("displayname-length", f"displayName is {len(dn_)} characters; "
                    "Entra allows 256 and IdFix 255.", dn_[:255], "edit")))
    if g and len(g) > 63:
        out.append(("givenName", g, Hit("givenname-length", f"givenName is {len(g)} characters; Entra "
                    "allows 64 and IdFix 63.", g[:63], "edit")))
    if sn and len(sn) > NAME_MAX:
        out.append(("sn", sn, Hit("sn-length", f"sn is {len(sn)} characters; Entra allows {NAME_MAX} for a "
                    "surname and rejects the object.", sn[:NAME_MAX], "edit")))
    if o.mail and len(o.mail) > 256:
        out.append(("mail", o.mail, Hit("mail-length", f"mail is {len(o.mail)} characters; Entra allows "
                    "256.")))
    out += check_names(o)
    out += _check_nickname(o.mail_nickname)
    out += _check_sam(o)
    return out


def check_names(o: OnPremObject) -> list[tuple[str, str, Hit]]:
    """Control characters in displayName, givenName, sn (letters of any script, apostrophes, hyphens are fine)."""
    out = []
    for attr, v in (("displayName", o.display_name), ("givenName", o.given_name), ("sn", o.sn)):
        if v and _CONTROL.search(v):
            fixed = " ".join(_CONTROL.sub(" ", v).split())
            out.append((attr, v, Hit("name-chars", f"{attr} contains control characters ({_shown(_CONTROL.findall(v))}"
                        "): they break address lists, sign-in pages and CSV exports; Microsoft asks for them to be "
                        "removed before sync.", fixed or None, "edit" if fixed else None)))
    return out


def _check_nickname(n: str | None) -> list[tuple[str, str, Hit]]:
    if not n:
        return []
    out = []
    cur = n
    if len(n) > 64:
        out.append(("mailNickname", n, Hit("mailnickname-length", f"mailNickname is {len(n)} characters; "
                    "Exchange Online allows 64.", n[:64], "edit")))
        cur = n[:64]
    if cur[0] == "." or cur[-1] == "." or ".." in cur:
        fixed = _dotfix(cur)
        out.append(("mailNickname", n, Hit("mailnickname-period", "mailNickname starts or ends with a period, "
                    "or has two in a row; Exchange Online allows a period only between two other characters.",
                    fixed or None, "edit" if fixed else None)))
        cur = fixed or cur
    bad = _NICK_BAD.findall(cur)
    if bad:
        fixed = _dotfix(_NICK_BAD.sub("", cur))
        out.append(("mailNickname", n, Hit("mailnickname-chars", f"mailNickname contains {_shown(bad)}, which "
                    "Exchange Online does not allow in an alias; Entra syncs the alias with '_' in their place "
                    "(and derives addresses from it).", fixed or None, "edit" if fixed else None)))
    return out


def _check_sam(o: OnPremObject) -> list[tuple[str, str, Hit]]:
    s = o.sam_account_name
    if not s:
        return []
    out = []
    limit = 20 if o.object_class == "user" else 256
    if len(s) > limit:
        out.append(("sAMAccountName", s, Hit("samaccountname-length", f"sAMAccountName is {len(s)} "
                    f"characters; at most {limit} are allowed for a {o.object_class}.")))
    bad = _SAM_BAD.findall(s)
    if bad:
        fixed = _SAM_BAD.sub("", s)
        out.append(("sAMAccountName", s, Hit("samaccountname-chars", f"sAMAccountName contains "
                    f"{_shown(bad)}, which are not allowed.", fixed or None, "edit" if fixed else None)))
    return out
