"""PRIP catalogue routes over SQLite and PostgreSQL: JSON shape, key forms, paging, $count,
$expand, $select, $format, service document, $metadata, mounting under another prefix."""
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import webtest
from pyramid.config import Configurator

from prip_helpers import P1_FILE, PRIP, basic, served_app

# Every test here only reads: one application and catalogue per backend for the module
# (tests/web/conftest.py); a test that writes belongs in another module.
pytestmark = pytest.mark.shared_app

ALICE = basic("alice")
CAROL = basic("carol")
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # the seed documents' pattern


def ids(body):
    return [p["Id"] for p in body["value"]]


def labels(catalogue, *names):
    return [catalogue.id(n) for n in names]


# -- service document and $metadata -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", ""])
def test_service_document(app, path):
    response = app.get(PRIP + path)
    assert response.headers["Content-Type"] == "application/json;odata.metadata=minimal"
    assert response.headers["OData-Version"] == "4.0"
    sets = {entry["name"]: entry for entry in response.json["value"]}
    assert sets["Products"] == {"name": "Products", "kind": "EntitySet", "url": "Products"}
    # relative to the request's URL: the root without its slash is one level up
    assert response.json["@odata.context"] == ("$metadata" if path else "v1/$metadata")


def test_metadata_is_csdl(app):
    response = app.get(PRIP + "/$metadata")
    assert response.content_type == "application/xml"
    root = ET.fromstring(response.body)
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    schema = root.find(".//edm:Schema", ns)
    assert schema.get("Namespace") == "OData.CSC"
    names = {e.get("Name") for e in schema.findall("edm:EntityType", ns)}
    assert {"Product", "StringAttribute", "IntegerAttribute", "DoubleAttribute", "BooleanAttribute",
            "DateTimeOffsetAttribute"} <= names
    assert schema.find("edm:EntityContainer", ns).get("Name") == "Container"


# -- one product --------------------------------------------------------------------------------------


def test_product_json_shape(app, catalogue):
    p1 = catalogue.products["p1"]
    response = app.get(PRIP + f"/Products({p1.id})", headers=ALICE)
    assert response.headers["Content-Type"] == "application/json;odata.metadata=minimal"
    assert response.headers["OData-Version"] == "4.0"
    body = response.json
    assert body["@odata.context"] == "$metadata#Products/$entity"
    assert body["Id"] == str(p1.id)
    assert body["Name"] == p1.name
    assert body["ContentType"] == "application/zip"
    assert body["ContentLength"] == 1001
    assert body["OriginDate"] == "2020-01-02T11:00:00.000Z"
    assert body["PublicationDate"] == "2020-01-02T12:00:00.123Z"
    assert body["CreationDate"] == body["PublicationDate"]
    assert body["ModificationDate"] == "2020-01-02T12:00:00.123Z"
    assert body["EvictionDate"] == "9999-12-31T23:59:59.999Z"
    assert body["Online"] is True
    assert body["ContentDate"] == {"Start": "2020-01-02T10:00:00.000Z", "End": "2020-01-02T10:10:00.000Z"}
    assert body["ProductionType"] == "systematic_production"
    checksum = {"Algorithm": "MD5", "Value": hashlib.md5(P1_FILE).hexdigest(), "ChecksumDate": "2020-01-02T12:00:00.000Z"}
    assert body["Checksum"] == [checksum]
    assert body["Checksums"] == [checksum]
    assert body["Footprint"] == "geography'SRID=4326;POLYGON((1 40,2 40,2 41,1 41,1 40))'"
    assert body["GeoFootprint"] == {"type": "Polygon", "coordinates": [[[1, 40], [2, 40], [2, 41], [1, 41], [1, 40]]]}
    assert "Attributes" not in body


def test_dates_have_exactly_three_digits_and_select_their_product(app, catalogue):
    """p5 stores microseconds (.123456); the wire has the seed pattern's milliseconds, and the
    value pasted back into eq/ge/le still selects p5 (contract section 2)."""
    body = app.get(PRIP + f"/Products({catalogue.id('p5')})", headers=ALICE).json
    assert body["PublicationDate"] == "2020-01-06T12:00:00.123Z"
    for key in ("OriginDate", "PublicationDate", "ModificationDate", "EvictionDate"):
        assert DATE.match(body[key]), body[key]
    for op in ("eq", "ge", "le"):
        found = app.get(PRIP + "/Products", {"$filter": f"PublicationDate {op} {body['PublicationDate']}",
                                             "$orderby": "PublicationDate desc"}, headers=ALICE).json
        assert catalogue.id("p5") in ids(found), op
    found = app.get(PRIP + "/Products", {"$filter": f"PublicationDate eq {body['PublicationDate']}"}, headers=ALICE).json
    assert ids(found) == labels(catalogue, "p5")


