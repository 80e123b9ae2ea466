"""External OData conformance cases (OASIS ABNF test cases and gorilla-co/odata-query's inputs).

The data is vendored verbatim in ``tests/data/odata-conformance/`` (sources, commits and licences:
its README.md and ``tests/data/README.md``). Every case whose rule the
project implements runs through the matching entry point: valid cases must parse, invalid ones
must raise ``ODataSyntaxError`` (or another ``ODataError`` for option-level problems).
Cases deliberately not supported are listed in ``UNSUPPORTED`` with the reason; they run as
``xfail(strict=True)``, so a case that starts passing is noticed.

``python -m tests.odata.conformance_report`` regenerates the table in docs/conformance.md.

Attribution: "OData ABNF Test Cases Version 4.01, OASIS Open Data Protocol (OData) TC"
(oasis-tcs/odata-abnf); odata-query test inputs, MIT licence, Copyright (c) 2021 Gorillini NV.
"""
from __future__ import annotations

import json
import pathlib
import urllib.parse

import pytest

from proseo_odata.odata import (
    ODataError,
    ODataNotSupportedError,
    ODataSyntaxError,
    parse_filter,
    parse_literal,
    parse_query_options,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFORMANCE_DIR = REPO / "tests" / "data" / "odata-conformance"


def conformance_dir() -> pathlib.Path:
    return CONFORMANCE_DIR


def _load(name):
    """The cases of ``name``; the vendored file must be there (a missing one is an error, not a skip)."""
    return json.loads((CONFORMANCE_DIR / name).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# rule -> entry point

EXPRESSION_RULES = {"filter", "boolcommonexpr", "commonexpr", "notexpr", "isofexpr", "firstmemberexpr",
                    "propertypathexpr", "anyexpr"}
OPTION_RULES = {"orderby", "expand", "select", "queryoptions"}
# literal rules (URL form) -> None, or (payload form) -> the EDM type parse_literal converts to
LITERAL_RULES = {
    "binaryliteral": None, "boolean": None, "date": None, "datetimeoffsetliteral": None,
    "datetimeoffsetvalueinurl": None, "decimalliteral": None, "doubleliteral": None, "durationliteral": None,
    "enumliteral": None, "guid": None, "int16literal": None, "int32literal": None, "int64literal": None,
    "null": None, "primitiveliteral": None, "sbyteliteral": None, "singleliteral": None, "stringliteral": None,
    "timeofdayliteral": None,
    "datetimeoffsetvalue": "Edm.DateTimeOffset", "datevalue": "Edm.Date", "decimalvalue": "Edm.Decimal",
    "doublevalue": "Edm.Double", "singlevalue": "Edm.Single", "durationvalue": "Edm.Duration",
    "int16value": "Edm.Int16", "int32value": "Edm.Int32", "int64value": "Edm.Int64", "bytevalue": "Edm.Byte",
    "sbytevalue": "Edm.SByte", "timeofdayvalue": "Edm.TimeOfDay",
}
# URL literal rules of one type: the literal must be of that type ('INF' is no date)
URL_TYPED_LITERAL_RULES = {"date": "Edm.Date", "guid": "Edm.Guid", "boolean": "Edm.Boolean"}
GEO_PREFIXES = ("geography", "geometry")

# Rules the project does not implement at all (reported in docs/conformance.md, not run):
NOT_IMPLEMENTED_RULES = {
    "odatarelativeuri": "resource paths and key predicates are routed by the web layer, not parsed here",
    "resourcepath": "resource paths are routed by the web layer",
    "odataidentifier": "no separate entry point; identifiers are tested through expressions",
    "booleanvalue": "JSON payload values are read by the JSON decoder, not by this parser",
    "enumvalue": "JSON payload values are read by the JSON decoder",
    "primitivevalue": "JSON payload values are read by the JSON decoder",
    "stringinurl": "JSON strings in URLs only inside JSON arrays/objects",
}


def _text(case):
    return case.get("input_decoded", case["input"])


def _split_query(text):
    """Split a query string at '&' and the first '=' of each part; values are decoded once."""
    pairs = []
    for part in text.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        pairs.append((urllib.parse.unquote(key), urllib.parse.unquote(value) if sep else ""))
    return pairs


def run_case(case):
    """Run one ABNF case through its entry point; returns the result or raises ODataError."""
    rule = case["rule"].lower()
    text = case["input"]
    if rule in EXPRESSION_RULES:
        if rule == "filter":
            return parse_query_options(_split_query(text))
        decoded = _text(case)
        if rule == "anyexpr":  # a lambda is a path segment: test it after a collection path
            return parse_filter("Items/" + decoded)
        return parse_filter(decoded)
    if rule == "orderby":
        return parse_query_options(_split_query(text))
    if rule == "expand":
        return parse_query_options(_split_query(text))
    if rule == "select":
        return parse_query_options(_split_query(text))
    if rule == "queryoptions":
        return parse_query_options(_split_query(text))
    if rule in URL_TYPED_LITERAL_RULES:
        return parse_literal(_text(case), URL_TYPED_LITERAL_RULES[rule])
    if rule in LITERAL_RULES:
        edm_type = LITERAL_RULES[rule]
        return parse_literal(_text(case) if case["context"] == "url" else text, edm_type)
    if rule.startswith(GEO_PREFIXES):
        return parse_literal(_text(case))
    raise LookupError(rule)


def is_implemented(case) -> bool:
    rule = case["rule"].lower()
    return (rule in EXPRESSION_RULES or rule in OPTION_RULES or rule in LITERAL_RULES
            or rule.startswith(GEO_PREFIXES))


# ---------------------------------------------------------------------------------------------
# deliberately unsupported cases: id -> reason (xfail, strict)

UNSUPPORTED = {
    # lenient where the ABNF is strict
    "abnf-core-0310": "whitespace after '$filter=' is tolerated (decoded values often carry it)",
    # years outside Python's datetime range
    "abnf-core-0023": "year 0000 is outside Python's date range (1..9999)",
    "abnf-core-0024": "negative years are outside Python's date range",
    "abnf-core-0031": "year 0000 is outside Python's date range",
    "abnf-core-0032": "negative years are outside Python's date range",
    # expression forms the PRIP/ODIP models have no use for
    "abnf-core-0252": "$count with nested options inside $filter is not supported",
    "abnf-core-0287": "$filter path segments and key predicates in expressions are not supported",
    "abnf-core-0289": "$filter path segments are not supported",
    "abnf-core-0481": "key predicates in expressions are not supported",
    "abnf-core-0482": "annotations in expressions are not supported",
    "abnf-core-0483": "annotations in expressions are not supported",
    "abnf-core-0486": "annotations in expressions are not supported",
    "abnf-core-0487": "annotations in expressions are not supported",
    "abnf-core-0490": "annotations in expressions are not supported",
    "abnf-core-0484": "annotations in $orderby are not supported",
    "abnf-core-0485": "annotations in $orderby are not supported",
    "abnf-core-0610": "an encoded ';' (%3B) inside nested $expand options: values arrive decoded, "
                      "so it cannot be told from the option separator",
    "abnf-core-0489": "$compute is not supported",
    "abnf-core-0626": "$compute is not supported",
    "abnf-core-0536": "function parameters in $select are not supported",
    "abnf-core-0537": "function parameters in $select are not supported",
    "abnf-core-0540": "nested options in $select are not supported",
    "abnf-core-0541": "nested options in $select are not supported",
    "abnf-core-0542": "nested options in $select are not supported",
    "abnf-core-0543": "nested options in $select are not supported",
    "abnf-core-0544": "nested options in $select are not supported",
}


# Valid $expand forms the services do not serve: read to the ABNF (so malformed variants are
# syntax errors), then refused by parse_expand with ODataNotSupportedError (one rule, in the core):
# /$ref, /$count and paths of several segments. (Nested options are read; which ones a service
# serves is build_query's to say: tests/odata/test_item_listing.py.)
EXPAND_NOT_SERVED = {
    "abnf-core-0493",
    "abnf-core-0495",
    "abnf-core-0505",
    "abnf-core-0506",
    "abnf-core-0507",
    "abnf-core-0508",
    "abnf-core-0509",
    "abnf-core-0512",
    "abnf-core-0513",
    "abnf-core-0516",
    "abnf-core-0517",
    "abnf-core-0518",
    "abnf-core-0522",
}


def _abnf_params():
    cases = _load("odata_abnf_cases.json")
    for case in cases:
        if not is_implemented(case):
            continue
        marks = []
        reason = UNSUPPORTED.get(case["id"])
        if reason:
            marks.append(pytest.mark.xfail(reason=reason, strict=True))
        yield pytest.param(case, id=case["id"], marks=marks)


def test_conformance_data_is_present():
    d = conformance_dir()
    assert len(json.loads((d / "odata_abnf_cases.json").read_text(encoding="utf-8"))) > 400


def test_unsupported_list_names_real_cases():
    ids = {c["id"] for c in (_load("odata_abnf_cases.json"))}
    assert ids, "conformance data missing"
    assert set(UNSUPPORTED) <= ids and set(EXPAND_NOT_SERVED) <= ids
    assert set(UNSUPPORTED_QUERY) <= {c["name"] for c in (_load("odata_query_cases.json"))}


@pytest.mark.parametrize("case", list(_abnf_params()))
def test_abnf_case(case):
    if case["id"] in EXPAND_NOT_SERVED:
        assert case["valid"]
        with pytest.raises(ODataNotSupportedError) as info:
            run_case(case)
        assert info.value.target == "$expand"
    elif case["valid"]:
        run_case(case)
    else:
        with pytest.raises(ODataError) as info:
            run_case(case)
        if case["rule"].lower() in EXPRESSION_RULES - {"filter"} or case["rule"].lower() in LITERAL_RULES:
            assert isinstance(info.value, ODataSyntaxError), info.value


# ---------------------------------------------------------------------------------------------
# odata-query's inputs

_YM = "durations with years or months: not ABNF (durationValue has days to seconds) and no exact timedelta"
_BARE_LIST = "a parenthesised list outside 'in': not ABNF (listExpr only follows 'in')"
_TRAILING = "a trailing comma in a list: not ABNF"
_DOTTED = "a dotted property name: not ABNF (a qualified name is a type cast or a function)"
UNSUPPORTED_QUERY = {
    "test_member_expression_parsing[1]": _DOTTED,
    "test_member_expression_parsing[2]": _DOTTED,
    "test_bool_common_expr[1]": _DOTTED,
    "test_bool_common_expr[2]": _DOTTED,
    "test_odata_filter_to_django_q_pre_v4[1]": _DOTTED,
    "test_odata_filter_to_sqlalchemy_query[1]": _DOTTED,
    "test_duration_parsing[26]": _YM,
    "test_duration_parsing[27]": _YM,
    "test_duration_parsing[28]": _YM,
    "test_duration_parsing[29]": _YM,
    "test_python_value_of_literals[28]": _YM,
    "test_python_value_of_literals[29]": _YM,
    "test_python_value_of_literals[30]": _YM,
    "test_odata_filter_to_sql[29]": _YM,
    "test_odata_filter_to_sql[30]": _YM,
    "test_odata_filter_to_sql[33]": _YM,
    "test_odata_filter_to_sql[34]": _YM,
    "test_odata_filter_to_django_q_pre_v4[39]": _YM,
    "test_odata_filter_to_django_q_pre_v4[40]": _YM,
    "test_python_value_of_literals[23]": _BARE_LIST,
    "test_python_value_of_literals[24]": _BARE_LIST,
    "test_python_value_of_literals[25]": _BARE_LIST,
    "test_list_parsing[8]": _BARE_LIST,
    "test_odata_filter_to_sql[38]": _BARE_LIST,
    "test_odata_filter_to_sql[41]": _BARE_LIST,
    "test_odata_filter_to_sql[42]": _BARE_LIST,
    "test_list_parsing[6]": _TRAILING,
    "test_list_parsing[7]": _TRAILING,
    "test_bool_common_expr[12]": _TRAILING,
    "test_bad_function_calls[1]": "whitespace between a function name and '(' is tolerated",
    "test_exceptions[0]": "an impossible date (2019-02-31) is rejected when parsing, not later",
    "test_exceptions[1]": "an impossible date (2019-02-31) is rejected when parsing, not later",
}


def run_query_case(case):
    start = case.get("start_symbol")
    text = case["input"]
    if start == "primitive_literal":
        return parse_literal(text)
    if start == "list_expr":
        return parse_filter("x in " + text)
    return parse_filter(text)


def _query_params():
    for case in _load("odata_query_cases.json"):
        if case.get("start_symbol") == "tokenizer":
            continue
        marks = []
        reason = UNSUPPORTED_QUERY.get(case["name"])
        if reason:
            marks.append(pytest.mark.xfail(reason=reason, strict=True))
        yield pytest.param(case, id=case["name"], marks=marks)


@pytest.mark.parametrize("case", list(_query_params()))
def test_odata_query_case(case):
    if case["valid"]:
        run_query_case(case)
    else:
        with pytest.raises(ODataSyntaxError):
            run_query_case(case)
