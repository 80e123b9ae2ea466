"""Binding: names, types, casts and literal conversion (contract section 6)."""
import datetime as dt

import pytest

from proseo_odata.odata import edm
from proseo_odata.odata.binding import (BAnd, BCompare, BIn, BIntersects, BLambda, BLiteral, BNot, BOr, BProperty, bind_filter,
                                        bind_orderby, walk)
from proseo_odata.odata.errors import ODataError, ODataNameError, ODataNotSupportedError, ODataTypeError
from proseo_odata.odata.functions import FUNCTIONS
from proseo_odata.odata.parser import parse_filter, parse_orderby
from proseo_odata_web.errors import answer_of

UTC = dt.timezone.utc


def bind(text, entity_type=edm.PRODUCT):
    return bind_filter(parse_filter(text), entity_type)


@pytest.mark.parametrize("text, path, value", [
    ("ContentDate/Start lt '2020-01-12T00:00:00.000000Z'", ("ContentDate", "Start"), dt.datetime(2020, 1, 12, tzinfo=UTC)),
    ("ContentDate/Start lt '2020-01-12T02:00:00+02:00'", ("ContentDate", "Start"), dt.datetime(2020, 1, 12, tzinfo=UTC)),
    ("ContentDate/Start lt 2020-01-12", ("ContentDate", "Start"), dt.datetime(2020, 1, 12, tzinfo=UTC)),
    ("CreationDate ge 2020-01-12T00:00:00Z", ("PublicationDate",), dt.datetime(2020, 1, 12, tzinfo=UTC)),
    ("ContentLength eq '1024'", ("ContentLength",), 1024),
    ("'abc' eq Name", ("Name",), "abc"),
    ("ProductionType eq OData.CSC.ProductionType'on-demand:default'", ("ProductionType",), "on-demand:default"),
    ("ProductionType eq 'systematic_production'", ("ProductionType",), "systematic_production"),
    ("Id eq '00000000-0000-4000-8000-000000000001'", ("Id",), __import__("uuid").UUID(int=(4 << 76) | (8 << 60) | 1)),
])
def test_literals_take_the_property_type(text, path, value):
    bound = bind(text)
    assert isinstance(bound, BCompare) and isinstance(bound.left, BProperty)
    assert bound.left.path == path
    assert bound.right.value == value


T = dt.datetime(2020, 1, 6, 12, 0, 0, 123000, tzinfo=UTC)
T1 = T + dt.timedelta(milliseconds=1)


@pytest.mark.parametrize("text, expected", [
    # a literal without sub-millisecond digits denotes its millisecond (contract section 2)
    ("PublicationDate eq 2020-01-06T12:00:00.123Z", ("and", ("ge", T), ("lt", T1))),
    ("2020-01-06T12:00:00.123Z eq PublicationDate", ("and", ("ge", T), ("lt", T1))),
    ("PublicationDate le 2020-01-06T12:00:00.123Z", ("lt", T1)),
    ("PublicationDate gt 2020-01-06T12:00:00.123Z", ("ge", T1)),
    ("PublicationDate ge 2020-01-06T12:00:00.123Z", ("ge", T)),
    ("PublicationDate lt 2020-01-06T12:00:00.123Z", ("lt", T)),
    ("PublicationDate ne 2020-01-06T12:00:00.123Z", ("not", ("and", ("ge", T), ("lt", T1)))),
    ("PublicationDate in (2020-01-06T12:00:00.123Z)", ("or", ("and", ("ge", T), ("lt", T1)))),
    ("EvictionDate ne 9999-12-31T23:59:59.999Z", ("not", ("ge", dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)))),
    ("PublicationDate eq 2020-01-06T12:00:00.123456Z", ("eq", T + dt.timedelta(microseconds=456))),
    # more than three digits, zeros too (the six-digit setting emits .123000): exact
    ("PublicationDate eq 2020-01-06T12:00:00.123000Z", ("eq", T)),
    ("PublicationDate gt 2020-01-06T12:00:00.1230Z", ("gt", T)),
    ("PublicationDate gt '2020-01-06T12:00:00.123000Z'", ("gt", T)),
    ("PublicationDate gt '2020-01-06T12:00:00.123Z'", ("ge", T1)),
    ("EvictionDate eq 9999-12-31T23:59:59.999Z", ("ge", dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC))),
])
def test_millisecond_literals(text, expected):
    def shape(node):
        if isinstance(node, (BAnd, BOr)):
            return ("and" if isinstance(node, BAnd) else "or",) + tuple(shape(o) for o in node.operands)
        if isinstance(node, BNot):
            return ("not", shape(node.operand))
        assert isinstance(node, BCompare) and isinstance(node.left, BProperty)
        return (node.op, node.right.value)

    assert shape(bind(text)) == expected


