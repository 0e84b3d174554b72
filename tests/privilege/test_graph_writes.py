"""Least privilege for apply --doit and undo --doit, one Graph step kind at a time, over loopback HTTP.

Each case gets a fresh emulator whose token carries EXACTLY the documented set for that step kind
(docs/permissions.md): the step is done and undone. With any one of those permissions removed the step
is not executed, nothing in the tenant changes, and the output names the missing permission.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.emulator import EmulatorConfig, create_app, serve_in_thread
from reconciler.fixes.planfile import read_plan
from reconciler.fixes.steps import Executor, Step, StepKind
from tests.fixes.emu import purge, rename, restore, save_plan, stamp, tenant_doc

from .sets import APPLY_REQUIRED

GROUP = {"id": "g-1", "displayName": "Sales", "mail": "sales@contoso.com", "proxyAddresses": ["SMTP:sales@contoso.com"],
         "mailEnabled": True, "securityEnabled": False, "groupTypes": ["Unified"], "onPremisesSyncEnabled": None}
DELETED_GROUP = {**GROUP, "id": "dg-1", "displayName": "Old sales", "mail": "old.sales@contoso.com",
                 "proxyAddresses": ["SMTP:old.sales@contoso.com"], "deletedDateTime": "2026-11-01T00:00:00Z"}


def doc() -> dict[str, Any]:
    d = tenant_doc(3)
    d["groups"], d["deletedGroups"] = [dict(GROUP)], [dict(DELETED_GROUP)]
    return d


def delete_user() -> Step:
    return Step(id="s-del", kind=StepKind.DELETE_OBJECT, executor=Executor.GRAPH, target={"type": "user", "id": "c-2"},
                expect={"userPrincipalName": "lena2@contoso.com", "onPremisesImmutableId": None})


def delete_group() -> Step:
    return Step(id="s-delg", kind=StepKind.DELETE_OBJECT, executor=Executor.GRAPH,
                target={"type": "group", "id": "g-1"}, expect={"mail": "sales@contoso.com"})


def purge_group() -> Step:
    return Step(id="s-purgeg", kind=StepKind.PURGE_DELETED, executor=Executor.GRAPH,
                target={"type": "deleted", "id": "dg-1", "object": "group"},
                expect={"deleted": True, "mail": "old.sales@contoso.com"}, why="IRREVERSIBLE")


def restore_group() -> Step:
    return Step(id="s-restg", kind=StepKind.RESTORE_DELETED, executor=Executor.GRAPH,
                target={"type": "deleted", "id": "dg-1", "object": "group"}, expect={"deleted": True},
                undo={"delete": True})


STEPS: dict[str, Callable[[], Step]] = {
    "set_immutable_id": lambda: stamp(0), "set_user_principal_name": lambda: rename(1),
    "delete_object (user)": delete_user, "delete_object (group)": delete_group,
    "purge_deleted (user)": lambda: purge(0), "purge_deleted (group)": purge_group,
    "restore_deleted (user)": lambda: restore(0), "restore_deleted (group)": restore_group,
}
REVERSIBLE = [k for k in STEPS if not k.startswith("purge")]


class Tenant:
    """A fresh emulated tenant with one token per named permission set, served on loopback."""

    def __init__(self, url: str, application: Any) -> None:
        self.url, self.em = url, application.state.emulator

    def writes(self) -> list[dict[str, Any]]:
        """Writes the tenant accepted (a refused write changes nothing)."""
        return [e for e in self.em.log if e["method"] in ("PATCH", "DELETE", "POST") and e["status"] < 300
                and e["endpoint"] != "$batch"]

    def has(self, coll: str, oid: str) -> bool:
        return self.em.state.collections[coll].get(oid) is not None


@contextmanager
def tenant(tokens: dict[str, set[str]]) -> Iterator[Tenant]:
    application = create_app(doc(), EmulatorConfig(permissions=tokens))
    with serve_in_thread(application) as url:
        yield Tenant(url, application)


def cli(monkeypatch: pytest.MonkeyPatch, token: str, *args: Any) -> tuple[int, str]:
    monkeypatch.setenv("RECONCILER_GRAPH_TOKEN", token)
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r.exit_code, r.stdout + r.stderr


def apply(monkeypatch, t: Tenant, token: str, kind: str, tmp: Path) -> tuple[int, str]:
    path = save_plan(tmp, [STEPS[kind]()], None)
    fingerprint = read_plan(path).plan.fingerprint
    return cli(monkeypatch, token, "apply", path, "--graph-url", t.url, "--auth", "token", "--db", tmp / "r.db",
               "--doit", "--checksum", fingerprint)


def undo(monkeypatch, t: Tenant, token: str, tmp: Path) -> tuple[int, str]:
    return cli(monkeypatch, token, "undo", "--graph-url", t.url, "--auth", "token", "--db", tmp / "r.db", "--doit")


@pytest.mark.parametrize("kind", list(STEPS))
def test_exactly_the_documented_set_applies_and_undoes(kind, tmp_path, monkeypatch):
    with tenant({"documented": set(APPLY_REQUIRED[kind])}) as t:
        code, out = apply(monkeypatch, t, "documented", kind, tmp_path)
        assert code == 0, out
        assert len(t.writes()) == 1
        if kind in REVERSIBLE:
            code, out = undo(monkeypatch, t, "documented", tmp_path)
            assert code == 0, out
            assert len(t.writes()) == 2


def _missing_cases() -> list[Any]:
    return [pytest.param(kind, perm, id=f"{kind}-{perm}")
            for kind, perms in APPLY_REQUIRED.items() for perm in sorted(perms)]


# A write permission that also grants the read: without it the re-read fails first, and the line names
# the least-privileged read permission for that request (the next 403, after granting it, names the write).
IMPLIED_READ = {"Group.ReadWrite.All": "Group.Read.All", "delegated:Group.ReadWrite.All": "Group.Read.All"}


def names(out: str, perm: str) -> bool:
    return any(p.replace("delegated:", "delegated ") in out for p in (perm, IMPLIED_READ.get(perm, perm)))


@pytest.mark.parametrize(("kind", "perm"), _missing_cases())
def test_each_required_permission_missing_is_exit_5_changes_nothing_and_names_it(kind, perm, tmp_path,
                                                                                 monkeypatch):
    with tenant({"short": set(APPLY_REQUIRED[kind]) - {perm}}) as t:
        code, out = apply(monkeypatch, t, "short", kind, tmp_path)
        assert code == 5, out
        assert t.writes() == []
        assert names(out, perm), out
        assert "403" in out and "Traceback" not in out


def test_no_application_permission_purges_a_deleted_group(tmp_path, monkeypatch):
    app_only = {"Organization.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.ReadWrite.All",
                "RoleManagement.Read.Directory"}
    with tenant({"app": app_only}) as t:
        code, out = apply(monkeypatch, t, "app", "purge_deleted (group)", tmp_path)
        assert code != 0 and t.writes() == [] and t.has("deletedGroups", "dg-1")
        assert "delegated Group.ReadWrite.All" in out


@pytest.mark.parametrize(("kind", "perm"), [("set_immutable_id", "User.ReadUpdate.All"),
                                            ("delete_object (user)", "User.DeleteRestore.All"),
                                            ("restore_deleted (group)", "Group.ReadWrite.All")])
def test_undo_without_the_write_permission_changes_nothing_and_names_it(kind, perm, tmp_path, monkeypatch):
    full = set(APPLY_REQUIRED[kind])
    with tenant({"documented": full, "short": full - {perm}}) as t:
        assert apply(monkeypatch, t, "documented", kind, tmp_path)[0] == 0
        code, out = undo(monkeypatch, t, "short", tmp_path)
        assert code != 0 and len(t.writes()) == 1
        assert names(out, perm) and "Traceback" not in out
        code, out = undo(monkeypatch, t, "documented", tmp_path)  # granted again: the undo still works
        assert code == 0 and len(t.writes()) == 2, out
