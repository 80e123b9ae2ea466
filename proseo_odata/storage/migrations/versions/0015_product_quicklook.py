"""A product's quicklook image: ``products.quicklook``.

The path of the quicklook among the product's ``Nodes`` (its names below the root joined by
``/``), found when the product's file is archived (:func:`proseo_odata.nodes.find_quicklook`)
and served as the product's ``QUICKLOOK`` asset. Null for every product of an older version:
``proseo-odata archive quicklooks`` finds theirs.

Revision ID: 0015_product_quicklook
Revises: 0014_published_until
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0015_product_quicklook"
down_revision = "0014_published_until"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("quicklook", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("products") as batch:
        batch.drop_column("quicklook")
