"""Hostile and broken input: size and depth limits, and seeded random garbage.

Whatever a client sends, the parser answers with an ODataError (never RecursionError, a Lark
exception or a hang). Timing is bounded by running each parse in a worker thread with a timeout,
not by asserting on speed.
"""
from __future__ import annotations

import concurrent.futures
import random

import pytest

from proseo_odata.odata import ODataError, ODataLimitError, ODataSyntaxError, parse_filter, parse_orderby, parse_query_options
from proseo_odata_web.errors import answer_of

TIMEOUT = 20  # seconds; a parse that takes longer counts as a hang

_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1)


def run_bounded(fn, *args):
    """Run fn(*args) in a worker thread; fail the test if it does not finish within TIMEOUT."""
    future = _POOL.submit(fn, *args)
    try:
        return future.result(timeout=TIMEOUT)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"{fn.__name__} did not finish within {TIMEOUT}s")


def _outcome(fn, text):
    try:
        fn(text)
        return None
    except ODataError as exc:
        return exc


HUGE = [
    ("100 KB filter", "Name eq '" + "x" * 100_000 + "'"),
    ("100 KB of ors", " or ".join(["Name eq 'x'"] * 9000)),
    ("1000 nested parentheses", "(" * 1000 + "Name eq 'x'" + ")" * 1000),
    ("1000 nested unclosed", "(" * 1000),
    ("1000 nested calls", "tolower(" * 1000 + "Name" + ")" * 1000 + " eq 'x'"),
    ("1000 nested lambdas", "".join(f"A{i}/any(v{i}:" for i in range(1000)) + "true" + ")" * 1000),
    ("1000 nested arrays", "x eq " + "[" * 1000 + "]" * 1000),
]


@pytest.mark.parametrize("label,text", HUGE, ids=[h[0] for h in HUGE])
def test_huge_or_deep_input_is_rejected_quickly(label, text):
    err = run_bounded(_outcome, parse_filter, text)
    assert isinstance(err, ODataLimitError), err
    assert answer_of("prip", err.kind)[0] == 400 and err.target == "$filter"
    assert "at most" in err.message or "deep" in err.message


@pytest.mark.parametrize("text", [
    "- " * 1000 + "x eq 1",
    "not " * 1000 + "true",
    " add ".join(["1"] * 1000) + " eq 1",
    "x eq " + " eq ".join(["1"] * 500),
])
def test_deep_trees_without_parentheses_are_rejected(text):
    err = run_bounded(_outcome, parse_filter, text)
    assert isinstance(err, ODataLimitError), err
    assert "levels deep" in err.message


def test_limits_are_configurable():
    text = "(" * 5 + "a eq 1" + ")" * 5
    assert parse_filter(text, max_depth=6)
    with pytest.raises(ODataLimitError):
        parse_filter(text, max_depth=4)
    with pytest.raises(ODataLimitError):
        parse_filter("a eq 'xxxxxxxx'", max_length=10)


def test_accepted_depth_is_safe_for_recursive_visitors():
    # the deepest tree the default limit lets through must be walkable recursively
    text = "(" * 99 + "a eq 1" + ")" * 99
    tree = parse_filter(text)

    def depth(node):
        return 1 + max((depth(c) for c in node.children()), default=0)

    assert depth(tree) >= 2


def test_limits_apply_to_orderby_and_options():
    with pytest.raises(ODataLimitError):
        parse_orderby("(" * 500 + "Name" + ")" * 500)
    with pytest.raises(ODataLimitError) as info:
        parse_query_options({"$filter": "(" * 500 + "a eq 1" + ")" * 500})
    assert info.value.target == "$filter"


VALID = [
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')",
    "contains(Name,'_AUX_') or contains(Name,'_AX_') and ContentDate/Start gt 2020-01-01T00:00:00.000Z",
    "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((1 2,3 4,5 6,1 2))')",
    "Name in ('a','b') and not (Online eq false) and ContentLength add 2 mul 3 ge -5.5",
    "ProductionType eq OData.CSC.ProductionType'on-demand:default' and Id eq 01234567-89ab-cdef-0123-456789abcdef",
]
ALPHABET = "()[]{}'\",/:=@$-+ .0123456789abcdefghijklmnopqrstuvwxyzEQNOTANDOR\t\x00é"


def _mutations(seed, count):
    rng = random.Random(seed)
    for _ in range(count):
        text = list(rng.choice(VALID))
        for _ in range(rng.randint(1, 6)):
            op = rng.randrange(4)
            i = rng.randrange(len(text) + 1)
            if op == 0 and text:
                del text[min(i, len(text) - 1)]
            elif op == 1:
                text.insert(i, rng.choice(ALPHABET))
            elif op == 2 and text:
                j = min(len(text), i + rng.randint(1, 10))
                text[i:j] = []
            else:
                text[i:i] = list(rng.choice(VALID)[: rng.randint(1, 20)])
        yield "".join(text)
    for _ in range(count // 2):
        yield "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 60)))


def _fuzz(seed):
    failures = []
    for text in _mutations(seed, 400):
        for fn in (parse_filter, parse_orderby):
            try:
                fn(text)
            except ODataError:
                pass
            except Exception as exc:  # noqa: BLE001 - this is what the test looks for
                failures.append((fn.__name__, text, repr(exc)))
    return failures


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzzed_input_only_raises_odata_errors(seed):
    failures = run_bounded(_fuzz, seed)
    assert failures == []


@pytest.mark.parametrize("text, position", [
    ("Name eq 'abc", 8),
    ("contains(Name,'S2A_) and Online eq true", 14),
    ("Name eq 'a' and Name eq 'b", 24),
])
def test_unterminated_string_is_named_as_such(text, position):
    with pytest.raises(ODataSyntaxError) as info:
        parse_filter(text)
    assert info.value.position == position
    assert "unterminated string literal" in str(info.value)


@pytest.mark.parametrize("text", ["Name eq 'a\x00b'", "Name eq '\ud800'", "Genre eq '\udc80' or true"])
def test_a_nul_or_a_lone_surrogate_is_a_syntax_error_that_can_be_written_out(text):
    """PostgreSQL's text holds no NUL (psycopg refused it: a driver error, a 500), and a lone
    surrogate is no UTF-8 (UnicodeEncodeError wherever it went, the error's own text too)."""
    with pytest.raises(ODataSyntaxError) as info:
        parse_filter(text)
    assert "NUL character or a lone surrogate" in info.value.message
    str(info.value).encode("utf-8")
    info.value.message.encode("utf-8")