@pytest.mark.parametrize("text, value", [
    ("Status eq 'completed'", "completed"),
    ("Status eq OData.CSC.JobStatus'completed'", "completed"),
    ("Status eq 'COMPLETED'", "completed"),
    ("OrderOutputSize eq '1024'", 1024),
])
def test_odip_literals(text, value):
    bound = bind(text, edm.PRODUCTION_ORDER)
    assert bound.right.value == value


def test_operands_swapped_and_operator_flipped():
    bound = bind("5 lt ContentLength")
    assert (bound.op, bound.left.path, bound.right.value) == ("gt", ("ContentLength",), 5)


@pytest.mark.parametrize("text, error, words", [
    ("ContentLength eq 'abc'", ODataTypeError, ["'abc'", "Edm.Int64"]),
    ("Foo eq 1", ODataNameError, ["Foo", "position 0"]),
    ("Name eq 'x' and Bar gt 2", ODataNameError, ["Bar", "position 16"]),
    ("frobnicate(Name)", ODataError, ["frobnicate"]),
    ("round(ContentLength) eq 1", ODataNotSupportedError, ["round", "not supported"]),
    ("Name add 1 eq 2", ODataTypeError, ["add", "Edm.String"]),
    ("Name gt 2020-01-01T00:00:00Z and Online", ODataTypeError, ["Edm.String"]),
    ("contains(ContentLength,'1')", ODataTypeError, ["contains"]),
    ("Online gt true", ODataTypeError, ["gt"]),
    ("ContentDate eq null", ODataTypeError, ["ContentDate"]),
    ("Name", ODataTypeError, ["Boolean"]),
    ("Attributes eq 1", ODataTypeError, ["Attributes"]),
    ("Footprint eq 'x'", ODataTypeError, ["Intersects"]),
    ("Attributes/OData.CSC.Nope/any(a:a/Name eq 'x')", ODataNameError, ["OData.CSC.Nope"]),
    ("Attributes/any(a:b/Name eq 'x')", ODataNameError, ["b"]),
    ("ContentLength div 0 eq 1", ODataTypeError, ["zero"]),
    ("ContentLength mod 2.5 eq 1", ODataTypeError, ["mod"]),
    ("ProductionType eq OData.CSC.JobStatus'completed'", ODataError, ["JobStatus"]),
    ("OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((lon lat, lon lat))')", ODataError, ["geography"]),
    ("OData.CSC.Intersects(area=geography'SRID=3857;POINT(1 2)')", ODataError, ["3857"]),
    ("Attributes/OData.CSC.IntegerAttribute/any(a:a/Name eq 'orbitNumber' and a/Value eq 'abc')", ODataTypeError, ["'abc'"]),
])
def test_client_errors_are_odata_errors_naming_the_problem(text, error, words):
    with pytest.raises(error) as info:
        bind(text)
    assert answer_of("prip", info.value.kind)[0] == 400
    for word in words:
        assert word in info.value.message


def test_unknown_enum_value_lists_the_values():
    with pytest.raises(ODataTypeError) as info:
        bind("Status eq 'done'", edm.PRODUCTION_ORDER)
    assert "'done'" in info.value.message and "queued" in info.value.message


def test_secrets_are_not_filterable():
    with pytest.raises(ODataError, match="NotificationEpPassword"):
        bind("NotificationEpPassword eq 'x'", edm.PRODUCTION_ORDER)
    with pytest.raises(ODataError, match="NotificationEpPassword"):
        bind("NotificationEpPassword eq 'x'", edm.SUBSCRIPTION)


