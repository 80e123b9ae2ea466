"""SQLite's spatial index of footprints (migration 0012): an R*Tree of their bounding boxes that
``OData.CSC.Intersects`` looks candidates up in before the exact test. It must never change an
answer: the same products as the exact test over every footprint (and as PostGIS), however the
boxes are rounded, after every kind of write of the storage, and after ``VACUUM``."""
import random
import sqlite3

import pytest
import shapely
import sqlalchemy as sa
from alembic import command
from migration_steps import migrate
from statement_log import StatementLog

from proseo_odata.model import Mission
from proseo_odata.query import build_query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product

PREVIOUS = "0011_sqlite_mission_id_index"


def _polygon(x, y, w, h):
    return f"POLYGON(({x} {y},{x + w} {y},{x + w} {y + h},{x} {y + h},{x} {y}))"


def _footprints(rng, n):
    """Stored footprints of every accepted kind and size, some at coordinates single precision
    cannot hold (the R*Tree rounds them)."""
    texts = []
    for i in range(n):
        x, y = rng.uniform(-180, 175), rng.uniform(-90, 85)
        kind = i % 6
        if kind == 0:
            texts.append(_polygon(round(x, 9), round(y, 9), rng.uniform(0.001, 5), rng.uniform(0.001, 5)))
        elif kind == 1:
            texts.append(f"POINT({x!r} {y!r})")
        elif kind == 2:
            texts.append(f"LINESTRING({x} {y},{x + rng.uniform(-3, 3)} {y + rng.uniform(0, 3)})")
        elif kind == 3:
            texts.append(f"MULTIPOLYGON((({x} {y},{x + 1} {y},{x} {y + 1},{x} {y})),"
                         f"(({x + 3} {y + 3},{x + 4} {y + 3},{x + 3} {y + 4},{x + 3} {y + 3})))")
        elif kind == 4:  # a triangle whose box is far larger than its area
            texts.append(f"POLYGON(({x} {y},{x + 5} {y + 5},{x + 5} {y + 0.01},{x} {y}))")
        else:
            texts.append(_polygon(10.000000123 + i * 1e-7, 40.000000321, 1e-7, 1e-7))
    return texts


def _areas(rng, footprints):
    """Areas: random boxes and shapes, the exact edges of stored footprints (touching counts as
    intersecting), points and lines."""
    areas = [_polygon(10.000000123, 40.000000321, 0.5, 0.5),  # a corner shared with the tiny boxes
             _polygon(10.000000123 - 0.5, 40.000000321 - 0.5, 0.5, 0.5),
             "POINT(10.000000123 40.000000321)",
             _polygon(-180, -90, 360, 180)]
    for text in rng.sample(footprints, 12):
        minx, miny, maxx, maxy = shapely.from_wkt(text).bounds
        areas.append(f"LINESTRING({maxx} {miny - 1},{maxx} {maxy + 1})")  # along a box's edge
        areas.append(f"POINT({minx!r} {miny!r})")
    for _ in range(20):
        x, y = rng.uniform(-180, 170), rng.uniform(-90, 80)
        areas.append(_polygon(x, y, rng.uniform(0.01, 20), rng.uniform(0.01, 20)))
    areas.append("POLYGON((0 0,40 40,40 39,0 0))")
    return areas


def _ids(storage, area, *, count=False):
    text = f"OData.CSC.Intersects(area=geography'SRID=4326;{area}')"
    query = build_query("Products", {"$filter": text, "$top": "1000", **({"$count": "true"} if count else {})}).query
    result = storage.query_products("M", query)
    if count:
        return result.count
    return {p.name for p in result.items}


class _Statements(StatementLog):
    """The statements an engine runs from now on (tests/statement_log.py), to tell whether a
    page looked up the R*Tree."""

    def __init__(self, engine):
        super().__init__(engine)
        self.__enter__()

    def used_extents(self):
        used = any("product_extent_keys" in text for text in self.texts)
        self.seen.clear()
        return used


@pytest.fixture
def storage(migrated_sqlite_url):
    """The storage on a migrated SQLite file, with mission M."""
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    storage.add_mission(Mission("M"))
    try:
        yield storage
    finally:
        storage.close()


@pytest.fixture
def world(db_url):
    rng = random.Random(20261206)
    footprints = _footprints(rng, 240)
    storage = SQLAlchemyStorage.from_url(db_url)
    storage.add_mission(Mission("M"))
    storage.add_products([make_product("M", name=f"p{i}", footprint=text) for i, text in enumerate(footprints)])
    try:
        yield storage, footprints, _areas(rng, footprints)
    finally:
        storage.close()


