"""The $filter / $orderby parser: the contract's dialect (section 6) as tables, the AST shape,
precedence, literals, error positions, thread safety and the strict grammar build."""
from __future__ import annotations

import datetime
import decimal
import threading
import uuid

import pytest

from proseo_odata.odata import (
    ODataError,
    ODataSyntaxError,
    parse_filter,
    parse_literal,
    parse_orderby,
)
from proseo_odata.odata.ast import (
    Arith, BoolOp, Call, Cast, Compare, Count, EnumLiteral, FunctionStep, Has, In, Lambda, ListExpr,
    Literal, Member, Negate, Not, Null, ObjectExpr, OrderItem, ParameterAlias, Path, Variable,
)
from proseo_odata.odata.parser import build_parser, get_parser
from proseo_odata_web.errors import answer_of

UTC = datetime.timezone.utc


def P(*names):
    """Path shorthand: dotted names become casts."""
    return Path(tuple(Cast(n) if "." in n else Member(n) for n in names))


def S(v):
    return Literal(v, "Edm.String")


def I(v):
    return Literal(v, "Edm.Int64")


# ---------------------------------------------------------------------------------------------
# contract section 6: every attribute lambda form

ATTRIBUTE_LAMBDAS = [
    ("Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')",
     Lambda(P("Attributes", "OData.CSC.StringAttribute"), "any", "att", BoolOp("and", (
         Compare("eq", P("att", "Name"), S("productType")),
         Compare("eq", P("att", "OData.CSC.StringAttribute", "Value"), S("S2MSI1C")))))),
    ("Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value in ('A','B'))",
     Lambda(P("Attributes", "OData.CSC.StringAttribute"), "any", "att", BoolOp("and", (
         Compare("eq", P("att", "Name"), S("productType")),
         In(P("att", "OData.CSC.StringAttribute", "Value"), (S("A"), S("B"))))))),
    ("Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.IntegerAttribute/Value lt 10000)",
     Lambda(P("Attributes", "OData.CSC.IntegerAttribute"), "any", "att", BoolOp("and", (
         Compare("eq", P("att", "Name"), S("orbitNumber")),
         Compare("lt", P("att", "OData.CSC.IntegerAttribute", "Value"), I(10000)))))),
    ("Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value le 40.0)",
     Lambda(P("Attributes", "OData.CSC.DoubleAttribute"), "any", "att", BoolOp("and", (
         Compare("eq", P("att", "Name"), S("cloudCover")),
         Compare("le", P("att", "OData.CSC.DoubleAttribute", "Value"), Literal(decimal.Decimal("40.0"), "Edm.Decimal")))))),
    ("Attributes/OData.CSC.DateTimeOffsetAttribute/any(att:att/Name eq 'processingDate' and att/OData.CSC.DateTimeOffsetAttribute/Value ge 2021-05-20T19:08:07.654Z)",
     Lambda(P("Attributes", "OData.CSC.DateTimeOffsetAttribute"), "any", "att", BoolOp("and", (
         Compare("eq", P("att", "Name"), S("processingDate")),
         Compare("ge", P("att", "OData.CSC.DateTimeOffsetAttribute", "Value"),
                 Literal(datetime.datetime(2021, 5, 20, 19, 8, 7, 654000, tzinfo=UTC), "Edm.DateTimeOffset")))))),
    ("Attributes/OData.CSC.BooleanAttribute/any(att:att/Name eq 'x' and att/OData.CSC.BooleanAttribute/Value eq true)",
     Lambda(P("Attributes", "OData.CSC.BooleanAttribute"), "any", "att", BoolOp("and", (
         Compare("eq", P("att", "Name"), S("x")),
         Compare("eq", P("att", "OData.CSC.BooleanAttribute", "Value"), Literal(True, "Edm.Boolean")))))),
    ("Attributes/any(i0:i0/Name eq 'productType' and i0/Value eq 'RAW')",
     Lambda(P("Attributes"), "any", "i0", BoolOp("and", (
         Compare("eq", P("i0", "Name"), S("productType")), Compare("eq", P("i0", "Value"), S("RAW")))))),
    ("Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.StringAttribute/Value eq 123)",
     Lambda(P("Attributes", "OData.CSC.IntegerAttribute"), "any", "att", BoolOp("and", (
         Compare("eq", P("att", "Name"), S("orbitNumber")),
         Compare("eq", P("att", "OData.CSC.StringAttribute", "Value"), I(123)))))),
    ("Attributes/OData.CSC.StringAttribute/any(att:'S2MSI1C' eq att/OData.CSC.StringAttribute/Value and 'productType' eq att/Name)",
     Lambda(P("Attributes", "OData.CSC.StringAttribute"), "any", "att", BoolOp("and", (
         Compare("eq", S("S2MSI1C"), P("att", "OData.CSC.StringAttribute", "Value")),
         Compare("eq", S("productType"), P("att", "Name")))))),
    ("Attributes/OData.CSC.StringAttribute/all(x:x/OData.CSC.StringAttribute/Value ne 'A')",
     Lambda(P("Attributes", "OData.CSC.StringAttribute"), "all", "x",
            Compare("ne", P("x", "OData.CSC.StringAttribute", "Value"), S("A")))),
    ("Attributes/any()", Lambda(P("Attributes"), "any", None, None)),
    ("InputProductReference/any(att:att/Reference eq 'name')",
     Lambda(P("InputProductReference"), "any", "att", Compare("eq", P("att", "Reference"), S("name")))),
    ("WorkflowOptions/any(att:att/Name eq 'x' and att/OData.CSC.StringAttribute/Value eq 'y')",
     Lambda(P("WorkflowOptions"), "any", "att", BoolOp("and", (
         Compare("eq", P("att", "Name"), S("x")),
         Compare("eq", P("att", "OData.CSC.StringAttribute", "Value"), S("y")))))),
]


