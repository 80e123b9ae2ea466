"""``$count`` exact up to ``proseo.count.exact_limit``, PostgreSQL's estimate of at least the limit
+ 1 above it (issue 12 item 2; :mod:`proseo_odata.storage.counts`)."""
import pytest
import sqlalchemy as sa

from proseo_odata.config import MAX_COUNT_EXACT_LIMIT, count_exact_limit
from proseo_odata.model import Subscription, VisibilityClass
from proseo_odata.query import Paging, build_query
from proseo_odata.storage import StorageError
from proseo_odata.storage.base import Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage, load_from_config
from proseo_odata.storage.testing import T0, make_order, make_product, make_workflow
from statement_log import StatementLog

PRODUCTS = 12


@pytest.fixture
def engine(db_url, stocked_storage):
    return stocked_storage(db_url, [
        make_product(name=f"P_{i:02d}.zip", visibility=VisibilityClass.RESTRICTED if i % 4 == 0 else VisibilityClass.PUBLIC)
        for i in range(PRODUCTS)
    ]).engine


def _storage(engine, limit):
    return SQLAlchemyStorage(engine, count_exact_limit=limit)


class _Statements(StatementLog):
    @property
    def explains(self):
        return [s for s in self.texts if s.lstrip().upper().startswith("EXPLAIN")]


def _query(**options):
    params = {"$count": "true", **options}
    return build_query("Products", params, Paging(max=1000)).query


@pytest.mark.parametrize("limit", [PRODUCTS, PRODUCTS + 1, 1000, None])
def test_counts_up_to_the_limit_are_exact(engine, limit):
    storage = _storage(engine, limit)
    with _Statements(engine) as statements:
        assert storage.query_products("M1", _query()).count == PRODUCTS
        assert storage.query_products("M1", _query(**{"$filter": "startswith(Name,'P_0')"})).count == 10
        assert storage.query_products("M1", _query(), visibilities=[VisibilityClass.PUBLIC]).count == 9
        assert storage.query_products("M1", Query(top=0, count=True)).count == PRODUCTS
    assert statements.explains == []