def _value_compares(lam):
    """The comparisons of the lambda's Value: one, or those an untyped Value is joined from."""
    found = []
    for operand in lam.predicate.operands:
        if isinstance(operand, BOr):
            found += list(operand.operands)
        elif operand.left.path == ("Value",):
            found.append(operand)
    return found


@pytest.mark.parametrize("text, cast, value_types, literal", [
    ("Attributes/any(i0:i0/Name eq 'productType' and i0/Value eq 'RAW')", None, [edm.STRING], "RAW"),
    ("Attributes/any(i0:i0/Name eq 'orbitNumber' and i0/Value lt 100)", None, [edm.INT64, edm.DOUBLE], 100),
    ("Attributes/any(i0:i0/Name eq 'cloudCover' and i0/Value lt 10.5)", None, [edm.DOUBLE, edm.INT64], 10.5),
    ("Attributes/any(i0:i0/Name eq 'x' and i0/Value eq true)", None, [edm.BOOLEAN], True),
    ("Attributes/OData.CSC.DoubleAttribute/any(a:a/Name eq 'cloudCover' and a/Value le '40')", "OData.CSC.DoubleAttribute",
     [edm.DOUBLE], 40),
])
def test_attribute_cast_rules(text, cast, value_types, literal):
    lam = bind(text)
    assert isinstance(lam, BLambda) and lam.cast == cast
    compares = _value_compares(lam)
    assert [c.left.type for c in compares] == value_types
    assert all(c.right.value == literal for c in compares)


@pytest.mark.parametrize("collection, value, alternatives", [
    ("IntegerAttribute", "att/OData.CSC.StringAttribute/Value", [("OData.CSC.IntegerAttribute", edm.INT64, 123),
                                                                 ("OData.CSC.StringAttribute", edm.STRING, "123")]),
    ("StringAttribute", "att/OData.CSC.IntegerAttribute/Value", [("OData.CSC.StringAttribute", edm.STRING, "123"),
                                                                 ("OData.CSC.IntegerAttribute", edm.INT64, 123)]),
    ("StringAttribute", "att/IntegerValue", [("OData.CSC.StringAttribute", edm.STRING, "123"),  # a seed key's cast
                                             ("OData.CSC.IntegerAttribute", edm.INT64, 123)]),
])
def test_mismatched_casts_take_an_item_of_either_type(collection, value, alternatives):
    """Rule 3: eodag casts the collection to Integer and the value to String, CDSE's users the
    other way round; an item of either type matches, its value compared as its own type."""
    bound = bind(f"Attributes/OData.CSC.{collection}/any(att:att/Name eq 'orbitNumber' and {value} eq 123)")
    assert isinstance(bound, BOr) and all(isinstance(lam, BLambda) for lam in bound.operands)
    assert [(lam.cast, *[(c.left.type, c.right.value) for c in _value_compares(lam)][0]) for lam in bound.operands] \
        == alternatives
    aliased = bind_filter(parse_filter(f"Attributes/OData.CSC.{collection}/any(att:att/Name eq 'orbitNumber' and @p)"),
                          edm.PRODUCT, aliases={"p": parse_filter(f"{value} eq 123")})
    assert aliased == bound  # a cast inside an alias's value counts as written in its place
    agreeing = bind("Attributes/OData.CSC.IntegerAttribute/any(att:att/OData.CSC.IntegerAttribute/Value eq 1)")
    assert isinstance(agreeing, BLambda)  # one type: one lambda, as before
    assert isinstance(bind("Attributes/OData.CSC.StringAttribute/all(att:att/OData.CSC.IntegerAttribute/Value eq 1)"),
                      BLambda)  # all: the collection's type only


