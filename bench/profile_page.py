"""Server CPU of a PRIP page, in process (issue 12 item 4): the application of
:mod:`bench.http_catalogue` (same .ini settings) called as a WSGI application in
process -- no sockets, no HTTP parsing -- on the catalogue benchmark's PostgreSQL data.

Run (from the repository root)::

    .venv/bin/python -m bench.profile_page --products 3000            # CPU per request per shape
    .venv/bin/python -m bench.profile_page --products 3000 --profile  # + cProfile of each shape
    .venv/bin/python -m bench.profile_page --products 3000 --layers   # + CPU per layer of a request
    .venv/bin/python -m bench.profile_page --keep ...                 # leave the server running
    .venv/bin/python -m bench.profile_page --url URL ...              # a database kept before

For each shape (``--shapes``, names of :func:`bench.http_catalogue.shapes`) it runs the shape's
variants ``--rounds`` times and reports the process CPU (``time.process_time``) and wall time per
request, the SQL statements per request (``before_cursor_execute``) and the body size; with
``--profile`` the top of a cProfile of the same requests (``--top`` lines, by internal time and
by cumulative time); with ``--layers`` the CPU of this thread (``time.thread_time``) spent in
each layer of a request (:data:`LAYERS`: Pyramid's router as a whole, the pool's check-out and
check-in, authentication, the options, the storage call, SQLAlchemy's execution, psycopg's,
the page's text), so what a request costs above the driver is told apart by layer. The SQL
these requests run is PostgreSQL's CPU, not counted here.
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
import uuid
from typing import Iterator

from bench import catalogue as cat
from bench import http_catalogue as hc

DEFAULT_SHAPES = "top100,type_cloud_all,name,intersects"

#: ``--layers``: (label, module, attribute path) of each function timed; nested layers count in
#: their callers too.
LAYERS = (
    ("the whole request (Pyramid's router)", "pyramid.router", "Router.__call__"),
    ("pool check-out (`read_only`)", "proseo_odata.storage.sqlalchemy", "SQLAlchemyStorage.read_only"),
    ("pool check-in (`Connection.close`)", "sqlalchemy.engine.base", "Connection.close"),
    ("authentication (`require_role`)", "proseo_odata_web.prip.products", "require_role"),
    ("options (`collection_query`)", "proseo_odata_web.prip.products", "collection_query"),
    ("storage call (`query_product_texts`)", "proseo_odata.storage.sqlalchemy",
     "SQLAlchemyStorage.query_product_texts"),
    ("- SQLAlchemy's execution (`Connection.execute`)", "sqlalchemy.engine.base", "Connection.execute"),
    ("  - psycopg's execution (`Cursor.execute`)", "psycopg", "Cursor.execute"),
    ("- psycopg's fetch (`Cursor.fetchall`)", "psycopg", "Cursor.fetchall"),
    ("the page's text (`collection_text`, `product_text`, `json_response`)", "proseo_odata_web.prip.products",
     "collection_text product_text json_response"),
)


def owner_of(module_name: str, path: str) -> tuple[object, str]:
    """``(owner, name)`` of the attribute ``path`` (``Class.function`` or ``function``) of the
    module ``module_name``: what holds it (the module or the class) and its name there."""
    import importlib

    owner = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    return owner, name


def layer_functions() -> Iterator[tuple[str, object, str]]:
    """``(label, owner, name)`` of each function of :data:`LAYERS` (a module or a class and the
    function's name in it)."""
    for label, module_name, paths in LAYERS:
        for path in paths.split():
            yield (label, *owner_of(module_name, path))


def time_layers() -> dict:
    """Wrap each function of :data:`LAYERS` to add this thread's CPU time in it to the returned
    {label: nanoseconds} (for the rest of the process)."""
    import functools

    spent = dict.fromkeys((label for label, _, _ in LAYERS), 0)
    for label, owner, name in list(layer_functions()):
        function = getattr(owner, name)

        def timed(*args, _function=function, _label=label, **kwargs):
            start = time.thread_time_ns()
            try:
                return _function(*args, **kwargs)
            finally:
                spent[_label] += time.thread_time_ns() - start
        setattr(owner, name, functools.wraps(function)(timed))
    return spent


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
    parser.add_argument("--layers", action="store_true", help="CPU per layer of a request (LAYERS)")
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
        layers = {}
        spent = time_layers() if args.layers else None
        for key in args.shapes.split(","):
            _, visibility, variants = queries[key]
            headers = {"Authorization": f"Bearer {tokens[visibility]}"}
            paths = [f"{hc.PRIP}/Products?" + hc.query_string(p) for p in variants]
            run(app, headers, paths)  # warm-up: plans, caches, connections
            cpu, wall = [], []
            statements[0] = 0
            if spent is not None:
                spent.update(dict.fromkeys(spent, 0))
            size = 0
            for _ in range(args.rounds):
                c0, w0 = time.process_time(), time.perf_counter()
                size = run(app, headers, paths)
                cpu.append((time.process_time() - c0) * 1000 / len(paths))
                wall.append((time.perf_counter() - w0) * 1000 / len(paths))
            per = statements[0] / (args.rounds * len(paths))
            print(f"| {key} | {statistics.median(cpu):.2f} | {statistics.median(wall):.2f} | {per:.1f} | "
                  f"{size / len(paths) / 1024:.0f} |", flush=True)
            if spent is not None:  # the rounds measured, with the wrappers' own cost
                layers[key] = {label: ns / (args.rounds * len(paths)) / 1000 for label, ns in spent.items()}
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(args.rounds):
                    run(app, headers, paths)
                profiler.disable()
                profiles[key] = profiler
        if layers:
            keys = list(layers)
            print("\nCPU of the request's thread per layer, us per request (nested layers count in their callers too):\n")
            print("| layer | " + " | ".join(keys) + " |")
            print("|---|" + "---:|" * len(keys))
            for label, _, _ in LAYERS:
                print(f"| {label} | " + " | ".join(f"{layers[k][label]:.0f}" for k in keys) + " |")
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
