"""A product's Attributes (and Assets) listed by options of their own, over SQLite and PostgreSQL:
nested in ``$expand`` (``Products?$expand=Attributes($filter=Name eq 'cloudCover';$select=Name,Value)``)
and on the navigation's URL (``Products(<Id>)/Attributes?$filter=...&$orderby=Name&$top=2``)."""
from __future__ import annotations

import pytest

from prip_helpers import PRIP, basic

ALICE = basic("alice")
FULL = "application/json;odata.metadata=full"
NONE = "application/json;odata.metadata=none"
IEEE = "application/json;odata.metadata=minimal;IEEE754Compatible=true"

#: p2's attributes in stored order, by name (tests/web/prip_helpers.py)
P2 = ("cloudCover", "highQuality", "orbitNumber", "processingDate", "productType")


def _names(items) -> list[str]:
    return [item["Name"] for item in items]


def _every_page(app, params) -> list[dict]:
    """The products of every page (the test settings' pages hold 4), following the next links."""
    body = app.get(PRIP + "/Products", params, headers=ALICE).json
    products = body["value"]
    while "@odata.nextLink" in body:
        body = app.get(body["@odata.nextLink"], headers=ALICE).json
        products += body["value"]
    return products


@pytest.mark.parametrize("options, names", [
    ({}, list(P2)),  # stored order
    ({"$filter": "Name eq 'cloudCover'"}, ["cloudCover"]),
    ({"$filter": "startswith(Name,'p')"}, ["processingDate", "productType"]),
    ({"$filter": "Value gt 100"}, ["orbitNumber"]),  # a number meets the Integer and Double forms
    ({"$filter": "Value eq 'S2MSI2A'"}, ["productType"]),
    ({"$filter": "OData.CSC.DoubleAttribute/Value lt 50"}, ["cloudCover"]),
    ({"$filter": "OData.CSC.DateTimeOffsetAttribute/Value gt 2021-05-01T00:00:00Z"}, ["processingDate"]),
    ({"$filter": "ValueType eq 'Boolean' or Name eq @n", "@n": "'orbitNumber'"}, ["highQuality", "orbitNumber"]),
    ({"$orderby": "Name"}, sorted(P2)),
    ({"$orderby": "Name desc", "$top": "2"}, sorted(P2, reverse=True)[:2]),
    ({"$orderby": "ValueType,Name", "$skip": "3"}, ["orbitNumber", "productType"]),  # Boolean, DateTimeOffset, Double, ...
    ({"$orderby": "OData.CSC.IntegerAttribute/Value desc,Name"}, ["orbitNumber", "cloudCover", "highQuality",
                                                                  "processingDate", "productType"]),
    ({"$skip": "4"}, ["productType"]),
    ({"$filter": "$it/Name eq 'cloudCover'"}, ["cloudCover"]),  # on the navigation's URL $it is the attribute
    ({"$filter": "Name eq @q", "@q": "Name"}, list(P2)),  # an alias's path is read from the attribute too
    ({"$filter": "@q eq null", "@q": "OData.CSC.DoubleAttribute/Value"}, [n for n in P2 if n != "cloudCover"]),
    ({"$top": "0"}, []),
])
def test_the_navigation_url_lists_by_its_options(app, catalogue, options, names):
    pid = catalogue.id("p2")
    every = {item["Name"]: item for item in app.get(PRIP + f"/Products({pid})/Attributes", headers=ALICE).json["value"]}
    body = app.get(PRIP + f"/Products({pid})/Attributes", options, headers=ALICE).json
    assert _names(body["value"]) == names
    assert body["value"] == [every[name] for name in names]  # each item whole
    # $count: what $filter keeps, $top and $skip aside
    counted = app.get(PRIP + f"/Products({pid})/Attributes", {**options, "$count": "true"}, headers=ALICE).json
    kept = app.get(PRIP + f"/Products({pid})/Attributes",
                   {k: v for k, v in options.items() if k not in ("$top", "$skip")}, headers=ALICE).json["value"]
    assert counted["@odata.count"] == len(kept)
    assert list(counted) == ["@odata.context", "@odata.count", "value"]


