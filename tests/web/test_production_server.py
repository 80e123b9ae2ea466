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
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from proseo_odata.archive import load_archive
from proseo_odata.archive.testing import store_product_file
from proseo_odata.cli import main as cli_main
from proseo_odata.cli import read_settings
from proseo_odata.storage import load_storage

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: bench/

from bench.soak import derive_ini, free_port  # noqa: E402

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
SIZE = 24 * MIB
USER, PASSWORD = "TEST\\alice", "alice-pw"
WAITRESS = "[server:main]\nuse = egg:proseo-odata#waitress\nlisten = 127.0.0.1:{port}\nthreads = 4\n"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _open_files(pid: int) -> dict[str, int]:
    """path -> descriptor position of the regular files ``pid`` has open."""
    files = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
            position = int((Path(f"/proc/{pid}/fdinfo") / fd.name).read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if target.startswith("/"):
            files[target] = position
    return files


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An initialised site from production.ini on SQLite with one 24 MiB product."""
    folder = tmp_path_factory.mktemp("production-site")
    port = free_port()
    ini = derive_ini(folder / "production.ini", {
        "proseo.storage.url": f"sqlite:///{folder}/proseo.sqlite",
        "proseo.archive.path": str(folder / "archive"),
        "listen": f"127.0.0.1:{port}",
        "proseo.notify.dispatcher": "false",
    })
    runner = CliRunner()
    for args, given in ((["initdb"], None), (["mission", "add", "TEST", "--name", "Test"], None),
                        (["user", "add", USER, "--role", "PRIP_USER", "--password-stdin"], PASSWORD + "\n")):
        result = runner.invoke(cli_main, ["-c", str(ini), *args], input=given, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    content = os.urandom(SIZE)
    settings = read_settings(str(ini))
    storage = load_storage(settings)
    try:
        product = storage.add_product(store_product_file(load_archive(settings), content, name="S2B_BIG.zip"))
    finally:
        storage.close()
    return ini, port, product, content


def _start(ini: Path, port: int, tmpdir: Path, log: Path):
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "pyramid.scripts.pserve", str(ini)], stdout=out,
                                  stderr=subprocess.STDOUT, cwd=ini.parent, env={**os.environ, "TMPDIR": str(tmpdir)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            time.sleep(0.1)
    _stop(server)
    pytest.fail(f"the server did not start: {log.read_text()[-3000:]}")


def _stop(server) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


@pytest.mark.parametrize("runner", ["gunicorn", "waitress"])
def test_downloads_through_the_shipped_servers(site, tmp_path, runner):
    ini, port, product, content = site
    if runner == "waitress":  # make run's server: the same site with development.ini's runner
        text = ini.read_text(encoding="utf-8")
        head, _, rest = text.partition("\n[server:main]\n")
        ini = tmp_path / "waitress.ini"
        ini.write_text(head + "\n" + WAITRESS.format(port=port) + rest[rest.index("\n["):], encoding="utf-8")
    tmpdir = tmp_path / "server-tmp"
    tmpdir.mkdir()
    server = _start(ini, port, tmpdir, tmp_path / "server.log")
    url = f"http://127.0.0.1:{port}/proseo/prip/odata/v1/Products({product.id})/$value"
    archived = str(Path(load_archive(read_settings(str(ini))).local_path(product.archive_key)).resolve())
    try:
        workers = _children(server.pid) if runner == "gunicorn" else [server.pid]
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
                opened.update(_open_files(pid))
            spilled = [path for path in opened if path.startswith(str(tmpdir))]
            assert not spilled, spilled
            assert archived in opened, sorted(opened)  # streamed from the archive file itself
            if runner == "gunicorn":
                assert opened[archived] == 1, "the range was read, not sent with sendfile from offset 1"
            body += answer.raw.read()
        assert body == content[1:]
        assert not list(tmpdir.iterdir())
    finally:
        _stop(server)
    # gunicorn stops gracefully on SIGTERM; pserve's waitress has no handler for it
    assert server.returncode == (0 if runner == "gunicorn" else -signal.SIGTERM), (tmp_path / "server.log").read_text()[-3000:]