def test_six_fraction_digits_by_setting(app_settings, catalogue):
    from proseo_odata.config import configure

    try:
        with served_app({**app_settings, "proseo.datetime.fraction_digits": "6"}) as app:
            body = app.get(PRIP + f"/Products({catalogue.id('p5')})", headers=ALICE).json
            assert body["PublicationDate"] == "2020-01-06T12:00:00.123456Z"
            assert body["ContentDate"]["Start"] == "2020-01-06T10:00:00.000000Z"
            found = app.get(PRIP + "/Products", {"$filter": f"PublicationDate eq {body['PublicationDate']}"},
                            headers=ALICE).json
            assert ids(found) == labels(catalogue, "p5")
    finally:
        configure({})


@pytest.mark.parametrize("form", ["{id}", "'{id}'", "{ID}", "'{ID}'", "Id={id}", "%27{id}%27"])
def test_key_forms(app, catalogue, form):
    pid = catalogue.id("p2")
    response = app.get(PRIP + "/Products(" + form.format(id=pid, ID=pid.upper()) + ")", headers=ALICE)
    assert response.json["Id"] == pid


def test_expand_attributes_on_one_product(app, catalogue):
    body = app.get(PRIP + f"/Products({catalogue.id('p1')})?$expand=Attributes", headers=ALICE).json
    attributes = {a["Name"]: a for a in body["Attributes"]}
    assert attributes["productType"] == {
        "@odata.type": "#OData.CSC.StringAttribute", "Name": "productType", "ValueType": "String",
        "Value": "S2MSI1C", "Id": "productType", "ContentType": "text/plain", "ContentLength": 7,
        "StringValue": "S2MSI1C",
    }
    assert attributes["orbitNumber"]["@odata.type"] == "#OData.CSC.IntegerAttribute"
    assert attributes["orbitNumber"]["Value"] == 1001
    assert attributes["orbitNumber"]["IntegerValue"] == 1001
    assert attributes["cloudCover"]["Value"] == 10.0
    assert attributes["processingDate"]["Value"] == "2021-05-21T19:08:07.000Z"
    assert attributes["processingDate"]["DateValue"] == "2021-05-21T19:08:07.000Z"
    assert attributes["highQuality"] == {**attributes["highQuality"], "ValueType": "Boolean", "Value": False}


def test_attributes_route(app, catalogue):
    pid = catalogue.id("p2")
    body = app.get(PRIP + f"/Products({pid})/Attributes", headers=ALICE).json
    assert body["@odata.context"] == f"../$metadata#Products({pid})/Attributes"  # two levels below the root
    values = {a["Name"]: a["Value"] for a in body["value"]}
    assert values["productType"] == "S2MSI2A"
    assert values["orbitNumber"] == 1002
    assert len(values) == 5
    names = app.get(PRIP + f"/Products({pid})/Attributes?$format=json&$select=Name", headers=ALICE).json
    assert names["@odata.context"] == f"../$metadata#Products({pid})/Attributes(Name)"
    assert [set(a) for a in names["value"]] == [{"@odata.type", "Name"}] * 5


