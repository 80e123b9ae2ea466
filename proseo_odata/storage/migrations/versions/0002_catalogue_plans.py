"""Plans at a million products (bench/catalogue.py, bench/README.md "Catalogue queries in process").

* ``ix_products_mission_product_type_content_start`` also carries ``visibility`` and ``id``
  (``INCLUDE`` on PostgreSQL): a productType filter with ``$count=true`` counts from the index
  alone (index-only scan) instead of visiting ~140,000 table rows for their visibility.
* ``ix_product_attributes_product_type_guard``: a partial index holding only ``productType``
  attributes that are *not* Strings (normally none). The productType shortcut of the filter
  compiler adds ``NOT EXISTS (such an attribute)``; with this index that test reads an empty
  index instead of all one million ``productType`` rows.
* PostgreSQL extended statistics on ``product_attributes (name, value_type)`` (functional
  dependency, MCV list): the attribute name decides the value type, so the planner no longer
  multiplies the two selectivities (it underestimated attribute filters up to 700-fold and
  picked plans that joined every matching attribute row).

Revision ID: 0002_catalogue_plans
Revises: 0001_initial
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_catalogue_plans"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

GUARD_WHERE = "name = 'productType' AND value_type <> 'String'"
STATISTICS = "st_product_attributes_name_value_type"


def upgrade():
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    op.drop_index("ix_products_mission_product_type_content_start", table_name="products")
    op.create_index(
        "ix_products_mission_product_type_content_start", "products", ["mission", "product_type", "content_start"],
        postgresql_include=["visibility", "id"],
    )
    op.create_index(
        "ix_product_attributes_product_type_guard", "product_attributes", ["product_id"],
        postgresql_where=sa.text(GUARD_WHERE), sqlite_where=sa.text(GUARD_WHERE),
    )
    if postgresql:
        op.execute(f"CREATE STATISTICS {STATISTICS} (dependencies, mcv) ON name, value_type FROM product_attributes")
        op.execute("ANALYZE product_attributes")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")
    op.drop_index("ix_product_attributes_product_type_guard", table_name="product_attributes")
    op.drop_index("ix_products_mission_product_type_content_start", table_name="products")
    op.create_index("ix_products_mission_product_type_content_start", "products", ["mission", "product_type", "content_start"])