@pytest.mark.parametrize("text,expected", ATTRIBUTE_LAMBDAS, ids=range(len(ATTRIBUTE_LAMBDAS)))
def test_attribute_lambda_forms(text, expected):
    assert parse_filter(text) == expected


def test_two_lambdas_combined():
    a = "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'x')"
    b = "Attributes/OData.CSC.IntegerAttribute/all(b:b/Value gt 1)"
    tree = parse_filter(f"{a} and {b} or Online eq true")
    assert isinstance(tree, BoolOp) and tree.op == "or"
    assert isinstance(tree.operands[0], BoolOp) and tree.operands[0].op == "and"
    assert [x.kind for x in tree.operands[0].operands] == ["any", "all"]


def test_cast_is_its_own_step_kind():
    tree = parse_filter("att/OData.CSC.StringAttribute/Value eq 'x'")
    assert [type(s) for s in tree.left.steps] == [Member, Cast, Member]
    assert tree.left.names == ("att", "OData.CSC.StringAttribute", "Value")


# ---------------------------------------------------------------------------------------------
# precedence

PRECEDENCE = [
    ("contains(Name,'_AUX_') or contains(Name,'_AX_') and Online eq true",
     BoolOp("or", (Call("contains", (P("Name"), S("_AUX_"))),
                   BoolOp("and", (Call("contains", (P("Name"), S("_AX_"))),
                                  Compare("eq", P("Online"), Literal(True, "Edm.Boolean"))))))),
    ("a eq 1 and b eq 2 and c eq 3",
     BoolOp("and", (Compare("eq", P("a"), I(1)), Compare("eq", P("b"), I(2)), Compare("eq", P("c"), I(3))))),
    ("(a eq 1 or b eq 2) and c eq 3",
     BoolOp("and", (BoolOp("or", (Compare("eq", P("a"), I(1)), Compare("eq", P("b"), I(2)))), Compare("eq", P("c"), I(3))))),
    ("not a eq 1 and b eq 2",
     BoolOp("and", (Not(Compare("eq", P("a"), I(1))), Compare("eq", P("b"), I(2))))),
    ("a add 2 mul 3 eq 7",
     Compare("eq", Arith("add", P("a"), Arith("mul", I(2), I(3))), I(7))),
    ("a sub 1 sub 2 eq 0",
     Compare("eq", Arith("sub", Arith("sub", P("a"), I(1)), I(2)), I(0))),
    ("(a add 2) mod 3 eq 1",
     Compare("eq", Arith("mod", Arith("add", P("a"), I(2)), I(3)), I(1))),
    ("-a lt -2", Compare("lt", Negate(P("a")), I(-2))),
    ("- 2 eq x", Compare("eq", I(-2), P("x"))),
    ("a divby 2 eq 2.5", Compare("eq", Arith("divby", P("a"), I(2)), Literal(decimal.Decimal("2.5"), "Edm.Decimal"))),
    ("Size in (1, 2) or Size has OData.CSC.Flags'A'",
     BoolOp("or", (In(P("Size"), (I(1), I(2))), Has(P("Size"), EnumLiteral("OData.CSC.Flags", "A"))))),
]