def test_select_count_and_assets_on_the_navigation_url(app, catalogue):
    pid = catalogue.id("p2")
    body = app.get(PRIP + f"/Products({pid})/Attributes?$filter=Value eq true&$select=Value&$count=true",
                   headers=ALICE).json
    assert body["@odata.count"] == 1
    assert body["value"] == [{"@odata.type": "#OData.CSC.BooleanAttribute", "Name": "highQuality", "Value": True}]
    assert body["@odata.context"].endswith(f"Products({pid})/Attributes(Value)")
    assets = app.get(PRIP + f"/Products({pid})/Assets?$filter=Id ne null&$orderby=Id&$top=1&$count=true",
                     headers=ALICE).json
    assert (assets["@odata.count"], assets["value"]) == (0, [])


@pytest.mark.parametrize("options, target", [
    ({"$filter": "Nope eq 1"}, "$filter"),
    ({"$filter": "Name"}, "$filter"),  # not a Boolean expression
    ({"$filter": "matchesPattern(Name, concat('(', Name))"}, "$filter"),  # a pattern read as the items are
    ({"$filter": "Name eq"}, "$filter"),
    ({"$orderby": "Value"}, "$orderby"),  # the typed forms' values do not compare with one another
    ({"$orderby": "Nope"}, "$orderby"),
    ({"$orderby": "@a desc", "@a": "Value"}, "$orderby"),  # through an alias too
    ({"$orderby": "@a", "@a": "OData.CSC.Attribute/Value"}, "$orderby"),
    ({"$top": "x"}, "$top"),
    ({"$skip": "-1"}, "$skip"),
    ({"$select": "Nope"}, "$select"),
    ({"$search": "x"}, "$search"),
    ({"$skiptoken": "x"}, "$skiptoken"),
    ({"$expand": "Nope"}, "$expand"),
    # constant arithmetic out of range, with now() (compiled per request) and without
    ({"$filter": "OData.CSC.DateTimeOffsetAttribute/Value lt now() add duration'P9999999D'"}, "$filter"),
    ({"$orderby": "Name,now() add duration'P9999999D'"}, "$orderby"),
    ({"$orderby": "Name,2020-01-01T00:00:00Z add duration'P9999999D'"}, "$orderby"),
])
@pytest.mark.parametrize("route", ["Attributes", "Assets"])
def test_bad_options_of_the_navigation_url_are_400(app, catalogue, route, options, target):
    if route == "Assets" and "Value" in options.get("$orderby", "") + options.get("@a", ""):
        options = {"$orderby": "Nope"}
    response = app.get(PRIP + f"/Products({catalogue.id('p2')})/{route}", options, headers=ALICE, expect_errors=True)
    assert response.status_int == 400, response.text
    assert response.json["error"]["target"] == target
    assert response.headers["Warning"].startswith("199 proseo-api-prip")


def test_nested_options_on_a_page(app, catalogue):
    """Each product of a page lists its attributes by the nested options; the page is the same."""
    plain = app.get(PRIP + "/Products?$orderby=Name&$select=Name", headers=ALICE).json
    nested = app.get(PRIP + "/Products", {  # the next link keeps $expand: tests/web/test_prip_collection.py
        "$orderby": "Name", "$select": "Name",
        "$expand": "Attributes($filter=Name eq 'cloudCover' or Name eq 'orbitNumber';$orderby=Name desc;"
                   "$select=Value;$count=true;$top=1)"}, headers=ALICE).json
    assert [p["Name"] for p in nested["value"]] == [p["Name"] for p in plain["value"]]
    for product in nested["value"]:
        assert list(product)[-2:] == ["Attributes@odata.count", "Attributes"]  # the count before its items
        assert product["Attributes@odata.count"] == 2
        (orbit,) = product["Attributes"]
        assert set(orbit) == {"@odata.type", "Name", "Value"} and orbit["Name"] == "orbitNumber"
    assert nested["@odata.context"].endswith("$metadata#Products(Name,Attributes(Value))")
    # without an outer $select: all the product's own properties, and the projected attributes
    unprojected = app.get(PRIP + "/Products?$top=1&$expand=Attributes($select=Name)", headers=ALICE).json
    assert unprojected["@odata.context"].endswith("$metadata#Products(*,Attributes(Name))")
    assert "ContentDate" in unprojected["value"][0]
    assert all(set(a) == {"@odata.type", "Name"} for a in unprojected["value"][0]["Attributes"])