def test_the_number_of_attributes_and_assets(app, catalogue):
    pid = catalogue.id("p2")
    count = app.get(PRIP + f"/Products({pid})/Attributes/$count", headers=ALICE)
    assert (count.content_type, count.text) == ("text/plain", "5")
    assert count.headers["OData-Version"] == "4.0"
    assert int(count.text) == len(app.get(PRIP + f"/Products({pid})/Attributes", headers=ALICE).json["value"])
    assert app.get(PRIP + f"/Products({pid})/Assets/$count?$format=json", headers=ALICE).text == "0"
    # $count=true: the number along with them
    counted = app.get(PRIP + f"/Products({pid})/Attributes?$count=true&$select=Name", headers=ALICE).json
    assert counted["@odata.count"] == 5 == len(counted["value"])
    assert list(counted) == ["@odata.context", "@odata.count", "value"]
    assert "@odata.count" not in app.get(PRIP + f"/Products({pid})/Attributes?$count=false", headers=ALICE).json
    assert app.get(PRIP + f"/Products({pid})/Assets?$count=true", headers=ALICE).json["@odata.count"] == 0
    for refused in ("$search=x", "$top=x", "$select=Name(", "$filter=Nope eq 1",  # not served; malformed
                    "$orderby=Nope", "$select=Nope"):  # ignored, but its names looked up, as by Products/$count
        response = app.get(PRIP + f"/Products({pid})/Attributes/$count?{refused}", headers=ALICE, expect_errors=True)
        assert response.status_int == 400, (refused, response.body)
        assert response.headers["Warning"].startswith("199 proseo-api-prip")
    # $filter counts what it keeps (OData 4.01 Part 1, 11.2.10)
    for text, expected in (("Name eq 'x'", "0"), ("Name eq 'cloudCover'", "1"), ("Value gt 100", "1"),
                           ("ValueType ne 'Boolean'", "4")):
        assert app.get(PRIP + f"/Products({pid})/Attributes/$count", {"$filter": text}, headers=ALICE).text == expected
    assert app.get(PRIP + f"/Products({pid})/Assets/$count?$filter=true", headers=ALICE).text == "0"
    # what does not change a count is ignored, as by Products/$count (OData 4.01 Part 1, 11.2.10)
    ignored = "$top=1&$skip=2&$orderby=Name desc&$select=Value&$count=true&$expand=*"
    assert app.get(PRIP + f"/Products({pid})/Attributes/$count?{ignored}", headers=ALICE).text == "5"
    # as the product: absent for a user who may not read it
    restricted = catalogue.id("restricted")
    assert app.get(PRIP + f"/Products({restricted})/Attributes/$count", headers=ALICE, expect_errors=True).status_int == 404
    assert app.get(PRIP + f"/Products({restricted})/Attributes/$count", headers=CAROL).text == "5"


@pytest.mark.parametrize("route", ["Attributes", "Attributes('orbitNumber')"])
def test_select_on_attributes_is_applied(app, catalogue, route):
    """$select was accepted and ignored (every property came back, and an unknown name too)."""
    pid = catalogue.id("p2")
    body = app.get(PRIP + f"/Products({pid})/{route}?$select=Value,ValueType", headers=ALICE).json
    attributes = body["value"] if route == "Attributes" else [body]
    orbit = {a["Name"]: a for a in attributes}["orbitNumber"]
    assert {k: v for k, v in orbit.items() if k != "@odata.context"} == {
        "@odata.type": "#OData.CSC.IntegerAttribute", "Name": "orbitNumber", "ValueType": "Integer", "Value": 1002}
    assert body["@odata.context"].endswith("/Attributes(Value,ValueType)" + ("" if route == "Attributes" else "/$entity"))
    # full metadata reads the projected context: the type of each value, the attribute's own id
    full = app.get(PRIP + f"/Products({pid})/{route}?$select=Value", headers={
        **ALICE, "Accept": "application/json;odata.metadata=full"})
    assert full.headers["Content-Type"] == "application/json;odata.metadata=full"
    orbit = {a["Name"]: a for a in (full.json["value"] if route == "Attributes" else [full.json])}["orbitNumber"]
    assert orbit["Value@odata.type"] == "#Int64"
    assert orbit["@odata.id"] == f"Products({pid})/Attributes('orbitNumber')"
    refusals = ("$select=Nope", "$select=Value/x", "$expand=Nope", "$expand=Attributes")
    for refused in refusals + (("$count=true",) if route != "Attributes" else ()):  # one attribute: no count
        response = app.get(PRIP + f"/Products({pid})/{route}?{refused}", headers=ALICE, expect_errors=True)
        assert response.status_int == 400, (refused, response.body)
        assert response.headers["Warning"].startswith("199 proseo-api-prip")


