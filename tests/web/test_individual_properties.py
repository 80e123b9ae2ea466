"""Individual properties and their raw values (OData 4.01 Part 1, 11.2.4.1 and 11.2.4.1.1) on
every entity set read by key, SQLite and PostgreSQL: ``Products(<Id>)/Name`` answers the value
the entity's own answer holds, ``.../Name/$value`` its raw text, a null value ``204``; the same
who-sees-what as the entity; options refused; full metadata and IEEE754Compatible
(:mod:`proseo_odata_web.properties`)."""
from __future__ import annotations

import json
import re

import pytest
import shapely.geometry
import shapely.wkt

from odip_helpers import DISABLED_ID, L2A_ID, MASK, ODIP, OTHER_WF_ID, auth, json_of
from prip_helpers import PRIP, basic

ALICE = basic("alice")
WARNING = re.compile(r"^\d{3} proseo-api-(prip|odip) \([EW]\d+\) .+$")


def assert_error(response, status: int):
    assert response.status_int == status, response.body
    assert WARNING.match(response.headers["Warning"]), response.headers["Warning"]
    assert json_of(response)["error"]["message"]


#: The complex properties of the entity types read here (a null one has no raw value either).
COMPLEX = frozenset({"ContentDate", "Collection", "InputProductReference"})


def raw(value) -> str:
    """What ``$value`` answers for a JSON value of the entity (a string without its quotes)."""
    return value if isinstance(value, str) else json.dumps(value)


def check_properties(app, entity_url: str, headers: dict, key: str) -> dict:
    """Every property of the entity's answer read on its own, and the raw value of each
    primitive one: the same values. Returns the entity."""
    entity = app.get(entity_url, headers=headers).json
    names = [name for name in entity if "@" not in name]
    assert len(names) >= 7
    # the entity set the entity's own answer names (ProductionOrder(<id>) answers as ProductionOrders)
    own_set = entity["@odata.context"].split("#", 1)[1].split("/", 1)[0]
    check_values(app, entity_url, headers, key, own_set, [(name, entity[name]) for name in names])
    return entity


def check_values(app, entity_url: str, headers: dict, key: str, own_set: str, values: list) -> None:
    """Each ``(property path, value)`` of ``values`` read on its own, and its raw value; a
    complex value's members too, by their paths (``ContentDate/Start``)."""
    for name, value in values:
        answer = app.get(f"{entity_url}/{name}", headers=headers, status="*")
        value_answer = app.get(f"{entity_url}/{name}/$value", headers=headers, status="*")
        if value is None:
            assert (answer.status_int, answer.body) == (204, b""), name
            assert answer.headers["OData-Version"] == "4.0"
            if name.rpartition("/")[2] in COMPLEX:  # no raw value, null or not
                assert_error(value_answer, 400)
            else:
                assert (value_answer.status_int, value_answer.body) == (204, b""), name
            continue
        assert answer.status_int == 200, (name, answer.body)
        assert answer.headers["Content-Type"] == "application/json;odata.metadata=minimal"
        body = answer.json
        assert body["@odata.context"] == "../" * name.count("/") + f"../$metadata#{own_set}({key})/{name}", name
        if isinstance(value, dict) and "type" not in value:  # a complex value: its members in the object
            assert {k: v for k, v in body.items() if k != "@odata.context"} == value, name
            assert_error(value_answer, 400)
            check_values(app, entity_url, headers, key, own_set, [(f"{name}/{m}", v) for m, v in value.items()])
        elif isinstance(value, list):
            assert body == {"@odata.context": body["@odata.context"], "value": value}, name
            assert_error(value_answer, 400)
            count = app.get(f"{entity_url}/{name}/$count", headers=headers)
            assert (count.content_type, count.text) == ("text/plain", str(len(value))), name
        else:
            assert body == {"@odata.context": body["@odata.context"], "value": value}, name
            assert value_answer.status_int == 200, (name, value_answer.body)
            assert value_answer.content_type == "text/plain"
            if isinstance(value, dict):  # a geography: WKT with its SRID (OData's ABNF), the same shape
                srid, _, wkt = value_answer.text.partition(";")
                assert srid == "SRID=4326" and " (" not in wkt, value_answer.text
                assert shapely.wkt.loads(wkt).equals(shapely.geometry.shape(value)), name
            else:
                assert value_answer.text == raw(value), name


