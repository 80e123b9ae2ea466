"""phidown (ESA Phi-lab's search and download tool for the Copernicus Data Space), pinned, in the
clients' venv, against a live PRIP: its search only (it downloads through CDSE's S3 with s5cmd,
which PRIP does not serve). ``count=True`` searches fetch every page with ``$skip`` themselves,
manual ``skip=`` paging with aware dates (``+00:00`` sent unencoded, so the ``+`` arrives as a
space), attribute and cloud-cover lambdas, ``query_by_name`` and a name pattern: names, ids,
order and counts must be the catalogue's, under both paging modes (phidown never follows
``@odata.nextLink``: it pages with ``$skip`` and ``$top``, the same rows either way).
"""
from __future__ import annotations

import pytest

from client_support import BBOX_WKT, END, MATCHING, PAGE, START, catalogue_entries, netrc_env, run_client

pytestmark = pytest.mark.slow


def _run_phidown(clients_python, server, tmp_path):
    return run_client(clients_python, "phidown_prip.py", server, BBOX_WKT, START, END, str(PAGE),
                      env=netrc_env(tmp_path))


def _attribute(metadata, name):
    return next(a["Value"] for a in metadata["Attributes"] if a["Name"] == name)


@pytest.fixture(params=["cdse", "strict"])
def phidown_report(request, clients_python, tmp_path):
    server = request.getfixturevalue("prip_server" if request.param == "cdse" else "strict_prip_server")
    return _run_phidown(clients_python, server, tmp_path)


def test_phidown_searches_like_on_cdse(phidown_report, client_catalogue):
    report = phidown_report
    matching = client_catalogue.matching()
    hits = {m["Name"]: m for m, matches in catalogue_entries() if matches}
    by_date = sorted(hits, key=lambda n: hits[n]["ContentDate"]["Start"])
    assert set(by_date) == set(matching) and len(by_date) == MATCHING

    # count=True: @odata.count, then the pages after the first through $skip, in order
    search = report["search"]
    assert search["count"] == MATCHING
    assert search["first_page"] == PAGE < MATCHING
    assert search["names"] == by_date  # order_by="ContentDate/Start asc", no duplicates
    assert search["ids"] == [matching[n]["Id"] for n in by_date]
    assert search["product_types"] == ["S2MSI1C"] * MATCHING  # $expand=Attributes
    # phidown's coverage column, from GeoFootprint: each 0.5-degree square covers 1/16 of the box
    assert search["coverage"] == [6.25] * MATCHING

    # skip= pages, phidown's default order (ContentDate/Start desc); dates with "+00:00"
    assert [len(p) for p in report["pages"]] == [PAGE, PAGE, MATCHING - 2 * PAGE]
    assert [n for page in report["pages"] for n in page] == by_date[::-1]

    # cloud_cover_threshold (cloudCover lt 12.5) and a String attribute; Integer and Double ones
    assert report["cloudless"] == [n for n in by_date[::-1] if _attribute(hits[n], "cloudCover") < 12.5]
    assert 0 < len(report["cloudless"]) < MATCHING
    typed = [n for n in by_date if _attribute(hits[n], "orbitNumber") == 40004]
    assert report["typed"] == typed and len(typed) == 1 and _attribute(hits[typed[0]], "cloudCover") == 20.0
    assert report["huge"] == {"status": 200, "names": []}  # "cloudCover eq 1e+20", the + sent raw

    # query_by_name and search_products_by_name_pattern (contains, and the searcher's collection)
    first = by_date[0]
    assert report["by_name"] == {"status": 200, "names": [first], "ids": [matching[first]["Id"]]}
    assert report["pattern"]["status"] == 200
    assert sorted(report["pattern"]["names"]) == sorted(n for n in client_catalogue.products if "_R00" in n)
    assert set(report["pattern"]["names"]) == set(matching)
