"""The fixed cost of a request, in process (issue 12 item 4): server CPU per request of the
smallest PRIP requests, where nothing is left but what every request pays (routing, tweens, the
bearer token and its user, the transaction, building and running the statement, the page's JSON).

Run (from the repository root)::

    .venv/bin/python -m bench.request_floor --products 3000          # own throwaway PostgreSQL
    .venv/bin/python -m bench.request_floor --url URL                # a kept one (bench.profile_page --keep)
    .venv/bin/python -m bench.request_floor --url URL --against DIR  # interleaved with another checkout

The application of :mod:`bench.http_catalogue` (same .ini settings, bearer tokens of its
``PUBLIC`` user) is called as a WSGI application in process (:func:`bench.profile_page.run`: no
sockets, no HTTP parsing). For each request (:data:`REQUESTS`) it reports the median of
``--rounds`` measurements of ``--requests`` requests: process CPU (``time.process_time``) and wall
time per request, and the SQL statements per request. With ``--against DIR`` the same
measurements run in a child process on the source tree ``DIR`` (``PYTHONPATH=DIR``; for example a
``git worktree`` of the commit before), round by round in turn with this tree's, and the table
gets their ratio: the two applications share the database, the machine and its load.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

#: name -> path under the PRIP root (``{id}``: a product the user may read).
REQUESTS = {
    "top1_select_id": "/Products?%24top=1&%24select=Id",
    "top1": "/Products?%24top=1",
    "skip1_select_id": "/Products?%24top=1&%24skip=1&%24select=Id",
    "count": "/Products/$count",
    "single": "/Products({id})",
    "top100": "/Products?%24top=100",
    "service_document": "/",
}


def _measure(url: str, rounds: int, requests: int, names: list) -> dict:
    """name -> {"cpu": [ms...], "wall": [ms...], "statements": n} for ``rounds`` rounds (this tree)."""
    import sqlalchemy as sa

    from bench import http_catalogue as hc
    from bench import profile_page as pp

    app = pp.application(url, tempfile.mkdtemp(prefix="proseo-floor-"))
    headers = {"Authorization": f"Bearer {pp.token(app, hc.USERS['public'][0])}"}
    first = app.get(hc.PRIP + "/Products?$top=1&$select=Id", headers=headers).json["value"][0]["Id"]
    statements = [0]
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", lambda *_: statements.__setitem__(0, statements[0] + 1))
    results = {}
    for name in names:
        paths = [hc.PRIP + REQUESTS[name].format(id=first)] * requests
        for _ in range(3):
            pp.run(app, headers, paths)  # warm-up: caches, prepared statements, pooled connections
        statements[0] = 0
        cpu, wall = [], []
        for _ in range(rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            pp.run(app, headers, paths)
            cpu.append((time.process_time() - c0) * 1000 / requests)
            wall.append((time.perf_counter() - w0) * 1000 / requests)
        results[name] = {"cpu": cpu, "wall": wall, "statements": statements[0] / (rounds * requests)}
    return results


def _child(args) -> int:
    print(json.dumps(_measure(args.url, args.rounds, args.requests, args.names.split(","))))
    return 0


def _other(tree: str, args, names: list) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tree, os.path.join(tree, "tests")]))
    # this file, run with the other tree first on the path: its proseo_odata and bench modules
    output = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", "--url", args.url, "--rounds", str(args.rounds),
         "--requests", str(args.requests), "--names", ",".join(names)],
        cwd=tree, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _self(args, names: list) -> dict:
    return _other(os.getcwd(), args, names)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--url", help="a database prepared before (bench.profile_page --keep)")
    parser.add_argument("--rounds", type=int, default=5, help="measurements per request and pass")
    parser.add_argument("--requests", type=int, default=100, help="requests per measurement")
    parser.add_argument("--passes", type=int, default=3, help="passes (with --against: each tree in turn)")
    parser.add_argument("--names", default=",".join(REQUESTS))
    parser.add_argument("--against", metavar="DIR", help="another source tree, measured in turn")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)

    from bench import profile_page as pp

    server = None
    if args.url is None:
        args.keep = False
        server, args.url = pp.prepare(argparse.Namespace(url=None, products=args.products, seed=args.seed))
    names = args.names.split(",")
    trees = {"this": None, "against": args.against} if args.against else {"this": None}
    merged = {tree: {name: {"cpu": [], "wall": [], "statements": 0.0} for name in names} for tree in trees}
    loads = []
    try:
        for _ in range(args.passes):
            for tree, path in trees.items():
                loads.append(os.getloadavg()[0])
                got = _self(args, names) if path is None else _other(path, args, names)
                for name, result in got.items():
                    merged[tree][name]["cpu"] += result["cpu"]
                    merged[tree][name]["wall"] += result["wall"]
                    merged[tree][name]["statements"] = result["statements"]
    finally:
        if server is not None:
            server.stop()
    print(f"load average {min(loads):.2f}-{max(loads):.2f}; {args.passes} passes x {args.rounds} rounds x "
          f"{args.requests} requests")
    head = "| request | CPU ms/request (median, p95 of rounds) | wall ms | statements |"
    if args.against:
        head += " CPU against | statements against | CPU ratio |"
    print(head)
    print("|---|---:|---:|---:|" + ("---:|---:|---:|" if args.against else ""))
    for name in names:
        this = merged["this"][name]
        cpu = statistics.median(this["cpu"])
        line = (f"| {name} | {cpu:.3f} ({_p95(this['cpu']):.3f}) | {statistics.median(this['wall']):.3f} | "
                f"{this['statements']:.1f} |")
        if args.against:
            other = merged["against"][name]
            other_cpu = statistics.median(other["cpu"])
            line += f" {other_cpu:.3f} ({_p95(other['cpu']):.3f}) | {other['statements']:.1f} | {cpu / other_cpu:.2f} |"
        print(line)
    return 0


def _p95(values: list) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


if __name__ == "__main__":
    sys.exit(main())