def test_seed_aliases_can_be_switched_off(app_settings, catalogue):
    with served_app({**app_settings, "proseo.seed_aliases": "false"}) as app:
        body = app.get(PRIP + f"/Products({catalogue.id('p1')})?$expand=Attributes", headers=ALICE).json
        assert "CreationDate" not in body and "Checksums" not in body
        assert body["Checksum"] and body["PublicationDate"]
        for attribute in body["Attributes"]:
            assert set(attribute) == {"@odata.type", "Name", "ValueType", "Value"}
        metadata = app.get(PRIP + "/$metadata").text
        assert "CreationDate" not in metadata
        # $select on the attributes: the seed documents' keys are not declared, so not selectable
        pid = catalogue.id("p1")
        for name in ("StringValue", "ContentLength", "Id"):
            refused = app.get(PRIP + f"/Products({pid})/Attributes?$select={name}", headers=ALICE, expect_errors=True)
            assert refused.status_int == 400, (name, refused.body)
        assert app.get(PRIP + f"/Products({pid})/Attributes('productType')?$select=Value", headers=ALICE).json[
            "Value"] == "S2MSI1C"


def test_select_on_one_product(app, catalogue):
    body = app.get(PRIP + f"/Products({catalogue.id('p1')})?$select=Name,ContentLength", headers=ALICE).json
    assert {k for k in body if not k.startswith("@")} == {"Id", "Name", "ContentLength"}
    # a projected entity's context URL lists the selection (OData JSON Format 10.10)
    assert body["@odata.context"] == "$metadata#Products(Name,ContentLength)/$entity"
    everything = app.get(PRIP + f"/Products({catalogue.id('p1')})?$select=*", headers=ALICE).json
    assert everything["@odata.context"] == "$metadata#Products/$entity"


@pytest.mark.parametrize("query", ["$filter=Name eq 'not its name'", "$filter=Foo eq 1", "$top=1", "$skip=0",
                                   "$orderby=Name", "$count=true", "$skiptoken=x", "$search=x"])
def test_options_of_a_list_are_refused_on_one_entity(app, catalogue, query):
    """A product read by key is one entity: an option that narrows, orders or pages a list is a
    400 naming it, not ignored (the client would take the product for one its filter kept);
    ``$count=false`` asks for nothing."""
    response = app.get(f"{PRIP}/Products({catalogue.id('p1')})?{query}", headers=ALICE, status=400)
    assert response.json["error"]["target"] == query.partition("=")[0]
    assert "one entity" in response.json["error"]["message"] and response.headers["Warning"]
    assert app.get(PRIP + f"/Products({catalogue.id('p1')})?$count=false", headers=ALICE).json["Id"] == catalogue.id("p1")


# -- collections and paging ---------------------------------------------------------------------------


def test_default_page_and_next_link(app, catalogue):
    first = app.get(PRIP + "/Products", headers=ALICE).json
    assert first["@odata.context"] == "$metadata#Products"
    assert ids(first) == labels(catalogue, "p1", "p2", "p3")
    link = first["@odata.nextLink"]
    assert link.startswith("http://localhost" + PRIP + "/Products?")
    assert "%24skiptoken=" in link and "%24skip=3" in link
    second = app.get(link, headers=ALICE).json
    assert ids(second) == labels(catalogue, "p4", "p5")
    assert "@odata.nextLink" not in second


@pytest.mark.parametrize("padding", [0, 3000], ids=["short", "long"])
def test_next_links_keep_every_other_option_for_short_and_long_query_strings(app, catalogue, padding):
    """The kept options are quoted once per query string up to 2,048 characters and each time
    above (proseo_odata_web.query): both ways give the same link, each page's own."""
    name_filter = "contains(Name,'S') or Name eq '" + "x" * padding + "&+%'"
    query = {"$filter": name_filter, "$orderby": "Name asc", "$count": "true", "$top": "2"}
    url = PRIP + "/Products?" + urlencode(query)
    seen = []
    for _ in range(3):
        body = app.get(url, headers=CAROL).json
        seen += ids(body)
        url = body.get("@odata.nextLink")
        if url is None:
            break
        kept = parse_qs(urlsplit(url).query)
        assert kept["$filter"] == [name_filter] and kept["$orderby"] == ["Name asc"] and kept["$count"] == ["true"]
        assert kept["$top"] == ["2"] and kept["$skip"] == [str(len(seen))]
    assert len(seen) == len(set(seen)) == 6


def test_skip_alone_returns_the_same_rows_as_the_link(app, catalogue):
    first = app.get(PRIP + "/Products?$orderby=Name desc", headers=CAROL).json
    offset = parse_qs(urlsplit(first["@odata.nextLink"]).query)["$skip"][0]
    via_link = app.get(first["@odata.nextLink"], headers=CAROL).json
    via_skip = app.get(PRIP + f"/Products?$orderby=Name desc&$skip={offset}", headers=CAROL).json
    assert ids(via_link) == ids(via_skip)
    assert len(ids(via_skip)) == 3


