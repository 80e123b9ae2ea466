"""The SQL compiler and the Python predicate select exactly the same products.

A deterministic catalogue of a few hundred products (nulls, unicode, ``_`` and ``%`` in names,
typed attributes, footprints) is stored through the real backend on SQLite and on PostgreSQL
(PostGIS); every filter of :data:`FILTERS` runs as SQL there and as a Python predicate over the
same domain objects, and the two sets of ids must be equal.
"""
from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
import sqlalchemy as sa

from proseo_odata.model import Attribute, AttributeType, Checksum, Mission, Product
from proseo_odata.odata import edm
from proseo_odata.odata.binding import bind_filter
from proseo_odata.odata.parser import parse_filter
from proseo_odata.odata.predicate import compile_predicate
from proseo_odata.storage.base import Query
from proseo_odata.storage.mapping import DOMAIN_ACCESSOR, compile_filter
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
MISSION = "S2"
BOX = "POLYGON((10 45, 12 45, 12 47, 10 47, 10 45))"

FILTERS = [
    # comparison operators, logic, precedence
    "Name eq 'S2A_MSIL1C_0003.zip'",
    "Name ne 'S2A_MSIL1C_0003.zip'",
    "ContentLength gt 500000",
    "ContentLength ge 500000 and ContentLength le 700000",
    "ContentLength lt 1000 or ContentLength gt 900000",
    "not (ContentLength lt 500000)",
    "contains(Name,'_AUX_') or contains(Name,'_AX_') and Online eq true",
    "(contains(Name,'_AUX_') or contains(Name,'_AX_')) and Online eq true",
    "Online",
    "not Online",
    "Online eq false or ContentLength eq 0",
    "NOT (Online eq true) AND contentlength GT 100" if False else "not (Online eq true) and ContentLength gt 100",
    "Online EQ true AND ContentLength GT 100000",
    "true",
    "Name eq Name",
    # null semantics
    "OriginDate eq null",
    "OriginDate ne null",
    "OriginDate gt 2021-01-01T00:00:00Z",
    "not (OriginDate gt 2021-01-01T00:00:00Z)",
    "ContentDate/Start eq null",
    "ContentDate/End ne 2021-03-01T00:00:00Z",
    "OriginDate ne ContentDate/Start",
    "OriginDate eq ContentDate/Start",
    # date-times in every form
    "ContentDate/Start lt '2020-01-12T00:00:00.000000Z'",
    "ContentDate/Start lt 2021-01-12T00:00:00.000Z",
    "ContentDate/Start ge 2021-06-01T00:00:00+02:00",
    "ContentDate/Start ge 2021-06-01T00:00:00",
    "ContentDate/Start gt 2021-06-01T10:11:12.123456789Z",
    "ContentDate/Start gt '2021-06-01'",
    "ContentDate/End le 2021-06-01",
    "PublicationDate gt 2022-01-01T00:00:00Z",
    "CreationDate gt 2022-01-01T00:00:00Z",
    "ModificationDate lt now() sub duration'P365D'",
    "EvictionDate lt 9999-12-31T23:59:59.999Z",
    "EvictionDate eq 9999-12-31T23:59:59.999Z",
    "ContentDate/Start ge 2021-03-01T00:00:00Z and ContentDate/End le 2021-09-01T00:00:00Z",
    # durations and date arithmetic
    "ContentDate/End sub ContentDate/Start gt duration'PT30M'",
    "ContentDate/Start add duration'P30D' lt 2021-06-01T00:00:00Z",
    "ContentDate/Start sub duration'PT12H' gt 2021-06-01T00:00:00Z",
    # negated constants are folded by both compilers (a negated duration was a 500 in SQL)
    "ModificationDate lt now() add -duration'P365D'",
    "ContentDate/Start add -duration'P30D' lt 2021-06-01T00:00:00Z",
    "ContentLength gt -(2 add 3) mul -100000",
    "PublicationDate sub OriginDate le duration'P2D'",
    # date and time functions
    "year(ContentDate/Start) eq 2021",
    "month(ContentDate/Start) eq 6",
    "day(ContentDate/Start) le 10",
    "hour(ContentDate/Start) ge 12",
    "minute(ContentDate/Start) lt 30",
    "second(ContentDate/Start) eq 7",
    "date(ContentDate/Start) eq date(ContentDate/End)",
    "date(ContentDate/Start) le 2020-06-03",
    "date(ContentDate/Start) ge 2021-06-01",
    "time(ContentDate/Start) lt 12:00:00",
    "time(ContentDate/Start) ge 06:30:00.5",
    "year(PublicationDate) eq 2022 and month(PublicationDate) gt 6",
    "year(date(ContentDate/Start)) eq 2020",
    "hour(time(ContentDate/Start)) eq 3",
    "ContentDate/Start lt now() sub duration'P1000D'",
    # string functions: % and _ are literal
    "contains(Name,'_AUX_')",
    "contains(Name,'%')",
    "contains(Name,'50%_')",
    "contains(Name,'_')",
    "startswith(Name,'S2A_')",
    "startswith(Name,'S2A%')",
    "startswith(Name,'s2a')",
    "endswith(Name,'.zip')",
    "endswith(Name,'_x.SAFE')",
    "endswith(Name,'')",
    "contains(Name,'!')",
    "contains(Name,'Ünï')",
    "contains(tolower(Name),'ünï')",
    "toupper(Name) eq 'S2B_MSIL2A_0010.ZIP'",
    "tolower(Name) eq 's2b_msil2a_0010.zip'",
    "contains(toupper(Name),'ÉTÉ')",
    "length(Name) gt 21",
    "length(Name) eq 19",
    "indexof(Name,'MSI') eq 4",
    "indexof(Name,'L2A') gt 0",
    "indexof(Name,'_AUX_') eq -1",
    "substring(Name,4) eq 'MSIL1C_0003.zip'",
    "substring(Name,0,3) eq 'S2B'",
    "substring(Name,4,3) eq 'MSI'",
    "trim(Name) ne Name",
    "trim(ContentType) eq 'application/zip'",
    "concat(Name,'.md5') eq 'S2A_MSIL1C_0003.zip.md5'",
    "startswith(concat(concat(ContentType,'/'),Name),'application/zip/S2A')",
    "matchesPattern(Name,'^S2[AB]_MSIL1C_00[0-4][0-9]\\.zip$')",
    "matchesPattern(Name,'AUX|AX')",
    # RE2's syntax where PostgreSQL's own differs (proseo_odata.odata.pgregex translates it)
    "matchesPattern(Name,'\\bzip\\b')",
    "matchesPattern(Name,'^S2A_(?i)msil1c')",
    "matchesPattern(Name,'(?i)^s2b_msil2a_00[0-9]{2}\\.ZIP\\z')",
    "matchesPattern(Name,'[[:upper:]]{5}\\d')",
    "startswith(ContentType,trim(ContentType))",
    "startswith(Name,toupper(substring(Name,0,3)))",
    # in, has, enums
    "Name in ('S2A_MSIL1C_0003.zip','S2B_MSIL2A_0010.zip','nothing')",
    "ContentLength in (0, 1, 2, 3)",
    # a string predicate as the operand of in: PostgreSQL's LIKE and IN do not chain unparenthesised
    "startswith(Name,'S2A') in (true)",
    "contains(Name,'_0') in (false,null)",
    "null in ('a',null) and startswith(Name,'S2A')",  # null eq null (SQL answered false)
    "null in ('a','b') or startswith(Name,'S2B')",
    "ProductionType eq OData.CSC.ProductionType'on-demand:default'",
    "ProductionType eq 'systematic_production'",
    "ProductionType ne 'systematic_production'",
    "ProductionType in ('on-demand:default','on-demand:non-default')",
    "ProductionType has OData.CSC.ProductionType'on-demand:non-default'",
    # arithmetic
    "ContentLength add 1000 gt 900000",
    "ContentLength sub 1000 lt 0",
    "ContentLength mul 2 gt 1000000",
    "ContentLength div 1000 ge 500",
    "ContentLength mod 7 eq 3",
    "ContentLength divby 1000 gt 500.5",
    "ContentLength div 2.5 gt 300000",
    "-ContentLength lt -800000",
    "ContentLength eq '1024'",
    "ContentLength gt '900000'",
    "ContentLength mul 1.5 le 150000.25",
    # GUIDs
    "Id eq 00000000-0000-4000-8000-000000000007",
    "Id ne 00000000-0000-4000-8000-000000000007",
    "Id eq '00000000-0000-4000-8000-000000000009'",
    # attribute lambdas: every form of contract section 6
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value in ('S2MSI1C','S2MSI2A'))",
    "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.IntegerAttribute/Value lt 10000)",
    "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value le 40.0)",
    "Attributes/OData.CSC.DateTimeOffsetAttribute/any(att:att/Name eq 'processingDate' and att/OData.CSC.DateTimeOffsetAttribute/Value ge 2021-05-20T19:08:07.654Z)",
    "Attributes/OData.CSC.BooleanAttribute/any(att:att/Name eq 'calibrated' and att/OData.CSC.BooleanAttribute/Value eq true)",
    "Attributes/any(i0:i0/Name eq 'productType' and i0/Value eq 'S2MSI2A')",
    "Attributes/any(i0:i0/Name eq 'orbitNumber' and i0/Value gt 20000)",
    "Attributes/any(i0:i0/Name eq 'cloudCover' and i0/Value lt 10.5)",
    # date-time arithmetic past year 9999 or before year 1 is null everywhere, not a complement lost
    "EvictionDate add duration'P1D' gt 2020-01-01T00:00:00Z",
    "not (EvictionDate add duration'P1D' lt 2020-01-01T00:00:00Z)",
    "ContentDate/Start sub duration'P1D' lt 2020-01-01T00:00:00Z",
    "ContentDate/Start add duration'PT1H' gt 0999-12-31T23:30:00Z",
    "year(ContentDate/End) eq 9999 and second(ContentDate/End) eq 59",
    "not (year(ContentDate/End) lt 9999)",
    "Attributes/any(i0:i0/Name eq 'cloudCover' and i0/Value lt 10)",
    "Attributes/any(i0:i0/Name eq 'orbitNumber' and i0/Value ge '20000.5')",
    "Attributes/any(i0:i0/Value eq null)",
    "Attributes/any(i0:i0/Name eq 'cloudCover' and i0/Value ne null)",
    "Attributes/all(i0:i0/Value ne 7)",
    "Attributes/any(i0:i0/Value in (7, 'S2MSI2A', 10.5))",
    "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.StringAttribute/Value eq 123)",
    "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.StringAttribute/Value ge 15000)",
    # the other way round (CDSE's users): an item of either type, its value as its own type
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.IntegerAttribute/Value ge 15000)",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value le 30.5)",
    "Attributes/OData.CSC.StringAttribute/any(att:att/OData.CSC.IntegerAttribute/Value lt 20000 or "
    "att/OData.CSC.DoubleAttribute/Value lt 5)",
    "not Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')",
    # functions of the value in each type's lambda (each binds its own arguments)
    "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'productType' and (a/OData.CSC.IntegerAttribute/Value eq 5 "
    "or contains(a/Value,'2A')))",
    "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'processingDate' and year(a/OData.CSC.DateTimeOffsetAttribute/Value) eq 2021)",
    "Attributes/OData.CSC.IntegerAttribute/any(a:a/Name eq 'orbitNumber' and contains(a/OData.CSC.StringAttribute/Value,'12'))",
    "Attributes/OData.CSC.StringAttribute/any(att:'S2MSI1C' eq att/OData.CSC.StringAttribute/Value and 'productType' eq att/Name)",
    "Attributes/OData.CSC.StringAttribute/any(x:x/Name eq 'orbitNumber')",
    "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.IntegerAttribute/Value eq '123')",
    "Attributes/OData.CSC.StringAttribute/all(a:a/Value ne 'S2MSI1C')",
    "Attributes/OData.CSC.DoubleAttribute/all(a:a/Value lt 50)",
    "Attributes/all(a:a/Name ne 'calibrated')",
    "Attributes/any()",
    # a lambda inside another: its own rows (an alias in SQL), the outer variable seen after it
    "Attributes/any(a: a/Name eq 'cloudCover' and a/Value lt 40 and Attributes/any(b: b/Name eq 'productType' and b/Value eq 'S2MSI2A'))",
    "Attributes/any(a: Attributes/any(a: a/Name eq 'orbitNumber' and a/Value gt 20000) and a/Name eq 'cloudCover' and a/Value lt 40)",
    "Attributes/all(a: a/Name ne 'cloudCover' or Attributes/any(b: b/Name eq 'orbitNumber' and b/Value gt 20000))",
    "Checksum/any(c: c/Algorithm eq 'MD5' and Attributes/any(a: a/Name eq 'cloudCover' and a/Value lt 20))",
    "not Attributes/OData.CSC.BooleanAttribute/any()",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C') and Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value lt 30)",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C') or Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and att/OData.CSC.IntegerAttribute/Value gt 29000)",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and startswith(att/OData.CSC.StringAttribute/Value,'S2MSI'))",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value gt 'S2MSI1C')",
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value ne 'S2MSI1C')",
    "Attributes/any(a:a/Name eq 'platformShortName' and contains(tolower(a/Value),'sentinel'))",
    "Attributes/any(a:a/OData.CSC.IntegerAttribute/Value mod 2 eq 0)",
    "Attributes/any(a:a/OData.CSC.IntegerAttribute/Value ne 5)",
    "Attributes/OData.CSC.DateTimeOffsetAttribute/any(a:year(a/Value) eq 2021)",
    "Attributes/any(a:a/ValueType eq 'Boolean')",
    "Checksum/any(c:c/Algorithm eq 'MD5' and startswith(c/Value,'a'))",
    "Checksums/any(c:c/Algorithm eq 'SHA256')",
    "Checksum/all(c:c/Algorithm eq 'MD5')",
    # geography: the four forms, exact geometry
    f"OData.CSC.Intersects(area=geography'SRID=4326;{BOX}')",
    "OData.CSC.Intersects(Footprint=geography'SRID=4326;Polygon ((0 40, 5 40, 5 50, 0 50, 0 40))')",
    "OData.CSC.Intersects(location=Footprint,area=geography'SRID=4326;MULTIPOLYGON(((-10 30, 0 30, 0 40, -10 40, -10 30)),((20 50, 30 50, 30 60, 20 60, 20 50)))')",
    f"OData.CSC.Intersects(area='SRID=4326;{BOX}')",
    "OData.CSC.Intersects(area=geography'SRID=4326;LINESTRING(-20 30, 40 60)')",
    # a triangle whose bounding box covers products it does not touch (exact, not a bbox guess)
    "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 30, 40 30, 0 60, 0 30))')",
    "not OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 30, 40 30, 0 60, 0 30))')",
    "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 30, 40 30, 0 60, 0 30))') and Online",
]

