"""``add_products`` on PostgreSQL: the rows go by ``COPY`` straight into ``products``; only a
batch with a taken Name or Id (a concurrent writer, an Id stored under another Name) goes through
the temporary staging table and ``ON CONFLICT DO NOTHING``. Both paths store the same footprint
geometry as ``add_product``."""
import contextlib
import threading

import pytest
import sqlalchemy as sa

from proseo_odata.storage import InvalidValueError, Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product

pytestmark = pytest.mark.postgresql

WKT = "POLYGON ((10.5 50, 11 50.00001, 11 51, 10.5 51, 10.5 50))"


@pytest.fixture
def staged(migrated_pg_url):
    """The temporary staging tables created while the test runs (statements seen by the engine)."""
    created = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "CREATE TEMPORARY TABLE" in statement:
            created.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", seen)
    yield created
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", seen)


def geometries(url):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return dict(c.execute(sa.text("SELECT name, ST_AsEWKT(footprint_geom) FROM products")).all())
    finally:
        engine.dispose()


def test_new_products_go_straight_into_the_table(migrated_pg_url, stocked_storage, staged):
    storage = stocked_storage(migrated_pg_url)
    single = storage.add_product(make_product(name="single", footprint=WKT))
    stored = storage.add_products([make_product(name="bulk", footprint=WKT), make_product(name="none", footprint=None)])
    assert [p.name for p in stored] == ["bulk", "none"]
    assert staged == []
    found = geometries(migrated_pg_url)
    assert found["bulk"] == found["single"] == "SRID=4326;" + "POLYGON((10.5 50,11 50.00001,11 51,10.5 51,10.5 50))"
    assert found["none"] is None
    # the geometry is the one the spatial filter reads
    page = storage.query_products("M1", Query(filter=_intersects("POLYGON((10.6 50.5,10.7 50.5,10.7 50.6,10.6 50.5))")))
    assert sorted(p.name for p in page.items) == ["bulk", "single"]
    assert storage.get_product("M1", single.id) == single


def test_a_taken_id_sends_the_batch_through_the_staging_table(migrated_pg_url, stocked_storage, staged):
    storage = stocked_storage(migrated_pg_url)
    taken = storage.add_product(make_product(name="taken", footprint=WKT))
    fresh = [make_product(name="a", footprint=WKT), make_product(name="b")]
    stored = storage.add_products([fresh[0], make_product(name="other", id=taken.id), fresh[1]])
    assert [p.name for p in stored] == ["a", "b"]
    assert len(staged) == 1
    for product in fresh:
        assert storage.get_product("M1", product.id) == product
    assert storage.get_product("M1", taken.id).name == "taken"
    assert geometries(migrated_pg_url)["a"] == geometries(migrated_pg_url)["taken"]


def test_a_concurrent_writer_of_the_same_names_loses_nothing(migrated_pg_url, stocked_storage, staged, await_lock_wait):
    first = stocked_storage(migrated_pg_url)
    other = SQLAlchemyStorage.from_url(migrated_pg_url)
    outcome = {}
    shared = [make_product(name=f"shared{i}") for i in range(3)]
    own = make_product(name="own")

    def second_batch():
        try:
            outcome["stored"] = other.add_products([make_product(name=p.name) for p in shared] + [own])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    try:
        with first.transaction() as tx:
            tx.add_products(shared)  # inserted, not committed yet
            thread = threading.Thread(target=second_batch)
            thread.start()
            await_lock_wait(migrated_pg_url, "the second batch")  # its COPY waits on the first one's rows
        thread.join(30)
        assert "error" not in outcome, outcome.get("error")
        assert [p.name for p in outcome["stored"]] == ["own"]
        assert len(staged) == 1
        names = {p.name: p.id for p in first.query_products("M1", Query(top=10)).items}
        assert names == {**{p.name: p.id for p in shared}, "own": own.id}
    finally:
        other.close()


def _intersects(wkt):
    from proseo_odata.query import Paging, build_query

    text = f"OData.CSC.Intersects(area=geography'SRID=4326;{wkt}')"
    return build_query("Products", [("$filter", text)], Paging(100, 1000)).query.filter


