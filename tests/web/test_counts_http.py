"""``@odata.count`` and ``/$count`` through HTTP with ``proseo.count.exact_limit``: exact up to the
limit on both databases; above it PostgreSQL answers an estimate of at least the limit + 1 and
SQLite still counts exactly (issue 12 item 2)."""
from __future__ import annotations

import contextlib

import pytest

from prip_helpers import PRIP, basic, make_app

ALICE = basic("alice")  # sees 5 products of the catalogue fixture
CAROL = basic("carol")  # sees 7


@contextlib.contextmanager
def _app_with_limit(app_settings, limit: str):
    app = make_app({**app_settings, "proseo.count.exact_limit": limit})
    try:
        yield app
    finally:
        app.app.registry.storage.close()


def _counts(app, headers):
    body = app.get(PRIP + "/Products?$count=true&$top=2", headers=headers).json
    return body["@odata.count"], int(app.get(PRIP + "/Products/$count", headers=headers).text), body


@pytest.mark.parametrize("limit", ["7", "100000", "0", "none"])
def test_counts_up_to_the_limit_are_exact(app_settings, catalogue, limit):
    with _app_with_limit(app_settings, limit) as app:
        assert _counts(app, ALICE)[:2] == (5, 5)
        assert _counts(app, CAROL)[:2] == (7, 7)


def test_above_the_limit(app_settings, catalogue):
    with _app_with_limit(app_settings, "3") as app:
        alice, alice_text, body = _counts(app, ALICE)
        carol, carol_text, _ = _counts(app, CAROL)
        if app.app.registry.storage.dialect == "sqlite":
            assert (alice, alice_text, carol, carol_text) == (5, 5, 7, 7)  # no estimate: exact
        else:
            assert min(alice, alice_text, carol, carol_text) >= 4
        # the wire keeps its shape: an integer count, the page and its link
        assert isinstance(alice, int) and len(body["value"]) == 2 and "@odata.nextLink" in body


def test_a_bad_limit_stops_the_start(app_settings):
    with pytest.raises(SystemExit, match="proseo.count.exact_limit"):
        make_app({**app_settings, "proseo.count.exact_limit": "-5"})