@pytest.mark.parametrize("text,expected", PRECEDENCE, ids=range(len(PRECEDENCE)))
def test_precedence(text, expected):
    assert parse_filter(text) == expected


# ---------------------------------------------------------------------------------------------
# keywords in any case

@pytest.mark.parametrize("text", [
    "Name eq 'a' and Online eq true",
    "Name EQ 'a' AND Online EQ TRUE",
    "Name Eq 'a' And Online Eq True",
    "NAME eq 'a' aNd Online eQ tRuE",
])
def test_keywords_any_case(text):
    tree = parse_filter(text)
    assert isinstance(tree, BoolOp) and tree.op == "and"
    assert tree.operands[0].op == "eq" and tree.operands[1].right == Literal(True, "Edm.Boolean")


@pytest.mark.parametrize("text,name", [
    ("CONTAINS(Name,'x')", "contains"), ("StartsWith(Name,'x')", "startswith"),
    ("endswith(Name,'x')", "endswith"), ("matchesPattern(Name,'^S2')", "matchespattern"),
    ("ToLower(Name) eq 'x'", "tolower"), ("YEAR(OriginDate) eq 2020", "year"), ("now() gt x", "now"),
])
def test_function_names_canonical_lower_case(text, name):
    tree = parse_filter(text)
    call = tree if isinstance(tree, Call) else tree.left
    assert call.name == name


def test_null_and_not_any_case():
    assert parse_filter("NOT (x eq NULL)") == Not(Compare("eq", P("x"), Null()))


# ---------------------------------------------------------------------------------------------
# strings: '' escapes, % and _ untouched

@pytest.mark.parametrize("text,value", [
    ("Name eq 'O''Neil'", "O'Neil"),
    ("Name eq ''''", "'"),
    ("Name eq ''", ""),
    ("contains(Name,'_AUX_')", "_AUX_"),
    ("contains(Name,'100%')", "100%"),
    ("contains(Name,'a%_b')", "a%_b"),
    ("Name eq 'a & b; (c)'", "a & b; (c)"),
    ("Name eq 'with \"double\" quotes'", 'with "double" quotes'),
])
def test_string_literals(text, value):
    tree = parse_filter(text)
    literal = tree.right if isinstance(tree, Compare) else tree.args[1]
    assert literal == Literal(value, "Edm.String")


# ---------------------------------------------------------------------------------------------
# literals of every kind

def dt(*args):
    return datetime.datetime(*args, tzinfo=UTC)