def test_nested_options_agree_with_the_lambda(app, catalogue):
    """A product has an attribute that Attributes($filter=F) keeps exactly when
    Products?$filter=Attributes/any(a: F on a) selects it: one meaning for F, in the database
    and in memory."""
    for nested, lambda_ in (
        ("Value gt 1001", "a/Value gt 1001"),
        ("OData.CSC.DoubleAttribute/Value ge 30", "a/OData.CSC.DoubleAttribute/Value ge 30"),
        ("Name eq 'highQuality' and Value eq true", "a/Name eq 'highQuality' and a/Value eq true"),
        ("contains(Value,'MSI2')", "contains(a/Value,'MSI2')"),
    ):
        page = _every_page(app, {"$expand": f"Attributes($filter={nested})", "$select": "Id"})
        kept = {p["Id"] for p in page if p["Attributes"]}
        selected = _every_page(app, {"$filter": f"Attributes/any(a: {lambda_})", "$select": "Id"})
        assert kept == {p["Id"] for p in selected}, nested
        assert 0 < len(kept) < len(page), nested  # the case tells products apart


def test_nested_options_on_one_product(app, catalogue):
    pid = catalogue.id("p2")
    body = app.get(PRIP + f"/Products({pid})",
                   {"$expand": "Attributes($filter=ValueType eq 'String';$select=Value),Assets($count=true)"},
                   headers=ALICE).json
    assert body["Attributes"] == [{"@odata.type": "#OData.CSC.StringAttribute", "Name": "productType",
                                   "Value": "S2MSI2A"}]
    assert (body["Assets@odata.count"], body["Assets"]) == (0, [])
    assert body["@odata.context"].endswith("$metadata#Products(*,Attributes(Value))/$entity")


@pytest.mark.parametrize("expand, message", [
    ("Attributes($filter=Nope eq 1)", "Nope"),
    ("Attributes($top=x)", "$top"),
    ("Attributes($orderby=Value)", "type"),
    ("Attributes($expand=*)", "$expand"),
    ("Attributes($search=x)", "$search"),
    ("Attributes($levels=2)", "$levels"),
    ("Attributes($select=Nope)", "Nope"),
    ("Attributes($top=1),Attributes($top=2)", "twice"),
    ("*($top=1)", "named"),
    ("Checksum($top=1)", "Attributes and Assets"),
    ("Attributes($format=json)", "$format"),
    ("Attributes($filter=matchesPattern(Name, concat('(', Name)))", "regular expression"),  # found as the items are read
    ("Attributes($filter=Name eq @q)&@q=$it/Name", "$it"),  # nested, $it is the product: refused, aliases too
    ("Attributes($orderby=OData.CSC.Attribute/Value)", "type"),
    ("Attributes($filter=OData.CSC.DateTimeOffsetAttribute/Value lt now() add duration'P9999999D')", "out of range"),
    ("Attributes($orderby=Name,now() sub duration'P9999999D')", "out of range"),
])
def test_bad_nested_options_are_400_naming_expand(app, catalogue, expand, message):
    expand, _, alias = expand.partition("&@q=")
    for path in ("/Products", f"/Products({catalogue.id('p2')})"):
        response = app.get(PRIP + path, {"$expand": expand, **({"@q": alias} if alias else {})}, headers=ALICE,
                           expect_errors=True)
        assert response.status_int == 400, (path, response.text)
        error = response.json["error"]
        assert error["target"] == "$expand" and message in error["message"], error
        assert response.headers["Warning"].startswith("199 proseo-api-prip")


def test_the_formats_write_a_navigation_count(app, catalogue):
    pid = catalogue.id("p2")
    url = PRIP + f"/Products({pid})?$expand=Attributes($count=true;$top=1;$select=Name)"
    full = app.get(url, headers={**ALICE, "Accept": FULL}).json
    assert full["Attributes@odata.count"] == 5
    assert full["Attributes"][0]["@odata.id"] == f"Products({pid})/Attributes('cloudCover')"
    assert full["@odata.type"] == "#OData.CSC.Product"  # the projected context is read
    none = app.get(url, headers={**ALICE, "Accept": NONE}).json
    assert none["Attributes@odata.count"] == 5 and "@odata.context" not in none
    assert app.get(url, headers={**ALICE, "Accept": IEEE}).json["Attributes@odata.count"] == "5"


