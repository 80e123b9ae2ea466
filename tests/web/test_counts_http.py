"""``@odata.count`` and ``/$count`` through HTTP with ``proseo.count.exact_limit``: exact up to the
limit on both databases; above it PostgreSQL answers an estimate of at least the limit + 1 and
SQLite still counts exactly (issue 12 item 2)."""
from __future__ import annotations

import contextlib

import pytest

from prip_helpers import PRIP, basic, make_app, served_app

ALICE = basic("alice")  # sees 5 products of the catalogue fixture
CAROL = basic("carol")  # sees 7


def _app_with_limit(app_settings, limit: str):
    return served_app({**app_settings, "proseo.count.exact_limit": limit})


@contextlib.contextmanager
def _statements(app):
    """The (SQL text, parameters) the storage sends while the block runs."""
    import sqlalchemy as sa

    engine = app.app.registry.storage.engine
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _parameter_values(parameters) -> list:
    return list(parameters.values()) if isinstance(parameters, dict) else list(parameters or ())


def _bounded_counts(seen, bound: int) -> int:
    """How many statements counted with ``LIMIT bound`` (the bounded count's sub-select)."""
    return sum(1 for statement, parameters in seen
               if "count(" in statement.lower() and "LIMIT" in statement.upper()
               and bound in _parameter_values(parameters))


def _estimates(seen) -> int:
    return sum(1 for statement, _ in seen if statement.lstrip().upper().startswith("EXPLAIN"))


def _counts(app, headers):
    body = app.get(PRIP + "/Products?$count=true&$top=2", headers=headers).json
    return body["@odata.count"], int(app.get(PRIP + "/Products/$count", headers=headers).text), body


@pytest.mark.parametrize("limit", ["7", "100000", "0", "none"])
def test_counts_up_to_the_limit_are_exact(app_settings, catalogue, limit):
    with _app_with_limit(app_settings, limit) as app, _statements(app) as seen:
        assert _counts(app, ALICE)[:2] == (5, 5)
        assert _counts(app, CAROL)[:2] == (7, 7)
        assert _estimates(seen) == 0
        if app.app.registry.storage.dialect == "postgresql" and limit.isdigit() and int(limit):
            assert _bounded_counts(seen, int(limit) + 1) == 4  # the bound was used, and sufficed


def test_above_the_limit(app_settings, catalogue):
    with _app_with_limit(app_settings, "3") as app, _statements(app) as seen:
        alice, alice_text, body = _counts(app, ALICE)
        carol, carol_text, _ = _counts(app, CAROL)
        if app.app.registry.storage.dialect == "sqlite":
            assert (alice, alice_text, carol, carol_text) == (5, 5, 7, 7)  # no estimate: exact
            assert _estimates(seen) == 0
        else:
            # the page's count and /$count are the same estimate for the same user, at least
            # the bound + 1; the walk stopped at the bound (LIMIT 4), then EXPLAIN estimated
            assert alice == alice_text and carol == carol_text
            assert min(alice, carol) >= 4
            assert _bounded_counts(seen, 4) == 4 and _estimates(seen) == 4
        # the wire keeps its shape: an integer count, the page and its link
        assert isinstance(alice, int) and len(body["value"]) == 2 and "@odata.nextLink" in body


@pytest.mark.parametrize("limit", ["-5", str(10**19)])  # 10**19 + 1 would overflow LIMIT's bigint
def test_a_bad_limit_stops_the_start(app_settings, limit):
    with pytest.raises(SystemExit, match="proseo.count.exact_limit"):
        make_app({**app_settings, "proseo.count.exact_limit": limit})


def test_count_segment_ignores_paging_order_and_shape_options(app):
    # python-odata's Query.count() sends every option of its query to /$count
    # (tests/clients/test_python_odata.py); OData (URL conventions, "Addressing the Count of a
    # Collection"): the count is not affected by $top, $skip, $orderby or $expand; $filter applies
    def count(**options):
        return app.get(PRIP + "/Products/$count", {f"${k}": v for k, v in options.items()}, headers=ALICE).text

    narrowed = "startswith(Name,'S2B_')"
    assert count() == "5" and count(filter=narrowed) == "4"
    assert count(filter=narrowed, top="1", skip="2", orderby="Name desc", select="Id,Name", expand="Attributes") == "4"
    assert count(top="0", skip="9") == "5"
    # still read and checked: a malformed option is a 400 with the OData error body
    bad = app.get(PRIP + "/Products/$count", {"$top": "-1"}, headers=ALICE, expect_errors=True)
    assert bad.status_int == 400 and bad.json["error"]["code"] == "E7721"
