"""Conflict planting for :mod:`reconciler.emulator.generate`: one function per scenario (README, "What a finding says").

Each planter writes the erroring object (E), its on-prem source (S) when the
LDIF holds one, the holder (H) as the scenario needs it, and records the
finding *as planted*. Variants rotate so every holder kind appears: users,
groups and contacts, active and deleted, linked, orphaned and from the second
forest that the LDIF does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .generate import (
    CORP_DOMAIN,
    CORP_SID,
    DOMAIN,
    FAB_DOMAIN,
    FAB_SID,
    INITIAL,
    OnPrem,
    Person,
    _b64,
    _deleted_user,
    error,
)

if TYPE_CHECKING:
    from .generate import Generator

__all__ = ["PLANTERS", "plant"]


def _source(gen: Generator, *, forest: str = "corp") -> tuple[Person, OnPrem, str, str]:
    """A new on-prem user S: primary address v and a secondary alias."""
    p = gen.person()
    v, alias = f"{p.local}@{DOMAIN}", f"{p.first.lower()}{p.serial}@{DOMAIN}"
    op = gen.onprem_user(p, forest=forest, proxies=[f"SMTP:{v}", f"smtp:{alias}"], write=forest == "corp")
    return p, op, v, alias


def _upn_error_user(gen: Generator, p: Person, op: OnPrem, v: str, alias: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """E after DAR quarantined its UPN: <prefix><4 digits>@initial domain."""
    err = error("UserPrincipalName", v)
    upn = f"{p.local}{gen.rng.randint(1000, 9999)}@{INITIAL}"
    user = gen.cloud_user(p, op, upn=upn, mail=v, proxies=[f"SMTP:{v}", f"smtp:{alias}"], errors=[err])
    user["onPremisesUserPrincipalName"] = v
    return user, err


def _proxy_error_user(gen: Generator, p: Person, op: OnPrem, v: str, alias: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """E after DAR left out one proxy address (spelled with or without ``smtp:``)."""
    err = error("ProxyAddress", gen.rng.choice((f"smtp:{alias}", alias)))
    return gen.cloud_user(p, op, proxies=[f"SMTP:{v}"], errors=[err]), err


def _error_user(gen: Generator, upn: bool, p: Person, op: OnPrem, v: str, alias: str
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    return (_upn_error_user if upn else _proxy_error_user)(gen, p, op, v, alias)


def _other_person(gen: Generator, extra_proxies: list[str], forest: str | None = None,
                  upn: str | None = None, write: bool = False) -> tuple[dict[str, Any], OnPrem | None]:
    hp = gen.person()
    mail = f"{hp.local}@{DOMAIN}"
    proxies = [f"SMTP:{mail}", *extra_proxies]
    op = gen.onprem_user(hp, forest=forest, proxies=proxies, upn=upn, write=write) if forest else None
    return gen.cloud_user(hp, op, upn=upn, mail=mail, proxies=proxies), op


def _orphan_anchor(gen: Generator, dn: str, serial: int, domain: str = CORP_DOMAIN) -> OnPrem:
    """An anchor no LDIF object carries (the AD object was deleted or re-created)."""
    g = gen.guid()
    return OnPrem(dn, g, f"{CORP_SID}-{900000 + serial}", domain, _b64(g.bytes_le))


def twin(gen: Generator) -> None:
    p, op, v, alias = _source(gen)
    upn = gen.variant("cloud_only_twin", 2) == 0
    if upn:  # the cloud mailbox created before sync holds the UPN
        h = gen.cloud_user(p, None)
    else:  # the cloud account holds the alias as its address
        h = gen.cloud_user(p, None, upn=f"{p.local}@{INITIAL}", mail=alias, proxies=[f"SMTP:{alias}"])
    e, err = _error_user(gen, upn, p, op, v, alias)
    gen.sink.add("users", h)
    gen.sink.add("users", e)
    scenario = "cloud_only_twin"
    note = "cloud-only user created before sync holds the value"
    if gen.rng.random() < 0.25 and gen.give_role(h["id"], "cloud twin holds, is eligible for, or inherits a directory role"):
        scenario = "admin_role_conflict"  # an active role (direct or inherited): Entra never soft-matches it
        note = "cloud-only user with an active directory role holds the value"
    if gen.rng.random() < 0.15:  # a recycle-bin copy also holds it: the active twin stays first
        d, _ = _other_person(gen, [f"smtp:{v if upn else alias}"])
        gen.sink.add("deletedUsers", _deleted_user(d))
        note += "; a deleted user also holds it (sorts after the active holder)"
    gen.expect(e, "user", err, scenario, h, op, note)


def other_type(gen: Generator) -> None:
    variant = gen.variant("cloud_only_other_type", 3)
    if variant == 2:
        return _group_error_user_holder(gen)
    p, op, v, alias = _source(gen)
    if variant == 0:
        local = alias.split("@")[0]
        h = gen.group(f"{p.first} {local} team", alias, [f"SMTP:{alias}", f"smtp:{local}@{INITIAL}"])
        gen.sink.add("groups", h)
        note = "cloud-only Microsoft 365 group holds the address"
    else:
        h = gen.contact(p, alias, [f"SMTP:{alias}"], synced=False)
        gen.sink.add("contacts", h)
        note = "cloud-only mail contact holds the address"
    e, err = _proxy_error_user(gen, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "cloud_only_other_type", h, op, note)


def _group_error_user_holder(gen: Generator) -> None:
    gen.serial += 1
    n = gen.serial
    name, mail, alias = f"Project {n}", f"project{n}@{DOMAIN}", f"proj{n}@{DOMAIN}"
    gop = gen.onprem_group(name, mail, [f"SMTP:{mail}", f"smtp:{alias}"])
    err = error("ProxyAddress", f"smtp:{alias}")
    e = gen.group(name, mail, [f"SMTP:{mail}"], op=gop, errors=[err], unified=False)
    h, _ = _other_person(gen, [f"smtp:{alias}"])
    gen.sink.add("groups", e)
    gen.sink.add("users", h)
    gen.expect(e, "group", err, "cloud_only_other_type", h, gop, "synced group's alias is held by a cloud-only user")


def onprem_duplicate(gen: Generator) -> None:
    variant = gen.variant("onprem_duplicate", 4)
    p, op, v, alias = _source(gen)
    if variant == 0:  # two AD users with the same UPN
        h, _ = _other_person(gen, [], forest="corp", upn=v, write=True)
        gen.sink.add("users", h)
        note = "two on-prem users carry the same UPN"
    elif variant == 1:
        h, _ = _other_person(gen, [f"smtp:{alias}"], forest="corp", write=True)
        gen.sink.add("users", h)
        note = "two on-prem users carry the same proxy address"
    elif variant == 2:
        gen.serial += 1
        name, gmail = f"Distribution {gen.serial}", f"dl{gen.serial}@{DOMAIN}"
        gop = gen.onprem_group(name, gmail, [f"SMTP:{gmail}", f"smtp:{alias}"])
        h = gen.group(name, gmail, [f"SMTP:{gmail}", f"smtp:{alias}"], op=gop, unified=False)
        gen.sink.add("groups", h)
        note = "a synced on-prem group also carries the address"
    else:
        cp = gen.person()
        gen.onprem_contact(cp, alias, [f"SMTP:{alias}"])
        h = gen.contact(cp, alias, [f"SMTP:{alias}"], synced=True)
        gen.sink.add("contacts", h)
        note = "a synced on-prem contact also carries the address"
    e, err = _error_user(gen, variant == 0, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "onprem_duplicate", h, op, note)


def orphaned(gen: Generator) -> None:
    variant = gen.variant("orphaned_holder", 3)
    p, op, v, alias = _source(gen)
    if variant == 0:  # AD object re-created at the same DN with a new objectGUID: the old cloud object stays
        h = gen.cloud_user(p, _orphan_anchor(gen, op.dn, p.serial))
        note = "re-created in AD: the cloud object of the old AD object (same DN, old anchor) holds the UPN"
        gen.sink.add("users", h)
    elif variant == 1:
        hp = gen.person()
        old = _orphan_anchor(gen, f"CN={hp.display} {hp.serial},OU={hp.ou},DC=corp,DC=contoso,DC=com", hp.serial)
        h = gen.cloud_user(hp, old, proxies=[f"SMTP:{hp.local}@{DOMAIN}", f"smtp:{alias}"])
        note = "synced user whose AD object is gone (out of scope or deleted) holds the alias"
        gen.sink.add("users", h)
    else:
        gen.serial += 1
        name, gmail = f"Old List {gen.serial}", f"oldlist{gen.serial}@{DOMAIN}"
        h = gen.group(name, gmail, [f"SMTP:{gmail}", f"smtp:{alias}"],
                      op=_orphan_anchor(gen, "", gen.serial), unified=False)
        note = "synced group from the supplied domain whose SID is no longer in AD holds the alias"
        gen.sink.add("groups", h)
    e, err = _error_user(gen, variant == 0, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "orphaned_holder", h, op, note)


def unverified(gen: Generator) -> None:
    variant = gen.variant("unverified_holder", 3)
    p, op, v, alias = _source(gen)
    if variant == 0:  # a user synced from the forest the LDIF does not hold
        h, _ = _other_person(gen, [], forest="fabrikam", upn=v)
        gen.sink.add("users", h)
        note = f"holder synced from {FAB_DOMAIN}, a forest not in the LDIF"
    elif variant == 1:
        cp = gen.person()
        h = gen.contact(cp, alias, [f"SMTP:{alias}"], synced=True)
        gen.sink.add("contacts", h)
        note = "synced contact not in the LDIF: Graph shows no DN or domain for contacts, coverage unknown"
    else:
        gen.serial += 1
        name, gmail = f"Fabrikam List {gen.serial}", f"fablist{gen.serial}@{DOMAIN}"
        g = gen.guid()
        fab = OnPrem("", g, f"{FAB_SID}-{100000 + gen.serial}", FAB_DOMAIN, _b64(g.bytes_le))
        h = gen.group(name, gmail, [f"SMTP:{gmail}", f"smtp:{alias}"], op=fab, unified=False)
        gen.sink.add("groups", h)
        note = f"group synced from {FAB_DOMAIN}, a forest not in the LDIF"
    e, err = _error_user(gen, variant == 0, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "unverified_holder", h, op, note)


def deleted(gen: Generator) -> None:
    variant = gen.variant("deleted_holder", 2)
    p, op, v, alias = _source(gen)
    if variant == 0:  # deleted user: Graph mangles its UPN, but mail and proxy still hold the value
        h = _deleted_user(gen.cloud_user(p, None))
        gen.sink.add("deletedUsers", h)
        note = "a user in the recycle bin holds the address (its UPN is prefixed with its id)"
    else:
        local = alias.split("@")[0]
        h = gen.group(f"{local} archive", alias, [f"SMTP:{alias}"])
        h["deletedDateTime"] = "2026-11-12T08:00:00Z"
        gen.sink.add("deletedGroups", h)
        note = "a group in the recycle bin holds the alias"
    e, err = _error_user(gen, variant == 0, p, op, v, alias)
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "deleted_holder", h, op, note)


def no_holder(gen: Generator) -> None:
    variant = gen.variant("no_holder", 2)
    if variant == 0:
        p, op, v, alias = _source(gen)
        e, err = _proxy_error_user(gen, p, op, v, alias)
        src: OnPrem | None = op
        note = "the holder was fixed since; the hourly DAR job will restore the value"
    else:
        p, op, v, alias = _source(gen, forest="fabrikam")
        e, err = _upn_error_user(gen, p, op, v, alias)
        src = None
        note = f"error object synced from {FAB_DOMAIN} (not in the LDIF) and nobody holds the value"
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "no_holder", None, src, note)


def unsupported(gen: Generator) -> None:
    p, op, v, alias = _source(gen)
    err = error("UserPrincipalName", v, gen.rng.choice(("dn-attributes-failure", "Error Type 114")))
    e = gen.cloud_user(p, op, proxies=[f"SMTP:{v}", f"smtp:{alias}"], errors=[err])
    gen.sink.add("users", e)
    gen.expect(e, "user", err, "unsupported", None, op, f"category {err['category']} is reported as is")


PLANTERS: dict[str, Callable[[Generator], None]] = {
    "cloud_only_twin": twin, "cloud_only_other_type": other_type, "onprem_duplicate": onprem_duplicate,
    "orphaned_holder": orphaned, "unverified_holder": unverified, "deleted_holder": deleted,
    "no_holder": no_holder, "unsupported": unsupported,
}


def plant(gen: Generator, scenario: str) -> None:
    PLANTERS[scenario](gen)
