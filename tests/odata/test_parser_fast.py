"""The parser's fast path (hand-written recursive descent) against Lark, the reference.

``parse_filter``/``parse_orderby``/``parse_literal`` first try the fast path and fall back to the
Lark LALR parser when it gives up (``_Bail``). The fast path may give up on anything, but when it
answers, its tree must be exactly Lark's: same nodes, same values and value types, same
positions. These tests check that on every string in the parser test modules, on the conformance
inputs, on seeded generated expressions (keywords as names, odd casing and spacing, all literal
forms) and on seeded mutations of all of those; and that the typical client filters of contract
section 6 do take the fast path (else the speed-up is lost silently).
"""
from __future__ import annotations

import ast as pyast
import dataclasses
import json
import pathlib
import random
import urllib.parse

import pytest
from lark.exceptions import LarkError

from proseo_odata.odata import ODataError, ast, parse_filter, parse_literal, parse_orderby
from proseo_odata.odata import parser as parser_module
from proseo_odata.odata.parser import _Bail, _fast_parse, _SemanticError, get_parser

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
STARTS = ("filter", "orderby", "primitive_literal_entry")


def deep(value):
    """A comparable form of a tree that includes positions and Python value types."""
    if isinstance(value, ast.Node):
        return (type(value).__name__, value.pos,
                tuple(deep(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "pos"))
    if type(value) is tuple:
        return tuple(deep(v) for v in value)
    return (type(value).__name__, repr(value))


def lark_outcome(text, start):
    try:
        return ("ok", deep(get_parser().parse(text, start=start)))
    except (LarkError, _SemanticError) as exc:
        return ("error", type(exc).__name__)
    except RecursionError:
        return ("error", "RecursionError")


def fast_outcome(text, start):
    try:
        return ("ok", deep(_fast_parse(text, start)))
    except _Bail:
        return None


def check(text, start):
    """True when the fast path answered (and agreed with Lark); False when it gave up."""
    fast = fast_outcome(text, start)
    if fast is None:
        return False
    assert lark_outcome(text, start) == fast, (start, text)
    return True


# ---------------------------------------------------------------------------------------------
# corpora

def _test_module_strings():
    out = set()
    for path in sorted(HERE.glob("test_*.py")):
        if path.name == pathlib.Path(__file__).name:
            continue
        tree = pyast.parse(path.read_text(encoding="utf-8"))
        for node in pyast.walk(tree):
            if isinstance(node, pyast.Constant) and type(node.value) is str and 0 < len(node.value) < 2000:
                out.add(node.value)
    return sorted(out)


def _conformance_strings():
    out = set()
    # The vendored conformance data (tests/data/odata-conformance); a missing file is an error.
    for name in ("odata_abnf_cases.json", "odata_query_cases.json"):
        path = REPO / "tests" / "data" / "odata-conformance" / name
        for case in json.loads(path.read_text(encoding="utf-8")):
            text = case.get("input")
            if isinstance(text, str):
                out.add(text)
                try:
                    out.add(urllib.parse.unquote(text))
                except Exception:  # noqa: BLE001 - odd escapes stay as they are
                    pass
    return sorted(out)


NAMES = ["Name", "att", "Value", "a", "b", "x1", "_p", "Ö", "Online", "not", "and", "eq", "any", "all", "in",
         "true", "True", "null", "INF", "NaN", "nan", "duration", "geography", "asc", "desc", "Add", "divby", "it",
         "orx", "notx", "has", "mod", "inner"]
QNAMES = ["OData.CSC.StringAttribute", "Ns.T", "OData.CSC.Intersects", "true.x", "any.b", "INF.x", "a.b.c",
          "not.x"]
LITERALS = ["'s'", "'it''s'", "''", "12", "0", "-3", "+4", "1.5", "-1.5e3", "1E5", "INF", "-INF", "NaN", "-NaN",
            "true", "FALSE", "null", "Null", "01234567-89ab-cdef-0123-456789ABCDEF", "2020-01-01", "-2020-01-01",
            "2020-01-01T10:00:00Z", "2020-01-01T10:00:00.1234567+02:00", "2021-05-20T19:08:07.654Z",
            "2020-01-01t10:00", "2019-02-31", "12:30", "12:30:15.5", "25:00", "duration'P1DT2H'",
            "DURATION'-P1D'", "duration'P1Y'", "binary'AQID'", "binary'!!'",
            "geography'SRID=4326;POINT(1 2)'", "Geography'SRID=4326;Polygon ((0 0,1 1,1 0,0 0))'",
            "geometry'POLYGON((0 0,1 1,1 0,0 0))'", "geography'nonsense'", "OData.CSC.T'x'", "Ns.E'a''b'",
            "@p", "$it", "$IT", "$root/Name", "$this", "[1,2]", '{"a":1}', '["x"]', "1.", ".5", "12:3"]
COMPARISONS = ["eq", "ne", "gt", "ge", "lt", "le", "EQ", "Ge"]
ARITH = ["add", "sub", "mul", "div", "divby", "mod", "ADD", "DivBy"]
FUNCTIONS = ["contains", "startswith", "endswith", "length", "tolower", "concat", "substring", "year", "now",
             "CONTAINS", "matchesPattern", "foo", "isof", "cast", "geo.distance"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def sp(self):
        return self.r.choice(["", " ", " ", " ", "  ", "\t", "\n", "\x0b"]) if self.r.random() < 0.3 else " "

    def op(self, word):
        r = self.r.random()
        if r < 0.1:
            return word.upper()
        if r < 0.15:
            return word.capitalize()
        return word

    def name(self):
        return self.r.choice(NAMES) if self.r.random() < 0.85 else self.r.choice(QNAMES)

    def path(self, depth):
        r = self.r
        first = r.choice(["name", "name", "name", "cast", "var"])
        if first == "cast":
            parts = [r.choice(QNAMES), self.name()]
        elif first == "var":
            parts = [r.choice(["$it", "$this", "$root", "$It"])]
        else:
            parts = [self.name()]
        for _ in range(r.choice([0, 0, 1, 1, 2, 3])):
            k = r.random()
            if k < 0.55:
                parts.append(self.name())
            elif k < 0.8:
                parts.append(r.choice(QNAMES))
            elif k < 0.9:
                parts.append(r.choice(["$count", "$Count", "$counts"]))
            else:
                parts.append(self.name() + "(" + self.args(depth) + ")")
        sep = "/" if r.random() < 0.9 else r.choice([" / ", "/ ", " /"])
        return sep.join(parts)

    def args(self, depth):
        r = self.r
        items = []
        for _ in range(r.choice([0, 1, 2, 2, 3])):
            k = r.random()
            if k < 0.15:
                items.append(self.name() + self.sp() + "=" + self.sp() + self.expr(depth + 1))
            elif k < 0.25:
                items.append(r.choice(QNAMES))
            else:
                items.append(self.expr(depth + 1))
        return ("," + self.sp()).join(items)

    def primary(self, depth):
        r = self.r
        k = r.random()
        if depth > 4 or k < 0.3:
            return r.choice(LITERALS)
        if k < 0.55:
            return self.path(depth)
        if k < 0.7:
            return self.op(r.choice(FUNCTIONS)) + self.sp() + "(" + self.args(depth) + ")"
        if k < 0.78:
            kind = self.op(r.choice(["any", "all"]))
            if r.random() < 0.15:
                return self.path(depth) + "/" + kind + "()"
            var = r.choice(["att", "i0", "x", "not", "any", "Ns.T", "$it"])
            return (self.path(depth) + "/" + kind + self.sp() + "(" + var + self.sp() + ":" + self.sp()
                    + self.expr(depth + 1) + ")")
        if k < 0.86:
            return "(" + self.sp() + self.expr(depth + 1) + self.sp() + ")"
        if k < 0.93:
            return "-" + self.sp() + self.primary(depth + 1)
        return "OData.CSC.Intersects(" + r.choice(["area", "Footprint", "location=Footprint,area"]) + "=" + r.choice(
            LITERALS[-20:]) + ")"

    def expr(self, depth=0):
        r = self.r
        k = r.random()
        if depth > 5 or k < 0.25:
            return self.primary(depth)
        if k < 0.45:
            return self.expr(depth + 1) + self.sp() + self.op(r.choice(COMPARISONS)) + self.sp() + self.expr(depth + 1)
        if k < 0.6:
            return (self.expr(depth + 1) + self.sp() + self.op(r.choice(["and", "or"])) + self.sp()
                    + self.expr(depth + 1))
        if k < 0.68:
            return self.op("not") + self.sp() + self.expr(depth + 1)
        if k < 0.78:
            return self.expr(depth + 1) + self.sp() + self.op(r.choice(ARITH)) + self.sp() + self.expr(depth + 1)
        if k < 0.9:
            target = r.choice(["(" + ",".join(r.choice(LITERALS) for _ in range(r.choice([0, 1, 2, 3]))) + ")",
                               "(" + self.path(depth) + ")", self.path(depth), "@p", "[1,2]", "(a, b)"])
            return self.expr(depth + 1) + self.sp() + self.op("in") + self.sp() + target
        return self.expr(depth + 1) + self.sp() + self.op("has") + self.sp() + r.choice(LITERALS + NAMES)

    def orderby(self):
        items = []
        for _ in range(self.r.choice([1, 1, 2, 3])):
            items.append(self.expr(3) + self.r.choice(["", " asc", " desc", " DESC", " Asc", "  desc", " descx"]))
        return ("," + self.sp()).join(items)


def mutate(r, text):
    if not text:
        return text
    i = r.randrange(len(text) + 1)
    k = r.random()
    if k < 0.3:
        return text[:i] + text[i + 1:]
    if k < 0.6:
        return text[:i] + r.choice(["(", ")", "'", " ", "/", ",", "-", ":", "=", "a", "1", ".", "$", "@", "e",
                                    " and ", " eq ", "not ", " in "]) + text[i:]
    if k < 0.8:
        j = r.randrange(len(text) + 1)
        i, j = min(i, j), max(i, j)
        return text[:i] + text[j:]
    return text.swapcase()


# ---------------------------------------------------------------------------------------------
# the tests

def test_fast_path_agrees_on_test_module_strings():
    strings = _test_module_strings()
    answered = 0
    for text in strings:
        for start in STARTS:
            answered += check(text, start)
    assert answered > 150  # the fast path really ran on the test tables


def test_fast_path_agrees_on_conformance_inputs():
    strings = _conformance_strings()
    if not strings:
        pytest.skip("conformance data not found beside the repository")
    for text in strings:
        for start in STARTS:
            check(text, start)


@pytest.mark.parametrize("seed", range(4))
def test_fast_path_agrees_on_generated_filters(seed):
    gen = Gen(seed)
    answered = 0
    total = 1500
    for _ in range(total):
        text = gen.expr()
        answered += check(text, "filter")
        check(mutate(gen.r, text), "filter")
    for _ in range(300):
        check(gen.orderby(), "orderby")
    for lit in LITERALS:
        check(lit, "primitive_literal_entry")
        check(" " + lit + " ", "primitive_literal_entry")
    assert answered > total // 10  # generated texts are valid often enough to exercise the fast path


def test_fast_path_agrees_on_mutated_test_strings():
    r = random.Random(7)
    strings = [s for s in _test_module_strings() + _conformance_strings() if len(s) < 400]
    for text in strings:
        for _ in range(2):
            check(mutate(r, text), "filter")


# The client filters of contract section 6 must not fall back to Lark (they would still be right,
# only slower).
CLIENT_FILTERS = [
    "Online eq true",
    "contains(Name,'S2A_MSIL1C') and not contains(Name,'_AUX_')",
    "startswith(Name,'S1A_IW_GRDH') or endswith(Name,'.zip')",
    "contains(Name,'_AUX_') or contains(Name,'_AX_') and PublicationDate gt 2019-05-15T00:00:00.000Z",
    "ContentDate/Start gt 2022-05-03T00:00:00.000Z and ContentDate/End lt 2022-05-03T12:00:00.000Z",
    "ContentDate/Start lt '2020-01-12T00:00:00.000000Z'",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
    "att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
    "att/OData.CSC.StringAttribute/Value in ('A','B'))",
    "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
    "att/OData.CSC.DoubleAttribute/Value le 40.0)",
    "Attributes/OData.CSC.DateTimeOffsetAttribute/any(att:att/Name eq 'processingDate' and "
    "att/OData.CSC.DateTimeOffsetAttribute/Value ge 2021-05-20T19:08:07.654Z)",
    "Attributes/any(i0:i0/Name eq 'productType' and i0/Value eq 'RAW')",
    "Attributes/OData.CSC.StringAttribute/all(att:att/Value ne 'x')",
    "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((-127.89734578345 45.234534534,"
    "-127.89734578345 45.234534534))')",
    "OData.CSC.Intersects(location=Footprint,area=geography'SRID=4326;MULTIPOLYGON(((0 0,1 1,1 0,0 0)))')",
    "InputProductReference/any(att:att/Reference eq 'S2B_OPER_MSI_L0__GR')",
    "WorkflowOptions/any(att:att/Name eq 'x' and att/OData.CSC.StringAttribute/Value eq 'y') and "
    "OrderOutputSize eq '1024'",
    "ProductionType eq OData.CSC.ProductionType'systematic_production'",
    "Id eq 01234567-89ab-cdef-0123-456789abcdef or Size sub 1 gt -2 mul 3",
]


@pytest.mark.parametrize("text", CLIENT_FILTERS)
def test_client_filters_take_the_fast_path(text):
    assert check(text, "filter"), text
    assert parse_filter(text) == get_parser().parse(text, start="filter")


def test_orderby_and_literals_take_the_fast_path():
    assert check("PublicationDate desc, Name", "orderby")
    assert check("ContentDate/Start ASC", "orderby")
    for lit in ("'x'", "1024", "2020-01-12T00:00:00.000000Z", "-1.5", "true", "null", "duration'P1D'"):
        assert check(lit, "primitive_literal_entry"), lit


def _public_outcome(fn, text):
    try:
        return ("ok", deep(fn(text)))
    except ODataError as exc:
        return ("error", type(exc).__name__, exc.message, getattr(exc, "position", None),
                getattr(exc, "expected", None), str(exc))


def test_public_functions_answer_the_same_with_and_without_the_fast_path(monkeypatch):
    r = random.Random(11)
    texts = [s for s in _test_module_strings() if len(s) < 400]
    texts += [mutate(r, t) for t in texts]
    functions = [parse_filter, parse_orderby, parse_literal, lambda t: parse_literal(t, "Edm.Int64"),
                 lambda t: parse_filter(t, max_depth=5)]
    with_fast = [[_public_outcome(fn, t) for fn in functions] for t in texts]
    monkeypatch.setattr(parser_module, "_FAST_PATH", False)
    without = [[_public_outcome(fn, t) for fn in functions] for t in texts]
    for text, a, b in zip(texts, with_fast, without):
        assert a == b, text


def test_deep_trees_from_the_fast_path_are_still_limited():
    from proseo_odata.odata import ODataLimitError

    chain = " add ".join(["1"] * 60)  # a left-nested Arith chain 59 levels deep, no brackets
    assert _fast_parse(chain, "filter") is not None
    with pytest.raises(ODataLimitError):
        parse_filter(chain, max_depth=30)
    assert parse_filter(chain, max_depth=100) == get_parser().parse(chain, start="filter")


def _height(node):
    if isinstance(node, ast.Node):
        return 1 + max([_height(c) for c in node.children()], default=0)
    return max([_height(c) for c in node], default=0)  # the orderby tuple


@pytest.mark.parametrize("seed", range(2))
def test_fast_path_trees_are_at_most_tokens_plus_two_deep(seed):
    # _parse skips the depth walk for fast-path trees when (tokens + 2) <= max_depth
    gen = Gen(100 + seed)
    checked = 0
    for _ in range(1500):
        for start, text in (("filter", gen.expr()), ("orderby", gen.orderby())):
            try:
                tree, size = parser_module._fast_parse_sized(text, start)
            except _Bail:
                continue
            checked += 1
            assert _height(tree) <= size + 1, text
    assert checked > 100


def test_cached_lark_build_parses_like_a_fresh_one():
    pytest.importorskip("interegular", reason="strict builds need interegular (test extra)")
    cached = parser_module.build_parser()
    cached_again = parser_module.build_parser()  # the second one certainly loads the cache file
    fresh = parser_module.build_parser(strict=True)
    texts = [t for t in CLIENT_FILTERS] + ["Name eq 'x' and", "foo(1)", "contains(Name,'a' eq true", "a in [1,2]",
                                           "x/any(not:not/a eq 1)", "2019-02-31 eq a"]

    def outcome(parser, text):
        try:
            return ("ok", deep(parser.parse(text, start="filter")))
        except (LarkError, _SemanticError) as exc:
            return ("error", type(exc).__name__, getattr(exc, "pos_in_stream", getattr(exc, "pos", None)),
                    sorted(getattr(exc, "expected", None) or ()), getattr(exc, "message", None))

    for text in texts:
        assert outcome(cached, text) == outcome(fresh, text) == outcome(cached_again, text), text