PRODUCT_TYPES = ["S2MSI1C", "S2MSI2A", "S2MSI1B", "AUX_ECMWFD", "RAW"]
NAME_SPECIALS = ["_AUX_", "_AX_", "50%_", "%", "Ünïcödé", "été", "ÉTÉ", "!bang", "ø"]


def build_catalogue(count: int = 240) -> list:
    rng = random.Random(20240601)
    products = []
    for i in range(count):
        sat = rng.choice("AB")
        level = rng.choice(["MSIL1C", "MSIL2A", "MSIL1B"])
        name = f"S2{sat}_{level}_{i:04d}.zip"
        if i % 7 == 0:
            name = f"S2{sat}_{rng.choice(NAME_SPECIALS)}_{level}_{i:04d}.zip"
        if i % 11 == 0:
            name = f"s2{sat.lower()}_{level.lower()}_{i:04d}_x.SAFE"
        if i % 13 == 0:
            name = f"  S2{sat} PADDED {i:04d}  "
        if i == 3:
            name = "S2A_MSIL1C_0003.zip"
        if i == 14:
            name = "S2A%_MSIL1C_0014.zip"
        if i == 10:
            name = "S2B_MSIL2A_0010.zip"
        start = None
        end = None
        if i % 9 != 0:
            start = dt.datetime(2020, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=rng.randrange(0, 2 * 365 * 86400),
                                                                      microseconds=rng.randrange(0, 1_000_000))
            end = start + dt.timedelta(seconds=rng.randrange(60, 7200))
        publication = dt.datetime(2021, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
        origin = None if i % 5 == 0 else publication - dt.timedelta(hours=rng.randrange(1, 96))
        attributes = []
        if i % 10 != 0:
            attributes.append(Attribute("productType", AttributeType.STRING, rng.choice(PRODUCT_TYPES)))
        if i % 4 != 0:
            attributes.append(Attribute("orbitNumber", AttributeType.INTEGER, rng.choice([123, rng.randrange(1, 30000)])))
        elif i % 8 == 0:
            attributes.append(Attribute("orbitNumber", AttributeType.STRING, "123"))
        if i % 3 != 0:
            attributes.append(Attribute("cloudCover", AttributeType.DOUBLE, round(rng.uniform(0, 100), 3)))
        if i % 6 != 0:
            attributes.append(Attribute("processingDate", AttributeType.DATETIMEOFFSET,
                                        publication - dt.timedelta(minutes=rng.randrange(1, 10000))))
        if i % 2 == 0:
            attributes.append(Attribute("calibrated", AttributeType.BOOLEAN, rng.random() < 0.5))
        if i % 5 != 1:
            attributes.append(Attribute("platformShortName", AttributeType.STRING,
                                        rng.choice(["SENTINEL-2", "Sentinel-2", "LANDSAT"])))
        if i % 23 == 0:
            attributes = []
        checksums = [Checksum("MD5", uuid.UUID(int=rng.getrandbits(128)).hex)]
        if i % 3 == 0:
            checksums.append(Checksum("SHA256", uuid.UUID(int=rng.getrandbits(128)).hex * 2))
        footprint = None
        if i % 8 != 5:
            lon, lat = rng.uniform(-20, 38), rng.uniform(30, 58)
            size = rng.uniform(0.2, 3)
            footprint = (f"POLYGON(({lon:.4f} {lat:.4f}, {lon + size:.4f} {lat:.4f}, {lon + size:.4f} "
                         f"{lat + size:.4f}, {lon:.4f} {lat + size:.4f}, {lon:.4f} {lat:.4f}))")
        products.append(Product(
            mission=MISSION,
            name=name,
            id=uuid.UUID(f"00000000-0000-4000-8000-{i:012d}"),
            content_type=rng.choice(["application/zip", "application/octet-stream", " application/zip "]),
            content_length=rng.choice([0, rng.randrange(1, 1_000_000)]) if i % 17 else 1024,
            origin_date=origin,
            publication_date=publication,
            modification_date=publication + dt.timedelta(days=1),
            eviction_date=dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) if i % 4 else publication + dt.timedelta(days=30),
            online=rng.random() < 0.7,
            checksums=checksums,
            content_start=start,
            content_end=end,
            production_type=rng.choice(["systematic_production", "on-demand:default", "on-demand:non-default"]),
            footprint=footprint,
            attributes=attributes,
        ))
    # the ends of the years every evaluator holds (1..9999)
    edges = [("S2A_EDGE_0999.zip", dt.datetime(999, 12, 31, 23, 0, tzinfo=UTC), None),
             ("S2A_EDGE_0001.zip", dt.datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC), None),
             ("S2A_EDGE_9999.zip", dt.datetime(9999, 12, 31, 22, 0, tzinfo=UTC),
              dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))]
    for n, (name, start, end) in enumerate(edges):
        products.append(Product(mission=MISSION, name=name, id=uuid.UUID(f"00000000-0000-4000-9000-{n:012d}"),
                                content_start=start, content_end=end or start + dt.timedelta(minutes=1),
                                publication_date=dt.datetime(2021, 1, 1, tzinfo=UTC)))
    return products


