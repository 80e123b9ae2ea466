"""The catalogue version row (migration 0008) and the product rows are locked in one order by
every writer of existing products, so two transactions that each delete or update several
products (two evictors, one per server process) wait for each other instead of deadlocking."""
from __future__ import annotations

import threading
import time

import pytest

from proseo_odata.model import Mission
from proseo_odata.storage import Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product

pytestmark = pytest.mark.postgresql


@pytest.mark.parametrize("second_write", ["delete", "update"])
def test_two_multi_product_writers_do_not_deadlock(migrated_pg_url, second_write):
    storage = SQLAlchemyStorage.from_url(migrated_pg_url)
    try:
        storage.add_mission(Mission("M1", "m"))
        p0, p1, p2 = (storage.add_product(make_product(name=f"p{i}.zip")) for i in range(3))
        outcome = {}
        b_holds_the_version = threading.Event()

        def writer_a():
            try:
                with storage.transaction() as tx:
                    assert b_holds_the_version.wait(10)
                    tx.delete_product("M1", p1.id)  # before the fix: P1's rows locked, then waits for the version
                    tx.delete_product("M1", p2.id)
                outcome["A"] = "ok"
            except Exception as exc:  # noqa: BLE001 - the assertion below shows it
                outcome["A"] = repr(exc)

        def writer_b():
            try:
                with storage.transaction() as tx:
                    tx.delete_product("M1", p0.id)  # the version row is B's until it commits
                    b_holds_the_version.set()
                    time.sleep(0.5)  # A is waiting by now
                    if second_write == "delete":
                        tx.delete_product("M1", p1.id)
                    else:
                        tx.update_product(p1)
                outcome["B"] = "ok"
            except Exception as exc:  # noqa: BLE001
                outcome["B"] = repr(exc)

        threads = [threading.Thread(target=f) for f in (writer_a, writer_b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert outcome == {"A": "ok", "B": "ok"}, outcome
        left = storage.query_products("M1", Query()).items
        assert p2.id not in {p.id for p in left} and p0.id not in {p.id for p in left}
    finally:
        storage.close()

