"""The one decoding path for Active Directory entries.

LDIF, csvde and LDAP readers all hand an entry over as ``dn`` plus a mapping of
lower-cased attribute names to raw ``bytes`` values; :func:`decode_entry` turns
that into an :class:`~reconciler.core.model.OnPremObject`. Binary attributes
(objectGUID, objectSid, mS-DS-ConsistencyGuid) are decoded here and only here; of the large binary
attributes (userCertificate, userSMIMECertificate, thumbnailPhoto) the certificates are kept raw and
the photo only as its size.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields
from dataclasses import field as _field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from ..core.anchors import common_dn_suffix, guid_bytes_to_str, sid_bytes_to_str
from ..core.errors import BadInput
from ..core.model import OnPremObject, OnPremSource, new_onprem_object

__all__ = ["decode_entry", "read_onprem_file", "iter_onprem_file", "source_from_objects", "generalized_time_to_iso",
           "ONPREM_ATTRIBUTES", "ReadReport", "RecordShapes", "is_ad_object", "source_notes"]

# What the matcher and the checks read (LDAP asks for exactly these).
ONPREM_ATTRIBUTES = (
    "objectGUID", "objectSid", "mS-DS-ConsistencyGuid", "userPrincipalName", "mail",
    "proxyAddresses", "mailNickname", "sAMAccountName", "displayName", "givenName", "sn", "cn",
    "targetAddress", "homeMDB", "msExchRecipientTypeDetails", "userAccountControl",
    "whenCreated", "whenChanged", "objectClass", "distinguishedName", "isCriticalSystemObject",
    "groupType", "msExchHideFromAddressLists",
)

_CLASS_ORDER = (("computer", "computer"), ("contact", "contact"), ("group", "group"),
                ("user", "user"), ("inetorgperson", "user"))


class EntryError(ValueError):
    """A value in an entry cannot be decoded; the reader adds file and line."""


@dataclass(slots=True)
class ReadReport:
    """What a file reader noticed besides the objects: the evidence about the evidence.

    ``incomplete`` lists why the file is not the whole export it claims to be
    (cut off, a size limit hit): such a source never proves that an object is
    absent. ``notes`` are other warnings; ``skipped`` counts records that are not
    directory entries (search references, result trailers), by kind.
    """

    notes: list[str] = _field(default_factory=list)
    incomplete: list[str] = _field(default_factory=list)
    skipped: dict[str, int] = _field(default_factory=dict)
    ldapsearch: bool = False  # the file starts with ldapsearch's "# extended LDIF" header
    trailer: bool = False  # an ldapsearch "result:" trailer was read
    requested: tuple[str, ...] | None = None  # ldapsearch "# requesting:" list, when given

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1


# Attributes every Active Directory object has: when every other record of a file
# carries one of them and the last record does not, the file was cut inside it.
UNIVERSAL_ATTRIBUTES = frozenset({"objectclass", "objectguid", "distinguishedname", "instancetype", "whencreated",
                                  "whenchanged", "usncreated", "usnchanged", "name", "objectcategory"})


class RecordShapes:
    """Spots a last record cut short: it lacks a universal attribute every earlier record has."""

    __slots__ = ("common", "last", "count", "last_dn")

    def __init__(self) -> None:
        self.common: set[str] | None = None
        self.last: Mapping[str, object] | None = None
        self.count = 0
        self.last_dn = ""

    def add(self, dn: str, attrs: Mapping[str, object]) -> None:
        """``attrs``: the record's attributes by lower-case name (kept by reference until the next record)."""
        prev = self.last
        if prev is not None:
            if self.common is None:
                self.common = {a for a in UNIVERSAL_ATTRIBUTES if a in prev}
            elif self.common and not self.common <= prev.keys():  # (a new set only when one is missing)
                self.common = {a for a in self.common if a in prev}
        self.last = attrs
        self.last_dn = dn
        self.count += 1

    def finish(self, report: ReadReport) -> None:
        if self.count < 2 or self.common is None or self.last is None:
            return
        missing = sorted(a for a in self.common if a not in self.last)
        if missing:
            report.incomplete.append(
                f"the last record ({self.last_dn}) lacks {', '.join(missing)}, which every other record has: "
                "the file was probably cut off inside it")