CATALOGUE = build_catalogue()


def _point_filters():
    """Points and multipoints inside known footprints (exact hits, not bounding boxes)."""
    from shapely import wkt

    centres = [wkt.loads(p.footprint).centroid for p in CATALOGUE if p.footprint][:3]
    a, b, c = (f"{pt.x:.4f} {pt.y:.4f}" for pt in centres)
    return [
        f"OData.CSC.Intersects(area=geography'SRID=4326;POINT({a})')",
        f"OData.CSC.Intersects(area=geography'SRID=4326;MULTIPOINT(({b}),({c}))')",
    ]


FILTERS += _point_filters()


def python_ids(text: str) -> set:
    predicate = compile_predicate(bind_filter(parse_filter(text), edm.PRODUCT), DOMAIN_ACCESSOR, now=NOW)
    return {p.id for p in CATALOGUE if predicate(p)}


def test_the_table_is_large_and_mostly_selective():
    assert len(FILTERS) >= 100
    trivial = [f for f in FILTERS if len(python_ids(f)) in (0, len(CATALOGUE))]
    # a handful are trivial by design ("true", "Name eq Name", "endswith(Name,'')")
    assert len(trivial) <= 8, trivial


def test_date_time_edges_by_the_python_predicate():
    """What the SQL on both backends must agree with (test below), checked here by hand."""
    named = {p.name: p.id for p in CATALOGUE}
    never = {p.id for p in CATALOGUE if p.eviction_date.year == 9999}
    assert python_ids("EvictionDate add duration'P1D' gt 2020-01-01T00:00:00Z") == {p.id for p in CATALOGUE} - never
    assert python_ids("not (EvictionDate add duration'P1D' lt 2020-01-01T00:00:00Z)") == {p.id for p in CATALOGUE}
    early = python_ids("ContentDate/Start sub duration'P1D' lt 2020-01-01T00:00:00Z")
    assert named["S2A_EDGE_0999.zip"] in early and named["S2A_EDGE_0001.zip"] not in early  # year 0: null
    assert python_ids("year(ContentDate/End) eq 9999 and second(ContentDate/End) eq 59") == {named["S2A_EDGE_9999.zip"]}
    assert named["S2A_EDGE_0001.zip"] in python_ids("ContentDate/Start add duration'PT1H' gt 0001-01-01T00:30:00Z")
    assert named["S2A_EDGE_0999.zip"] in python_ids("ContentDate/Start add duration'PT1H' gt 0999-12-31T23:30:00Z")


