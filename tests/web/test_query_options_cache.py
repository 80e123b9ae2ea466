"""The web layer reads a collection's query string once (``collection_query``): the same query
string again gives the same PagedQuery, the paging settings are part of what it is kept under, and
a query string that fails is refused every time."""
from types import SimpleNamespace

import pytest
from pyramid import testing

from proseo_odata.odata.errors import ODataError
from proseo_odata_web import query as web_query


def _request(query_string: str, *, default: int = 100, maximum: int = 1000, mode: str = "cdse"):
    request = testing.DummyRequest(environ={"QUERY_STRING": query_string})
    request.query_string = query_string
    request.registry = SimpleNamespace(
        proseo=SimpleNamespace(page_size_default=default, page_size_max=maximum, paging=mode, seed_aliases=True))
    return request


@pytest.fixture
def builds(monkeypatch):
    calls = []
    real = web_query.build_query

    def counted(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    web_query._built_query.cache_clear()
    monkeypatch.setattr(web_query, "build_query", counted)
    yield calls
    web_query._built_query.cache_clear()


def test_the_same_query_string_is_read_once(builds):
    text = "%24filter=startswith(Name,%27S2%27)&%24orderby=ContentDate/Start%20desc&%24top=20"
    first = web_query.collection_query(_request(text), "Products")
    again = web_query.collection_query(_request(text), "Products")
    assert again is first
    assert len(builds) == 1
    assert first.query.top == 20 and first.query.filter is not None
    # another entity set, or a count, is another reading
    assert web_query.collection_query(_request(text), "Products", count_only=True) is not first
    assert len(builds) == 2


def test_the_paging_settings_are_part_of_the_key(builds):
    small = web_query.collection_query(_request("%24filter=true", default=10, maximum=50), "Products")
    large = web_query.collection_query(_request("%24filter=true", default=200, maximum=500), "Products")
    assert (small.query.top, large.query.top) == (10, 200)


def test_a_query_string_that_fails_is_refused_every_time(builds):
    for _ in range(2):
        with pytest.raises(ODataError):
            web_query.collection_query(_request("%24filter=Name%20eq"), "Products")
    assert len(builds) == 2


def test_a_long_query_string_is_read_each_time(builds):
    text = "%24filter=" + "%20or%20".join(f"Name%20eq%20%27P{i:04}%27" for i in range(120))
    assert len(text) > web_query._KEPT_CACHED_LENGTH
    web_query.collection_query(_request(text), "Products")
    web_query.collection_query(_request(text), "Products")
    assert len(builds) == 2
