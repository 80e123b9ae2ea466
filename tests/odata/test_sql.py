"""The SQL compiler: bound parameters, SQLite functions, an embedder's own mapping, the cache."""
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from proseo_odata.odata import edm
from proseo_odata.odata.binding import bind_filter
from proseo_odata.odata.cache import FilterCache
from proseo_odata.odata.errors import ODataError
from proseo_odata.odata.functions import FUNCTIONS
from proseo_odata.odata.parser import parse_filter
from proseo_odata.odata.sql import EntityMapping, compile_filter_sql, install_sqlite_functions
from proseo_odata.storage.mapping import compile_filter
from proseo_odata.storage.schema import SchemaTables

ALL_FUNCTIONS = (
    "contains(Name,'a') and startswith(Name,'b') and endswith(Name,'c') and length(Name) eq 3 and "
    "indexof(Name,'x') eq 1 and substring(Name,1) eq 'y' and substring(Name,1,2) eq 'y' and "
    "tolower(Name) eq 'a' and toupper(Name) eq 'A' and trim(Name) eq 'a' and concat(Name,'x') eq 'ax' "
    "and matchesPattern(Name,'^a') and year(ContentDate/Start) eq 2020 and month(ContentDate/Start) eq 1 "
    "and day(ContentDate/Start) eq 1 and hour(ContentDate/Start) eq 1 and minute(ContentDate/Start) eq 1 "
    "and second(ContentDate/Start) eq 1 and date(ContentDate/Start) eq 2020-01-01 and "
    "time(ContentDate/Start) eq 10:00:00 and ContentDate/Start lt now()"
)


@pytest.mark.parametrize("dialect, postgis", [(sqlite.dialect(), False), (postgresql.dialect(), True)])
def test_every_function_compiles_with_bound_parameters_only(dialect, postgis):
    tables = SchemaTables(dialect=dialect.name, postgis=postgis)
    clause = compile_filter("Products", bind_filter(parse_filter(ALL_FUNCTIONS), edm.PRODUCT), tables)
    compiled = sa.select(tables.products.c.id).where(clause).compile(dialect=dialect)
    sql = str(compiled)
    for literal in ("'ax'", "2020", "'^a'", "10:00"):
        assert literal not in sql
    assert len(compiled.params) >= 20
    assert set(FUNCTIONS) <= set(ALL_FUNCTIONS.lower().replace("(", " ").split()) | {"now"}


def test_unmapped_property_is_a_client_error():
    table = sa.Table("t", sa.MetaData(), sa.Column("name", sa.String))
    mapping = EntityMapping({"Name": table.c.name})
    with pytest.raises(ODataError, match="ContentLength"):
        compile_filter_sql(bind_filter(parse_filter("ContentLength gt 1"), edm.PRODUCT), mapping)


def test_workflow_options_of_workflows_are_rejected_not_500():
    tables = SchemaTables(dialect="sqlite", postgis=False)
    with pytest.raises(ODataError):
        compile_filter("Workflows", bind_filter(parse_filter("WorkflowOptions/any(o:o/Name eq 'x')"), edm.WORKFLOW), tables)


def test_sqlite_functions_on_a_plain_engine():
    metadata = sa.MetaData()
    table = sa.Table("p", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String),
                     sa.Column("wkt", sa.String), sa.Column("start", sa.DateTime))
    mapping = EntityMapping({"Name": table.c.name, "ContentDate/Start": table.c.start},
                            footprints={"Footprint": __import__("proseo_odata.odata.sql", fromlist=["x"]).FootprintColumns(wkt=table.c.wkt)})
    engine = install_sqlite_functions(sa.create_engine("sqlite://"))
    metadata.create_all(engine)
    import datetime as dt
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            {"id": 1, "name": "ÉTÉ_abc", "wkt": "POLYGON((0 0, 10 0, 0 10, 0 0))", "start": dt.datetime(2020, 1, 1, 10)},
            {"id": 2, "name": "été_ABC", "wkt": "POLYGON((8 8, 9 8, 9 9, 8 9, 8 8))", "start": dt.datetime(2020, 1, 2, 23)},
        ])

    def ids(text):
        clause = compile_filter_sql(bind_filter(parse_filter(text), edm.PRODUCT), mapping)
        with engine.connect() as conn:
            return sorted(conn.execute(sa.select(table.c.id).where(clause)).scalars())

    assert ids("tolower(Name) eq 'été_abc'") == [1, 2]
    assert ids("contains(Name,'abc')") == [1]  # case-sensitive although SQLite's LIKE is not
    assert ids("OData.CSC.Intersects(area=geography'SRID=4326;POINT(8.5 8.5)')") == [2]
    assert ids("OData.CSC.Intersects(area=geography'SRID=4326;POINT(1 1)')") == [1]
    assert ids("ContentDate/Start add duration'PT2H' gt 2020-01-03T00:00:00Z") == [2]
    assert ids("hour(ContentDate/Start) eq 23") == [2]


