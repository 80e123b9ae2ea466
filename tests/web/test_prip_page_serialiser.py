"""A page of products (``query_product_entries``: one statement, rows written straight to JSON
text) and the single-entity view (a loaded ``Product``) answer every product with the same JSON,
over SQLite and PostgreSQL: products with every kind of field (nulls, no footprint, an eviction
date, attributes of every type, several checksums, text that JSON escapes), with ``$select``,
``$expand``, seed aliases on and off and six fraction digits. And the text is what
``json.dumps`` writes for the same value, byte for byte, and the text commit 48bb64b wrote (golden
texts at the end: the wire did not change). The pieces the writer relies on: ``encode_basestring``
is ``json.dumps``' string form, the date-time formatters write ``model.times.format_datetime``'s
text."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from datetime_samples import edge_datetimes, random_datetimes
from prip_helpers import PRIP, basic, served_app, utc
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


def _check_same(app, product_ids, select, expand, listed=None):
    """``listed``: the context URL's selection when it is not ``select`` itself."""
    for pid in product_ids:
        options = _pairs(select, expand)
        page = app.get(PRIP + "/Products", {"$filter": f"Id eq {pid}", **options}, headers=CAROL)
        entity = app.get(PRIP + f"/Products({pid})", options, headers=CAROL)
        for response in (page, entity):  # the text is json.dumps' text of the same value
            assert response.body == json.dumps(response.json, ensure_ascii=False).encode("utf-8")
        (item,) = page.json["value"]
        single = dict(entity.json)
        projected = f"({listed or select})" if select else ""
        assert page.json["@odata.context"] == f"$metadata#Products{projected}"
        assert single.pop("@odata.context") == f"$metadata#Products{projected}/$entity"
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

    try:
        with served_app({**app_settings, **settings}) as app:
            _check_same(app, [str(p.id) for p in special.values()], None, "Attributes,Assets")
            # without the seed aliases the answer leaves CreationDate out, and so does its context
            listed = "Checksum,ContentDate" if settings.get("proseo.seed_aliases") == "false" else None
            _check_same(app, [str(special["rich"].id)], "Checksum,ContentDate,CreationDate", None, listed)
            if listed:
                only_alias = app.get(PRIP + f"/Products({special['rich'].id})", {"$select": "CreationDate"},
                                     headers=CAROL)
                assert only_alias.json["@odata.context"] == "$metadata#Products(Id)/$entity"
                assert {k for k in only_alias.json if not k.startswith("@")} == {"Id"}
    finally:
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


# -- the pieces the page writer relies on ----------------------------------------------------------


@pytest.mark.parametrize("text", [
    "", "plain", 'quote " and back\\slash', "/ slash", "\b\f\n\r\t", "".join(map(chr, range(0x20))),
    "\x7f delete", "\u2028 line \u2029 paragraph", "ünïcødé ✓ 日本語", "\U0001f600 astral",
    "lone \ud800 high", "lone \udfff low", "\udc00\ud800 reversed pair",
])
def test_encode_basestring_is_json_dumps(text):
    """``json.encoder.encode_basestring`` is not documented API: the page writer uses it as
    ``json.dumps(s, ensure_ascii=False)``; if an interpreter changes it, this fails loudly.
    (Lone surrogates: both pass them through unescaped; the response's UTF-8 encoding would
    refuse them, and the storage never holds one: ``parse_json_body`` refuses them.)"""
    from json.encoder import encode_basestring

    assert encode_basestring(text) == json.dumps(text, ensure_ascii=False)


@pytest.mark.parametrize("digits", [3, 6])
def test_datetime_formatters_agree(digits):
    """``odata_json``'s date-time formatters (from the fields for UTC from year 1000 on) write
    the text of :func:`proseo_odata.model.times.format_datetime`, on random instants of every
    year, in UTC and other zones, and at the edges (years 999/1000/9999)."""
    from proseo_odata.model import times
    from proseo_odata_web.odata_json import _datetime_text, format_datetime

    assert format_datetime(None) is None and _datetime_text(None) == "null"
    before = times.fraction_digits()
    times.set_fraction_digits(digits)
    try:
        values = edge_datetimes() + list(random_datetimes(20_000, seed=digits))
        for value in values:
            expected = times.format_datetime(value)
            assert format_datetime(value) == expected, value
            assert _datetime_text(value) == json.dumps(expected), value
        assert times.format_datetime(values[2]) == ("1000-01-01T00:00:00.000Z" if digits == 3
                                                    else "1000-01-01T00:00:00.000000Z")
    finally:
        times.set_fraction_digits(before)