LITERALS = [
    ("42", Literal(42, "Edm.Int64")),
    ("-42", Literal(-42, "Edm.Int64")),
    ("+42", Literal(42, "Edm.Int64")),
    ("1234567890123456789", Literal(1234567890123456789, "Edm.Int64")),
    ("3.14", Literal(decimal.Decimal("3.14"), "Edm.Decimal")),
    ("-0.314e1", Literal(-3.14, "Edm.Double")),
    ("1E5", Literal(100000.0, "Edm.Double")),
    ("INF", Literal(float("inf"), "Edm.Double")),
    ("-INF", Literal(float("-inf"), "Edm.Double")),
    ("true", Literal(True, "Edm.Boolean")),
    ("FALSE", Literal(False, "Edm.Boolean")),
    ("null", Null()),
    ("01234567-89ab-cdef-0123-456789ABCDEF", Literal(uuid.UUID("01234567-89ab-cdef-0123-456789abcdef"), "Edm.Guid")),
    ("2012-09-03", Literal(datetime.date(2012, 9, 3), "Edm.Date")),
    ("2012-09-03T13:52Z", Literal(dt(2012, 9, 3, 13, 52), "Edm.DateTimeOffset")),
    ("2012-09-03T13:52:01Z", Literal(dt(2012, 9, 3, 13, 52, 1), "Edm.DateTimeOffset")),
    ("2012-09-03T13:52:01.5Z", Literal(dt(2012, 9, 3, 13, 52, 1, 500000), "Edm.DateTimeOffset")),
    ("2012-09-03T13:52:01.123456789Z", Literal(dt(2012, 9, 3, 13, 52, 1, 123456), "Edm.DateTimeOffset", exact=True)),
    ("2012-09-03T13:52:01.Z".replace(".Z", "Z"), Literal(dt(2012, 9, 3, 13, 52, 1), "Edm.DateTimeOffset")),
    ("2012-09-03T14:53+02:00", Literal(dt(2012, 9, 3, 12, 53), "Edm.DateTimeOffset")),
    ("2012-09-03T10:53:00.25-02:30", Literal(dt(2012, 9, 3, 13, 23, 0, 250000), "Edm.DateTimeOffset")),
    # an unencoded "+02:00" decoded as a form's space (phidown sends its filter raw): read as +02:00
    ("2012-09-03T14:53 02:00", Literal(dt(2012, 9, 3, 12, 53), "Edm.DateTimeOffset")),
    ("2012-09-03T14:53:01.123456 00:00", Literal(dt(2012, 9, 3, 14, 53, 1, 123456), "Edm.DateTimeOffset", exact=True)),
    ("2012-09-03T13:52:01", Literal(dt(2012, 9, 3, 13, 52, 1), "Edm.DateTimeOffset")),
    ("2012-09-03T13:52:01.000000", Literal(dt(2012, 9, 3, 13, 52, 1), "Edm.DateTimeOffset", exact=True)),
    ("9999-12-31T23:59:59.999Z", Literal(dt(9999, 12, 31, 23, 59, 59, 999000), "Edm.DateTimeOffset")),
    ("1972-06-30T23:59:60Z", Literal(dt(1972, 6, 30, 23, 59, 59, 999999), "Edm.DateTimeOffset")),
    ("11:22:33.4444444", Literal(datetime.time(11, 22, 33, 444444), "Edm.TimeOfDay")),
    ("duration'P1DT2H'", Literal(datetime.timedelta(days=1, hours=2), "Edm.Duration")),
    ("duration'-P6DT23H59M59.9999S'",
     Literal(-datetime.timedelta(days=6, hours=23, minutes=59, seconds=59, microseconds=999900), "Edm.Duration")),
    ("Duration'PT30M'", Literal(datetime.timedelta(minutes=30), "Edm.Duration")),
    ("binary'Zm9vYg=='", Literal(b"foob", "Edm.Binary")),
    ("binary'Zm9vYg'", Literal(b"foob", "Edm.Binary")),
    ("geography'SRID=4326;POLYGON((1 2,3 4,5 6,1 2))'", Literal("POLYGON((1 2,3 4,5 6,1 2))", "Edm.Geography", 4326)),
    ("Geography'SRID=4326;Polygon ((1 2, 3 4, 1 2))'", Literal("Polygon ((1 2, 3 4, 1 2))", "Edm.Geography", 4326)),
    ("geometry'SRID=0;Point(142.1 64.1)'", Literal("Point(142.1 64.1)", "Edm.Geometry", 0)),
    ("OData.CSC.ProductionType'on-demand:default'", EnumLiteral("OData.CSC.ProductionType", "on-demand:default")),
    ("OData.CSC.JobStatus'completed'", EnumLiteral("OData.CSC.JobStatus", "completed")),
]


