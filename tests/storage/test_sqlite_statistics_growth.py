"""SQLite has no autovacuum: its planner statistics change only when ``ANALYZE`` runs. A bulk
load refreshes them itself (tests/test_ingest.py); a catalogue grown one product at a time
(production orders publishing their output, single-file ingest) gets them refreshed too: now
and then a thread of the storage's own compares the rows there are with the rows the
statistics count, and runs ``ANALYZE`` when a tenth of the catalogue is new to them."""
import logging
import threading

import pytest
from sqlalchemy import event

from proseo_odata.model import Mission
from proseo_odata.query import build_query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product

LOGGER = "proseo_odata.storage.sqlalchemy"


def _open(url):
    storage = SQLAlchemyStorage.from_url(url)
    storage.add_mission(Mission("M"))
    storage.SQLITE_STATISTICS_MIN_ROWS = 20
    storage.STATISTICS_CHECK_EVERY = 5
    return storage


@pytest.fixture
def storage(migrated_sqlite_url):
    storage = _open(migrated_sqlite_url)
    try:
        yield storage
    finally:
        storage.close()


def _settle(storage):
    """Wait for the storage's look at the statistics, if one is running."""
    thread = storage._statistics_thread
    if thread is not None:
        thread.join(30)
        assert not thread.is_alive()


def _estimated(storage):
    """The products the statistics count (None: never analysed)."""
    _settle(storage)
    with storage.engine.connect() as connection:
        if connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
            return None
        return connection.exec_driver_sql(
            "SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = 'products'").scalar()


def _add(storage, names):
    for name in names:
        storage.add_product(make_product("M", name=name))
        _settle(storage)  # each look ends before the next product: the looks come where counted


def test_products_stored_one_at_a_time_refresh_the_statistics(storage, caplog):
    """Looked at after STATISTICS_CHECK_EVERY (5 here) products, and then every 5 more (or 2%
    of the catalogue, when that is more): the 5th, 10th, 15th..."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    _add(storage, [f"a{i}" for i in range(19)])
    assert _estimated(storage) is None  # at the 15th: fewer than SQLITE_STATISTICS_MIN_ROWS (20)
    _add(storage, ["a19"])
    assert _estimated(storage) == 20
    assert "refreshed: 20 products, none analysed before" in caplog.text
    _add(storage, [f"b{i}" for i in range(4)])
    assert _estimated(storage) == 20  # not looked at yet
    _add(storage, ["b4"])
    assert _estimated(storage) == 25  # 5 new of 25: at least a tenth
    storage.add_products([make_product("M", name=f"bulk{i}") for i in range(40)])  # a bulk load's own rule
    _add(storage, [f"c{i}" for i in range(4)])
    assert _estimated(storage) == 25
    _add(storage, ["c4"])
    assert _estimated(storage) == 70  # the bulk load's products count too: the rows there are
    _add(storage, [f"d{i}" for i in range(5)])
    assert _estimated(storage) == 70  # 5 of 75: less than a tenth
    _add(storage, [f"d{i}" for i in range(5, 10)])
    assert _estimated(storage) == 80  # 10 of 80
    assert "25 analysed before" in caplog.text and "70 analysed before" in caplog.text


def test_products_of_a_rolled_back_transaction_do_not_count(storage):
    storage.STATISTICS_CHECK_EVERY = 1  # every product looked at
    with pytest.raises(RuntimeError):
        with storage.transaction() as tx:
            for i in range(25):
                tx.add_product(make_product("M", name=f"gone{i}"))
                _settle(storage)
            raise RuntimeError("rolled back")
    _add(storage, [f"p{i}" for i in range(19)])
    assert _estimated(storage) is None
    _add(storage, ["p19"])
    assert _estimated(storage) == 20


def test_another_writers_products_count(storage, migrated_sqlite_url):
    """The products there are, whoever stored them: another process's, a bulk load's."""
    other = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        other.add_products([make_product("M", name=f"bulk{i}") for i in range(18)])  # no refresh of its own
    finally:
        other.close()
    assert _estimated(storage) is None
    _add(storage, [f"s{i}" for i in range(4)])
    assert _estimated(storage) is None
    _add(storage, ["s4"])  # looked at: 23
    assert _estimated(storage) == 23


def test_analyze_runs_beside_the_callers_transaction_not_in_it(storage):
    """The look and its ANALYZE run in a thread of their own: a caller whose transaction stores
    products goes on while ANALYZE waits for the write lock, which it gets after the commit."""
    storage.STATISTICS_CHECK_EVERY = 1
    storage.add_products([make_product("M", name=f"bulk{i}") for i in range(30)])
    analysed_in = []

    @event.listens_for(storage.engine, "before_cursor_execute")
    def record(_conn, _cursor, statement, *_args):
        if statement.startswith("ANALYZE"):
            analysed_in.append(threading.current_thread().name)

    with storage.transaction() as tx:
        tx.add_product(make_product("M", name="in-a-transaction"))
        tx.add_product(make_product("M", name="and-another"))  # the look still waits: counted
    assert _estimated(storage) == 32
    assert analysed_in and set(analysed_in) == {"proseo-odata-statistics"}


def test_a_database_in_memory_is_never_looked_at():
    """Its one connection is the caller's transaction's: a thread must not use it."""
    storage = SQLAlchemyStorage.from_url("sqlite://")
    try:
        storage.initialize_schema()
        storage.add_mission(Mission("M"))
        storage.SQLITE_STATISTICS_MIN_ROWS = 20
        storage.STATISTICS_CHECK_EVERY = 1
        with storage.transaction() as tx:
            for i in range(25):
                tx.add_product(make_product("M", name=f"m{i}"))
                assert storage._statistics_thread is None
        assert len(storage.query_products("M", build_query("Products", {"$top": "100"}).query).items) == 25
    finally:
        storage.close()



def test_a_bulk_load_is_judged_by_its_own_products(storage, migrated_sqlite_url):
    """refresh_statistics(added) after a bulk load: ``added`` against the rows the statistics
    count, not the rows other writers stored meanwhile (their products are the looks' to see)."""
    storage.add_products([make_product("M", name=f"first{i}") for i in range(20)])
    assert storage.refresh_statistics(20) is True and _estimated(storage) == 20
    other = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        other.add_products([make_product("M", name=f"other{i}") for i in range(10)])
    finally:
        other.close()
    storage.add_products([make_product("M", name="one-more")])
    assert storage.refresh_statistics(1) is False and _estimated(storage) == 20  # 1 of 21
    assert storage.refresh_statistics(3) is True and _estimated(storage) == 31  # 3 of 23


def test_analyze_waits_for_the_write_lock_two_seconds_at_most(storage, caplog):
    """As PostgreSQL's lock_timeout: a writer holding the lock makes the refresh give up with a
    warning after SQLITE_ANALYZE_LOCK_WAIT, not the 30 s every other writer waits; the pooled
    connection gets its own wait back."""
    import sqlite3
    import time

    from proseo_odata.storage import sqlalchemy as backend

    storage.add_products([make_product("M", name=f"b{i}") for i in range(25)])
    holder = sqlite3.connect(storage.engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert storage.refresh_statistics(25) is False
        waited = time.monotonic() - started
        holder.execute("COMMIT")
    finally:
        holder.close()
    assert backend.SQLITE_ANALYZE_LOCK_WAIT <= waited < backend.SQLITE_BUSY_TIMEOUT / 2
    assert "not refreshed after loading 25 products" in caplog.text
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == backend.SQLITE_BUSY_TIMEOUT * 1000
    assert storage.refresh_statistics(25) is True and _estimated(storage) == 25
