"""Downloads of a 1 GiB file through the shipped servers against nginx (issue 12, the Range row).

    python -m bench.downloads [--size-mib 1024] [--rounds 5] [--rss-downloads 100] [--no-waitress]
                              [--no-copying]

One site is made from ``production.ini`` (SQLite, an archive folder in a temporary directory,
127.0.0.1) holding one product whose file is SIZE MiB of random bytes. Four servers serve it:

* **gunicorn**: ``pserve`` on the site's .ini as shipped (``egg:proseo-odata#gunicorn``, 2 gthread
  workers), the real PRIP route ``Products(<id>)/$value`` with Basic authentication; the file
  goes out with ``sendfile`` from the archive file's descriptor;
* **gunicorn, sendfile = false**: the same with gunicorn's ``sendfile`` setting off: the worker
  reads the file in the download view's blocks and writes them to the socket;
* **waitress** (reference, ``make run``'s server): the same .ini with development.ini's runner;
* **nginx**: the archived file itself, a throwaway nginx on 127.0.0.1 with its own config in the
  temporary directory (``sendfile on``, 2 workers); skipped with a message when ``nginx`` is not
  installed (``apt-get install nginx-light``).

``curl`` downloads to ``/dev/null`` (its ``speed_download``; the application servers with a
bearer token from the service's ``/token``, so no password hashing runs on the way), the whole
file and ``Range: bytes=1-``, in interleaved rounds (the server order rotates every round, so a change of load on
the shared machine hits every server); the table gives medians in GB/s (10^9 bytes/s) and the
ratio to nginx in the same run. Then the resident memory (VmRSS) of each application server's
worker processes before, after the first 10 and after RSS-DOWNLOADS ranged downloads
(``bytes=1-``) one after the other, with every 10th value. The helpers that make the site and run the servers are shared with
``tests/web/test_production_server.py``.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.soak import derive_ini, free_port

USER, PASSWORD = "TEST\\alice", "alice-pw"
MIB = 1024 * 1024
WAITRESS = "[server:main]\nuse = egg:proseo-odata#waitress\nlisten = 127.0.0.1:{port}\nthreads = 8\n"


def make_site(folder: Path, data, name: str = "S2B_BIG.zip"):
    """An initialised site from production.ini in ``folder`` with one product whose file is
    ``data`` (bytes, or the path of a file): ``(ini, port, product)``."""
    from click.testing import CliRunner

    from proseo_odata.archive import load_archive
    from proseo_odata.archive.testing import store_product_file
    from proseo_odata.cli import main as cli_main
    from proseo_odata.cli import read_settings
    from proseo_odata.storage import load_storage

    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
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
        if result.exit_code != 0:
            raise RuntimeError(f"proseo-odata {' '.join(args)}: {result.output}")
    settings = read_settings(str(ini))
    storage = load_storage(settings)
    try:
        product = storage.add_product(store_product_file(load_archive(settings), data, name=name))
    finally:
        storage.close()
    return ini, port, product


def _server_section(ini: Path) -> tuple[str, str, str]:
    """``ini``'s text before its ``[server:main]`` section, the section's lines, and the rest."""
    head, _, rest = ini.read_text(encoding="utf-8").partition("\n[server:main]\n")
    return head, rest[:rest.index("\n[")], rest[rest.index("\n["):]


def waitress_ini(ini: Path, port: int, target: Path) -> Path:
    """``ini`` with its ``[server:main]`` replaced by ``make run``'s waitress runner."""
    head, _, rest = _server_section(ini)
    target.write_text(head + "\n" + WAITRESS.format(port=port) + rest, encoding="utf-8")
    return target


def copying_gunicorn_ini(ini: Path, port: int, target: Path) -> Path:
    """``ini`` (production.ini's gunicorn) listening on ``port`` with gunicorn's ``sendfile = false``:
    the worker reads the file in ``BLOCK_SIZE`` blocks and writes them to the socket."""
    head, section, rest = _server_section(ini)
    section = re.sub(r"^listen\s*=.*$", f"listen = 127.0.0.1:{port}", section, count=1, flags=re.MULTILINE)
    target.write_text(f"{head}\n[server:main]\n{section}\nsendfile = false\n{rest}", encoding="utf-8")
    return target


def archived_path(ini: Path, product) -> str:
    from proseo_odata.archive import load_archive
    from proseo_odata.cli import read_settings

    return str(Path(load_archive(read_settings(str(ini))).local_path(product.archive_key)).resolve())


def start_server(ini: Path, port: int, log: Path, env: dict | None = None) -> subprocess.Popen:
    """``pserve ini`` until ``/healthz`` answers (RuntimeError with the log's end if it does not)."""
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "pyramid.scripts.pserve", str(ini)], stdout=out,
                                  stderr=subprocess.STDOUT, cwd=ini.parent, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"the server did not start: {log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers of its master)."""
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


def open_files(pid: int) -> dict[str, int]:
    """path -> descriptor position of the files ``pid`` has open."""
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


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


NGINX_CONF = """\
worker_processes 2;
daemon off;
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}; }}
    }}
}}
"""