def test_untyped_value_meets_every_type_its_literal_converts_to():
    lam = bind("Attributes/any(i0:i0/Name eq 'orbitNumber' and i0/Value gt 5)")
    assert [c.left.cast for c in _value_compares(lam)] == ["OData.CSC.IntegerAttribute", "OData.CSC.DoubleAttribute"]
    quoted = bind("Attributes/any(i0:i0/Value eq '2021-05-20')")
    assert [sorted({p.cast for p in walk(part) if isinstance(p, BProperty)}) for part in quoted.predicate.operands] == [
        ["OData.CSC.StringAttribute"], ["OData.CSC.DateTimeOffsetAttribute"]]
    null = bind("Attributes/any(i0:i0/Value eq null)")
    assert isinstance(null.predicate, BAnd) and len(null.predicate.operands) == 5
    assert isinstance(bind("Attributes/any(i0:i0/Value ne 5)").predicate, BNot)
    # strings that spell nothing else keep the plain forms (the product_type column serves them)
    plain = bind("Attributes/any(a:a/Name eq 'productType' and a/Value in ('S2MSI1C','S2MSI2A'))")
    assert any(isinstance(operand, BIn) for operand in plain.predicate.operands)
    assert isinstance(bind("Attributes/any(a:a/Value eq 'S2MSI1C')").predicate, BCompare)


@pytest.mark.parametrize("text", [
    "WorkflowOptions/any(att:att/Name eq 'level' and att/OData.CSC.IntegerAttribute/Value gt 10)",
    "WorkflowOptions/any(att:att/Name eq 'level' and 10 lt att/Value)",
    "WorkflowOptions/any(att:att/Name eq 'level' and att/OData.CSC.DoubleAttribute/Value le '10')",
    "WorkflowOptions/any(att:att/Name eq 'level' and att/Value ge 7.5)",
])
def test_option_values_are_text_and_a_numbers_comparison_of_them_is_refused(text):
    """'7' gt '10' as text gave a completed order with CompressionLevel 7 for "gt 10"."""
    with pytest.raises(ODataTypeError, match="WorkflowOptions values are text") as info:
        bind(text, edm.PRODUCTION_ORDER)
    assert answer_of("odip", info.value.kind)[0] == 400
    aliased = text.replace(" 10)", " @v)").replace(" '10')", " @v)").replace(" 7.5)", " @v)")
    with pytest.raises(ODataTypeError, match="WorkflowOptions values are text"):
        bind_filter(parse_filter(aliased), edm.PRODUCTION_ORDER, aliases={"v": parse_filter("10")})


def test_option_values_compare_as_the_text_the_order_gave():
    for text in ("WorkflowOptions/any(att:att/Name eq 'level' and att/OData.CSC.IntegerAttribute/Value eq 7)",
                 "WorkflowOptions/any(att:att/Name eq 'level' and att/OData.CSC.DoubleAttribute/Value eq 0.5)",
                 "WorkflowOptions/any(att:att/Name eq 'format' and att/Value gt 'A')",
                 "WorkflowOptions/any(att:att/Name eq 'level' and att/Value in ('7', 8, 7.5))"):
        assert isinstance(bind(text, edm.PRODUCTION_ORDER), BLambda)


def test_odip_lambdas():
    lam = bind("InputProductReference/any(att:att/Reference eq 'S2A.zip')", edm.PRODUCTION_ORDER)
    assert lam.single and lam.predicate.left.path == ("Reference",)
    lam = bind("WorkflowOptions/any(att:att/Name eq 'x' and att/OData.CSC.StringAttribute/Value eq 'y')",
               edm.PRODUCTION_ORDER)
    assert not lam.single and lam.collection == ("WorkflowOptions",)


@pytest.mark.parametrize("text", [
    "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0, 1 0, 1 1, 0 0))')",
    "OData.CSC.Intersects(Footprint=geography'SRID=4326;Polygon ((0 0, 1 0, 1 1, 0 0))')",
    "OData.CSC.Intersects(location=Footprint,area=geography'SRID=4326;MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))')",
    "OData.CSC.Intersects(area='SRID=4326;POLYGON((0 0, 1 0, 1 1, 0 0))')",
    "geo.intersects(Footprint, geography'SRID=4326;POINT(0.5 0.2)')",
])
def test_intersects_forms(text):
    bound = bind(text)
    assert isinstance(bound, BIntersects) and bound.location.path == ("Footprint",)
    assert bound.geometry.intersects(__import__("shapely").geometry.Point(0.5, 0.2))


def test_boolean_property_alone_is_eq_true():
    bound = bind("Online")
    assert isinstance(bound, BCompare) and bound.right == BLiteral(True, edm.BOOLEAN)


