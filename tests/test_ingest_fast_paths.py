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


def test_the_fast_path_takes_what_it_should():
    """One-ring polygons of plain decimal numbers (in any digits: the WKT is written anew),
    closed by value, without zero; nothing else."""
    taken = [i for i, text in enumerate(EDGE_CASES) if ingest_module._written_polygon(text) is not None]
    assert taken == [0, 1, 2, 3, 4, 11, 12, 14, 25, 29, 30]


ATTRIBUTES = [
    {"Name": "s", "ValueType": "String", "Value": "x"},
    {"Name": "s", "ValueType": "string", "Value": ""},
    {"Name": "i", "ValueType": "Integer", "Value": 9223372036854775807},
    {"Name": "i", "ValueType": "Integer", "Value": " -42 "},
    {"Name": "i", "IntegerValue": -9223372036854775808},
    {"Name": "d", "ValueType": "Double", "Value": 3},
    {"Name": "d", "ValueType": "Double", "Value": "1e-7"},
    {"Name": "d", "ValueType": "Double", "Value": float("inf")},
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
