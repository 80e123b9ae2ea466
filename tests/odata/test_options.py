"""parse_query_options: names with/without $ in any case, merging, duplicates, values."""
from __future__ import annotations

import pytest

from proseo_odata.odata import (
    ExpandItem,
    ODataNotSupportedError,
    ODataQueryOptionError,
    ODataSyntaxError,
    QueryOptions,
    parse_filter,
    parse_orderby,
    parse_query_options,
)
from proseo_odata.odata.options import json_format_parameters, media_parameters
from proseo_odata_web.errors import answer_of


@pytest.mark.parametrize("key", ["$filter", "filter", "$FILTER", "Filter", "$Filter"])
def test_option_names_any_case_with_or_without_dollar(key):
    opts = parse_query_options({key: "Online eq true"})
    assert opts.filter == parse_filter("Online eq true")


def test_full_set():
    opts = parse_query_options([
        ("$filter", "Name eq 'x'"), ("$orderby", "PublicationDate desc"), ("$top", "10"), ("$skip", "20"),
        ("$count", "true"), ("$expand", "Attributes"), ("$select", "Name,ContentDate/Start"),
        ("$format", "json"), ("$skiptoken", "abc"), ("$search", "blue"), ("@p", "'x'"),
    ])
    assert opts == QueryOptions(
        filter=parse_filter("Name eq 'x'"), orderby=parse_orderby("PublicationDate desc"), top=10, skip=20,
        count=True, expand=(ExpandItem(("Attributes",)),), select=(("Name",), ("ContentDate", "Start")),
        format="json", skiptoken="abc", search="blue", aliases=(("@p", "'x'"),),
    )
    assert opts.alias("p") == "'x'"


def test_empty():
    assert parse_query_options({}) == QueryOptions()
    assert parse_query_options(None) == QueryOptions()


@pytest.mark.parametrize("value,expected", [
    ("true", True), ("True", True), ("TRUE", True), ("1", True), ("false", False), ("False", False), ("0", False),
])
def test_count_values(value, expected):
    assert parse_query_options({"$count": value}).count is expected


@pytest.mark.parametrize("params,target", [
    ({"$count": "yes"}, "$count"), ({"$count": ""}, "$count"),
    ({"$top": "-1"}, "$top"), ({"$top": "+5"}, "$top"), ({"$top": "ten"}, "$top"), ({"$top": ""}, "$top"),
    ({"$skip": "1.5"}, "$skip"), ({"$format": "xml"}, "$format"), ({"$format": "atom"}, "$format"),
    ([("$top", "1"), ("top", "2")], "$top"), ([("$filter", "a eq 1"), ("$FILTER", "a eq 1")], "$filter"),
    ({"$levels": "2"}, "$levels"), ({"$bogus": "1"}, "$bogus"), ({"$skiptoken": ""}, "$skiptoken"),
    ({"$search": "gr(een"}, "$search"),
    ([("@p", "1"), ("@p", "2")], "@p"),  # which value would the filter mean?
])
def test_bad_values_are_rejected(params, target):
    with pytest.raises(ODataQueryOptionError) as info:
        parse_query_options(params)
    assert info.value.target == target and answer_of("prip", info.value.kind)[0] == 400


def test_unsupported_system_options():
    with pytest.raises(ODataNotSupportedError):
        parse_query_options({"$apply": "groupby((Name))"})


def test_unknown_plain_parameters_are_ignored():
    assert parse_query_options({"foo": "bar", "!deltatoken": "1", "top": "3"}) == QueryOptions(top=3)


def test_format_json_variants():
    for value in ("json", "JSON", "application/json", "application/json;odata.metadata=minimal"):
        assert parse_query_options({"$format": value}).format == "json"
    for value in ("application/json;odata.metadata=full;IEEE754Compatible=true", "application/json;metadata=NONE",
                  'application/json; odata.metadata="full" ; odata.streaming=true'):
        assert parse_query_options({"$format": value}).format == "json"


@pytest.mark.parametrize("value", ["application/json;odata.metadata=bogus", "application/json;metadata=",
                                   "application/json;IEEE754Compatible=yes"])