@pytest.mark.parametrize("digits", [3, 6])
def test_the_wire_is_the_golden_text(app_settings, catalogue, special, digits):
    """The rich product (every attribute type, several checksums, a multipolygon footprint) and
    the bare one (nulls, no footprint, escapes, an eviction date), through the page and the
    single-entity views, are the texts commit 48bb64b wrote (:data:`GOLDEN_RICH_3` ...)."""
    from proseo_odata.config import configure

    golden = {("rich", 3): GOLDEN_RICH_3, ("rich", 6): GOLDEN_RICH_6,
              ("bare", 3): GOLDEN_BARE_3, ("bare", 6): GOLDEN_BARE_6}
    try:
        with served_app({**app_settings, "proseo.datetime.fraction_digits": str(digits)}) as app:
            for label, options in (("rich", {"$expand": "Attributes"}), ("bare", {})):
                text = golden[label, digits]
                pid = str(special[label].id)
                page = app.get(PRIP + "/Products", {"$filter": f"Id eq {pid}", **options}, headers=CAROL)
                entity = app.get(PRIP + f"/Products({pid})", options, headers=CAROL)
                assert page.body.decode("utf-8") == '{"@odata.context": "$metadata#Products", "value": [' + text + "]}"
                assert entity.body.decode("utf-8") == '{"@odata.context": "$metadata#Products/$entity", ' + text[1:]
    finally:
        configure({})


# -- golden texts: the wire of commit 48bb64b (before the page writer), byte for byte -------------------
# Written by that commit's serialiser (its tree exported with ``git archive 48bb64b``, the same
# products through its PRIP over SQLite); a change of the wire must change these on purpose.

