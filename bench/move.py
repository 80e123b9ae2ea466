"""A catalogue moved from SQLite to PostgreSQL by ``export`` and ``ingest --manifest``, checked.

Run (from the repository root), with the manifest and archive ``bench.ingest --workdir DIR``
keeps (its reference lines register files of DIR/source by reference)::

    .venv/bin/python -m bench.move --workdir DIR --products 200000 [--pg-url ADMIN_URL]

1. The first N lines of DIR/reference-assigned.jsonl are ingested by reference into a new SQLite
   database (the embedded default's backend);
2. :func:`proseo_odata.export.export_products` writes the mission as a manifest;
3. that manifest is ingested by reference into a new database on PostgreSQL (the benchmark's
   own throwaway server, or ``--pg-url``'s, where it is dropped at the end);
4. every product of both databases is compared field by field (keyset pages by Id); any
   difference fails the run (exit status 1).

It prints the time of each step and the count of products compared and differing.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import shutil
import tempfile
import time

from bench.catalogue import _admin, _make_server, create_database, log


def _compare(first, second, mission: str) -> tuple[int, int]:
    """(products compared, products differing) of ``mission`` in two storages."""
    from proseo_odata.storage import BY_ID, Query

    token, compared, differing = None, 0, 0
    while True:
        query = Query(orderby=BY_ID, top=1000, skiptoken=token, expand=frozenset({"Attributes"}))
        a, b = first.query_products(mission, query), second.query_products(mission, query)
        if [p.id for p in a.items] != [p.id for p in b.items]:
            raise SystemExit(f"the databases hold other products after {compared} compared")
        for x, y in zip(a.items, b.items):
            x, y = dataclasses.replace(x, revision=0), dataclasses.replace(y, revision=0)
            if x != y:
                differing += 1
                if differing <= 3:
                    log(f"differs: {x.id}: " + ", ".join(f.name for f in dataclasses.fields(x)
                                                         if getattr(x, f.name) != getattr(y, f.name)))
        compared += len(a.items)
        token = a.next_skiptoken
        if token is None:
            return compared, differing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.move", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, help="a folder bench.ingest --workdir kept")
    parser.add_argument("--products", type=int, default=200_000)
    parser.add_argument("--pg-url", help="an existing PostgreSQL server (maintenance database URL)")
    args = parser.parse_args(argv)
    if args.products < 1:
        parser.error("--products takes 1 or more")
    manifest = os.path.join(args.workdir, "reference-assigned.jsonl")
    if not os.path.exists(manifest):
        parser.error(f"{manifest} is missing: run bench.ingest --mode reference --workdir {args.workdir} first")

    from psycopg import sql
    from sqlalchemy.engine import make_url

    from proseo_odata.archive.local import LocalArchive
    from proseo_odata.export import export_products
    from proseo_odata.ingest import ingest_manifest
    from proseo_odata.model import Mission
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    archive = LocalArchive(os.path.join(args.workdir, "source"))
    scratch = tempfile.mkdtemp(prefix="proseo-bench-move-")
    server = None
    try:
        lines = os.path.join(scratch, "lines.jsonl")
        with open(manifest, "rb") as source, open(lines, "wb") as out:
            out.writelines(itertools.islice(source, args.products))
        sqlite = SQLAlchemyStorage.from_url(f"sqlite:///{os.path.join(scratch, 'catalogue.sqlite')}")
        sqlite.initialize_schema()
        sqlite.add_mission(Mission("BENCH"))
        started = time.perf_counter()
        loaded = ingest_manifest(sqlite, archive, "BENCH", lines)
        log(f"SQLite: {loaded.ingested:,} products ingested by reference in {time.perf_counter() - started:.1f} s")
        exported = os.path.join(scratch, "export.jsonl")
        started = time.perf_counter()
        with open(exported, "wb") as out:
            report = export_products(sqlite, "BENCH", out.write)
        export_s = time.perf_counter() - started
        log(f"export: {report.exported:,} products in {export_s:.1f} s")
        if args.pg_url:
            admin = make_url(args.pg_url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        else:
            server = _make_server()
            server.start()
            admin = server.url
        name, url = create_database(admin, "proseo_bench_move")
        pg = SQLAlchemyStorage.from_url(url)
        try:
            pg.initialize_schema()
            pg.add_mission(Mission("BENCH"))
            started = time.perf_counter()
            moved = ingest_manifest(pg, archive, "BENCH", exported)
            ingest_s = time.perf_counter() - started
            log(f"PostgreSQL: {moved.ingested:,} products ingested ({moved.referenced:,} by reference) in "
                f"{ingest_s:.1f} s, {len(moved.failed)} line(s) failed")
            compared, differing = _compare(sqlite, pg, "BENCH")
        finally:
            pg.close()
            with _admin(admin) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        sqlite.close()
        print(f"{args.products:,} products: export from SQLite {export_s:.1f} s ({report.exported / export_s:,.0f}/s), "
              f"ingest into PostgreSQL {ingest_s:.1f} s ({moved.ingested / ingest_s:,.0f}/s), "
              f"{len(moved.failed)} line(s) failed; {compared:,} compared, {differing} differing")
        return 0 if differing == 0 and not moved.failed and compared == report.exported == args.products else 1
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
