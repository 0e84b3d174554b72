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

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

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
    "parse_tlds",
    "primary_smtp",
    "skip_reason",
]

ERROR, WARNING, INFO = "error", "warning", "info"
UPN_MAX, UPN_LOCAL_MAX, UPN_DOMAIN_MAX = 113, 64, 48
IDFIX_MT = "IdFix Multi-Tenant"
IDFIX_FIXED = "IdFix Multi-Tenant, corrected"
OURS = "reconciler (not in IdFix)"


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
       "starts (IdFix) or ends (Exchange alias rule) with a period; proposes it without",
       ".alice", "alice.moreau"),
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
    _r("soft-match", "userPrincipalName|proxyAddresses", "soft_match", WARNING, OURS,
       "a new on-prem object whose UPN (softMatchOnUpnEnabled on or unknown) or primary SMTP equals a "
       "cloud-only object's: the first sync merges them", "new AD user alice@contoso.com, cloud-only "
       "user alice@contoso.com without immutable id", "AD user already synced (anchor matches)"),
)
RULES: dict[str, Rule] = {r.id: r for r in _RULE_LIST}

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
_ADDRESS_LIKE_TYPES = frozenset({"sip", "eum", "spo"})


def _tld_ok(domain: str, tlds: frozenset[str]) -> bool:
    return domain.rpartition(".")[2].casefold() in tlds


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
    local, _, domain = v.rpartition("@")
    if (_UPN_OK.fullmatch(v) and len(v) <= UPN_MAX and len(local) <= UPN_LOCAL_MAX
            and len(domain) <= UPN_DOMAIN_MAX and _tld_ok(domain, tlds)):
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
            if _ADDRESS.fullmatch(v, 5) and v.rpartition(".")[2].lower() in tlds:
                return []
        elif head in ("x500:", "x400:") and v[5:6] != ":" and not _X_BAD.search(v, 5):
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
                prefix + fixed, "edit")]


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


# ------------------------------------------------------------------ simple attributes


def check_simple(o: OnPremObject) -> list[tuple[str, str, Hit]]:
    """displayName, givenName, mail, mailNickname, sAMAccountName: (attribute, value, hit)."""
    dn_, g, n, s = o.display_name, o.given_name, o.mail_nickname, o.sam_account_name
    if (dn_ and len(dn_) <= 255 and not dn_.isspace() and (not g or len(g) <= 63)
            and (not o.mail or len(o.mail) <= 256) and (not n or (len(n) <= 64 and n[0] != "." and n[-1] != "."))
            and (not s or (len(s) <= 20 and not _SAM_BAD.search(s)))):
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
    if o.mail and len(o.mail) > 256:
        out.append(("mail", o.mail, Hit("mail-length", f"mail is {len(o.mail)} characters; Entra allows "
                    "256.")))
    out += _check_nickname(o.mail_nickname)
    out += _check_sam(o)
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
    if cur[0] == "." or cur[-1] == ".":
        fixed = cur.strip(".")
        out.append(("mailNickname", n, Hit("mailnickname-period", "mailNickname starts or ends with a "
                    "period; Exchange Online rejects such an alias.", fixed or None,
                    "edit" if fixed else None)))
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