def test_sqlite_counts_exactly_whatever_the_limit(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL estimates above the limit")
    storage = _storage(engine, 3)
    assert storage.count_exact_limit is None
    with _Statements(engine) as statements:
        assert storage.query_products("M1", _query()).count == PRODUCTS
        assert storage.query_products("M1", _query(), visibilities=[VisibilityClass.PUBLIC]).count == 9
    assert statements.explains == [] and not any("LIMIT" in s.upper() and "count(" in s for s in statements.texts)


def _postgresql(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no estimate")


def test_above_the_limit_postgresql_answers_its_estimate_at_least_limit_plus_one(engine):
    _postgresql(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE products"))
    storage = _storage(engine, 3)
    with _Statements(engine) as statements:
        everything = storage.query_products("M1", Query(top=0, count=True))
        public = storage.query_products("M1", Query(top=0, count=True), visibilities=[VisibilityClass.PUBLIC])
    # the walk stops after limit + 1 rows, the planner's estimate answers
    counting = [s for s in statements.texts if "count(" in s]
    assert len(counting) == 2 and all("LIMIT" in s.upper() for s in counting)
    assert len(statements.explains) == 2
    # analysed, the planner knows the table exactly: 12 rows, 9 of them PUBLIC
    assert (everything.count, public.count) == (PRODUCTS, 9)


def test_an_estimate_is_never_below_limit_plus_one(engine):
    _postgresql(engine)
    storage = _storage(engine, 3)
    # All 12 names contain '_'; without statistics the planner's default selectivity for a pattern
    # inside a name estimates far fewer rows than the 4 the bounded walk has seen (if it ever
    # estimated more, this count would say so: it is max(estimate, 4)).
    query = _query(**{"$filter": "contains(Name,'_')", "$top": "0"})
    with _Statements(engine) as statements:
        assert storage.query_products("M1", query).count == 4
    assert len(statements.explains) == 1


def test_an_estimate_is_at_least_the_rows_a_page_shows(engine):
    _postgresql(engine)
    storage = _storage(engine, 3)
    filter_text = "contains(Name,'_')"  # all 12; estimated far below that (previous test)
    first = storage.query_products("M1", _query(**{"$filter": filter_text, "$top": "5", "$orderby": "Name asc"}))
    assert len(first.items) == 5 and first.count >= 6  # 5 shown and a next page
    last = storage.query_products("M1", _query(**{"$filter": filter_text, "$top": "5", "$skip": "10",
                                                    "$orderby": "Name asc"}))
    assert len(last.items) == 2 and last.next_skip is None
    assert last.count >= PRODUCTS  # 10 skipped + 2 shown
    by_token = storage.query_products("M1", Query(top=5, count=True, skiptoken=first.next_skiptoken,
                                                  orderby=((("Name",), False),),
                                                  filter=_query(**{"$filter": filter_text}).filter))
    assert by_token.count >= 5 + 5 + 1


def test_subscriptions_orders_and_workflows_count_through_the_same_bound(engine):
    _postgresql(engine)
    storage = _storage(engine, 1)
    with storage.transaction() as tx:
        workflows = [tx.add_workflow(make_workflow(name=f"WF{i}")) for i in range(2)]
        for i in range(2):
            tx.add_order(make_order(workflow_id=workflows[i].id, workflow_name=workflows[i].name))
            tx.add_subscription(Subscription(mission="M1", owner="alice", filter_param="true", submission_date=T0))
    with _Statements(engine) as statements:
        assert storage.query_workflows("M1", _query_of("Workflows", "startswith(Name,'WF')")).count >= 2
        assert storage.query_orders("M1", _query_of("ProductionOrders", "Priority gt 0")).count >= 2
        assert storage.query_subscriptions("M1", _query_of("Subscriptions", "Priority ge 0")).count >= 2
    assert len(statements.explains) == 3
    # the bound is far above what these tables hold in practice: exact
    exact = _storage(engine, 1000)
    assert exact.query_workflows("M1", _query_of("Workflows", "startswith(Name,'WF')")).count == 2
    assert exact.query_orders("M1", Query(top=0, count=True), owner="alice").count == 2


def _query_of(entity_set, filter_text):
    return build_query(entity_set, {"$count": "true", "$top": "0", "$filter": filter_text}, Paging(max=1000)).query


@pytest.mark.parametrize("text, limit", [(None, 100_000), ("", 100_000), ("250", 250), ("0", None),
                                         ("none", None), (" None ", None)])
def test_the_setting(text, limit):
    settings = {} if text is None else {"proseo.count.exact_limit": text}
    assert count_exact_limit(settings) == limit


def test_the_largest_setting_is_accepted():
    # LIMIT limit + 1 still fits PostgreSQL's bigint
    assert count_exact_limit({"proseo.count.exact_limit": str(MAX_COUNT_EXACT_LIMIT)}) == MAX_COUNT_EXACT_LIMIT
    assert MAX_COUNT_EXACT_LIMIT + 1 < 2**63


@pytest.mark.parametrize("text", ["-1", "ten", "1.5", str(MAX_COUNT_EXACT_LIMIT + 1), str(10**19)])
def test_a_bad_setting_is_refused_naming_it(text):
    settings = {"proseo.count.exact_limit": text}
    with pytest.raises(ValueError, match="proseo.count.exact_limit"):
        count_exact_limit(settings)
    with pytest.raises(StorageError, match="proseo.count.exact_limit"):
        load_from_config({"proseo.storage.url": "sqlite://", **settings})


def test_the_storage_takes_the_setting(db_url):
    storage = load_from_config({"proseo.storage.url": db_url, "proseo.count.exact_limit": "7"})
    try:
        assert storage.count_exact_limit == (7 if storage.dialect == "postgresql" else None)
        assert storage.bind(None).count_exact_limit == storage.count_exact_limit
    finally:
        storage.close()
