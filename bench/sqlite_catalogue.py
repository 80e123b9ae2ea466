"""The embedded SQLite default through HTTP: each query shape with and without planner statistics.

Run (from the repository root)::

    .venv/bin/python -m bench.sqlite_catalogue --products 100000 [--variants 10]

N products of ``bench.catalogue``'s generator (the 1M catalogue's distributions: product types,
footprints, attributes) are stored in a new SQLite database by ``add_products`` (as a bulk ingest
writes them, without its statistics refresh), and the file is copied; the copy gets the planner
statistics a bulk ingest gives it (``refresh_statistics``: ``ANALYZE`` under ``PRAGMA
analysis_limit``). One waitress server per file (``bench.http_catalogue``'s application and
users); every shape of ``bench.http_catalogue`` except the counts per visibility class is asked of
both servers in turn, each variant twice on each (the first answer is a warm-up). It prints, per
shape, the median and p95 through HTTP of both and their ratio.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

from bench import catalogue as cat
from bench import http_catalogue as hc


def _percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_catalogue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.products < 1 or args.variants < 1:
        parser.error("--products and --variants take 1 or more")

    from proseo_odata.model import Mission
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    workdir = tempfile.mkdtemp(prefix="proseo-bench-sqlite-")
    servers = []
    try:
        plain = os.path.join(workdir, "plain.sqlite")
        storage = SQLAlchemyStorage.from_url(f"sqlite:///{plain}")
        storage.initialize_schema()
        storage.add_mission(Mission(cat.MISSION))
        hc.add_users(storage)
        generator = cat.Generator(args.seed)
        started = time.perf_counter()
        for first in range(0, args.products, 5000):
            storage.add_products([cat.as_product(generator.product()) for _ in range(min(5000, args.products - first))])
        cat.log(f"{args.products:,} products stored in {time.perf_counter() - started:.1f} s")
        storage.close()
        analysed = os.path.join(workdir, "analysed.sqlite")
        shutil.copyfile(plain, analysed)
        copy = SQLAlchemyStorage.from_url(f"sqlite:///{analysed}")
        started = time.perf_counter()
        assert copy.refresh_statistics(args.products)
        cat.log(f"statistics of the copy in {time.perf_counter() - started:.3f} s")
        copy.close()

        ports = {}
        for label, path in (("without", plain), ("with", analysed)):
            folder = os.path.join(workdir, label)
            os.makedirs(os.path.join(folder, "archive"))
            process, port = hc.start_app(f"sqlite:///{path}", 4, folder)
            servers.append(process)
            ports[label] = port
        clients = {label: hc.Client(port) for label, port in ports.items()}
        tokens = {label: {v: hc.token(client, user) for v, (user, _) in hc.USERS.items()}
                  for label, client in clients.items()}
        shapes = {key: value for key, value in hc.shapes(args.products, args.variants, args.seed, generator.tiles).items()
                  if not key.startswith(("count_restricted", "count_all", "count_s2_restricted", "count_s2_all"))}
        times = {key: {"without": [], "with": []} for key in shapes}
        for key, (_, visibility, variants) in shapes.items():
            for pairs in variants:
                for label in ("without", "with", "without", "with"):
                    begin = time.perf_counter()
                    clients[label].get(pairs, tokens[label][visibility])
                    times[key][label].append((time.perf_counter() - begin) * 1000)
            cat.log(f"{key}: median {statistics.median(times[key]['without']):.1f} / "
                    f"{statistics.median(times[key]['with']):.1f} ms")
        print(f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cat.machine()}; command: "
              f"`python -m bench.sqlite_catalogue --products {args.products} --variants {args.variants}`\n")
        print(f"{args.products:,} products on SQLite, one waitress server (4 threads) per database file, "
              f"{args.variants} variants per shape, each asked twice of each server in turn.\n")
        print("| shape | user | without statistics: median / p95 ms | with: median / p95 ms | median without / with |")
        print("|---|---|---:|---:|---:|")
        for key, (description, visibility, _) in shapes.items():
            without, with_ = times[key]["without"], times[key]["with"]
            print(f"| `{key}`: {description} | {visibility} | {statistics.median(without):.1f} / "
                  f"{_percentile(without, 95):.1f} | {statistics.median(with_):.1f} / {_percentile(with_, 95):.1f} | "
                  f"{statistics.median(without) / statistics.median(with_):.2f}x |")
        return 0
    finally:
        for process in servers:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
