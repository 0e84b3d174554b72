"""Wrong inputs a new admin typed during a trial run: each gives one line naming what is wrong, exit 2, no traceback."""

from __future__ import annotations

import base64
import os

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.conftest import ROOT

runner = CliRunner()
SAMPLE = ROOT / "fixtures/sample/sample-tenant.json"
SAMPLE_LDIF = ROOT / "fixtures/sample/sample-onprem.ldif"


def _one_line_error(r, *needles: str) -> str:
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output and not isinstance(r.exception, (ValueError, OverflowError)), r.exception
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("reconciler: error: "), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


BAD_URLS = [("http://127.0.0.1:99999/v1.0", "Port out of range"), ("http://[::1:8471/v1.0", "Invalid IPv6 URL"),
            ("http://127.0.0.1:abc/v1.0", "'abc'")]


@pytest.mark.parametrize("auth", ["none", "environment"])
@pytest.mark.parametrize(("url", "why"), BAD_URLS)
def test_a_graph_url_that_does_not_parse_is_named(tmp_path, url, why, auth):
    r = runner.invoke(app, ["scan", "--graph-url", url, "--auth", auth, "--db", str(tmp_path / "r.db")])
    _one_line_error(r, "--graph-url", url, why)


@pytest.mark.parametrize(("url", "why"), BAD_URLS)
def test_check_onprem_names_a_graph_url_that_does_not_parse(tmp_path, url, why):
    r = runner.invoke(app, ["check-onprem", "--onprem", str(SAMPLE_LDIF), "--graph-url", url, "--auth", "none"])
    _one_line_error(r, "--graph-url", why)


@pytest.mark.parametrize(("url", "why"), [("http://127.0.0.1:99999/arm", "Port out of range"),
                                         ("http://[::1/arm", "Invalid IPv6 URL")])
def test_a_health_url_that_does_not_parse_is_named(tmp_path, url, why):
    r = runner.invoke(app, ["scan", "--graph-url", "http://127.0.0.1:9/v1.0", "--auth", "none", "--health-url", url,
                            "--db", str(tmp_path / "r.db")])
    _one_line_error(r, "--health-url", why)


REAL = ROOT / "tests/data/real"


@pytest.mark.parametrize(("name", "why"), [
    ("csvde/exchange-org-header-only.csv", "contains no directory objects"),
    ("not-ad/openldap-posixaccount-ldapsearch-godap.ldif", "holds no Active Directory objects"),
    ("not-ad/openldap-ldapsearch-dn-only-planetexpress.ldif", "only DNs"),
])
def test_check_onprem_refuses_an_export_without_ad_objects_as_scan_does(tmp_path, name, why):
    """Not "0 problems (none)", exit 0: an empty or non-AD export proves nothing about the directory."""
    out = tmp_path / "problems.json"
    r = runner.invoke(app, ["check-onprem", "--onprem", str(REAL / name), "--format", "json", "-o", str(out)])
    _one_line_error(r, name.split("/")[-1], why)
    assert not out.exists()
    s = runner.invoke(app, ["scan", "--tenant", str(SAMPLE), "--onprem", str(REAL / name), "--db", str(tmp_path / "r.db")])
    _one_line_error(s, name.split("/")[-1], why)


