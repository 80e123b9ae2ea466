"""``proseo-odata export`` of a large catalogue: products per second, CPU, memory.

Run (from the repository root), on a catalogue kept by ``bench.catalogue --data-dir`` (its
database URL) or any other::

    .venv/bin/python -m bench.export --url postgresql+psycopg://... --mission BENCH [--limit N]

:func:`proseo_odata.export.export_products` -- what the command runs -- writes the mission's
products into a temporary file (removed at the end); the benchmark reports the lines written,
their mean size, the wall time, the rate, the CPU of this process per product and its peak RSS
(flat: pages of 1,000 products). ``--limit`` stops after N lines. The database server's CPU is
not counted (``--url`` may name a server elsewhere).
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

from bench.catalogue import machine


class _Enough(Exception):
    pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the catalogue's SQLAlchemy database URL")
    parser.add_argument("--mission", default="BENCH")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many lines (1 or more)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit takes 1 or more")

    from proseo_odata.export import export_products
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    storage = SQLAlchemyStorage.from_url(args.url)
    lines = size = 0
    handle, path = tempfile.mkstemp(prefix="proseo-bench-export-", suffix=".jsonl")
    try:
        with os.fdopen(handle, "wb") as out:
            def write(line: bytes) -> None:
                nonlocal lines, size
                out.write(line)
                lines, size = lines + 1, size + len(line)
                if args.limit is not None and lines >= args.limit:
                    raise _Enough

            wall, cpu = time.perf_counter(), time.process_time()
            try:
                export_products(storage, args.mission, write)
            except _Enough:
                pass
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        storage.close()
        os.remove(path)
    info = machine()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Date: {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC. Machine: nproc = {info['nproc']}, "
          f"CPU `{info['cpu']}`, {info['memory']} RAM, Python {info['python']}; load average {os.getloadavg()[0]:.2f}.")
    if not lines:
        print("no product exported")
        return 1
    print(f"{lines:,} lines, {size / lines:,.0f} bytes a line, {wall:.1f} s, {lines / wall:,.0f} products/s, "
          f"{cpu / lines * 1e6:.0f} µs of CPU per product (this process), peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
