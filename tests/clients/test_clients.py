"""eodag and CDSETool, the clients people use against the Copernicus Data Space catalogue, run
unmodified (pinned versions, their own venv) against a live PRIP: search with a page size
smaller than the result, every page fetched through ``@odata.nextLink``, no duplicates, the
``$count`` total, and a download whose MD5 is the catalogue's.

The configurations are those docs/prip.md shows: eodag reads examples/clients/eodag-proseo-prip.yml
(only the URL replaced), CDSETool gets the snippet in tests/clients/cdsetool_prip.py.
"""
from __future__ import annotations

import re
import textwrap

import pytest

from client_support import BBOX, BBOX_WKT, END, MATCHING, PAGE, QUICKLOOK, ROOT, START, USER, netrc_env, run_client

pytestmark = pytest.mark.slow

PROVIDER_FILE = ROOT / "examples" / "clients" / "eodag-proseo-prip.yml"
SNIPPET = "# --- the snippet of docs/prip.md"


def _login() -> tuple[str, str]:
    mission, name, password = USER
    return f"{mission}\\{name}", password


def test_catalogue_has_more_matches_than_a_page(client_catalogue):
    # the premise of the paging checks below
    assert len(client_catalogue.matching()) == MATCHING > 2 * PAGE and MATCHING % PAGE
    assert len(client_catalogue.products) > MATCHING


def test_eodag_searches_every_page_and_downloads(clients_python, prip_server, client_catalogue, tmp_path):
    username, password = _login()
    report = run_client(
        clients_python, "eodag_prip.py", str(PROVIDER_FILE), prip_server, str(tmp_path / "downloads"),
        ",".join(str(v) for v in BBOX), START, END, str(PAGE),
        env={
            "PRIP_USERNAME": username,
            "PRIP_PASSWORD": password,
            # eodag's own settings: a private config folder, no fetching of collection lists
            "EODAG_CFG_DIR": str(tmp_path / "eodag-config"),
            "EODAG_STRICT_COLLECTIONS": "true",
            "HOME": str(tmp_path),
        },
    )
    expected = {name.removesuffix(".zip") for name in client_catalogue.matching()}
    by_id = {name.removesuffix(".zip"): p for name, p in client_catalogue.products.items()}

    assert report["count"] == MATCHING  # $count
    assert len(report["first_page"]) == PAGE  # $top is the page size
    # the first page and SearchResult.next_page(): ceil(8 / 3) pages through @odata.nextLink,
    # every one but the last full
    pages = report["pages"]
    assert [len(p) for p in pages] == [PAGE, PAGE, MATCHING - 2 * PAGE]
    paged = [item for page in pages for item in page]
    assert len(paged) == len(set(paged)) and set(paged) == expected
    # search_all: every product once
    assert len(report["all"]) == MATCHING and set(report["all"]) == expected
    assert report["all_uids"] == [by_id[i]["Id"] for i in report["all"]]
    assert report["collection"] == ["SENTINEL-2"] * MATCHING  # constellation: platformShortName
    # any other collection name is the Collection (it was also taken for the productType: nothing)
    sentinel1 = [name.removesuffix(".zip") for name in client_catalogue.products if name.startswith("S1")]
    assert report["generic"] == {"count": len(sentinel1), "ids": sentinel1} and sentinel1
    # sat:relative_orbit and sat:absolute_orbit select by the Integer attributes, and are read back
    by_index = sorted(expected, key=lambda name: name.split("_")[2])
    assert report["orbits"] == {"relative": [[by_index[2], 102]], "absolute": [[by_index[3], 40003]]}
    # sorted by ContentDate/Start as the provider file asks (the catalogue's names carry it)
    assert report["all"] == sorted(report["all"], key=lambda name: name.split("_")[2])

    downloaded = report["downloaded"]
    name = next(n for n, p in client_catalogue.products.items() if p["Id"] == downloaded["uid"])
    assert downloaded["file"] == name
    assert downloaded["md5"] == client_catalogue.products[name]["md5"] == report["checksum_property"]
    # get_quicklook: the QUICKLOOK asset ($expand=Assets on every page) read with eodag's token
    product = client_catalogue.products[name]
    assert report["quicklook"]["link"].startswith(f"{prip_server}/proseo/prip/odata/v1/Products({product['Id']})/Nodes(")
    assert report["quicklook"]["md5"] == product["safe"][QUICKLOOK]


