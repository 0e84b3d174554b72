"""Generated PowerShell parses and quotes every value as ONE single-quoted literal; LDIF round-trips."""

from __future__ import annotations

import io

import ldif
import pytest
import tree_sitter_powershell
from tree_sitter import Language, Parser

from reconciler.fixes.emit import emit_ldif, emit_ps1, ps_quote, render_command
from reconciler.fixes.planfile import read_ldif_changes
from reconciler.fixes.steps import Executor, Step, StepKind

NASTY = ["o'brien@contoso.com", "a$(Remove-Item C:\\ -Recurse)b", "tick`n`$x", "line1\nline2\r\n3", "a,b;c",
         "Zoë Ångström 名前", "‘curly’ ‚low‛ quotes", "'", "''", "@{x=1}", "# not a comment", "\"dq\" $env:PATH"]
_PS = Parser(Language(tree_sitter_powershell.language()))
_QUOTES = "'\u2018\u2019\u201a\u201b"


def _unquote(lit: str) -> str:
    assert lit[0] in _QUOTES and lit[-1] in _QUOTES
    body, out, i = lit[1:-1], [], 0
    while i < len(body):
        out.append(body[i])
        i += 2 if body[i] in _QUOTES and i + 1 < len(body) and body[i + 1] in _QUOTES else 1
    return "".join(out)


def _literals(script: str) -> list[str]:
    tree = _PS.parse(script.encode("utf-8"))
    assert not tree.root_node.has_error, script
    found, stack = [], [tree.root_node]
    while stack:
        n = stack.pop()
        assert n.type not in ("expandable_string_literal", "sub_expression", "expandable_here_string_literal"), \
            n.text
        if n.type == "variable":
            assert n.text.decode() in ("$false", "$true", "$ErrorActionPreference"), n.text
        if n.type == "string_literal":
            (child,) = n.children
            assert child.type == "verbatim_string_characters", n.text
            found.append(_unquote(n.text.decode("utf-8")))
            continue
        stack.extend(n.children)
    return found


def _steps(value: str) -> list[Step]:
    ps = Executor.POWERSHELL
    out = []
    for recipient in ("group", "user", "contact"):
        for kind, extra in ((StepKind.REMOVE_PROXY_ADDRESS, {}), (StepKind.SET_PRIMARY_SMTP, {})):
            params = {"Identity": value, "Recipient": recipient, "Address": value, **extra}
            out.append(Step(id=f"s{len(out) + 1}", kind=kind, executor=ps, target={"type": recipient, "id": value},
                            change={"params": params}, undo={"params": {**params, "Add": True}}, why=value))
    out.append(Step(id="s99", kind=StepKind.REMOVE_SYNCED_OBJECT, executor=ps, target={"type": "user", "id": value},
                    change={"params": {"SourceAnchor": value, "ObjectType": "User"}}, why=value))
    return out


@pytest.mark.parametrize("value", NASTY)
@pytest.mark.parametrize("undo", [False, True])
def test_every_value_is_one_single_quoted_literal(value, undo):
    script = emit_ps1(_steps(value), fingerprint="sha256:" + value, plan_path=value, undo=undo)
    literals = _literals(script)
    assert value in literals
    # the value never leaks outside a literal: every occurrence in the text is inside a quoted one
    assert script.count(ps_quote(value)) == literals.count(value)


def test_constants_come_from_the_tool_not_the_plan():
    s = Step(id="s1", kind=StepKind.PAUSE_SYNC_SCHEDULER, executor=Executor.POWERSHELL, target=None,
             change={"params": {}, "command": "Remove-Item -Recurse C:\\"})
    script = emit_ps1([s], fingerprint="x")
    assert "Set-ADSyncScheduler -SyncCycleEnabled $false" in script and "Remove-Item" not in script
    with pytest.raises(ValueError):
        render_command(StepKind.REMOVE_SYNCED_OBJECT, {"SourceAnchor": "a", "ObjectType": "User; rm"})


def _ldap_steps(value: str) -> list[Step]:
    dn = f"CN={value.replace(',', chr(92) + ',')},OU=Staff,DC=corp"
    return [Step(id="s1", kind=StepKind.REMOVE_PROXY_ADDRESS, executor=Executor.LDAP, target={"type": "onprem", "dn": dn},
                 expect={"proxyAddresses": ["smtp:" + value]}, change={"proxyAddresses": {"remove": ["smtp:" + value]}},
                 undo={"proxyAddresses": {"add": ["smtp:" + value]}}),
            Step(id="s2", kind=StepKind.SET_USER_PRINCIPAL_NAME, executor=Executor.LDAP,
                 target={"type": "onprem", "dn": dn}, change={"userPrincipalName": " " + value + " "},
                 undo={"userPrincipalName": value}),
            Step(id="s3", kind=StepKind.SET_CONSISTENCY_GUID, executor=Executor.LDAP,
                 target={"type": "onprem", "dn": dn}, change={"mS-DS-ConsistencyGuid": "1wfM9xV8fUSHbcAbDlqeOA=="},
                 undo={"mS-DS-ConsistencyGuid": None})]


@pytest.mark.parametrize("value", NASTY + ["x" * 300])
def test_ldif_reads_back_with_our_reader_and_the_ldif_package(value):
    steps = _ldap_steps(value)
    text = emit_ldif(steps).encode("utf-8")
    ours = read_ldif_changes(text)
    dn = steps[0].dn
    assert ours[0] == (dn, [("delete", "proxyAddresses", [("smtp:" + value).encode()])])
    # a single value is swapped guarded by what the plan believes is there (its undo value): delete exactly
    # that value, add the new one; "nothing there" is a plain add (the directory refuses it if a value exists)
    assert ours[1] == (dn, [("delete", "userPrincipalName", [value.encode()]),
                            ("add", "userPrincipalName", [(" " + value + " ").encode()])])
    import base64
    assert ours[2] == (dn, [("add", "mS-DS-ConsistencyGuid", [base64.b64decode("1wfM9xV8fUSHbcAbDlqeOA==")])])
    # the ldif package has no modify-record parser: drop the '-' separators, then its entry parser
    # must decode dn and every value identically (folding, base64, safe strings)
    plain = b"\n".join(ln for ln in text.split(b"\n") if ln != b"-")
    records = [r for r in ldif.LDIFParser(io.BytesIO(plain), encoding=None).parse() if r[0] is not None]
    assert [r[0] for r in records] == [dn, dn, dn]
    assert records[0][1]["proxyAddresses"] == [("smtp:" + value).encode()]
    assert records[1][1]["userPrincipalName"] == [value.encode(), (" " + value + " ").encode()]
    undo = read_ldif_changes(emit_ldif(steps, undo=True).encode())
    assert undo[0][1] == [("add", "proxyAddresses", [("smtp:" + value).encode()])]
    # the undo removes exactly the value the step set (the directory refuses it if anything else is there)
    assert undo[2][1] == [("delete", "mS-DS-ConsistencyGuid", [base64.b64decode("1wfM9xV8fUSHbcAbDlqeOA==")])]