def _text(values: Sequence[bytes] | None, attr: str) -> str | None:
    if not values:
        return None
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise EntryError(f"{attr} is not UTF-8 text") from None


def _int(values: Sequence[bytes] | None, attr: str) -> int | None:
    s = _text(values, attr)
    if s is None or not s.strip():
        return None
    try:
        return int(s.strip())
    except ValueError:
        raise EntryError(f"{attr} is not a number: {s[:40]!r}") from None


def generalized_time_to_iso(value: str | None) -> str | None:
    """``20261120101500.0Z`` -> ``2026-11-20T10:15:00Z``; other shapes kept as given."""
    if not value:
        return None
    v = value.strip()
    if len(v) >= 14 and v[:14].isdigit():
        return f"{v[0:4]}-{v[4:6]}-{v[6:8]}T{v[8:10]}:{v[10:12]}:{v[12:14]}Z"
    return v


_CLASS_CACHE: dict[tuple[str, ...], str] = {}


def _object_class(classes: tuple[str, ...]) -> str:
    kind = _CLASS_CACHE.get(classes)
    if kind is None:
        low = {c.casefold() for c in classes}
        kind = next((k for name, k in _CLASS_ORDER if name in low), "other")
        if len(_CLASS_CACHE) < 256:
            _CLASS_CACHE[classes] = kind
    return kind


# (model field, lower-case LDAP name, display name) of single-valued text attributes
_TEXT_FIELDS = (
    ("user_principal_name", "userprincipalname", "userPrincipalName"), ("mail", "mail", "mail"),
    ("mail_nickname", "mailnickname", "mailNickname"), ("sam_account_name", "samaccountname", "sAMAccountName"),
    ("display_name", "displayname", "displayName"), ("given_name", "givenname", "givenName"), ("sn", "sn", "sn"),
    ("cn", "cn", "cn"), ("target_address", "targetaddress", "targetAddress"), ("home_mdb", "homemdb", "homeMDB"),
    ("recipient_type_details", "msexchrecipienttypedetails", "msExchRecipientTypeDetails"),
)
_TEXT_NAMES = tuple(name for _, name, _ in _TEXT_FIELDS)
assert _TEXT_NAMES == ("userprincipalname", "mail", "mailnickname", "samaccountname", "displayname", "givenname",
                       "sn", "cn", "targetaddress", "homemdb", "msexchrecipienttypedetails")  # _decode unpacks them
_BINARY = {"objectguid", "objectsid", "ms-ds-consistencyguid"}


def _flag(values: Sequence[bytes] | None) -> bool:
    return bool(values) and values[0].strip().upper() == b"TRUE"  # type: ignore[index]


_BUILD_ORDER = (
    "dn", "object_class", "object_classes", "object_guid", "object_sid", "consistency_guid", "user_principal_name",
    "mail", "proxy_addresses", "mail_nickname", "sam_account_name", "display_name", "given_name", "sn", "cn",
    "target_address", "home_mdb", "recipient_type_details", "user_account_control", "when_created", "when_changed",
    "is_critical_system_object", "group_type", "hidden_from_address_lists", "source", "user_certificates",
    "smime_certificates", "thumbnail_photo_size")
assert _BUILD_ORDER == tuple(f.name for f in fields(OnPremObject))  # _decode passes the fields by position