#: The rich product's attributes before its date-time ones: the same text at 3 and 6 digits.
_GOLDEN_RICH_UNTIMED_ATTRIBUTES = (
    '"Attributes": [{"@odata.type": "#OData.CSC.BooleanAttribute", "Name": "b_false", '
    '"ValueType": "Boolean", "Value": false, "Id": "b_false", "ContentType": "text/plain", '
    '"ContentLength": 5, "BooleanValue": false}, {"@odata.type": "#OData.CSC.BooleanAttribute", '
    '"Name": "b_true", "ValueType": "Boolean", "Value": true, "Id": "b_true", "ContentType": "text/plain", '
    '"ContentLength": 4, "BooleanValue": true}, {"@odata.type": "#OData.CSC.DoubleAttribute", '
    '"Name": "d_huge", "ValueType": "Double", "Value": 1e+308, "Id": "d_huge", '
    '"ContentType": "text/plain", "ContentLength": 6, "DoubleValue": 1e+308}, '
    '{"@odata.type": "#OData.CSC.DoubleAttribute", "Name": "d_tenth", "ValueType": "Double", "Value": 0.1, '
    '"Id": "d_tenth", "ContentType": "text/plain", "ContentLength": 3, "DoubleValue": 0.1}, '
    '{"@odata.type": "#OData.CSC.DoubleAttribute", "Name": "d_third", "ValueType": "Double", '
    '"Value": -0.3333333333333333, "Id": "d_third", "ContentType": "text/plain", "ContentLength": 19, '
    '"DoubleValue": -0.3333333333333333}, {"@odata.type": "#OData.CSC.DoubleAttribute", "Name": "d_tiny", '
    '"ValueType": "Double", "Value": 2.2250738585072014e-308, "Id": "d_tiny", "ContentType": "text/plain", '
    '"ContentLength": 23, "DoubleValue": 2.2250738585072014e-308}, '
    '{"@odata.type": "#OData.CSC.BooleanAttribute", "Name": "highQuality", "ValueType": "Boolean", '
    '"Value": false, "Id": "highQuality", "ContentType": "text/plain", "ContentLength": 5, '
    '"BooleanValue": false}, {"@odata.type": "#OData.CSC.IntegerAttribute", "Name": "i_max", '
    '"ValueType": "Integer", "Value": 9223372036854775807, "Id": "i_max", "ContentType": "text/plain", '
    '"ContentLength": 19, "IntegerValue": 9223372036854775807}, '
    '{"@odata.type": "#OData.CSC.IntegerAttribute", "Name": "i_min", "ValueType": "Integer", '
    '"Value": -9223372036854775808, "Id": "i_min", "ContentType": "text/plain", "ContentLength": 20, '
    '"IntegerValue": -9223372036854775808}, {"@odata.type": "#OData.CSC.IntegerAttribute", '
    '"Name": "i_zero", "ValueType": "Integer", "Value": 0, "Id": "i_zero", "ContentType": "text/plain", '
    '"ContentLength": 1, "IntegerValue": 0}, {"@odata.type": "#OData.CSC.StringAttribute", '
    '"Name": "platformShortName", "ValueType": "String", "Value": "SENTINEL-2", "Id": "platformShortName", '
    '"ContentType": "text/plain", "ContentLength": 10, "StringValue": "SENTINEL-2"}, '
    '{"@odata.type": "#OData.CSC.StringAttribute", "Name": "productType", "ValueType": "String", '
    '"Value": "S2MSI1C", "Id": "productType", "ContentType": "text/plain", "ContentLength": 7, '
    '"StringValue": "S2MSI1C"}, {"@odata.type": "#OData.CSC.StringAttribute", "Name": "s_empty", '
    '"ValueType": "String", "Value": "", "Id": "s_empty", "ContentType": "text/plain", "ContentLength": 0, '
    '"StringValue": ""}, {"@odata.type": "#OData.CSC.StringAttribute", "Name": "s_unicode", '
    '"ValueType": "String", "Value": "Ünïcødé ✓ 日本語 \'quote\' \\"dq\\" %_\\\\", "Id": "s_unicode", '
    '"ContentType": "text/plain", "ContentLength": 42, '
    '"StringValue": "Ünïcødé ✓ 日本語 \'quote\' \\"dq\\" %_\\\\"}, '
)

GOLDEN_RICH_3 = (
    '{"@odata.mediaContentType": "application/zip", "Id": "00000000-0000-0000-0000-0000000000b2", '
    '"Name": "S2A_RICH.zip", "ContentType": "application/zip", "ContentLength": 4611686018427387904, '
    '"OriginDate": "2022-03-04T05:06:07.891Z", "PublicationDate": "2022-03-04T05:06:07.891Z", '
    '"ModificationDate": "2022-03-04T05:06:07.891Z", "EvictionDate": "9999-12-31T23:59:59.999Z", '
    '"Online": true, "Checksum": [{"Algorithm": "BLAKE3", '
    '"Value": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", '
    '"ChecksumDate": "2022-03-04T05:06:08.891Z"}, {"Algorithm": "MD5", '
    '"Value": "00000000000000000000000000000000", "ChecksumDate": null}, {"Algorithm": "SHA256", '
    '"Value": "abababababababababababababababababababababababababababababababab", '
    '"ChecksumDate": "2022-03-04T05:06:07.891Z"}], "ContentDate": {"Start": "2022-03-03T05:06:07.891Z", '
    '"End": "2022-03-04T04:06:07.890Z"}, "ProductionType": "systematic_production", '
    '"Footprint": "geography\'SRID=4326;MULTIPOLYGON(((10 50,11.25 50,11 51.5,10 50)),((-179.5 -89,-'
    '178 -89,-178 -88,-179.5 -89)))\'", "GeoFootprint": {"type": "MultiPolygon", "coordinates": [[[[10.0, '
    '50.0], [11.25, 50.0], [11.0, 51.5], [10.0, 50.0]]], [[[-179.5, -89.0], [-178.0, -89.0], [-178.0, '
    '-88.0], [-179.5, -89.0]]]]}, "Collection": {"Name": "SENTINEL-2"}, '
    '"CreationDate": "2022-03-04T05:06:07.891Z", "Checksums": [{"Algorithm": "BLAKE3", '
    '"Value": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", '
    '"ChecksumDate": "2022-03-04T05:06:08.891Z"}, {"Algorithm": "MD5", '
    '"Value": "00000000000000000000000000000000", "ChecksumDate": null}, {"Algorithm": "SHA256", '
    '"Value": "abababababababababababababababababababababababababababababababab", '
    '"ChecksumDate": "2022-03-04T05:06:07.891Z"}], '
) + _GOLDEN_RICH_UNTIMED_ATTRIBUTES + (
    '{"@odata.type": "#OData.CSC.DateTimeOffsetAttribute", "Name": "t_epoch", '
    '"ValueType": "DateTimeOffset", "Value": "1970-01-01T00:00:00.000Z", "Id": "t_epoch", '
    '"ContentType": "text/plain", "ContentLength": 24, "DateValue": "1970-01-01T00:00:00.000Z"}, '
    '{"@odata.type": "#OData.CSC.DateTimeOffsetAttribute", "Name": "t_micro", '
    '"ValueType": "DateTimeOffset", "Value": "2021-05-20T19:08:07.654Z", "Id": "t_micro", '
    '"ContentType": "text/plain", "ContentLength": 24, "DateValue": "2021-05-20T19:08:07.654Z"}, '
    '{"@odata.type": "#OData.CSC.DateTimeOffsetAttribute", "Name": "t_never", '
    '"ValueType": "DateTimeOffset", "Value": "9999-12-31T23:59:59.999Z", "Id": "t_never", '
    '"ContentType": "text/plain", "ContentLength": 24, "DateValue": "9999-12-31T23:59:59.999Z"}]}'
)

