"""The JSON format parameters a client asks for (OData JSON Format 4.01, 3.1 and 3.2;
proseo_odata_web.json_format), on SQLite and PostgreSQL (where a page's product texts are the
database's): ``odata.metadata=full`` (every entity's type, id, media read link and navigation
links, each of which the service answers), ``none`` (no control information but the next link
and the count), ``IEEE754Compatible=true`` (Edm.Int64 as strings); ``$format`` over ``Accept``,
the preferred ``Accept`` range, a ``$format`` value the parameters cannot have (400), and the
data itself unchanged by any of them."""
from __future__ import annotations

import posixpath
import re
from urllib.parse import urljoin, urlsplit

import pytest
import webtest
from pyramid.config import Configurator
from pyramid.response import Response

from proseo_odata.archive.testing import store_product_file
from proseo_odata_web.json_format import JSONFormat, rewrite
from proseo_odata_web.odata_json import CONTENT_TYPE

from odip_helpers import ODIP, auth, json_of
from prip_helpers import P1_FILE, PRIP, basic

ALICE = basic("alice")
FULL = "application/json;odata.metadata=full"
NONE = "application/json;odata.metadata=none"
IEEE = "application/json;odata.metadata=minimal;IEEE754Compatible=true"
#: The control information that only full metadata adds (and the actions it advertises: "#...").
ADDED_BY_FULL = ("@odata.type", "@odata.id", "@odata.readLink", "@odata.mediaReadLink")
SUBSCRIPTION = {"FilterParam": "startswith(Name,'S2')", "NotificationEndpoint": "https://receiver.example.org/n"}
#: The tests that only read share one application and catalogue per backend (tests/web/conftest.py).
SHARED = pytest.mark.shared_app


def get(app, url, accept=None, headers=ALICE, status=200):
    return app.get(url, headers={**headers, **({"Accept": accept} if accept else {})}, status=status)


def without(body, drop):
    """``body`` without the members ``drop(name)`` is true of, at every depth."""
    if isinstance(body, list):
        return [without(item, drop) for item in body]
    if isinstance(body, dict):
        return {name: without(value, drop) for name, value in body.items() if not drop(name)}
    return body


def resolve(request_path, context, relative):
    """A relative URL of a payload, as a client resolves it: against the context URL, itself
    relative to the request's URL (OData JSON Format 4.01, 4.3)."""
    return urlsplit(urljoin(urljoin("http://localhost" + request_path, context), relative)).path


def full_only(name):
    return (name in ADDED_BY_FULL or name.endswith(("@odata.navigationLink", "@odata.type"))
            or name.startswith("#"))


def same_data(full, minimal):
    """Whether a full answer is the minimal one with control information added (the derived
    types' ``@odata.type``, which both have, aside)."""
    return without(full, full_only) == without(minimal, lambda name: name == "@odata.type")


# -- PRIP ------------------------------------------------------------------------------------------


