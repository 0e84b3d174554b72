"""A tenant's config table and the command line's source options are one set of settings, not two copies."""

from __future__ import annotations

from dataclasses import fields

from reconciler.config import _SHARED, CONFIG_ONLY, TenantConfig, parse_config
from reconciler.wiring import SourceOptions


def test_every_tenant_setting_is_a_source_option_or_named_config_only():
    """A key added to [tenants.NAME] that the scan needs must be a SourceOptions field, or this fails."""
    tenant = {f.name for f in fields(TenantConfig)}
    source = {f.name for f in fields(SourceOptions)}
    assert tenant - CONFIG_ONLY <= source, tenant - CONFIG_ONLY - source
    assert set(_SHARED) == tenant - CONFIG_ONLY


def test_every_shared_setting_reaches_the_source_options(tmp_path):
    cfg = parse_config('[tenants.a]\ngraph_url = "http://127.0.0.1:9/v1.0"\nauth = "token"\ntenant_id = "t"\n'
                       'client_id = "c"\ncertificate = "app.pem"\ncloud = "usgov"\nstrategy = "full"\n'
                       'onprem = ["f.ldif"]\nmax_concurrency = 3\nmax_throttle_wait = 12.5\n', tmp_path / "r.toml")
    t = cfg.tenants[0]
    o = t.source_options()
    for name in _SHARED:
        want = getattr(t, name)
        assert getattr(o, name) == (list(want) if isinstance(want, tuple) else want), name
    assert (o.max_concurrency, o.max_throttle_wait, o.cloud, o.auth) == (3, 12.5, "usgov", "token")
    assert o.onprem == [tmp_path / "f.ldif"] and o.certificate == tmp_path / "app.pem"
