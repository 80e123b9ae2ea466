"""A GET or HEAD of a path of the services that names a resource once its repeated slashes are
made one and a trailing slash is dropped (a client root configured with a ``/`` at its end:
``v1/`` + ``/Products``) is answered ``308`` with the canonical path, the query kept, so a client
that follows redirects gets the resource. Other methods, a path that names nothing either way,
and another application's paths (the services included in it) keep the 404; no redirect leaves
the server."""
from __future__ import annotations

import pytest
import webtest
from pyramid.config import Configurator
from pyramid.response import Response

from prip_helpers import PRIP, basic

ALICE = basic("alice")
ODIP = "/proseo/odip/odata/v1"

pytestmark = pytest.mark.shared_app


@pytest.mark.parametrize("sent, canonical", [
    (PRIP + "/Products/", PRIP + "/Products"),
    (PRIP + "//Products", PRIP + "/Products"),
    ("/proseo//prip/odata/v1/Products//", PRIP + "/Products"),
    ("//" + PRIP.lstrip("/") + "/Products", PRIP + "/Products"),  # a leading "//": still this server
    (PRIP + "/Products/$count/", PRIP + "/Products/$count"),
    (PRIP + "/$metadata/", PRIP + "/$metadata"),
    (PRIP + "//", PRIP + "/"),
])
def test_a_slash_too_many_is_redirected_to_the_resource(app, sent, canonical):
    query = "$top=1&$filter=startswith(Name,'S2')"
    redirect = app.get(sent + "?" + query, headers=ALICE, status=308)
    assert redirect.headers["Location"] == "http://localhost" + canonical + "?" + query
    assert redirect.headers["OData-Version"] == "4.0"  # as on every answer of the services
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


def test_a_head_is_redirected(app):
    assert app.head(PRIP + "/Products/", headers=ALICE, status=308).headers["Location"].endswith(PRIP + "/Products")


def test_other_methods_keep_the_404_and_nothing_is_stored(app):
    """A body is not sent on: a token request's password would go again to a URL built from the
    request's Host and scheme (http behind a proxy that does not say https)."""
    before = app.get(PRIP + "/Subscriptions", headers=ALICE).json["value"]
    answer = app.post_json(PRIP + "/Subscriptions/", {"FilterParam": "startswith(Name,'S2')"}, headers=ALICE,
                           status=404)
    assert "Location" not in answer.headers and answer.json["error"]["code"] == "E7701"
    assert app.get(PRIP + "/Subscriptions", headers=ALICE).json["value"] == before
    assert app.post("/proseo/prip/v1/token/", {"grant_type": "password"}, status=404).json["error"]["code"] == "E7701"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_another_applications_paths_are_left_alone(app_settings, catalogue):
    """The services included in a host application: its own paths with a slash too many stay
    its 404s, the services' paths are still redirected."""
    with Configurator(settings=dict(app_settings)) as config:
        config.include("proseo_odata_web")
        config.add_route("host.page", "/host/page")
        config.add_view(lambda request: Response("the host's page"), route_name="host.page")
    app = webtest.TestApp(config.make_wsgi_app())
    try:
        assert app.get("/host/page").text == "the host's page"
        assert "Location" not in app.get("/host/page/", status=404).headers
        assert app.get(PRIP + "/Products/", headers=ALICE, status=308).headers["Location"].endswith(PRIP + "/Products")
    finally:
        app.app.registry.storage.close()


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
