"""The shipped storage contract suite, run on SQLite and on PostgreSQL 15."""
import pytest

from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import StorageContractTests


class TestSQLAlchemyStorage(StorageContractTests):
    @pytest.fixture
    def storage(self, db_url):
        storage = SQLAlchemyStorage.from_url(db_url)
        storage.initialize_schema()
        self.supports_row_locks = storage.dialect == "postgresql"
        try:
            yield storage
        finally:
            storage.close()