def _decode(dn: str, attrs: Mapping[str, Sequence[bytes]], source: str) -> OnPremObject:
    g = attrs.get
    guid, sid, cg = g("objectguid"), g("objectsid"), g("ms-ds-consistencyguid")
    try:
        guid_s = guid_bytes_to_str(guid[0]) if guid else None
        sid_s = sid_bytes_to_str(sid[0]) if sid else None
    except ValueError as e:
        raise EntryError(str(e)) from None
    oc = g("objectclass")
    classes = tuple([c.decode("utf-8") for c in oc]) if oc else ()
    proxies = g("proxyaddresses")
    wc, wch = g("whencreated"), g("whenchanged")
    photo = g("thumbnailphoto")
    upn, mail, nick, sam, display, given, sn, cn, target, mdb, rtd = [
        v[0].decode("utf-8") if (v := g(name)) else None for name in _TEXT_NAMES]
    return new_onprem_object(  # by position, in _BUILD_ORDER (no keyword matching per object)
        dn, _object_class(classes), classes, guid_s, sid_s,
        base64.b64encode(cg[0]).decode("ascii") if cg and cg[0] else None,
        upn, mail, tuple([p.decode("utf-8") for p in proxies]) if proxies else (),
        nick, sam, display, given, sn, cn, target, mdb, rtd,
        _int(g("useraccountcontrol"), "userAccountControl"),
        generalized_time_to_iso(wc[0].decode("utf-8")) if wc else None,
        generalized_time_to_iso(wch[0].decode("utf-8")) if wch else None,
        _flag(g("iscriticalsystemobject")), _int(g("grouptype"), "groupType"),
        _flag(g("msexchhidefromaddresslists")), source,
        _binary_values(attrs, "usercertificate"), _binary_values(attrs, "usersmimecertificate"),
        len(photo[0]) if photo else None,
    )


def _binary_values(attrs: Mapping[str, Sequence[bytes]], name: str) -> tuple[bytes, ...]:
    """A binary multi-valued attribute (also under its ``;binary`` option), its raw values."""
    plain, binary = attrs.get(name), attrs.get(name + ";binary")
    if not plain and not binary:  # most objects: neither
        return ()
    return tuple(v for v in (*(plain or ()), *(binary or ())) if v)


def decode_entry(dn: str, attrs: Mapping[str, Sequence[bytes]], source: str = "") -> OnPremObject:
    """Raw entry -> model. ``attrs`` keys are lower-case attribute names, values raw bytes."""
    try:
        return _decode(dn, attrs, source)
    except UnicodeDecodeError:
        names = {name: shown for _, name, shown in _TEXT_FIELDS}
        names.update(objectclass="objectClass", proxyaddresses="proxyAddresses", whencreated="whenCreated",
                     whenchanged="whenChanged")
        for name, values in attrs.items():
            if name in names and not all(_is_utf8(v) for v in values):
                raise EntryError(f"{names[name]} is not UTF-8 text") from None
        raise EntryError("a value is not UTF-8 text") from None


def _is_utf8(v: bytes) -> bool:
    try:
        v.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def source_from_objects(label: str, objects: Iterable[OnPremObject], *,
                        base_dn: str | None = None) -> OnPremSource:
    objs = list(objects)
    if base_dn is None:
        base_dn = common_dn_suffix([o.dn for o in objs])
    return OnPremSource(label=label, base_dn=base_dn, objects=objs)


_ARCHIVES = ((b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "a gzip file"), (b"7z\xbc\xaf", "a 7-Zip archive"))


def _archive_kind(p: Path) -> str | None:
    """An export still packed for the copy off the DC (its bytes would read as garbage attribute names)."""
    try:
        with p.open("rb") as f:
            head = f.read(6)
    except OSError:  # missing, a folder, unreadable: the reader below says so
        return None
    return next((kind for magic, kind in _ARCHIVES if head.startswith(magic)), None)


def refuse_archive(p: Path) -> None:
    kind = _archive_kind(p)
    if kind:
        raise BadInput(p, f"is {kind}, not an export: extract the .ldif/.ldf or .csv file from it and pass that")


def iter_onprem_file(path: Path | str, report: ReadReport | None = None) -> Iterator[OnPremObject]:
    """Stream objects from an ``.ldif``/``.ldf``, csvde or PowerShell ``Export-Csv`` ``.csv`` file."""
    p = Path(path)
    refuse_archive(p)
    suffix = p.suffix.casefold()
    if suffix in (".ldif", ".ldf"):
        from .ldif import iter_ldif_objects

        return iter_ldif_objects(p, report)
    if suffix in (".csv", ".tsv"):
        from .csvde import iter_csv_objects

        return iter_csv_objects(p, report)
    raise BadInput(p, "unknown on-prem file type; expected .ldif, .ldf (ldifde, ldapsearch) or .csv "
                      "(csvde, PowerShell Export-Csv)")


