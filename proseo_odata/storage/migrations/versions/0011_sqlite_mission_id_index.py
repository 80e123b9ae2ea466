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
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(INDEX, "products", ["mission", "id"])


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index(INDEX, table_name="products")
