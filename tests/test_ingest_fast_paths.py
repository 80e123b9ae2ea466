"""The ingest's fast paths give what the general ones give: a footprint of plain numbers
(``_written_polygon``) byte for byte what shapely's reader, ``format_wkt`` and
``render_footprint`` give, leaving everything else to them; an attribute built without
``Attribute``'s checks (``parse_attribute``) equal to one built with them."""
import pytest

from proseo_odata import ingest as ingest_module
from proseo_odata.ingest import MetadataError

EDGE_CASES = [
    "POLYGON((10 50,11.25 50,11.25 51.000001,10 51,10 50))",
    "geography'SRID=4326;POLYGON((-10.5 -50,-11.25 -50,-11.25 -51,-10.5 -50))'",
    "POLYGON((0.00001 1,2 1,2 2,0.00001 1))",                 # written plain, json writes 1e-05
    "POLYGON((1000000000000000 1,2 1,2 2,1000000000000000 1))",  # 1e15: whole, plain
    "POLYGON((99999999999999999999 1,2 1,2 2,99999999999999999999 1))",  # rounds to 1e20
    "POLYGON((" + "9" * 400 + " 1,2 1,2 2," + "9" * 400 + " 1))",  # not a finite float
    "POLYGON((0 0,1 0,1 1,0 0))",                             # zeros: rendered from the WKT
    "POLYGON((-0 1,1 2,1 1,-0 1))",
    "POLYGON((1 1,2 1,2 2,1 2))",                             # not closed
    "POLYGON((1 1,2 2,1 1))",                                 # too few points
    "POLYGON((1 1,2 1,2 2,1 1),(1.2 1.1,1.8 1.1,1.8 1.5,1.2 1.1))",  # a hole
    "POLYGON((1.50 1,2 1,2 2,1.50 1))",                       # not the shortest form
    "POLYGON((1.0 1,2 1,2 2,1.0 1))",
    "POLYGON((+1 1,2 1,2 2,+1 1))",
    "POLYGON((01 1,2 1,2 2,01 1))",
    "POLYGON((1. 1,2 1,2 2,1. 1))",
    "POLYGON((1  1,2 1,2 2,1  1))",
    "POLYGON(( 1 1,2 1,2 2,1 1))",
    "POLYGON((1 1 1,2 1 1,2 2 1,1 1 1))",                     # a Z
    "POLYGON((1-2 1,2 1,2 2,1-2 1))",
    "POLYGON((1.2.3 1,2 1,2 2,1.2.3 1))",
    "polygon((1 1,2 1,2 2,1 1))",
    "SRID=4326;POLYGON((1 1,2 1,2 2,1 1))",
    "geography'SRID=4326;POLYGON((1 1,2 1,2 2,1 1))",          # no closing quote
    "POLYGON((1 1,2 1,2 2,1 1))'",
    "geography'SRID=4326;POLYGON((1 1,2 1,2 2,1 1))'",
    "geography'SRID=3857;POLYGON((1 1,2 1,2 2,1 1))'",
    "MULTIPOLYGON(((1 1,2 1,2 2,1 1)))",
    "POLYGON EMPTY",
    "POLYGON((1.0 1,2 1,2 2,1 1))",                           # closed by value, not by text
    "POLYGON((1 1,2 1,2 2,1 1.0000000000000001))",            # the same double
    "POLYGON((1 1,2 1,2 2,1 1.000000000000001))",             # not closed
    # the short numbers' path and its edges
    "POLYGON((0.0001 -0.5,2.25 1.5,2.5 2.125,0.0001 -0.5))",
    "POLYGON((0.00011 1.5,2.25 1.5,2.5 2.125,0.00011 1.5))",
    "POLYGON((12345.6789012345 1.5,2.25 1.5,2.5 2.125,12345.6789012345 1.5))",       # 15 digits
    "POLYGON((12345.67890123456 1.5,2.25 1.5,2.5 2.125,12345.67890123456 1.5))",     # 16 digits
    "POLYGON((0.1234567890123456 1.5,2.25 1.5,2.5 2.125,0.1234567890123456 1.5))",
    "POLYGON((1.1 1.5,2.25 1.5,2.5 2.125,1.10 1.5))",         # closed by value only
    "POLYGON((1.1 1.5,2.25 1.5,2.5 2.125,1.2 1.5))",          # not closed
    "POLYGON((1.1 1.5,2.25 1.5,1.1 1.5))",                    # too few points
    "POLYGON((-.5 1.5,2.25 1.5,2.5 2.125,-.5 1.5))",
]


