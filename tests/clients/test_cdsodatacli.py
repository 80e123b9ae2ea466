"""cdsodatacli (PyPI ``cdsodatacli``, Ifremer/umr-lops' OData client for the Copernicus Data Space,
used for Sentinel-1 searches), pinned, in the clients' venv, against a live PRIP over a catalogue
of Sentinel-1-like products: the search its users make (a GeoDataFrame of two queries, one over a
polygon and one at a point, each with collection, product type, sensor mode and sensing dates),
which cdsodatacli cuts into week-long slices and pages with ``$skip`` (``$top`` = 3, smaller than
some slices' results), run as tests/clients/cdsodatacli_prip.py and docs/prip.md show: its URLs'
CDSE prefix replaced with the PRIP's, a bearer token from PRIP's token endpoint through its
configuration's ``URL_identity``. Every product that matches a query must come back once for that
query, and none that does not, in its sequential and its threaded fetch; the expected sets are
computed here from the catalogue's metadata. Every request the server receives must be answered
200, under both ``proseo.paging`` modes. Then the download URL cdsodatacli builds from
``URL_download`` must serve the product (MD5): cdsodatacli itself downloads through CDSE's S3 only.
"""
from __future__ import annotations

import datetime
import json
import random
import subprocess

import pytest
from shapely.geometry import Point, Polygon, box

from client_support import ROOT, USER, run_client, serve_prip

pytestmark = pytest.mark.slow

CONFIG_FILE = ROOT / "examples" / "clients" / "cdsodatacli-localconfig.yml"
#: $top: smaller than the products of some week-long slices (cdsodatacli then pages with $skip)
TOP = 3
START, END = datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 29)  # four slices of 7 days
BOX = (-5.0, 47.0, -1.0, 49.0)  # lonmin, latmin, lonmax, latmax
POINT = (-4.5, 48.4)
QUERIES = [
    {"id_query": "box", "geometry": "POLYGON (({0} {1}, {2} {1}, {2} {3}, {0} {3}, {0} {1}))".format(*BOX),
     "collection": "SENTINEL-1", "producttype": "IW_GRDH_1S", "sensormode": "IW"},
    {"id_query": "point", "geometry": "POINT ({} {})".format(*POINT),
     "collection": "SENTINEL-1", "producttype": "IW_SLC__1S", "sensormode": "IW"},
]
for _query in QUERIES:
    _query.update(start_datetime=START.isoformat(), end_datetime=END.isoformat())

#: (day of January 2024 (a float: its hour too), footprint (corners, tilted like a swath),
#: productType, operationalMode, platformShortName)
_BRITTANY = ((-6.2, 47.5), (-3.6, 47.8), (-3.2, 49.6), (-5.8, 49.3))  # covers POINT, overlaps BOX
_EAST = ((-3.0, 46.5), (-0.5, 46.8), (-0.2, 48.1), (-2.7, 47.8))  # overlaps BOX, not POINT
#: a narrow swath whose bounding box overlaps BOX but which does not
_SOUTH_EAST = ((-1.5, 45.6), (-1.2, 45.4), (0.6, 47.4), (0.3, 47.6))
#: a narrow swath whose bounding box covers POINT but which does not
_NORTH_WEST = ((-6.0, 47.6), (-5.6, 47.4), (-3.6, 49.9), (-4.0, 50.1))
PRODUCTS = [
    # IW_GRDH_1S over the box: five in the first slice (pages of 3 and 2), three in the second
    # (a full page, then an empty one), one in the third
    *[(day, footprint, "IW_GRDH_1S", "IW", "SENTINEL-1") for day, footprint in (
        (2.25, _BRITTANY), (3.25, _EAST), (4.75, _BRITTANY), (5.25, _EAST), (6.75, _EAST),
        (9.25, _BRITTANY), (10.75, _EAST), (12.25, _EAST), (17.75, _BRITTANY))],
    # IW_SLC__1S at the point: two, two and four (pages of 3 and 1) in the first, third and fourth slices
    *[(day, _BRITTANY, "IW_SLC__1S", "IW", "SENTINEL-1")
      for day in (3.75, 5.75, 18.25, 20.75, 23.25, 24.25, 25.75, 26.25)],
    # near misses, each told apart by one term of the query
    (11.25, _EAST, "IW_SLC__1S", "IW", "SENTINEL-1"),  # SLC in the box, away from the point
    (7.25, _BRITTANY, "IW_GRDH_1S", "EW", "SENTINEL-1"),  # another sensor mode (only operationalMode)
    (8.75, _BRITTANY, "IW_SLC__1S", "EW", "SENTINEL-1"),
    (13.25, _BRITTANY, "IW_GRDH_1S", "IW", "SENTINEL-2"),  # another collection (only Collection/Name)
    (19.25, _BRITTANY, "IW_SLC__1S", "IW", "SENTINEL-3"),
    (14.75, ((8.0, 40.0), (10.5, 40.3), (10.8, 42.0), (8.3, 41.7)), "IW_GRDH_1S", "IW", "SENTINEL-1"),  # elsewhere
    (21.25, ((-4.0, 49.5), (-1.5, 49.7), (-1.2, 51.0), (-3.7, 50.8)), "IW_SLC__1S", "IW", "SENTINEL-1"),
    (4.25, _SOUTH_EAST, "IW_GRDH_1S", "IW", "SENTINEL-1"),  # only the exact footprint tells them apart
    (25.25, _NORTH_WEST, "IW_SLC__1S", "IW", "SENTINEL-1"),
    (-0.75, _BRITTANY, "IW_GRDH_1S", "IW", "SENTINEL-1"),  # 31 December 2023
    (-0.25, _BRITTANY, "IW_SLC__1S", "IW", "SENTINEL-1"),
    (29.25, _BRITTANY, "IW_GRDH_1S", "IW", "SENTINEL-1"),  # after END
    (29.75, _BRITTANY, "IW_SLC__1S", "IW", "SENTINEL-1"),
]


