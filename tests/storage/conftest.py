"""Fixtures of the storage tests (the shared ones, such as ``db_url``: tests/conftest.py)."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from proseo_odata.model import Mission
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage


@pytest.fixture
def stocked_storage():
    """``stocked_storage(url, products)``: a ``SQLAlchemyStorage`` on ``url``, migrated, with
    mission ``M1`` and ``products`` added in one transaction; closed after the test."""
    made = []

    def make(url: str, products=()) -> SQLAlchemyStorage:
        storage = SQLAlchemyStorage.from_url(url)
        made.append(storage)
        storage.initialize_schema()
        storage.add_mission(Mission("M1"))
        with storage.transaction() as tx:
            for product in products:
                tx.add_product(product)
        return storage

    yield make
    for storage in made:
        storage.close()


@pytest.fixture
def await_lock_wait():
    """``await_lock_wait(url, what)``: return once a session of the PostgreSQL database at
    ``url`` waits for a lock (a second writer blocked by the test's open transaction); fail the
    test after 20 s, saying that ``what`` never waited."""

    def wait(url: str, what: str) -> None:
        engine = sa.create_engine(url)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with engine.connect() as c:
                    if c.execute(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                        return
                time.sleep(0.05)
            pytest.fail(f"{what} never waited for the first transaction")
        finally:
            engine.dispose()

    return wait
