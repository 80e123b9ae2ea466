"""Fixtures of the storage tests (the shared ones, such as ``db_url``: tests/conftest.py)."""
from __future__ import annotations

import pytest

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