@pytest.fixture
def seeded(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)  # its engine registers our SQLite functions
    storage.initialize_schema()
    storage.add_mission(Mission(MISSION))
    for product in CATALOGUE:
        storage.add_product(product)
    yield storage
    storage.close()


def test_sql_selects_what_the_python_predicate_selects(seeded):
    storage = seeded
    tables = storage.tables
    products = tables.products
    mismatches = []
    with storage.engine.connect() as connection:
        for text in FILTERS:
            bound = bind_filter(parse_filter(text), edm.PRODUCT)
            clause = compile_filter("Products", bound, tables, now=NOW)
            statement = sa.select(products.c.id).where(products.c.mission == MISSION, clause)
            sql_ids = set(connection.execute(statement).scalars())
            expected = python_ids(text)
            if sql_ids != expected:
                mismatches.append(f"{text}: SQL-only {len(sql_ids - expected)}, Python-only {len(expected - sql_ids)}")
    assert not mismatches, "\n".join(mismatches)


def test_the_backend_query_path_uses_the_same_compiler(seeded):
    text = "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C') and Online"
    bound = bind_filter(parse_filter(text), edm.PRODUCT)
    result = seeded.query_products(MISSION, Query(filter=bound, count=True))
    assert {p.id for p in result.items} == python_ids(text)
    assert result.count == len(python_ids(text)) > 0