@SHARED
def test_full_metadata_of_a_product_and_its_links(app, catalogue):
    p1 = catalogue.products["p1"]
    url = f"{PRIP}/Products({p1.id})?$expand=Attributes"
    response = get(app, url, FULL)
    assert response.headers["Content-Type"] == "application/json;odata.metadata=full"
    body = response.json
    names = list(body)
    assert names[:6] == ["@odata.context", "@odata.type", "@odata.id", "@odata.readLink", "@odata.mediaReadLink",
                         "@odata.mediaContentType"]
    assert body["@odata.type"] == "#OData.CSC.Product"
    assert body["@odata.id"] == body["@odata.readLink"] == f"Products({p1.id})"
    assert body["@odata.mediaReadLink"] == f"Products({p1.id})/$value"
    # a property whose JSON value does not show its type has it right before it
    types = {name.partition("@")[0]: value for name, value in body.items() if name.endswith("@odata.type") and name[0] != "@"}
    assert types == {"Id": "#Guid", "ContentLength": "#Int64", "OriginDate": "#DateTimeOffset",
                     "PublicationDate": "#DateTimeOffset", "CreationDate": "#DateTimeOffset",
                     "ModificationDate": "#DateTimeOffset", "EvictionDate": "#DateTimeOffset",
                     "Checksum": "#Collection(OData.CSC.Checksum)", "Checksums": "#Collection(OData.CSC.Checksum)",
                     "ContentDate": "#OData.CSC.TimeRange", "GeoFootprint": "#GeographyPolygon",
                     "Collection": "#OData.CSC.Collection"}
    assert names.index("ContentLength@odata.type") == names.index("ContentLength") - 1
    assert body["ContentDate"]["Start@odata.type"] == "#DateTimeOffset"
    # a navigation property's link right before it when expanded, after the properties otherwise
    assert names.index("Attributes@odata.navigationLink") == names.index("Attributes") - 1
    assert names[-1] == "Assets@odata.navigationLink"
    assert body["Attributes@odata.navigationLink"] == f"Products({p1.id})/Attributes"
    # an attribute, in no entity set, has its URL under the product's
    orbit = next(a for a in body["Attributes"] if a["Name"] == "orbitNumber")
    assert orbit["@odata.type"] == "#OData.CSC.IntegerAttribute"
    assert orbit["@odata.id"] == f"Products({p1.id})/Attributes('orbitNumber')"
    # every link resolves (from the context URL) to what the service answers there
    path = urlsplit(url).path
    for attribute in body["Attributes"]:
        answer = get(app, resolve(path, body["@odata.context"], attribute["@odata.id"]), FULL).json
        assert answer["@odata.context"] == f"../$metadata#Products({p1.id})/Attributes/$entity"
        assert answer["@odata.id"] == attribute["@odata.id"] and answer["Value"] == attribute["Value"]
    entity = get(app, resolve(path, body["@odata.context"], body["@odata.id"]))
    assert entity.json["Id"] == str(p1.id)
    assert get(app, resolve(path, body["@odata.context"], body["@odata.mediaReadLink"])).body == P1_FILE
    attributes = get(app, resolve(path, body["@odata.context"], body["Attributes@odata.navigationLink"]))
    assert {a["Name"] for a in attributes.json["value"]} == {a["Name"] for a in body["Attributes"]}
    assets = get(app, resolve(path, body["@odata.context"], body["Assets@odata.navigationLink"]))
    assert assets.json["value"] == []
    # the data is the minimal answer's
    assert same_data(body, get(app, url).json)


@SHARED
def test_full_metadata_of_a_page(app, catalogue):
    url = f"{PRIP}/Products?$top=2&$count=true&$orderby=Name&$select=Name"
    minimal = get(app, url).json
    response = get(app, url, FULL)
    body = response.json
    assert list(body) == ["@odata.context", "@odata.count", "value", "@odata.nextLink"]
    assert body["@odata.nextLink"] == minimal["@odata.nextLink"] and body["@odata.count"] == minimal["@odata.count"]
    for product in body["value"]:
        assert product["@odata.id"] == f"Products({product['Id']})"
        assert product["Attributes@odata.navigationLink"] == f"Products({product['Id']})/Attributes"
    assert same_data(body, minimal)
    # the next page is asked for in the same format by the client, not by the link
    assert get(app, body["@odata.nextLink"], FULL).json["value"][0]["@odata.type"] == "#OData.CSC.Product"


@SHARED
def test_full_metadata_of_a_products_attributes(app, catalogue):
    p1 = catalogue.products["p1"]
    body = get(app, f"{PRIP}/Products({p1.id})/Attributes", FULL).json
    assert body["@odata.context"] == f"../$metadata#Products({p1.id})/Attributes"
    assert {a["@odata.type"] for a in body["value"]} >= {"#OData.CSC.IntegerAttribute", "#OData.CSC.StringAttribute"}
    assert [a["@odata.id"] for a in body["value"]] == [f"Products({p1.id})/Attributes('{a['Name']}')"
                                                         for a in body["value"]]


@SHARED
def test_one_attribute_by_its_name(app, catalogue):
    p1 = catalogue.products["p1"]
    listed = {a["Name"]: a for a in get(app, f"{PRIP}/Products({p1.id})/Attributes").json["value"]}
    for key in ("'productType'", "Name='productType'", "%27productType%27"):
        body = get(app, f"{PRIP}/Products({p1.id})/Attributes({key})").json
        assert body == {"@odata.context": f"../$metadata#Products({p1.id})/Attributes/$entity",
                        **listed["productType"]}
    missing = get(app, f"{PRIP}/Products({p1.id})/Attributes('cloudcover')", status=404)  # names are exact
    assert "no attribute 'cloudcover'" in missing.json["error"]["message"]
    for key in ("productType", "'productType", "Id='productType'", "''productType'"):
        refused = get(app, f"{PRIP}/Products({p1.id})/Attributes({key})", status=400)
        assert refused.json["error"]["target"] == "Name"
    get(app, f"{PRIP}/Products(a0000000-0000-0000-0000-00000000ffff)/Attributes('productType')", status=404)
    get(app, f"{PRIP}/Products({p1.id})/Attributes('productType')", headers={}, status=401)


