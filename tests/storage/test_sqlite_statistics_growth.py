"""SQLite has no autovacuum: its planner statistics change only when ``ANALYZE`` runs. A bulk
load refreshes them itself (tests/test_ingest.py); a catalogue grown one product at a time
(production orders publishing their output, single-file ingest) gets them refreshed too, after
the commit, when what it stored is a tenth of the catalogue."""
import logging

import pytest
import sqlalchemy as sa

from proseo_odata.model import Mission
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product

LOGGER = "proseo_odata.storage.sqlalchemy"


@pytest.fixture
def storage(migrated_sqlite_url):
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    storage.add_mission(Mission("M"))
    storage.SQLITE_STATISTICS_MIN_ROWS = 20
    storage.STATISTICS_CHECK_EVERY = 5
    try:
        yield storage
    finally:
        storage.close()


def _estimated(storage):
    """The products the statistics count (None: never analysed)."""
    with storage.engine.connect() as connection:
        if connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
            return None
        return connection.exec_driver_sql(
            "SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = 'products'").scalar()


def _add(storage, names):
    for name in names:
        storage.add_product(make_product("M", name=name))


def test_products_stored_one_at_a_time_refresh_the_statistics(storage, caplog):
    """Looked at after the process's first product and every STATISTICS_CHECK_EVERY (5 here)
    more: the 1st, 6th, 11th..."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    _add(storage, [f"a{i}" for i in range(20)])
    assert _estimated(storage) is None  # at the 16th: fewer than SQLITE_STATISTICS_MIN_ROWS (20)
    _add(storage, ["a20"])
    assert _estimated(storage) == 21
    assert "refreshed after 21 products stored one at a time" in caplog.text
    _add(storage, [f"b{i}" for i in range(4)])
    assert _estimated(storage) == 21  # not looked at yet
    _add(storage, ["b4"])
    assert _estimated(storage) == 26  # 5 since the refresh, of 26: at least a tenth
    storage.add_products([make_product("M", name=f"bulk{i}") for i in range(40)])  # a bulk load's own rule
    _add(storage, [f"c{i}" for i in range(5)])
    assert _estimated(storage) == 71  # 5 of the statistics' 26 + 5; ANALYZE counts every row
    _add(storage, [f"d{i}" for i in range(5)])
    assert _estimated(storage) == 71  # 5 of 76: less than a tenth
    _add(storage, [f"d{i}" for i in range(5, 10)])
    assert _estimated(storage) == 81  # 10 of 81


def test_a_transaction_counts_only_when_it_commits(storage, caplog):
    """Products of a rolled-back transaction were never stored; a Name refused in a savepoint
    leaves the transaction's other products counted."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    with pytest.raises(RuntimeError):
        with storage.transaction() as tx:
            for i in range(25):
                tx.add_product(make_product("M", name=f"gone{i}"))
            raise RuntimeError("rolled back")
    assert _estimated(storage) is None and "refreshed" not in caplog.text
    with storage.transaction() as tx:
        for i in range(12):
            tx.add_product(make_product("M", name=f"p{i}"))
            with pytest.raises(Exception, match="already exists"):
                tx.add_product(make_product("M", name=f"p{i}"))
        tx.add_product(make_product("M", name="p12"))
    _add(storage, [f"q{i}" for i in range(10)])  # looked at after the transaction (13 < 20) and at 18
    assert _estimated(storage) == 23  # and at 23: the refused ones and the rolled-back 25 not counted
    assert "refreshed after 23 products stored one at a time" in caplog.text


def test_a_catalogue_never_analysed_counts_the_products_it_has(storage):
    """Products another program or process stored count when the statistics are looked at
    (never analysed: the rows there are, not only this process's)."""
    with storage.engine.begin() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM products")).scalar() == 0
    storage.add_products([make_product("M", name=f"bulk{i}") for i in range(18)])  # no refresh of its own
    assert _estimated(storage) is None
    _add(storage, [f"s{i}" for i in range(6)])  # looked at after the first (19 < 20) and the 6th
    assert _estimated(storage) == 24