# -- PRIP ------------------------------------------------------------------------------------------


@pytest.mark.shared_app
def test_every_property_of_a_product_and_its_raw_value(app, catalogue):
    key = catalogue.id("p1")
    entity = check_properties(app, f"{PRIP}/Products({key})", ALICE, key)
    assert {"Name", "ContentLength", "ContentDate", "Checksum", "GeoFootprint", "Online"} <= set(entity)
    # the values themselves, as the seed stored them
    assert app.get(f"{PRIP}/Products({key})/ContentLength/$value", headers=ALICE).text == "1001"
    assert app.get(f"{PRIP}/Products({key})/Online/$value", headers=ALICE).text == "true"
    name = catalogue.products["p4"].name
    assert app.get(f"{PRIP}/Products({catalogue.id('p4')})/Name/$value", headers=ALICE).text == name
    wkt = app.get(f"{PRIP}/Products({key})/GeoFootprint/$value", headers=ALICE).text
    assert f"geography'{wkt}'" == entity["Footprint"]  # the text of the product's Footprint literal
    assert shapely.wkt.loads(wkt.partition(";")[2]).equals(shapely.wkt.loads(catalogue.products["p1"].footprint))
    assert app.get(f"{PRIP}/Products({key})/Checksum/$count?$top=1&$orderby=Value", headers=ALICE).text == "1"
    # a member of a complex property by its path (Part 2, 4.6), as its complex value holds it
    start = app.get(f"{PRIP}/Products({key})/ContentDate/Start", headers=ALICE).json
    assert start == {"@odata.context": f"../../$metadata#Products({key})/ContentDate/Start",  # relative to the URL
                     "value": entity["ContentDate"]["Start"]}
    assert app.get(f"{PRIP}/Products({key})/ContentDate/End/$value", headers=ALICE).text == entity["ContentDate"]["End"]
    # HEAD: the headers of GET, no body
    for path in ("Name", "Name/$value", "Checksum/$count"):
        head, get = (getattr(app, method)(f"{PRIP}/Products({key})/{path}", headers=ALICE) for method in ("head", "get"))
        assert (head.status_int, head.body, head.content_type) == (200, b"", get.content_type), path
    # a key in another form names the same product, and the context its canonical key
    quoted = app.get(f"{PRIP}/Products('{key}')/Name", headers=ALICE).json
    assert quoted["@odata.context"].endswith(f"#Products({key})/Name")


@pytest.mark.shared_app
def test_a_property_is_answered_to_whoever_may_read_the_product_only(app, catalogue):
    restricted, other = catalogue.id("restricted"), str(catalogue.other_mission["o1"].id)
    assert_error(app.get(f"{PRIP}/Products({restricted})/Name", headers=ALICE, status=404), 404)
    assert_error(app.get(f"{PRIP}/Products({restricted})/Name/$value", headers=ALICE, status=404), 404)
    assert app.get(f"{PRIP}/Products({restricted})/Name", headers=basic("carol")).json["value"] \
        == catalogue.products["restricted"].name
    assert_error(app.get(f"{PRIP}/Products({other})/Name", headers=ALICE, status=404), 404)
    assert_error(app.get(f"{PRIP}/Products(00000000-0000-4000-8000-000000000000)/Name", headers=ALICE,
                         status=404), 404)
    assert app.get(f"{PRIP}/Products({catalogue.id('p1')})/Name", status=401).status_int == 401
    assert_error(app.get(f"{PRIP}/Products({catalogue.id('p1')})/Name", headers=basic("bob"), status=403), 403)


@pytest.mark.shared_app
@pytest.mark.parametrize("query", ["$top=1", "$skip=1", "$filter=Name eq 'x'", "$orderby=Name", "$count=true",
                                   "$select=Name", "$expand=Attributes", "$search=x", "$format=xml",
                                   "$filter=Name eq"])
def test_options_that_do_not_apply_to_a_value_are_refused(app, catalogue, query):
    for path in ("Name", "Name/$value", "ContentDate"):
        assert_error(app.get(f"{PRIP}/Products({catalogue.id('p1')})/{path}?{query}", headers=ALICE, status=400),
                     400)


