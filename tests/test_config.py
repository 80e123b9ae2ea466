"""proseo_odata.config: as_bool, the one reading of a boolean setting in the core; CoreSettings, the
core's settings read once; load_backend, the one backend loader."""
import pytest

from proseo_odata.config import CoreSettings, as_bool, configure, load_backend


@pytest.mark.parametrize("text", ["1", "true", "TRUE", " yes ", "On", "t", "Y", True])  # (t, y: Pyramid's asbool)
def test_true_values(text):
    assert as_bool(text) is True
    assert as_bool(text, default=False) is True


@pytest.mark.parametrize("text", ["0", "false", "no", "off", "", " OFF ", "f", "N", False, 0])
def test_false_values(text):
    assert as_bool(text, default=True) is False


@pytest.mark.parametrize("text", ["maybe", "tru", "ture", "2"])
def test_other_text_is_refused_naming_the_setting(text):
    """A misspelt flag was silently false (``proseo.notify.dispatcher = ture``: no notifications)."""
    with pytest.raises(ValueError, match=r"proseo\.x must be true or false"):
        as_bool(text, default=True, key="proseo.x")


def test_missing_value_is_the_default():
    assert as_bool(None) is False
    assert as_bool(None, True) is True


def test_the_core_modules_share_it():
    from proseo_odata.archive import s3
    from proseo_odata.production import engine, workflows
    from proseo_odata.storage import sqlalchemy

    for module in (s3, engine, workflows, sqlalchemy):
        assert module.as_bool is as_bool
        assert not hasattr(module, "_as_bool")


@pytest.mark.parametrize("settings,workers,threads", [
    ({}, 0, 1),                          # a web process runs none; a worker process at least one
    ({"proseo.workers": ""}, 0, 1),
    ({"proseo.workers": "0"}, 0, 1),
    ({"proseo.workers": " 3 "}, 3, 3),
])
def test_core_settings_workers(settings, workers, threads):
    core = CoreSettings.from_settings(settings)
    assert core.workers == workers
    assert core.worker_threads == threads


@pytest.mark.parametrize("settings,message", [
    ({"proseo.workers": "two"}, "proseo.workers must be an integer, got 'two'"),
    ({"proseo.workers": "-1"}, "proseo.workers must be from 0 to 256, got '-1'"),
    ({"proseo.workers": "100000"}, "proseo.workers must be from 0 to 256, got '100000'"),
    ({"proseo.datetime.fraction_digits": "4"}, "proseo.datetime.fraction_digits must be 3 or 6, got '4'"),
    ({"proseo.production.default_run_seconds": "soon"}, "proseo.production.default_run_seconds must be a number, got 'soon'"),
    ({"proseo.production.default_run_seconds": "0"}, "proseo.production.default_run_seconds must be a positive number, got '0'"),
])
def test_core_settings_refuse_bad_values(settings, message):
    with pytest.raises(ValueError) as info:
        CoreSettings.from_settings(settings)
    assert str(info.value) == message


def test_core_settings_default_run_seconds():
    assert CoreSettings.from_settings({}).default_run_seconds == 60.0
    assert CoreSettings.from_settings({"proseo.production.default_run_seconds": "90.5"}).default_run_seconds == 90.5


def test_configure_applies_the_fraction_digits_once():
    from proseo_odata.model import times

    try:
        core = configure({"proseo.datetime.fraction_digits": "6", "proseo.workers": "2"})
        assert (core.fraction_digits, core.workers) == (6, 2)
        assert times.fraction_digits() == 6
    finally:
        configure({})
    assert times.fraction_digits() == 3


