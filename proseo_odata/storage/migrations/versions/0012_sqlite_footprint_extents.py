"""SQLite: a spatial index of the footprints, so that ``OData.CSC.Intersects`` tests only the
products whose footprint's bounding box meets the area's.

Before, SQLite read every footprint the rest of the filter left and tested it in Python (10-12 µs
each): a page of an area at 100,000 products took 0.56-0.74 s through HTTP, its count 1.4-2.0 s;
with the index 17-26 and 21-42 ms (bench/README.md, "The embedded SQLite default through HTTP").
PostgreSQL has PostGIS's GiST index and gets nothing here.

* ``product_extents``: an R*Tree (SQLite's ``rtree`` module) of each footprint's bounding box,
  ``(key, min_x, max_x, min_y, max_y)`` in the footprint's own coordinates (longitude,
  latitude). The module stores single-precision numbers rounded outwards (a bound beyond their
  normal range is given as an infinity: ``footprint_box``), so a box never shrinks: the
  compiled filter (``proseo_odata.storage.mapping``) asks it for the candidates
  and the exact test (``proseo_odata_intersects``) decides, as before.
* ``product_extent_keys``: the R*Tree's integer key of each product with a readable footprint.
  (A table without an ``INTEGER PRIMARY KEY`` may have its rowids renumbered by ``VACUUM``, so
  the products' own rowids cannot be the key.)
* The storage writes both with each product it inserts (``SQLAlchemyStorage._index_extents``,
  in the inserting transaction), and triggers on ``products`` keep them after a change of
  ``footprint`` (or ``id``) and after a delete, whichever code does it. Inserts have no
  trigger: any trigger on an ``INSERT`` makes SQLite keep a statement journal of every page
  each row touches (the row's and its ten indexes'), which cost a bulk ingest 40-60 µs a
  product at 100,000 even for a trigger doing nothing. The update trigger reads the footprint
  with the SQL function ``proseo_odata_extent`` (``proseo_odata.odata.sql``), which the storage
  registers on each of its connections. SQLite looks a trigger's functions up when it prepares
  the statement: a connection without it (another program, or a process still running a
  version before this one) can no longer change a product's footprint ("no such function:
  proseo_odata_extent"; nothing is written), and the products it inserts get no box (an area
  search does not find them until ``initdb``, whose ``initialize_schema`` gives them theirs). Deleting products needs no function. Stop every process of the
  old version before this migration runs, and write products through the storage (it also
  writes their renderings and promoted columns).

A footprint the exact test cannot read has no row (it never matches); neither has a product
without one. Every existing product with a footprint gets its rows here (5.5 s for 100,000
products on bench/README.md's machine, about a minute at a million).

A SQLite built without the R*Tree module gets none of this and tests every footprint, as before
(``SQLAlchemyStorage._few_extent_candidates`` looks for the table). A later migration that
rebuilds ``products`` on SQLite (Alembic's batch mode copies it into a new table) drops these
triggers with the old table and must create them again.

Revision ID: 0012_sqlite_footprint_extents
Revises: 0011_sqlite_mission_id_index
Create Date: 2026-12-06
"""
import sqlite3

from alembic import op

revision = "0012_sqlite_footprint_extents"
down_revision = "0011_sqlite_mission_id_index"
branch_labels = None
depends_on = None

#: What the migration creates (tests/storage/test_schema_and_loading.py knows the names).
TABLES = ("product_extents", "product_extent_keys")
TRIGGERS = ("products_extent_update", "products_extent_delete")

_BOUNDS = ("proseo_odata_extent({row}.footprint, 0), proseo_odata_extent({row}.footprint, 1), "
           "proseo_odata_extent({row}.footprint, 2), proseo_odata_extent({row}.footprint, 3)")

_FORGET = """
    DELETE FROM product_extents WHERE key = (SELECT key FROM product_extent_keys WHERE product_id = OLD.id);
    DELETE FROM product_extent_keys WHERE product_id = OLD.id;"""

_REMEMBER = f"""
    INSERT INTO product_extent_keys (product_id) SELECT NEW.id WHERE proseo_odata_extent(NEW.footprint, 0) IS NOT NULL;
    INSERT INTO product_extents (key, min_x, max_x, min_y, max_y)
        SELECT key, {_BOUNDS.format(row="NEW")} FROM product_extent_keys WHERE product_id = NEW.id;"""

_DDL = [
    # The same column type as products.id (SQLAlchemy's Uuid on SQLite: 32 hexadecimal digits).
    # AUTOINCREMENT: a key is never given twice, so a row of the R*Tree left behind by a writer
    # the triggers missed (another program's INSERT OR REPLACE) is never taken for a new one's.
    "CREATE TABLE product_extent_keys (key INTEGER PRIMARY KEY AUTOINCREMENT, product_id CHAR(32) NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE product_extents USING rtree(key, min_x, max_x, min_y, max_y)",
    f"CREATE TRIGGER products_extent_update AFTER UPDATE OF footprint, id ON products FOR EACH ROW\n"
    f"WHEN OLD.footprint IS NOT NEW.footprint OR OLD.id IS NOT NEW.id BEGIN{_FORGET}{_REMEMBER}\nEND",
    f"CREATE TRIGGER products_extent_delete AFTER DELETE ON products FOR EACH ROW BEGIN{_FORGET}\nEND",
]


def _has_rtree(bind) -> bool:
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp.proseo_rtree_probe USING rtree(id, a, b)")
    except Exception:  # noqa: BLE001 - "no such module: rtree" (its exact class depends on the driver)
        return False
    bind.exec_driver_sql("DROP TABLE temp.proseo_rtree_probe")
    return True


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or not _has_rtree(bind):
        return
    dbapi_connection = bind.connection.dbapi_connection
    if isinstance(dbapi_connection, sqlite3.Connection):
        # The storage's engine registers it on every connection; a migration run on another's
        # needs it for the rows below.
        from proseo_odata.odata.sql import register_sqlite_functions

        register_sqlite_functions(dbapi_connection)
    for statement in _DDL:
        bind.exec_driver_sql(statement)
    bind.exec_driver_sql("INSERT INTO product_extent_keys (product_id) SELECT id FROM products "
                         "WHERE footprint IS NOT NULL AND proseo_odata_extent(footprint, 0) IS NOT NULL ")
    bind.exec_driver_sql(f"INSERT INTO product_extents (key, min_x, max_x, min_y, max_y) SELECT k.key, "
                         f"{_BOUNDS.format(row='p')} FROM product_extent_keys k JOIN products p ON p.id = k.product_id")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for trigger in TRIGGERS:
        bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
    for table in TABLES:
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