@SHARED
def test_no_metadata(app, catalogue):
    p1 = catalogue.products["p1"]
    url = f"{PRIP}/Products?$top=1&$count=true&$expand=Attributes&$orderby=Name"
    minimal = get(app, url).json
    response = get(app, url, NONE)
    assert response.headers["Content-Type"] == "application/json;odata.metadata=none"
    body = response.json
    assert list(body) == ["@odata.count", "value", "@odata.nextLink"]
    assert body == without(minimal, lambda name: name.startswith("@odata.") and name not in (
        "@odata.count", "@odata.nextLink"))
    assert "@odata.mediaContentType" not in body["value"][0]
    assert not any("@odata.type" in a for a in body["value"][0]["Attributes"])
    one = get(app, f"{PRIP}/Products({p1.id})", NONE).json
    assert not any(name.startswith("@") for name in one) and one["Id"] == str(p1.id)
    document = get(app, PRIP + "/", NONE).json
    assert list(document) == ["value"]


@SHARED
def test_ieee754_compatible(app, catalogue):
    p1 = catalogue.products["p1"]
    url = f"{PRIP}/Products?$filter=Id eq {p1.id}&$count=true&$expand=Attributes"
    response = get(app, url, IEEE)
    assert response.headers["Content-Type"] == "application/json;odata.metadata=minimal;IEEE754Compatible=true"
    body = response.json
    assert body["@odata.count"] == "1"
    product = body["value"][0]
    assert product["ContentLength"] == "1001" and "@odata.id" not in product
    attributes = {a["Name"]: a for a in product["Attributes"]}
    assert attributes["orbitNumber"]["Value"] == "1001" and attributes["orbitNumber"]["IntegerValue"] == "1001"
    assert attributes["orbitNumber"]["ContentLength"] == "4"
    assert attributes["cloudCover"]["Value"] == 10.0  # an Edm.Double stays a number
    assert product["ContentDate"] == get(app, url).json["value"][0]["ContentDate"]
    # IEEE754Compatible=false, or absent: numbers
    assert get(app, url, "application/json;IEEE754Compatible=false").json["@odata.count"] == 1


@SHARED
def test_format_overrides_accept_and_the_preferred_range_counts(app, catalogue):
    p1 = catalogue.products["p1"]
    url = f"{PRIP}/Products({p1.id})"
    assert "@odata.context" not in get(app, url + "?$format=application/json;odata.metadata=none", FULL).json
    response = get(app, url + "?$format=json", FULL)  # json: no parameters, so minimal
    assert response.headers["Content-Type"] == "application/json;odata.metadata=minimal"
    preferred = get(app, url, f"{NONE};q=0.5, application/json;odata.metadata=full;q=0.9, */*;q=0.1")
    assert preferred.headers["Content-Type"] == "application/json;odata.metadata=full"
    # OData 4.01 drops the prefix; names and values in any case
    assert "@odata.id" in get(app, url, "application/json;Metadata=FULL;ieee754compatible=TRUE").json
    # a value the parameter cannot have: ignored in Accept, 400 in $format
    assert "@odata.id" not in get(app, url, "application/json;odata.metadata=most").json
    refused = get(app, url + "?$format=application/json;odata.metadata=most", status=400)
    assert refused.json["error"]["target"] == "$format" and refused.headers["Warning"].startswith("199 ")
    get(app, f"{PRIP}/Products?$format=application/json;IEEE754Compatible=1", status=400)


@SHARED
def test_errors_and_other_answers_keep_their_format(app, catalogue):
    missing = get(app, f"{PRIP}/Products(a0000000-0000-0000-0000-00000000ffff)", FULL, status=404)
    assert missing.headers["Content-Type"] == "application/json" and set(missing.json) == {"error"}
    count = get(app, f"{PRIP}/Products/$count", FULL)
    assert count.headers["Content-Type"] == "text/plain" and count.text.isdigit()
    metadata = get(app, f"{PRIP}/$metadata?$format=json", FULL)
    assert metadata.headers["Content-Type"] == "application/json" and "$Version" in metadata.json
    assert metadata.headers["Vary"] == "Accept"  # CSDL XML or JSON by Accept


