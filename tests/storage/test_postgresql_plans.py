"""PostgreSQL can answer the backend's hot queries from its indexes (the 1M-product design).

The tables here are small, so the planner is told to avoid sequential scans; the test then
proves an index *can* serve each statement exactly as the backend emits it (a missing index or
an index-hostile predicate shows up as a Seq Scan or as a full Sort).
"""
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from proseo_odata.storage import Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import T0, make_product
from proseo_odata.model import NEVER, Mission
from proseo_odata.storage.schema import products

pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
def plans_database(module_database, pg_server_url, pg_template_name):
    """A migrated database of the module, loaded once (every test here only reads): mission
    ``M1``, 20 products, and many more rows of other types, in bulk, so that the statistics look
    like a real catalogue."""
    url = module_database(sa.engine.make_url(pg_server_url).set(database=pg_template_name).render_as_string(
        hide_password=False), key="plans")
    storage = SQLAlchemyStorage.from_url(url)
    try:
        storage.add_mission(Mission("M1"))
        with storage.transaction() as tx:
            for i in range(20):
                tx.add_product(make_product(name=f"S2A_MSIL1C_{i:04d}.zip", publication_date=T0 + timedelta(seconds=i)))
        rows = []
        for i in range(8000):
            values = {c.name: None for c in products.columns}
            values.update(
                id=uuid.uuid4(), mission="M1", name=f"AUX_{i:06d}", content_type="application/zip",
                content_length=i, publication_date=T0 + timedelta(minutes=i), modification_date=T0,
                eviction_date=NEVER, online=True, production_type="systematic_production",
                visibility="PUBLIC", product_type=f"AUX_{i % 50}", revision=1,
                content_start=T0 - timedelta(days=i % 900), content_end=T0 - timedelta(days=i % 900) + timedelta(hours=1),
            )
            rows.append(values)
        with storage.engine.begin() as conn:
            conn.execute(sa.insert(products), rows)
        with storage.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    finally:
        storage.close()
    return url


@pytest.fixture
def storage(plans_database):
    """A storage of its own per test (no page, count or $skip memo of another test's queries)."""
    storage = SQLAlchemyStorage.from_url(plans_database)
    yield storage
    storage.close()


def _plans_of(storage, call, *settings):
    """EXPLAIN of every SELECT on products the backend runs inside ``call`` (``settings``: more SETs)."""
    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM products" in statement:
            captured.append((statement, parameters))

    sa.event.listen(storage.engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        sa.event.remove(storage.engine, "before_cursor_execute", capture)
    plans = []
    with storage.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for setting in settings:
            conn.exec_driver_sql(f"SET {setting}")
        for statement, parameters in captured:
            rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
            plans.append("\n".join(rows))
    return plans


def test_keyset_page_by_publication_date_walks_its_index(storage):
    orderby = ((("PublicationDate",), False),)
    first = storage.query_products("M1", Query(orderby=orderby, top=10))
    plans = _plans_of(storage, lambda: storage.query_products("M1", Query(orderby=orderby, top=10, skiptoken=first.next_skiptoken)))
    assert plans, "no query captured"
    plan = plans[0]
    assert "ix_products_publication_date_id" in plan, plan
    assert "Seq Scan" not in plan and "Sort" not in plan, plan


def test_name_lookup_uses_the_unique_index(storage):
    plans = _plans_of(storage, lambda: storage.get_product_by_name("M1", "S2A_MSIL1C_0007.zip"))
    # the unique (mission, name) index or the (mission, name, visibility) one of migration 0006
    assert "Index Scan using uq_products_mission_name " in plans[0] or \
        "Index Scan using ix_products_mission_name_visibility " in plans[0], plans[0]
    assert "Index Cond: (((mission)::text = 'M1'::text) AND ((name)::text = " in plans[0], plans[0]


def _filtered(text):
    from proseo_odata.odata import edm, parse_filter
    from proseo_odata.odata.binding import bind_filter

    return bind_filter(parse_filter(text), edm.PRODUCT)


@pytest.mark.parametrize("text", [None])
@pytest.mark.parametrize("visibilities", [["PUBLIC"], ["PUBLIC", "RESTRICTED", "INTERNAL"]])
def test_counts_read_only_an_index(storage, text, visibilities):
    """$count=true unfiltered or on a Name prefix: an index-only scan with the visibility in
    the index (migration 0006), so that with a visibility map (VACUUM; autovacuum in
    production) the count needs no table rows: the index's conditions hold the visibility.
    (Bitmap scans are avoided here; bench/README.md has the index-only plans at 1M.)"""
    query = Query(count=True, top=0, filter=_filtered(text) if text else None)
    plans = _plans_of(storage, lambda: storage.query_products("M1", query, visibilities=visibilities),
                      "enable_bitmapscan = off")
    assert "Scan using ix_products_mission_visibility " in plans[0], plans[0]
    assert "Seq Scan" not in plans[0] and "Filter" not in plans[0], plans[0]


def test_cloud_cover_filter_reads_the_products_column(storage):
    text = ("Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'productType' and a/OData.CSC.StringAttribute/Value "
            "eq 'S2MSI1C') and Attributes/OData.CSC.DoubleAttribute/any(a:a/Name eq 'cloudCover' and "
            "a/OData.CSC.DoubleAttribute/Value le 5)")
    query = Query(filter=_filtered(text), orderby=((("ContentDate", "Start"), True),), top=10)
    plans = _plans_of(storage, lambda: storage.query_products("M1", query, visibilities=["PUBLIC"]))
    assert "cloud_cover <= " in plans[0] and "double_value" not in plans[0], plans[0]


def test_processing_date_filter_reads_the_products_column(storage):
    """The typed lambda on processingDate compiles to products.processing_date (migration 0010),
    estimated from that column's statistics, not an EXISTS over the attribute rows."""
    text = ("Attributes/OData.CSC.DateTimeOffsetAttribute/any(a:a/Name eq 'processingDate' and "
            "a/OData.CSC.DateTimeOffsetAttribute/Value ge 2024-01-01T00:00:00Z)")
    query = Query(filter=_filtered(text), top=100)
    plans = _plans_of(storage, lambda: storage.query_products("M1", query, visibilities=["PUBLIC"]))
    assert "processing_date >= " in plans[0] and "product_attributes" not in plans[0], plans[0]


def test_input_lookup_uses_type_and_sensing_start(storage):
    plans = _plans_of(storage, lambda: storage.find_product("M1", product_type="S2MSI1C", covering=(T0 - timedelta(days=1), T0 - timedelta(hours=23))))
    assert "ix_products_mission_product_type_content_start" in plans[0], plans[0]


def test_keyset_page_by_ascending_sensing_start_starts_at_the_last_row(storage):
    """``ContentDate/Start asc`` (eodag's and CDSETool's order) on a nullable column: NULLs follow
    every value, and the seek's OR of cases alone let PostgreSQL walk the index from its start."""
    orderby = ((("ContentDate", "Start"), False),)
    first = storage.query_products("M1", Query(orderby=orderby, top=10, skip=4000))
    plans = _plans_of(storage, lambda: storage.query_products(
        "M1", Query(orderby=orderby, top=10, skiptoken=first.next_skiptoken)))
    bounded = [line for line in plans[0].splitlines() if "Index Cond" in line and "content_start >=" in line]
    assert bounded, plans[0]
