"""Helpers of the client tests: the small Copernicus-like catalogue (ingested from real files),
the search every client makes, and running a client script in the clients' own venv.

The clients (eodag, CDSETool, sentineleof, phidown, cdsodatacli, python-odata) pin their own
dependencies, so they live in ``.venv-clients`` (``make clients``, a prerequisite of ``make
test``; versions in tests/clients/requirements.txt), never in the project's venv: the tests run
small scripts of tests/clients/ in that venv.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from live_server import serve_wsgi
from node_packages import NODE_ROOT, node_package_or_fail

from proseo_odata.archive import load_archive
from proseo_odata.ingest import ingest_file
from proseo_odata.model import Mission, Role, User, hash_password
from proseo_odata.storage import load_storage

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLIENTS_VENV = Path(os.environ.get("PROSEO_CLIENTS_VENV", ROOT / ".venv-clients"))
PRIP = "/proseo/prip/odata/v1"
USER = ("DEMO", "eve", "eve-secret-123")
#: The generic OData client @odata/client (npm): the folder that pins it with the scripts that
#: drive it (PRIP searches, ODIP orders), and its version; installed by odata_client_installed().
ODATA_CLIENT_SOURCE = ROOT / "tests" / "data" / "odata-client"
ODATA_CLIENT_VERSION = "2.21.10"
ODATA_CLIENT_FILES = ("package.json", "package-lock.json", "prip_queries.js", "odip_orders.js")

#: The search every client test makes: S2MSI1C over this box in January 2024.
BBOX = (10.0, 45.0, 12.0, 47.0)  # lonmin, latmin, lonmax, latmax
BBOX_WKT = "POLYGON(({0} {1},{2} {1},{2} {3},{0} {3},{0} {1}))".format(*BBOX)
START, END = "2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"
#: Page size the clients ask for: smaller than the number of matches, and not a divisor of it.
PAGE = 3
MATCHING = 8


@dataclass
class ClientCatalogue:
    """What was ingested: name -> {"Id", "md5", "matches", "safe"} (matches: the clients' search
    hits; safe: the MD5 of each file in the product's SAFE, by its path there)."""

    products: dict

    def matching(self) -> dict:
        return {name: p for name, p in self.products.items() if p["matches"]}


def _square(lon: float, lat: float, size: float = 0.5) -> dict:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def _metadata(index: int, *, day: int, lon: float, lat: float, platform="SENTINEL-2", product_type="S2MSI1C"):
    unit = platform[-1]
    level = {"S2MSI1C": "MSIL1C", "S2MSI2A": "MSIL2A"}.get(product_type, product_type)
    start = f"2024-01-{day:02d}T10:{index:02d}:21.024Z" if day <= 31 else f"2024-02-{day - 31:02d}T10:{index:02d}:21.024Z"
    stamp = start[:19].replace("-", "").replace(":", "")
    name = f"S{unit}A_{level}_{stamp}_N0510_R{index:03d}_T32TQR_{stamp}.zip"
    return {
        "Name": name,
        "ContentType": "application/zip",
        "ContentDate": {"Start": start, "End": start.replace(":21.024Z", ":45.124Z")},
        "PublicationDate": "2024-03-01T12:00:00.000Z",
        "GeoFootprint": _square(lon, lat),
        "Attributes": [
            {"Name": "productType", "ValueType": "String", "Value": product_type},
            {"Name": "platformShortName", "ValueType": "String", "Value": platform},
            {"Name": "platformSerialIdentifier", "ValueType": "String", "Value": "A"},
            {"Name": "orbitNumber", "ValueType": "Integer", "Value": 40000 + index},
            {"Name": "relativeOrbitNumber", "ValueType": "Integer", "Value": 100 + index},
            {"Name": "cloudCover", "ValueType": "Double", "Value": 5.0 * index},
        ],
    }


#: The files of every product's SAFE (each ZIP holds ``<Name without .zip>.SAFE/``), as its
#: manifest lists them: CDSETool's ``filter_pattern`` downloads those matching a pattern.
SAFE_FILES = ("GRANULE/L1C_T32TQR/IMG_DATA/T32TQR_B02.jp2", "GRANULE/L1C_T32TQR/IMG_DATA/T32TQR_B03.jp2",
              "GRANULE/L1C_T32TQR/MTD_TL.xml")


#: Every product's quicklook, in its SAFE (served as its QUICKLOOK asset: eodag's get_quicklook).
QUICKLOOK = "preview/quick-look.png"


def safe_folder(name: str) -> str:
    return name.removesuffix(".zip") + ".SAFE"


def safe_zip(name: str, rng: random.Random, band_bytes: int | None = None) -> tuple[bytes, dict]:
    """A zipped SAFE of product ``name`` (1.5 KiB and more; with ``band_bytes``, each of its
    files that ``SAFE_FILES`` lists that long): its bytes, and its files' bytes by path in the SAFE."""
    files = {path: rng.randbytes(band_bytes or 512 + rng.randrange(512)) for path in SAFE_FILES}
    objects = "".join(f'<dataObject ID="d{i}"><byteStream><fileLocation locatorType="URL" href="./{path}"/>'
                      "</byteStream></dataObject>" for i, path in enumerate(SAFE_FILES))
    files["manifest.safe"] = (f'<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1"><dataObjectSection>{objects}'
                              "</dataObjectSection></xfdu:XFDU>").encode()
    files[QUICKLOOK] = b"\x89PNG\r\n\x1a\n" + rng.randbytes(64)  # the quicklook of a Sentinel-1 SAFE's kind
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path, data in files.items():
            zipped.writestr(f"{safe_folder(name)}/{path}", data)
    return buffer.getvalue(), files


def catalogue_entries():
    """(metadata, matches) for every product: MATCHING hits and one near miss of each kind."""
    hits = [(_metadata(i, day=2 + 3 * i, lon=10.2 + 0.15 * i, lat=45.3 + 0.1 * i), True) for i in range(MATCHING)]
    misses = [
        (_metadata(20, day=9, lon=10.5, lat=45.5, product_type="S2MSI2A"), False),   # other product type
        (_metadata(21, day=10, lon=30.0, lat=10.0), False),                           # outside the box
        (_metadata(22, day=40, lon=10.5, lat=45.5), False),                           # in February
        (_metadata(23, day=11, lon=10.5, lat=45.5, platform="SENTINEL-1", product_type="GRD"), False),
        # same product type, another collection: only Collection/Name tells it apart
        (_metadata(24, day=12, lon=10.5, lat=45.5, platform="SENTINEL-3"), False),
    ]
    return hits + misses


def build_catalogue(base: Path, url: str | None = None, entries=catalogue_entries,
                    band_bytes: int | None = None) -> tuple[dict, ClientCatalogue]:
    """Settings, database and archive of the client tests under ``base`` (the database: ``url``,
    migrated and empty, else a SQLite file there), products ingested from real files: those of
    ``entries()``, (metadata, matches) pairs (``band_bytes``: as :func:`safe_zip` takes it)."""
    archive = base / "archive"
    archive.mkdir()
    settings = {
        "proseo.storage.backend": "proseo_odata.storage.sqlalchemy",
        "proseo.storage.url": url or f"sqlite:///{base / 'proseo.sqlite'}",
        "proseo.archive.backend": "local",
        "proseo.archive.path": str(archive),
        "proseo.page_size.default": "5",
        "proseo.page_size.max": "100",
        "proseo.default_mission": "DEMO",
        "proseo.token.secret": "client-tests-secret-0123456789abcdef0123456789",
        "proseo.token.lifetime": "600",
        "proseo.workers": "0",
    }
    storage = load_storage(settings)
    try:
        storage.initialize_schema()
        mission, name, password = USER
        with storage.transaction() as tx:
            tx.add_mission(Mission(mission, "Client test mission"))
            tx.add_user(User(mission, name, hash_password(password), frozenset({Role.PRIP_USER})))
        files = base / "files"
        files.mkdir()
        rng = random.Random(9)
        products = {}
        for metadata, matches in entries():
            path = files / metadata["Name"]
            data, safe = safe_zip(metadata["Name"], rng, band_bytes)
            path.write_bytes(data)  # a real zipped SAFE
            product = ingest_file(storage, load_archive(settings), mission, path, metadata)
            md5 = next(c.value for c in product.checksums if c.algorithm == "MD5")
            products[product.name] = {"Id": str(product.id), "md5": md5, "matches": matches,
                                      "safe": {p: hashlib.md5(d).hexdigest() for p, d in safe.items()}}
    finally:
        storage.close()
    return settings, ClientCatalogue(products)


def netrc_env(tmp_path: Path) -> dict:
    """The environment of a client whose requests take their Basic credentials from ~/.netrc
    (requests does, for a request without any): a netrc for 127.0.0.1 with :data:`USER`'s login in
    the ``MISSION-user`` form (no backslash to escape), and ``tmp_path`` as ``HOME``."""
    mission, name, password = USER
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {mission}-{name} password {password}\n")
    netrc.chmod(0o600)
    return {"NETRC": str(netrc), "HOME": str(tmp_path)}


def run_client(python: Path, script: str, *args: str, env: dict | None = None, timeout: float = 120) -> dict:
    """Run tests/clients/<script> in the clients' venv; its last stdout line is a JSON report."""
    # The project's venv must not leak into the clients' one (PYTHONPATH, pytest's variables).
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST", "VIRTUAL_ENV"))}
    clean.update(env or {})
    result = subprocess.run(
        [str(python), str(HERE / script), *args], capture_output=True, text=True, timeout=timeout, env=clean,
    )
    if result.returncode != 0:
        pytest.fail(f"{script} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr[-6000:]}",
                    pytrace=False)
    lines = result.stdout.strip().splitlines()
    assert lines, f"{script} printed nothing; stderr:\n{result.stderr[-6000:]}"
    return json.loads(lines[-1])


@contextlib.contextmanager
def serve_prip(settings: dict, log: list | None = None):
    """Base URL (``http://127.0.0.1:<port>``) of a PRIP with ``settings`` under a real server;
    with ``log``, every request it answers is appended to it: method, path, raw query string,
    status, and the ``Range`` asked for (None without one)."""
    from proseo_odata_web import main

    app = main({}, **settings)

    def recording(environ, start_response):
        def start(status, headers, exc_info=None):
            log.append({"method": environ["REQUEST_METHOD"], "path": environ.get("PATH_INFO", ""),
                        "query": environ.get("QUERY_STRING", ""), "status": int(status.split()[0]),
                        "range": environ.get("HTTP_RANGE")})
            return start_response(status, headers, exc_info)

        return app(environ, start)

    try:
        with serve_wsgi(app if log is None else recording) as url:
            yield url
    finally:
        app.registry.storage.close()


def odata_client_installed() -> Path:
    """The folder where ``@odata/client`` and its scripts are installed (``npm ci``, once; see
    tests/node_packages.py); a test failure, never a skip, without Node.js or the registry."""
    return node_package_or_fail(ODATA_CLIENT_SOURCE, NODE_ROOT / "odata-client", "@odata/client", ODATA_CLIENT_VERSION,
                                ODATA_CLIENT_FILES, purpose="run the generic OData client @odata/client")