@pytest.mark.parametrize("text,expected", LITERALS, ids=[t for t, _ in LITERALS])
def test_literals(text, expected):
    assert parse_literal(text) == expected
    tree = parse_filter(f"X eq {text}")
    assert tree == Compare("eq", P("X"), expected)


@pytest.mark.parametrize("text", ["2012-13-01", "2012-02-30", "2011-12-31T24:00Z", "2012-09-03T23:60Z",
                                  "24:00:00", "duration'P1Y'", "duration'P'", "duration'1D'",
                                  "binary'!!'", "geography'SRID=4326;CIRCLE(1 2)'", "42.", ".1", "'open"])
def test_bad_literals(text):
    with pytest.raises(ODataSyntaxError):
        parse_literal(text)


def test_datetime_is_utc_aware():
    value = parse_literal("2021-01-01T01:00:00+01:00").value
    assert value.tzinfo == UTC and value == dt(2021, 1, 1)


def test_quoted_date_stays_a_string_and_converts_on_request():
    tree = parse_filter("ContentDate/Start lt '2020-01-12T00:00:00.000000Z'")
    assert tree.right == S("2020-01-12T00:00:00.000000Z")
    assert parse_literal("'2020-01-12T00:00:00.000000Z'", "Edm.DateTimeOffset") == Literal(
        dt(2020, 1, 12), "Edm.DateTimeOffset", exact=True)  # six digits: compared exactly


@pytest.mark.parametrize("text,edm_type,expected", [
    ("'1024'", "Edm.Int64", Literal(1024, "Edm.Int64")),
    ("1024", "Edm.Int32", Literal(1024, "Edm.Int64")),
    ("'40'", "Edm.Double", Literal(40.0, "Edm.Double")),
    ("'2.5'", "Edm.Decimal", Literal(decimal.Decimal("2.5"), "Edm.Decimal")),
    ("'True'", "Edm.Boolean", Literal(True, "Edm.Boolean")),
    ("P1D", "Edm.Duration", Literal(datetime.timedelta(days=1), "Edm.Duration")),
    ("'2020-01-01'", "Edm.Date", Literal(datetime.date(2020, 1, 1), "Edm.Date")),
    ("'abc'", "Edm.String", S("abc")),
])
def test_parse_literal_typed(text, edm_type, expected):
    assert parse_literal(text, edm_type) == expected


@pytest.mark.parametrize("text,edm_type", [("'abc'", "Edm.Int64"), ("'1.5'", "Edm.Int64"), ("'maybe'", "Edm.Boolean"),
                                           ("'2020-01-01'", "Edm.Guid"), ("'x'", "Edm.DateTimeOffset")])
def test_parse_literal_typed_rejects(text, edm_type):
    with pytest.raises(ODataSyntaxError):
        parse_literal(text, edm_type)


# ---------------------------------------------------------------------------------------------
# geography: every Intersects form