def test_format_with_a_json_parameter_it_cannot_have(value):
    with pytest.raises(ODataQueryOptionError) as caught:
        parse_query_options({"$format": value})
    assert caught.value.target == "$format" and value in str(caught.value)


@pytest.mark.parametrize("parameters, expected", [
    ("", ("minimal", False)),
    ("odata.metadata=full", ("full", False)),
    ("ODATA.METADATA=None;ieee754compatible=TRUE", ("none", True)),
    ("metadata=full;IEEE754Compatible=false;charset=utf-8;q=0.5", ("full", False)),
    ('odata.metadata="minimal";IEEE754Compatible="true"', ("minimal", True)),
    ("odata.metadata=full;odata.metadata=none", ("none", False)),  # the last one given
])
def test_json_format_parameters(parameters, expected):
    assert json_format_parameters(media_parameters(parameters)) == expected


def test_repeated_expand_is_merged():
    opts = parse_query_options([("$expand", "Attributes"), ("expand", "Assets"), ("$EXPAND", "Checksum,Items")])
    assert [e.name for e in opts.expand] == ["Attributes", "Assets", "Checksum", "Items"]


def test_mapping_with_list_values():
    opts = parse_query_options({"$expand": ["Attributes", "Assets"], "$top": ["5"]})
    assert [e.name for e in opts.expand] == ["Attributes", "Assets"] and opts.top == 5


def test_nested_expand_options_are_read():
    # read to the ABNF (a malformed nested option is a syntax error) ...
    with pytest.raises(ODataQueryOptionError):
        parse_query_options({"$expand": "Items($filter=Qty gt 1;$top=x)"})
    # ... and a well-formed one is kept with its item (which ones are served is build_query's to say)
    (item,) = parse_query_options({"$expand": "Items($filter=Qty gt 1;$top=2;$expand=Product($select=Name))"}).expand
    assert item.path == ("Items",) and item.options.top == 2 and item.options.filter is not None
    assert [path for path, *_ in item.options.expand] == [("Product",)]
    assert parse_query_options({"$expand": "Attributes"}).expand[0].options is None


@pytest.mark.parametrize("text,expected", [
    ("*", ExpandItem(("*",))),
    ("Attributes", ExpandItem(("Attributes",))),
    (" Attributes ", ExpandItem(("Attributes",))),
])
def test_expand_paths(text, expected):
    assert parse_query_options({"$expand": text}).expand == (expected,)


@pytest.mark.parametrize("text", ["Customer/$ref", "Items/$count", "Address/Country", "Attributes,Items/$ref",
                                  "Items/$count($filter=true)"])
def test_expand_forms_that_are_not_served(text):
    with pytest.raises(ODataNotSupportedError) as info:
        parse_query_options({"$expand": text})
    assert info.value.target == "$expand" and answer_of("prip", info.value.kind)[0] == 400


@pytest.mark.parametrize("text", ["Customer/$ref($levels=4)", "Items/$count($count=true)", "Category($levels=04)",
                                  "Manager($search=gr(een)", "Items(", "Items,,Other", "Items($top=x)"])
def test_bad_expand(text):
    with pytest.raises((ODataQueryOptionError, ODataSyntaxError)) as info:
        parse_query_options({"$expand": text})
    assert answer_of("prip", info.value.kind)[0] == 400


def test_filter_error_keeps_target_and_position():
    with pytest.raises(ODataSyntaxError) as info:
        parse_query_options({"filter": "Name eq"})
    assert info.value.target == "$filter" and info.value.position == 7


def test_select_nested_options_not_supported():
    with pytest.raises(ODataNotSupportedError):
        parse_query_options({"$select": "Address($select=Street)"})


def test_a_number_too_large_for_top_says_so():
    with pytest.raises(ODataQueryOptionError, match="too large: at most 18 digits, got 23"):
        parse_query_options({"$top": "9" * 23})
    assert parse_query_options([("@p", "1"), ("@P", "2")]).aliases == (("@p", "1"), ("@P", "2"))