def _outcome(text, monkeypatch=None):
    try:
        return ingest_module._normalised_footprint(text, "Footprint")
    except MetadataError as exc:
        return ("error", exc.field, exc.problem)


def _general(text, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr(ingest_module, "_written_polygon", lambda text: None)
        return _outcome(text)


@pytest.mark.parametrize("text", EDGE_CASES)
def test_the_fast_path_agrees_with_the_general_one(text, monkeypatch):
    assert _outcome(text) == _general(text, monkeypatch)


def test_the_benchmarks_footprints_take_the_fast_path_with_the_same_result(monkeypatch):
    from bench.catalogue import Generator
    from bench.ingest import _metadata

    generator = Generator(20261205)
    for _ in range(2000):
        text = _metadata(generator.product())["Footprint"]
        assert ingest_module._written_polygon(text) is not None, text
        assert _outcome(text) == _general(text, monkeypatch), text


def test_random_numbers_of_every_form_agree(monkeypatch):
    """Numbers with 1 to 17 digits, whole or not, trailing zeros or not, tiny or large, of
    either sign: the short numbers' path, the plain path and shapely's give one text."""
    import random

    rng = random.Random(20261205)

    def number():
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice((rng.randint(1, 8), rng.randint(1, 17))))).lstrip("0") or "7"
        point = rng.randint(0, len(digits))
        text = (digits[:point] or "0") + ("." + digits[point:] if point < len(digits) else "")
        if rng.random() < 0.2:
            text = "0." + "0" * rng.randint(0, 5) + digits[:6]
        if rng.random() < 0.1:
            text += "0"
        return ("-" if rng.random() < 0.5 else "") + text

    def shortest():  # what PRIP writes: a double's shortest text (sometimes whole, or tiny)
        return repr(round(rng.uniform(-180, 180) * 10 ** -rng.choice((0, 0, 0, 3, 5)), rng.randint(0, 14)))

    short = 0
    for _ in range(3000):
        make = rng.choice((number, shortest))
        ring = [f"{make()} {make()}" for _ in range(rng.randint(3, 6))]
        text = "POLYGON((" + ",".join(ring + ring[:1]) + "))"
        if rng.random() < 0.5:
            text = f"geography'SRID=4326;{text}'"
        short += ingest_module._SHORT_POLYGON.fullmatch(text) is not None
        assert _outcome(text) == _general(text, monkeypatch), text
    assert short > 300  # the short numbers' path was tried


def test_the_fast_path_takes_what_it_should():
    """One-ring polygons of plain decimal numbers (in any digits: the WKT is written anew),
    closed by value, without zero; nothing else."""
    taken = [i for i, text in enumerate(EDGE_CASES) if ingest_module._written_polygon(text) is not None]
    assert taken == [0, 1, 2, 3, 4, 11, 12, 14, 25, 29, 30, 32, 33, 34, 35, 36, 37]


ATTRIBUTES = [
    {"Name": "s", "ValueType": "String", "Value": "x"},
    {"Name": "s", "ValueType": "string", "Value": ""},
    {"Name": "i", "ValueType": "Integer", "Value": 9223372036854775807},
    {"Name": "i", "ValueType": "Integer", "Value": " -42 "},
    {"Name": "i", "IntegerValue": -9223372036854775808},
    {"Name": "d", "ValueType": "Double", "Value": 3},
    {"Name": "d", "ValueType": "Double", "Value": "1e-7"},
    {"Name": "d", "ValueType": "Double", "Value": 1.7976931348623157e308},
    {"Name": "d", "DoubleValue": 12.5},
    {"Name": "b", "ValueType": "Boolean", "Value": "TRUE"},
    {"Name": "b", "BooleanValue": False},
    {"@odata.type": "#OData.CSC.DateTimeOffsetAttribute", "Name": "t", "Value": "2021-05-20T10:00:00.5-01:30"},
    {"Name": "t", "ValueType": "DateTimeOffset", "Value": "2021-05-20T10:00:00+02:00"},
    {"Name": "t", "DateValue": "2021-05-20T10:00:00Z"},
]