def test_check_onprem_still_checks_an_ldif_with_some_non_ad_entries(tmp_path):
    ldif = tmp_path / "mixed.ldif"
    ldif.write_text(SAMPLE_LDIF.read_text() + "\ndn: cn=printer,dc=corp,dc=contoso,dc=com\ncn: printer\n")
    r = runner.invoke(app, ["check-onprem", "--onprem", str(ldif), "--format", "json"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("which", ["-o", "--ldif", "--expected"])
def test_tenant_generate_into_a_missing_folder_names_the_file_asked_for(tmp_path, which):
    paths = {"-o": tmp_path / "t.json", "--ldif": tmp_path / "f.ldif", "--expected": tmp_path / "e.json"}
    paths[which] = tmp_path / "missing" / paths[which].name
    r = runner.invoke(app, ["tenant", "generate", "--users", "5", "-q", *(x for k, v in paths.items() for x in (k, str(v)))])
    line = _one_line_error(r, f"{paths[which]}: cannot write")
    assert ".tmp" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-written: none of the three files


def test_apply_prints_a_manual_runbook_whole(tmp_path):
    """The admin-role runbook is a person's instructions: cut at 400 characters and quoted, its last steps
    (give the roles back) were missing from apply's output."""
    t, f, db, plan = (tmp_path / n for n in ("t.json", "f.ldif", "r.db", "p.json"))
    assert runner.invoke(app, ["tenant", "generate", "--users", "300", "--mix", "admin_role_conflict=1", "-o", str(t),
                               "--ldif", str(f), "-q"]).exit_code == 0
    assert runner.invoke(app, ["scan", "--tenant", str(t), "--onprem", str(f), "--db", str(db), "-q"]).exit_code == 0
    assert runner.invoke(app, ["plan", "-o", str(plan), "--db", str(db), "-q"]).exit_code == 0
    r = runner.invoke(app, ["apply", str(plan), "--tenant", str(t), "--db", str(db)])
    manual = [ln for ln in r.stderr.splitlines() if "(manual):" in ln]
    assert manual, r.stderr
    for ln in manual:
        text = ln.split("(manual): ", 1)[1]
        assert text.startswith("The value ") and text.endswith("give the roles back."), ln


@pytest.mark.parametrize("cmd", [["plan"], ["report"], ["scan", "--tenant", str(SAMPLE), "-q"],
                                 ["check-onprem", "--onprem", str(SAMPLE_LDIF), "-q"]])
def test_an_output_path_that_is_a_folder_is_named(tmp_path, cmd):
    db = tmp_path / "r.db"
    assert runner.invoke(app, ["scan", "--tenant", str(SAMPLE), "--db", str(db), "-q"]).exit_code == 0
    folder = tmp_path / "out"
    folder.mkdir()
    db_opt = ["--db", str(db)] if cmd[0] != "check-onprem" else []
    r = runner.invoke(app, [*cmd, *db_opt, "-o", str(folder)])
    _one_line_error(r, f"{folder}: cannot write")
    assert list(folder.iterdir()) == [] and not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("url", ["https://[::1/hook?sig=SECRET123", "https://hooks.example.com:99999/hook?sig=SECRET123"])
def test_a_notify_url_that_does_not_parse_is_refused_without_printing_it(tmp_path, url):
    db = tmp_path / "r.db"
    assert runner.invoke(app, ["scan", "--tenant", str(SAMPLE), "--db", str(db), "-q"]).exit_code == 0
    r = runner.invoke(app, ["report", "--db", str(db), "--notify", url, "-q", "-o", str(tmp_path / "r.txt")])
    _one_line_error(r, "--notify needs an http(s) URL")
    assert "SECRET123" not in r.output


@pytest.mark.parametrize("cmd", [["scan", "--tenant", str(SAMPLE)], ["check-onprem"]])
def test_an_ldap_url_with_an_unclosed_ipv6_bracket_is_named(tmp_path, cmd):
    r = runner.invoke(app, [*cmd, "--ldap", "ldaps://[::1", "--db", str(tmp_path / "r.db")] if cmd[0] == "scan"
                      else [*cmd, "--ldap", "ldaps://[::1"])
    _one_line_error(r, "--ldap 'ldaps://[::1'", "Invalid IPv6 URL")


def test_save_tenant_with_a_tenant_file_is_refused_not_ignored(tmp_path):
    saved = tmp_path / "copy.json"
    r = runner.invoke(app, ["scan", "--tenant", str(SAMPLE), "--save-tenant", str(saved), "--db", str(tmp_path / "r.db")])
    _one_line_error(r, "--save-tenant", "--tenant FILE is already a snapshot")
    assert not saved.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8471", "http://127.0.0.1:8471/"])
def test_a_graph_url_without_the_api_version_says_to_add_it(tmp_path, url):
    """Before: Graph (and the emulator) answered 400 'Invalid version', reported as exit 5 after a request."""
    r = runner.invoke(app, ["scan", "--graph-url", url, "--auth", "none", "--db", str(tmp_path / "r.db")])
    _one_line_error(r, "no API version", "http://127.0.0.1:8471/v1.0")


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_emulator_serve_names_a_port_out_of_range(port):
    pytest.importorskip("starlette")
    r = runner.invoke(app, ["emulator", "serve", "--tenant", str(SAMPLE), "--port", port])
    _one_line_error(r, f"--port {port}", "1-65535")


def test_every_confirm_command_shown_to_the_admin_has_doit(tmp_path):
    """``apply --confirm`` without ``--doit`` is a dry run that records nothing ("would be recorded as confirmed");
    the README, the --confirm help and the demo's hint showed it without --doit."""
    import re

    texts = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8"),
             "apply --help": runner.invoke(app, ["apply", "--help"], terminal_width=400).stdout,
             "reconciler/cli/scan.py": (ROOT / "reconciler/cli/scan.py").read_text(encoding="utf-8")}
    for where, text in texts.items():
        for cmd in re.findall(r"apply plan\.json[^\n`#]*--confirm[^\n`#]*", text):
            assert "--doit" in cmd, f"{where}: {cmd}"
    # and the reason: a dry-run confirmation is not recorded
    db, plan = tmp_path / "r.db", tmp_path / "plan.json"
    assert runner.invoke(app, ["scan", "--tenant", str(SAMPLE), "--onprem", str(SAMPLE_LDIF), "--db", str(db),
                               "-q"]).exit_code == 0
    assert runner.invoke(app, ["plan", "-o", str(plan), "--db", str(db), "-q"]).exit_code == 0
    r = runner.invoke(app, ["apply", str(plan), "--tenant", str(SAMPLE), "--db", str(db), "--confirm", "s1"])
    assert "would be recorded as confirmed (dry run)" in r.stdout, r.output


@pytest.mark.parametrize("key", ["", "   "])
def test_explain_with_an_empty_key_is_a_usage_error_not_every_uncreated_object(tmp_path, key):
    """An unset shell variable (explain "$UPN") explained every finding whose object is not in the cloud yet."""
    t, f, db = tmp_path / "t.json", tmp_path / "f.ldif", tmp_path / "r.db"
    assert runner.invoke(app, ["tenant", "generate", "--users", "300", "--mix", "cloud_sync_create=1", "-o", str(t),
                               "--ldif", str(f), "-q"]).exit_code == 0
    assert runner.invoke(app, ["scan", "--tenant", str(t), "--onprem", str(f), "--db", str(db), "-q"]).exit_code == 0
    r = runner.invoke(app, ["explain", key, "--db", str(db)])
    _one_line_error(r, "KEY is empty")
    assert r.stdout == ""


def test_the_library_explain_matches_no_object_by_an_empty_id():
    from reconciler.core.explain import resolve_key

    uncreated = {"id": "f1", "object": {"id": ""}, "holders": [], "conflict": {"value": "a@contoso.com"}}
    assert resolve_key("", [uncreated])[0] == []


EMPTY_PATH_CASES = [
    (["plan", "-o", ""], "--out"),
    (["scan", "--tenant", str(SAMPLE), "-q", "-o", ""], "--out"),
    (["tenant", "generate", "--users", "5", "-o", "", "--ldif", "x.ldif"], "--out"),
    (["tenant", "generate", "--users", "5", "-o", "x.json", "--ldif", ""], "--ldif"),
    (["check-onprem", "--onprem", str(SAMPLE_LDIF), "--tenant", str(SAMPLE), "--plan-out", ""], "--plan-out"),
    (["scan", "--graph-url", "http://127.0.0.1:9/v1.0", "--auth", "none", "--save-tenant", ""], "--save-tenant"),
    (["scan", "--tenant", str(SAMPLE), "--onprem", ""], "--onprem"),
    (["scan", "--tenant", str(SAMPLE), "-o", ".."], "--out"),
    (["apply", "", "--tenant", str(SAMPLE)], "PLAN_FILE"),
]


@pytest.mark.parametrize(("args", "option"), EMPTY_PATH_CASES, ids=lambda x: " ".join(x) if isinstance(x, list) else x)
def test_an_empty_file_option_is_named_not_a_traceback(tmp_path, monkeypatch, args, option):
    """`-o "$OUT"` with OUT unset: Path("") is Path("."), and Path.with_name raised ValueError."""
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, [*args, "--db", str(tmp_path / "r.db")] if args[0] in ("plan", "scan", "apply") else args)
    _one_line_error(r, f"{option} ", "not a file name")
    assert list(tmp_path.iterdir()) == []


