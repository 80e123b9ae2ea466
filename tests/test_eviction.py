"""Eviction of products past their EvictionDate: catalogue rows first, then archived files;
bounded batches, idempotent, periodic; on SQLite and PostgreSQL, with real archives."""
import time
from datetime import datetime, timedelta, timezone

import pytest

from proseo_odata.archive.testing import archive_for_backend, moto_s3_server, store_product_file
from proseo_odata.eviction import (
    PeriodicEviction,
    ProductUnavailableError,
    check_downloadable,
    evict_due_products,
    start_periodic_eviction,
)
from proseo_odata.model import NEVER, Mission
from proseo_odata.storage.errors import NotFoundError
from proseo_odata.storage.sqlalchemy import load_from_config
from proseo_odata_web.errors import answer_of

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def archive(request, tmp_path):
    endpoint = request.getfixturevalue("s3_endpoint") if request.param == "s3" else None
    return archive_for_backend(request.param, tmp_path / "archive", endpoint)


@pytest.fixture
def storage(db_url):
    storage = load_from_config({"proseo.storage.url": db_url})
    storage.initialize_schema()
    storage.add_mission(Mission("S2B"))
    storage.add_mission(Mission("S1A"))
    yield storage
    storage.close()


def publish(storage, archive, name, eviction_date, mission="S2B"):
    product = store_product_file(archive, name.encode() * 10, name=name, mission=mission,
                                 eviction_date=eviction_date)
    return storage.add_product(product)


def remaining(storage, mission):
    from proseo_odata.storage import Query

    return sorted(p.name for p in storage.query_products(mission, Query(top=1000)).items)


def test_due_products_leave_catalogue_and_archive(storage, archive):
    due = [publish(storage, archive, f"due_{i}", NOW - timedelta(days=i)) for i in range(3)]
    due.append(publish(storage, archive, "due_now", NOW))
    due.append(publish(storage, archive, "due_s1", NOW - timedelta(hours=1), mission="S1A"))
    kept = [publish(storage, archive, "later", NOW + timedelta(seconds=1)),
            publish(storage, archive, "never", NEVER)]

    report = evict_due_products(storage, archive, now=NOW)

    assert (report.products, report.files, report.file_errors) == (5, 5, [])
    assert remaining(storage, "S2B") == ["later", "never"]
    assert remaining(storage, "S1A") == []
    for product in due:
        assert not archive.exists(product.archive_key)
        with pytest.raises(NotFoundError):
            storage.get_product(product.mission, product.id)
    for product in kept:
        assert archive.exists(product.archive_key)


def test_small_batches_evict_everything(storage, archive):
    for i in range(7):
        publish(storage, archive, f"due_{i}", NOW - timedelta(minutes=i))
    publish(storage, archive, "kept", NOW + timedelta(days=1))
    report = evict_due_products(storage, archive, now=NOW, batch_size=2)
    assert report.products == 7 and report.files == 7
    assert remaining(storage, "S2B") == ["kept"]


def test_second_run_is_a_no_op_and_missing_files_are_fine(storage, archive):
    product = publish(storage, archive, "due", NOW - timedelta(days=1))
    archive.delete(product.archive_key)  # the file vanished already (a crashed earlier run)
    first = evict_due_products(storage, archive, now=NOW)
    assert first.products == 1 and first.file_errors == []
    second = evict_due_products(storage, archive, now=NOW)
    assert (second.products, second.files) == (0, 0)


def test_catalogue_row_is_committed_before_the_file_goes(storage, archive):
    product = publish(storage, archive, "due", NOW - timedelta(days=1))
    seen = []

    class Watching:
        def delete(self, key):
            # When the archive is asked to delete, the row must already be gone for everyone.
            with pytest.raises(NotFoundError):
                storage.get_product("S2B", product.id)
            seen.append(key)
            return archive.delete(key)

    evict_due_products(storage, Watching(), now=NOW)
    assert seen == [product.archive_key] and not archive.exists(product.archive_key)


