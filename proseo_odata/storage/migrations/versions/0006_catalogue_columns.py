"""Catalogue at a million products, every visibility class (issue 12 items 2 and 4).

* ``products.cloud_cover``: the ``cloudCover`` Double attribute as a real column
  (``storage.schema.PROMOTED_ATTRIBUTES``), NULL when the product has none. Its own statistics
  give the planner the right estimate; the attribute table's ``double_value`` is NULL on every
  non-Double row, which made ``cloudCover le X`` underestimated 15-fold (bench/README.md).
* ``products.footprint_literal`` / ``products.footprint_geojson``: the ``Footprint`` literal and
  the ``GeoFootprint`` GeoJSON text, written with the product instead of computed per response.
* ``ix_products_mission_visibility`` and ``ix_products_mission_name_visibility`` (``name`` with
  ``text_pattern_ops`` on PostgreSQL, so ``startswith`` is a range under any collation): an
  unfiltered ``$count=true`` and a count of a Name prefix are index-only scans instead of
  visiting every matching table row for its visibility.

Existing rows are backfilled: ``cloud_cover`` from the attribute rows (one UPDATE), the
footprint columns in batches of 1,000 products through ``storage.mapping.render_footprint`` (the
function the storage writes them with).

Revision ID: 0006_catalogue_columns
Revises: 0005_order_idempotency
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_catalogue_columns"
down_revision = "0005_order_idempotency"
branch_labels = None
depends_on = None

#: as storage.schema.PROMOTED_ATTRIBUTES was when this migration was written
PROMOTED = {"cloudCover": ("cloud_cover", "Double")}
BATCH = 1000


def upgrade():
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("footprint_literal", sa.Text(), nullable=True))
        batch.add_column(sa.Column("footprint_geojson", sa.Text(), nullable=True))
        batch.add_column(sa.Column("cloud_cover", sa.Double(), nullable=True))
    op.create_index("ix_products_mission_visibility", "products", ["mission", "visibility"])
    op.create_index("ix_products_mission_name_visibility", "products", ["mission", "name", "visibility"],
                    postgresql_ops={"name": "text_pattern_ops"})
    _backfill(op.get_bind())


def _backfill(bind):
    from proseo_odata.storage.mapping import render_footprint

    meta = sa.MetaData()
    products = sa.Table("products", meta, sa.Column("id", sa.Uuid()), sa.Column("footprint", sa.Text()),
                        sa.Column("footprint_literal", sa.Text()), sa.Column("footprint_geojson", sa.Text()),
                        *[sa.Column(column, sa.Double()) for column, _ in PROMOTED.values()])
    attributes = sa.Table("product_attributes", meta, sa.Column("product_id", sa.Uuid()), sa.Column("name", sa.String()),
                          sa.Column("value_type", sa.String()), sa.Column("double_value", sa.Double()))
    for name, (column, kind) in PROMOTED.items():
        value = (sa.select(attributes.c.double_value)
                 .where(attributes.c.product_id == products.c.id, attributes.c.name == name,
                        attributes.c.value_type == kind)
                 .scalar_subquery())
        bind.execute(sa.update(products).values({column: value}))
    last = None
    while True:
        statement = (sa.select(products.c.id, products.c.footprint).where(products.c.footprint.is_not(None))
                     .order_by(products.c.id).limit(BATCH))
        if last is not None:
            statement = statement.where(products.c.id > last)
        rows = bind.execute(statement).all()
        if not rows:
            break
        values = []
        for row in rows:
            literal, geojson = render_footprint(row.footprint)
            values.append({"key": row.id, "literal": literal, "geojson": geojson})
        bind.execute(
            sa.update(products).where(products.c.id == sa.bindparam("key"))
            .values(footprint_literal=sa.bindparam("literal"), footprint_geojson=sa.bindparam("geojson")),
            values,
        )
        last = rows[-1].id


def downgrade():
    op.drop_index("ix_products_mission_name_visibility", table_name="products")
    op.drop_index("ix_products_mission_visibility", table_name="products")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("cloud_cover")
        batch.drop_column("footprint_geojson")
        batch.drop_column("footprint_literal")
