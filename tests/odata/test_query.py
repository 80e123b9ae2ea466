"""proseo_odata.query.build_query: decoded query parameters in, the storage's Query out."""
from __future__ import annotations

import datetime as dt

import pytest

from proseo_odata.odata import edm
from proseo_odata.odata.binding import BCall, BLambda, walk
from proseo_odata.odata.cache import FilterCache
from proseo_odata.odata.errors import ODataError, ODataNotSupportedError
from proseo_odata.query import PagedQuery, Paging, build_query, entity_options
from proseo_odata.storage import Query, QueryResult
from proseo_odata.storage.mapping import compile_filter
from proseo_odata.storage.schema import SchemaTables
from proseo_odata_web.errors import answer_of

LAMBDA = ("Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
          "att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')")


def test_a_collection_request_becomes_the_storage_query():
    paged = build_query("Products", [("$filter", LAMBDA), ("$orderby", "ContentDate/Start desc,Name"),
                                     ("$top", "5000"), ("$skip", "40"), ("$count", "true"),
                                     ("$expand", "Attributes,Assets"), ("$select", "Name,Id")],
                        Paging(default=50, max=1000), cache=FilterCache())
    query = paged.query
    assert isinstance(query, Query) and isinstance(query.filter, BLambda)
    assert query.orderby == ((("ContentDate", "Start"), True), (("Name",), False))
    assert (query.top, query.skip, query.count) == (1000, 40, True)  # $top capped
    assert query.expand == frozenset({"Attributes", "Assets"})  # what the storage loads (or reads for)
    assert paged.expand == frozenset({"Attributes", "Assets"}) and paged.select == ("Name", "Id")
    assert (paged.requested_top, paged.skip) == (5000, 40)


def test_page_size_without_top_and_count_only():
    paged = build_query("Products", {}, Paging(default=7, max=9), cache=FilterCache())
    assert (paged.query.top, paged.requested_top, paged.query.filter) == (7, None, None)
    counted = build_query("Products", {"$filter": "Online eq true", "$top": "3"}, count_only=True, cache=FilterCache())
    assert counted.query.top == 0 and counted.query.count and counted.query.filter is not None


def test_odip_and_subscription_sets_are_found():
    assert build_query("ProductionOrders", {"$filter": "Status eq 'queued'"}, cache=FilterCache()).query.filter
    assert build_query("Workflows", {"$orderby": "Name"}, cache=FilterCache()).query.orderby == ((("Name",), False),)
    assert build_query("Subscriptions", {"$filter": "Status eq 'running'"}, cache=FilterCache()).query.filter
    with pytest.raises(KeyError):
        build_query("Nothing", {})


def test_bound_filters_are_cached_per_entity_type_text_and_aliases():
    cache = FilterCache()
    first = build_query("Products", {"$filter": LAMBDA}, cache=cache).query.filter
    again = build_query("Products", {"$filter": LAMBDA, "$top": "3"}, cache=cache).query.filter
    assert again is first and cache.hits >= 1
    with_x = build_query("Products", [("$filter", "Name eq @n"), ("@n", "'x'")], cache=cache).query.filter
    with_y = build_query("Products", [("$filter", "Name eq @n"), ("@n", "'y'")], cache=cache).query.filter
    assert with_x.right.value == "x" and with_y.right.value == "y"
    assert build_query("Products", [("$filter", "Name eq @n"), ("@n", "'x'")], cache=cache).query.filter is with_x
    # the same text on another entity type is another entry (and binds there)
    workflows = build_query("Workflows", {"$filter": "Name eq 'x'"}, cache=cache).query.filter
    products = build_query("Products", {"$filter": "Name eq 'x'"}, cache=cache).query.filter
    assert workflows is not products
    with pytest.raises(ODataError):  # a property Products has and ProductionOrders has not
        build_query("ProductionOrders", {"$filter": "Name eq 'x'"}, cache=cache)


