"""What an embedder's client can make the binder and the SQL compiler build from a short query:
bounded, and refused with an ODataError when too big (a second review of the embedding API,
2026-12-06). Before: an alias of aliases doubled the tree at each step (2**20 for 362
characters: 14 s; 2**40: hours), a chain of 3,000 aliases was a RecursionError, a substring
whose start is another substring's length tripled the SQL at each level (12 MB for 287
characters), a quoted duration past timedelta's range an OverflowError, an enumeration member
in arithmetic an AttributeError."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from proseo_odata.odata import ODataError, ODataLimitError, ODataTypeError
from proseo_odata.odata.binding import MAX_ALIAS_DEPTH, MAX_ALIAS_NODES, MAX_CAST_NODES, MAX_NESTED_SUBSTRINGS
from proseo_odata.odata.cache import FilterCache
from proseo_odata.query import build_query
from proseo_odata.storage.mapping import compile_filter
from proseo_odata.storage.schema import SchemaTables


def _query(params):
    return build_query("Products", params, cache=FilterCache())


def _doubling(n):
    return [("$filter", "@a0")] + [(f"@a{i}", f"@a{i + 1} or @a{i + 1}") for i in range(n)] + [(f"@a{n}", "Name eq 'x'")]


def test_aliases_of_aliases_are_bounded():
    # (2**40 expansions: refused when the nodes limit is reached, which bounds the work done first)
    with pytest.raises(ODataLimitError, match=f"{MAX_ALIAS_NODES:,} nodes"):
        _query(_doubling(40))
    assert _query(_doubling(8)).query.filter is not None  # 2**8 expansions of a small alias: fine


def test_a_list_alias_counts_each_time_an_in_names_it():
    """``in @l`` takes the list's items: named again and again it builds what the nodes limit
    bounds (100 references of 2,000 items: 200,000 list items, 2.4 s a request before)."""
    items = "[" + ",".join(str(n) for n in range(2000)) + "]"
    with pytest.raises(ODataLimitError, match=f"{MAX_ALIAS_NODES:,} nodes"):
        _query([("$filter", " or ".join(["ContentLength in @l"] * 100)), ("@l", items)])
    assert _query([("$filter", "ContentLength in @l or ContentLength in @m"), ("@l", items), ("@m", "@l")]).query.filter \
        is not None  # a few are fine, an alias of the list too


def test_mismatched_casts_in_nested_lambdas_are_bounded():
    """Each lambda with mismatched attribute casts binds its predicate once per type: nested,
    that multiplies (3 types, 12 levels: 3**12 lambdas from 1.6 KB)."""
    body = "a{d}/OData.CSC.IntegerAttribute/Value eq 1 and a{d}/OData.CSC.DoubleAttribute/Value eq 1"

    def nested(levels):
        text = "true"
        for d in range(levels):
            text = f"Attributes/OData.CSC.StringAttribute/any(a{d}: {body.format(d=d)} and {text})"
        return text

    # (refused when MAX_CAST_NODES is reached, which bounds the work done first)
    with pytest.raises(ODataLimitError, match=f"mismatched attribute casts expand to more than {MAX_CAST_NODES:,}"):
        _query([("$filter", nested(12))])
    assert _query([("$filter", nested(3))]).query.filter is not None


def test_a_chain_of_aliases_is_bounded_by_the_depth_limit():
    def chain(n):
        return [("$filter", "Name eq @a0")] + [(f"@a{i}", f"@a{i + 1}") for i in range(n)] + [(f"@a{n}", "'x'")]
    assert _query(chain(MAX_ALIAS_DEPTH - 2)).query.filter is not None
    for n in (MAX_ALIAS_DEPTH + 1, 3000):
        with pytest.raises(ODataLimitError, match="nested in each other"):
            _query(chain(n))


@pytest.mark.parametrize("text, error", [
    ("PublicationDate add 'P99999999999D' gt 2020-01-01T00:00:00Z", "out of range"),
    ("PublicationDate sub PublicationDate eq 'P" + "9" * 5000 + "D'", "out of range"),
    ("ContentLength add OData.CSC.ProductionType'systematic_production' eq 1", "not defined"),
    ("OData.CSC.ProductionType'systematic_production' mul ContentLength eq 1", "not defined"),
])
def test_literals_that_do_not_fit_are_type_errors(text, error):
    with pytest.raises(ODataTypeError, match=error):
        _query([("$filter", text)])


def _nested_substrings(n):
    return "substring(Name,length(" * n + "Name" + "))" * n + " eq 'x'"


@pytest.mark.parametrize("dialect, postgis", [(sqlite.dialect(), False), (postgresql.dialect(), True)])
def test_nested_substrings_with_computed_starts_are_bounded(dialect, postgis):
    tables = SchemaTables(dialect=dialect.name, postgis=postgis)

    def sql(text):
        clause = compile_filter("Products", _query([("$filter", text)]).query.filter, tables)
        return str(sa.select(tables.products.c.id).where(clause).compile(dialect=dialect))

    assert len(sql(_nested_substrings(MAX_NESTED_SUBSTRINGS))) < 1_000_000
    with pytest.raises(ODataLimitError, match=f"nested more than {MAX_NESTED_SUBSTRINGS} deep"):
        _query([("$filter", _nested_substrings(MAX_NESTED_SUBSTRINGS + 1))])
    # side by side they are no more than other calls, and literal arguments have no limit
    side_by_side = " or ".join(f"substring(Name,indexof(Name,'_') add {i},3) eq 'X{i}'" for i in range(40))
    assert len(sql(side_by_side)) < 100_000
    literal = "substring(" * 20 + "Name" + ",1,200)" * 10 + ",0)" * 10 + " eq 'x'"
    assert "substr" in sql(literal)


def test_nested_calls_with_overloads_bind_each_argument_once(monkeypatch):
    """year() takes a DateTimeOffset or a Date: each level bound its argument once per overload,
    so 18 levels of a wrong argument took 7 s (2**18 bindings), 30 would take hours. Counted, not
    timed: the expressions bound grow with the depth, not with 2 to its power."""
    from proseo_odata.odata import binding

    bound = []
    expr = binding._Binder.expr

    def counting(self, node, scope, hint=None):
        bound.append(node)
        return expr(self, node, scope, hint)

    monkeypatch.setattr(binding._Binder, "expr", counting)
    for depth in (10, 40):
        bound.clear()
        with pytest.raises(ODataTypeError):
            _query([("$filter", "year(" * depth + "Name" + ")" * depth + " eq 1")])
        assert 0 < len(bound) <= 4 * depth + 10, (depth, len(bound))


@pytest.mark.parametrize("text, error", [
    ("PublicationDate lt now() add duration'P9999999D'", "out of range"),  # past year 9999
    ("PublicationDate gt now() sub duration'P9999999D'", "out of range"),  # before year 1
    ("PublicationDate lt (2020-01-01T00:00:00Z add duration'P3000000D') add duration'P1D'", "out of range"),
    ("ContentLength lt 9223372036854775807 add 1", "Edm.Int64"),
    ("ContentLength lt (4611686018427387904 mul 2) sub 1", "Edm.Int64"),
    ("ContentLength lt -(-9223372036854775807 sub 1)", "Edm.Int64"),  # a negation of constants
    ("PublicationDate lt now() sub -duration'P9999999D'", "out of range"),
])
def test_constant_arithmetic_out_of_range_is_refused_by_both_compilers(text, error):
    """Arithmetic of constants is computed when a filter is compiled, by the SQL compiler and by
    the Python predicate alike (proseo_odata.odata.predicate.fold_arith): out of range, both
    refuse it (a subscription's FilterParam was accepted and then matched nothing)."""
    from proseo_odata.odata.predicate import compile_predicate

    bound = _query([("$filter", text)]).query.filter
    with pytest.raises(ODataTypeError, match=error):
        compile_filter("Products", bound, SchemaTables(dialect="sqlite", postgis=False))
    with pytest.raises(ODataTypeError, match=error):
        compile_predicate(bound)