def test_file_delete_failure_is_reported_not_fatal(storage, archive):
    product = publish(storage, archive, "due", NOW - timedelta(days=1))

    class Failing:
        def delete(self, key):
            raise OSError("archive offline")

    report = evict_due_products(storage, Failing(), now=NOW)
    assert report.products == 1 and report.files == 0
    assert report.file_errors == [(product.archive_key, "archive offline")]


def test_check_downloadable():
    from proseo_odata.model import Product

    product = Product(mission="S2B", name="x", archive_key="k", eviction_date=NOW + timedelta(seconds=1))
    check_downloadable(product, NOW)
    product.eviction_date = NOW
    with pytest.raises(ProductUnavailableError, match="was evicted from the archive at 2025-06-01T12:00:00.000Z"):
        check_downloadable(product, NOW)
    product.eviction_date, product.online = NEVER, False
    with pytest.raises(ProductUnavailableError, match="is offline") as info:
        check_downloadable(product, NOW)
    assert answer_of("prip", info.value.kind) == (404, "E7707")


def test_periodic_eviction_runs_in_the_background(storage, archive):
    product = publish(storage, archive, "due", datetime.now(timezone.utc) - timedelta(seconds=1))
    assert start_periodic_eviction({"proseo.eviction.interval": "0"}, storage, archive) is None
    runner = start_periodic_eviction({"proseo.eviction.interval": "0.2"}, storage, archive)
    try:
        deadline = time.monotonic() + 60  # a shared, loaded machine
        # Eviction removes the rows first, then the files, and the run is counted after both:
        # wait for all three (the count lagged the file's removal once, a race of the test).
        while ((remaining(storage, "S2B") or archive.exists(product.archive_key) or runner.runs < 1)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert remaining(storage, "S2B") == []
        assert not archive.exists(product.archive_key)
        assert runner.alive and runner.runs >= 1
    finally:
        runner.stop()
    assert not runner.alive


def test_interval_must_be_positive():
    with pytest.raises(ValueError):
        PeriodicEviction(None, None, 0)
    with pytest.raises(ValueError):
        start_periodic_eviction({"proseo.eviction.interval": "-5"}, None, None)
    # a bad batch size is found at start-up even while eviction is off (turned on later, it failed then)
    for interval in ("0", "60"):
        with pytest.raises(ValueError, match="proseo.eviction.batch_size"):
            start_periodic_eviction({"proseo.eviction.interval": interval, "proseo.eviction.batch_size": "0"}, None, None)


def test_cli_evict(db_url, tmp_path):
    from click.testing import CliRunner

    from proseo_odata.archive import load_archive
    from proseo_odata.cli import main

    config = tmp_path / "test.ini"
    config.write_text(
        "[app:main]\n"
        "use = egg:proseo-odata\n"
        f"proseo.storage.url = {db_url}\n"
        "proseo.archive.backend = local\n"
        f"proseo.archive.path = {tmp_path / 'archive'}\n",
        encoding="utf-8",
    )
    settings = {"proseo.storage.url": db_url, "proseo.archive.backend": "local",
                "proseo.archive.path": str(tmp_path / "archive")}
    storage = load_from_config(settings)
    storage.initialize_schema()
    storage.add_mission(Mission("S2B"))
    archive = load_archive(settings)
    past = datetime.now(timezone.utc) - timedelta(days=1)
    due = [publish(storage, archive, f"due_{i}", past) for i in range(3)]
    kept = publish(storage, archive, "kept", NEVER)
    storage.close()

    runner = CliRunner()
    result = runner.invoke(main, ["-c", str(config), "evict", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "3 product(s) evicted, 3 file(s) deleted" in result.output
    assert all(not archive.exists(p.archive_key) for p in due) and archive.exists(kept.archive_key)
    again = runner.invoke(main, ["-c", str(config), "evict"])
    assert again.exit_code == 0 and "0 product(s) evicted" in again.output