def test_intersects_finds_what_the_exact_test_finds_with_and_without_the_index(world, monkeypatch):
    storage, footprints, areas = world
    shapes = [shapely.from_wkt(text) for text in footprints]
    statements = _Statements(storage.engine)
    sqlite = storage.dialect == "sqlite"
    looked_up = 0
    for area in areas:
        geometry = shapely.from_wkt(area)
        expected = {f"p{i}" for i, shape in enumerate(shapes) if shape.intersects(geometry)}
        assert _ids(storage, area) == expected, area
        looked_up += statements.used_extents()
        assert _ids(storage, area, count=True) == len(expected), area
    # SQLite looked candidates up for the areas (PostgreSQL has PostGIS's index instead) ...
    assert looked_up == (len(areas) if sqlite else 0)
    if not sqlite:
        return
    # ... but not for an area whose box meets the boxes of EXTENT_CANDIDATES_LIMIT footprints
    # or more: it is tested on the rows in order, with the same answers.
    monkeypatch.setattr(SQLAlchemyStorage, "EXTENT_CANDIDATES_LIMIT", 3)
    seen = set()
    for area in areas[-21:]:  # boxes and shapes at random places: none on an edge
        geometry = shapely.from_wkt(area)
        meeting = sum(shapely.box(*shape.bounds).intersects(shapely.box(*geometry.bounds)) for shape in shapes)
        assert _ids(storage, area) == {f"p{i}" for i, shape in enumerate(shapes) if shape.intersects(geometry)}
        assert statements.used_extents() == (meeting < 3), (area, meeting)
        seen.add(meeting < 3)
    assert seen == {True, False}


def test_an_areas_choice_is_remembered_for_a_while(storage, monkeypatch):
    """Counting the boxes an area meets is done once per area and limit while the answer is
    remembered (EXTENT_CHOICE_SECONDS); after that the catalogue's growth changes the choice."""
    from proseo_odata.lru import ExpiringLRU
    from proseo_odata.storage import sqlalchemy as backend

    now = [1000.0]
    storage._extent_choices = ExpiringLRU(8, clock=lambda: now[0])
    monkeypatch.setattr(SQLAlchemyStorage, "EXTENT_CANDIDATES_LIMIT", 3)
    storage.add_products([make_product("M", name=f"a{i}", footprint=_polygon(i, 0, 0.5, 0.5)) for i in range(2)])
    statements = _Statements(storage.engine)
    area = _polygon(-1, -1, 10, 2)

    def probes():
        counted = sum("product_extents" in text and "product_extent_keys" not in text for text in statements.texts)
        return counted, statements.used_extents()

    assert _ids(storage, area) == {"a0", "a1"} and probes() == (1, True)
    assert _ids(storage, area, count=True) == 2 and probes() == (0, True)  # remembered
    storage.add_products([make_product("M", name=f"b{i}", footprint=_polygon(i, 0.5, 0.5, 0.5)) for i in range(3)])
    now[0] += backend.EXTENT_CHOICE_SECONDS - 1
    assert _ids(storage, area) == {"a0", "a1", "b0", "b1", "b2"} and probes() == (0, True)  # not yet counted again
    now[0] += 2
    assert _ids(storage, area) == {"a0", "a1", "b0", "b1", "b2"} and probes() == (1, False)  # five: many
    # another limit is another choice
    monkeypatch.setattr(SQLAlchemyStorage, "EXTENT_CANDIDATES_LIMIT", 10)
    assert _ids(storage, area) == {"a0", "a1", "b0", "b1", "b2"} and probes() == (1, True)


def _rows(storage):
    """{product name: its R*Tree box (min_x, max_x, min_y, max_y)}; every key has its box."""
    with storage.engine.connect() as connection:
        keys = connection.exec_driver_sql("SELECT count(*) FROM product_extent_keys").scalar()
        rows = connection.exec_driver_sql(
            "SELECT p.name, e.min_x, e.max_x, e.min_y, e.max_y FROM product_extents e "
            "JOIN product_extent_keys k ON k.key = e.key JOIN products p ON p.id = k.product_id").all()
    assert keys == len(rows)
    return {name: box for name, *box in rows}