GOLDEN_RICH_6 = (
    '{"@odata.mediaContentType": "application/zip", "Id": "00000000-0000-0000-0000-0000000000b2", '
    '"Name": "S2A_RICH.zip", "ContentType": "application/zip", "ContentLength": 4611686018427387904, '
    '"OriginDate": "2022-03-04T05:06:07.891233Z", "PublicationDate": "2022-03-04T05:06:07.891234Z", '
    '"ModificationDate": "2022-03-04T05:06:07.891234Z", "EvictionDate": "9999-12-31T23:59:59.999000Z", '
    '"Online": true, "Checksum": [{"Algorithm": "BLAKE3", '
    '"Value": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", '
    '"ChecksumDate": "2022-03-04T05:06:08.891239Z"}, {"Algorithm": "MD5", '
    '"Value": "00000000000000000000000000000000", "ChecksumDate": null}, {"Algorithm": "SHA256", '
    '"Value": "abababababababababababababababababababababababababababababababab", '
    '"ChecksumDate": "2022-03-04T05:06:07.891234Z"}], '
    '"ContentDate": {"Start": "2022-03-03T05:06:07.891234Z", "End": "2022-03-04T04:06:07.890235Z"}, '
    '"ProductionType": "systematic_production", '
    '"Footprint": "geography\'SRID=4326;MULTIPOLYGON(((10 50,11.25 50,11 51.5,10 50)),((-179.5 -89,-'
    '178 -89,-178 -88,-179.5 -89)))\'", "GeoFootprint": {"type": "MultiPolygon", "coordinates": [[[[10.0, '
    '50.0], [11.25, 50.0], [11.0, 51.5], [10.0, 50.0]]], [[[-179.5, -89.0], [-178.0, -89.0], [-178.0, '
    '-88.0], [-179.5, -89.0]]]]}, "Collection": {"Name": "SENTINEL-2"}, '
    '"CreationDate": "2022-03-04T05:06:07.891234Z", "Checksums": [{"Algorithm": "BLAKE3", '
    '"Value": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", '
    '"ChecksumDate": "2022-03-04T05:06:08.891239Z"}, {"Algorithm": "MD5", '
    '"Value": "00000000000000000000000000000000", "ChecksumDate": null}, {"Algorithm": "SHA256", '
    '"Value": "abababababababababababababababababababababababababababababababab", '
    '"ChecksumDate": "2022-03-04T05:06:07.891234Z"}], '
) + _GOLDEN_RICH_UNTIMED_ATTRIBUTES + (
    '{"@odata.type": "#OData.CSC.DateTimeOffsetAttribute", "Name": "t_epoch", '
    '"ValueType": "DateTimeOffset", "Value": "1970-01-01T00:00:00.000000Z", "Id": "t_epoch", '
    '"ContentType": "text/plain", "ContentLength": 27, "DateValue": "1970-01-01T00:00:00.000000Z"}, '
    '{"@odata.type": "#OData.CSC.DateTimeOffsetAttribute", "Name": "t_micro", '
    '"ValueType": "DateTimeOffset", "Value": "2021-05-20T19:08:07.654321Z", "Id": "t_micro", '
    '"ContentType": "text/plain", "ContentLength": 27, "DateValue": "2021-05-20T19:08:07.654321Z"}, '
    '{"@odata.type": "#OData.CSC.DateTimeOffsetAttribute", "Name": "t_never", '
    '"ValueType": "DateTimeOffset", "Value": "9999-12-31T23:59:59.999000Z", "Id": "t_never", '
    '"ContentType": "text/plain", "ContentLength": 27, "DateValue": "9999-12-31T23:59:59.999000Z"}]}'
)