def test_aliases_in_nested_options(app, catalogue):
    """The request's aliases and those inside the parentheses (OData 4.01 Part 2, 5.1.3)."""
    pid = catalogue.id("p2")
    for params in ({"$expand": "Attributes($filter=Name eq @n)", "@n": "'cloudCover'"},
                   {"$expand": "Attributes($filter=Name eq @n;@n='cloudCover')"},
                   {"$expand": "Attributes($filter=OData.CSC.DoubleAttribute/Value eq @v)", "@v": "20"}):
        body = app.get(PRIP + f"/Products({pid})", params, headers=ALICE).json
        assert _names(body["Attributes"]) == ["cloudCover"], params
    unused = app.get(PRIP + f"/Products({pid})", {"$expand": "Attributes(@p='x')"}, headers=ALICE).json
    assert _names(unused["Attributes"]) == list(P2)  # an alias nothing uses, as on the request
    # an alias of the page's own $filter reads the product ($it), while the nested filter reads attributes
    page = app.get(PRIP + "/Products", {"$filter": "Name eq @p", "@p": "$it/Name", "$top": "1", "$select": "Name",
                                         "$expand": "Attributes($filter=Name eq 'cloudCover')"}, headers=ALICE).json
    assert len(page["value"]) == 1 and _names(page["value"][0]["Attributes"]) == ["cloudCover"]


def test_nested_select_follows_the_seed_aliases_setting(app_settings, catalogue):
    from prip_helpers import make_app

    app = make_app({**app_settings, "proseo.seed_aliases": "false"})
    pid = catalogue.id("p2")
    for path, params in ((f"/Products({pid})", {"$expand": "Attributes($select=DoubleValue)"}),
                         ("/Products", {"$expand": "Attributes($select=ContentType)"}),
                         (f"/Products({pid})/Attributes", {"$select": "StringValue"})):
        response = app.get(PRIP + path, params, headers=ALICE, expect_errors=True)
        assert response.status_int == 400, (path, params, response.text)
    body = app.get(PRIP + f"/Products({pid})", {"$expand": "Attributes($select=Value;$top=1)"}, headers=ALICE).json
    assert body["Attributes"] == [{"@odata.type": "#OData.CSC.DoubleAttribute", "Name": "cloudCover", "Value": 20.0}]


def test_one_attribute_refuses_nested_options(app, catalogue):
    """Products(<Id>)/Attributes('<Name>') is one entity: options of a list, nested or not, are 400."""
    for expand in ("*($filter=Foo eq 1;$levels=3)", "*($top=1)"):
        response = app.get(PRIP + f"/Products({catalogue.id('p2')})/Attributes('cloudCover')", {"$expand": expand},
                           headers=ALICE, expect_errors=True)
        assert response.status_int == 400 and response.json["error"]["target"] == "$expand", response.text


def test_the_page_filter_and_the_nested_options_take_one_now(app, catalogue, monkeypatch):
    """One now() per request for $filter (compiled by the storage) and the nested options
    (proseo_odata.query.PagedQuery.at): with the clock the request reads in 2000, every product
    was published after now(), and p2's processingDate (2021) is after it too."""
    import datetime as dt
    import types

    import proseo_odata.query as query_module

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)

    monkeypatch.setattr(query_module, "_dt", types.SimpleNamespace(datetime=Frozen, timezone=dt.timezone))
    params = {"$filter": "PublicationDate gt now()", "$count": "true",
              "$expand": "Attributes($filter=OData.CSC.DateTimeOffsetAttribute/Value gt now())"}
    body = app.get(PRIP + "/Products", params, headers=ALICE).json
    assert body["@odata.count"] == int(app.get(PRIP + "/Products/$count", headers=ALICE).text) > 0
    p2 = [product for product in _every_page(app, params) if product["Id"] == str(catalogue.id("p2"))]
    assert [_names(product["Attributes"]) for product in p2] == [["processingDate"]]
    assert app.get(PRIP + "/Products", {**params, "$filter": "PublicationDate lt now()"}, headers=ALICE).json[
        "@odata.count"] == 0
