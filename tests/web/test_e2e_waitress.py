"""End to end: the application under a real waitress server on a free 127.0.0.1 port, driven by
requests: list, filter, page, get, $count, token, errors (the 50 MB resumed download is in
test_download_e2e.py)."""
from __future__ import annotations


import pytest
import requests
from live_server import serve_wsgi

from prip_helpers import PRIP, USERS, served_app

pytestmark = pytest.mark.slow


@pytest.fixture
def server(app_settings, catalogue):
    with served_app(app_settings) as app, serve_wsgi(app.app) as url:
        yield url


def auth(login="alice"):
    mission, name, password, _roles = USERS[login]
    return (f"{mission}\\{name}", password)


def test_list_filter_page_get(server, catalogue):
    with requests.Session() as http:
        http.auth = auth()
        listing = http.get(server + PRIP + "/Products", params={"$count": "true"}, timeout=30)
        assert listing.status_code == 200
        assert listing.headers["Content-Type"].startswith("application/json")
        assert listing.headers["OData-Version"] == "4.0"
        assert listing.json()["@odata.count"] == 5
        # follow the nextLink verbatim, as most clients do
        nxt = http.get(listing.json()["@odata.nextLink"], timeout=30).json()
        assert len(listing.json()["value"]) + len(nxt["value"]) == 5

        # requests encodes the params: the & inside the literal arrives as %26, + as %2B
        filtered = http.get(
            server + PRIP + "/Products",
            params={"$filter": "Name eq 'S1A_AUX_PP1_V20200104_100%_a&b.zip' or "
                               "PublicationDate eq 2020-01-03T14:00:00.123+02:00"},
            timeout=30,
        )
        assert filtered.status_code == 200, filtered.text
        assert sorted(p["Id"] for p in filtered.json()["value"]) == sorted([catalogue.id("p2"), catalogue.id("p4")])

        one = http.get(server + PRIP + f"/Products('{catalogue.id('p3')}')", params={"$expand": "Attributes"}, timeout=30)
        assert one.json()["Id"] == catalogue.id("p3")
        assert {a["Name"] for a in one.json()["Attributes"]} >= {"productType", "orbitNumber"}

        count = http.get(server + PRIP + "/Products/$count", params={"$filter": "ContentLength gt 1003"}, timeout=30)
        assert count.headers["Content-Type"].startswith("text/plain") and count.text == "2"

        raw = http.get(server + PRIP + "/Products?$filter=contains(Name,%27_P1_%27)", timeout=30)
        assert [p["Id"] for p in raw.json()["value"]] == [catalogue.id("p1")]


def test_errors_and_token_over_http(server, catalogue):
    anonymous = requests.get(server + PRIP + "/Products", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    bad = requests.get(server + PRIP + "/Products", params={"$filter": "Name eq"}, auth=auth(), timeout=30)
    assert bad.status_code == 400
    assert bad.headers["Warning"].startswith("199 proseo-api-prip (E7721) ")
    assert bad.json()["error"]["target"] == "$filter"

    token = requests.post(server + "/proseo/prip/v1/token",
                          data={"grant_type": "password", "username": "DEMO\\alice", "password": "alice-secret"},
                          timeout=30).json()
    assert token["token_type"] == "bearer"
    listing = requests.get(server + PRIP + "/Products", headers={"Authorization": f"Bearer {token['access_token']}"},
                           timeout=30)
    assert listing.status_code == 200 and len(listing.json()["value"]) == 3
    assert requests.get(server + PRIP + "/", timeout=30).json()["value"][0]["name"] == "Products"


def test_a_root_configured_with_a_trailing_slash(server, catalogue):
    """A client whose service root ends with "/" and that joins "/Products" to it, as a user's
    configuration often does: requests follows the 308 to the canonical path, credentials and
    query kept, and pages on through the nextLink."""
    with requests.Session() as http:
        http.auth = auth()
        root = server + PRIP + "/"
        listing = http.get(root + "/Products", params={"$count": "true", "$orderby": "Name"}, timeout=30)
        assert listing.status_code == 200, listing.text
        assert [hop.status_code for hop in listing.history] == [308]
        assert listing.url.startswith(server + PRIP + "/Products?")
        assert listing.json()["@odata.count"] == 5
        following = http.get(listing.json()["@odata.nextLink"], timeout=30)
        assert following.history == [] and following.status_code == 200
        assert http.get(root + "/Products/$count", timeout=30).text == "5"
