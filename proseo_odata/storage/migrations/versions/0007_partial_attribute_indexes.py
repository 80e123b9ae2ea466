"""Partial attribute value indexes: each holds only the rows of its own value type.

``product_attributes`` has one ``(name, <type>_value, product_id)`` index per value type; every
attribute row fills one of the five value columns, so until now every row went into all five
indexes, four times with a NULL nobody looks up. Each index is now partial (``WHERE
<type>_value IS NOT NULL``): a row costs one value-index entry instead of five. Reads are
unchanged: every attribute comparison the filter compilers emit (``=``, ``<``, ``in``, ``LIKE``
...) implies ``IS NOT NULL``, which PostgreSQL and SQLite both use to pick a partial index.
Bulk ingest (issue 12 item 1): about 30 % less database CPU per product on both databases
(bench/README.md).

Revision ID: 0007_partial_attribute_indexes
Revises: 0006_catalogue_columns
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_partial_attribute_indexes"
down_revision = "0006_catalogue_columns"
branch_labels = None
depends_on = None

COLUMNS = ("string_value", "int_value", "double_value", "bool_value", "datetime_value")


def _name(column: str) -> str:
    return f"ix_product_attributes_name_{column}_product_id"


def _create(column: str, partial: bool) -> None:
    not_null = sa.column(column).isnot(None)
    where = {"postgresql_where": not_null, "sqlite_where": not_null} if partial else {}
    op.create_index(_name(column), "product_attributes", ["name", column, "product_id"], **where)


def upgrade():
    for column in COLUMNS:
        op.drop_index(_name(column), table_name="product_attributes")
        _create(column, partial=True)


def downgrade():
    for column in COLUMNS:
        op.drop_index(_name(column), table_name="product_attributes")
        _create(column, partial=False)