def test_cache_reuses_bound_and_sql_and_is_thread_safe():
    cache = FilterCache(maxsize=4)
    tables = SchemaTables(dialect="sqlite", postgis=False)
    calls = []

    def compile_sql(bound):
        calls.append(bound)
        return compile_filter("Products", bound, tables)

    text = "Name eq 'a'"
    first = cache.sql_filter(text, edm.PRODUCT, ("Products", id(tables)), compile_sql)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        cache.sql_filter(text, edm.PRODUCT, ("Products", id(tables)), compile_sql))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is first for r in results) and len(calls) == 1
    cache.sql_filter("ModificationDate lt now()", edm.PRODUCT, "k", compile_sql)
    cache.sql_filter("ModificationDate lt now()", edm.PRODUCT, "k", compile_sql)
    assert len(calls) == 3  # now() is never cached as SQL
    for i in range(10):
        cache.bound_filter(f"ContentLength eq {i}", edm.PRODUCT)
    assert len(cache) == 4
    with pytest.raises(ODataError):
        cache.bound_filter("Nope eq 1", edm.PRODUCT)


def test_cache_keeps_one_entry_per_model_of_an_entity_type():
    """The same entity type in two models binds differently (the derived types each declares):
    the cache keyed on the type alone answered the second model with the first one's tree."""
    item = edm.EntityType("Item", (edm.Property("Id", edm.INT64, nullable=False), edm.Property("Title", edm.STRING)),
                          key=("Id",), namespace="Shop")
    special = edm.EntityType("Special", (edm.Property("Grade", edm.INT32),), base=item, namespace="Shop")
    plain = edm.EntityModel("Shop", (edm.EntitySet("Items", item),), (item,), namespace="Shop")
    rich = edm.EntityModel("Shop", (edm.EntitySet("Items", item),), (item, special), namespace="Shop")
    cache = FilterCache()
    for text, bind in (("Shop.Special/Grade gt 1", cache.bound_filter), ("Shop.Special/Grade", cache.bound_orderby)):
        assert bind(text, item, model=rich)
        with pytest.raises(ODataError, match="unknown type"):
            bind(text, item, model=plain)
    mapping = EntityMapping({"Id": sa.column("id"), "Title": sa.column("title"), "Grade": sa.column("grade")})
    assert cache.sql_filter("Shop.Special/Grade gt 1", item, "m", lambda b: compile_filter_sql(b, mapping), model=rich) is not None
    with pytest.raises(ODataError, match="unknown type"):
        cache.sql_filter("Shop.Special/Grade gt 1", item, "m", lambda b: compile_filter_sql(b, mapping), model=plain)


@pytest.mark.parametrize("operator, terms", [("and", 1000), ("or", 2500), ("and", 33), ("or", 32 * 32 + 1)])
def test_long_and_or_chains_run_on_sqlite(operator, terms):
    """SQLite parses ``a AND b AND ...`` into a tree as deep as the chain and refused chains of
    ~1000 terms ("Expression tree is too large"): long chains are rendered as nested groups."""
    metadata = sa.MetaData()
    table = sa.Table("p", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Integer))
    mapping = EntityMapping({"ContentLength": table.c.n})
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "n": i} for i in range(1, 6)])
    # and: every term true for 3 only; or: one term per value 3..terms+2 (matches 3, 4, 5)
    text = f" {operator} ".join(
        "ContentLength eq 3" if operator == "and" else f"ContentLength eq {i + 3}" for i in range(terms))
    clause = compile_filter_sql(bind_filter(parse_filter(text), edm.PRODUCT), mapping)
    rendered = str(clause.compile(dialect=sqlite.dialect()))
    assert rendered.count("(") >= terms // 32 if terms > 32 else "(" not in rendered
    with engine.connect() as conn:
        found = sorted(conn.execute(sa.select(table.c.id).where(clause)).scalars())
    assert found == ([3] if operator == "and" else [3, 4, 5])


# -- OData.CSC.Intersects on SQLite: the footprint text read by GEOS alone when it is plain ------


