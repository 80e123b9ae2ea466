"""Migration 0009 drops the child rows' foreign keys (keeping rows and indexes) and puts them
back; the storage itself leaves no child row without its product."""
import uuid

import sqlalchemy as sa
from alembic import command

from migration_steps import migrate
from proseo_odata.model import Attribute, AttributeType, Mission
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product

PREVIOUS = "0008_catalogue_versions"
CHILDREN = ("product_checksums", "product_attributes")


def _foreign_keys(engine) -> dict:
    inspector = sa.inspect(engine)
    return {table: [(fk["referred_table"], fk["constrained_columns"], (fk.get("options") or {}).get("ondelete"))
                    for fk in inspector.get_foreign_keys(table)] for table in CHILDREN}


def _indexes(engine) -> dict:
    """Index name -> its definition (SQLite: the CREATE INDEX text, with a partial index's WHERE)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(sa.text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
                "('product_checksums', 'product_attributes') AND sql IS NOT NULL"))
        else:
            rows = connection.execute(sa.text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                "('product_checksums', 'product_attributes')"))
        return dict(rows.all())


def _child_rows(engine) -> dict:
    with engine.connect() as connection:
        return {table: sorted(tuple(map(str, row)) for row in connection.execute(sa.text(f"SELECT * FROM {table}")))
                for table in CHILDREN}


def test_upgrade_from_0008_keeps_rows_and_indexes_and_downgrade_restores_the_keys(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.initialize_schema()
        # products written by today's code (its products table has later columns), then the
        # schema taken down to 0008 under them
        storage.add_mission(Mission("M1"))
        storage.add_product(make_product())
        storage.add_product(make_product(attributes=[Attribute("orbit", AttributeType.INTEGER, 7)]))
        rows = _child_rows(storage.engine)
        assert len(rows["product_attributes"]) >= 3 and rows["product_checksums"]
        migrate(storage.engine, command.downgrade, PREVIOUS)
        assert storage.schema_revision() == PREVIOUS
        cascade = [("products", ["product_id"], "CASCADE")]
        assert _foreign_keys(storage.engine) == {table: cascade for table in CHILDREN}
        assert _child_rows(storage.engine) == rows
        indexes = _indexes(storage.engine)
        assert len([i for i in indexes if i.startswith("ix_product_attributes_")]) == 6

        migrate(storage.engine, command.upgrade, "head")
        assert storage.schema_revision() == SQLAlchemyStorage.schema_head()
        assert _foreign_keys(storage.engine) == {table: [] for table in CHILDREN}
        assert _child_rows(storage.engine) == rows
        # The same indexes (SQLite rebuilt both tables: the partial indexes keep their WHERE).
        after = _indexes(storage.engine)
        assert after == indexes
        if storage.dialect == "sqlite":
            assert all("WHERE" in after[f"ix_product_attributes_name_{c}_product_id"]
                       for c in ("string_value", "int_value", "double_value", "bool_value", "datetime_value"))
            assert "productType" in after["ix_product_attributes_product_type_guard"]
        # A child row without its product is possible now; downgrading removes it before the key.
        with storage.engine.begin() as connection:
            connection.execute(sa.insert(sa.table("product_checksums", sa.column("product_id", sa.Uuid()),
                                                  sa.column("algorithm"), sa.column("value"))),
                               {"product_id": uuid.uuid4(), "algorithm": "MD5", "value": "0" * 32})
        migrate(storage.engine, command.downgrade, PREVIOUS)
        assert _foreign_keys(storage.engine) == {table: cascade for table in CHILDREN}
        assert _child_rows(storage.engine) == rows
        migrate(storage.engine, command.upgrade, "head")
    finally:
        storage.close()


def test_writes_and_deletes_leave_no_child_row_without_its_product(db_url):
    """What the foreign keys' ON DELETE CASCADE did, the storage does: delete_product removes the
    product's checksum and attribute rows, update_product replaces them, and a bulk batch
    writes none for a product it skipped."""
    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.initialize_schema()
        storage.add_mission(Mission("M1"))

        def orphans() -> int:
            with storage.engine.connect() as connection:
                return sum(connection.execute(sa.text(
                    f"SELECT count(*) FROM {table} WHERE product_id NOT IN (SELECT id FROM products)")).scalar()
                    for table in CHILDREN)

        def children(product_id) -> int:
            with storage.engine.connect() as connection:
                return sum(connection.execute(
                    sa.text(f"SELECT count(*) FROM {table} WHERE product_id = :id")
                    .bindparams(sa.bindparam("id", product_id, type_=sa.Uuid()))).scalar() for table in CHILDREN)

        kept = storage.add_product(make_product(name="kept.zip"))
        gone = storage.add_product(make_product(name="gone.zip"))
        assert children(gone.id) > 0
        storage.delete_product("M1", gone.id)
        assert children(gone.id) == 0 and orphans() == 0

        kept.attributes = [Attribute("orbit", AttributeType.INTEGER, 1)]
        kept = storage.update_product(kept)
        stored = storage.get_product("M1", kept.id)
        assert {a.name for a in stored.attributes} == {"orbit", "productType"}  # the old ones replaced
        assert children(kept.id) == 2 + len(stored.checksums)

        # A batch whose products are all taken (Name or Id) writes no child rows at all.
        taken_name = make_product(name="kept.zip")
        taken_id = make_product(name="new.zip", id=kept.id)
        assert storage.add_products([taken_name, taken_id]) == []
        assert children(taken_name.id) == 0 and orphans() == 0
        assert children(kept.id) == 2 + len(stored.checksums)
    finally:
        storage.close()
