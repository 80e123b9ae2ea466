"""Outbox claim tokens: ``outbox.claim_token``.

``claim_due_notifications`` writes a random token on every message it claims; marking the
message delivered or recording a failed attempt must present that token. A deliverer whose
claim lease expired and whose message was claimed again by another deliverer therefore cannot
overwrite the new claimer's state (its write is a no-op and it is told so).

Revision ID: 0003_outbox_claim_token
Revises: 0002_catalogue_plans
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_outbox_claim_token"
down_revision = "0002_catalogue_plans"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(64), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claim_token")
