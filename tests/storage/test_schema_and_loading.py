"""Migrations match the schema module; load_storage resolves backends; SQLite keeps time order."""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from proseo_odata.storage import StorageError, load_storage
from proseo_odata.storage.schema import metadata
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.types import UTCDateTime


def _relevant(diff):
    # PostGIS's own table lives in the public schema.
    if diff[0] == "remove_table" and diff[1].name == "spatial_ref_sys":
        return False
    # The PostgreSQL-only trigram/GIST indexes and the SQLite-only (mission, id) index are
    # created by the migrations, not the metadata.
    if diff[0] == "remove_index" and diff[1].name in ("ix_products_name_trgm", "ix_products_footprint_geom",
                                                      "ix_products_mission_id_sqlite"):
        return False
    # SQLite's R*Tree of footprint extents (migration 0012: its key table, the virtual table and
    # the module's shadow tables) is created by the migrations, not the metadata.
    if diff[0] == "remove_table" and diff[1].name.startswith(("product_extent_keys", "product_extents")):
        return False
    # Without PostGIS (SQLite) the unused footprint_geom column is plain TEXT.
    if isinstance(diff, list) and diff[0][0] == "modify_type" and diff[0][3] == "footprint_geom":
        return False
    return True


def test_migration_creates_exactly_the_schema_module(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.initialize_schema()
        with storage.engine.connect() as conn:
            diffs = [d for d in compare_metadata(MigrationContext.configure(conn), metadata) if _relevant(d)]
    finally:
        storage.close()
    assert diffs == []


@pytest.mark.postgresql
def test_postgresql_gets_extensions_and_special_indexes(fresh_pg_url):
    storage = SQLAlchemyStorage.from_url(fresh_pg_url)
    try:
        storage.initialize_schema()
        with storage.engine.connect() as conn:
            extensions = set(conn.execute(sa.text("SELECT extname FROM pg_extension")).scalars())
            indexes = dict(
                conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'products'")).all()
            )
        assert {"postgis", "pg_trgm"} <= extensions
        assert "gin_trgm_ops" in indexes["ix_products_name_trgm"]
        assert "gist" in indexes["ix_products_footprint_geom"]
        assert storage.tables.postgis
    finally:
        storage.close()


def test_initialize_schema_is_idempotent(sqlite_url):
    storage = SQLAlchemyStorage.from_url(sqlite_url)
    try:
        storage.initialize_schema()
        storage.initialize_schema()
        assert storage.schema_revision() == "0015_product_quicklook"
    finally:
        storage.close()


def test_sqlite_datetimes_compare_and_order_chronologically(sqlite_url):
    engine = sa.create_engine(sqlite_url)
    table = sa.Table("t", sa.MetaData(), sa.Column("d", UTCDateTime()))
    base = datetime(999, 1, 1, tzinfo=timezone.utc)
    values = [base, datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2020, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
              datetime(2020, 1, 1, 0, 0, 0, 10, tzinfo=timezone.utc), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)]
    try:
        table.create(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(table), [{"d": v} for v in reversed(values)])
            ordered = conn.execute(sa.select(table.c.d).order_by(table.c.d)).scalars().all()
            after = conn.execute(sa.select(table.c.d).where(table.c.d > values[2]).order_by(table.c.d)).scalars().all()
            raw = conn.execute(sa.text("SELECT d FROM t ORDER BY d LIMIT 1")).scalar_one()
    finally:
        engine.dispose()
    assert ordered == values
    assert after == values[3:]
    assert raw == "0999-01-01T00:00:00.000000"


def test_load_storage_resolves_and_checks_the_backend(sqlite_url, monkeypatch):
    import sys
    import types

    wrong = types.ModuleType("proseo_wrong_backend")
    wrong.load_from_config = lambda settings: object()
    monkeypatch.setitem(sys.modules, "proseo_wrong_backend", wrong)
    storage = load_storage({"proseo.storage.backend": "proseo_odata.storage.sqlalchemy", "proseo.storage.url": sqlite_url})
    try:
        assert isinstance(storage, SQLAlchemyStorage)
    finally:
        storage.close()
    with pytest.raises(StorageError, match="cannot import"):
        load_storage({"proseo.storage.backend": "no.such.module"})
    with pytest.raises(StorageError, match="no load_from_config"):
        load_storage({"proseo.storage.backend": "json"})
    with pytest.raises(StorageError, match="not a StorageBase"):
        load_storage({"proseo.storage.backend": "proseo_wrong_backend"})
    with pytest.raises(StorageError, match="proseo.storage.url"):
        load_storage({"proseo.storage.backend": "proseo_odata.storage.sqlalchemy"})


def test_filter_is_routed_to_the_mapping(sqlite_url, monkeypatch):
    """query.filter goes to proseo_odata.storage.mapping.compile_filter with the schema tables."""
    from proseo_odata.model import Mission, Product
    from proseo_odata.storage import Query, mapping

    calls = []

    def compile_filter(entity_set, bound_filter, tables, guard=None, now=None):
        calls.append((entity_set, bound_filter, tables.dialect, now))
        return tables.main_table(entity_set).c.name == bound_filter

    monkeypatch.setattr(mapping, "compile_filter", compile_filter)
    storage = SQLAlchemyStorage.from_url(sqlite_url)
    try:
        storage.initialize_schema()
        storage.add_mission(Mission("M"))
        storage.add_product(Product(mission="M", name="a"))
        storage.add_product(Product(mission="M", name="b"))
        moment = datetime(2026, 12, 7, tzinfo=timezone.utc)
        page = storage.query_products("M", Query(filter="b", count=True, now=moment))
    finally:
        storage.close()
    assert [p.name for p in page.items] == ["b"] and page.count == 1
    assert calls == [("Products", "b", "sqlite", moment)]  # once for the count and the page, with the query's now
