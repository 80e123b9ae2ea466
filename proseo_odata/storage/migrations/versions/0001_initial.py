"""Initial schema: missions, users, products (checksums, typed attributes), subscriptions,
workflows, production orders (options), notification outbox.

On PostgreSQL also the extensions pg_trgm (GIN trigram index on product names, for
``contains``/``endswith`` filters) and PostGIS (``footprint_geom`` with a GIST index, for exact
``OData.CSC.Intersects``), each when the server offers it.

Revision ID: 0001_initial
Revises:
Create Date: 2024-01-01
"""
import logging

import sqlalchemy as sa
from alembic import op

from proseo_odata.storage.schema import BigIntKey, JSONType
from proseo_odata.storage.types import Geometry, UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

CREATE_EXTENSION = {
    "pg_trgm": "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "postgis": "CREATE EXTENSION IF NOT EXISTS postgis",
}


def _create_extensions(bind):
    """Create the PostgreSQL extensions that are available; returns the names now installed."""
    available = set(
        bind.execute(
            sa.text("SELECT name FROM pg_available_extensions WHERE name IN ('pg_trgm', 'postgis')")
        ).scalars()
    )
    for name in sorted(available):
        try:
            with bind.begin_nested():
                bind.execute(sa.text(CREATE_EXTENSION[name]))
        except sa.exc.DBAPIError as exc:  # e.g. not allowed to create it; the schema degrades
            log.warning("could not create extension %s: %s", name, exc.orig)
    installed = set(bind.execute(sa.text("SELECT extname FROM pg_extension")).scalars())
    missing = {"pg_trgm", "postgis"} - installed
    if missing:
        log.warning("PostgreSQL extensions not available: %s", ", ".join(sorted(missing)))
    return installed