def _start(day: float) -> datetime.datetime:
    return START + datetime.timedelta(days=day - 1)


def _metadata(index, day, footprint, product_type, mode, platform):
    start = _start(day)
    stop = start + datetime.timedelta(seconds=25)
    ring = [list(corner) for corner in footprint + footprint[:1]]
    kind = product_type[:2] + "_" + product_type[3:7]  # IW_GRDH, IW_SLC_
    stamp = "{:%Y%m%dT%H%M%S}_{:%Y%m%dT%H%M%S}".format(start, stop)
    crc = random.Random(index).randrange(65536)
    name = f"S1A_{kind}_1SDV_{stamp}_{51000 + index:06d}_{0x64000 + index:06X}_{crc:04X}.SAFE"
    iso = "{:%Y-%m-%dT%H:%M:%S.000Z}"
    return {
        "Name": name,
        "ContentType": "application/zip",
        "ContentDate": {"Start": iso.format(start), "End": iso.format(stop)},
        "PublicationDate": "2024-02-01T12:00:00.000Z",
        "GeoFootprint": {"type": "Polygon", "coordinates": [ring]},
        "Attributes": [
            {"Name": "productType", "ValueType": "String", "Value": product_type},
            {"Name": "operationalMode", "ValueType": "String", "Value": mode},
            {"Name": "platformShortName", "ValueType": "String", "Value": platform},
            {"Name": "platformSerialIdentifier", "ValueType": "String", "Value": "A"},
        ],
    }


def CATALOGUE_ENTRIES():  # the catalogue of this module (tests/clients/conftest.py)
    return [(_metadata(i, *product), None) for i, product in enumerate(PRODUCTS)]


def _failures(query: dict, product) -> set:
    """The terms of a query of QUERIES a product of PRODUCTS fails, computed from the catalogue."""
    day, footprint, product_type, mode, platform = product
    failed = {term for term, value in (("collection", platform), ("producttype", product_type), ("sensormode", mode))
              if query[term] != value}
    if not START < _start(day) < END:
        failed.add("dates")
    return failed if _area(query).intersects(Polygon(footprint)) else failed | {"geometry"}


def _area(query: dict):
    return Point(*POINT) if query["id_query"] == "point" else box(*BOX)


def _expected() -> dict:
    entries = CATALOGUE_ENTRIES()
    return {q["id_query"]: sorted(m["Name"] for (m, _), p in zip(entries, PRODUCTS) if not _failures(q, p))
            for q in QUERIES}


def _slice(day: float) -> int:
    return int((_start(day) - START) / datetime.timedelta(days=7))


