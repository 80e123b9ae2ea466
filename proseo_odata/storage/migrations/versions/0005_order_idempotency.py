"""Idempotent order creation: ``orders.idempotency_key`` and ``orders.request_hash``.

A client's ``Idempotency-Key`` (or its own ``Id`` in the body) makes a retried POST of a
production order return the first order instead of creating a second one. The key is unique per
mission and owner (a unique index: two concurrent requests with the same key cannot both create
an order); ``request_hash`` is the fingerprint of the request that created the order, so that
reusing a key for a different order is refused. Existing orders get NULL in both (no key).

Revision ID: 0005_order_idempotency
Revises: 0004_encrypt_secrets
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_order_idempotency"
down_revision = "0004_encrypt_secrets"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("request_hash", sa.String(64), nullable=True))
    op.create_index("uq_orders_idempotency_key", "orders", ["mission", "owner", "idempotency_key"], unique=True)


def downgrade():
    op.drop_index("uq_orders_idempotency_key", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("request_hash")
        batch.drop_column("idempotency_key")
