"""Request latency through HTTP, one source tree against another, on the same catalogue.

Run (from the repository root)::

    .venv/bin/python -m bench.http_query                       # 20,000 products, main at 974314b
    .venv/bin/python -m bench.http_query --products 50000 --rounds 9 --baseline <commit>

What it does:

1. Extracts the baseline commit (``--baseline``, default 974314b: main before issue 11) with
   ``git archive`` into a scratch folder; the other tree is this checkout.
2. Makes a SQLite catalogue with the *baseline's* CLI (``initdb``, a mission, a PRIP user) and
   loads ``--products`` products of ``bench.catalogue.Generator`` (Sentinel-1/2/3/5P names,
   dates, footprints, 8-10 typed attributes, visibility) with its ``add_products``; a copy of the
   file is brought to this tree's schema with this tree's ``initdb`` (a no-op while the schemas
   are equal).
3. Starts one waitress server per variant, each in its own process with its tree first on
   ``PYTHONPATH`` and the same .ini settings (4 threads, 127.0.0.1, free ports):
   ``before`` (the baseline), ``after`` (this tree; lark-cython when installed, the ``fast``
   extra) and ``after-lark`` (this tree with lark-cython hidden: Lark's own parser).
4. Sends the contract's client filter shapes (``bench.__main__.QUERIES``: attribute lambdas of
   every type, name functions, the content-date window, Intersects) as ``GET /Products`` with
   ``$filter``, ``$top=20``, ``$orderby=ContentDate/Start desc`` and ``$expand=Attributes``
   (``--light``: ``$top=20`` only), in two modes: ``repeated`` (the same text every time: a polling client, the filter cache
   hits) and ``unique`` (another literal every request: every text is new). The variants are
   interleaved request by request in a shuffled order (the machine is shared), for ``--rounds``
   rounds; every response's product ids are compared across variants.

Prints a Markdown table (median and p95 per mode and variant, the ratio to ``before``) with the
machine, the date and the command, for bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from live_server import free_port  # tests/ is on the path: bench/__init__.py

import requests

from bench.__main__ import QUERIES
from bench.catalogue import MISSION, log, machine, percentile

REPO = Path(__file__).resolve().parents[1]
PRIP = "/proseo/prip/odata/v1"
USER, PASSWORD = "bench", "bench-password"
TOKEN_SECRET = "http-query-bench-secret-0123456789abcdef"

LOADER = """
import sys
from bench.catalogue import Generator, as_product
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

url, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
storage = SQLAlchemyStorage.from_url(url)
generator = Generator(seed)
done = 0
while done < n:
    size = min(2000, n - done)
    storage.add_products([as_product(generator.product()) for _ in range(size)])
    done += size
storage.close()
print(done)
"""

SERVER = """
import sys
import waitress
from pyramid.paster import get_app

app = get_app(sys.argv[1], "main")
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[2]), threads=4, _quiet=True)
"""

INI = """\
[app:main]
use = egg:proseo-odata
pyramid.includes = pyramid_tm
proseo.storage.backend = proseo_odata.storage.sqlalchemy
proseo.storage.url = sqlite:///{db}
proseo.archive.backend = proseo_odata.archive.local
proseo.archive.path = {archive}
proseo.prip.prefix = {prip}
proseo.odip.prefix = /proseo/odip/odata/v1
proseo.page_size.default = 100
proseo.page_size.max = 1000
proseo.token.secret = {secret}
proseo.secrets.key = 6bqS3mB2kNwQ0yH1vH6l4WcZfG9sYpJtR2uA8eLxK0c=
proseo.workers = 0
"""


def _env(*paths: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    return env


def _cli(tree_path: list, ini: Path, *args, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", "from proseo_odata.cli import main; main()", "-c", str(ini), *args],
                            env=_env(*tree_path), input=stdin, capture_output=True, text=True, timeout=600)
    if result.returncode:
        raise RuntimeError(f"proseo-odata {' '.join(args)}: {result.stderr or result.stdout}")
    return result.stdout


def extract(commit: str, into: Path) -> Path:
    """The tree of ``commit`` (git archive) in ``into``."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as archive:
        archive.extractall(into, filter="tar")
    return into


def make_catalogue(before: Path, work: Path, products: int, seed: int) -> tuple:
    """Baseline-made SQLite catalogue and its upgraded copy: ``(before ini, after ini)``."""
    inis = []
    for name in ("before", "after"):
        ini = work / f"{name}.ini"
        ini.write_text(INI.format(db=work / f"{name}.sqlite", archive=work / "archive", prip=PRIP,
                                  secret=TOKEN_SECRET), encoding="utf-8")
        inis.append(ini)
    _cli([before], inis[0], "initdb")
    _cli([before], inis[0], "mission", "add", MISSION)
    _cli([before], inis[0], "user", "add", f"{MISSION}\\{USER}", "--role", "PRIP_USER", "--password-stdin",
         stdin=PASSWORD + "\n")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", LOADER, f"sqlite:///{work / 'before.sqlite'}", str(products),
                             str(seed)], env=_env(before), capture_output=True, text=True, timeout=3600)
    if result.returncode:
        raise RuntimeError(f"loading products: {result.stderr}")
    log(f"loaded {products:,} products in {time.perf_counter() - started:.0f} s")
    shutil.copyfile(work / "before.sqlite", work / "after.sqlite")
    _cli([REPO], inis[1], "initdb")
    return inis[0], inis[1]


