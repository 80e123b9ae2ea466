"""A page of products (``query_product_entries``: one statement, rows written straight to JSON
text) and the single-entity view (a loaded ``Product``) answer every product with the same JSON,
over SQLite and PostgreSQL: products with every kind of field (nulls, no footprint, an eviction
date, attributes of every type, several checksums, text that JSON escapes), with ``$select``,
``$expand``, seed aliases on and off and six fraction digits. And the text is what
``json.dumps`` writes for the same value, byte for byte (the wire did not change)."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from prip_helpers import PRIP, basic, make_app, utc
from proseo_odata.model import Attribute, AttributeType, Checksum, Product, ProductionType, VisibilityClass
from proseo_odata.storage.base import ProductEntry
from proseo_odata.storage.testing import PRECISION_ATTRIBUTES

CAROL = basic("carol")  # reads every visibility class

T = utc(2022, 3, 4, 5, 6, 7, 891234)


def _special_products() -> dict:
    bare = Product(  # every optional field empty
        mission="DEMO", name='bare "quoted" \\ back\tslash ünïcode ✓ \u2028 \x01.zip', id=uuid.UUID(int=0xB1),
        content_type="application/x-ünï", content_length=0, origin_date=None, publication_date=T,
        modification_date=T, eviction_date=T + timedelta(days=30), online=False, checksums=[],
        content_start=None, content_end=None, production_type=ProductionType.ON_DEMAND_NON_DEFAULT,
        footprint=None, attributes=[], visibility=VisibilityClass.INTERNAL,
    )
    rich = Product(  # several checksums (stored out of order), attributes of every type
        mission="DEMO", name="S2A_RICH.zip", id=uuid.UUID(int=0xB2), content_type="application/zip",
        content_length=2**62, origin_date=T - timedelta(microseconds=1), publication_date=T, modification_date=T,
        checksums=[Checksum("SHA256", "ab" * 32, T), Checksum("MD5", "0" * 32, None),
                   Checksum("BLAKE3", "cd" * 32, T + timedelta(seconds=1, microseconds=5))],
        content_start=T - timedelta(days=1), content_end=T - timedelta(hours=1, microseconds=999),
        footprint="MULTIPOLYGON(((10 50,11.25 50,11 51.5,10 50)),((-179.5 -89,-178 -89,-178 -88,-179.5 -89)))",
        attributes=[Attribute.of("platformShortName", "SENTINEL-2"), Attribute.of("productType", "S2MSI1C"),
                    Attribute("highQuality", AttributeType.BOOLEAN, False), *PRECISION_ATTRIBUTES],
        visibility=VisibilityClass.RESTRICTED,
    )
    other_type = Product(  # the collection attribute present but not a String: the mission default
        mission="DEMO", name="S1_INT_COLLECTION.zip", id=uuid.UUID(int=0xB3), publication_date=T,
        modification_date=T, checksums=[Checksum("MD5", "1" * 32, T)],
        attributes=[Attribute("platformShortName", AttributeType.INTEGER, 7)],
        footprint="POLYGON((0 0,1 0,1 1,0 1,0 0))",
    )
    return {"bare": bare, "rich": rich, "other_type": other_type}


@pytest.fixture
def special(storage, catalogue):
    products = _special_products()
    for product in products.values():
        storage.add_product(product)
    return products


SELECTS = [None, "Name,Footprint,Checksum", "Id", "GeoFootprint,Collection,CreationDate,Checksums,EvictionDate"]
EXPANDS = [None, "Attributes", "Assets", "Attributes,Assets"]


def _pairs(select, expand) -> dict:
    return {k: v for k, v in (("$select", select), ("$expand", expand)) if v is not None}


def _check_same(app, product_ids, select, expand):
    for pid in product_ids:
        options = _pairs(select, expand)
        page = app.get(PRIP + "/Products", {"$filter": f"Id eq {pid}", **options}, headers=CAROL)
        entity = app.get(PRIP + f"/Products({pid})", options, headers=CAROL)
        for response in (page, entity):  # the text is json.dumps' text of the same value
            assert response.body == json.dumps(response.json, ensure_ascii=False).encode("utf-8")
        (item,) = page.json["value"]
        single = dict(entity.json)
        assert single.pop("@odata.context") == "$metadata#Products/$entity"
        assert item == single
        assert list(item) == list(single)  # the same member order


@pytest.mark.parametrize("select", SELECTS)
@pytest.mark.parametrize("expand", EXPANDS)
def test_page_and_single_entity_agree(app, catalogue, special, select, expand):
    ids = [str(p.id) for p in special.values()] + [catalogue.id(label) for label in ("p1", "p4", "restricted")]
    _check_same(app, ids, select, expand)


@pytest.mark.parametrize("settings", [{"proseo.seed_aliases": "false"}, {"proseo.datetime.fraction_digits": "6"}])
def test_page_and_single_entity_agree_with_settings(app_settings, catalogue, special, settings):
    from proseo_odata.config import configure

    app = make_app({**app_settings, **settings})
    try:
        _check_same(app, [str(p.id) for p in special.values()], None, "Attributes,Assets")
        _check_same(app, [str(special["rich"].id)], "Checksum,ContentDate,CreationDate", None)
    finally:
        app.app.registry.storage.close()
        configure({})


def test_page_values(app, catalogue, special):
    """What the page says of the special products (not only that it agrees with itself)."""
    body = app.get(PRIP + "/Products", {"$filter": "startswith(Name,'bare') or Name eq 'S2A_RICH.zip'",
                                         "$orderby": "Name", "$expand": "Attributes"}, headers=CAROL).json
    rich, bare = body["value"]  # "S" sorts before "b"
    assert bare["Name"] == special["bare"].name and bare["ContentType"] == "application/x-ünï"
    assert (bare["OriginDate"], bare["ContentDate"], bare["Footprint"], bare["GeoFootprint"]) == (
        None, {"Start": None, "End": None}, None, None)
    assert bare["EvictionDate"] == "2022-04-03T05:06:07.891Z" and bare["Online"] is False
    assert bare["Checksum"] == bare["Checksums"] == [] and bare["Collection"] == {"Name": None}
    assert bare["ProductionType"] == "on-demand:non-default" and bare["Attributes"] == []
    assert [c["Algorithm"] for c in rich["Checksum"]] == ["BLAKE3", "MD5", "SHA256"]
    assert rich["Checksum"][0]["ChecksumDate"] == "2022-03-04T05:06:08.891Z"
    assert rich["Checksum"][1]["ChecksumDate"] is None
    assert rich["ContentLength"] == 2**62 and rich["Collection"] == {"Name": "SENTINEL-2"}
    assert rich["GeoFootprint"]["type"] == "MultiPolygon"
    assert rich["Footprint"].startswith("geography'SRID=4326;MULTIPOLYGON(((")
    values = {a["Name"]: a["Value"] for a in rich["Attributes"]}
    assert [a["Name"] for a in rich["Attributes"]] == sorted(values)
    assert values["i_min"] == -(2**63) and values["d_tenth"] == 0.1 and values["highQuality"] is False
    assert values["s_unicode"] == "Ünïcødé ✓ 日本語 'quote' \"dq\" %_\\"
    assert values["t_micro"] == "2021-05-20T19:08:07.654Z"


def test_a_footprint_rendered_per_response_is_the_stored_rendering(special):
    """An entry without stored renderings (``footprint_literal`` NULL) is rendered from the WKT
    to the same text."""
    from proseo_odata.storage.mapping import render_footprint
    from proseo_odata_web.odata_json import product_members

    product = special["rich"]
    entry = ProductEntry.from_product(product)._replace(footprint_literal=None, footprint_geojson=None)
    literal, geojson = render_footprint(product.footprint)
    assert product_members(entry) == product_members(entry._replace(footprint_literal=literal,
                                                                     footprint_geojson=geojson))
