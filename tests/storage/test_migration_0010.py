"""Migration 0010 backfills ``products.processing_date`` for products stored before it, and
goes back down without them."""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command
from migration_steps import migrate

from proseo_odata.model import Attribute, Mission
from proseo_odata.odata import edm, parse_filter
from proseo_odata.odata.binding import bind_filter
from proseo_odata.storage import Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product

PREVIOUS = "0009_child_rows_without_fks"
DAY = datetime(2024, 5, 1, 12, 0, 0, 654321, tzinfo=timezone.utc)


def _columns(engine) -> set:
    return {column["name"] for column in sa.inspect(engine).get_columns("products")}


def _processed_after(storage, when: str) -> list:
    text = ("Attributes/OData.CSC.DateTimeOffsetAttribute/any(a:a/Name eq 'processingDate' and "
            f"a/OData.CSC.DateTimeOffsetAttribute/Value gt {when})")
    query = Query(filter=bind_filter(parse_filter(text), edm.PRODUCT))
    return sorted(p.name for p in storage.query_products("M1", query).items)


def test_existing_products_get_their_processing_date(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.initialize_schema()
        storage.add_mission(Mission("M1"))
        products = [
            make_product(name="dated", attributes=[Attribute.of("processingDate", DAY)]),
            make_product(name="text", attributes=[Attribute.of("processingDate", "2024-06-01T00:00:00Z")]),
            make_product(name="none"),
        ]
        storage.add_products(products)
        migrate(storage.engine, command.downgrade, PREVIOUS)
        assert "processing_date" not in _columns(storage.engine)

        migrate(storage.engine, command.upgrade, "head")
        assert storage.schema_revision() == SQLAlchemyStorage.schema_head()
        with storage.engine.connect() as connection:
            stored = dict(connection.execute(
                sa.select(sa.column("name"), sa.column("processing_date", storage.tables.products.c.processing_date.type))
                .select_from(sa.table("products"))).all())
        assert stored == {"dated": DAY, "text": None, "none": None}
        assert _processed_after(storage, "2024-05-01T12:00:00Z") == ["dated"]
        assert _processed_after(storage, "2024-05-01T12:00:00.654321Z") == []
        indexes = {index["name"] for index in sa.inspect(storage.engine).get_indexes("products")}
        assert "ix_products_processing_date" in indexes
    finally:
        storage.close()