def _run_cdsetool(clients_python, server, tmp_path):
    return run_client(
        clients_python, "cdsetool_prip.py", server, str(tmp_path / "downloads"), BBOX_WKT, START, END, str(PAGE),
        env=netrc_env(tmp_path),
    )


def test_cdsetool_searches_every_page_and_downloads(clients_python, prip_server, client_catalogue, tmp_path):
    report = _run_cdsetool(clients_python, prip_server, tmp_path)
    matching = client_catalogue.matching()

    assert report["count"] == MATCHING
    names = [p["Name"] for p in report["products"]]
    assert len(names) == len(set(names)) == MATCHING  # every page, no duplicates
    assert set(names) == set(matching)
    assert [p["Id"] for p in report["products"]] == [matching[n]["Id"] for n in names]

    downloaded = report["downloaded"]
    assert downloaded["file"] == downloaded["Name"] + ".zip"  # CDSETool's naming
    assert downloaded["md5"] == matching[downloaded["Name"]]["md5"]
    # filter_pattern: the manifest's files that match, each through Nodes(<Name>)/Nodes(...)/$value
    safe = matching[downloaded["Name"]]["safe"]
    bands = {path: md5 for path, md5 in safe.items() if path.endswith(("B02.jp2", "B03.jp2"))}
    assert len(bands) == 2 and report["filtered"] == {"folder": downloaded["Name"], "files": bands}


def test_cdsetool_gets_one_page_under_strict_paging(clients_python, strict_prip_server, client_catalogue, tmp_path):
    # proseo.paging = strict: $top caps the total, so the client stops after its first page
    # (what docs/prip.md says; the reason the default is cdse)
    report = _run_cdsetool(clients_python, strict_prip_server, tmp_path)
    assert report["count"] == MATCHING
    assert len(report["products"]) == PAGE


def test_docs_show_the_configurations_the_tests_use():
    docs = (ROOT / "docs" / "prip.md").read_text(encoding="utf-8")
    assert "examples/clients/eodag-proseo-prip.yml" in docs
    # phidown: pointed at PRIP with query_by_filter's base_url, as its script does
    assert "tests/clients/phidown_prip.py" in docs and "searcher.query_by_filter(base_url=" in docs
    phidown = (ROOT / "tests" / "clients" / "phidown_prip.py").read_text(encoding="utf-8")
    assert "query_by_filter(**criteria" in phidown and "criteria = dict(base_url=products" in phidown
    documented = set(docs.splitlines())
    assert "examples/clients/cdsodatacli-localconfig.yml" in docs and "tests/clients/python_odata_prip.py" in docs
    for name, lines in (("cdsetool_prip.py", 10), ("sentineleof_prip.py", 3), ("cdsodatacli_prip.py", 8),
                        ("python_odata_prip.py", 10)):
        script = (ROOT / "tests" / "clients" / name).read_text(encoding="utf-8")
        # (cdsodatacli's lines are in a function: dedented)
        section = re.split(r"\n *# ---", script.split(SNIPPET, 1)[1], maxsplit=1)[0]
        snippet = textwrap.dedent(section.split("\n", 1)[1]).splitlines()
        code = [line for line in snippet if line.strip() and not line.lstrip().startswith("#")]
        assert len(code) == lines, name
        assert [line for line in code if line not in documented] == [], name
    # the versions the docs name are the pinned ones
    pins = (ROOT / "tests" / "clients" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    for client in ("eodag", "cdsetool", "sentineleof", "phidown", "cdsodatacli", "python-odata"):
        version = next(line.split("==")[1] for line in pins if line.lower().startswith(client + "=="))
        assert f"| {version} |" in docs, (client, version)