@pytest.mark.parametrize("wkt", [
    "POLYGON((80.3679 42.9561,81.3031 42.9561,80.9988 43.9846,80.0637 43.9846,80.3679 42.9561))",
    "POLYGON((-179.999999 -89.5,179.123456789012 -89.5,0.1 89.999999999,-179.999999 -89.5))",
    "POLYGON((0 0,10 0,10 10,0 10,0 0),(1 1,2 1,2 2,1 1))",
    "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))",
    "POINT(12.5 -3)",
    "LINESTRING(0 0,1.5 2.25)",
], ids=["plain", "digits", "hole", "multipolygon", "point", "linestring"])
def test_the_bulk_geometry_is_the_one_the_wkt_gives(migrated_pg_url, stocked_storage, wkt):
    """The bulk path sends each footprint as binary EWKB (made in Python): PostGIS must hold
    exactly the geometry its own WKT reader makes of the stored footprint text."""
    storage = stocked_storage(migrated_pg_url)
    storage.add_products([make_product(name="bulk", footprint=wkt)])
    engine = sa.create_engine(migrated_pg_url)
    try:
        with engine.connect() as c:
            stored, read, srid = c.execute(sa.text(
                "SELECT ST_AsEWKB(footprint_geom), ST_AsEWKB(ST_GeomFromText(footprint, 4326)), ST_SRID(footprint_geom)"
                " FROM products WHERE name = 'bulk'")).one()
    finally:
        engine.dispose()
    assert bytes(stored) == bytes(read) and srid == 4326


def test_a_footprint_that_is_not_wkt_refuses_the_bulk_write_and_stores_nothing(migrated_pg_url, stocked_storage):
    storage = stocked_storage(migrated_pg_url)
    with pytest.raises(InvalidValueError, match="footprint"):
        storage.add_products([make_product(name="fine", footprint=WKT), make_product(name="bad", footprint="POLYGON((1 2")])
    assert storage.existing_product_names("M1", ["fine", "bad"]) == set()
    assert [p.name for p in storage.add_products([make_product(name="fine", footprint=WKT)])] == ["fine"]


@contextlib.contextmanager
def look_up_settings(storage):
    """``enable_bitmapscan`` as each Name look-up statement of ``storage`` runs (a list)."""
    settings = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "unnest" in statement and "JOIN products" in statement:
            cursor.execute("SELECT current_setting('enable_bitmapscan')")
            settings.append(cursor.fetchone()[0])

    sa.event.listen(storage.engine, "before_cursor_execute", seen)
    try:
        yield settings
    finally:
        sa.event.remove(storage.engine, "before_cursor_execute", seen)


def test_the_name_look_up_never_probes_the_trigram_index(migrated_pg_url, stocked_storage):
    """The bulk ingest's Name look-up runs without bitmap scans: pg_trgm's GIN index on the Name
    serves ``=`` too, and before its first vacuum the planner costs it as nearly free (a look-up
    of 5,000 names probing it ran into the statement timeout on a catalogue loading from empty).
    The setting is its transaction's: the pooled connection goes back with the default."""
    storage = stocked_storage(migrated_pg_url)
    storage.add_products([make_product(name=f"n{i}") for i in range(5)])
    with look_up_settings(storage) as settings:
        assert storage.existing_product_names("M1", ["n1", "n3", "missing", "n3"]) == {"n1", "n3"}
    assert settings == ["off"]
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW enable_bitmapscan").scalar() == "on"


@pytest.mark.parametrize("before", ["on", "off"])
def test_a_bound_name_look_up_avoids_the_trigram_index_and_leaves_the_setting_as_it_was(
        migrated_pg_url, stocked_storage, before):
    """In the caller's transaction the look-up runs without bitmap scans too, and the
    transaction's setting is what it was before, afterwards."""
    storage = stocked_storage(migrated_pg_url)
    storage.add_products([make_product(name=f"n{i}") for i in range(5)])
    with look_up_settings(storage) as settings, storage.transaction() as bound:
        session = bound._session
        session.execute(sa.text(f"SET LOCAL enable_bitmapscan = {before}"))
        assert bound.existing_product_names("M1", ["n2", "missing"]) == {"n2"}
        assert session.execute(sa.text("SHOW enable_bitmapscan")).scalar() == before
    assert settings == ["off"]