def test_literals_are_bound_parameters_never_rendered(seeded):
    text = "Name eq 'O''Brien; DROP TABLE products' or contains(Name,'%_x') or ContentLength gt 123456789"
    clause = compile_filter("Products", bind_filter(parse_filter(text), edm.PRODUCT), seeded.tables)
    compiled = sa.select(seeded.tables.products.c.id).where(clause).compile(seeded.engine)
    sql = str(compiled)
    assert "Brien" not in sql and "123456789" not in sql and "%_x" not in sql
    assert "O'Brien; DROP TABLE products" in compiled.params.values()


def _arithmetic_filters(count: int, seed: int = 35) -> list[str]:
    """Well-typed comparisons of random arithmetic over numbers, date-times and durations:
    properties, literals, now(), unary minus, the five operators. A side is either computed from
    the row, with values that stay inside Edm.Int64 and PostgreSQL's timestamps (beyond them a
    row's arithmetic is PostgreSQL's 400 and Python's value: documented differences), or a
    constant, extreme or not, which both compilers fold when they compile it and refuse when it
    is out of range. So the two compilers must agree on every one."""
    rng = random.Random(seed)

    def small():
        return str(rng.choice([0, 1, 2, 7, 100, 999, rng.randrange(1, 1_000_000)]))

    def number(depth):  # from the row: |value| < 10**13
        roll = rng.random()
        if depth <= 0 or roll < 0.3:
            return rng.choice(["ContentLength", small(), small()])
        if roll < 0.45:
            return f"-({number(depth - 1)})"
        if roll < 0.6:
            return f"({number(depth - 1)} mul {rng.choice(['2', '-3', '10'])})"
        return f"({number(depth - 1)} {rng.choice(['add', 'sub', 'div', 'mod'])} {number(depth - 1)})"

    def constant_number():
        return rng.choice(["(9223372036854775807 add 1)", "(-9223372036854775807 sub 1)", "(9223372036854775806 add 1)",
                           "-(-9223372036854775807 sub 1)", "(4611686018427387904 mul 2)", "-(2 add 3)",
                           "-(-(7 mul 6))", "(9223372036854775807 sub 9223372036854775806)"])

    durations = ["duration'P1D'", "duration'PT1H'", "duration'PT0.5S'", "duration'P500000D'", "duration'-P2D'"]

    def duration(depth):  # from the row: at most a few thousand years
        roll = rng.random()
        if depth <= 0 or roll < 0.5:
            return rng.choice(durations)
        if roll < 0.65:
            return f"-{rng.choice(durations)}"
        if roll < 0.8:
            return f"-({duration(depth - 1)})"
        near = ["PublicationDate", "now()", "2021-06-01T00:00:00Z"]  # (ContentDate/Start has years 1 and 9999)
        return f"({rng.choice(near)} sub {rng.choice(near)})"

    def moment(depth):
        roll = rng.random()
        if depth <= 0 or roll < 0.4:
            return rng.choice(["PublicationDate", "ContentDate/Start", "EvictionDate", "now()", "2021-06-01T00:00:00Z"])
        return f"({moment(depth - 1)} {rng.choice(['add', 'sub'])} {duration(depth - 1)})"

    def constant_moment():
        return rng.choice(["(now() add duration'P9999999D')", "(0001-01-02T00:00:00Z sub duration'P3D')",
                           "(9999-12-31T00:00:00Z add -duration'-P2D')", "(now() sub -duration'P9999999D')",
                           "(9999-12-31T00:00:00Z sub duration'P3000000D')", "(now() add -duration'P1D')",
                           "((now() sub 2021-06-01T00:00:00Z) add 2021-06-01T00:00:00Z)"])

    def constant_duration():
        return rng.choice(["-(duration'P1D')", "-(-duration'PT1H')", "(now() sub now())",
                           "(9999-12-31T00:00:00Z sub 0001-01-01T00:00:00Z)", "-(9999-12-31T00:00:00Z sub 2021-06-01T00:00:00Z)"])

    filters = []
    for _ in range(count):
        kind, op = rng.random(), rng.choice(["lt", "le", "gt", "ge", "eq", "ne"])
        row, constant = {0: (number, constant_number), 1: (moment, constant_moment),
                         2: (duration, constant_duration)}[0 if kind < 0.4 else 1 if kind < 0.8 else 2]
        left, right = row(3), (row(2) if rng.random() < 0.6 else constant())
        filters.append(f"{left} {op} {right}" if rng.random() < 0.5 else f"{right} {op} {left}")
    return filters


