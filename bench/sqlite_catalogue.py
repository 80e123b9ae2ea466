"""The embedded SQLite default through HTTP: each query shape with and without planner statistics,
or with and without the spatial index.

Run (from the repository root)::

    .venv/bin/python -m bench.sqlite_catalogue --products 100000 [--variants 10] [--compare extents]

N products of ``bench.catalogue``'s generator (the 1M catalogue's distributions: product types,
footprints, attributes) are stored in a new SQLite database by ``add_products`` (as a bulk ingest
writes them, without its statistics refresh), and the file is copied; the copy gets the planner
statistics a bulk ingest gives it (``refresh_statistics``: ``ANALYZE`` under ``PRAGMA
analysis_limit``). Two waitress servers (``bench.http_catalogue``'s application and users):

* ``--compare statistics``: one on each file;
* ``--compare extents`` (the default): both on the copy, the first told never to look areas up in
  the R*Tree of footprint extents (migration 0012; ``EXTENT_CANDIDATES_LIMIT = 0``), as before
  it, the second as shipped.

Every shape of ``bench.http_catalogue`` except the counts per visibility class is asked of both
servers in turn, each variant twice on each (the first answer is a warm-up), plus, with
``--compare extents``, ``intersects_count`` (the same areas with ``$count=true``) and
``intersects_world`` (an area around the whole catalogue, whose page the index must not slow
down). It prints, per shape, the median and p95 through HTTP of both and their ratio.
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


#: The server without the spatial index: areas never looked up in the R*Tree.
_NO_EXTENTS = ("from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage\n"
               "SQLAlchemyStorage.EXTENT_CANDIDATES_LIMIT = 0")

#: An area around every footprint of the generator (the whole lon/lat plane).
_WORLD = "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((-180 -90,180 -90,180 90,-180 90,-180 -90))')"


def _area_shapes(intersects):
    """``intersects_count``: the ``intersects`` shape's areas with ``$count=true``;
    ``intersects_world``: a page of the whole plane, as often as the others."""
    _, visibility, variants = intersects
    counted = [[*pairs, ("$count", "true")] for pairs in variants]
    world = [[(key, _WORLD if key == "$filter" else value) for key, value in variants[0]]] * len(variants)
    return {"intersects_count": ("the same areas, `$count=true`", visibility, counted),
            "intersects_world": ("`Intersects` of the whole plane", visibility, world)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_catalogue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compare", choices=("extents", "statistics"), default="extents")
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
        if args.compare == "statistics":
            setups = (("without", plain, ""), ("with", analysed, ""))
        else:
            setups = (("without", analysed, _NO_EXTENTS), ("with", analysed, ""))
        for label, path, prelude in setups:
            folder = os.path.join(workdir, label)
            os.makedirs(os.path.join(folder, "archive"))
            process, port = hc.start_app(f"sqlite:///{path}", 4, folder, prelude)
            servers.append(process)
            ports[label] = port
        clients = {label: hc.Client(port) for label, port in ports.items()}
        tokens = {label: {v: hc.token(client, user) for v, (user, _) in hc.USERS.items()}
                  for label, client in clients.items()}
        shapes = {key: value for key, value in hc.shapes(args.products, args.variants, args.seed, generator.tiles).items()
                  if not key.startswith(("count_restricted", "count_all", "count_s2_restricted", "count_s2_all"))}
        if args.compare == "extents":
            shapes.update(_area_shapes(shapes["intersects"]))
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
              f"`python -m bench.sqlite_catalogue --products {args.products} --variants {args.variants} "
              f"--compare {args.compare}`\n")
        print(f"{args.products:,} products on SQLite, two waitress servers (4 threads), "
              f"{args.variants} variants per shape, each asked twice of each server in turn.\n")
        what = "statistics" if args.compare == "statistics" else "the spatial index"
        print(f"| shape | user | without {what}: median / p95 ms | with: median / p95 ms | median without / with |")
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
