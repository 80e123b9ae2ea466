"""``processingDate`` kept as a column of ``products``, as ``cloudCover`` is (migration 0006).

* ``products.processing_date``: the ``processingDate`` DateTimeOffset attribute (one of the
  contract's common attributes, and its example of a DateTimeOffset lambda), NULL when the
  product has none of that name and type (``storage.schema.PROMOTED_ATTRIBUTES``).
* ``ix_products_processing_date``: a range of processing dates is an index range on
  ``products`` itself.

Why: ``any(a: a/Name eq 'processingDate' and a/Value ge X)`` was an ``EXISTS`` over
``product_attributes``, estimated from ``name = 'processingDate'`` times ``datetime_value >=
X``, two selectivities PostgreSQL multiplies although only rows of that kind have a
``datetime_value``: ten times too few rows at a million products, so for a recent ``X`` it
collected every match with a bitmap scan over the attribute table (23-60 ms warm, up to 1.75 s
with the pages read in; bench/README.md, "Catalogue queries in process"). The column has its own
statistics.

Existing rows are backfilled with one ``UPDATE`` from their attribute rows. At a million products
on PostgreSQL the migration takes about two minutes (136 s through ``initdb``, bench/README.md),
``products`` locked throughout; the ``UPDATE`` writes a new version of every row, whose old
versions (autovacuum) ``VACUUM`` makes reusable.

Revision ID: 0010_processing_date_column
Revises: 0009_child_rows_without_fks
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

from proseo_odata.storage.types import UTCDateTime

revision = "0010_processing_date_column"
down_revision = "0009_child_rows_without_fks"
branch_labels = None
depends_on = None

#: the attribute this migration promotes: (name, value type, column, the attribute table's value column)
NAME, KIND, COLUMN, VALUE = "processingDate", "DateTimeOffset", "processing_date", "datetime_value"
INDEX = "ix_products_processing_date"


def upgrade():
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column(COLUMN, UTCDateTime(), nullable=True))
    meta = sa.MetaData()
    products = sa.Table("products", meta, sa.Column("id", sa.Uuid()), sa.Column(COLUMN, UTCDateTime()))
    attributes = sa.Table("product_attributes", meta, sa.Column("product_id", sa.Uuid()), sa.Column("name", sa.String()),
                          sa.Column("value_type", sa.String()), sa.Column(VALUE, UTCDateTime()))
    value = (sa.select(attributes.c[VALUE])
             .where(attributes.c.product_id == products.c.id, attributes.c.name == NAME, attributes.c.value_type == KIND)
             .scalar_subquery())
    op.get_bind().execute(sa.update(products).values({COLUMN: value}))
    op.create_index(INDEX, "products", [COLUMN])


def downgrade():
    op.drop_index(INDEX, table_name="products")
    with op.batch_alter_table("products") as batch:
        batch.drop_column(COLUMN)