def test_a_cached_filter_with_now_is_evaluated_at_each_compile():
    cache = FilterCache()
    text = "PublicationDate gt now() sub duration'P1D'"
    bound = build_query("Products", {"$filter": text}, cache=cache).query.filter
    assert build_query("Products", {"$filter": text}, cache=cache).query.filter is bound
    assert any(isinstance(n, BCall) and n.name == "now" for n in walk(bound))  # no time in the tree
    tables = SchemaTables(dialect="sqlite", postgis=False)
    values = []
    for now in (dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc), dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)):
        params = compile_filter("Products", bound, tables, now=now).compile().params
        values.append(sorted(str(v) for v in params.values()))
    assert values[0] != values[1]


@pytest.mark.parametrize("params,target", [
    ({"$filter": "Nope eq 1"}, "$filter"),
    ({"$filter": "Name eq"}, "$filter"),
    ({"$orderby": "Nope desc"}, "$orderby"),
    ({"$orderby": "Attributes/any(a:a/Name eq 'x')"}, "$orderby"),
    ({"$orderby": "length(Name)"}, "$orderby"),
    ({"$expand": "Nope"}, "$expand"),
    ({"$expand": "Attributes($top=x)"}, "$expand"),
    ({"$expand": "Attributes($filter=Nope eq 1)"}, "$expand"),
    ({"$expand": "Attributes($orderby=Value)"}, "$expand"),
    ({"$expand": "Attributes($select=Nope)"}, "$expand"),
    ({"$expand": "Attributes($search=x)"}, "$expand"),
    ({"$expand": "Attributes($expand=*)"}, "$expand"),
    ({"$expand": "Attributes($filter=$it/Name eq 'x')"}, "$expand"),
    ({"$expand": "Attributes($top=1),Attributes($top=2)"}, "$expand"),
    ({"$expand": "*($top=1)"}, "$expand"),
    ({"$expand": "Checksum($top=1)"}, "$expand"),
    ({"$select": "Nope"}, "$select"),
    ({"$select": "ContentDate/Start"}, "$select"),
    ({"$search": "blue"}, "$search"),
    ({"$top": "-1"}, "$top"),
    ({"$filter": "Name eq @missing"}, "$filter"),
])
def test_errors_name_their_option(params, target):
    with pytest.raises(ODataError) as info:
        build_query("Products", params, cache=FilterCache())
    assert info.value.target == target and answer_of("prip", info.value.kind)[0] == 400, info.value.message


def test_nested_expand_is_refused_by_the_core():
    with pytest.raises(ODataNotSupportedError):
        build_query("Products", {"$expand": "Attributes/$count"}, cache=FilterCache())
    with pytest.raises(ODataNotSupportedError):
        entity_options("ProductionOrders", {"$expand": "Product($select=Name)"})
    assert entity_options("ProductionOrders", {"$expand": "product", "$select": "Id"}) == (
        frozenset({"Product"}), ("Id",))
    assert entity_options("Products", {"$expand": "*"})[0] == frozenset({"Attributes", "Assets"})


def _page(paging, top, returned, next_skiptoken="tok", next_skip=None):
    query = Query(top=min(top or 100, 1000), skip=20)
    paged = PagedQuery(query, frozenset(), None, top, 20, paging)
    return paged.next_page(QueryResult(items=[], count=None, next_skiptoken=next_skiptoken, next_skip=next_skip),
                           returned)


def test_next_page_options():
    assert _page("cdse", None, 100) == (("$skiptoken", "tok"), ("$skip", "120"))
    assert _page("cdse", 10, 10) == (("$top", "10"), ("$skiptoken", "tok"), ("$skip", "30"))
    assert _page("strict", 25, 10) == (("$top", "15"), ("$skiptoken", "tok"), ("$skip", "30"))
    assert _page("strict", 10, 10) is None
    assert _page("cdse", 10, 10, next_skiptoken=None) is None
    assert _page("cdse", None, 5, next_skiptoken=None, next_skip=99) == (("$skip", "99"),)


def test_paging_mode_is_checked():
    with pytest.raises(ValueError):
        Paging(mode="other")
    assert edm.PRIP_MODEL.entity_set("Products")
