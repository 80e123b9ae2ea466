"""``$count`` at catalogue scale: exact up to a bound, the planner's estimate above it (issue 12
item 2).

Counting a million index entries costs a few hundred milliseconds however the index is built, so
on PostgreSQL the SQLAlchemy backend counts with a bound ``N`` (``proseo.count.exact_limit``,
:data:`proseo_odata.config.DEFAULT_COUNT_EXACT_LIMIT`):

1. ``SELECT count(*) FROM (SELECT 1 FROM t WHERE <conditions> LIMIT N + 1)``: any count up to
   ``N`` is exact, and the walk stops after ``N + 1`` rows whatever the total.
2. Only when the walk reaches ``N + 1``: ``EXPLAIN (FORMAT JSON)`` of ``SELECT 1 FROM t WHERE
   <conditions>`` (the same conditions and bound parameters, compiled by SQLAlchemy like any
   statement) and the planner's row estimate of it, at least ``N + 1``. Planning costs well under
   a millisecond; its estimate comes from the table statistics ANALYZE (autovacuum) keeps.

So a count is exact up to ``N`` and an estimate of at least ``N + 1`` above it. SQLite has no
estimate to offer and always counts exactly; ``N`` = ``None`` (setting ``0`` or ``none``)
counts exactly on PostgreSQL too.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

__all__ = ["count_rows"]


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>``: the statement is compiled by the same compiler, so
    its bound parameters stay parameters (SQLAlchemy's documented custom-construct API)."""

    inherit_cache = False  # the wrapped statement's own cache key is not part of this one

    def __init__(self, statement):
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element, compiler, **kw):
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def count_rows(session, execute: Callable[[Any, Any], Any], table: sa.Table, conditions: Sequence,
               exact_limit: Optional[int]) -> tuple[int, bool]:
    """``(count, exact)``: the number of rows of ``table`` matching ``conditions``, each statement
    run through ``execute(session, statement)``. Exact when ``exact_limit`` is ``None`` or there
    are at most ``exact_limit`` rows; otherwise the planner's estimate (PostgreSQL's ``EXPLAIN``:
    pass ``None`` on other databases), at least ``exact_limit + 1``, and ``exact`` is false."""
    if exact_limit is None:
        return execute(session, sa.select(sa.func.count()).select_from(table).where(*conditions)).scalar_one(), True
    rows = sa.select(sa.literal_column("1")).select_from(table).where(*conditions)
    bounded = execute(session, sa.select(sa.func.count()).select_from(rows.limit(exact_limit + 1).subquery())).scalar_one()
    if bounded <= exact_limit:
        return bounded, True
    plan = execute(session, _Explain(rows)).scalar_one()
    return max(_plan_rows(plan), exact_limit + 1), False


def _plan_rows(plan) -> int:
    """The top node's row estimate of an ``EXPLAIN (FORMAT JSON)`` result (psycopg returns the
    ``json`` column parsed; a driver that returns text gets it parsed here)."""
    if isinstance(plan, (str, bytes)):
        import json

        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