def test_orderby_binding():
    items = bind_orderby(parse_orderby("ContentDate/Start desc, Name"), edm.PRODUCT)
    assert [(i.expr.path, i.descending) for i in items] == [(("ContentDate", "Start"), True), (("Name",), False)]
    with pytest.raises(ODataError) as raised:
        bind_orderby(parse_orderby("NotificationEpPassword"), edm.SUBSCRIPTION)
    # issue 10 point 8: the message names the option actually used, not $filter
    assert "cannot be used in $orderby" in raised.value.message and raised.value.target == "$orderby"
    with pytest.raises(ODataError) as raised:
        bind_orderby(parse_orderby("tolower(NotificationEpPassword)"), edm.PRODUCTION_ORDER)
    assert "$orderby" in raised.value.message and "$filter" not in raised.value.message


def test_function_table_is_complete_for_the_contract():
    contract = ("contains startswith endswith length indexof substring tolower toupper trim concat "
                "matchespattern year month day hour minute second date time now").split()
    assert sorted(contract) == sorted(FUNCTIONS)


@pytest.mark.parametrize("text, position", [
    ("matchesPattern(Name,'[')", 20),
    ("Online and matchesPattern(Name,'(a')", 31),
    ("matchesPattern(Name,'*x')", 20),
])
def test_matches_pattern_rejects_an_invalid_regular_expression_at_bind_time(text, position):
    with pytest.raises(ODataTypeError) as info:
        bind(text)
    assert "not a valid regular expression" in info.value.message and answer_of("prip", info.value.kind)[0] == 400
    assert info.value.position == position


def test_matches_pattern_accepts_valid_and_computed_patterns():
    assert bind(r"matchesPattern(Name,'^S2[AB]_.*\.zip$')").name == "matchespattern"
    assert bind("matchesPattern(Name,concat('[','a]'))").name == "matchespattern"  # checked when evaluated


ORDER = edm.ODIP_MODEL.entity_set("ProductionOrders").entity_type


@pytest.mark.parametrize("text, entity_type", [
    # quoted numbers were converted without the range check of unquoted ones: the int reached
    # SQLite ("Python int too large to convert to SQLite INTEGER", a 500)
    ("OrderOutputSize eq '-9223372036854775809'", ORDER),
    ("OrderOutputSize eq '99999999999999999999'", ORDER),
    ("Priority eq '99999999999'", ORDER),
    ("ContentLength in ('99999999999999999999')", edm.PRODUCT),
    ("length(Name) eq '99999999999999999999'", edm.PRODUCT),
    ("year(ContentDate/Start) eq '3000000000'", edm.PRODUCT),
])
def test_quoted_numbers_out_of_range_are_rejected(text, entity_type):
    with pytest.raises(ODataTypeError, match="out of range for Edm.Int"):
        bind_filter(parse_filter(text), entity_type, model=edm.ODIP_MODEL if entity_type is ORDER else edm.PRIP_MODEL)


@pytest.mark.parametrize("literal", ["99999999999999999999", "'99999999999999999999'"])
def test_integers_beyond_int64_meeting_a_double_become_doubles(literal):
    bound = bind("Attributes/OData.CSC.DoubleAttribute/any(a:a/Name eq 'cloudCover' and "
                 f"a/OData.CSC.DoubleAttribute/Value le {literal})")
    comparisons = [n for n in _walk(bound) if isinstance(n, BLiteral) and not isinstance(n.value, str)]
    assert [(c.value, c.type) for c in comparisons] == [(1e20, edm.DOUBLE)]


def _walk(node):
    yield node
    for name in getattr(node, "__dataclass_fields__", ()):
        value = getattr(node, name)
        for item in value if isinstance(value, tuple) else (value,):
            if hasattr(item, "__dataclass_fields__"):
                yield from _walk(item)


# -- parameter aliases in lists and Intersects; messages that say what was written -------------------


