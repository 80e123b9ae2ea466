"""The Python predicate: accessor protocol, null semantics, geometry (the reference semantics)."""
import datetime as dt

import pytest

from proseo_odata.model import Attribute, AttributeType, Product, ProductionOrder
from proseo_odata.odata import edm
from proseo_odata.odata.binding import bind_filter
from proseo_odata.odata.geo import format_footprint, parse_geography, to_geojson
from proseo_odata.odata.errors import ODataError
from proseo_odata.odata.parser import parse_filter
from proseo_odata.odata.predicate import compile_predicate
from proseo_odata.storage.mapping import DOMAIN_ACCESSOR

UTC = dt.timezone.utc

ROW = {
    "Name": "S2A_MSIL1C_50%_x.zip",
    "ContentLength": 100,
    "OriginDate": None,
    "Online": True,
    "ContentDate": {"Start": "2021-06-01T10:00:00.000Z", "End": "2021-06-01T10:10:00Z"},
    "Footprint": "geography'SRID=4326;POLYGON((10 45, 12 45, 12 47, 10 47, 10 45))'",
    "Attributes": [
        {"@odata.type": "#OData.CSC.StringAttribute", "Name": "productType", "Value": "S2MSI1C"},
        {"ValueType": "Integer", "Name": "orbitNumber", "Value": 123},
    ],
}


def matches(text, obj=ROW, entity_type=edm.PRODUCT, accessor=None):
    return compile_predicate(bind_filter(parse_filter(text), entity_type), accessor)(obj)


@pytest.mark.parametrize("text, expected", [
    ("OriginDate eq null", True),
    ("OriginDate ne null", False),
    ("OriginDate gt 2020-01-01T00:00:00Z", False),
    ("not (OriginDate gt 2020-01-01T00:00:00Z)", True),
    ("OriginDate ne 2020-01-01T00:00:00Z", True),
    ("contains(Name,'50%_')", True),
    ("contains(Name,'50_')", False),
    ("ContentDate/Start lt '2021-06-01T10:00:00.001Z'", True),
    ("hour(ContentDate/Start) eq 10", True),
    ("ContentDate/End sub ContentDate/Start eq duration'PT10M'", True),
    ("Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'productType' and a/Value eq 'S2MSI1C')", True),
    ("Attributes/OData.CSC.IntegerAttribute/any(a:a/Name eq 'productType')", False),
    ("Attributes/OData.CSC.IntegerAttribute/any(a:a/Name eq 'orbitNumber' and a/OData.CSC.StringAttribute/Value eq 123)", True),
    ("Attributes/any(a:a/OData.CSC.IntegerAttribute/Value ne 5)", True),
    ("Attributes/all(a:a/OData.CSC.IntegerAttribute/Value eq 123)", False),
    ("OData.CSC.Intersects(area=geography'SRID=4326;POINT(11 46)')", True),
    ("OData.CSC.Intersects(area=geography'SRID=4326;POINT(13 46)')", False),
    ("ContentLength div 0 eq null" if False else "ContentLength mod 7 eq 2", True),
    ("-ContentLength eq -100", True),
])
def test_dict_rows(text, expected):
    assert matches(text) is expected


def test_exact_geometry_not_bounding_box():
    triangle = "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0, 10 0, 0 10, 0 0))')"
    inside_bbox_only = {"Footprint": "POLYGON((8 8, 9 8, 9 9, 8 9, 8 8))"}
    touching = {"Footprint": "POLYGON((4 4, 9 4, 9 9, 4 9, 4 4))"}
    assert not matches(triangle, inside_bbox_only)
    assert matches(triangle, touching)
    assert not matches(triangle, {"Footprint": None})


