"""A product's checksum and attribute rows without a foreign key to ``products``.

``product_checksums.product_id`` and ``product_attributes.product_id`` referenced
``products.id`` (``ON DELETE CASCADE``). The check cost every child row a look-up of its
product, and on PostgreSQL a row lock (``SELECT 1 FROM products WHERE id = $1 FOR KEY SHARE``,
WAL-logged): about ten child rows per product, half of PostgreSQL's CPU in a bulk ingest
(issue 12 item 1, bench/README.md "Bulk ingest": 474 -> 231 µs per product at 100k). The
storage code keeps the integrity the constraint gave: child rows are written only in the
transaction that inserts or updates their product (``add_product``, ``add_products`` for the
ids its ``INSERT`` returned, ``update_product`` after its revision check), and
``delete_product`` (eviction's path too) deletes them before the product, as it already did
for SQLite connections without ``foreign_keys``; the catalogue version row, which each of
these writers holds locked until it commits, serialises them per mission. No path changes a
product's ``Id``.

PostgreSQL drops the two constraints (instant). SQLite cannot drop a constraint: each table is
rebuilt (copied) without it, its indexes (the partial value indexes included) created again
from their definitions here: 1.9 s for 30,000 products (a 142 MiB database), minutes for
millions.

Revision ID: 0009_child_rows_without_fks
Revises: 0008_catalogue_versions
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from proseo_odata.storage.types import UTCDateTime

revision = "0009_child_rows_without_fks"
down_revision = "0008_catalogue_versions"
branch_labels = None
depends_on = None

GUARD_WHERE = "name = 'productType' AND value_type <> 'String'"
VALUE_COLUMNS = ("string_value", "int_value", "double_value", "bool_value", "datetime_value")


def _child_tables(with_foreign_key: bool) -> list[sa.Table]:
    """The two tables as migrations 0001, 0002 and 0007 left them, with or without the key."""
    metadata = sa.MetaData()
    sa.Table("products", metadata, sa.Column("id", sa.Uuid(), primary_key=True))

    def product_id(table: str) -> sa.Column:
        key = ([sa.ForeignKey("products.id", ondelete="CASCADE", name=f"fk_{table}_product_id_products")]
               if with_foreign_key else [])
        return sa.Column("product_id", sa.Uuid(), *key, primary_key=True)

    checksums = sa.Table(
        "product_checksums", metadata,
        product_id("product_checksums"),
        sa.Column("algorithm", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("checksum_date", UTCDateTime(), nullable=True),
    )
    attributes = sa.Table(
        "product_attributes", metadata,
        product_id("product_attributes"),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value_type", sa.String(16), nullable=False),
        sa.Column("string_value", sa.Text(), nullable=True),
        sa.Column("int_value", sa.BigInteger(), nullable=True),
        sa.Column("double_value", sa.Double(), nullable=True),
        sa.Column("bool_value", sa.Boolean(), nullable=True),
        sa.Column("datetime_value", UTCDateTime(), nullable=True),
        *(sa.Index(f"ix_product_attributes_name_{column}_product_id", "name", column, "product_id",
                   sqlite_where=sa.text(f"{column} IS NOT NULL")) for column in VALUE_COLUMNS),
        sa.Index("ix_product_attributes_product_type_guard", "product_id", sqlite_where=sa.text(GUARD_WHERE)),
    )
    return [checksums, attributes]


def _change(with_foreign_key: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Rebuilt from the definitions above (not reflected): the partial indexes keep their WHERE.
        for table in _child_tables(with_foreign_key):
            with op.batch_alter_table(table.name, copy_from=table, recreate="always"):
                pass
        return
    for table in ("product_checksums", "product_attributes"):
        name = f"fk_{table}_product_id_products"
        if with_foreign_key:
            op.create_foreign_key(name, table, "products", ["product_id"], ["id"], ondelete="CASCADE")
        else:
            op.drop_constraint(name, table, type_="foreignkey")


def upgrade():
    _change(with_foreign_key=False)


def downgrade():
    # Child rows whose product is gone (there should be none) would fail the new constraint.
    for table in ("product_checksums", "product_attributes"):
        op.execute(f"DELETE FROM {table} WHERE product_id NOT IN (SELECT id FROM products)")
    _change(with_foreign_key=True)