def _compare_generated(storage, filters, expected=python_ids) -> tuple[int, int]:
    """Run each filter as SQL (the storage's database) and ``expected(filter)`` (by default the
    Python predicate's ids): they must select the same products or both refuse it with a client
    error; no other error. Returns ``(refused, agreed)``."""
    from proseo_odata.odata.errors import ODataError
    from proseo_odata.storage.errors import query_refusal

    products = storage.tables.products
    disagreements = []
    refused = agreed = 0
    for text in filters:
        try:
            python = expected(text)
        except ODataError:
            python = "400"
        try:
            clause = compile_filter("Products", bind_filter(parse_filter(text), edm.PRODUCT), storage.tables, now=NOW)
            with storage.engine.connect() as connection:
                sql = set(connection.execute(sa.select(products.c.id).where(products.c.mission == MISSION, clause))
                          .scalars())
        except ODataError:
            sql = "400"
        except sa.exc.DBAPIError as exc:
            if query_refusal(exc) is None:
                raise AssertionError(f"{text}: the database failed: {exc}") from None
            sql = "400"
        if sql != python:
            disagreements.append(f"{text}: SQL {sql if sql == '400' else len(sql)}, Python "
                                 f"{python if python == '400' else len(python)}")
        refused += sql == "400"
        agreed += sql == python
    assert not disagreements, "\n".join(disagreements)
    return refused, agreed


