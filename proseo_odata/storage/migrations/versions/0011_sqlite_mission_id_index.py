"""SQLite: an index on ``products (mission, id)``, so that a mission's products read in ``Id``
order are read in index order.

``export``, ``archive check`` and every other reader of a whole mission page by ``Id`` (a keyset
page of 1,000 after the last ``Id`` read: ``WHERE mission = ? AND id > ? ORDER BY id LIMIT``).
SQLite keeps no planner statistics unless ``ANALYZE`` ran, and without them it picks
``ix_products_mission_visibility`` for the mission's equality and sorts all the mission's rows for
each page: the whole read costs the square of the mission's size (about 0.15 µs per row and
page on bench/README.md's machine: 6 s of an export of 200,000 products, 56.9 s before and 50.8 s
after this index; about 150 s more at 1,000,000). With this index each page is a seek and 1,000
index entries. PostgreSQL has statistics and reads the primary key in order; it gets no such
index (every product would write one more B-tree entry).

Created in 0.015 s for 20,000 products (by extrapolation about a second for a million).

A catalogue of 1,000 products or more gets SQLite's planner statistics too (``ANALYZE`` under ``PRAGMA
analysis_limit = 1000``, as ``SQLAlchemyStorage.refresh_statistics`` runs it after a large
load): none was ever made before this version, and without them SQLite took the mission's
index for a range of sensing dates (65-79 ms against 14 ms for a week at 100,000 products).

Revision ID: 0011_sqlite_mission_id_index
Revises: 0010_processing_date_column
Create Date: 2026-12-06
"""
from alembic import op

revision = "0011_sqlite_mission_id_index"
down_revision = "0010_processing_date_column"
branch_labels = None
depends_on = None

#: The index's name (SQLite only; tests/storage/test_schema_and_loading.py knows it).
INDEX = "ix_products_mission_id_sqlite"


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.create_index(INDEX, "products", ["mission", "id"])
        # (SQLAlchemyStorage.SQLITE_STATISTICS_MIN_ROWS: a few rows plan well without statistics)
        if bind.exec_driver_sql("SELECT 1 FROM products LIMIT 1 OFFSET 999").first() is not None:
            bind.exec_driver_sql("PRAGMA analysis_limit = 1000")
            for table in ("products", "product_attributes", "product_checksums"):
                bind.exec_driver_sql(f"ANALYZE {table}")


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(INDEX, table_name="products")
