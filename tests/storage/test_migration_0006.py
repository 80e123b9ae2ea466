"""Migration 0006 backfills the catalogue columns of products stored before it."""
import json
import uuid

import sqlalchemy as sa
from alembic import command
from migration_steps import migration_config

from proseo_odata.odata import edm, parse_filter
from proseo_odata.odata.binding import bind_filter
from proseo_odata.storage import Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import T0
from proseo_odata.storage.types import UTCDateTime
from proseo_odata.model import NEVER

WKT = "POLYGON ((10 50, 11.25 50, 11 51.000001, 10 50))"


def test_existing_products_get_cloud_cover_and_footprint_renderings(db_url):
    engine = sa.create_engine(db_url)
    ids = [uuid.uuid4() for _ in range(3)]
    with engine.begin() as connection:
        config = migration_config(connection)
        # a fresh database (SQLite) or one already at head (the PostgreSQL template): to 0005 either way
        command.upgrade(config, "0005_order_idempotency")
        command.downgrade(config, "0005_order_idempotency")
        connection.execute(sa.text("INSERT INTO missions (code, name) VALUES ('M1', '')"))
        products = sa.table("products", sa.column("id", sa.Uuid()), *[sa.column(c, UTCDateTime()) for c in (
            "publication_date", "modification_date", "eviction_date")], *[sa.column(c) for c in (
            "mission", "name", "content_type", "content_length", "online", "production_type", "footprint", "visibility", "revision")])
        attributes = sa.table("product_attributes", sa.column("product_id", sa.Uuid()), *[sa.column(c) for c in (
            "name", "value_type", "double_value", "int_value")])
        for i, (product_id, footprint) in enumerate(zip(ids, [WKT, None, WKT])):
            connection.execute(sa.insert(products).values(
                id=product_id, mission="M1", name=f"P{i}", content_type="application/zip", content_length=1,
                publication_date=T0, modification_date=T0, eviction_date=NEVER, online=True, production_type="systematic_production",
                footprint=footprint, visibility="PUBLIC", revision=1))
        connection.execute(sa.insert(attributes), [
            {"product_id": ids[0], "name": "cloudCover", "value_type": "Double", "double_value": 4.5, "int_value": None},
            {"product_id": ids[1], "name": "cloudCover", "value_type": "Double", "double_value": 40.0, "int_value": None},
            {"product_id": ids[2], "name": "cloudCover", "value_type": "Integer", "double_value": None, "int_value": 1},
        ])
    engine.dispose()

    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.initialize_schema()
        assert storage.schema_revision() == storage.schema_head()  # through 0006 (and any later one)
        with storage.engine.connect() as connection:
            cloud = dict(connection.execute(sa.text("SELECT name, cloud_cover FROM products")).all())
        assert cloud == {"P0": 4.5, "P1": 40.0, "P2": None}
        text = ("Attributes/OData.CSC.DoubleAttribute/any(a:a/Name eq 'cloudCover' and "
                "a/OData.CSC.DoubleAttribute/Value le 10)")
        found = storage.query_products("M1", Query(filter=bind_filter(parse_filter(text), edm.PRODUCT)))
        assert [p.name for p in found.items] == ["P0"]
        for product_id in (ids[0], ids[2]):
            rendered = storage.get_product("M1", product_id).rendered_footprint
            assert rendered[:2] == (WKT, "geography'SRID=4326;POLYGON((10 50,11.25 50,11 51.000001,10 50))'")
            assert json.loads(rendered[2]) == {"type": "Polygon",
                                               "coordinates": [[[10.0, 50.0], [11.25, 50.0], [11.0, 51.000001],
                                                                [10.0, 50.0]]]}
        assert storage.get_product("M1", ids[1]).rendered_footprint is None
    finally:
        storage.close()