def test_every_page_but_the_last_is_full(app, catalogue):
    url, pages = PRIP + "/Products?$orderby=PublicationDate desc&$count=true", []
    while url:
        body = app.get(url, headers=CAROL).json
        pages.append(ids(body))
        assert body["@odata.count"] == 7
        url = body.get("@odata.nextLink")
    assert [len(page) for page in pages] == [3, 3, 1]
    flat = [pid for page in pages for pid in page]
    expected = sorted(catalogue.products.values(), key=lambda p: (p.publication_date, str(p.id)), reverse=True)
    assert flat == [str(p.id) for p in expected]


def test_top_is_the_page_size_and_is_capped(app, catalogue):
    """proseo.paging = cdse (default): $top=6 above the maximum (4) gives pages of 4, the link keeps $top=4."""
    first = app.get(PRIP + "/Products?$top=6", headers=CAROL).json
    assert len(first["value"]) == 4  # proseo.page_size.max
    query = parse_qs(urlsplit(first["@odata.nextLink"]).query)
    assert query["$top"] == ["4"] and query["$skip"] == ["4"]
    second = app.get(first["@odata.nextLink"], headers=CAROL).json
    assert len(second["value"]) == 3
    assert "@odata.nextLink" not in second


def test_top_below_the_result_pages_through_everything(app, catalogue):
    """What eodag and CDSETool do: $top=2 over ALICE's 5 products gives 2, 2, 1 and every row once,
    by following the link or by rebuilding the URL from its %24skip offset."""
    url, pages = PRIP + "/Products?$top=2&$count=true", []
    while url:
        body = app.get(url, headers=ALICE).json
        assert body["@odata.count"] == 5
        pages.append(ids(body))
        url = body.get("@odata.nextLink")
        if url:
            assert parse_qs(urlsplit(url).query)["$top"] == ["2"]
            offset = parse_qs(urlsplit(url).query)["$skip"][0]
            rebuilt = app.get(PRIP + f"/Products?$top=2&$skip={offset}", headers=ALICE).json
            assert ids(rebuilt) == ids(app.get(url, headers=ALICE).json)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [pid for page in pages for pid in page] == labels(catalogue, "p1", "p2", "p3", "p4", "p5")


def _pages(app, url, headers):
    pages, applied = [], set()
    while url:
        response = app.get(url, headers=headers)
        applied.add(response.headers.get("Preference-Applied"))
        pages.append(ids(response.json))
        url = response.json.get("@odata.nextLink")
    return pages, applied


@pytest.mark.parametrize("prefer", ["odata.maxpagesize=2", "maxpagesize=2", "respond-async, odata.maxpagesize=\"2\";x=y",
                                    "ODATA.MAXPAGESIZE = 002"])
def test_prefer_maxpagesize_is_the_page_size(app, catalogue, prefer):
    """OData's own way to ask for a page size (Prefer: odata.maxpagesize, OData 4.01 Part 1,
    8.2.8.3), answered Preference-Applied; the pages hold every product once, in order."""
    headers = {**CAROL, "Prefer": prefer}
    pages, applied = _pages(app, PRIP + "/Products?$orderby=Name", headers)
    assert [len(page) for page in pages] == [2, 2, 2, 1] and applied == {"odata.maxpagesize=2"}
    assert [pid for page in pages for pid in page] == [pid for page in _pages(app, PRIP + "/Products?$orderby=Name",
                                                                             CAROL)[0] for pid in page]
    # with $top, which is the page size in cdse mode, it is not applied: every page but the last
    # stays full, for the clients that go on at $skip + $top (eodag)
    assert _pages(app, PRIP + "/Products?$top=3", headers) == (_pages(app, PRIP + "/Products?$top=3", CAROL)[0], {None})