def upgrade():
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    extensions = _create_extensions(bind) if postgresql else set()

    op.create_table(
        "missions",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
    )
    op.create_table(
        "users",
        sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code", name="fk_users_mission_missions"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("roles", JSONType, nullable=False),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code", name="fk_products_mission_missions"), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("content_length", sa.BigInteger(), nullable=False),
        sa.Column("origin_date", UTCDateTime(), nullable=True),
        sa.Column("publication_date", UTCDateTime(), nullable=False),
        sa.Column("modification_date", UTCDateTime(), nullable=False),
        sa.Column("eviction_date", UTCDateTime(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("content_start", UTCDateTime(), nullable=True),
        sa.Column("content_end", UTCDateTime(), nullable=True),
        sa.Column("production_type", sa.String(32), nullable=False),
        sa.Column("footprint", sa.Text(), nullable=True),
        sa.Column("footprint_geom", Geometry() if "postgis" in extensions else sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("archive_key", sa.String(1024), nullable=True),
        sa.Column("product_type", sa.String(255), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.UniqueConstraint("mission", "name", name="uq_products_mission_name"),
    )
    op.create_index("ix_products_mission_product_type_content_start", "products", ["mission", "product_type", "content_start"])
    op.create_index("ix_products_publication_date_id", "products", ["publication_date", "id"])
    op.create_index("ix_products_content_start", "products", ["content_start"])
    op.create_index("ix_products_content_end", "products", ["content_end"])
    op.create_index("ix_products_eviction_date", "products", ["eviction_date"])
    if "pg_trgm" in extensions:
        op.create_index(
            "ix_products_name_trgm", "products", ["name"],
            postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"},
        )
    if "postgis" in extensions:
        op.create_index("ix_products_footprint_geom", "products", ["footprint_geom"], postgresql_using="gist")

    op.create_table(
        "product_checksums",
        sa.Column("product_id", sa.Uuid(), sa.ForeignKey("products.id", ondelete="CASCADE", name="fk_product_checksums_product_id_products"), primary_key=True),
        sa.Column("algorithm", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("checksum_date", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "product_attributes",
        sa.Column("product_id", sa.Uuid(), sa.ForeignKey("products.id", ondelete="CASCADE", name="fk_product_attributes_product_id_products"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value_type", sa.String(16), nullable=False),
        sa.Column("string_value", sa.Text(), nullable=True),
        sa.Column("int_value", sa.BigInteger(), nullable=True),
        sa.Column("double_value", sa.Double(), nullable=True),
        sa.Column("bool_value", sa.Boolean(), nullable=True),
        sa.Column("datetime_value", UTCDateTime(), nullable=True),
    )
    for column in ("string_value", "int_value", "double_value", "bool_value", "datetime_value"):
        op.create_index(
            f"ix_product_attributes_name_{column}_product_id", "product_attributes", ["name", column, "product_id"]
        )

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code", name="fk_subscriptions_mission_missions"), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filter_param", sa.Text(), nullable=False),
        sa.Column("stage_order", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("submission_date", UTCDateTime(), nullable=False),
        sa.Column("last_notification_date", UTCDateTime(), nullable=True),
        sa.Column("notification_endpoint", sa.Text(), nullable=True),
        sa.Column("notification_username", sa.Text(), nullable=True),
        sa.Column("notification_password", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
    )
    op.create_index("ix_subscriptions_mission_status", "subscriptions", ["mission", "status"])

    op.create_table(
        "workflows",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code", name="fk_workflows_mission_missions"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("input_product_type", sa.String(255), nullable=False),
        sa.Column("output_product_type", sa.String(255), nullable=False),
        sa.Column("workflow_version", sa.String(64), nullable=False),
        sa.Column("options", JSONType, nullable=False),
        sa.Column("processor", sa.String(512), nullable=False),
        sa.Column("processor_config", JSONType, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.UniqueConstraint("mission", "name", name="uq_workflows_mission_name"),
    )

    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code", name="fk_orders_mission_missions"), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("order_output_size", sa.BigInteger(), nullable=False),
        sa.Column("submission_date", UTCDateTime(), nullable=False),
        sa.Column("estimated_date", UTCDateTime(), nullable=True),
        sa.Column("completed_date", UTCDateTime(), nullable=True),
        sa.Column("eviction_date", UTCDateTime(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("input_reference", sa.Text(), nullable=True),
        sa.Column("input_content_start", UTCDateTime(), nullable=True),
        sa.Column("input_content_end", UTCDateTime(), nullable=True),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_name", sa.String(255), nullable=False),
        sa.Column("production_type", sa.String(32), nullable=True),
        sa.Column("notification_endpoint", sa.Text(), nullable=True),
        sa.Column("notification_username", sa.Text(), nullable=True),
        sa.Column("notification_password", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("input_product_id", sa.Uuid(), nullable=True),
        sa.Column("output_product_id", sa.Uuid(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
    )
    op.create_index("ix_orders_status_priority_submission_date", "orders", ["status", "priority", "submission_date"])
    op.create_index("ix_orders_status_lease_expires_at", "orders", ["status", "lease_expires_at"])
    op.create_index("ix_orders_mission_submission_date", "orders", ["mission", "submission_date"])

    op.create_table(
        "order_options",
        sa.Column("order_id", sa.Uuid(), sa.ForeignKey("orders.id", ondelete="CASCADE", name="fk_order_options_order_id_orders"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_index("ix_order_options_name_value_order_id", "order_options", ["name", "value", "order_id"])

    op.create_table(
        "outbox",
        sa.Column("id", BigIntKey, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("mission", sa.String(64), nullable=True),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("password", sa.Text(), nullable=True),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_outbox_delivered_at_next_attempt_at", "outbox", ["delivered_at", "next_attempt_at"])


def downgrade():
    for table in (
        "outbox", "order_options", "orders", "workflows", "subscriptions",
        "product_attributes", "product_checksums", "products", "users", "missions",
    ):
        op.drop_table(table)