def test_domain_objects_through_the_domain_accessor():
    product = Product(
        mission="S2", name="S2B_x.zip", content_start=dt.datetime(2021, 1, 1, tzinfo=UTC),
        content_end=dt.datetime(2021, 1, 2, tzinfo=UTC), footprint="POLYGON((0 0, 1 0, 1 1, 0 0))",
        attributes=[Attribute("productType", AttributeType.STRING, "S2MSI2A"),
                    Attribute("cloudCover", AttributeType.DOUBLE, 12.5)],
    )
    acc = DOMAIN_ACCESSOR
    assert matches("ContentDate/End gt 2021-01-01T12:00:00Z and startswith(Name,'S2B')", product, accessor=acc)
    assert matches("Attributes/any(a:a/Name eq 'cloudCover' and a/Value lt 20.0)", product, accessor=acc)
    # contract section 6: a number meets Integer and Double values alike (never silently nothing)
    assert matches("Attributes/any(a:a/Name eq 'cloudCover' and a/Value lt 20)", product, accessor=acc)
    assert not matches("Attributes/any(a:a/Name eq 'cloudCover' and a/Value lt 12)", product, accessor=acc)
    assert not matches("Attributes/OData.CSC.StringAttribute/any(a:a/Value eq 'S2MSI1C')", product, accessor=acc)
    assert matches("ProductionType eq 'systematic_production' and Checksum/all(c:c/Algorithm eq 'MD5')", product, accessor=acc)
    assert matches("OData.CSC.Intersects(area='SRID=4326;POINT(0.9 0.1)')", product, accessor=acc)
    order = ProductionOrder(mission="S2", owner="u", workflow_id=__import__("uuid").uuid4(), workflow_name="w",
                            input_reference="S2B_x.zip", workflow_options={"format": "JPG"}, order_output_size=1024)
    assert matches("Status eq 'queued' and OrderOutputSize eq '1024'", order, edm.PRODUCTION_ORDER, acc)
    assert matches("InputProductReference/any(r:r/Reference eq 'S2B_x.zip')", order, edm.PRODUCTION_ORDER, acc)
    assert matches("WorkflowOptions/any(o:o/Name eq 'format' and o/OData.CSC.StringAttribute/Value eq 'JPG')",
                   order, edm.PRODUCTION_ORDER, acc)
    assert not matches("WorkflowOptions/any(o:o/Value eq 'PNG')", order, edm.PRODUCTION_ORDER, acc)


def test_invalid_regular_expression_is_a_client_error():
    with pytest.raises(ODataError):
        matches("matchesPattern(Name,'(')")


@pytest.mark.parametrize("text", [
    "SRID=4326;POLYGON((0 0, 1 0, 1 1, 0 0))",
    "geography'SRID=4326;Polygon ((0 0, 1 0, 1 1, 0 0))'",
    "polygon((0 0,1 0,1 1,0 0))",
])
def test_geography_forms(text):
    geometry, srid = parse_geography(text)
    assert srid == 4326 and geometry.geom_type == "Polygon"


def test_footprint_formatting_is_plain_and_upper_case():
    text = format_footprint("POLYGON((0.00001 1, 2 1, 2 3, 0.00001 1))")
    assert text == "geography'SRID=4326;POLYGON((0.00001 1,2 1,2 3,0.00001 1))'"
    assert "e-" not in text
    assert to_geojson("POINT(1 2)") == {"type": "Point", "coordinates": [1.0, 2.0]}


def test_arithmetic_of_a_decimal_value_and_a_double():
    """An Edm.Decimal property (an embedder's; SQLAlchemy's Numeric gives Decimal values) added
    to a double computes in doubles, as SQL does, instead of raising TypeError."""
    import decimal

    item = edm.EntityType("Item", (edm.Property("Id", edm.INT64, nullable=False), edm.Property("Weight", edm.DECIMAL),
                                   edm.Property("Price", edm.DOUBLE), edm.Property("Title", edm.STRING),
                                   edm.Property("Pages", edm.INT32)), key=("Id",), namespace="Shop")
    model = edm.EntityModel("Shop", (edm.EntitySet("Items", item),), (item,), namespace="Shop")

    def holds(text, row):
        return compile_predicate(bind_filter(parse_filter(text), item, model=model))(row)

    row = {"Weight": decimal.Decimal("2.5"), "Price": 2.5, "Title": "abc", "Pages": None}
    assert holds("Weight add 1.5 eq 4", row) and holds("Price add Weight eq 5", row)
    assert holds("Weight mul 2 eq 5", row)
    # substring(s, i, null) is null, as in SQL: not the rest of the string
    assert not holds("substring(Title, 0, Pages) eq Title", row)
    assert holds("substring(Title, 1) eq 'bc'", row)


