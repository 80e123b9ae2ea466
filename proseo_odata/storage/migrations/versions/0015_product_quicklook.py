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
    op.add_column("products", sa.Column("quicklook", sa.Text(), nullable=True))


def downgrade():
    # ALTER TABLE ... DROP COLUMN on SQLite too (3.35 and later), never a batch "move and copy":
    # that would build ``products`` anew without migration 0012's triggers, which keep the
    # footprint index (product_extents) in step with the table.
    op.drop_column("products", "quicklook")