GOLDEN_BARE_3 = (
    '{"@odata.mediaContentType": "application/x-ünï", "Id": "00000000-0000-0000-0000-0000000000b1", '
    '"Name": "bare \\"quoted\\" \\\\ back\\tslash ünïcode ✓ \u2028 \\u0001.zip", '
    '"ContentType": "application/x-ünï", "ContentLength": 0, "OriginDate": null, '
    '"PublicationDate": "2022-03-04T05:06:07.891Z", "ModificationDate": "2022-03-04T05:06:07.891Z", '
    '"EvictionDate": "2022-04-03T05:06:07.891Z", "Online": false, "Checksum": [], '
    '"ContentDate": {"Start": null, "End": null}, "ProductionType": "on-demand:non-default", '
    '"Footprint": null, "GeoFootprint": null, "Collection": {"Name": null}, '
    '"CreationDate": "2022-03-04T05:06:07.891Z", "Checksums": []}'
)

GOLDEN_BARE_6 = (
    '{"@odata.mediaContentType": "application/x-ünï", "Id": "00000000-0000-0000-0000-0000000000b1", '
    '"Name": "bare \\"quoted\\" \\\\ back\\tslash ünïcode ✓ \u2028 \\u0001.zip", '
    '"ContentType": "application/x-ünï", "ContentLength": 0, "OriginDate": null, '
    '"PublicationDate": "2022-03-04T05:06:07.891234Z", "ModificationDate": "2022-03-04T05:06:07.891234Z", '
    '"EvictionDate": "2022-04-03T05:06:07.891234Z", "Online": false, "Checksum": [], '
    '"ContentDate": {"Start": null, "End": null}, "ProductionType": "on-demand:non-default", '
    '"Footprint": null, "GeoFootprint": null, "Collection": {"Name": null}, '
    '"CreationDate": "2022-03-04T05:06:07.891234Z", "Checksums": []}'
)


def test_a_stored_double_that_is_not_finite_is_written_as_odata_json_spells_it():
    """Stored before non-finite Doubles were refused, it was written as bare ``Infinity``: no
    JSON, and a page holding it unreadable to strict parsers (JavaScript, Java, Go, jq)."""
    import math

    from proseo_odata_web.odata_json import attributes_json

    def stored(value):
        attribute = object.__new__(Attribute)
        attribute.__dict__.update(name="q", type=AttributeType.DOUBLE, value=value)
        return attribute

    def strict(text):
        raise ValueError(f"not JSON: {text}")

    text = json.dumps(attributes_json([stored(math.inf), stored(-math.inf), stored(math.nan)]), ensure_ascii=False)
    read = json.loads(text, parse_constant=strict)
    assert [a["Value"] for a in read] == ["INF", "-INF", "NaN"] and [a["DoubleValue"] for a in read] == ["INF", "-INF", "NaN"]
