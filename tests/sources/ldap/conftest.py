"""Fixtures for the Samba AD tests: skipped (with the reason shown by -ra) unless .ci/run started Samba."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_LDIF, SAMPLE_TENANT

from . import forest

NEEDS_SAMBA = ("needs the Samba AD DC that .ci/run starts as root (tests/samba/samba-ad.sh all); "
               "set RECONCILER_TEST_LDAP=1 once it runs")
SAMPLE_OUS = [f"OU={o},{forest.BASE_DN}" for o in ("Staff", "Groups", "Contacts", "Service Accounts")]
WRITER_OU = f"OU=Writer Tests,{forest.BASE_DN}"
READER_DN = f"CN=reconciler-reader,{WRITER_OU}"
READER_PASSWORD = "Reader!Pass123"


def samba_enabled() -> bool:
    return os.environ.get("RECONCILER_TEST_LDAP") == "1"


@pytest.fixture(scope="session")
def samba() -> Path:
    if not samba_enabled():
        pytest.skip(NEEDS_SAMBA)
    return forest.samba_dir()


@pytest.fixture(scope="session")
def sample_forest(samba: Path) -> forest.Loaded:
    """The sample LDIF's objects in Samba (re-loaded once per session)."""
    with forest.admin_connection() as conn:
        return forest.load_ldif(conn, SAMPLE_LDIF, replace_ous=SAMPLE_OUS)


@pytest.fixture
def rewritten_tenant(sample_forest: forest.Loaded, tmp_path: Path) -> Path:
    return forest.rewrite_tenant_sids(SAMPLE_TENANT, sample_forest.sids, tmp_path / "tenant-samba.json")


@pytest.fixture
def writer_ou(samba: Path):
    """A fresh OU for writer tests, with the least-privilege reader account in it."""
    with forest.admin_connection() as conn:
        forest.delete_tree(conn, WRITER_OU)
        forest.ensure_ou(conn, WRITER_OU)
        forest.add_user(conn, READER_DN, sam="reconciler-rd", upn="reader@writer.test",
                        password=READER_PASSWORD)
        yield conn
        forest.delete_tree(conn, WRITER_OU)
