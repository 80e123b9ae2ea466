"""``matchesPattern`` in time linear in the text (RE2, proseo_odata.odata.regex).

With Python's ``re`` the pattern below backtracks exponentially in the length of a name that
does not end with ``!``: seconds for 24 characters, for ever for a product's whole name, all the
while holding the interpreter's lock (one ``GET`` stopped every thread of the server). Each
evaluation runs in a child process that is stopped after a bound far above what RE2 needs, so a
regression fails instead of hanging the suite.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from proseo_odata.odata import edm
from proseo_odata.odata.binding import bind_filter
from proseo_odata.odata.errors import ODataError
from proseo_odata.odata.parser import parse_filter
from proseo_odata.odata.regex import PatternError, matches

CATASTROPHIC = r"^(\w+_?)*!"
NAME = "S2B_MSIL1C_20231001T101010_N0509_R022_T32TQM_20231001T120000_aaaaaaaa.SAFE"
BOUND_SECONDS = 60


def _run(script: str) -> str:
    try:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                              timeout=BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"matchesPattern({CATASTROPHIC!r}) did not finish in {BOUND_SECONDS} s: it backtracks")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_python_predicate_answers_a_backtracking_pattern():
    out = _run(f"""
        from proseo_odata.odata import edm
        from proseo_odata.odata.binding import bind_filter
        from proseo_odata.odata.parser import parse_filter
        from proseo_odata.odata.predicate import compile_predicate

        def check(pattern):
            bound = bind_filter(parse_filter("matchesPattern(Name,'" + pattern + "')"), edm.PRODUCT)
            return compile_predicate(bound)({{"Name": {NAME!r}}})

        print(check({CATASTROPHIC!r}), check(r"^(\\w+_?)*\\.SAFE$"))
    """)
    assert out == "False True"


def test_sqlite_answers_a_backtracking_pattern(tmp_path):
    out = _run(f"""
        from proseo_odata.model import Mission
        from proseo_odata.query import build_query
        from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
        from proseo_odata.storage.testing import make_product

        storage = SQLAlchemyStorage.from_url("sqlite:///{tmp_path / 'rx.sqlite'}")
        storage.initialize_schema()
        storage.add_mission(Mission("M1", "Mission one"))
        storage.add_product(make_product(name={NAME!r}))

        def found(pattern):
            query = build_query("Products", {{"$filter": "matchesPattern(Name,'" + pattern + "')"}}).query
            return len(storage.query_products("M1", query).items)

        print(found({CATASTROPHIC!r}), found(r"^(\\w+_?)*\\.SAFE$"), found("(?i)^s2b_msil1c"))
        storage.close()
    """)
    assert out == "0 1 1"


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=S2B)", "(?<!x)S", "[", "a{1001}"])
def test_what_re2_cannot_compile_is_refused_when_bound(pattern):
    with pytest.raises(PatternError):
        matches("S2B", pattern)
    with pytest.raises(ODataError, match="not a valid regular expression"):
        bind_filter(parse_filter(f"matchesPattern(Name,'{pattern}')"), edm.PRODUCT)


def test_a_pattern_that_is_not_unicode_is_a_pattern_error():
    """An embedder's pattern with a lone surrogate (parse_filter refuses one in the text itself)."""
    with pytest.raises(PatternError, match="not valid Unicode"):
        matches("S2B", "\ud800")