@pytest.mark.parametrize("item", ATTRIBUTES)
def test_a_parsed_attribute_is_the_one_the_constructor_builds(item):
    from proseo_odata.ingest import parse_attribute
    from proseo_odata.model import Attribute

    parsed = parse_attribute(item, 0)
    built = Attribute(parsed.name, parsed.type, parsed.value)
    assert parsed == built and parsed.__dict__ == built.__dict__
    assert type(parsed.value) is type(built.value) and type(parsed.type) is type(built.type)
    assert getattr(parsed.value, "tzinfo", None) == getattr(built.value, "tzinfo", None)


def _metadata_cases():
    from bench.catalogue import Generator
    from bench.ingest import _metadata

    generator = Generator(20261206)
    cases = [_metadata(generator.product()) for _ in range(300)]
    cases += [
        {"Name": "a.zip"},
        {"Name": "b.zip", "Id": "802afab2-77a3-4c3a-821b-e31f96f6ebf1", "Online": False, "Visibility": "INTERNAL",
         "OriginDate": "2021-05-20T10:00:00+02:00", "EvictionDate": "2031-01-01T00:00:00Z",
         "ContentDate": {"Start": "2021-05-20T10:00:00Z"}, "ProductionType": "on-demand:default",
         "GeoFootprint": {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 1]]]},
         "Attributes": [{"Name": "productType", "ValueType": "String", "Value": "L1"},
                        {"Name": "a", "ValueType": "Integer", "Value": 3}],
         "Checksum": [{"Algorithm": "MD5", "Value": "x", "ChecksumDate": "2021-05-20T10:00:00Z"}]},
        {"Name": "c.zip", "CreationDate": "2021-05-20T10:00:00.123456789Z", "ContentType": "text/plain",
         "ContentLength": 7, "Attributes": []},
    ]
    return cases


def test_a_product_from_metadata_is_the_one_the_constructor_builds(monkeypatch):
    """``product_from_metadata`` builds its Product without the constructor (``_bare_product``):
    every field, derived ones included, as ``Product(**fields)`` makes them."""
    from datetime import datetime, timezone

    from proseo_odata.model import Product

    from datetime import timedelta

    nows = [datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc),
            datetime(2026, 12, 5, 14, 0, tzinfo=timezone(timedelta(hours=2)))]  # converted to UTC
    for metadata, now in ((m, now) for m in _metadata_cases() for now in nows):
        metadata = {**metadata, "Id": metadata.get("Id", "0190c8e4-0000-7000-8000-000000000001")}
        metadata.pop("archive_key", None)
        bare = ingest_module.product_from_metadata(dict(metadata), mission="S2", file_name="f", now=now)
        with monkeypatch.context() as patched:
            patched.setattr(ingest_module, "_bare_product", lambda fields: Product(**fields))
            built = ingest_module.product_from_metadata(dict(metadata), mission="S2", file_name="f", now=now)
        assert bare[0].__dict__ == built[0].__dict__ and bare[1:] == built[1:], metadata["Name"]
        assert {k: type(v) for k, v in bare[0].__dict__.items()} == {k: type(v) for k, v in built[0].__dict__.items()}
        assert bare[0].publication_date.utcoffset() == timedelta(0)
    # a naive ``now`` (where it becomes a date) is refused before anything is stored, as the
    # constructor refused it
    with pytest.raises(MetadataError) as refused:
        ingest_module.product_from_metadata({"Name": "n.zip"}, mission="S2", file_name="f", now=datetime(2026, 1, 1))
    assert refused.value.field == "(product)" and "timezone-aware" in refused.value.problem
