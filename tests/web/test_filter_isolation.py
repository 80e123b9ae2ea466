"""A ``$filter`` is evaluated only on rows the caller may see (contract section 8: what a user may
not see answers as if it did not exist), also when evaluating it can fail on a row's data.

``matchesPattern`` with a pattern computed from the row (``matchesPattern('a', Name)``: the
product's name is the pattern) is a 400 when the pattern is no regular expression, and on
PostgreSQL arithmetic whose result is out of range (docs/query-semantics.md). PostgreSQL orders a
scan's conditions by estimated cost, and a regular expression costs as little as the ``mission =
...`` and ``visibility = ...`` conditions, which it evaluated *after* it; a lambda's condition it
evaluated over the whole attributes table (a hashed subplan). A product of another mission, or of
a visibility class the caller may not read, whose name (or attribute value, or another user's
subscription's user name) was no regular expression, or whose attribute value overflowed, made
the caller's request a 400, and ``a/Value gt N`` in front read such a value out one comparison at
a time. The storage now evaluates such parts only where the caller's conditions hold
(``SQLAlchemyStorage._guarded_filter``).
"""
from __future__ import annotations

import uuid

import pytest

from prip_helpers import PRIP, _product, basic
from proseo_odata.model import Attribute, AttributeType, Subscription, VisibilityClass
from proseo_odata.storage import NotFoundError

BROKEN = "HIDDEN_(broken.zip"  # an unbalanced parenthesis: no regular expression

NAME_AS_PATTERN = "matchesPattern('a', Name)"
VALUE_AS_PATTERN = "Attributes/OData.CSC.StringAttribute/any(a:matchesPattern('x', a/Value))"
#: Int64 and Double results out of range for the hidden products' values only (PostgreSQL
#: refuses them; the visible products' orbitNumber and cloudCover stay in range)
INTEGER_OVERFLOW = "Attributes/OData.CSC.IntegerAttribute/any(a:a/Value gt 4000000000000 and a/Value mul 10000000 gt 0)"
DOUBLE_OVERFLOW = "Attributes/OData.CSC.DoubleAttribute/any(a:a/Value gt 1e299 and a/Value mul 1e10 gt 0)"


pytestmark = pytest.mark.shared_app  # (the tests only read; ``hidden`` writes once per world)


@pytest.fixture(autouse=True)  # (stored before any test's first request)
def hidden(storage, catalogue):
    """An INTERNAL product of DEMO and a PUBLIC product of OTHER whose names, and one attribute value
    each, are no regular expressions; and carol's subscription with such a user name. Stored once
    in the module's world."""
    internal = _product("hidden", 20, visibility=VisibilityClass.INTERNAL, name=BROKEN,
                        id=uuid.UUID(int=0xB0000000 << 96))
    try:
        return storage.get_product("DEMO", internal.id)
    except NotFoundError:
        pass
    other = _product("other", 21, mission="OTHER", name="OTHER_(broken.zip", id=uuid.UUID(int=(0xB0000000 << 96) + 1))
    for product in (internal, other):
        product.attributes += [Attribute("note", AttributeType.STRING, "bad(value"),
                               Attribute("secretNumber", AttributeType.INTEGER, 5_000_000_000_000),
                               Attribute("secretDouble", AttributeType.DOUBLE, 1e300)]
    with storage.transaction() as tx:
        tx.add_product(internal)
        tx.add_product(other)
        tx.add_subscription(Subscription(mission="DEMO", owner="carol", filter_param="true",
                                         notification_endpoint="http://127.0.0.1:9/n",
                                         notification_username="carol(x"))
    return internal


def _get(app, login, path, query):
    return app.get(PRIP + path, {"$filter": query}, headers=basic(login), expect_errors=True)


@pytest.mark.parametrize("query", [NAME_AS_PATTERN, VALUE_AS_PATTERN, f"Name ge 'HIDDEN' and {NAME_AS_PATTERN}",
                                   INTEGER_OVERFLOW, DOUBLE_OVERFLOW])
@pytest.mark.parametrize("login", ["alice", "dave"])
@pytest.mark.parametrize("path", ["/Products", "/Products/$count"])
def test_rows_the_caller_may_not_see_do_not_fail_the_filter(app, hidden, login, path, query):
    """alice (PUBLIC) and dave (PUBLIC, RESTRICTED) may read neither DEMO's INTERNAL product nor
    OTHER's PUBLIC one: their filter matches nothing, as if those products did not exist."""
    response = _get(app, login, path, query)
    assert response.status_int == 200, response.text
    assert (response.text if path.endswith("$count") else len(response.json["value"])) in ("0", 0)


@pytest.mark.parametrize("query", [NAME_AS_PATTERN, VALUE_AS_PATTERN,
                                   pytest.param(INTEGER_OVERFLOW, marks=pytest.mark.postgresql),
                                   pytest.param(DOUBLE_OVERFLOW, marks=pytest.mark.postgresql)])
@pytest.mark.parametrize("login", ["carol", "olga"])
def test_a_row_the_caller_may_see_still_fails_the_filter(app, hidden, login, query):
    """carol (PRODUCT_READER_ALL) reads DEMO's INTERNAL product, olga OTHER's product: the name
    (the attribute value) is no pattern, a 400 as before (docs/query-semantics.md); so is the
    arithmetic out of range on PostgreSQL (SQLite computes it in floating point)."""
    if query in (INTEGER_OVERFLOW, DOUBLE_OVERFLOW) and not app.app.registry.storage.dialect == "postgresql":
        pytest.skip("SQLite computes an overflowing product in floating point")
    response = _get(app, login, "/Products", query)
    assert response.status_int == 400, response.text
    assert response.json["error"]["code"] == "E7721"


@pytest.mark.parametrize("query", ["matchesPattern('a', NotificationEpUsername)",
                                   "NotificationEpUsername ge 'carol' and matchesPattern('a', NotificationEpUsername)"])
def test_another_users_subscription_does_not_fail_the_filter(app, hidden, query):
    response = _get(app, "alice", "/Subscriptions", query)
    assert response.status_int == 200, response.text
    assert response.json["value"] == []
    assert _get(app, "carol", "/Subscriptions", query).status_int == 400
