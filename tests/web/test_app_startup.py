"""What main() starts once per process: periodic eviction and the in-process worker pool only
when the settings ask for them, and both are stopped at interpreter exit."""
from __future__ import annotations

import atexit
import contextlib

import pytest

from prip_helpers import served_app


@pytest.fixture
def exit_hooks(monkeypatch):
    """The background runners' stop methods main() registers with atexit (recorded instead of
    registered; hooks of imported libraries, such as certifi's, are left out)."""
    from proseo_odata.eviction import PeriodicEviction
    from proseo_odata.production.engine import WorkerPool

    registered = []

    def register(func, *args, **kwargs):
        if isinstance(getattr(func, "__self__", None), (PeriodicEviction, WorkerPool)):
            registered.append((func, args))
        return func

    monkeypatch.setattr(atexit, "register", register)
    return registered


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_periodic_eviction_starts_only_when_configured(app_settings, storage, exit_hooks):
    with served_app(app_settings) as off:
        assert off.app.registry.eviction is None
        assert exit_hooks == []
        with served_app({**app_settings, "proseo.eviction.interval": "3600"}) as on:
            runner = on.app.registry.eviction
            try:
                assert runner is not None and runner.interval == 3600 and runner.alive
                assert [func for func, _args in exit_hooks] == [runner.stop]
            finally:
                runner.stop()
            assert not runner.alive


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_worker_pool_without_proseo_workers(app_settings, storage, exit_hooks):
    settings = {k: v for k, v in app_settings.items() if k != "proseo.workers"}
    assert "proseo.workers" not in settings and settings.get("proseo.archive.backend")
    with served_app(settings) as app:
        assert app.app.registry.proseo_workers is None
        assert exit_hooks == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_worker_pool_when_asked_for(app_settings, storage, exit_hooks):
    with served_app({**app_settings, "proseo.workers": "1"}) as app:
        pool = app.app.registry.proseo_workers
        try:
            assert pool is not None and pool.threads == 1
            assert [func for func, _args in exit_hooks] == [pool.stop]
        finally:
            if pool is not None:
                pool.stop(5.0)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_start_warns_once_when_notification_passwords_would_be_stored_unencrypted(app_settings, storage, caplog):
    from cryptography.fernet import Fernet

    with contextlib.ExitStack() as apps:
        for key, warned in (("", True), (Fernet.generate_key().decode(), False)):
            caplog.clear()
            with caplog.at_level("WARNING"):
                app = apps.enter_context(served_app({**app_settings, "proseo.secrets.key": key}))
                app.app.registry.storage.secrets.to_column("a password stored later")
            # once per process: the password stored after the start does not log it again
            assert caplog.text.count("stored UNENCRYPTED") == (1 if warned else 0), caplog.text