@pytest.mark.shared_app
def test_a_property_count_checks_the_options_it_ignores(app, catalogue):
    """``Checksum/$count`` ignores ``$orderby``, ``$select``, ``$expand`` and paging, as
    ``Products/$count`` does, but a name the items do not have is a 400 there too."""
    url = f"{PRIP}/Products({catalogue.id('p1')})/Checksum/$count"
    for query in ("$orderby=Value desc,Algorithm", "$orderby=@o&@o=ChecksumDate", "$orderby=$it/Algorithm",
                  "$select=Algorithm,Value", "$expand=*", "$top=0&$skip=5"):
        assert app.get(f"{url}?{query}", headers=ALICE).text == "1", query
    for query, target in (("$orderby=Foo", "$orderby"), ("$orderby=Name", "$orderby"), ("$select=Name", "$select"),
                          ("$expand=Foo", "$expand"), ("$select=Checksum", "$select"), ("$filter=true", "$filter"),
                          ("$expand=*($select=Foo)", "$expand")):
        response = app.get(f"{url}?{query}", headers=ALICE, status=400)
        assert_error(response, 400)
        assert json_of(response)["error"]["target"] == target, query
    assert app.get(f"{PRIP}/Products/$count?$orderby=Foo", headers=ALICE, status=400).status_int == 400  # as here


@pytest.mark.shared_app
def test_paths_that_are_no_property_and_other_methods(app, catalogue):
    key = catalogue.id("p1")
    for path in ("Nope", "name", "Name/Start", "ContentDate/Nope", "ContentDate/start", "ContentDate/Start/End",
                 "Checksum/Value", "Collection/Name/x", "Name/$value/x", "Attributes/Name", "Name/$count",
                 "ContentDate/$count", "ContentDate/Start/$count", "Checksum/Value/$count"):
        answer = app.get(f"{PRIP}/Products({key})/{path}", headers=ALICE, status=404)
        assert_error(answer, 404)
        # no route at all: nothing inside a collection, nor a case variant, is a property path
        assert json_of(answer)["error"]["message"].startswith("No resource at"), (path, answer.body)
    assert app.post_json(f"{PRIP}/Products({key})/Name", {"value": "x"}, headers=ALICE, status=405)
    assert app.get(f"{PRIP}/Products({key})/Name", headers=ALICE).json["value"] == catalogue.products["p1"].name


@pytest.mark.shared_app
def test_full_and_no_metadata_and_ieee754_of_a_property(app, catalogue):
    url = f"{PRIP}/Products({catalogue.id('p1')})"
    full = {"Accept": "application/json;odata.metadata=full", **ALICE}
    length = app.get(f"{url}/ContentLength", headers=full)
    assert length.headers["Content-Type"] == "application/json;odata.metadata=full"
    assert length.json == {"@odata.context": length.json["@odata.context"], "@odata.type": "#Int64", "value": 1001}
    dates = app.get(f"{url}/ContentDate", headers=full).json
    assert dates["@odata.type"] == "#OData.CSC.TimeRange" and dates["Start@odata.type"] == "#DateTimeOffset"
    start = app.get(f"{url}/ContentDate/Start", headers=full).json
    assert start == {"@odata.context": start["@odata.context"], "@odata.type": "#DateTimeOffset",
                     "value": dates["Start"]}
    checksums = app.get(f"{url}/Checksum", headers=full).json
    assert checksums["@odata.type"] == "#Collection(OData.CSC.Checksum)"
    assert checksums["value"][0]["ChecksumDate@odata.type"] == "#DateTimeOffset"
    assert app.get(f"{url}/GeoFootprint", headers=full).json["@odata.type"] == "#GeographyPolygon"
    assert "@odata.type" not in app.get(f"{url}/Name", headers=full).json  # a string shows its type
    none = app.get(f"{url}/ContentLength?$format=application/json;odata.metadata=none;IEEE754Compatible=true",
                   headers=ALICE)
    assert none.json == {"value": "1001"}
    assert none.headers["Content-Type"] == "application/json;odata.metadata=none;IEEE754Compatible=true"