INTERSECTS = [
    ("OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((1 2, 3 4, 5 6, 1 2))')",
     Call("OData.CSC.Intersects", (), (("area", Literal("POLYGON((1 2, 3 4, 5 6, 1 2))", "Edm.Geography", 4326)),))),
    ("OData.CSC.Intersects(Footprint=geography'SRID=4326;POLYGON ((1 2, 3 4, 1 2))')",
     Call("OData.CSC.Intersects", (), (("Footprint", Literal("POLYGON ((1 2, 3 4, 1 2))", "Edm.Geography", 4326)),))),
    ("OData.CSC.Intersects(location=Footprint,area=geography'SRID=4326;MULTIPOLYGON(((1 2,3 4,1 2)))')",
     Call("OData.CSC.Intersects", (), (("location", P("Footprint")),
                                        ("area", Literal("MULTIPOLYGON(((1 2,3 4,1 2)))", "Edm.Geography", 4326))))),
    ("OData.CSC.Intersects(area='SRID=4326;POLYGON((1 2,3 4,1 2))')",
     Call("OData.CSC.Intersects", (), (("area", S("SRID=4326;POLYGON((1 2,3 4,1 2))")),))),
    ("OData.CSC.Intersects(area=geography'SRID=4326;Point(1 2)')",
     Call("OData.CSC.Intersects", (), (("area", Literal("Point(1 2)", "Edm.Geography", 4326)),))),
    ("OData.CSC.Intersects(area=geography'SRID=4326;linestring (1 2, 3 4)')",
     Call("OData.CSC.Intersects", (), (("area", Literal("linestring (1 2, 3 4)", "Edm.Geography", 4326)),))),
    ("OData.CSC.Intersects(area=geography'SRID=4326;MULTIPOINT((1 2),(3 4))')",
     Call("OData.CSC.Intersects", (), (("area", Literal("MULTIPOINT((1 2),(3 4))", "Edm.Geography", 4326)),))),
]


@pytest.mark.parametrize("text,expected", INTERSECTS, ids=range(len(INTERSECTS)))
def test_intersects_forms(text, expected):
    tree = parse_filter(text)
    assert tree == expected
    assert tree.named("AREA") == (expected.named_args[-1][1] if expected.named("area") else None)


# ---------------------------------------------------------------------------------------------
# other node kinds

OTHER = [
    ("ProductionType eq 'completed'", Compare("eq", P("ProductionType"), S("completed"))),
    ("Products/$count gt 0", Compare("gt", Path((Member("Products"), Count())), I(0))),
    ("endswith($it,'.com')", Call("endswith", (Path((Variable("$it"),)), S(".com")))),
    ("Name in ()", In(P("Name"), ())),
    ("Name in Names", In(P("Name"), (P("Names"),))),
    ("Name in ['a','b']", In(P("Name"), (S("a"), S("b")))),
    ("Name in @list", In(P("Name"), (ParameterAlias("list"),))),
    ("Title eq @title", Compare("eq", P("Title"), ParameterAlias("title"))),
    ("substring(Name,1,2) eq 'ab'", Compare("eq", Call("substring", (P("Name"), I(1), I(2))), S("ab"))),
    ("isof(Model.Manager)", Call("isof", (Path((Cast("Model.Manager"),)),))),
    ("Model.Manager/Budget gt 5", Compare("gt", Path((Cast("Model.Manager"), Member("Budget"))), I(5))),
    ("Products/Model.Best()/Name eq 'x'",
     Compare("eq", Path((Member("Products"), FunctionStep("Model.Best"), Member("Name"))), S("x"))),
    ('x eq ["a",1]', Compare("eq", P("x"), ListExpr((S("a"), I(1))))),
    ('x eq {"a":1}', Compare("eq", P("x"), ObjectExpr((("a", I(1)),)))),
]


@pytest.mark.parametrize("text,expected", OTHER, ids=[t for t, _ in OTHER])
def test_other_forms(text, expected):
    assert parse_filter(text) == expected


# ---------------------------------------------------------------------------------------------
# positions and equality

def test_positions():
    text = "Name eq 'x' and contains(Id,'y')"
    tree = parse_filter(text)
    first, second = tree.operands
    assert first.pos == 0 and first.right.pos == text.index("'x'")
    assert second.pos == text.index("contains") and second.args[1].pos == text.index("'y'")


