"""Page statements built once per shape (issue 12 item 4, ``SQLAlchemyStorage._page_statement``):
the mission, visibility classes, LIMIT, OFFSET and catalogue are bound parameters, so requests that
differ only in those values share one statement object (and SQLAlchemy's memoised cache key),
and each gets its own rows. The cache is bounded (``PAGE_STATEMENTS``), the least recently used
shape leaving first."""
import pytest

from proseo_odata.model import Mission, VisibilityClass
from proseo_odata.query import Paging, build_query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import make_product


@pytest.fixture
def storage(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    storage.initialize_schema()
    for code in ("M1", "M2"):
        storage.add_mission(Mission(code))
        storage.add_products([make_product(mission=code, name=f"{code}_{i}.zip",
                                           visibility=VisibilityClass.RESTRICTED if i == 0 else VisibilityClass.PUBLIC)
                              for i in range(4)])
    yield storage
    storage.close()


def _names(page):
    return sorted(entry.name for entry in page.items)


def _query(**options):
    return build_query("Products", {name: str(value) for name, value in options.items()}, Paging(max=100)).query


def test_requests_that_differ_in_bound_values_share_one_statement_and_get_their_own_rows(storage):
    import sqlalchemy as sa

    executed = []
    sa.event.listen(storage.engine, "before_execute", lambda conn, element, *rest: executed.append(element))
    public = [VisibilityClass.PUBLIC]
    restricted = [VisibilityClass.RESTRICTED]
    every = [VisibilityClass.PUBLIC, VisibilityClass.RESTRICTED]
    everything = [VisibilityClass.PUBLIC, VisibilityClass.RESTRICTED, VisibilityClass.INTERNAL]
    assert _names(storage.query_product_entries("M1", _query(**{"$top": 10}), visibilities=public)) == [
        "M1_1.zip", "M1_2.zip", "M1_3.zip"]
    assert len(storage._page_statements) == 1
    statement = executed[0]  # the page's, before the statements that load its rows' details
    assert _names(storage.query_product_entries("M2", _query(**{"$top": 10}), visibilities=restricted)) == ["M2_0.zip"]
    page = storage.query_product_entries("M2", _query(**{"$top": 2}), visibilities=public)
    assert set(_names(page)) < {"M2_1.zip", "M2_2.zip", "M2_3.zip"} and len(page.items) == 2 and page.next_skip == 2
    # the three pages of one visibility class ran the one statement object (nothing built again)
    assert sum(element is statement for element in executed) == 3 and len(storage._page_statements) == 1
    # several classes are another statement (an array of them), shared by every set of classes
    start = len(executed)
    assert _names(storage.query_product_entries("M2", _query(**{"$top": 10}), visibilities=every)) == [
        "M2_0.zip", "M2_1.zip", "M2_2.zip", "M2_3.zip"]
    several = executed[start]
    assert _names(storage.query_product_entries("M1", _query(**{"$top": 10}), visibilities=everything)) == [
        "M1_0.zip", "M1_1.zip", "M1_2.zip", "M1_3.zip"]
    assert sum(element is several for element in executed) == 2 and len(storage._page_statements) == 2


def test_a_filter_text_seen_before_reuses_its_compiled_statement_and_now_is_compiled_per_request(storage):
    import sqlalchemy as sa

    executed = []
    sa.event.listen(storage.engine, "before_execute", lambda conn, element, *rest: executed.append(element))
    public = [VisibilityClass.PUBLIC]

    def names(filter_text, mission="M1"):
        start = len(executed)
        page = storage.query_product_entries(mission, _query(**{"$top": 10, "$filter": filter_text}),
                                             visibilities=public)
        return _names(page), executed[start]

    first, statement = names("startswith(Name,'M1_1')")
    assert first == ["M1_1.zip"] and len(storage._page_statements) == 1
    # the same text (the same bound tree from the filter cache): the same statement, its own rows
    assert names("startswith(Name,'M1_1')") == (["M1_1.zip"], statement)
    assert names("startswith(Name,'M2_1')", "M2")[0] == ["M2_1.zip"]
    assert len(storage._page_statements) == 2
    # another text is another statement, with its own literals
    assert names("startswith(Name,'M1_2')")[0] == ["M1_2.zip"]
    assert len(storage._page_statements) == 3
    # now() is fixed when the filter is compiled: such a statement is never kept
    for _ in range(2):
        assert names("PublicationDate lt now()")[0] == ["M1_1.zip", "M1_2.zip", "M1_3.zip"]
    assert len(storage._page_statements) == 3


def test_seek_pages_share_one_statement_whatever_their_sort_key_values(storage):
    import sqlalchemy as sa

    executed = []
    sa.event.listen(storage.engine, "before_execute", lambda conn, element, *rest: executed.append(element))
    every = [VisibilityClass.PUBLIC, VisibilityClass.RESTRICTED]
    token, seen, statements = None, [], []
    while True:
        options = {"$top": 1, "$orderby": "Name desc"} | ({"$skiptoken": token} if token else {})
        start = len(executed)
        page = storage.query_product_entries("M1", _query(**options), visibilities=every)
        seen += _names(page)
        if page.next_skiptoken is None:
            break
        if token is not None:
            statements.append(executed[start])
        token = page.next_skiptoken
    assert seen == ["M1_3.zip", "M1_2.zip", "M1_1.zip", "M1_0.zip"]
    # every page after the first seeks from other values with the one statement
    assert len(statements) == 2 and statements[0] is statements[1]


def test_the_statement_cache_is_bounded_and_keeps_the_recently_used(storage):
    import sqlalchemy as sa

    executed = []
    sa.event.listen(storage.engine, "before_execute", lambda conn, element, *rest: executed.append(element))
    storage._page_statements.size = 2

    def page(orderby):
        start = len(executed)
        result = storage.query_product_entries("M1", _query(**{"$top": 10, "$orderby": orderby}))
        return [e.name for e in result.items], executed[start]  # the page's statement runs first

    first = {}
    for orderby in ("Name asc", "Name desc", "Name asc", "PublicationDate desc", "Id asc"):
        names, statement = page(orderby)
        assert len(names) == 4
        first.setdefault(orderby, statement)
    assert len(storage._page_statements) == 2
    # "Name asc" was used again before the others came, "Name desc" left first, then "Name asc"
    names, statement = page("Id asc")
    assert statement is first["Id asc"]
    names, statement = page("Name desc")
    assert names == ["M1_3.zip", "M1_2.zip", "M1_1.zip", "M1_0.zip"] and statement is not first["Name desc"]
    assert len(storage._page_statements) == 2


def test_a_top_0_page_still_compiles_its_filter(storage):
    """The filter is compiled lazily (a cached page statement has it already), but a page that
    reads no rows still has it compiled: a filter the database cannot run is refused there too."""
    from proseo_odata.odata.errors import ODataTypeError

    for top in (0, 5):
        with pytest.raises(ODataTypeError, match="out of range"):
            storage.query_product_entries("M1", _query(**{"$top": top, "$filter": "ContentLength eq 9223372036854775807 add 1"}))


def test_a_querys_now_is_the_value_of_now_in_its_filter_for_its_page_and_count(storage):
    """``Query.now`` (what the web layer pins for one request: proseo_odata.query.PagedQuery.at)
    is the value of ``now()`` in the filter the storage compiles, for the count as for the page."""
    import dataclasses
    import datetime as dt

    public = [VisibilityClass.PUBLIC]
    query = _query(**{"$filter": "PublicationDate lt now()", "$count": "true", "$top": 10})
    assert query.now is None  # the time the storage compiles it: every product was published before
    page = storage.query_product_entries("M1", query, visibilities=public)
    assert _names(page) == ["M1_1.zip", "M1_2.zip", "M1_3.zip"] and page.count == 3
    past = dataclasses.replace(query, now=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    page = storage.query_product_entries("M1", past, visibilities=public)
    assert page.items == [] and page.count == 0
    later = _query(**{"$filter": "PublicationDate gt now()", "$count": "true", "$top": 10})
    page = storage.query_product_entries("M1", dataclasses.replace(later, now=past.now), visibilities=public)
    assert _names(page) == ["M1_1.zip", "M1_2.zip", "M1_3.zip"] and page.count == 3


def test_iter_pages_reads_every_page_at_the_first_pages_now():
    """Export and fixity walk pages with storage.iter_pages: a filter calling now() selects by one
    instant across them (the query's own now when given, else the time of the first page)."""
    import dataclasses
    import datetime as dt

    from proseo_odata.storage import iter_pages
    from proseo_odata.storage.base import Query, QueryResult

    seen = []

    def pages(query):
        seen.append(query)
        return QueryResult(items=[len(seen)], next_skiptoken=None if len(seen) == 3 else f"t{len(seen)}")

    query = Query(top=1, skip=2, count=True, expand=frozenset({"Attributes"}))
    assert [page.items for page in iter_pages(pages, query=query)] == [[1], [2], [3]]
    assert seen[0].now is not None and {q.now for q in seen} == {seen[0].now}
    assert [q.skiptoken for q in seen] == [None, "t1", "t2"] and [q.skip for q in seen] == [2, 0, 0]
    assert [q.count for q in seen] == [True, False, False] and {q.expand for q in seen} == {frozenset({"Attributes"})}
    moment = dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc)
    seen.clear()
    list(iter_pages(pages, query=dataclasses.replace(query, now=moment)))
    assert {q.now for q in seen} == {moment}