@pytest.mark.parametrize("prefer, applied, first_page", [
    ("odata.maxpagesize=99", "odata.maxpagesize=4", 4),  # capped at proseo.page_size.max
    ("odata.maxpagesize=" + "9" * 5000, "odata.maxpagesize=4", 4),
    ("odata.maxpagesize=1, odata.maxpagesize=2", "odata.maxpagesize=1", 1),  # the first one counts (RFC 7240)
    ("odata.maxpagesize=0", None, 3), ("odata.maxpagesize=-1", None, 3), ("odata.maxpagesize=abc", None, 3),
    ("odata.maxpagesize", None, 3), ("odata.maxpagesizes=2", None, 3), ("return=minimal", None, 3),
    ('foo="a,maxpagesize=2", respond-async', None, 3),  # inside another preference's quoted value
    ('foo="a\\",maxpagesize=2";x=1, wait=5', None, 3), ("odata.maxpagesize=\u0662", None, 3),
    ("odata.maxpagesize=0x10", None, 3), ("odata.maxpagesize=2 3", None, 3),
])
def test_prefer_maxpagesize_unusable_or_capped(app, catalogue, prefer, applied, first_page):
    response = app.get(PRIP + "/Products", headers={**CAROL, "Prefer": prefer})
    assert response.headers.get("Preference-Applied") == applied and len(response.json["value"]) == first_page


def test_prefer_maxpagesize_only_where_a_page_is_answered(app, catalogue):
    prefer = {**CAROL, "Prefer": "odata.maxpagesize=2"}
    assert "Preference-Applied" not in app.get(PRIP + "/Products/$count", headers=prefer).headers
    refused = app.get(PRIP + "/Products?$filter=Nothing eq 1", headers=prefer, status=400)
    assert "Preference-Applied" not in refused.headers
    subscriptions = app.get(PRIP + "/Subscriptions", headers=prefer)
    assert subscriptions.headers["Preference-Applied"] == "odata.maxpagesize=2"


def test_top_equal_to_the_result_has_no_link(app, catalogue):
    body = app.get(PRIP + "/Products?$top=4&$filter=ContentLength le 1004", headers=ALICE).json
    assert len(body["value"]) == 4
    assert "@odata.nextLink" not in body


def test_strict_paging_top_caps_the_total(app_settings, catalogue):
    with served_app({**app_settings, "proseo.paging": "strict"}) as app:
        body = app.get(PRIP + "/Products?$top=2", headers=ALICE).json
        assert ids(body) == labels(catalogue, "p1", "p2")
        assert "@odata.nextLink" not in body
        first = app.get(PRIP + "/Products?$top=6", headers=CAROL).json
        assert len(first["value"]) == 4  # capped page
        query = parse_qs(urlsplit(first["@odata.nextLink"]).query)
        assert query["$top"] == ["2"] and query["$skip"] == ["4"]  # what remains of the client's $top
        second = app.get(first["@odata.nextLink"], headers=CAROL).json
        assert len(second["value"]) == 2
        assert "@odata.nextLink" not in second
        # Prefer: odata.maxpagesize is the page size; $top still caps the total
        pages, applied = _pages(app, PRIP + "/Products?$top=5", {**CAROL, "Prefer": "odata.maxpagesize=2"})
        assert [len(page) for page in pages] == [2, 2, 1] and applied == {"odata.maxpagesize=2"}


def test_paging_setting_is_checked(app_settings):
    from proseo_odata_web.settings import SettingsError, WebSettings

    assert WebSettings.from_settings({"proseo.paging": " Strict "}).paging == "strict"
    assert WebSettings.from_settings({}).paging == "cdse"
    with pytest.raises(SettingsError, match="proseo.paging"):
        WebSettings.from_settings({"proseo.paging": "odata"})


def test_skip(app, catalogue):
    assert ids(app.get(PRIP + "/Products?$skip=4", headers=ALICE).json) == labels(catalogue, "p5")
    assert ids(app.get(PRIP + "/Products?$skip=40", headers=ALICE).json) == []


@pytest.mark.parametrize(
    "query,expected",
    [
        ("$orderby=ContentLength desc", ["p5", "p4", "p3"]),
        ("$orderby=contentdate/start desc", ["p5", "p4", "p3"]),
        ("$ORDERBY=Name", ["p4", "p1", "p2"]),
        ("orderby=PublicationDate asc,Id", ["p1", "p2", "p3"]),
    ],
)
def test_orderby(app, catalogue, query, expected):
    assert ids(app.get(PRIP + "/Products?" + query, headers=ALICE).json) == labels(catalogue, *expected)