def test_equality_ignores_positions_and_hashes():
    a = parse_filter("Name eq 'x'")
    b = parse_filter("  Name   EQ   'x'")
    assert a == b and hash(a) == hash(b) and a.left.pos != b.left.pos


def test_nodes_are_frozen():
    node = parse_filter("a eq 1")
    with pytest.raises(AttributeError):
        node.op = "ne"


# ---------------------------------------------------------------------------------------------
# $orderby

@pytest.mark.parametrize("text,expected", [
    ("Name", (OrderItem(P("Name")),)),
    ("PublicationDate desc,Name", (OrderItem(P("PublicationDate"), True), OrderItem(P("Name")))),
    ("ContentDate/Start ASC, Name DESC", (OrderItem(P("ContentDate", "Start")), OrderItem(P("Name"), True))),
    ("Name\tasc", (OrderItem(P("Name")),)),
    ("length(Name) desc", (OrderItem(Call("length", (P("Name"),)), True),)),
])
def test_orderby(text, expected):
    assert parse_orderby(text) == expected


@pytest.mark.parametrize("text", ["", "Name asc desc", "Name,", ",Name", "Name sideways"])
def test_orderby_errors(text):
    with pytest.raises(ODataSyntaxError) as info:
        parse_orderby(text)
    assert info.value.target == "$orderby"


# ---------------------------------------------------------------------------------------------
# errors: position, expected, caret

@pytest.mark.parametrize("text,position,expected", [
    ("contains(Name,'a' eq true", 25, "')'"),
    ("Name eq", 7, "an expression"),
    ("Name eq 'x' and", 15, "an expression"),
    ("(Name eq 'x'", 12, "')'"),
    ("Name eq 'x')", 11, None),
    ("Name # 'x'", 5, None),
    ("Attributes/any(a:a/Name eq 'x'", 30, "')'"),
    # only a single space stands for the offset's "+", and only right after the time
    ("X eq 2012-09-03T14:53  02:00", 23, "an operator"),
    ("X eq 2012-09-03 02:00", 16, "an operator"),
    ("X eq 2012-09-03T14:53 0200", 22, "an operator"),
])
def test_syntax_error_position_and_expected(text, position, expected):
    with pytest.raises(ODataSyntaxError) as info:
        parse_filter(text)
    err = info.value
    assert err.position == position, str(err)
    assert err.text == text and answer_of("prip", err.kind) == (400, "E7721") and err.target == "$filter"
    if expected:
        assert expected in err.expected, err.expected
    assert err.expected == sorted(err.expected)
    lines = str(err).splitlines()
    assert lines[0].startswith("Invalid query condition:") and f"column {position + 1}" in lines[0]
    assert lines[1] == "  " + text and lines[2] == "  " + " " * position + "^"


@pytest.mark.parametrize("text,fragment", [
    ("foo(Name)", "unknown function 'foo'"),
    ("contains(Name)", "contains() takes 2 arguments"),
    ("now(1)", "now() takes 0 arguments"),
    ("FirstName in (FirstName,LastName)", "only literals"),
    ("x eq 2019-02-31", "invalid date"),
    ("Products/$count/Name eq 1", "$count"),
])
def test_semantic_syntax_errors(text, fragment):
    with pytest.raises(ODataSyntaxError) as info:
        parse_filter(text)
    assert fragment in info.value.message


def test_no_lark_exception_escapes():
    import lark

    for text in ["a eq", "eq 1", "((", "'", "a/b/", "x eq duration'P1Y'", "\x00", "a eq 1 1"]:
        with pytest.raises(ODataError) as info:
            parse_filter(text)
        assert not isinstance(info.value, lark.exceptions.LarkError)
        assert info.value.__cause__ is None or not isinstance(info.value.__cause__, lark.exceptions.LarkError)


# ---------------------------------------------------------------------------------------------
# the parser object: built once, strict grammar, shared across threads