def test_an_in_list_takes_its_aliases_values():
    expected = bind("ContentLength in (1, 2)")
    aliases = {"a": parse_filter("1"), "b": parse_filter("@a"), "l": parse_filter("[1,2]")}
    for text in ("ContentLength in (@a, 2)", "ContentLength in (@b, 2)", "ContentLength in @l"):
        assert bind_filter(parse_filter(text), edm.PRODUCT, aliases=aliases) == expected, text
    with pytest.raises(ODataNameError, match="'@c' has no value"):
        bind_filter(parse_filter("ContentLength in (@c, 2)"), edm.PRODUCT, aliases=aliases)
    with pytest.raises(ODataError, match="needs a list of literals"):
        bind_filter(parse_filter("ContentLength in @l"), edm.PRODUCT, aliases={"l": parse_filter("[Name]")})


def test_the_area_of_intersects_may_be_an_alias_but_not_given_twice():
    area = "geography'SRID=4326;POINT(1 2)'"
    assert bind_filter(parse_filter("OData.CSC.Intersects(area=@a)"), edm.PRODUCT, aliases={"a": parse_filter(area)}) \
        == bind(f"OData.CSC.Intersects(area={area})")
    for text in (f"OData.CSC.Intersects(area={area},area={area})", f"OData.CSC.Intersects(area={area},Footprint={area})",
                 f"OData.CSC.Intersects(location=Footprint,geo=Footprint,area={area})"):
        with pytest.raises(ODataTypeError, match="twice") as info:
            bind(text)
        assert info.value.target == "$filter"
    with pytest.raises(ODataNameError, match="unknown parameter 'foo'"):  # a name it does not take: not "twice"
        bind(f"OData.CSC.Intersects(area={area}, foo=1)")


@pytest.mark.parametrize("text, written", [
    ("ContentLength eq duration'P1D'", "duration'P1D'"),
    ("ContentLength eq duration'-PT1.5S'", "duration'-PT1.5S'"),
    ("ContentLength eq binary'AAA='", "binary'AAA='"),
    ("Online eq NaN", "NaN"),
    ("Online eq -INF", "-INF"),
    ("Online eq 'it''s'", "'it''s'"),
    ("Online eq 2021-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
    ("ContentLength eq 12:00:01", "12:00:01"),
])
def test_a_literal_that_does_not_fit_is_named_as_written(text, written):
    with pytest.raises(ODataTypeError) as info:
        bind(text)
    assert f"the literal {written} at position" in str(info.value)


def test_the_errors_name_what_was_written_and_why():
    with pytest.raises(ODataTypeError, match="'lt' would compare them as text"):
        bind("WorkflowOptions/any(o: 5 lt o/Value)", edm.PRODUCTION_ORDER)
    with pytest.raises(ODataError, match="navigation property 'Product' cannot be used in \\$filter"):
        bind("Product eq null", edm.PRODUCTION_ORDER)
    with pytest.raises(ODataError, match="\\$count in \\$filter paths is not supported"):
        bind("Attributes/$count gt 5")
    with pytest.raises(ODataNameError, match="unknown property 'Foo'"):  # an unknown name keeps its message
        bind("Foo/$count gt 5")
    with pytest.raises(ODataError, match="\\$count in \\$orderby paths") as info:
        bind_orderby(parse_orderby("Attributes/$count"), edm.PRODUCT)
    assert info.value.target == "$orderby"
    for function in ("round(ContentLength) eq 1", "totalseconds(duration'P1D') eq 1", "geo.length(Footprint) gt 1"):
        with pytest.raises(ODataError, match="is not supported .*FilterFunctions") as info:
            bind(function)
        assert info.value.target == "$filter" and answer_of("prip", info.value.kind)[0] == 400
    with pytest.raises(ODataError, match="nested lambdas") as info:
        bind("Attributes/any(a: a/Items/any(b: b/Name eq 'x'))")
    assert info.value.target == "$filter"  # every error of the binder names its option


@pytest.mark.parametrize("literal", ["'2020-01-12t00:00:00z'", "'2020-01-12T00:00:00.000000000000Z'",
                                     "'2020-01-12 00:00:00Z'"])
def test_a_quoted_date_time_takes_the_unquoted_literals_forms(literal):
    bound = bind(f"PublicationDate ge {literal}")
    assert bound.right.value == dt.datetime(2020, 1, 12, tzinfo=UTC)
    assert bind("time(PublicationDate) eq '12:00:00.000000000000'") == bind("time(PublicationDate) eq 12:00:00.000000000000")
