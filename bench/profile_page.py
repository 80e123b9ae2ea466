"""Server CPU of a PRIP page, in process (issue 12 item 4): the application of
:mod:`bench.http_catalogue` (same .ini settings) called as a WSGI application in
process -- no sockets, no HTTP parsing -- on the catalogue benchmark's PostgreSQL data.

Run (from the repository root)::

    .venv/bin/python -m bench.profile_page --products 3000            # CPU per request per shape
    .venv/bin/python -m bench.profile_page --products 3000 --profile  # + cProfile of each shape
    .venv/bin/python -m bench.profile_page --keep ...                 # leave the server running
    .venv/bin/python -m bench.profile_page --url URL ...              # a database kept before

For each shape (``--shapes``, names of :func:`bench.http_catalogue.shapes`) it runs the shape's
variants ``--rounds`` times and reports the process CPU (``time.process_time``) and wall time per
request, the SQL statements per request (``before_cursor_execute``) and the body size; with
``--profile`` the top of a cProfile of the same requests (``--top`` lines, by internal time and
by cumulative time). The SQL these requests run is PostgreSQL's CPU, not counted here.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid

from bench import catalogue as cat
from bench import http_catalogue as hc

DEFAULT_SHAPES = "top100,type_cloud_all,name,intersects"


def prepare(args) -> tuple:
    """(server or None, url): a throwaway server with ``--products`` products and the users."""
    if args.url:
        return None, args.url
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    server = cat._make_server()
    cat.log("starting PostgreSQL")
    server.start()
    _, url = cat.create_database(server.url, "proseo_profile")
    storage = SQLAlchemyStorage.from_url(url)
    storage.initialize_schema()
    cat.log(f"loading {args.products:,} products")
    cat.load(url, args.products, args.seed)
    cat.finish_load(url, own_server=True)
    hc.add_users(storage)
    storage.close()
    return server, url


def application(url: str, workdir: str):
    import webtest
    from pyramid.paster import get_app

    ini = os.path.join(workdir, "profile.ini")
    with open(ini, "w", encoding="utf-8") as handle:
        handle.write(hc.INI.format(url=url, archive=os.path.join(workdir, "archive"), mission=cat.MISSION,
                                   secret=uuid.uuid4().hex))
    return webtest.TestApp(get_app(ini))


def token(app, user: str) -> str:
    response = app.post(hc.TOKEN_PATH, {"grant_type": "password", "username": f"{cat.MISSION}\\{user}",
                                        "password": hc.PASSWORD})
    return response.json["access_token"]


def run(app, headers, paths) -> int:
    """The WSGI application called directly (WebTest's checks and response parsing would be
    counted as the server's CPU otherwise); the body bytes returned."""
    from webob import Request

    size = 0
    for path in paths:
        response = Request.blank(path, headers=headers).get_response(app.app)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status} for {path}: {response.body[:300]!r}")
        size += len(response.body)
    return size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_page", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the variants per measurement")
    parser.add_argument("--shapes", default=DEFAULT_SHAPES)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--url", help="a database prepared before (--keep), instead of a new server")
    parser.add_argument("--keep", action="store_true", help="leave the server and its data running")
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    server, url = prepare(args)
    workdir = tempfile.mkdtemp(prefix="proseo-profile-")
    try:
        app = application(url, workdir)
        tokens = {v: token(app, user) for v, (user, _) in hc.USERS.items()}
        tiles = cat.Generator(args.seed).tiles
        queries = hc.shapes(args.products, args.variants, args.seed, tiles)
        statements = [0]

        def count(*_):
            statements[0] += 1
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
        print(f"load average {os.getloadavg()[0]:.2f}; {args.products:,} products; "
              f"{args.variants} variants x {args.rounds} rounds per shape", flush=True)
        print("| shape | CPU ms/request | wall ms/request | statements/request | KiB |")
        print("|---|---:|---:|---:|---:|")
        profiles = {}
        for key in args.shapes.split(","):
            _, visibility, variants = queries[key]
            headers = {"Authorization": f"Bearer {tokens[visibility]}"}
            paths = [f"{hc.PRIP}/Products?" + urllib.parse.urlencode(p, quote_via=urllib.parse.quote)
                     for p in variants]
            run(app, headers, paths)  # warm-up: plans, caches, connections
            cpu, wall = [], []
            statements[0] = 0
            size = 0
            for _ in range(args.rounds):
                c0, w0 = time.process_time(), time.perf_counter()
                size = run(app, headers, paths)
                cpu.append((time.process_time() - c0) * 1000 / len(paths))
                wall.append((time.perf_counter() - w0) * 1000 / len(paths))
            per = statements[0] / (args.rounds * len(paths))
            print(f"| {key} | {statistics.median(cpu):.2f} | {statistics.median(wall):.2f} | {per:.1f} | "
                  f"{size / len(paths) / 1024:.0f} |", flush=True)
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(args.rounds):
                    run(app, headers, paths)
                profiler.disable()
                profiles[key] = profiler
        for key, profiler in profiles.items():
            for order in ("tottime", "cumulative"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
                print(f"\n## {key}: by {order}\n{out.getvalue()}")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if server is not None:
            if args.keep:
                print(f"kept: --url {url}  (stop: pg_ctl -D {server.datadir} stop)", file=sys.stderr)
            else:
                server.stop()


if __name__ == "__main__":
    sys.exit(main())