def start_nginx(folder: Path, root: Path, port: int):
    """A throwaway nginx serving ``root`` on 127.0.0.1:``port``; None when nginx is missing."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if binary is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, root=root, port=port,
                                      user="user root;" if os.geteuid() == 0 else ""), encoding="utf-8")
    server = subprocess.Popen([binary, "-p", str(folder), "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and server.poll() is None:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
            return server
        except requests.RequestException:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"nginx did not start: {(folder / 'error.log').read_text()[-2000:]}")


def bearer_token(base: str) -> str:
    """A PRIP bearer token of the site's user (a JWT: checked without the password's scrypt)."""
    answer = requests.post(f"{base}/proseo/prip/v1/token", timeout=60,
                           data={"grant_type": "password", "username": USER, "password": PASSWORD})
    answer.raise_for_status()
    return answer.json()["access_token"]


def curl(url: str, *, ranged: bool, token: str | None) -> float:
    """One download to /dev/null: bytes per second, as curl measured it."""
    command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{speed_download}", url]
    if ranged:
        command += ["-H", "Range: bytes=1-"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    status, size, speed = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout.split()
    expected = "206" if ranged else "200"
    if status != expected:
        raise RuntimeError(f"{url}: HTTP {status}, expected {expected}")
    return float(speed)


def make_file(path: Path, size_mib: int) -> None:
    with open(path, "wb") as out:
        block = os.urandom(MIB)
        for index in range(size_mib):
            out.write(block[index % 256:] + block[:index % 256])  # no two blocks alike


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rss-downloads", type=int, default=100)
    parser.add_argument("--no-waitress", action="store_true", help="leave out the waitress reference")
    parser.add_argument("--no-copying", action="store_true",
                        help="leave out gunicorn with sendfile = false (production.ini's server copying the file)")
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        raise SystemExit("bench.downloads needs curl")

    folder = Path(tempfile.mkdtemp(prefix="bench-downloads-"))
    servers: dict[str, subprocess.Popen] = {}
    try:
        source = folder / "source.bin"
        make_file(source, args.size_mib)
        ini, port, product = make_site(folder / "site", source)
        source.unlink()
        path = archived_path(ini, product)
        archive_root = Path(path).parents[2]
        app_path = f"/proseo/prip/odata/v1/Products({product.id})/$value"
        urls = {"gunicorn": f"http://127.0.0.1:{port}{app_path}"}
        servers["gunicorn"] = start_server(ini, port, folder / "gunicorn.log")
        if not args.no_copying:
            copying_port = free_port()
            servers["gunicorn, sendfile = false"] = start_server(
                copying_gunicorn_ini(ini, copying_port, folder / "site" / "copying.ini"), copying_port,
                folder / "copying.log")
            urls["gunicorn, sendfile = false"] = f"http://127.0.0.1:{copying_port}{app_path}"
        if not args.no_waitress:
            waitress_port = free_port()
            servers["waitress"] = start_server(waitress_ini(ini, waitress_port, folder / "site" / "waitress.ini"),
                                               waitress_port, folder / "waitress.log")
            urls["waitress"] = f"http://127.0.0.1:{waitress_port}{app_path}"
        nginx_port = free_port()
        nginx = start_nginx(folder / "nginx", archive_root, nginx_port)
        if nginx is None:
            print("nginx is not installed: no nginx reference (apt-get install nginx-light)")
        else:
            servers["nginx"] = nginx
            urls["nginx"] = f"http://127.0.0.1:{nginx_port}/{Path(path).relative_to(archive_root)}"

        names = list(urls)
        tokens = {name: bearer_token(urls[name].split("/proseo/")[0]) for name in names if name != "nginx"}
        speeds: dict[tuple[str, str], list[float]] = {(n, v): [] for n in names for v in ("whole", "range")}
        for name in names:  # warm-up: the page cache
            curl(urls[name], ranged=False, token=tokens.get(name))
        for round_ in range(args.rounds):
            order = names[round_ % len(names):] + names[:round_ % len(names)]
            for name in order:
                for variant in (("whole", "range") if round_ % 2 == 0 else ("range", "whole")):
                    speeds[(name, variant)].append(curl(urls[name], ranged=variant == "range", token=tokens.get(name)))

        print(f"\nmachine: {platform.node()}, nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; "
              f"file {args.size_mib} MiB; {args.rounds} interleaved rounds; medians in GB/s")
        print("| server | whole file | ratio to nginx | `Range: bytes=1-` | ratio to nginx |")
        print("|---|---:|---:|---:|---:|")
        for name in names:
            cells = []
            for variant in ("whole", "range"):
                median = statistics.median(speeds[(name, variant)]) / 1e9
                reference = speeds.get(("nginx", variant))
                ratio = f"{median / (statistics.median(reference) / 1e9):.2f}x" if reference else "-"
                cells += [f"{median:.2f}", ratio]
            print(f"| {name} | " + " | ".join(cells) + " |")

        if args.rss_downloads < 1:
            return
        print(f"\nRSS of the server's worker processes (MiB, summed) over {args.rss_downloads} downloads of "
              "`Range: bytes=1-` one after the other, every 10th:")
        print("| server | processes | before | after 10 | after all | change after the first 10 | every 10th |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name in ("gunicorn", "gunicorn, sendfile = false", "waitress"):
            if name not in servers:
                continue
            pids = [servers[name].pid] if name == "waitress" else children(servers[name].pid)
            series = [sum(rss_mib(pid) for pid in pids)]
            for count in range(1, args.rss_downloads + 1):
                curl(urls[name], ranged=True, token=tokens[name])
                if count % 10 == 0 or count == args.rss_downloads:
                    series.append(sum(rss_mib(pid) for pid in pids))
            after_10 = series[1]
            print(f"| {name} | {len(pids)} | {series[0]:.1f} | {after_10:.1f} | {series[-1]:.1f} | "
                  f"{series[-1] - after_10:+.1f} | {' '.join(f'{value:.0f}' for value in series)} |")
    finally:
        for server in servers.values():
            stop_server(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
