"""Migration 0014: ``catalogue_versions.published_until``, the last publication date the storage
stamped in a mission. A row of an older version has none (null): the next stamp there uses the
clock alone, and keeps its date."""
from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from migration_steps import migrate

from proseo_odata.model import Mission
from proseo_odata.model.entities import utcnow
from proseo_odata.storage.schema import catalogue_versions
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import T0, make_product

PREVIOUS = "0013_outbox_receiver"


def test_published_until_is_added_empty_and_filled_by_the_next_stamp(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.add_mission(Mission("M1"))
        storage.add_product(make_product(name="given.zip", publication_date=T0, modification_date=T0))
        migrate(storage.engine, command.downgrade, PREVIOUS)
        columns = {column["name"] for column in sa.inspect(storage.engine).get_columns("catalogue_versions")}
        assert columns == {"mission", "version"}
        migrate(storage.engine, command.upgrade, "head")
        with storage.engine.connect() as connection:
            row = connection.exec_driver_sql("SELECT version, published_until FROM catalogue_versions").one()
        assert row[0] >= 1 and row[1] is None  # the mission's row kept, with no date yet
        before = utcnow() - timedelta(minutes=5)  # (the database's clock on PostgreSQL: a margin)
        made = utcnow()
        storage.add_product(make_product(name="stamped.zip", publication_date=made, modification_date=made,
                                         stamp_publication=True))
        dated = storage.get_product_by_name("M1", "stamped.zip").publication_date
        assert dated > before
        with storage.engine.connect() as connection:
            kept = connection.execute(sa.select(catalogue_versions.c.published_until)).scalar_one()
        assert kept == dated
        assert storage.get_product_by_name("M1", "given.zip").publication_date == T0
    finally:
        storage.close()
