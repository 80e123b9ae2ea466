"""``$metadata`` through the application (WebTest): both services' documents validate against the
OASIS CSDL schemas, CSDL JSON on request, and every capability the document declares is checked
against what the routes really do (SQLite: the answers do not depend on the database).

The capability checks read the document as a client does (the CSDL JSON the service serves) and
try each declared restriction: a declared non-filterable property must answer 400 in
``$filter`` and every other one 200, and so on for sorting, expanding, inserting, updating,
deleting, reading, counting, paging, searching, the actions and ``$batch``. Each test collects
every mismatch and reports them together.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from csdl_schemas import json_errors, xml_errors
from prip_helpers import PRIP
from odip_helpers import L1C_NAME, L2A_ID, ODIP, auth, json_of

CAP = "@Org.OData.Capabilities.V1."
WARNING = re.compile(r"^\d{3} proseo-api-(prip|odip) \([EW]\d+\) .+$")
ROOTS = {"PRIP": PRIP, "ODIP": ODIP}
#: Who asks: a PRIP user for the catalogue, an order manager (every order of the mission) for ODIP.
USERS = {"PRIP": "ursula", "ODIP": "mgr"}
EDM_NS = "{http://docs.oasis-open.org/odata/ns/edm}"
_ORDER = {"WorkflowId": L2A_ID, "InputProductReference": {"Reference": L1C_NAME}}
#: A valid creation body per insertable set (and for the actions bound to its collection).
NEW_ENTITIES = {
    "Subscriptions": {"FilterParam": "contains(Name,'S2B')", "NotificationEndpoint": "https://hook.example/prip"},
    "ProductionOrders": _ORDER,
    "ProductionOrder": _ORDER,
}


@pytest.fixture
def db_url(sqlite_url):
    return sqlite_url


def metadata_json(app, root) -> dict:
    response = app.get(f"{root}/$metadata", {"$format": "json"})
    assert response.content_type == "application/json"
    return json_of(response)


# -- the documents -----------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["PRIP", "ODIP"])
def test_metadata_validates_against_the_oasis_schemas(odip, service):
    root = ROOTS[service]
    xml = odip.app.get(f"{root}/$metadata")
    assert xml.content_type == "application/xml" and xml.headers["OData-Version"] == "4.0"
    assert xml_errors(xml.body) == []
    document = metadata_json(odip.app, root)
    assert json_errors(document) == []
    # The same service in both representations.
    sets = {e.get("Name") for e in ET.fromstring(xml.body).iter(f"{EDM_NS}EntitySet")}
    container = document["OData.CSC"]["Container"]
    assert sets == {name for name in container if not name.startswith(("$", "@"))}


@pytest.mark.parametrize("query,headers,expected", [
    ({}, {}, "application/xml"),
    ({"$format": "json"}, {}, "application/json"),
    ({"$format": "JSON"}, {}, "application/json"),
    ({"format": "application/json;odata.metadata=minimal"}, {}, "application/json"),
    ({}, {"Accept": "application/json"}, "application/json"),
    ({}, {"Accept": "application/xml;q=0.5, application/json"}, "application/json"),
    ({}, {"Accept": "application/json;q=0.5, application/xml"}, "application/xml"),
    ({}, {"Accept": "*/*"}, "application/xml"),
    ({}, {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, "application/xml"),
    ({"$format": "xml"}, {"Accept": "application/json"}, "application/xml"),
    ({"$format": "application/xml"}, {}, "application/xml"),
    # a range's charset does not matter; OData 4.0 clients send their data requests' Accept to
    # $metadata too, and read only XML
    ({}, {"Accept": "application/json; charset=utf-8"}, "application/json"),
    ({}, {"Accept": "application/json;odata.metadata=minimal"}, "application/xml"),
    ({}, {"Accept": "application/json;odata.metadata=minimal;q=0.9, application/xml;q=0.8"}, "application/xml"),
    ({}, {"Accept": "application/xml;q=0, */*"}, "application/json"),
    ({}, {"Accept": "application/*"}, "application/xml"),
])
def test_metadata_format_negotiation(odip, query, headers, expected):
    response = odip.app.get(f"{PRIP}/$metadata", query, headers=headers)
    assert response.content_type == expected
    if expected == "application/json":
        assert json_of(response)["$EntityContainer"] == "OData.CSC.Container"
    else:
        assert ET.fromstring(response.body).tag.endswith("Edmx")


@pytest.mark.parametrize("root", [PRIP, ODIP])
def test_metadata_other_formats_answer_400(odip, root):
    for query in ("$format=atom", "$format=json&$format=xml", "format=xml&$FORMAT=xml"):  # (given twice: which?)
        response = odip.app.get(f"{root}/$metadata?{query}", status=400)
        assert WARNING.match(response.headers["Warning"])
        assert json_of(response)["error"]["target"] == "$format"
    assert odip.app.get(f"{ODIP}/?$format=json&$format=json", status=400).status_int == 400  # the service document


def test_service_document_lists_the_readable_sets(odip):
    names = {item["name"] for item in json_of(odip.app.get(f"{ODIP}/"))["value"]}
    container = metadata_json(odip.app, ODIP)["OData.CSC"]["Container"]
    listed = {name for name, value in container.items()
              if not name.startswith(("$", "@")) and value.get("$IncludeInServiceDocument", True)}
    assert names == listed == {"Workflows", "ProductionOrders"}


# -- what the document declares, tried against the routes ---------------------------------------


class Service:
    """The document of one service and the requests that try it."""

    def __init__(self, world, name):
        self.app = world.app
        self.root = ROOTS[name]
        self.headers = auth(USERS[name])
        self.document = metadata_json(world.app, self.root)
        self.schema = self.document["OData.CSC"]
        self.container = self.schema["Container"]
        self.problems: list[str] = []

    def sets(self):
        return {name: value for name, value in self.container.items() if not name.startswith(("$", "@"))}

    def type_of(self, qualified):
        return self.schema[qualified.split(".")[-1]]

    def request(self, method, path, params=None, body=None):
        kwargs = {"headers": self.headers, "expect_errors": True}
        url = self.root + path
        if method in ("POST", "PATCH", "PUT"):
            return getattr(self.app, method.lower() + "_json")(url, body if body is not None else {}, **kwargs)
        return getattr(self.app, method.lower())(url, params or {}, **kwargs)

    def expect(self, ok: bool, response, what: str, *, bad=(400,)):
        """``ok``: the document says it works (2xx expected), else one of ``bad``."""
        status = response.status_int
        if ok and not 200 <= status < 300:
            self.problems.append(f"{what}: declared supported, answered {status} {response.body[:200]!r}")
        if not ok and status not in bad:
            self.problems.append(f"{what}: declared unsupported, answered {status} (expected one of {bad})")


def _paths(service, type_name, prefix=""):
    """(path, property, is_navigation) of every member, descending into single complex values."""
    type_ = service.type_of(type_name)
    base = type_.get("$BaseType")
    if base:
        yield from _paths(service, base, prefix)
    for name, member in type_.items():
        if name.startswith(("$", "@")):
            continue
        path = prefix + name
        navigation = member.get("$Kind") == "NavigationProperty"
        target = member.get("$Type", "Edm.String")
        yield path, member, navigation
        if not navigation and not member.get("$Collection") and target.startswith("OData.CSC."):
            sub = service.type_of(target)
            if sub.get("$Kind") == "ComplexType":
                yield from _paths(service, target, path + "/")


def _filter_for(path, member, navigation, service):
    if member.get("$Collection"):
        return f"{path}/any()"
    if navigation:
        return f"{path}/Id eq null"
    target = member.get("$Type", "Edm.String")
    if target.startswith("OData.CSC.") and service.type_of(target).get("$Kind") == "ComplexType":
        return None  # a complex value is compared through its members
    return f"{path} eq null"


def _under(path, prefixes):
    return any(path == p or path.startswith(p + "/") for p in prefixes)


@pytest.fixture
def keys(odip):
    """A key of an entity of every set (a subscription is created for it)."""
    created = odip.app.post_json(f"{PRIP}/Subscriptions", {
        "FilterParam": "contains(Name,'S2B')", "NotificationEndpoint": "https://hook.example/prip"},
        headers=auth("ursula"))
    return {
        "Products": str(odip.products["l1c"].id),
        "Subscriptions": json_of(created)["Id"],
        "Workflows": L2A_ID,
        "ProductionOrders": odip.order_id("u_completed"),
        "ProductionOrder": odip.order_id("u_completed"),
    }


@pytest.mark.parametrize("name", ["PRIP", "ODIP"])
def test_declared_filter_sort_and_expand_restrictions_are_what_the_service_does(odip, keys, name):
    service = Service(odip, name)
    for set_name, entity_set in service.sets().items():
        if not entity_set[CAP + "ReadRestrictions"]["Readable"]:
            continue
        filters = entity_set[CAP + "FilterRestrictions"]
        non_filterable = filters.get("NonFilterableProperties", [])
        sorts = entity_set[CAP + "SortRestrictions"]
        non_sortable = sorts.get("NonSortableProperties", [])
        expand = entity_set[CAP + "ExpandRestrictions"]
        non_expandable = expand.get("NonExpandableProperties", [])
        for path, member, navigation in _paths(service, entity_set["$Type"]):
            expression = _filter_for(path, member, navigation, service)
            if expression is not None:
                service.expect(filters["Filterable"] and not _under(path, non_filterable),
                               service.request("GET", f"/{set_name}", {"$filter": expression}),
                               f"{set_name}?$filter={expression}")
            if navigation:
                service.expect(expand["Expandable"] and path not in non_expandable,
                               service.request("GET", f"/{set_name}", {"$expand": path}),
                               f"{set_name}?$expand={path}")
                continue
            target = member.get("$Type", "Edm.String")
            complex_ = target.startswith("OData.CSC.") and service.type_of(target).get("$Kind") == "ComplexType"
            if complex_ and not member.get("$Collection"):
                continue  # sorted through its members
            service.expect(sorts["Sortable"] and not _under(path, non_sortable),
                           service.request("GET", f"/{set_name}", {"$orderby": path}),
                           f"{set_name}?$orderby={path}")
    assert not service.problems, "\n".join(service.problems)


@pytest.mark.parametrize("name", ["PRIP", "ODIP"])
def test_declared_insert_update_delete_read_count_paging_and_search_are_what_the_service_does(odip, keys, name):
    service = Service(odip, name)
    for set_name, entity_set in service.sets().items():
        key = f"/{set_name}({keys[set_name]})"
        read = entity_set[CAP + "ReadRestrictions"]
        readable = read["Readable"]
        by_key = read.get("ReadByKeyRestrictions", {}).get("Readable", readable)
        service.expect(readable, service.request("GET", f"/{set_name}"), f"GET {set_name}", bad=(405,))
        service.expect(by_key, service.request("GET", key), f"GET {key}", bad=(404, 405))
        # A set that creates answers 201 to a valid body, one that does not 405.
        insertable = entity_set[CAP + "InsertRestrictions"]["Insertable"]
        response = service.request("POST", f"/{set_name}", body=NEW_ENTITIES.get(set_name, {}))
        if response.status_int != (201 if insertable else 405):
            service.problems.append(f"POST {set_name}: Insertable={insertable}, answered {response.status_int}")
        for method in ("PATCH", "PUT"):
            service.expect(entity_set[CAP + "UpdateRestrictions"]["Updatable"], service.request(method, key),
                           f"{method} {key}", bad=(405,))
        service.expect(entity_set[CAP + "DeleteRestrictions"]["Deletable"], service.request("DELETE", key),
                       f"DELETE {key}", bad=(405,))
        countable = entity_set[CAP + "CountRestrictions"]["Countable"]
        service.expect(countable, service.request("GET", f"/{set_name}/$count"), f"GET {set_name}/$count",
                       bad=(404, 405))
        if countable:
            body = json_of(service.request("GET", f"/{set_name}", {"$count": "true"}))
            if not isinstance(body.get("@odata.count"), int):
                service.problems.append(f"{set_name}?$count=true has no @odata.count")
        if readable:
            service.expect(entity_set[CAP + "TopSupported"], service.request("GET", f"/{set_name}", {"$top": "1"}),
                           f"{set_name}?$top=1")
            service.expect(entity_set[CAP + "SkipSupported"], service.request("GET", f"/{set_name}", {"$skip": "1"}),
                           f"{set_name}?$skip=1")
            service.expect(entity_set[CAP + "SearchRestrictions"]["Searchable"],
                           service.request("GET", f"/{set_name}", {"$search": "S2B"}), f"{set_name}?$search")
        type_ = service.type_of(entity_set["$Type"])
        if type_.get("$HasStream"):
            service.expect(True, service.request("GET", f"{key}/$value"), f"GET {key}/$value")
            service.expect(False, service.request("PUT", f"{key}/$value"), f"PUT {key}/$value", bad=(405,))
        restricted = entity_set.get(CAP + "NavigationRestrictions", {}).get("RestrictedProperties", [])
        not_countable = entity_set[CAP + "CountRestrictions"].get("NonCountableNavigationProperties", [])
        for nav in restricted:
            path = f"{key}/{nav['NavigationProperty']}"
            nav_countable = nav["NavigationProperty"] not in not_countable
            service.expect(True, service.request("GET", path), f"GET {path}")
            service.expect(nav_countable, service.request("GET", f"{path}/$count"), f"GET {path}/$count", bad=(404,))
            counted = service.request("GET", path, {"$count": "true"})
            if nav_countable and (
                    counted.status_int != 200 or "@odata.count" not in json_of(counted)):
                service.problems.append(f"{path}?$count=true: {counted.status_int}, no @odata.count")
            # an item's key: an attribute's Name, an asset's Id (the product's quicklook)
            item = ("'productType'" if nav["NavigationProperty"] == "Attributes"
                    else json_of(service.request("GET", path))["value"][0]["Id"])
            service.expect(nav["IndexableByKey"], service.request("GET", f"{path}({item})"),
                           f"GET {path}({item})", bad=(404,))
            # the navigation's own options, on its URL and nested in $expand
            for option, value, declared in (
                    ("$filter", "Name ne 'x'" if nav["NavigationProperty"] == "Attributes" else "true",
                     nav["FilterRestrictions"]["Filterable"]),
                    ("$orderby", "Name" if nav["NavigationProperty"] == "Attributes" else "Id",
                     nav["SortRestrictions"]["Sortable"]),
                    ("$top", "1", nav["TopSupported"]), ("$skip", "1", nav["SkipSupported"]),
                    ("$search", "x", nav["SearchRestrictions"]["Searchable"])):
                service.expect(declared, service.request("GET", path, {option: value}), f"{path}?{option}")
                service.expect(declared, service.request("GET", key, {"$expand": f"{nav['NavigationProperty']}"
                                                                      f"({option}={value})"}),
                               f"{key}?$expand={nav['NavigationProperty']}({option})")
            for names, flag in ((nav["FilterRestrictions"].get("NonFilterableProperties", []), "$filter"),
                                (nav["SortRestrictions"].get("NonSortableProperties", []), "$orderby")):
                for name in names:
                    text = f"{name} eq null" if flag == "$filter" else name
                    service.expect(False, service.request("GET", path, {flag: text}), f"{path}?{flag}={text}")
            service.expect(nav["InsertRestrictions"]["Insertable"], service.request("POST", path), f"POST {path}",
                           bad=(405,))
    batch = service.container[CAP + "BatchSupported"]
    service.expect(batch, service.request("POST", "/$batch"), "POST $batch", bad=(404,))
    assert not service.problems, "\n".join(service.problems)


@pytest.mark.parametrize("name", ["PRIP", "ODIP"])
def test_every_declared_action_answers_under_every_set_of_its_binding_type(odip, keys, name):
    service = Service(odip, name)
    actions = {action: overloads[0] for action, overloads in service.schema.items()
               if isinstance(overloads, list) and overloads[0]["$Kind"] == "Action"}
    assert actions, "no action declared"
    for action, overload in actions.items():
        binding = overload["$Parameter"][0]
        for set_name, entity_set in service.sets().items():
            if entity_set["$Type"] != binding["$Type"]:
                continue
            path = f"/{set_name}/OData.CSC.{action}" if binding.get("$Collection") else \
                f"/{set_name}({keys[set_name]})/OData.CSC.{action}"
            if binding.get("$Collection"):  # creation: the new entity
                response = service.request("POST", path, body=NEW_ENTITIES[set_name])
                ok = response.status_int == 201 and json_of(response)["Id"] not in keys.values()
            else:  # the entity it was invoked on
                response = service.request("POST", path)
                ok = response.status_int == 200 and json_of(response)["Id"] == keys[set_name]
            if not ok:
                service.problems.append(f"POST {path}: {response.status_int} {response.body[:200]!r}")
            if service.request("GET", path).status_int != 405:
                service.problems.append(f"GET {path} is not 405")
    assert not service.problems, "\n".join(service.problems)


def test_declared_intersects_function_filters_products(odip):
    service = Service(odip, "PRIP")
    function = service.schema["Intersects"][0]
    assert [p["$Name"] for p in function["$Parameter"]] == ["area", "location"]
    # Org.OData.Core.V1.OptionalParameter: optional parameters come after every required one
    for operations in service.schema.values():
        for operation in operations if isinstance(operations, list) else ():
            optional = [any(k.endswith("Core.V1.OptionalParameter") for k in p) for p in operation.get("$Parameter", [])]
            assert optional == sorted(optional), operation
    area = "geography'SRID=4326;POLYGON((36.5 60.5,37 60.5,37 60.7,36.5 60.5))'"
    for expression in (f"OData.CSC.Intersects(area={area})", f"OData.CSC.Intersects(location=Footprint,area={area})"):
        body = json_of(service.request("GET", "/Products", {"$filter": expression, "$top": "4"}))
        names = {item["Name"] for item in body["value"]}
        assert "S2B_MSIL1C_20191025T085939_N0208_R007_T37VCC_20191025T112031.zip" in names, expression
        assert "S2B_MSIL2A_WRONG_TYPE.zip" not in names  # no footprint


@pytest.mark.parametrize("name", ["PRIP", "ODIP"])
def test_emitted_dates_fit_the_declared_precision(odip, keys, name):
    service = Service(odip, name)
    fraction = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d+))?Z$")
    checked = 0
    for set_name, entity_set in service.sets().items():
        if not entity_set[CAP + "ReadRestrictions"]["Readable"]:
            continue
        precisions = {}
        for path, member, navigation in _paths(service, entity_set["$Type"]):
            if member.get("$Type") == "Edm.DateTimeOffset":
                precisions[path] = member["$Precision"]
        for item in json_of(service.request("GET", f"/{set_name}", {"$top": "4"}))["value"]:
            for path, precision in precisions.items():
                value = item
                for step in path.split("/"):
                    value = value.get(step) if isinstance(value, dict) else None
                if value is None:
                    continue
                digits = fraction.match(value).group(1) or ""
                checked += 1
                assert len(digits) <= precision, (set_name, path, value, precision)
    assert checked > 5


def _declared(schema: dict, type_name: str) -> set:
    """The property names of ``type_name`` (``OData.CSC.X``) and its bases in CSDL JSON."""
    names, current = set(), type_name
    while current:
        entity = schema[current.rsplit(".", 1)[1]]
        names |= {k for k, v in entity.items() if not k.startswith("$") and v.get("$Kind") != "NavigationProperty"}
        current = entity.get("$BaseType")
    return names


def test_every_member_of_an_attribute_is_declared(odip):
    """The attribute types are not open: a strict client (ODataLib) refuses a member that
    ``$metadata`` does not declare. The seed documents' keys (``Id``, ``ContentType``,
    ``StringValue``...) were written and not declared."""
    schema = metadata_json(odip.app, PRIP)["OData.CSC"]
    body = json_of(odip.app.get(f"{PRIP}/Products", {"$expand": "Attributes", "$top": "20"}, headers=auth("ursula")))
    seen = set()
    for product in body["value"]:
        for attribute in product["Attributes"]:
            type_name = attribute["@odata.type"].lstrip("#")
            members = {k for k in attribute if not k.startswith("@")}
            assert members <= _declared(schema, type_name), (type_name, members - _declared(schema, type_name))
            seen.add(type_name)
    assert len(seen) >= 2, seen


@pytest.mark.parametrize("path, query", [("/$metadata", {}), ("/$metadata", {"$format": "json"}),
                                         ("/Products/$count", {})])
def test_no_charset_parameter_that_accept_did_not_ask_for(odip, path, query):
    """OData 4.01 Part 1, 8.2.1: without a charset in Accept the Content-Type has none."""
    response = odip.app.get(f"{PRIP}{path}", query, headers=auth("ursula"))
    assert "charset" not in response.headers["Content-Type"], response.headers["Content-Type"]