def test_every_path_option_is_named_after_its_parameter():
    """The empty-path message says --{parameter name}: that must be one of the option's own names."""
    from typer.main import get_command

    def leaves(cmd, path=()):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from leaves(sub, (*path, name))
        else:
            yield path, cmd

    import typing

    from reconciler.cli.common import _PATH_ARGUMENTS

    checked = 0
    for path, cmd in leaves(get_command(app)):
        hints = typing.get_type_hints(cmd.callback)
        for p in cmd.params:
            if p.name != "workdir" and "Path" in repr(hints.get(p.name)):
                if p.param_type_name == "option":
                    assert f"--{p.name.replace('_', '-')}" in p.opts, (path, p.name, p.opts)
                else:
                    assert p.name in _PATH_ARGUMENTS, (path, p.name)
                checked += 1
    assert checked > 20


@pytest.mark.parametrize("name", ["corp.ldif", "corp.zip", "corp.ldif.gz", "corp.csv"])
@pytest.mark.parametrize("packer", ["zip", "gzip"])
def test_an_export_still_packed_in_an_archive_says_extract_it(tmp_path, name, packer):
    """Exports are zipped for the copy off the DC; their bytes read as 'invalid attribute name b'PK\\x03...''."""
    import gzip
    import zipfile

    f = tmp_path / name
    if packer == "zip":
        with zipfile.ZipFile(f, "w") as z:
            z.write(SAMPLE_LDIF, "corp.ldif")
    else:
        f.write_bytes(gzip.compress(SAMPLE_LDIF.read_bytes()))
    kind = "a zip archive" if packer == "zip" else "a gzip file"
    for cmd in (["scan", "--tenant", str(SAMPLE), "--db", str(tmp_path / "r.db")], ["check-onprem"]):
        r = runner.invoke(app, [*cmd, "--onprem", str(f)])
        _one_line_error(r, f"{f}: is {kind}, not an export: extract")


def test_output_into_a_pipe_closed_early_stops_silently_with_141(tmp_path):
    """`reconciler check-onprem ... | head -1`: the shell's code for a closed pipe, not 1 (findings), no traceback."""
    import subprocess
    import sys

    ldif = tmp_path / "many.ldif"
    ldif.write_text("".join(f"dn: CN=U{i},OU=Staff,DC=corp,DC=contoso,DC=com\nobjectClass: user\nsAMAccountName: u{i}\n"
                            f"objectGUID:: {base64.b64encode(i.to_bytes(16, 'big')).decode()}\n"
                            f"userPrincipalName: u (x){i}@contoso.com\n\n" for i in range(3000)), encoding="utf-8")
    cmd = [sys.executable, "-m", "reconciler", "check-onprem", "--onprem", str(ldif), "--format", "csv"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()  # the header; then the reader goes away with 3,000 rows unread
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err