@SHARED
def test_percent_encoded_format_vary_and_the_numbers_text(app, catalogue):
    p1 = catalogue.products["p1"]
    url = f"{PRIP}/Products({p1.id})?%24%66ormat=application/json;odata.metadata=none"
    response = get(app, url, FULL)  # $format, however encoded, overrides Accept
    assert response.headers["Content-Type"] == "application/json;odata.metadata=none"
    assert response.headers["Vary"] == "Accept, Prefer" == get(app, f"{PRIP}/Products").headers["Vary"]
    # the numbers are written as the minimal answer writes them, character for character
    page = f"{PRIP}/Products?$expand=Attributes&$orderby=Name"
    number = re.compile(r'(?<=[:\[,] )-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')
    minimal, none = get(app, page).text, get(app, page, NONE).text
    assert number.findall(minimal) and number.findall(none) == number.findall(minimal)


@SHARED
def test_format_on_the_service_document(app, catalogue):
    get(app, PRIP + "/?$format=application/json;odata.metadata=most", status=400)
    get(app, PRIP + "/?$format=application/xml;odata.metadata=full", status=400)
    assert list(get(app, PRIP + "/?$format=application/json;odata.metadata=none").json) == ["value"]


def test_format_is_checked_before_an_action_and_actions_are_advertised(app, catalogue):
    created = app.post_json(PRIP + "/Subscriptions", SUBSCRIPTION,
                            headers={**ALICE, "Accept": FULL}, status=201).json
    key = created["Id"]
    assert created["@odata.id"] == created["@odata.readLink"] == f"Subscriptions({key})"
    assert {name: action["target"] for name, action in created.items() if name.startswith("#")} == {
        f"#OData.CSC.{a}": f"Subscriptions({key})/OData.CSC.{a}" for a in ("Pause", "Resume", "Cancel")}
    assert all(action["title"] for name, action in created.items() if name.startswith("#"))
    # a bad $format is refused before the action is carried out
    app.post(PRIP + f"/Subscriptions({key})/OData.CSC.Cancel?$format=application/json;odata.metadata=most",
             headers=ALICE, status=400)
    assert get(app, f"{PRIP}/Subscriptions({key})").json["Status"] == "running"
    # each advertised target is the action
    cancelled = app.post(urljoin(f"http://localhost{PRIP}/", created["#OData.CSC.Cancel"]["target"]),
                         headers={**ALICE, "Accept": FULL}).json
    assert cancelled["Status"] == "cancelled"
    assert [name for name in cancelled if name.startswith("#")] == ["#OData.CSC.Cancel"]  # what it can still take
    # without its Status ($select), a subscription advertises nothing rather than guess
    selected = get(app, f"{PRIP}/Subscriptions({key})?$select=Priority", FULL).json
    assert selected["@odata.id"] == f"Subscriptions({key})" and not any(n.startswith("#") for n in selected)
    app.post_json(PRIP + "/Subscriptions?$format=atom", SUBSCRIPTION, headers=ALICE,
                  status=400)


def test_downloads_and_a_host_applications_answers_are_never_rewritten(app, app_settings, catalogue, storage,
                                                                         archive):
    """A file whose ContentType is the JSON answers' own is the file, whatever is asked."""
    content = b'not JSON, {"@odata.context": "$metadata#Products", "ContentLength": 5}'
    product = store_product_file(archive, content, name="S2B_MSIL1C_JSON.json", mission="DEMO",
                                 content_type=CONTENT_TYPE)
    storage.add_product(product)
    for accept in (FULL, NONE, IEEE):
        whole = get(app, f"{PRIP}/Products({product.id})/$value", accept)
        assert whole.body == content and whole.headers["Content-Type"] == CONTENT_TYPE
        part = app.get(f"{PRIP}/Products({product.id})/$value", headers={**ALICE, "Accept": accept,
                                                                        "Range": "bytes=0-9"}, status=206)
        assert part.body == content[:10]
    with Configurator(settings=dict(app_settings)) as config:
        config.include("proseo_odata_web")
        config.add_route("host.things", "/host/things")
        config.add_view(lambda request: Response(body=b'{"@odata.context": "$metadata#Products", "value": []}',
                                                 headerlist=[("Content-Type", CONTENT_TYPE)]), route_name="host.things")
    host = webtest.TestApp(config.make_wsgi_app())
    try:
        answer = host.get("/host/things", headers={"Accept": FULL})
        assert answer.headers["Content-Type"] == CONTENT_TYPE and answer.json == {
            "@odata.context": "$metadata#Products", "value": []}
    finally:
        host.app.registry.storage.close()


