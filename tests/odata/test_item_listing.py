"""Options of a collection's items (proseo_odata.query.item_listing, bind_item_filter): a nested
$filter means what the same predicate means in a lambda over the items, in the core alone."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from proseo_odata.model import Attribute, AttributeType
from proseo_odata.odata import edm
from proseo_odata.odata.binding import ITEM_VARIABLE, bind_filter, bind_item_filter, bind_item_orderby
from proseo_odata.odata.errors import ODataError, ODataNotSupportedError, ODataTypeError
from proseo_odata.odata.options import parse_query_options
from proseo_odata.odata.parser import parse_filter, parse_orderby
from proseo_odata.odata.predicate import compile_item_predicate, compile_predicate, sort_key
from proseo_odata.query import Expanded, ItemListing, build_query, entity_options, item_listing
from proseo_odata.storage.mapping import DOMAIN_ACCESSOR

UTC = dt.timezone.utc
ATTRIBUTES = [
    Attribute("cloudCover", AttributeType.DOUBLE, 12.5),
    Attribute("orbitNumber", AttributeType.INTEGER, 7),
    Attribute("productType", AttributeType.STRING, "S2MSI1C"),
    Attribute("digits", AttributeType.STRING, "7"),
    Attribute("highQuality", AttributeType.BOOLEAN, True),
    Attribute("processingDate", AttributeType.DATETIMEOFFSET, dt.datetime(2021, 5, 20, 19, 8, 7, tzinfo=UTC)),
]

#: (nested $filter, the same predicate on the lambda variable a)
PAIRS = [
    ("Name eq 'cloudCover'", "a/Name eq 'cloudCover'"),
    ("Value eq 7", "a/Value eq 7"),  # Integer 7 and Double; not the string '7'
    ("Value eq '7'", "a/Value eq '7'"),  # the string, and the number it spells
    ("Value gt 5 and Value lt 20", "a/Value gt 5 and a/Value lt 20"),
    ("Value ne 7", "a/Value ne 7"),
    ("OData.CSC.StringAttribute/Value eq null", "a/OData.CSC.StringAttribute/Value eq null"),
    ("Value eq true", "a/Value eq true"),
    ("Value in (7, 12.5)", "a/Value in (7, 12.5)"),
    ("OData.CSC.DoubleAttribute/Value lt 20", "a/OData.CSC.DoubleAttribute/Value lt 20"),
    ("OData.CSC.StringAttribute/Value eq '7'", "a/OData.CSC.StringAttribute/Value eq '7'"),
    ("Value gt 2021-01-01T00:00:00Z", "a/Value gt 2021-01-01T00:00:00Z"),
    ("startswith(Name,'p') or contains(Value,'MSI')", "startswith(a/Name,'p') or contains(a/Value,'MSI')"),
    ("not (ValueType eq 'String')", "not (a/ValueType eq 'String')"),
    ("length(Name) gt 10", "length(a/Name) gt 10"),
    ("Id eq 'digits'", "a/Id eq 'digits'"),  # the seed documents' key of the attribute
    ("IntegerValue eq 7", "a/IntegerValue eq 7"),
]


@pytest.mark.parametrize("nested, lambda_", PAIRS)
def test_a_nested_filter_means_what_the_lambda_means(nested, lambda_):
    item = compile_item_predicate(bind_item_filter(parse_filter(nested), edm.ATTRIBUTE, model=edm.PRIP_MODEL),
                                  DOMAIN_ACCESSOR)
    whole = compile_predicate(bind_filter(parse_filter(f"Attributes/any(a: {lambda_})"), edm.PRODUCT),
                              DOMAIN_ACCESSOR)
    kept = [a.name for a in ATTRIBUTES if item(a)]
    assert kept == [a.name for a in ATTRIBUTES if whole({"Attributes": [a]})], nested
    assert 0 < len(kept) < len(ATTRIBUTES), nested  # the case tells attributes apart


def test_the_listing_filters_orders_pages_counts_and_selects():
    options = parse_query_options([("$expand", "Attributes($filter=ValueType ne 'Boolean';$orderby=Name desc;"
                                               "$skip=1;$top=2;$count=true;$select=Value)")])
    (item,) = options.expand
    listing = item_listing(item.options, "Attributes", "$expand=Attributes")
    listed, count = listing.apply(ATTRIBUTES)
    assert count == 5 and [a.name for a in listed] == ["processingDate", "orbitNumber"]
    assert listing.select == ("Value",) and listing.count
    assert ItemListing().apply(ATTRIBUTES) == (ATTRIBUTES, len(ATTRIBUTES))  # no option: every item, as stored


def test_ordering_by_a_typed_value_puts_nulls_first():
    order = bind_item_orderby(parse_orderby("OData.CSC.StringAttribute/Value,Name"), edm.ATTRIBUTE,
                              model=edm.PRIP_MODEL)
    names = [a.name for a in sorted(ATTRIBUTES, key=sort_key(order, DOMAIN_ACCESSOR, variable=ITEM_VARIABLE))]
    # the other types' values are null: first, by Name; then '7' < 'S2MSI1C'
    assert names == ["cloudCover", "highQuality", "orbitNumber", "processingDate", "digits", "productType"]


@pytest.mark.parametrize("text, error", [
    ("Value", ODataTypeError),  # which of the typed forms' values?
    ("IntegerValue desc", None),  # the seed documents' key: a typed Value
    ("Nope", ODataError),
    ("OData.CSC.Attribute/Value", ODataTypeError),  # a cast to the abstract type names none of them
    ("Name eq 'x'", None),  # a Boolean expression is a value to order by
])
def test_ordering_refusals(text, error):
    if error is None:
        bind_item_orderby(parse_orderby(text), edm.ATTRIBUTE, model=edm.PRIP_MODEL)
        return
    with pytest.raises(error) as info:
        bind_item_orderby(parse_orderby(text), edm.ATTRIBUTE, model=edm.PRIP_MODEL)
    assert info.value.target == "$orderby"


@pytest.mark.parametrize("text", ["$it/Name eq 'x'", "$this/Name eq 'x'", "Attributes/any(b: b/Name eq 'x')",
                                  "Name eq @p"])
def test_what_a_nested_filter_cannot_name(text):
    with pytest.raises(ODataError):
        bind_item_filter(parse_filter(text), edm.ATTRIBUTE, model=edm.PRIP_MODEL,
                         aliases={"p": parse_filter("$it/Name")})


def test_on_the_collections_url_it_is_the_item():
    bound = bind_item_filter(parse_filter("$it/Name eq @p"), edm.ATTRIBUTE, model=edm.PRIP_MODEL,
                             aliases={"p": parse_filter("'cloudCover'")}, it_is_item=True)
    assert [a.name for a in ATTRIBUTES if compile_item_predicate(bound, DOMAIN_ACCESSOR)(a)] == ["cloudCover"]
    same = bind_item_filter(parse_filter("Name eq @p"), edm.ATTRIBUTE, model=edm.PRIP_MODEL,
                            aliases={"p": parse_filter("$it/Name")}, it_is_item=True)
    assert all(compile_item_predicate(same, DOMAIN_ACCESSOR)(a) for a in ATTRIBUTES)


def test_now_is_the_requests_in_a_kept_listing():
    """build_query's answer is kept for later requests (the web layer's cache): its nested
    options take now() from Expanded.at, once a request, the same for every product."""
    moment = dt.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    items = [Attribute("a", AttributeType.DATETIMEOFFSET, moment),
             Attribute("b", AttributeType.DATETIMEOFFSET, moment + dt.timedelta(hours=1))]
    expand = build_query("Products", {"$expand": "Attributes($filter=OData.CSC.DateTimeOffsetAttribute/Value lt now();"
                                                 "$orderby=OData.CSC.DateTimeOffsetAttribute/Value gt now() desc,Name)"
                         }).expand
    assert expand.listing("Attributes").calls_now
    before = expand.at(moment - dt.timedelta(seconds=1)).listing("Attributes")
    assert before.apply(items) == ([], 0)
    between = expand.at(moment + dt.timedelta(minutes=1)).listing("Attributes")
    assert between.apply(items) == ([items[0]], 1)
    later = expand.at(moment + dt.timedelta(hours=2)).listing("Attributes")
    assert [a.name for a in later.apply(items)[0]] == ["a", "b"]
    # the order's now() too: at 12:30, b (13:00) is after now() and sorts first (true desc)
    order = build_query("Products", {"$expand": "Attributes($orderby=OData.CSC.DateTimeOffsetAttribute/Value gt now() "
                                                "desc,Name)"}).expand
    assert [a.name for a in order.at(moment + dt.timedelta(minutes=30)).listing("Attributes").apply(items)[0]] == ["b", "a"]
    assert [a.name for a in order.at(moment - dt.timedelta(minutes=30)).listing("Attributes").apply(items)[0]] == ["a", "b"]
    # a listing used without Expanded.at reads the clock when applied, not when it was built
    fresh = build_query("Products", {"$expand": "Attributes($filter=OData.CSC.DateTimeOffsetAttribute/Value lt now())"})
    soon = Attribute("soon", AttributeType.DATETIMEOFFSET, dt.datetime.now(UTC) + dt.timedelta(seconds=1))
    assert fresh.expand.listing("Attributes").apply([soon])[1] == 0
    time.sleep(1.2)
    assert fresh.expand.listing("Attributes").apply([soon])[1] == 1
    plain = build_query("Products", {"$expand": "Attributes($top=1)"}).expand
    assert plain.at() is plain  # nothing to make ready


def test_a_paged_query_at_one_time_pins_its_filter_and_its_nested_options():
    """PagedQuery.at: the storage's $filter (Query.now) and the nested options take one now()."""
    moment = dt.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    nested = "Attributes($filter=OData.CSC.DateTimeOffsetAttribute/Value lt now())"
    both = build_query("Products", {"$filter": "PublicationDate lt now()", "$expand": nested})
    assert both.filter_calls_now and both.query.now is None
    ready = both.at(moment)
    assert ready.query.now == moment and ready.query.filter is both.query.filter
    items = [Attribute("a", AttributeType.DATETIMEOFFSET, moment - dt.timedelta(seconds=1)),
             Attribute("b", AttributeType.DATETIMEOFFSET, moment + dt.timedelta(seconds=1))]
    assert ready.expand.listing("Attributes").apply(items) == ([items[0]], 1)
    assert both.at().query.now is not None  # the time of the call
    only_filter = build_query("Products", {"$filter": "PublicationDate lt now()", "$expand": "Attributes"}).at(moment)
    assert only_filter.query.now == moment and only_filter.expand == {"Attributes"}
    only_nested = build_query("Products", {"$expand": nested})
    assert not only_nested.filter_calls_now and only_nested.at(moment).query.now is None
    assert only_nested.at(moment).expand.listing("Attributes").apply(items) == ([items[0]], 1)
    plain = build_query("Products", {"$filter": "PublicationDate lt 2026-01-01T00:00:00Z", "$expand": "Attributes"})
    assert not plain.filter_calls_now and plain.at() is plain  # nothing to pin
    counted = build_query("Products", {"$filter": "PublicationDate lt now()"}, count_only=True)
    assert counted.filter_calls_now and counted.at(moment).query.now == moment


def test_expanded_is_the_set_of_names_with_listings():
    expand, select = entity_options("Products", {"$expand": "Attributes($top=1),Assets", "$select": "Name"})
    assert expand == frozenset({"Attributes", "Assets"}) and isinstance(expand, Expanded) and select == ("Name",)
    assert expand.listing("Attributes").top == 1 and expand.listing("Assets") == ItemListing()
    paged = build_query("Products", {"$expand": "*"})
    assert paged.expand == frozenset({"Attributes", "Assets"}) and paged.expand.listings == {}
    assert paged.query.expand == frozenset({"Attributes", "Assets"})  # what the storage loads (or reads for)
    with pytest.raises(ODataNotSupportedError) as info:
        entity_options("ProductionOrders", {"$expand": "Product($select=Name)"})
    assert info.value.target == "$expand"