def _around(box, expected):
    """The R*Tree's single-precision box holds the footprint's box, within 1e-5 degrees."""
    min_x, max_x, min_y, max_y = box
    e_min_x, e_min_y, e_max_x, e_max_y = expected
    return (min_x <= e_min_x and max_x >= e_max_x and min_y <= e_min_y and max_y >= e_max_y
            and max(e_min_x - min_x, max_x - e_max_x, e_min_y - min_y, max_y - e_max_y) < 1e-5)


def test_every_write_keeps_the_index(storage):
    storage.add_products([make_product("M", name="a", footprint=_polygon(1, 2, 3, 4)),
                          make_product("M", name="b", footprint=None),
                          make_product("M", name="c", footprint="POINT(10.000000123 -40.000000321)")])
    rows = _rows(storage)
    assert set(rows) == {"a", "c"}
    assert _around(rows["a"], (1, 2, 4, 6)) and _around(rows["c"], (10.000000123, -40.000000321) * 2)
    # A Name taken: the batch skips that product, and its footprint gets no row.
    storage.add_products([make_product("M", name="a", footprint=_polygon(50, 50, 1, 1)),
                          make_product("M", name="d", footprint=_polygon(-5, -5, 1, 1))])
    assert set(_rows(storage)) == {"a", "c", "d"} and _around(_rows(storage)["a"], (1, 2, 4, 6))
    assert _ids(storage, _polygon(50, 50, 1, 1)) == set()
    # One product at a time (add_product): the same rows.
    storage.add_product(make_product("M", name="e", footprint=_polygon(60, 60, 1, 1)))
    assert _ids(storage, _polygon(60.5, 60.5, 1, 1)) == {"e"} and set(_rows(storage)) == {"a", "c", "d", "e"}
    storage.delete_product("M", storage.get_product_by_name("M", "e").id)

    # An update moves the box; one without a footprint loses it; one that gets one gains it.
    a = storage.get_product_by_name("M", "a")
    a.footprint = _polygon(100, 10, 2, 2)
    storage.update_product(a)
    b = storage.get_product_by_name("M", "b")
    b.footprint = _polygon(-100, 10, 1, 1)
    storage.update_product(b)
    c = storage.get_product_by_name("M", "c")
    c.footprint = None
    storage.update_product(c)
    rows = _rows(storage)
    assert set(rows) == {"a", "b", "d"} and _around(rows["a"], (100, 10, 102, 12))
    assert _ids(storage, _polygon(0, 0, 10, 10)) == set()
    assert _ids(storage, _polygon(101, 11, 5, 5)) == {"a"}
    assert _ids(storage, _polygon(-100.5, 10.5, 1, 1)) == {"b"}

    # A delete takes its rows; VACUUM (which may renumber the products' rowids) changes nothing.
    storage.delete_product("M", storage.get_product_by_name("M", "d").id)
    vacuum = sqlite3.connect(storage.engine.url.database, isolation_level=None)
    vacuum.execute("VACUUM")
    vacuum.close()
    assert set(_rows(storage)) == {"a", "b"}
    storage.add_products([make_product("M", name=f"n{i}", footprint=_polygon(i, 0, 0.5, 0.5)) for i in range(5)])
    storage.delete_product("M", storage.get_product_by_name("M", "a").id)
    assert set(_rows(storage)) == {"b", *(f"n{i}" for i in range(5))}
    assert _ids(storage, _polygon(-180, -90, 360, 180)) == {"b", *(f"n{i}" for i in range(5))}


def test_a_footprint_the_exact_test_cannot_read_has_no_row_and_never_matches(storage):
    storage.add_products([make_product("M", name="x", footprint=_polygon(1, 1, 1, 1))])
    with storage.engine.begin() as connection:  # text no writer of the storage stores
        connection.exec_driver_sql("UPDATE products SET footprint = 'POLYGON((1 1,2' WHERE name = 'x'")
    assert _rows(storage) == {}
    assert _ids(storage, _polygon(-180, -90, 360, 180)) == set()


