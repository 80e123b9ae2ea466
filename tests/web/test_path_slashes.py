"""A path that names a resource once its repeated slashes are made one and a trailing slash is
dropped (a client root configured with a ``/`` at its end: ``v1/`` + ``/Products``) is answered
``308`` with the canonical path, the query kept, so a client that follows redirects gets the
resource, and a POST its method and body. A path that names nothing either way stays a 404, and
no redirect leaves the server's own paths."""
from __future__ import annotations

import pytest

from prip_helpers import PRIP, basic

ALICE = basic("alice")
ODIP = "/proseo/odip/odata/v1"

pytestmark = pytest.mark.shared_app


@pytest.mark.parametrize("sent, canonical", [
    (PRIP + "/Products/", PRIP + "/Products"),
    (PRIP + "//Products", PRIP + "/Products"),
    ("/proseo//prip/odata/v1/Products//", PRIP + "/Products"),
    (PRIP + "/Products/$count/", PRIP + "/Products/$count"),
    (PRIP + "/$metadata/", PRIP + "/$metadata"),
    (PRIP + "//", PRIP + "/"),
])
def test_a_slash_too_many_is_redirected_to_the_resource(app, sent, canonical):
    query = "$top=1&$filter=startswith(Name,'S2')"
    redirect = app.get(sent + "?" + query, headers=ALICE, status=308)
    assert redirect.headers["Location"] == "http://localhost" + canonical + "?" + query
    followed = app.get(redirect.headers["Location"], headers=ALICE)
    assert followed.body == app.get(canonical + "?" + query, headers=ALICE).body


def test_the_location_is_percent_encoded(app):
    """The path is matched decoded; the Location carries it encoded again (a header is ASCII)."""
    redirect = app.get(PRIP + "/Products('%C3%A9%20x')/", headers=ALICE, status=308)
    assert redirect.headers["Location"] == "http://localhost" + PRIP + "/Products('%C3%A9%20x')"
    assert app.get(redirect.headers["Location"], headers=ALICE, status=400).json["error"]["code"] == "E7721"


def test_odip_paths_are_redirected_too(app):
    """Before any authentication: the answer says only where the resource is."""
    redirect = app.get(ODIP + "/ProductionOrders/", status=308)
    assert redirect.headers["Location"] == "http://localhost" + ODIP + "/ProductionOrders"


def test_a_post_is_redirected_and_nothing_is_stored(app):
    before = app.get(PRIP + "/Subscriptions", headers=ALICE).json["value"]
    answer = app.post_json(PRIP + "/Subscriptions/", {"FilterParam": "startswith(Name,'S2')"}, headers=ALICE,
                           status=308)
    assert answer.headers["Location"].endswith(PRIP + "/Subscriptions")
    assert app.get(PRIP + "/Subscriptions", headers=ALICE).json["value"] == before


@pytest.mark.parametrize("sent", [
    PRIP + "/Nothing/",
    PRIP + "//Nothing",
    "//evil.example/Products",
    "//evil.example" + PRIP + "/Products/..",
])
def test_a_path_that_names_nothing_either_way_stays_404(app, sent):
    answer = app.get(sent, headers=ALICE, status=404)
    assert answer.json["error"]["code"] == "E7701"
    assert "Location" not in answer.headers
