"""Migration 0008 adds the catalogue versions (the ``$skip`` memo's key) and takes them away."""
import sqlalchemy as sa
from alembic import command

from migration_steps import migrate
from proseo_odata.model import Mission
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product

PREVIOUS = "0007_partial_attribute_indexes"


def _tables(engine):
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_from_0007_and_downgrade(db_url):
    engine = sa.create_engine(db_url)
    try:
        # a fresh database (SQLite) or one already at head (the PostgreSQL template): to 0007 either way
        migrate(engine, command.upgrade, PREVIOUS)
        migrate(engine, command.downgrade, PREVIOUS)
        assert "catalogue_versions" not in _tables(engine)
        with engine.begin() as connection:  # a mission made before 0008
            connection.execute(sa.text("INSERT INTO missions (code, name) VALUES ('M1', '')"))
    finally:
        engine.dispose()

    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.initialize_schema()
        assert storage.schema_revision() == SQLAlchemyStorage.schema_head()
        with storage.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM catalogue_versions")).scalar() == 0
        storage.add_product(make_product())  # the mission's first write makes its row
        storage.add_mission(Mission("M2"))
        storage.add_product(make_product(mission="M2"))
        storage.add_product(make_product(mission="M2"))
        with storage.engine.connect() as connection:
            rows = dict(connection.execute(sa.text("SELECT mission, version FROM catalogue_versions")).all())
        assert rows == {"M1": 1, "M2": 2}
        migrate(storage.engine, command.downgrade, PREVIOUS)
        assert "catalogue_versions" not in _tables(storage.engine)
        assert storage.schema_revision() == PREVIOUS
    finally:
        storage.close()