def test_random_arithmetic_selects_alike_or_is_refused_alike(seeded):
    """Generated arithmetic (_arithmetic_filters): the SQL, on SQLite and on PostgreSQL, and the
    Python predicate select the same products, or both refuse the filter with a client error (a
    negated duration was a 500 in SQL and fine in Python; constant arithmetic out of range was
    refused by SQL and false in Python; a constant date-time plus a difference of date-times was
    a database error). No other error."""
    refused, agreed = _compare_generated(seeded, _arithmetic_filters(300))
    assert refused >= 20 and agreed - refused >= 200  # both kinds are exercised


def _string_filters(count: int, seed: int = 35) -> list[str]:
    """Comparisons, tests and patterns of random string functions over Name and literals (empty,
    ``%_``, quotes, non-ASCII, case-folding ones), with lengths and positions in and out of range."""
    rng = random.Random(seed)
    literals = ["''", "'S2'", "'s2a'", "'\u00e4'", "'%_'", "'O''Brien'", "'_'", "'.zip'", "' x '", "'MSIL1C'",
                "'\u00df'", "'\u0130'"]

    def text(depth):
        roll = rng.random()
        if depth <= 0 or roll < 0.3:
            return rng.choice(["Name", "Name", rng.choice(literals)])
        if roll < 0.45:
            return f"{rng.choice(['tolower', 'toupper', 'trim'])}({text(depth - 1)})"
        if roll < 0.6:
            return f"concat({text(depth - 1)},{text(depth - 1)})"
        if roll < 0.8:
            return f"substring({text(depth - 1)},{position(depth - 1)})"
        return f"substring({text(depth - 1)},{position(depth - 1)},{position(depth - 1)})"

    def position(depth):
        roll = rng.random()
        if depth <= 0 or roll < 0.4:
            return rng.choice(["0", "1", "3", "-1", "-5", "100", "2147483647", "9223372036854775807"])
        if roll < 0.7:
            return f"length({text(depth - 1)})"
        return f"indexof({text(depth - 1)},{text(depth - 1)})"

    filters = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.3:
            filters.append(f"{rng.choice(['contains', 'startswith', 'endswith'])}({text(2)},{text(2)})")
        elif roll < 0.55:
            filters.append(f"{text(2)} {rng.choice(['eq', 'ne', 'lt', 'gt', 'le', 'ge'])} {text(2)}")
        elif roll < 0.8:
            filters.append(f"{position(2)} {rng.choice(['eq', 'ne', 'lt', 'gt'])} {position(2)}")
        else:
            pattern = rng.choice(["^S2", "zip$", "[a-z]+", "(?i)msi", ".", "^$", "\u00e4|\u00df"])
            filters.append(f"matchesPattern({text(2)},'{pattern}')")
    return filters


def _date_function_filters(count: int, seed: int = 35) -> list[str]:
    """Random predicates of date-time functions, rounding, arithmetic, ``in``, ``not``, ``and``
    and ``or`` over date-times that may be null (OriginDate) or in year 1 or 9999."""
    rng = random.Random(seed)
    moments = ["PublicationDate", "ContentDate/Start", "ContentDate/End", "OriginDate", "EvictionDate", "now()",
               "2021-06-01T00:00:00Z", "2021-06-01T12:30:00.5+02:00", "null"]
    ops = ["eq", "ne", "lt", "gt", "le", "ge"]

    def moment(depth):
        if depth <= 0 or rng.random() < 0.6:
            return rng.choice(moments)
        return (f"({moment(depth - 1)} {rng.choice(['add', 'sub'])} "
                f"duration'{rng.choice(['P1D', 'PT1H', 'PT0.001S', '-P10D'])}')")

    def number(depth):
        roll = rng.random()
        if depth <= 0 or roll < 0.3:
            return rng.choice(["ContentLength", "0", "1", "12", "2021", "-1", "null", "1.5", "2e3"])
        if roll < 0.7:
            part = rng.choice(["year", "month", "day", "hour", "minute", "second", "fractionalseconds"])
            return f"{part}({moment(depth - 1)})"
        if roll < 0.85:
            return f"{rng.choice(['round', 'floor', 'ceiling'])}({number(depth - 1)})"
        return f"({number(depth - 1)} {rng.choice(['add', 'sub', 'mul', 'div', 'mod', 'divby'])} {number(depth - 1)})"

    def predicate(depth):
        roll = rng.random()
        if depth <= 0 or roll < 0.35:
            return f"{number(1)} {rng.choice(ops)} {number(1)}"
        if roll < 0.55:
            return f"{moment(1)} {rng.choice(ops)} {moment(1)}"
        if roll < 0.65:
            part = rng.choice(["date", "time"])
            return f"{part}({moment(0)}) {rng.choice(['eq', 'lt', 'gt'])} {part}({moment(0)})"
        if roll < 0.75:
            items = ", ".join(rng.choice(["0", "1", "2021", "null", "12.0"]) for _ in range(rng.randint(1, 3)))
            return f"{number(1)} in ({items})"
        if roll < 0.85:
            return f"not ({predicate(depth - 1)})"
        return f"({predicate(depth - 1)} {rng.choice(['and', 'or'])} {predicate(depth - 1)})"

    return [predicate(3) for _ in range(count)]