def test_a_subscriptions_properties_the_mask_and_a_null_value(app):
    created = app.post_json(f"{PRIP}/Subscriptions", {
        "FilterParam": "startswith(Name,'S2')", "Priority": 3,
        "NotificationEndpoint": "https://receiver.example.org/notify",
        "NotificationEpUsername": "r\u00fcdiger", "NotificationEpPassword": "Sup3r-s3cret",
    }, headers=ALICE, status=201).json
    key = created["Id"]
    entity = check_properties(app, f"{PRIP}/Subscriptions({key})", ALICE, key)
    assert entity["LastNotificationDate"] is None  # (answered 204 above)
    assert app.get(f"{PRIP}/Subscriptions({key})/NotificationEpPassword/$value", headers=ALICE).text == MASK
    assert app.get(f"{PRIP}/Subscriptions({key})/Status/$value", headers=ALICE).text == "running"
    assert app.get(f"{PRIP}/Subscriptions({key})/Priority/$value", headers=ALICE).text == "3"
    # a string that is not ASCII names its charset; an ASCII one needs none
    user = app.get(f"{PRIP}/Subscriptions({key})/NotificationEpUsername/$value", headers=ALICE)
    assert (user.headers["Content-Type"], user.body) == ("text/plain; charset=utf-8", "r\u00fcdiger".encode())
    assert app.get(f"{PRIP}/Subscriptions({key})/Status/$value", headers=ALICE).headers["Content-Type"] == "text/plain"
    # another user's subscription is absent for them
    assert_error(app.get(f"{PRIP}/Subscriptions({key})/Status", headers=basic("carol"), status=404), 404)


# -- ODIP ------------------------------------------------------------------------------------------


@pytest.mark.shared_app
@pytest.mark.parametrize("entity_set", ["ProductionOrders", "ProductionOrder"])
def test_every_property_of_an_order_under_both_set_names(odip, entity_set):
    ursula = auth("ursula")
    key = odip.order_id("u_completed")
    entity = check_properties(odip.app, f"{ODIP}/{entity_set}({key})", ursula, key)
    assert entity["NotificationEpPassword"] == MASK
    assert odip.app.get(f"{ODIP}/{entity_set}({key})/Status/$value", headers=ursula).text == "completed"
    assert odip.app.get(f"{ODIP}/{entity_set}({key})/InputProductReference", headers=ursula).json["Reference"]
    queued = odip.order_id("u_queued")
    assert odip.app.get(f"{ODIP}/{entity_set}({queued})/CompletedDate", headers=ursula).status_int == 204
    # a member of a null complex value is null: this order's input is named by its Reference alone
    assert entity["InputProductReference"]["ContentDate"] is None
    for path in ("InputProductReference/ContentDate/End", "InputProductReference/ContentDate/Start/$value"):
        answer = odip.app.get(f"{ODIP}/{entity_set}({key})/{path}", headers=ursula)
        assert (answer.status_int, answer.body) == (204, b""), path
    # another user's order is absent for an ODIP_USER, present for the order manager
    assert_error(odip.app.get(f"{ODIP}/{entity_set}({key})/Status", headers=auth("uwe"), status=404), 404)
    assert odip.app.get(f"{ODIP}/{entity_set}({key})/Status", headers=auth("mgr")).json["value"] == "completed"
    assert_error(odip.app.get(f"{ODIP}/{entity_set}({key})/Status", headers=auth("pete"), status=403), 403)


@pytest.mark.shared_app
def test_every_property_of_a_workflow(odip):
    ursula = auth("ursula")
    entity = check_properties(odip.app, f"{ODIP}/Workflows({L2A_ID})", ursula, L2A_ID)
    count = f"{ODIP}/Workflows({L2A_ID})/WorkflowOptions/$count"
    assert odip.app.get(f"{count}?$orderby=Name,Default desc", headers=ursula).text == str(len(entity["WorkflowOptions"]))
    assert_error(odip.app.get(f"{count}?$orderby=Algorithm", headers=ursula, status=400), 400)  # a Checksum's
    assert odip.app.get(f"{ODIP}/Workflows({L2A_ID})/Name/$value", headers=ursula).text == entity["Name"]
    for hidden in (DISABLED_ID, OTHER_WF_ID):  # disabled, another mission's
        assert_error(odip.app.get(f"{ODIP}/Workflows({hidden})/Name", headers=ursula, status=404), 404)