def test_parser_is_a_singleton():
    assert get_parser() is get_parser()


def test_grammar_builds_in_strict_mode():
    # strict=True turns shift/reduce conflicts and terminal collisions into errors (needs interegular)
    pytest.importorskip("interegular", reason="interegular is in the test extra of setup.py")
    parser = build_parser(strict=True)
    assert parser.parse("Name eq 'x'", start="filter") == parse_filter("Name eq 'x'")


def test_grammar_is_package_data():
    import importlib.resources

    text = importlib.resources.files("proseo_odata.grammars").joinpath("odata.lark").read_text(encoding="utf-8")
    assert "common_expr" in text and "first_member_expr" in text


THREAD_INPUTS = [t for t, _ in ATTRIBUTE_LAMBDAS + PRECEDENCE + INTERSECTS + OTHER] + [
    "Name eq 'x' and", "foo(1)", "contains(Name,'a' eq true"]


def _outcome(text):
    try:
        return ("ok", parse_filter(text))
    except ODataError as exc:
        return ("error", type(exc).__name__, exc.position if hasattr(exc, "position") else None, exc.message)


def test_parse_from_eight_threads_matches_single_threaded():
    expected = [_outcome(t) for t in THREAD_INPUTS]
    results = {}
    barrier = threading.Barrier(8)

    def work(n):
        barrier.wait()
        out = []
        for _ in range(5):
            out.append([_outcome(t) for t in THREAD_INPUTS])
        results[n] = out

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 8
    for runs in results.values():
        for run in runs:
            assert run == expected


# ---------------------------------------------------------------------------------------------
# the optional lark-cython extra (setup.py "fast"): the same grammar, the same trees

def _tree_or_error(parser, text, start="filter"):
    try:
        return ("tree", parser.parse(text, start=start))
    except Exception as exc:  # noqa: BLE001 - which one does not matter, that both refuse does
        return ("refused", type(exc).__name__ if not hasattr(exc, "orig_exc") else "semantic")


def test_lark_cython_builds_the_same_trees_as_lark():
    pytest.importorskip("lark_cython", reason="lark-cython (the 'fast' extra) is not installed")
    import random

    from tests.odata.test_bad_input import ALPHABET, VALID

    pure, cython = build_parser(cython=False), build_parser(cython=True)
    assert type(cython.parser.parser).__module__.startswith("lark_cython")
    assert not type(pure.parser.parser).__module__.startswith("lark_cython")
    texts = [t for t, _ in ATTRIBUTE_LAMBDAS + PRECEDENCE + INTERSECTS + OTHER] + list(VALID)
    rng = random.Random(11)
    for _ in range(300):  # mutated texts: some parse, most do not
        chars = list(rng.choice(texts))
        for _ in range(rng.randint(1, 4)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(ALPHABET))
        texts.append("".join(chars))
    trees = 0
    for text in texts:
        expected = _tree_or_error(pure, text)
        assert _tree_or_error(cython, text)[0] == expected[0], text
        if expected[0] == "tree":
            trees += 1
            assert cython.parse(text, start="filter") == expected[1], text
    assert trees > 50
    for text, value in LITERALS:
        assert cython.parse(text, start="primitive_literal_entry") == pure.parse(text, start="primitive_literal_entry")


def test_errors_are_lark_s_own_with_lark_cython_installed():
    # the default parser may be lark-cython's; a refused text is described by Lark's parser
    from proseo_odata.odata import parser as parser_module

    for text in ["Name eq", "contains(Name,'a' eq true", "Name eq 'x", "a eq 1 1"]:
        with pytest.raises(ODataError) as info:
            parse_filter(text)
        reference = parser_module.build_parser(cython=False)
        with pytest.raises(Exception) as lark_info:
            reference.parse(text, start="filter")
        expected = parser_module._translate(lark_info.value, text, "query condition", "$filter")
        assert (info.value.message, info.value.position) == (expected.message, expected.position)