@pytest.mark.parametrize("footprint,area", [
    ("POINT(1e-50 0)", "POINT(1e-50 0)"),  # single precision has no such number: 0 would shrink the box
    ("POINT(-1e-50 1e-45)", "POINT(-1e-50 1e-45)"),
    ("POINT(1e39 -1e39)", "POLYGON((1e38 -2e39,2e39 -2e39,2e39 0,1e38 0,1e38 -2e39))"),  # beyond its largest
])
def test_coordinates_single_precision_cannot_hold_still_match(storage, footprint, area):
    storage.add_products([make_product("M", name="odd", footprint=footprint),
                          make_product("M", name="usual", footprint=_polygon(10, 10, 1, 1))])
    assert shapely.from_wkt(footprint).intersects(shapely.from_wkt(area))
    statements = _Statements(storage.engine)
    assert _ids(storage, area) == {"odd"}
    assert statements.used_extents()
    assert _ids(storage, _polygon(10.5, 10.5, 1, 1)) == {"usual"}


def test_another_program_may_delete_products_but_not_write_footprints(migrated_sqlite_url):
    """The update trigger reads footprints with the storage's SQL function: a connection without
    it can change no footprint (and writes nothing), but deletes need none."""
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        storage.add_mission(Mission("M"))
        storage.add_products([make_product("M", name=n, footprint=_polygon(1, 1, 1, 1)) for n in "xy"])
    finally:
        storage.close()
    path = sa.engine.make_url(migrated_sqlite_url).database
    with sqlite3.connect(path) as plain:
        with pytest.raises(sqlite3.OperationalError, match="proseo_odata_extent"):
            plain.execute("UPDATE products SET footprint = 'POINT(5 5)' WHERE name = 'x'")
        with pytest.raises(sqlite3.OperationalError, match="proseo_odata_extent"):
            plain.execute("UPDATE products SET footprint = NULL WHERE name = 'x'")
        plain.execute("DELETE FROM products WHERE name = 'y'")
    plain.close()
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        assert set(_rows(storage)) == {"x"}
        assert _ids(storage, _polygon(1.5, 1.5, 1, 1)) == {"x"}
    finally:
        storage.close()


def test_initdb_gives_products_another_program_inserted_their_box(migrated_sqlite_url, caplog):
    """A product inserted outside the storage (another program, an old version during an
    upgrade) has no box and an area search misses it, until ``initialize_schema`` (``initdb``)
    adds the boxes that are missing."""
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        storage.add_mission(Mission("M"))
        storage.add_products([make_product("M", name=n, footprint=_polygon(i, 0, 1, 1)) for i, n in enumerate("abc")])
        with storage.engine.begin() as connection:  # as another program would leave them
            connection.exec_driver_sql("DELETE FROM product_extents WHERE key IN (SELECT key FROM product_extent_keys "
                                       "WHERE product_id IN (SELECT id FROM products WHERE name IN ('a', 'c')))")
            connection.exec_driver_sql("DELETE FROM product_extent_keys WHERE product_id IN "
                                       "(SELECT id FROM products WHERE name IN ('a', 'c'))")
        assert set(_rows(storage)) == {"b"}
        assert _ids(storage, _polygon(-1, -1, 10, 10)) == {"b"}
        storage.initialize_schema()
        assert set(_rows(storage)) == {"a", "b", "c"}
        assert _ids(storage, _polygon(-1, -1, 10, 10)) == {"a", "b", "c"}
        assert "2 products had no box" in caplog.text
        caplog.clear()
        storage.initialize_schema()  # nothing missing: nothing said
        assert "had no box" not in caplog.text and set(_rows(storage)) == {"a", "b", "c"}
    finally:
        storage.close()


def test_the_migration_indexes_an_existing_catalogue(migrated_sqlite_url):
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        storage.add_mission(Mission("M"))
        # stored by this version's code, then taken back to the schema before the index
        storage.add_products([make_product("M", name=f"p{i}", footprint=_polygon(i, i, 1, 1)) for i in range(30)]
                             + [make_product("M", name="none", footprint=None)])
        migrate(storage.engine, command.downgrade, PREVIOUS)
        inspector = sa.inspect(storage.engine)
        assert not {"product_extents", "product_extent_keys"} & set(inspector.get_table_names())
        migrate(storage.engine, command.upgrade, "head")
        rows = _rows(storage)
        assert set(rows) == {f"p{i}" for i in range(30)}
        assert all(_around(rows[f"p{i}"], (i, i, i + 1, i + 1)) for i in range(30))
    finally:
        storage.close()
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)  # a new process sees the index
    try:
        statements = _Statements(storage.engine)
        assert _ids(storage, _polygon(10.5, 10.5, 1, 1)) == {"p10", "p11"}
        assert statements.used_extents()
    finally:
        storage.close()
