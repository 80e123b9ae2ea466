"""sentineleof (PyPI ``sentineleof``, the ``eof`` tool InSAR processors use to fetch Sentinel-1
orbit files from the Copernicus Data Space) runs unmodified (pinned, in the clients' venv) against
a live PRIP whose catalogue holds orbit files: its three URLs set to the PRIP's (the snippet in
tests/clients/sentineleof_prip.py and docs/prip.md), it queries

    startswith(Name,'S1A') and contains(Name,'AUX_POEORB')
    and ContentDate/Start lt '<t - 60 s, 6 fractional digits, quoted>' and ContentDate/End gt '<t + 60 s>'

with ``$orderby=ContentDate/Start asc`` and ``$top=1``, falls back to AUX_RESORB when nothing
matches, takes a bearer token from the token endpoint (``client_id=cdse-public``, password grant)
and downloads ``Products(<Id>)/$value`` under the product's Name. When the PRIP answers nothing
or an error, sentineleof turns to ASF, which this machine cannot reach: the script then fails.
"""
from __future__ import annotations

import pytest

from client_support import USER, netrc_env, run_client

pytestmark = pytest.mark.slow

#: The scene whose orbit the first call fetches (sentineleof reads mission and start from it).
SCENE = "S1A_IW_SLC__1SDV_20240105T120000_20240105T120027_051970_064770_ABCD.zip"
#: Date and mission of the other two calls: no precise orbit covers it, so both get the restituted one.
DATE, MISSION = "2024-01-20T12:00:00", "S1A"


def _orbit(unit: str, kind: str, created: str, start: str, stop: str) -> dict:
    def iso(stamp: str) -> str:  # 20240104T225942 -> 2024-01-04T22:59:42.000Z
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:11]}:{stamp[11:13]}:{stamp[13:15]}.000Z"

    return {
        "Name": f"S1{unit}_OPER_AUX_{kind}_OPOD_{created}_V{start}_{stop}.EOF",
        "ContentType": "application/xml",
        "ContentDate": {"Start": iso(start), "End": iso(stop)},
        "PublicationDate": iso(created),
        "Attributes": [
            {"Name": "productType", "ValueType": "String", "Value": f"AUX_{kind}"},
            {"Name": "platformShortName", "ValueType": "String", "Value": "SENTINEL-1"},
            {"Name": "platformSerialIdentifier", "ValueType": "String", "Value": unit},
        ],
    }


#: (metadata, matches): matches marks the file each call must download.
ORBITS = [
    # the scene (S1A, 2024-01-05T12:00:00): one precise orbit covers it with sentineleof's
    # 60 s margins; the others start too late, end too early, or are of S1B
    (_orbit("A", "POEORB", "20240125T070727", "20240104T225942", "20240106T005942"), "scene"),
    (_orbit("A", "POEORB", "20240126T070658", "20240105T225942", "20240107T005942"), None),
    (_orbit("A", "POEORB", "20240124T070712", "20240103T225942", "20240105T005942"), None),
    (_orbit("B", "POEORB", "20240125T070727", "20240104T225942", "20240106T005942"), None),
    # restituted orbits of the scene's time: ignored while a precise one exists
    (_orbit("A", "RESORB", "20240105T140512", "20240105T103215", "20240105T135945"), None),
    # 2024-01-20T12:00:00: no precise orbit; two restituted ones cover it, sentineleof takes the
    # one that starts first ($orderby=ContentDate/Start asc, $top=1); a third ends 30 s too early
    (_orbit("A", "RESORB", "20240120T133010", "20240120T102951", "20240120T134721"), None),
    (_orbit("A", "RESORB", "20240120T124533", "20240120T093522", "20240120T125252"), "date"),
    (_orbit("A", "RESORB", "20240120T121501", "20240120T083011", "20240120T120030"), None),
    (_orbit("B", "RESORB", "20240120T120014", "20240120T090006", "20240120T123506"), None),
    (_orbit("A", "POEORB", "20240209T070631", "20240119T225942", "20240120T115942"), None),
]


def CATALOGUE_ENTRIES():  # the catalogue of this module (tests/clients/conftest.py)
    return [(metadata, which) for metadata, which in ORBITS]


def test_the_orbits_are_told_apart_only_by_the_query():
    # the premise: every filter term of sentineleof's query, and its order and $top, is needed
    names = [m["Name"] for m, _ in ORBITS]
    assert len(names) == len(set(names))
    assert sum(1 for _, which in ORBITS if which) == 2
    assert any(n.startswith("S1B") for n in names)


def test_sentineleof_finds_and_downloads_orbit_files(clients_python, prip_server, client_catalogue, tmp_path):
    mission, name, password = USER
    report = run_client(
        clients_python, "sentineleof_prip.py", prip_server, str(tmp_path / "orbits"), SCENE, DATE, MISSION,
        env={"PRIP_USERNAME": f"{mission}\\{name}", "PRIP_PASSWORD": password, **netrc_env(tmp_path)},
    )
    wanted = {which: metadata["Name"] for metadata, which in ORBITS if which}
    products = client_catalogue.products

    def expect(name):
        return [{"file": name, "md5": products[name]["md5"], "in_save_dir": True}]

    assert report["scene"] == expect(wanted["scene"])
    assert report["restituted"] == expect(wanted["date"])
    # precise asked, none covers the date: sentineleof's own fallback to AUX_RESORB
    assert report["precise"] == expect(wanted["date"])