def test_the_settings_are_read_in_one_place():
    """No module but proseo_odata/config.py reads proseo.workers or the fraction digits."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    readers = sorted(
        str(path.relative_to(root))
        for package in ("proseo_odata", "proseo_odata_web")
        for path in (root / package).rglob("*.py")
        if '"proseo.workers"' in path.read_text(encoding="utf-8")
        or '"proseo.datetime.fraction_digits"' in path.read_text(encoding="utf-8")
    )
    assert readers == ["proseo_odata/config.py"]


class _LoadError(Exception):
    pass


def test_load_backend_names_the_setting_on_failure():
    with pytest.raises(_LoadError, match=r"^proseo\.x\.backend: cannot import 'no_such_module_here'"):
        load_backend({"proseo.x.backend": "no_such_module_here"}, "proseo.x.backend", "json", error=_LoadError)
    with pytest.raises(_LoadError, match=r"^proseo\.x\.backend: module 'json' has no load_from_config"):
        load_backend({}, "proseo.x.backend", "json", error=_LoadError)


def test_storage_and_archive_use_the_one_loader(tmp_path):
    from proseo_odata.archive import load_archive
    from proseo_odata.archive.local import LocalArchive

    archive = load_archive({"proseo.archive.backend": "local", "proseo.archive.path": str(tmp_path)})
    assert isinstance(archive, LocalArchive)
    import proseo_odata.archive as archive_package
    import proseo_odata.storage as storage_package

    assert archive_package.load_backend is load_backend and storage_package.load_backend is load_backend


def _engine(settings):
    from proseo_odata.production.engine import EngineConfig
    return EngineConfig.from_settings(settings)


def _delivery(settings):
    from proseo_odata.notify.delivery import DeliveryPolicy
    return DeliveryPolicy.from_settings(settings)


def _throttle(settings):
    from proseo_odata_web.throttle import ThrottlePolicy
    return ThrottlePolicy.from_settings(settings)


def _eviction(settings):
    from proseo_odata.eviction import start_periodic_eviction
    return start_periodic_eviction(settings, None, None)


def _s3(settings):
    from proseo_odata.archive.s3 import S3Settings
    return S3Settings.from_settings({"proseo.archive.s3.bucket": "b", **settings})


def _storage(settings):
    from proseo_odata.storage.sqlalchemy import load_from_config
    return load_from_config({"proseo.storage.url": "sqlite://", **settings})


def _web(settings):
    from proseo_odata_web.settings import WebSettings
    return WebSettings.from_settings(settings)


@pytest.mark.parametrize("reader, key, value, needs", [
    (_engine, "proseo.production.lease_seconds", "abc", "a number"),
    (_engine, "proseo.production.lease_seconds", "-5", "a positive number of seconds"),
    (_engine, "proseo.production.poll_seconds", "0", "a positive number of seconds"),
    (_engine, "proseo.production.poll_seconds", "nan", "a positive number of seconds"),
    (_engine, "proseo.production.max_attempts", "0", "at least 1"),
    (_engine, "proseo.production.max_attempts", "2.5", "a whole number"),
    (_engine, "proseo.production.fault_pause_seconds", "9999", "0 to 600"),
    (_engine, "proseo.production.output_retention_days", "thirty", "a number"),  # was the default, silently
    (_engine, "proseo.production.output_retention_days", "99999", "a number of days from 0 to 36525"),
    (_delivery, "proseo.notify.max_attempts", "x", "a whole number"),
    (_delivery, "proseo.notify.concurrency", "0", "at least 1"),
    (_delivery, "proseo.notify.retry_base_seconds", "-1", "not negative"),
    (_delivery, "proseo.notify.poll_seconds", "0", "a positive number of seconds"),
    (_delivery, "proseo.notify.timeout_seconds", "inf", "a positive number of seconds"),
    (_throttle, "proseo.auth.throttle.pair_failures", "x", "a whole number"),
    (_throttle, "proseo.auth.throttle.window_seconds", "0.5", "at least 1"),
    (_eviction, "proseo.eviction.interval", "abc", "a number"),
    (_eviction, "proseo.eviction.interval", "-1", "not negative"),
    (_s3, "proseo.archive.s3.part_size", "abc", "a whole number"),
    (_s3, "proseo.archive.s3.part_size", "1024", "at least"),
    (_s3, "proseo.archive.s3.presign_expiry", "-1", "1 to 604800"),
    (_s3, "proseo.archive.s3.read_timeout", "inf", "from 0 to 3600"),
    (_storage, "proseo.storage.statement_timeout", "inf", "at least 0"),  # OverflowError on PostgreSQL before
    (_storage, "proseo.storage.pool_size", "-1", "at least 0"),
    (_web, "proseo.page_size.max", "0", "at least 1"),
    (_web, "proseo.token.cache_size", "many", "a whole number"),
])
def test_a_bad_number_is_refused_naming_its_setting(reader, key, value, needs):
    """Every number of the settings is read by config.number_setting: a bad one is one line naming
    the setting, what it needs and what it got (not Python's "could not convert string to float")."""
    with pytest.raises(Exception, match="must be") as info:
        reader({key: value})
    assert str(info.value).startswith(f"{key} must be") and needs in str(info.value) and repr(value) in str(info.value)


def test_good_numbers_are_read_as_given():
    assert _engine({"proseo.production.lease_seconds": " 12.5 "}).lease_seconds == 12.5
    assert _delivery({"proseo.notify.retry_base_seconds": "0"}).retry_base_seconds == 0.0
    assert _throttle({"proseo.auth.throttle.pair_failures": "7"}).pair_failures == 7
    assert _s3({"proseo.archive.s3.presign_expiry": "60"}).presign_expiry == 60
    assert _eviction({"proseo.eviction.interval": "0"}) is None


def test_an_archive_folder_that_cannot_be_made_is_one_line(tmp_path):
    from proseo_odata.archive import ArchiveError
    from proseo_odata.archive.local import load_from_config

    (tmp_path / "afile").write_text("x")
    with pytest.raises(ArchiveError, match="proseo.archive.path: cannot create the archive folder .*afile"):
        load_from_config({"proseo.archive.path": str(tmp_path / "afile" / "archive")})
