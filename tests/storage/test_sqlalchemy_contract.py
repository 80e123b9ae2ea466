"""The shipped storage contract suite, run on SQLite and on PostgreSQL 15."""
import pytest

from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import CatalogueColumnsContractTests, StorageContractTests


class TestSQLAlchemyStorage(StorageContractTests, CatalogueColumnsContractTests):
    @pytest.fixture
    def storage(self, db_url):
        storage = SQLAlchemyStorage.from_url(db_url)
        storage.initialize_schema()
        # PostgreSQL locks rows; SQLite (a file) serialises writers with BEGIN IMMEDIATE, so both
        # run the concurrent-writer cases (nothing lost, no "database is locked").
        self.supports_row_locks = True
        try:
            yield storage
        finally:
            storage.close()
