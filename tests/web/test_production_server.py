"""Issue 12 item 5: downloads through the servers of the shipped .ini files, over real HTTP.

``production.ini``'s server (``pserve`` running ``egg:proseo-odata#gunicorn``: 2 worker processes
of gthread workers) is started from a copy of the template with only the site values replaced
(SQLite, an archive folder, 127.0.0.1 and a free port), and ``make run``'s waitress runner from the
same copy with its ``[server:main]`` swapped. A real 24 MiB file is downloaded whole and by range;
bytes and headers are checked, and, while a ranged download is half-way:

* no worker process has a file open in the server's ``TMPDIR`` (waitress spilled a response the
  application wrote faster than the client read into temporary files there: issue 12);
* gunicorn's worker sends the range with ``sendfile`` from the archive file's descriptor (the
  descriptor's position stays at the range's start while the kernel copies; a read loop would
  move it along).
"""
from __future__ import annotations

import hashlib
import math
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: bench/

from bench.downloads import (  # noqa: E402
    PASSWORD, USER, archived_path, children, make_site, open_files, start_server, stop_server, waitress_ini,
)

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
SIZE = 24 * MIB


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An initialised site from production.ini on SQLite with one 24 MiB product."""
    content = os.urandom(SIZE)
    ini, port, product = make_site(tmp_path_factory.mktemp("production-site"), content)
    return ini, port, product, content


@pytest.mark.parametrize("runner", ["gunicorn", "waitress"])
def test_downloads_through_the_shipped_servers(site, tmp_path, runner):
    ini, port, product, content = site
    if runner == "waitress":  # make run's server: the same site with development.ini's runner
        ini = waitress_ini(ini, port, tmp_path / "waitress.ini")
    tmpdir = tmp_path / "server-tmp"
    tmpdir.mkdir()
    server = start_server(ini, port, tmp_path / "server.log", env={"TMPDIR": str(tmpdir)})
    url = f"http://127.0.0.1:{port}/proseo/prip/odata/v1/Products({product.id})/$value"
    archived = archived_path(ini, product)
    try:
        workers = children(server.pid) if runner == "gunicorn" else [server.pid]
        assert len(workers) == (2 if runner == "gunicorn" else 1), workers

        whole = requests.get(url, auth=(USER, PASSWORD), timeout=60)
        assert whole.status_code == 200 and whole.content == content
        md5 = hashlib.md5(content).hexdigest()
        assert whole.headers["Content-Length"] == str(SIZE) and whole.headers["ETag"] == f'"{md5}"'
        assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Content-Digest"].startswith("md5=:")

        small = requests.get(url, auth=(USER, PASSWORD), headers={"Range": "bytes=100-199"}, timeout=60)
        assert small.status_code == 206 and small.content == content[100:200]
        assert small.headers["Content-Range"] == f"bytes 100-199/{SIZE}"

        with requests.get(url, auth=(USER, PASSWORD), headers={"Range": "bytes=1-"}, stream=True, timeout=60) as answer:
            assert answer.status_code == 206
            assert answer.headers["Content-Range"] == f"bytes 1-{SIZE - 1}/{SIZE}"
            assert answer.headers["Content-Length"] == str(SIZE - 1)
            body = answer.raw.read(MIB)
            time.sleep(0.5)  # the server has filled the socket buffers and waits for the client
            opened = {}
            for pid in workers:
                opened.update(open_files(pid))
            spilled = [path for path in opened if path.startswith(str(tmpdir))]
            assert not spilled, spilled
            assert archived in opened, sorted(opened)  # streamed from the archive file itself
            if runner == "gunicorn":
                assert opened[archived] == 1, "the range was read, not sent with sendfile from offset 1"
            body += answer.raw.read()
        assert body == content[1:]
        assert not list(tmpdir.iterdir())

        # a long URL (an area of 330 vertices, ~7.3 KB percent-encoded: gunicorn's default request
        # line stops at 4,094 bytes with a plain-text 400) reaches the application; through
        # waitress, one over the service's own $filter limit gets its OData error, not the server's
        products = f"http://127.0.0.1:{port}/proseo/prip/odata/v1/Products"
        ring = [(10 + math.cos(2 * math.pi * i / 330), 40 + math.sin(2 * math.pi * i / 330)) for i in range(330)]
        area = ",".join(f"{x:.6f} {y:.6f}" for x, y in ring + ring[:1])
        found = requests.get(products, params={"$filter": f"OData.CSC.Intersects(area=geography'SRID=4326;POLYGON(({area}))')"},
                             auth=(USER, PASSWORD), timeout=60)
        assert 4094 < len(found.url) < 8000 and found.status_code == 200, (len(found.url), found.text[:300])
        assert found.json()["value"] == []
        if runner == "waitress":
            too_long = requests.get(products, params={"$filter": "Name eq '" + "a" * 70000 + "'"}, auth=(USER, PASSWORD),
                                    timeout=60)
            assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "E7721", too_long.text[:300]
            assert too_long.headers["Warning"].startswith("199 proseo-api-prip")
    finally:
        stop_server(server)
    # gunicorn stops gracefully on SIGTERM; pserve's waitress has no handler for it
    assert server.returncode == (0 if runner == "gunicorn" else -signal.SIGTERM), (tmp_path / "server.log").read_text()[-3000:]


def test_gunicorn_runner_on_a_busy_port_is_one_line(site, tmp_path):
    import socket
    import subprocess

    ini = site[0]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "pyramid.scripts.pserve", str(ini)], capture_output=True,
                                text=True, timeout=60, env={**os.environ, "PROSEO_PORT": str(port)})
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0] and "in use" in lines[0]


def test_gunicorn_runner_stops_when_the_application_refuses_to_start(tmp_path):
    """A database not created yet: the application refuses to start (one line). Under the
    gunicorn runner every worker did so, and gunicorn booted a new one every second for ever (a
    supervisor saw a running service). Now the server stops, with gunicorn's "App failed to
    load" status."""
    import subprocess

    from bench.downloads import derive_ini, free_port

    ini = derive_ini(tmp_path / "production.ini", {
        "proseo.storage.url": f"sqlite:///{tmp_path}/empty.sqlite",
        "proseo.archive.path": str(tmp_path / "archive"),
        "listen": f"127.0.0.1:{free_port()}",
        "proseo.notify.dispatcher": "false",
    })
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pyramid.scripts.pserve", str(ini)], capture_output=True,
                            text=True, timeout=60)
    refusals = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert result.returncode == 4, result.stderr[-3000:]
    assert 1 <= len(refusals) <= 2 and "initdb" in refusals[0], result.stderr[-3000:]
    assert "App failed to load" in result.stderr
    assert "serving on http://127.0.0.1:" in result.stderr  # gunicorn's own line names no address with reuse_port
    assert time.monotonic() - started < 30
