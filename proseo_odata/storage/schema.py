"""The relational schema of the SQLAlchemy backend (SQLAlchemy Core tables).

The DDL is owned by the Alembic migrations (``storage/migrations``); these ``Table`` objects
describe the same schema for building queries, and a test checks that the two agree.
See docs/storage.md for the indexes and the reasons behind them.

Filter compilers receive a :class:`SchemaTables` (``tables``): the tables plus the dialect
name and whether the PostGIS ``footprint_geom`` column is available.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from proseo_odata.model.collections import DEFAULT_COLLECTION_RULE, CollectionRule

from .types import Geometry, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: The partial index ``ix_product_attributes_product_type_guard``: productType attributes that are
#: not Strings (see migration 0002). PostgreSQL also has extended statistics
#: ``st_product_attributes_name_value_type`` (dependencies, mcv) on (name, value_type), which
#: SQLAlchemy metadata cannot describe.
PRODUCT_TYPE_GUARD_WHERE = "name = 'productType' AND value_type <> 'String'"

#: Attributes clients filter on most, kept as real columns of ``products`` (migration 0006):
#: attribute name -> (column, attribute value type). The column holds the attribute's value when
#: the product has an attribute of that name *and* type, else NULL, so the planner has the
#: column's own statistics (a histogram) instead of the diluted ones of the attribute table, and
#: a typed lambda ``Attributes/OData.CSC.DoubleAttribute/any(a: a/Name eq 'cloudCover' and
#: a/Value le 5)`` compiles to ``products.cloud_cover <= 5`` (same rows; storage/mapping.py).
#: Adding one: an entry here, the column below (with an index for ranges), and a migration that
#: adds and backfills it (0010 is the shortest example).
PROMOTED_ATTRIBUTES = {
    "cloudCover": ("cloud_cover", "Double"),
    "processingDate": ("processing_date", "DateTimeOffset"),
}

#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: Autoincrementing 64-bit key (SQLite only autoincrements INTEGER PRIMARY KEY).
BigIntKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

missions = sa.Table(
    "missions",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
)

#: One row per mission whose catalogue changed: ``version`` goes up in the transaction of every
#: write that adds, changes or removes products (``storage/sqlalchemy.py``'s
#: ``_catalogue_changed``), and keys the ``$skip`` memo, so a position remembered before a write is
#: never used after it (migration 0008). No row: version 0. ``delete_mission`` removes the row.
catalogue_versions = sa.Table(
    "catalogue_versions",
    metadata,
    sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code"), primary_key=True),
    sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
    # the last publication date stamped in the mission (SQLAlchemyStorage._publishing)
    sa.Column("published_until", UTCDateTime(), nullable=True),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("roles", JSONType, nullable=False),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code"), nullable=False),
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
    sa.Column("footprint", sa.Text(), nullable=True),  # WKT, SRID 4326, longitude first
    sa.Column("footprint_geom", Geometry(), nullable=True),  # PostGIS only; NULL elsewhere
    sa.Column("visibility", sa.String(16), nullable=False),
    sa.Column("archive_key", sa.String(1024), nullable=True),
    sa.Column("product_type", sa.String(255), nullable=True),
    sa.Column("revision", sa.Integer(), nullable=False),
    # Written with the product (migration 0006), never per response: the ``Footprint`` literal
    # and the ``GeoFootprint`` GeoJSON text of ``footprint`` (storage/mapping.render_footprint).
    sa.Column("footprint_literal", sa.Text(), nullable=True),
    sa.Column("footprint_geojson", sa.Text(), nullable=True),
    # The quicklook's path among the product's Nodes (migration 0015): Product.quicklook.
    sa.Column("quicklook", sa.Text(), nullable=True),
    # PROMOTED_ATTRIBUTES (migrations 0006 and 0010)
    sa.Column("cloud_cover", sa.Double(), nullable=True),
    sa.Column("processing_date", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("mission", "name"),
    # INCLUDE (PostgreSQL): a productType filter with $count=true is an index-only scan (0002).
    sa.Index(None, "mission", "product_type", "content_start", postgresql_include=["visibility", "id"]),
    sa.Index(None, "publication_date", "id"),
    # Counts from the index alone (migration 0006): unfiltered, and Name prefixes (the
    # text_pattern_ops operator class serves LIKE 'prefix%' under any collation).
    sa.Index(None, "mission", "visibility"),
    sa.Index(None, "mission", "name", "visibility", postgresql_ops={"name": "text_pattern_ops"}),
    sa.Index(None, "content_start"),
    sa.Index(None, "content_end"),
    sa.Index(None, "eviction_date"),
    sa.Index(None, "processing_date"),  # migration 0010
)

#: A product's child rows (checksums, attributes) have no foreign key to ``products`` (migration
#: 0009: the per-row check was half of PostgreSQL's CPU in a bulk ingest). The storage
#: writes them only in the transaction that inserts or updates their product and deletes them
#: before it (``SQLAlchemyStorage.delete_product``).
product_checksums = sa.Table(
    "product_checksums",
    metadata,
    sa.Column("product_id", sa.Uuid(), primary_key=True),
    sa.Column("algorithm", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
    sa.Column("checksum_date", UTCDateTime(), nullable=True),
)

product_attributes = sa.Table(
    "product_attributes",
    metadata,
    sa.Column("product_id", sa.Uuid(), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value_type", sa.String(16), nullable=False),
    sa.Column("string_value", sa.Text(), nullable=True),
    sa.Column("int_value", sa.BigInteger(), nullable=True),
    sa.Column("double_value", sa.Double(), nullable=True),
    sa.Column("bool_value", sa.Boolean(), nullable=True),
    sa.Column("datetime_value", UTCDateTime(), nullable=True),
    # One per value type, each holding only its type's rows (migration 0007).
    *(sa.Index(None, "name", column, "product_id", postgresql_where=sa.text(f"{column} IS NOT NULL"),
               sqlite_where=sa.text(f"{column} IS NOT NULL"))
      for column in ("string_value", "int_value", "double_value", "bool_value", "datetime_value")),
    # Normally empty: serves the productType shortcut's NOT EXISTS guard (migration 0002).
    sa.Index("ix_product_attributes_product_type_guard", "product_id",
             postgresql_where=sa.text(PRODUCT_TYPE_GUARD_WHERE), sqlite_where=sa.text(PRODUCT_TYPE_GUARD_WHERE)),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code"), nullable=False),
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
    sa.Index(None, "mission", "status"),
)

workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code"), nullable=False),
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
    sa.UniqueConstraint("mission", "name"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Uuid(), primary_key=True),
    sa.Column("mission", sa.String(64), sa.ForeignKey("missions.code"), nullable=False),
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
    # Idempotent creation (migration 0005): a client's key is unique per mission and owner.
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Index("uq_orders_idempotency_key", "mission", "owner", "idempotency_key", unique=True),
    # The claim query: WHERE status = 'queued' ORDER BY priority DESC, submission_date ASC.
    sa.Index(None, "status", "priority", "submission_date"),
    sa.Index(None, "status", "lease_expires_at"),
    sa.Index(None, "mission", "submission_date"),
)

order_options = sa.Table(
    "order_options",
    metadata,
    sa.Column("order_id", sa.Uuid(), sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Index(None, "name", "value", "order_id"),
)

outbox = sa.Table(
    "outbox",
    metadata,
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
    # Who holds the current claim (migration 0003): a random token written at claim time that
    # mark_notification_delivered / record_notification_failure must present.
    sa.Column("claim_token", sa.String(64), nullable=True),
    # The endpoint's ``scheme://host:port`` (migration 0013; ``endpoint_receiver``): the
    # dispatcher's delivery lanes are counted per receiver, and claims skip busy ones by it.
    sa.Column("receiver", sa.Text(), nullable=True),
    sa.Index(None, "delivered_at", "next_attempt_at"),
)


#: SQLite's spatial index of the footprints (migration 0012; not in :data:`metadata`: PostgreSQL
#: has PostGIS's GiST index instead). ``product_extents`` is an R*Tree of each footprint's
#: bounding box under an integer ``key``; ``product_extent_keys`` gives each product with a
#: readable footprint that key (an R*Tree's ids are integers, and a table's implicit rowid may
#: change under ``VACUUM``). The storage writes both with each product it inserts; triggers on
#: ``products`` keep them after updates and deletes (the migration says why and how).
product_extent_keys = sa.table(
    "product_extent_keys", sa.column("key", sa.Integer()), sa.column("product_id", sa.Uuid()),
)
product_extents = sa.table(
    "product_extents", sa.column("key", sa.Integer()), sa.column("min_x", sa.Double()),
    sa.column("max_x", sa.Double()), sa.column("min_y", sa.Double()), sa.column("max_y", sa.Double()),
)


@dataclass(frozen=True)
class SchemaTables:
    """What a filter compiler gets as ``tables``: the tables and the database's abilities.

    ``main_table(entity_set)`` is the table whose rows are the entity set's entities
    (``Products`` -> ``products``, ``ProductionOrders`` -> ``orders``, ...); the compiled
    filter must be a boolean expression over it (correlated ``EXISTS`` subqueries over
    ``product_attributes`` / ``order_options`` for lambdas).
    """

    dialect: str
    postgis: bool
    #: SQLite: ``OData.CSC.Intersects`` areas are looked up in the R*Tree of footprint extents
    #: (:data:`product_extents`) before the exact test; the storage decides it per request
    #: (``SQLAlchemyStorage._few_extent_candidates``)
    extents: bool = False
    #: how ``Collection/Name`` is derived (:mod:`proseo_odata.model.collections`)
    collections: CollectionRule = DEFAULT_COLLECTION_RULE
    missions: sa.Table = missions
    users: sa.Table = users
    products: sa.Table = products
    product_checksums: sa.Table = product_checksums
    product_attributes: sa.Table = product_attributes
    subscriptions: sa.Table = subscriptions
    workflows: sa.Table = workflows
    orders: sa.Table = orders
    order_options: sa.Table = order_options
    outbox: sa.Table = outbox

    def main_table(self, entity_set: str) -> sa.Table:
        return {
            "Products": self.products,
            "Subscriptions": self.subscriptions,
            "Workflows": self.workflows,
            "ProductionOrders": self.orders,
        }[entity_set]

    def __getitem__(self, name: str) -> sa.Table:
        return getattr(self, name)