@pytest.mark.parametrize("family", [_string_filters, _date_function_filters])
def test_random_functions_select_alike_or_are_refused_alike(seeded, family):
    """As the arithmetic above, for string functions and date-time functions with logic."""
    refused, agreed = _compare_generated(seeded, family(300))
    assert agreed - refused >= 100  # most are not refusals


def _attribute_conditions(count: int, seed: int = 35) -> list[str]:
    """Random conditions on one attribute, with ``{v}`` where a lambda's variable goes
    (``{v}Name eq 'cloudCover'``): names, value types, string functions, the uncast and the typed
    ``Value`` against literals of every type and null, arithmetic, ``not``, ``and``, ``or``."""
    rng = random.Random(seed)
    casts = ["", "OData.CSC.StringAttribute/", "OData.CSC.IntegerAttribute/", "OData.CSC.DoubleAttribute/",
             "OData.CSC.DateTimeOffsetAttribute/", "OData.CSC.BooleanAttribute/"]
    values = ["'S2MSI1C'", "'123'", "123", "12.5", "0", "-1", "true", "false", "null", "2021-06-01T00:00:00Z",
              "'x'", "1e3"]
    ops = ["eq", "ne", "lt", "gt", "le", "ge"]

    def atom():
        roll = rng.random()
        if roll < 0.25:
            name = rng.choice(["productType", "orbitNumber", "cloudCover", "calibrated", "zzz"])
            return f"{{v}}Name {rng.choice(ops)} '{name}'"
        if roll < 0.35:
            return f"{{v}}ValueType eq '{rng.choice(['String', 'Integer', 'Double', 'Boolean', 'DateTimeOffset'])}'"
        if roll < 0.45:
            return f"{rng.choice(['startswith', 'contains', 'endswith'])}({{v}}Name,'{rng.choice(['o', 'cloud', 'Type', ''])}')"
        if roll < 0.6:
            return f"{{v}}{rng.choice(casts)}Value {rng.choice(ops)} {rng.choice(values)}"
        if roll < 0.7:
            return f"length({{v}}Name) {rng.choice(['lt', 'gt'])} {rng.randint(5, 15)}"
        if roll < 0.8:
            return f"({{v}}{rng.choice(casts[2:4])}Value add 1) {rng.choice(['lt', 'gt'])} {rng.choice(['50', '124', '0'])}"
        return f"{{v}}{rng.choice(casts)}Value {rng.choice(['eq', 'ne'])} null"

    def condition(depth):
        roll = rng.random()
        if depth <= 0 or roll < 0.5:
            return atom()
        if roll < 0.65:
            return f"not ({condition(depth - 1)})"
        return f"({condition(depth - 1)} {rng.choice(['and', 'or'])} {condition(depth - 1)})"

    return [condition(2) for _ in range(count)]


def test_random_nested_attribute_filters_mean_what_any_means(seeded):
    """``$expand=Attributes($filter=F)`` keeps at least one attribute of exactly the products that
    ``Attributes/any(a: F on a)`` selects in SQL (SQLite and PostgreSQL), or both refuse F: the
    nested options' meaning (docs/prip.md), for 250 generated conditions (202 distinct)."""
    from proseo_odata.query import build_query

    conditions = {f"Attributes/any(a: {condition.format(v='a/')})": condition.format(v='')
                  for condition in _attribute_conditions(250)}

    def nested(text):  # the products the nested $filter keeps an attribute of
        expand = build_query("Products", {"$expand": f"Attributes($filter={conditions[text]})"}).expand
        listing = expand.at(NOW).listing("Attributes")
        return {p.id for p in CATALOGUE if listing.apply(p.attributes)[1] > 0}

    refused, agreed = _compare_generated(seeded, conditions, nested)
    assert agreed - refused >= 150
