"""Catalogue versions: the ``$skip`` memo forgets positions stored before a catalogue write.

``catalogue_versions(mission, version)``: one row per mission, created by the first product
write of the mission and bumped (``version + 1``) in the transaction of every write that adds,
changes or removes products. The ``$skip`` memo keys its positions with the version read in the
page's transaction, so a position remembered by any server process before a write is never used
after it (issue 12 item 3, contract section 6). A new empty table: instant on any catalogue, no
backfill (a mission without a row is at version 0).

Revision ID: 0008_catalogue_versions
Revises: 0007_partial_attribute_indexes
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_catalogue_versions"
down_revision = "0007_partial_attribute_indexes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "catalogue_versions",
        sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code", name="fk_catalogue_versions_mission_missions")),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("mission", name="pk_catalogue_versions"),
    )


def downgrade():
    op.drop_table("catalogue_versions")
