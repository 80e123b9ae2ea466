"""The last publication date stamped in a mission: ``catalogue_versions.published_until``.

A product whose publication date the service stamps (``Product.stamp_publication``) is dated
with the clock once its transaction holds its mission's ``catalogue_versions`` row, so that
publication dates follow the order of commits. The clock alone does not promise that: it can be
stepped back (NTP, a virtual machine restored or moved), and a batch's successive microseconds
may in principle run past the moment the next transaction reads the clock. The row now keeps
the last date stamped, and the next one is at least a microsecond later
(``SQLAlchemyStorage._publishing``). Null until the first stamp (every row of an older version:
the clock alone is used once more).

Revision ID: 0014_published_until
Revises: 0013_outbox_receiver
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

from proseo_odata.storage.types import UTCDateTime

revision = "0014_published_until"
down_revision = "0013_outbox_receiver"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("catalogue_versions") as batch:
        batch.add_column(sa.Column("published_until", UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("catalogue_versions") as batch:
        batch.drop_column("published_until")
