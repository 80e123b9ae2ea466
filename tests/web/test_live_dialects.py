"""Every request of contract section 6 (its tolerances and the real clients' dialects) and of
issue 9 (CDSE paging, ``Collection``, declared ``$expand`` names, ESA's on-demand requests, seed
attribute names, the seed date format) sent with ``requests`` to the application under a real
waitress server on 127.0.0.1, as the clients send them; each answer is checked.

One server per database (SQLite, PostgreSQL) over the ODIP world of ``odip_helpers.build_world`` (PRIP and
ODIP in one application). The requests are tables; a test walks its table and reports every
failing row at once, so a regression names the request.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from live_server import serve_wsgi

from prip_helpers import PRIP, served_app
from odip_helpers import L1C_NAME, L1C_OLD_NAME, ODIP, ODIP_USERS, build_world

pytestmark = pytest.mark.slow

#: The seed documents' date-time pattern (contract section 2).
SEED_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LOOKS_LIKE_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
#: A polygon around the L1C products' footprint (lon 36..38, lat 60..61).
AREA = "POLYGON((35 59,39 59,39 62,35 62,35 59))"
ELSEWHERE = "POLYGON((0 0,1 0,1 1,0 1,0 0))"


@pytest.fixture
def live(odip_settings, odip_password_hashes):
    settings = {**odip_settings, "proseo.collection.default": "DEMO=SENTINEL-2"}
    world = build_world(settings, odip_password_hashes)
    try:
        with served_app(settings) as app, serve_wsgi(app.app) as url:
            world.url = url
            yield world
    finally:
        world.storage.close()


def session(login: str) -> requests.Session:
    mission, name, password, _roles = ODIP_USERS[login]
    http = requests.Session()
    http.auth = (f"{mission}\\{name}", password)
    return http


def dates_of(value):
    """Every string in a JSON value that looks like a date-time."""
    if isinstance(value, dict):
        for item in value.values():
            yield from dates_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from dates_of(item)
    elif isinstance(value, str) and LOOKS_LIKE_DATE.match(value):
        yield value


def check_json(response) -> dict:
    """A 200 OData JSON answer whose every date has the seed pattern."""
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["OData-Version"] == "4.0"
    body = response.json()
    bad = [d for d in dates_of(body) if not SEED_DATE.match(d)]
    assert not bad, f"dates without exactly three fraction digits: {bad[:3]}"
    return body


def names(body) -> set:
    return {item["Name"] for item in body["value"]}


def all_pages(http, url, params=None, limit=20) -> list:
    """Every item, following @odata.nextLink verbatim (bounded)."""
    body, items = check_json(http.get(url, params=params, timeout=30)), []
    for _ in range(limit):
        items += body["value"]
        if "@odata.nextLink" not in body:
            return items
        body = check_json(http.get(body["@odata.nextLink"], timeout=30))
    raise AssertionError("too many pages")


def run_table(http, root, table):
    """Send every (path, params or raw query, check) row; collect the failures."""
    failures = []
    for path, query, check in table:
        url = root + path
        try:
            if isinstance(query, str):  # a raw query string, sent exactly as written
                response = http.get(f"{url}?{query}", timeout=30)
            else:
                response = http.get(url, params=query, timeout=30)
            check(response)
        except (AssertionError, KeyError, ValueError) as exc:
            failures.append(f"{path} {query!r}: {type(exc).__name__} {exc}")
    assert not failures, "\n".join(failures)


def product_names(*expected):
    def check(response):
        got = names(check_json(response))
        assert got == set(expected), got
    return check


def includes(*expected):
    def check(response):
        got = names(check_json(response))
        assert set(expected) <= got, got
    return check


def ok(response):
    check_json(response)


def bad_request(response):
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert response.json()["error"]["code"]
    assert re.match(r"^\d{3} proseo-api-(prip|odip) \([EW]\d+\) .+$", response.headers["Warning"])


L1C = (L1C_NAME, L1C_OLD_NAME)
PRODUCT_TYPE = "att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C'"


def prip_table():
    l1c = product_names(*L1C)
    lambdas = [
        # contract section 6, attribute lambdas: every form
        f"Attributes/OData.CSC.StringAttribute/any({PRODUCT_TYPE})",
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value in ('S2MSI1C','XYZ'))",
        "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value le 40.0)",
        "Attributes/any(i0:i0/Name eq 'productType' and i0/Value eq 'S2MSI1C')",
        "Attributes/OData.CSC.StringAttribute/any(att:'S2MSI1C' eq att/OData.CSC.StringAttribute/Value and 'productType' eq att/Name)",
        # seed-document attribute keys (issue 9 item 4)
        "Attributes/any(a:a/Id eq 'productType' and a/StringValue eq 'S2MSI1C')",
        "Attributes/any(a:a/Id eq 'cloudCover' and a/DoubleValue le 40.0)",
        f"Attributes/OData.CSC.StringAttribute/any({PRODUCT_TYPE}) and "
        "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value lt 50)",
        # geography, every form
        f"OData.CSC.Intersects(area=geography'SRID=4326;{AREA}') and Attributes/OData.CSC.StringAttribute/any({PRODUCT_TYPE})",
        f"OData.CSC.Intersects(Footprint=geography'SRID=4326;{AREA.replace('POLYGON', 'POLYGON ')}') and contains(Name,'MSIL1C')",
        f"OData.CSC.Intersects(location=Footprint,area=geography'SRID=4326;MULTIPOLYGON((({AREA[9:-2]})))') and contains(Name,'MSIL1C')",
        f"OData.CSC.Intersects(area='SRID=4326;{AREA.replace('POLYGON', 'Polygon')}') and contains(Name,'MSIL1C')",
    ]
    table = [(
        "/Products", {"$filter": text, "$top": "10"}, l1c) for text in lambdas]
    table += [
        ("/Products", {"$filter": "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and "
                                  "att/OData.CSC.IntegerAttribute/Value lt 10000)"}, product_names()),
        ("/Products", {"$filter": "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and "
                                  "att/OData.CSC.StringAttribute/Value eq 123)"}, product_names()),
        ("/Products", {"$filter": "Attributes/OData.CSC.DateTimeOffsetAttribute/any(att:att/Name eq 'processingDate' "
                                  "and att/OData.CSC.DateTimeOffsetAttribute/Value ge 2021-05-20T19:08:07.654Z)"},
         product_names()),
        ("/Products", {"$filter": "Attributes/OData.CSC.BooleanAttribute/any(att:att/Name eq 'x' and "
                                  "att/OData.CSC.BooleanAttribute/Value eq true)"}, product_names()),
        ("/Products", {"$filter": "Attributes/all(a:a/Name ne 'nothing')", "$top": "10"}, includes(*L1C)),
        ("/Products", {"$filter": f"OData.CSC.Intersects(area=geography'SRID=4326;{ELSEWHERE}')"}, product_names()),
        # option names without $, any case; repeated $expand merged; $count spellings
        ("/Products", f"filter=Name eq '{L1C_NAME}'", product_names(L1C_NAME)),
        ("/Products", f"$FILTER=Name EQ '{L1C_NAME}'", product_names(L1C_NAME)),
        ("/Products", f"$Filter=name eq '{L1C_NAME}'&$expand=Attributes&$expand=Assets&$count=True", expanded),
        ("/Products", f"$filter=Name eq '{L1C_NAME}'&expand=Attributes,Assets&$count=1", expanded),
        ("/Products", f"$filter=Name eq '{L1C_NAME}'&$count=false", lambda r: "@odata.count" not in check_json(r)),
        ("/Products", {"$format": "json", "$filter": f"Name eq '{L1C_NAME}'"}, product_names(L1C_NAME)),
        ("/Products", {"$format": "xml"}, bad_request),
        ("/Products", {"$expand": "NoSuchThing"}, bad_request),
        # $expand: every declared name; complex ones accepted (always inline)
        ("/Products", {"$expand": "Collection,ContentDate,Checksum", "$filter": f"Name eq '{L1C_NAME}'"},
         product_names(L1C_NAME)),
        ("/Products", {"$expand": "*", "$filter": f"Name eq '{L1C_NAME}'", "$count": "true"}, expanded),
        # precedence: and binds tighter than or (unparenthesised, as a client sends it)
        ("/Products", {"$filter": "contains(Name,'_AUX_') or contains(Name,'MSIL1C') and ContentLength gt 0",
                       "$top": "10"}, l1c),
        # functions, % and _ literal
        ("/Products", {"$filter": "startswith(Name,'S2B_MSIL1C_') and endswith(Name,'.zip') and "
                                  "contains(Name,'_T37VCC_') and tolower(Name) eq tolower(Name)"},
         product_names(L1C_NAME)),
        ("/Products", {"$filter": "contains(Name,'100%') or contains(Name,'S2_B')"}, product_names()),
        ("/Products", {"$filter": "year(ContentDate/Start) eq 2019 and month(ContentDate/Start) eq 10 and "
                                  "length(Name) gt 10 and substring(Name,0,3) eq 'S2B' and indexof(Name,'MSIL1C') eq 4"},
         product_names(L1C_NAME)),
        # date-time literals: Z, offset (%2B), no zone, 0..9 digits, quoted, dates
        ("/Products", "$filter=ContentDate/Start gt 2019-10-25T10:00:00%2B02:00 and contains(Name,'MSIL1C')",
         product_names(L1C_NAME)),
        ("/Products", {"$filter": "ContentDate/Start gt 2019-10-25T08:00:00 and contains(Name,'MSIL1C')"},
         product_names(L1C_NAME)),
        ("/Products", {"$filter": "ContentDate/Start ge 2019-10-25T08:59:39.024000000Z and contains(Name,'MSIL1C')"},
         product_names(L1C_NAME)),
        ("/Products", {"$filter": "ContentDate/Start lt '2019-06-01T00:00:00.000000Z' and contains(Name,'MSIL1C')"},
         product_names(L1C_OLD_NAME)),
        ("/Products", {"$filter": "ContentDate/Start lt 2019-06-01 and contains(Name,'MSIL1C')"},
         product_names(L1C_OLD_NAME)),
        ("/Products", {"$filter": "PublicationDate gt 2019-01-01T00:00:00.000Z and contains(Name,'MSIL1C') and "
                                  "ProductionType eq OData.CSC.ProductionType'systematic_production'"}, l1c),
        ("/Products", {"$filter": "ProductionType eq 'systematic_production' and contains(Name,'MSIL1C')"}, l1c),
        # URL decoding: encoded quotes, parentheses, semicolons; + is a space
        ("/Products", f"$filter=Name%20eq%20%27{L1C_NAME}%27", product_names(L1C_NAME)),
        ("/Products", f"$filter=Name+eq+'{L1C_NAME}'", product_names(L1C_NAME)),
        ("/Products", "%24filter=contains%28Name%2C%27MSIL1C%27%29%20and%20contains(Name,'x%3By')", product_names()),
        ("/Products", "$filter=contains(Name,'a%26b')", product_names()),
        # the properties CDSE clients send (issue 9 item 2)
        ("/Products", {"$filter": "Collection/Name eq 'SENTINEL-2' and contains(Name,'MSIL1C')"}, l1c),
        ("/Products", {"$filter": "Collection/Name in ('SENTINEL-1','SENTINEL-2') and contains(Name,'MSIL1C')"}, l1c),
        ("/Products", {"$filter": "Collection/Name ne 'SENTINEL-2'"}, product_names()),
        ("/Products", {"$filter": "Online eq true and OriginDate gt 2019-01-01T00:00:00.000Z and "
                                  "ModificationDate lt 2100-01-01T00:00:00.000Z and contains(Name,'MSIL1C')"}, l1c),
        ("/Products", {"$filter": "Name eq 'x'", "$orderby": "ContentDate/Start desc,Name"}, product_names()),
        ("/Products", {"$orderby": "Collection/Name"}, bad_request),
        ("/Products", {"$filter": "ContentDate gt 2019-01-01T00:00:00.000Z"}, bad_request),
    ]
    return table


def expanded(response):
    body = check_json(response)
    assert body.get("@odata.count", 1) == 1
    (item,) = body["value"]
    assert [a["Type"] for a in item["Assets"]] == ["QUICKLOOK"]  # its quicklook.png
    assert {a["Name"] for a in item["Attributes"]} >= {"productType", "cloudCover"}
    assert item["Collection"] == {"Name": "SENTINEL-2"}


def test_prip_dialects(live):
    with session("ursula") as http:
        run_table(http, live.url + PRIP, prip_table())


def test_prip_routes_paging_and_pasted_dates(live):
    root = live.url + PRIP
    l1c = live.products["l1c"]
    with session("ursula") as http:
        for key in (str(l1c.id), f"'{l1c.id}'", f"Id={l1c.id}"):
            assert check_json(http.get(f"{root}/Products({key})", timeout=30))["Name"] == L1C_NAME
        # its quicklook, read at the asset's DownloadLink over the real server
        (asset,) = check_json(http.get(f"{root}/Products({l1c.id})/Assets", timeout=30))["value"]
        assert asset["DownloadLink"].startswith(f"{root}/Products({l1c.id})/Nodes(")
        picture = http.get(asset["DownloadLink"], timeout=30)
        assert (picture.status_code, picture.headers["Content-Type"]) == (200, "image/png")
        assert picture.content.startswith(b"\x89PNG")
        attributes = check_json(http.get(f"{root}/Products({l1c.id})/Attributes", timeout=30))["value"]
        assert {a["Name"] for a in attributes} >= {"productType"}
        total = int(http.get(f"{root}/Products/$count", timeout=30).text)
        assert total >= 4
        # CDSE paging: $top is the page size; every page but the last full and linked
        items = all_pages(http, f"{root}/Products", {"$top": "2", "$orderby": "Name"})
        assert len(items) == total and len({i["Id"] for i in items}) == total
        first = check_json(http.get(f"{root}/Products", params={"$top": "2", "$count": "true"}, timeout=30))
        link = parse_qs(urlsplit(first["@odata.nextLink"]).query)
        assert link["$top"] == ["2"] and link["$skip"] == ["2"] and link["$skiptoken"]
        rebuilt = check_json(http.get(f"{root}/Products", params={"$top": "2", "$skip": "2"}, timeout=30))
        assert [i["Id"] for i in rebuilt["value"]] == [i["Id"] for i in check_json(
            http.get(first["@odata.nextLink"], timeout=30))["value"]]
        # a date the service emitted, pasted back with eq/ge/le, selects the product
        product = check_json(http.get(f"{root}/Products({l1c.id})", timeout=30))
        for prop, value in (("PublicationDate", product["PublicationDate"]),
                            ("ContentDate/Start", product["ContentDate"]["Start"]),
                            ("ModificationDate", product["ModificationDate"])):
            for op in ("eq", "ge", "le"):
                body = check_json(http.get(f"{root}/Products", params={"$filter": f"{prop} {op} {value}",
                                                                       "$top": "50"}, timeout=30))
                assert L1C_NAME in names(body) or "@odata.nextLink" in body, (prop, op, value)
                if op == "eq":
                    assert L1C_NAME in names(body), (prop, value)


def odip_table(world):
    completed = world.order_id("u_completed")
    output_name = world.products["output"].name

    def workflow_with_options(response):
        (workflow,) = check_json(response)["value"]
        assert workflow["Name"] == "S2_L1C_L2A" and workflow["WorkflowOptions"]
        assert workflow["WorkflowOptions"][0]["Value"], "the first option lists its values"

    def inlined(response):
        body = check_json(response)
        products = {o["Id"]: o["Product"] for o in body["value"]}
        assert products[completed]["Name"] == output_name
        assert products[completed]["Collection"] == {"Name": "SENTINEL-2"}
        assert all(p is None for oid, p in products.items() if oid != completed)

    def ids(*labels):
        def check(response):
            got = {o["Id"] for o in check_json(response)["value"]}
            assert got == {world.order_id(label) for label in labels}, got
        return check

    def capped_page(response):  # $top=10 above proseo.page_size.max (4) of the 5 DEMO orders
        body = check_json(response)
        assert body["@odata.count"] == 5 and len(body["value"]) == 4
        assert parse_qs(urlsplit(body["@odata.nextLink"]).query)["$top"] == ["4"]

    return [
        # ESA's on-demand conformance requests start with this one
        ("/Workflows", "expand=WorkflowOptions&$filter=Name eq 'S2_L1C_L2A'", workflow_with_options),
        ("/Workflows", {"$expand": "WorkflowOptions", "$filter": "InputProductType eq 'S2MSI1C' and Name eq 'S2_L1C_L2A'"},
         workflow_with_options),
        ("/Workflows", {"$expand": "Product"}, bad_request),
        ("/ProductionOrders", {"$expand": "Product", "$top": "10"}, inlined),
        ("/ProductionOrders", {"expand": "Product,InputProductReference,WorkflowOptions", "$top": "10"}, inlined),
        ("/ProductionOrders", {"$filter": "InputProductReference/any(att:att/ContentDate gt 2019-01-01T00:00:00.000Z)"},
         ids("u_queued")),
        ("/ProductionOrders", {"$filter": "InputProductReference/any(att:att/ContentDate lt 2019-01-01T00:00:00.000Z)"},
         ids()),
        ("/ProductionOrders", {"$filter": f"InputProductReference/any(att:att/Reference eq '{L1C_NAME}')",
                               "$top": "10"}, ids("u_queued", "u_completed", "w_running", "w_cancelled")),
        ("/ProductionOrders", {"$filter": "WorkflowOptions/any(att:att/Name eq 'ImageFormat' and "
                                          "att/OData.CSC.StringAttribute/Value eq 'JPG')"}, ids("u_completed")),
        ("/ProductionOrders", {"$filter": "OrderOutputSize eq '1024'"}, ids("u_completed")),
        ("/ProductionOrders", {"$filter": "Status eq OData.CSC.JobStatus'completed' or Status eq 'failed'"},
         ids("u_completed", "u_failed")),
        ("/ProductionOrders", {"$filter": "Priority ge 1", "$top": "10", "$count": "true"}, capped_page),
        ("/ProductionOrders", {"$filter": "NotificationEpPassword eq 'x'"}, bad_request),
    ]


def test_odip_dialects(live):
    with session("mgr") as http:
        run_table(http, live.url + ODIP, odip_table(live))


def test_odip_routes_and_pasted_dates(live):
    root = live.url + ODIP
    completed = live.order_id("u_completed")
    with session("mgr") as http:
        for path in (f"/ProductionOrders({completed})", f"/ProductionOrders('{completed}')",
                     f"/ProductionOrder({completed})"):
            order = check_json(http.get(root + path, params={"$expand": "Product"}, timeout=30))
            assert order["Product"]["Name"] == live.products["output"].name
        assert check_json(http.get(f"{root}/ProductionOrder({completed})/Product", timeout=30))["Id"] == order["Product"]["Id"]
        # cancel of a completed order: 200, unchanged (ESA's suite)
        response = http.post(f"{root}/ProductionOrder({completed})/OData.CSC.Cancel", timeout=30)
        assert check_json(response)["Status"] == "completed"
        for prop in ("SubmissionDate", "CompletedDate", "EstimatedDate"):
            for op in ("eq", "ge", "le"):
                body = check_json(http.get(f"{root}/ProductionOrders",
                                           params={"$filter": f"{prop} {op} {order[prop]}", "$top": "10"}, timeout=30))
                assert completed in {o["Id"] for o in body["value"]} or "@odata.nextLink" in body, (prop, op)
                if op == "eq":
                    assert completed in {o["Id"] for o in body["value"]}, (prop, order[prop])
