"""``Collection/Name`` as the Copernicus Data Space has it (contract section 3, issue 9 item 2):
from the ``platformShortName`` attribute, else the mission's configured default; filterable
with eq/ne/in on SQLite and PostgreSQL, returned as ``"Collection": {"Name": ...}``, and the
same meaning for subscriptions (the Python predicate)."""
from __future__ import annotations

import pytest

from proseo_odata.model import Attribute, AttributeType
from proseo_odata.model.collections import CollectionRule
from proseo_odata.notify.subscriptions import compiled_filter
from proseo_odata.storage import load_storage

from prip_helpers import PRIP, _product, basic, served_app

ALICE = basic("alice")


@pytest.fixture
def collection_app(app_settings, catalogue):
    """The catalogue (p1..p5 without platformShortName) plus s1 (SENTINEL-1), s3 (SENTINEL-3)
    and x (a platformShortName of a non-string type), with DEMO's default SENTINEL-2."""
    settings = {**app_settings, "proseo.collection.default": "OTHER=SENTINEL-5P, DEMO = SENTINEL-2"}
    storage = load_storage(settings)
    extra = {
        "s1": _product("s1", 21, name="S1A_IW_GRDH_s1.zip"),
        "s3": _product("s3", 22, name="S3A_OL_1_EFR_s3.zip"),
        "x": _product("x", 23, name="X_odd_type.zip"),
    }
    extra["s1"].attributes.append(Attribute("platformShortName", AttributeType.STRING, "SENTINEL-1"))
    extra["s3"].attributes.append(Attribute("platformShortName", AttributeType.STRING, "SENTINEL-3"))
    extra["x"].attributes.append(Attribute("platformShortName", AttributeType.INTEGER, 7))
    with storage.transaction() as tx:
        for product in extra.values():
            tx.add_product(product)
    assert extra["s1"].collection == "SENTINEL-1" and extra["x"].collection == "SENTINEL-2"
    storage.close()
    with served_app(settings) as app:
        yield app, {**{k: str(v.id) for k, v in catalogue.products.items()}, **{k: str(v.id) for k, v in extra.items()}}


def names(app, query):
    """Ids of every page (the test app's page size is 3, at most 4)."""
    body, found = app.get(PRIP + "/Products", {"$filter": query}, headers=ALICE).json, set()
    for _ in range(10):
        found |= {p["Id"] for p in body["value"]}
        if "@odata.nextLink" not in body:
            return found
        body = app.get(body["@odata.nextLink"], headers=ALICE).json
    raise AssertionError("more than 10 pages")


@pytest.mark.parametrize("query,expected", [
    ("Collection/Name eq 'SENTINEL-2'", {"p1", "p2", "p3", "p4", "p5", "x"}),
    ("Collection/Name eq 'SENTINEL-1'", {"s1"}),
    ("Collection/Name ne 'SENTINEL-2'", {"s1", "s3"}),
    ("Collection/Name in ('SENTINEL-1', 'SENTINEL-3')", {"s1", "s3"}),
    ("Collection/Name eq 'SENTINEL-5P'", set()),
    ("Collection/Name eq 'SENTINEL-1' and Online eq true and OriginDate gt 2020-01-01T00:00:00.000Z"
     " and ModificationDate lt 2030-01-01T00:00:00.000Z", {"s1"}),
    ("collection/name eq 'SENTINEL-3'", {"s3"}),
])
def test_collection_filter(collection_app, query, expected):
    app, ids = collection_app
    assert names(app, query) == {ids[label] for label in expected}


def test_collection_in_product_json_not_sortable(collection_app):
    app, ids = collection_app
    body = app.get(PRIP + f"/Products({ids['s3']})", headers=ALICE).json
    assert body["Collection"] == {"Name": "SENTINEL-3"}
    body = app.get(PRIP + f"/Products({ids['p1']})", headers=ALICE).json
    assert body["Collection"] == {"Name": "SENTINEL-2"}  # DEMO's default
    # derived, not a column: not sortable (400, not a 500)
    response = app.get(PRIP + "/Products", {"$orderby": "Collection/Name desc"}, headers=ALICE, status=400)
    assert response.json["error"]["code"] == "E7721" and response.headers["Warning"]
    assert app.get(PRIP + "/Products", {"$expand": "Collection", "$top": "1"}, headers=ALICE).json["value"]


def test_without_a_default_a_product_has_no_collection(app, catalogue):
    body = app.get(PRIP + f"/Products({catalogue.id('p1')})", headers=ALICE).json
    assert body["Collection"] == {"Name": None}
    assert app.get(PRIP + "/Products", {"$filter": "Collection/Name eq 'SENTINEL-2'"}, headers=ALICE).json["value"] == []


def test_subscription_predicate_reads_the_same_collection():
    product = _product("s", 30)
    product.collection = CollectionRule(defaults=(("DEMO", "SENTINEL-2"),)).of_product(product)
    assert compiled_filter("Collection/Name eq 'SENTINEL-2'")(product)
    assert not compiled_filter("Collection/Name in ('SENTINEL-1')")(product)


def test_collection_rule_settings():
    rule = CollectionRule.from_settings({"proseo.collection.default": "S2B=SENTINEL-2\n*=OTHER",
                                         "proseo.collection.attribute": "platform"})
    assert rule.attribute == "platform"
    assert rule.default_of("S2B") == "SENTINEL-2" and rule.default_of("ZZ") == "OTHER"
    assert CollectionRule.from_settings({}) == CollectionRule()
    with pytest.raises(ValueError, match="proseo.collection.default"):
        CollectionRule.from_settings({"proseo.collection.default": "SENTINEL-2"})