@pytest.mark.parametrize("stored", [
    "POLYGON((11 41,13 41,13 43,11 41))", "POLYGON ((11 41, 13 41, 13 43, 11 41))", "POINT(12 42)",
    "POINT(-12.5 -42.25)", "MULTIPOLYGON(((11 41,13 41,13 43,11 41)),((0 0,1 0,1 1,0 0)))", "LINESTRING(0 0,12 42)",
    "POLYGON((0 0,1 0,1 1,0 0))", "point(12 42)", "SRID=4326;POINT(12 42)", "geography'SRID=4326;POINT(12 42)'",
    "SRID=3857;POINT(12 42)", "GEOMETRYCOLLECTION(POINT(12 42))", "POINT EMPTY", "POINT(nan 42)", "POINT(1e400 42)",
    "POINT(12 42)\x00POINT(0 0)", "POINT(12 42", "POINT(12)", "garbage", "", None,
    "POLYGON((-1" + "0" * 400 + " -1" + "0" * 400 + ",1" + "0" * 400 + " -1" + "0" * 400 + ",0 1" + "0" * 400
    + ",-1" + "0" * 400 + " -1" + "0" * 400 + "))",  # a float overflows to infinity
    "POINT(0." + "0" * 400 + "1 0)",  # underflows to 0: meets a polygon at the origin
    "POINT(12.5 42.25 7)", "POINT Z (12 42 7)", "POINT(1.2.3 4)", "POINT(12 42)" + " " * 5000 + "x",
    b"\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00(@\x00\x00\x00\x00\x00\x00E@",  # WKB of POINT(12 42)
])
def test_sqlite_intersects_answers_as_the_geography_parser(stored):
    """The SQLite function's fast path (plain WKT straight to GEOS) answers what parsing every
    stored text with proseo_odata.odata.geo answers: 1 for an accepted geometry that meets the
    area, 0 for one that does not and for any text that parser refuses."""
    import warnings

    from proseo_odata.odata.geo import to_geometry
    from proseo_odata.odata.sql import _sqlite_intersects

    area = "POLYGON((-1 -1,14 -1,14 44,-1 44,-1 -1))"
    try:
        geometry = to_geometry(stored)
        expected = int(geometry is not None and geometry.intersects(to_geometry(area)))
    except Exception:  # noqa: BLE001 - refused by the parser: never matches
        expected = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning of GEOS reaching a server's log
        assert _sqlite_intersects(stored, area) == expected


def test_startswith_on_sqlite_is_a_range_an_index_serves_and_stays_exact():
    """A literal prefix is also a range of the column on SQLite, in code point order whatever
    the column's collation: on a NOCASE column (an embedder's) too every name with the prefix is
    found, and only those (U+10FFFF and accents at the edges of the range)."""
    metadata = sa.MetaData()
    table = sa.Table("p", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("name", sa.String(collation="NOCASE")), sa.Index("ix_p_name", "name"))
    mapping = EntityMapping({"Name": table.c.name})
    engine = install_sqlite_functions(sa.create_engine("sqlite://"))
    metadata.create_all(engine)
    names = ["Zebra", "zebra", "Zz", "Z", "Y", "[x", "Z\U0010ffffa", "Zé", "ZÉ", "Apple", "z\U0010ffff"]
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "name": n} for i, n in enumerate(names)])

    def found(prefix):
        clause = compile_filter_sql(bind_filter(parse_filter(f"startswith(Name,'{prefix}')"), edm.PRODUCT), mapping)
        with engine.connect() as conn:
            return sorted(conn.execute(sa.select(table.c.name).where(clause)).scalars())

    for prefix in ("Z", "Ze", "Z\U0010ffff", "z\U0010ffff", "Y", "[", "ZÉ", "A", "Zz", "q"):
        assert found(prefix) == sorted(n for n in names if n.startswith(prefix)), prefix


def test_startswith_compiles_to_a_range_of_the_name_index_on_sqlite(migrated_sqlite_url):
    """The page of a Name prefix seeks (mission, name, visibility) rather than reading every product."""
    from statement_log import StatementLog

    from proseo_odata.model import Mission
    from proseo_odata.storage import Query
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        storage.add_mission(Mission("M"))
        query = Query(filter=bind_filter(parse_filter("startswith(Name,'S2A_MSIL1C_2024')"), edm.PRODUCT), top=10)
        with StatementLog(storage.engine) as log:
            storage.query_product_entries("M", query)
        (text, parameters), = [(t, p) for t, p in log.seen if "LIMIT" in t]
        with storage.engine.connect() as conn:
            plan = " ".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + text, parameters))
    finally:
        storage.close()
    assert "ix_products_mission_name_visibility (mission=? AND name>? AND name<?)" in plan, plan
    assert "= 1" not in text.split("WHERE", 1)[1]
