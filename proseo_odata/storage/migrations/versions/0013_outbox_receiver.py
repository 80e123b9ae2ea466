"""Outbox receivers: ``outbox.receiver``.

The notification dispatcher gives one receiver at most ``proseo.notify.per_endpoint`` delivery
lanes, and its claims skip the messages of receivers whose lanes are all busy. Until this
revision a receiver was the endpoint's text, so a server that hangs behind many URLs (one per
subscription, ``https://hub.example/notify/<id>``) held two lanes for each URL, all of them,
and every other receiver waited. ``receiver`` is ``scheme://host:port`` of the endpoint
(:func:`proseo_odata.model.entities.endpoint_receiver`), written with each message; the claim
compares it (``claim_due_notifications(exclude_receivers=...)``).

Every message not yet delivered gets its receiver here; delivered ones are never claimed again
and keep none. A message written without one (a process of an older version still running)
is claimed as before, without that isolation.

Revision ID: 0013_outbox_receiver
Revises: 0012_sqlite_footprint_extents
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

from proseo_odata.model.entities import endpoint_receiver

revision = "0013_outbox_receiver"
down_revision = "0012_sqlite_footprint_extents"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("receiver", sa.Text(), nullable=True))
    outbox = sa.table("outbox", sa.column("id", sa.BigInteger()), sa.column("endpoint", sa.Text()),
                      sa.column("delivered_at"), sa.column("receiver", sa.Text()))
    bind = op.get_bind()
    rows = bind.execute(sa.select(outbox.c.id, outbox.c.endpoint).where(outbox.c.delivered_at.is_(None))).all()
    if rows:
        bind.execute(
            sa.update(outbox).where(outbox.c.id == sa.bindparam("message_id")).values(receiver=sa.bindparam("value")),
            [{"message_id": row.id, "value": endpoint_receiver(row.endpoint)} for row in rows],
        )


def downgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("receiver")
