"""The SQL compiler's fast construction (proseo_odata/odata/sql.py, "the compiler") builds the
same SQL as SQLAlchemy's operator API: every filter of the equivalence table and of the
benchmark, bound to its entity type, compiled both ways, on PostgreSQL (with and without
PostGIS) and SQLite, compared after naming bound parameters by their values."""
import datetime
import importlib.util
import pathlib
import re

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from proseo_odata.odata import edm, sql
from proseo_odata.odata.binding import bind_filter
from proseo_odata.odata.errors import ODataError
from proseo_odata.odata.parser import parse_filter
from proseo_odata.storage.mapping import compile_filter
from proseo_odata.storage.schema import SchemaTables

from test_equivalence import FILTERS

_spec = importlib.util.spec_from_file_location(
    "_bench_main", pathlib.Path(__file__).resolve().parents[2] / "bench" / "__main__.py")
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
QUERIES = _bench.QUERIES

EXTRA = [
    "Attributes/OData.CSC.IntegerAttribute/any(a:a/Name eq 'x' and a/Value eq 1) and "
    "Attributes/OData.CSC.IntegerAttribute/any(a:a/Name eq 'y' and a/Value ne 2) and Online and not (Name eq 'a')",
    "Attributes/all(a:a/Name ne 'x') and not Attributes/any() and Checksum/any(c:c/Value eq 'x' and c/ChecksumDate gt 2020-01-01)",
    "ContentLength ne 3 and not (ContentDate/Start eq null) and ContentDate/End ne null and (Online eq false or Online ne true)",
    "Name in ('a', 'b', null) or ContentLength in (1, 2) or ContentLength add 1 gt 2 or length(Name) eq 3",
]
CORPUS = FILTERS + EXTRA + [q.replace("{n}", "7") for q in QUERIES]
NOW = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)
CONFIGS = [(postgresql.dialect(), "postgresql", True), (postgresql.dialect(), "postgresql", False),
           (sqlite.dialect(), "sqlite", False)]


def _rendered(clause, dialect):
    """The SQL with every parameter replaced by its value, in order of appearance."""
    compiled = clause.compile(dialect=dialect)
    params = compiled.params
    if dialect.name == "sqlite":
        values = iter([params[name] for name in compiled.positiontup])
        return re.sub(r"\?", lambda _m: f"<{next(values)!r}>", str(compiled))
    return re.sub(r"%\((\w+)\)s|__\[POSTCOMPILE_(\w+)\]",
                  lambda m: f"<{params[m.group(1) or m.group(2)]!r}>", str(compiled))


def _compiled(bound, tables, dialect):
    try:
        return _rendered(compile_filter("Products", bound, tables, now=NOW), dialect)
    except ODataError as exc:  # e.g. Intersects without PostGIS: the same error both ways
        return f"{type(exc).__name__}: {exc}"


def _reference_mode(monkeypatch):
    monkeypatch.setattr(sql, "_FAST", False)
    monkeypatch.setattr(sql, "_FAST_FUNCTIONS", False)
    monkeypatch.setattr(sql, "_FAST_VALUE_TYPES", frozenset())


@pytest.mark.parametrize("dialect, name, postgis", CONFIGS, ids=["postgis", "postgresql", "sqlite"])
def test_fast_construction_renders_the_operator_apis_sql(monkeypatch, dialect, name, postgis):
    tables = SchemaTables(dialect=name, postgis=postgis)
    bound = [bind_filter(parse_filter(text), edm.PRODUCT) for text in CORPUS]
    fast = [_compiled(b, tables, dialect) for b in bound]
    assert sql._FAST and sql._FAST_FUNCTIONS  # the import-time checks passed: the fast paths run
    with monkeypatch.context() as m:
        _reference_mode(m)
        reference = [_compiled(b, tables, dialect) for b in bound]
    assert len(CORPUS) > 150
    assert sum("<" in text for text in fast) > 140
    for text, a, b in zip(CORPUS, fast, reference):
        assert a == b, text


def test_the_reference_mode_really_uses_the_operator_api(monkeypatch):
    """The comparison above would prove nothing if both modes ran the same code."""
    calls = []
    original = sa.and_

    def counting_and(*clauses):
        calls.append(len(clauses))
        return original(*clauses)

    monkeypatch.setattr(sql.sa, "and_", counting_and)
    tables = SchemaTables(dialect="sqlite", postgis=False)
    bound = bind_filter(parse_filter("ContentLength gt 1 and Name eq 'x'"), edm.PRODUCT)
    compile_filter("Products", bound, tables)
    assert calls == []
    _reference_mode(monkeypatch)
    compile_filter("Products", bound, tables)
    assert calls


def test_literals_stay_bound_parameters():
    tables = SchemaTables(dialect="postgresql", postgis=True)
    for text in CORPUS:
        compiled = compile_filter("Products", bind_filter(parse_filter(text), edm.PRODUCT), tables).compile(
            dialect=postgresql.dialect())
        assert "S2MSI1C7" not in str(compiled)
        assert "'productType'" not in str(compiled)


def test_a_column_type_the_fast_path_does_not_know_is_compared_by_the_operator_api():
    class Shouting(sa.types.TypeDecorator):
        impl = sa.String
        cache_ok = True

        class comparator_factory(sa.String.Comparator):
            def __eq__(self, other):
                return sa.func.upper(self.expr) == sa.func.upper(sa.literal(other))

    table = sa.Table("t", sa.MetaData(), sa.Column("name", Shouting()))
    clause = sql.compile_filter_sql(bind_filter(parse_filter("Name eq 'x'"), edm.PRODUCT),
                                    sql.EntityMapping({"Name": table.c.name}))
    assert "upper(" in str(clause)
    again = sql.compile_filter_sql(bind_filter(parse_filter("Name eq 'y'"), edm.PRODUCT),
                                   sql.EntityMapping({"Name": table.c.name}))
    assert "upper(" in str(again)