def test_a_binary_literal_meets_a_binary_property_in_python_and_sql():
    """An embedder's Edm.Binary property: the literal was refused as not fitting Edm.Binary."""
    import sqlalchemy as sa

    from proseo_odata.odata.sql import EntityMapping, compile_filter_sql

    blob = edm.EntityType("Blob", (edm.Property("Id", edm.INT64, nullable=False), edm.Property("Data", edm.BINARY)),
                          key=("Id",), namespace="Store")
    model = edm.EntityModel("Store", (edm.EntitySet("Blobs", blob),), (blob,), namespace="Store")
    bound = bind_filter(parse_filter("Data eq binary'AAE='"), blob, model=model)
    assert compile_predicate(bound)({"Data": b"\x00\x01"}) and not compile_predicate(bound)({"Data": b"\x00"})
    table = sa.Table("blobs", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("data", sa.LargeBinary))
    engine = sa.create_engine("sqlite://")
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"id": 1, "data": b"\x00\x01"}, {"id": 2, "data": b"\x00"}])
        where = compile_filter_sql(bound, EntityMapping({"Id": table.c.id, "Data": table.c.data}))
        assert connection.execute(sa.select(table.c.id).where(where)).scalars().all() == [1]
    engine.dispose()


def test_orderby_of_an_expression_that_is_null_sorts_as_null_in_sql_as_in_python():
    """compile_orderby_sql used the expression's raw value: substring with a negative length (null
    by OData's rules, and in sort_key) sorted by SQLite's own substr (the characters before the
    start), and PostgreSQL refused it ("negative substring length not allowed")."""
    import sqlalchemy as sa

    from proseo_odata.odata.binding import bind_orderby
    from proseo_odata.odata.parser import parse_orderby
    from proseo_odata.odata.predicate import sort_key
    from proseo_odata.odata.sql import EntityMapping, compile_orderby_sql, install_sqlite_functions

    book = edm.EntityType("Book", (edm.Property("Id", edm.INT64, nullable=False), edm.Property("Title", edm.STRING),
                                   edm.Property("Cut", edm.INT32)), key=("Id",), namespace="Lib")
    model = edm.EntityModel("Lib", (edm.EntitySet("Books", book),), (book,), namespace="Lib")
    items = bind_orderby(parse_orderby("substring(Title,2,Cut) desc,Id"), book, model=model)
    rows = [{"Id": 1, "Title": "bbbb", "Cut": 2}, {"Id": 2, "Title": "zzzz", "Cut": -1}, {"Id": 3, "Title": "aaaa", "Cut": 2}]
    python = [row["Id"] for row in sorted(rows, key=sort_key(items))]
    assert python == [1, 3, 2]  # the null last, as OData orders descending
    table = sa.Table("books", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("title", sa.String),
                     sa.Column("cut", sa.Integer))
    engine = install_sqlite_functions(sa.create_engine("sqlite://"))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"id": r["Id"], "title": r["Title"], "cut": r["Cut"]} for r in rows])
        order = compile_orderby_sql(items, EntityMapping({"Id": table.c.id, "Title": table.c.title, "Cut": table.c.cut}))
        assert connection.execute(sa.select(table.c.id).order_by(*order)).scalars().all() == python
    engine.dispose()


def test_the_default_accessor_reads_any_mapping():
    """SQLAlchemy's RowMapping is a Mapping, not a dict: every property read as None before."""
    import types

    row = types.MappingProxyType({"Name": "S2A_MSIL1C_50%_x.zip", "ContentLength": 100})
    assert matches("ContentLength eq 100 and startswith(Name,'S2A')", row)
    assert not matches("ContentLength eq 101", row)
