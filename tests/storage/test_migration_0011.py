"""Migration 0011 (SQLite): the (mission, id) index, and planner statistics for a catalogue
of 1,000 products or more (none was made before); PostgreSQL gets neither and needs neither."""
import sqlalchemy as sa
from alembic import command
from migration_steps import migrate

from proseo_odata.model import Mission
from proseo_odata.storage import Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product

PREVIOUS = "0010_processing_date_column"
INDEX = "ix_products_mission_id_sqlite"


def _state(engine):
    """(the index exists, the rows of products SQLite's statistics count or None)."""
    indexes = {index["name"] for index in sa.inspect(engine).get_indexes("products")}
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite" or connection.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
            return INDEX in indexes, None
        return INDEX in indexes, connection.exec_driver_sql(
            "SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = 'products'").scalar()


def test_an_existing_catalogue_gets_the_index_and_its_statistics(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.add_mission(Mission("M1"))
        storage.add_products([make_product(name=f"p{i}") for i in range(1000)])
        migrate(storage.engine, command.downgrade, PREVIOUS)
        assert _state(storage.engine) == (False, None)
        migrate(storage.engine, command.upgrade, "head")
        sqlite = storage.dialect == "sqlite"
        assert _state(storage.engine) == ((True, 1000) if sqlite else (False, None))
        assert storage.query_products("M1", Query(count=True, top=0)).count == 1000
    finally:
        storage.close()


def test_a_small_catalogue_is_not_analysed(migrated_sqlite_url):
    """Under 1,000 products (SQLITE_STATISTICS_MIN_ROWS) statistics would outlive the catalogue's
    growth; the first large load makes them (refresh_statistics)."""
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        storage.add_mission(Mission("M1"))
        storage.add_products([make_product(name=f"p{i}") for i in range(999)])
        migrate(storage.engine, command.downgrade, PREVIOUS)
        migrate(storage.engine, command.upgrade, "head")
        assert _state(storage.engine) == (True, None)
    finally:
        storage.close()