@pytest.mark.parametrize(
    "query,count",
    [("$count=true", 5), ("$count=True", 5), ("$count=1", 5), ("count=true", 5), ("$COUNT=TRUE", 5),
     ("$count=false", None), ("$count=0", None), ("", None)],
)
def test_count_option(app, query, count):
    body = app.get(PRIP + "/Products?" + query, headers=ALICE).json
    assert body.get("@odata.count") == count
    assert len(body["value"]) == 3


def test_count_route(app):
    response = app.get(PRIP + "/Products/$count", headers=ALICE)
    assert response.content_type == "text/plain"
    assert response.text == "5"
    assert app.get(PRIP + "/Products/$count", headers=CAROL).text == "7"


@pytest.mark.parametrize(
    "query,expanded",
    [
        ("$expand=Attributes", {"Attributes"}),
        ("expand=Attributes", {"Attributes"}),
        ("$EXPAND=Attributes", {"Attributes"}),
        ("$expand=Attributes&$expand=Assets", {"Attributes", "Assets"}),
        ("$expand=Attributes,Assets", {"Attributes", "Assets"}),
        ("$expand=Assets", {"Assets"}),
        ("$expand=*", {"Attributes", "Assets"}),
        ("", set()),
    ],
)
def test_expand(app, query, expanded):
    body = app.get(PRIP + "/Products?" + query, headers=ALICE).json
    for product in body["value"]:
        assert {"Attributes", "Assets"} & set(product) == expanded
        if "Attributes" in expanded:
            assert len(product["Attributes"]) == 5
        if "Assets" in expanded:
            assert product["Assets"] == []


def test_select_in_collection(app):
    body = app.get(PRIP + "/Products?$select=Name", headers=ALICE).json
    for product in body["value"]:
        assert {k for k in product if not k.startswith("@")} == {"Id", "Name"}
    assert body["@odata.context"] == "$metadata#Products(Name)"  # OData JSON Format 10.9
    # the next page keeps the projection, and its context URL says so again
    following = app.get(body["@odata.nextLink"], headers=ALICE).json
    assert following["@odata.context"] == "$metadata#Products(Name)"
    assert app.get(PRIP + "/Products?$select=*", headers=ALICE).json["@odata.context"] == "$metadata#Products"
    twice = app.get(PRIP + "/Products?$select=Name,ContentLength,Name", headers=ALICE).json
    assert twice["@odata.context"] == "$metadata#Products(Name,ContentLength)"  # each property once
    # a name in another letter case is the property it matches, as in $filter, and named as declared
    cased = app.get(PRIP + "/Products?$select=name,CONTENTLENGTH", headers=ALICE).json
    assert cased["@odata.context"] == "$metadata#Products(Name,ContentLength)"
    assert {k for k in cased["value"][0] if not k.startswith("@")} == {"Id", "Name", "ContentLength"}
    navigation = app.get(PRIP + "/Products?$select=Attributes", headers=ALICE, status=400).json["error"]
    assert navigation["target"] == "$select" and "$expand=Attributes" in navigation["message"]


@pytest.mark.parametrize("fmt", ["json", "JSON", "application/json", "application/json;odata.metadata=minimal"])
def test_format_json(app, fmt):
    assert len(app.get(PRIP + "/Products", {"$format": fmt}, headers=ALICE).json["value"]) == 3


def test_head_of_a_collection(app):
    response = app.head(PRIP + "/Products", headers=ALICE)
    assert response.status_int == 200 and response.body == b""


# -- mounting -------------------------------------------------------------------------------------------


def test_mounted_twice(app_settings, catalogue):
    with Configurator(settings=dict(app_settings)) as config:
        config.include("proseo_odata_web")
        config.add_prip_service("/mirror/prip", name="mirror")
        config.add_odip_service("/mirror/odip/odata/v1", name="odip-mirror")
    app = webtest.TestApp(config.make_wsgi_app())
    try:
        a = app.get(PRIP + "/Products", headers=ALICE).json
        b = app.get("/mirror/prip/Products", headers=ALICE).json
        assert ids(a) == ids(b) and len(ids(a)) == 3
        assert b["@odata.nextLink"].startswith("http://localhost/mirror/prip/Products?")
        # the mount's own $metadata, its own URLs in full metadata, its own 308
        assert b["@odata.context"] == "$metadata#Products"
        one = app.get(f"/mirror/prip/Products({ids(b)[0]})/Attributes",
                      headers={**ALICE, "Accept": "application/json;odata.metadata=full"}).json
        assert one["@odata.context"] == f"../$metadata#Products({ids(b)[0]})/Attributes"
        attribute_id = one["value"][0]["@odata.id"]
        assert app.get(f"/mirror/prip/{attribute_id}", headers=ALICE).json["Name"] == one["value"][0]["Name"]
        assert app.get("/mirror/prip/Products/", headers=ALICE, status=308).headers["Location"] == (
            "http://localhost/mirror/prip/Products")
        # a mounted ODIP answers as ODIP: its context, its Warning
        assert app.get("/mirror/odip/odata/v1/").json["@odata.context"] == "$metadata"
        refused = app.get("/mirror/odip/odata/v1/ProductionOrders", headers=ALICE, status=403)  # no ODIP role
        assert refused.headers["Warning"].startswith("199 proseo-api-odip (E7204)")
    finally:
        app.app.registry.storage.close()