_AD_CLASSES = frozenset({"user", "group", "contact", "computer"})


def is_ad_object(o: OnPremObject) -> bool:
    """Evidence that an entry comes from Active Directory: an AD identifier or an AD object class."""
    if o.object_guid or o.object_sid or o.consistency_guid or o.sam_account_name:
        return True
    return any(c.casefold() in _AD_CLASSES for c in o.object_classes)


_LINK_ATTRIBUTES = "objectGUID, mS-DS-ConsistencyGuid, objectSid, proxyAddresses, mail, userPrincipalName"


def source_notes(src: OnPremSource, report: ReadReport | None = None) -> list[str]:
    """The warnings a source earns: incomplete, objects it cannot link (and so does not cover)."""
    notes = list(report.notes) if report else []
    for why in src.incomplete:
        notes.append(f"incomplete export: {why}; it proves no object absent (no orphan verdicts from it)")
    gaps = src.unlinkable()
    if gaps:
        total = sum(gaps.values()) + src.linkable_count()
        parts = "; ".join(f"{n} of {total} {why}" for why, n in gaps.items())
        notes.append(f"cannot link {parts}: holders in its scope stay unverified_holder, never orphaned_holder "
                     f"(export with at least {_LINK_ATTRIBUTES})")
    if src.base_dn is None and src.objects:
        notes.append("its objects share no DN suffix (no common DC= parts), so it covers no location: no holder "
                     "can be judged an orphan from it")
    if report is not None and report.requested is not None:
        low = {r.casefold() for r in report.requested}
        missing = [a for a in ("objectGUID", "mS-DS-ConsistencyGuid") if a.casefold() not in low]
        if missing and not gaps:
            notes.append(f"the ldapsearch request did not ask for {', '.join(missing)}")
    return notes


def is_dn_only(o: OnPremObject) -> bool:
    return not o.object_classes and not o.user_principal_name and not o.mail


def refuse_without_ad_objects(p: Path, total: int, ad: int, only_dn: bool) -> None:
    """BadInput for an export with no entries, or none from Active Directory (scan and check-onprem alike)."""
    if not total:
        raise BadInput(p, "contains no directory objects")
    if not ad:
        raise BadInput(p, f"holds no Active Directory objects ({total} entries, " + (
            "only DNs: export the attributes too" if only_dn else
            "none with objectGUID, objectSid or sAMAccountName, none of class user, group or contact") +
            "; is this an OpenLDAP or other non-AD directory?)")


def read_onprem_file(path: Path | str, parallel: bool = False) -> OnPremSource:
    """Every object of an export; ``parallel``: a large csvde file is decoded in child processes
    (``csv_parts``), the same objects in the same order."""
    p = Path(path)
    report = ReadReport()
    if parallel and p.suffix.casefold() == ".csv":
        from .csv_parts import iter_csv_objects_parallel

        refuse_archive(p)
        objs = list(iter_csv_objects_parallel(p, report))
    else:
        objs = list(iter_onprem_file(p, report))
    ad = [o for o in objs if is_ad_object(o)]
    refuse_without_ad_objects(p, len(objs), len(ad), all(is_dn_only(o) for o in objs))
    if len(ad) < len(objs):
        report.notes.append(f"{len(objs) - len(ad)} of {len(objs)} entries are not Active Directory objects "
                            "(no objectGUID, objectSid or sAMAccountName, no user/group/contact class) and "
                            "were ignored")
    src = source_from_objects(str(p), ad)
    src.complete = not report.incomplete
    src.incomplete = tuple(report.incomplete)
    src.skipped = sum(report.skipped.values())
    src.notes = tuple(source_notes(src, report))
    return src
