"""What main() starts once per process: periodic eviction only when configured."""
from __future__ import annotations

import pytest

from prip_helpers import make_app


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_periodic_eviction_starts_only_when_configured(app_settings, storage):
    off = make_app(app_settings)
    assert off.app.registry.eviction is None
    on = make_app({**app_settings, "proseo.eviction.interval": "3600"})
    runner = on.app.registry.eviction
    try:
        assert runner is not None and runner.interval == 3600
    finally:
        runner.stop()
    for app in (off, on):
        app.app.registry.storage.close()