def test_an_attribute_whose_name_needs_encoding_is_at_its_id(app, catalogue, storage):
    """Names with '/', quotes, parentheses and spaces: the id full metadata gives each is its URL."""
    from proseo_odata.model import Attribute, AttributeType

    product = storage.get_product("DEMO", catalogue.products["p1"].id)
    names = ["a/b", "it's (x)", "caf\u00e9 au lait", "50%", "q?#"]
    product.attributes = [*product.attributes, *(Attribute(name, AttributeType.STRING, f"v{i}")
                                                  for i, name in enumerate(names))]
    storage.update_product(product)
    url = f"{PRIP}/Products({product.id})/Attributes"
    body = get(app, url, FULL).json
    ids = {a["Name"]: a["@odata.id"] for a in body["value"]}
    for i, name in enumerate(names):
        answer = get(app, resolve(urlsplit(url).path, body["@odata.context"], ids[name])).json
        assert answer["Name"] == name and answer["Value"] == f"v{i}"
    assert get(app, f"{url}('a/b')").json["Value"] == "v0"  # as a client writes it, unencoded


def test_a_context_not_read_here_is_left_minimal():
    roots = {"prip": PRIP, "odip": ODIP}
    full = JSONFormat("full", True)
    product = {"Id": "a0000000-0000-0000-0000-000000000001", "ContentLength": 5}
    for context in ("$metadata#Nothing", "$metadata#Products(Name", "$metadata#Products/Nothing",
                    "$metadata#Products(x)/Attributes/Name"):
        assert rewrite({"@odata.context": context, "value": [product]}, full, roots, "prip") is None
    # a projection with parentheses inside (OData 4.01 writes an expanded navigation so)
    projected = rewrite({"@odata.context": "$metadata#Products(Name,Attributes())", "value": [product]}, full,
                        roots, "prip")
    assert projected["value"][0]["@odata.id"] == f"Products({product['Id']})"
    assert projected["value"][0]["ContentLength"] == "5"


# -- ODIP ------------------------------------------------------------------------------------------


@SHARED
def test_full_metadata_of_an_order_and_its_product(odip):
    order_id = odip.order_id("u_completed")
    output = odip.products["output"]
    url = f"{ODIP}/ProductionOrders({order_id})?$expand=Product"
    body = json_of(odip.app.get(url, headers={**auth("ursula"), "Accept": FULL}))
    assert body["@odata.type"] == "#OData.CSC.ProductionOrder"
    assert body["@odata.id"] == f"ProductionOrders({order_id})"
    names = list(body)
    assert names.index("Product@odata.navigationLink") == names.index("Product") - 1
    assert body["Product@odata.navigationLink"] == f"ProductionOrders({order_id})/Product"
    product = body["Product"]
    assert product["@odata.type"] == "#OData.CSC.Product"
    # ODIP has no set of products: the product's id is its URL in PRIP, relative to ODIP's root
    path = urlsplit(url).path
    assert resolve(path, body["@odata.context"], product["@odata.id"]) == f"{PRIP}/Products({output.id})"
    assert resolve(path, body["@odata.context"], product["@odata.mediaReadLink"]) == (
        f"{PRIP}/Products({output.id})/$value")
    linked = json_of(odip.app.get(resolve(path, body["@odata.context"], body["Product@odata.navigationLink"]),
                                  headers=auth("ursula")))
    assert linked["Id"] == str(output.id)
    minimal = json_of(odip.app.get(url, headers=auth("ursula")))
    assert same_data(body, minimal)
    assert body["#OData.CSC.Cancel"]["target"] == f"ProductionOrders({order_id})/OData.CSC.Cancel"
    alone_url = f"{ODIP}/ProductionOrders({order_id})/Product?$expand=Attributes"
    alone = json_of(odip.app.get(alone_url, headers={**auth("ursula"), "Accept": FULL}))
    assert alone["@odata.context"] == "../$metadata#OData.CSC.Product"
    assert posixpath.basename(alone["@odata.id"]) == f"Products({output.id})"
    attribute = alone["Attributes"][0]
    assert resolve(urlsplit(alone_url).path, alone["@odata.context"], attribute["@odata.id"]) == (
        f"{PRIP}/Products({output.id})/Attributes('{attribute['Name']}')")


@SHARED
def test_ieee754_compatible_orders(odip):
    url = f"{ODIP}/ProductionOrders?$count=true"
    body = json_of(odip.app.get(url, headers={**auth("mgr"), "Accept": IEEE}))
    assert body["@odata.count"] == str(json_of(odip.app.get(url, headers=auth("mgr")))["@odata.count"])
    sizes = [order["OrderOutputSize"] for order in body["value"] if order.get("OrderOutputSize") is not None]
    assert sizes and all(isinstance(size, str) and size.isdigit() for size in sizes)
    assert all(isinstance(order["Priority"], int) for order in body["value"])  # an Edm.Int32 stays a number