def test_custom_prefix(app_settings, catalogue):
    with served_app({**app_settings, "proseo.prip.prefix": "/catalogue/v2/"}) as app:
        assert app.get("/catalogue/v2/Products/$count", headers=ALICE).text == "5"
        assert app.get(PRIP + "/Products", headers=ALICE, expect_errors=True).status_int == 404


# -- $value (the HTTP plumbing is proseo_odata_web.download's; here: routing and who may download) ------


def test_value_downloads_the_file(app, catalogue):
    response = app.get(PRIP + f"/Products({catalogue.id('p1')})/$value", headers=ALICE)
    assert response.body == P1_FILE
    assert response.headers["Content-Disposition"] == f'attachment; filename="{catalogue.products["p1"].name}"'
    head = app.head(PRIP + f"/Products('{catalogue.id('p1')}')/$value", headers=ALICE)
    assert head.headers["Content-Length"] == str(len(P1_FILE)) and head.body == b""
    ranged = app.get(PRIP + f"/Products({catalogue.id('p1')})/$value", headers={**ALICE, "Range": "bytes=0-9"})
    assert ranged.status_int == 206 and ranged.body == P1_FILE[:10]


def test_value_of_a_product_without_file_is_404(app, catalogue):
    response = app.get(PRIP + f"/Products({catalogue.id('p2')})/$value", headers=ALICE, expect_errors=True)
    assert response.status_int == 404
    assert response.headers["Warning"].startswith("199 proseo-api-prip (E")


def test_every_context_url_resolves_to_the_services_metadata(app, catalogue):
    """OData JSON Format 4.3: the context URL is relative to the request's URL (RFC 3986
    expansion). ``$metadata#...`` was written at every depth: from ``Products(<id>)/Attributes``
    or the root without its slash it named a document that does not exist."""
    from urllib.parse import urljoin

    pid = catalogue.id("p1")
    base = "http://localhost"
    for path in ("", "/", "/Products", f"/Products({pid})", f"/Products({pid})/Attributes", f"/Products({pid})/Assets"):
        body = app.get(PRIP + path, headers=basic("alice")).json
        resolved = urljoin(base + PRIP + path, body["@odata.context"])
        assert resolved.split("#")[0] == f"{base}{PRIP}/$metadata", (path, body["@odata.context"])
        if path in ("", "/"):  # the service document's URLs are relative to its context URL
            assert urljoin(resolved, body["value"][0]["url"]) == f"{base}{PRIP}/Products"


def test_context_urls_with_one_service_root_under_the_other(app_settings, catalogue):
    """ODIP at /odata/v1 and PRIP under it at /odata/v1/prip: PRIP's paths are under both roots,
    and the longer one is theirs (their context URLs named ODIP's $metadata)."""
    from urllib.parse import urljoin

    with served_app({**app_settings, "proseo.odip.prefix": "/odata/v1", "proseo.prip.prefix": "/odata/v1/prip"}) as nested:
        for path in ("/odata/v1/prip/Products", f"/odata/v1/prip/Products({catalogue.id('p1')})/Attributes",
                     "/odata/v1/prip/"):
            body = nested.get(path, headers=basic("alice")).json
            assert urljoin("http://localhost" + path, body["@odata.context"]).split("#")[0] == \
                "http://localhost/odata/v1/prip/$metadata", (path, body["@odata.context"])
        refused = nested.get("/odata/v1/prip/Products?$top=x", headers=basic("alice"), expect_errors=True)
    assert refused.headers["Warning"].startswith("199 proseo-api-prip ")