def test_the_products_are_told_apart_only_by_the_query():
    # the premise: more matches in some slices than a page, every term of the query needed
    expected = _expected()
    assert len(expected["box"]) == 9 and len(expected["point"]) == 8
    assert not set(expected["box"]) & set(expected["point"])
    per_slice = {q["id_query"]: [sum(1 for p in PRODUCTS if not _failures(q, p) and _slice(p[0]) == s)
                                 for s in range(4)] for q in QUERIES}
    assert per_slice == {"box": [5, 3, 1, 0], "point": [2, 0, 2, 4]}
    # no sensing start on a slice's bounds (cdsodatacli's gt/lt leave them out)
    assert all((_start(p[0]) - START) % datetime.timedelta(days=7) for p in PRODUCTS)
    # for every term, a product of each query's collection that only this term leaves out
    for term in ("collection", "producttype", "sensormode", "dates", "geometry"):
        for query in QUERIES:
            assert any(_failures(query, p) == {term} for p in PRODUCTS), (term, query["id_query"])
    # the exact footprint is needed, not only its bounding box
    for query, swath in zip(QUERIES, (_SOUTH_EAST, _NORTH_WEST)):
        assert box(*Polygon(swath).bounds).intersects(_area(query)) and not Polygon(swath).intersects(_area(query))
    assert all(Polygon(p[1]).is_valid for p in PRODUCTS)
    names = [m["Name"] for m, _ in CATALOGUE_ENTRIES()]
    assert len(names) == len(set(names))


@pytest.fixture(scope="module", params=["cdse", "strict"])
def recorded_prip(request, client_catalogue_dir):
    """The PRIP of the module's catalogue under both ``proseo.paging`` modes (cdsodatacli pages
    with ``$skip`` and never reads ``@odata.nextLink``: the same rows either way), with every
    request it answers: method, path, raw query string, status."""
    log = []
    with serve_prip({**client_catalogue_dir[0], "proseo.paging": request.param}, log) as url:
        yield url, log


def test_cdsodatacli_searches_pages_and_finds_the_download_url(recorded_prip, clients_python, client_catalogue,
                                                              tmp_path):
    server, log = recorded_prip
    log.clear()
    mission, name, password = USER
    try:
        report = run_client(
            clients_python, "cdsodatacli_prip.py", server, str(CONFIG_FILE), str(tmp_path / "downloads"),
            json.dumps(QUERIES), str(TOP),
            env={"PRIP_USERNAME": f"{mission}\\{name}", "PRIP_PASSWORD": password, "HOME": str(tmp_path)},
        )
    except (subprocess.TimeoutExpired, pytest.fail.Exception):
        # (cdsodatacli retries a refused request for half a minute: say which the server refused)
        refused = [r for r in log if r["status"] != 200]
        if refused:
            pytest.fail(f"requests not answered 200: {refused}", pytrace=False)
        raise
    expected = _expected()
    products = client_catalogue.products

    # every request answered 200: the token, every page of every slice, the download
    assert [r for r in log if r["status"] != 200] == []
    assert log[0]["method"] == "POST" and log[0]["path"] == "/proseo/prip/v1/token"

    # every matching product once per query, none other; sequential and threaded alike
    for key in ("found", "found_multi", "products"):
        rows = report[key]
        for query in QUERIES:
            names = [r["Name"] for r in rows if r["query"] == query["id_query"]]
            assert sorted(names) == expected[query["id_query"]], (key, query["id_query"])
        assert all(r["Id"] == products[r["Name"]]["Id"] for r in rows), key
    assert report["geometries"] == ["Polygon"]  # multy_to_poly read PRIP's Footprint

    # two queries over four slices, each fetched in both modes; pages with $skip where a slice
    # had a full page: box 5 (3 + 2) and 3 (3 + 0), point 4 (3 + 1)
    searches = [r for r in log if r["path"] == "/proseo/prip/odata/v1/Products"]
    pages = 6 + 5  # box: 2 + 2 + 1 + 1 (empty), point: 1 + 1 (empty) + 1 + 2
    assert len(searches) == 2 * pages
    assert report["counters"]["urls_OK"] == pages
    skips = sorted(r["query"].rsplit("&", 1)[1] for r in searches if "$skip=" in r["query"])
    assert skips == ["$skip=3"] * 6
    # the dialect create_urls writes (docs/prip.md): a point's space sent as a literal %20, the
    # filter's terms in its own words, $orderby=Id
    point = "geography'SRID=4326;POINT({}%20{})'".format(*POINT)
    assert sum(point in r["query"] for r in searches) == 2 * 5
    assert all("Collection/Name%20eq%20'SENTINEL-1'" in r["query"] and "&$expand=Attributes&$orderby=Id" in r["query"]
               for r in searches)

    # the download URL cdsodatacli builds from URL_download, and the file it serves
    downloaded = report["downloaded"]
    chosen = next(n for n, p in products.items() if p["Id"] == downloaded["Id"])
    assert downloaded["url"] == f"{server}/proseo/prip/odata/v1/Products({downloaded['Id']})/$value"
    assert downloaded["file"] == chosen + ".zip"  # cdsodatacli's naming
    assert downloaded["md5"] == products[chosen]["md5"]