class Server:
    def __init__(self, name: str, paths: list, ini: Path):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{PRIP}"
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(ini), str(self.port)], env=_env(*paths),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait(self, session, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                if session.get(self.url + "/", timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} server did not answer in {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: the options sent with every filter (``--light``: ``$top`` only, so the database does less)
EXTRA = {"$top": "20", "$orderby": "ContentDate/Start desc", "$expand": "Attributes"}


def requests_of(mode: str, count: int, round_: int, extra: dict = EXTRA) -> list:
    """``count`` query-parameter dicts: every client filter shape in turn."""
    out = []
    for i in range(count):
        template = QUERIES[i % len(QUERIES)]
        n = 7 if mode == "repeated" else 10 + i + 1000 * round_  # unique: another literal each time
        out.append({"$filter": template.replace("{n}", str(n)), **extra})
    return out


def measure(servers: list, rounds: int, per_round: int, seed: int, extra: dict = EXTRA) -> dict:
    """``{(mode, variant): [ms, ...]}``, the variants interleaved request by request."""
    rng = random.Random(seed)
    timings = {}
    sessions = {}
    for server in servers:
        session = requests.Session()
        session.auth = (f"{MISSION}\\{USER}", PASSWORD)
        sessions[server.name] = session
    for mode in ("repeated", "unique"):
        for server in servers:  # warm up: imports, the parser, the database cache
            for params in requests_of(mode, len(QUERIES), rounds + 1, extra):
                sessions[server.name].get(server.url + "/Products", params=params, timeout=120).raise_for_status()
        for r in range(rounds):
            for params in requests_of(mode, per_round, r, extra):
                order = list(servers)
                rng.shuffle(order)
                ids = {}
                for server in order:
                    session = sessions[server.name]
                    started = time.perf_counter()
                    response = session.get(server.url + "/Products", params=params, timeout=120)
                    elapsed = (time.perf_counter() - started) * 1000
                    response.raise_for_status()
                    ids[server.name] = [p["Id"] for p in response.json()["value"]]
                    timings.setdefault((mode, server.name), []).append(elapsed)
                if len({tuple(v) for v in ids.values()}) != 1:
                    raise AssertionError(f"the variants answer {params} differently: {ids}")
            log(f"  {mode}: round {r + 1}/{rounds}")
    for session in sessions.values():
        session.close()
    return timings


def report(args, timings: dict, names: list) -> str:
    info = machine()
    lines = [
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']}; load average "
        f"{os.getloadavg()[0]:.1f} at the end. {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Command: `python -m bench.http_query --products {args.products} --rounds {args.rounds} "
        f"--per-round {args.per_round} --baseline {args.baseline}{' --light' if args.light else ''}`",
        "",
        "| mode | variant | requests | median ms | p95 ms | median vs before | p95 vs before |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for mode in ("repeated", "unique"):
        base = timings[(mode, "before")]
        base_median, base_p95 = statistics.median(base), percentile(base, 95)
        for name in names:
            values = timings[(mode, name)]
            median, p95 = statistics.median(values), percentile(values, 95)
            lines.append(f"| {mode} | {name} | {len(values)} | {median:.2f} | {p95:.2f} | "
                         f"{median / base_median:.3f} | {p95 / base_p95:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=2 * len(QUERIES))
    parser.add_argument("--baseline", default="974314b")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--light", action="store_true", help="send $top=20 only with each filter (no $orderby, "
                        "no $expand): less database work, so the query core's share is larger")
    parser.add_argument("--workdir", help="scratch folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="proseo-http-query-"))
    servers = []
    try:
        before = extract(args.baseline, work / "before-tree")
        hidden = work / "no-lark-cython" / "lark_cython"  # shadows the installed package
        hidden.mkdir(parents=True)
        (hidden / "__init__.py").write_text('raise ImportError("hidden by bench.http_query")\n', encoding="utf-8")
        before_ini, after_ini = make_catalogue(before, work, args.products, args.seed)
        servers = [Server("before", [before], before_ini), Server("after", [REPO], after_ini),
                   Server("after-lark", [hidden.parent, REPO], after_ini)]
        with requests.Session() as probe:
            probe.auth = (f"{MISSION}\\{USER}", PASSWORD)
            for server in servers:
                server.wait(probe)
        timings = measure(servers, args.rounds, args.per_round, args.seed, {"$top": "20"} if args.light else EXTRA)
        print(report(args, timings, [s.name for s in servers]))
    finally:
        for server in servers:
            server.stop()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
