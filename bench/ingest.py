"""Bulk-ingest benchmark: ``ingest_manifest`` (what ``proseo-odata ingest --manifest`` runs) on
SQLite and PostgreSQL 15, in products per second.

Run (from the repository root)::

    .venv/bin/python -m bench.ingest                          # 100,000 products, both databases
    .venv/bin/python -m bench.ingest --products 20000 --db sqlite
    timeout 3600 .venv/bin/python -m bench.ingest --products 1000000 --db postgresql --mode reference

What it does:

1. Generates N products with ``bench.catalogue.Generator`` (the catalogue benchmark's realistic
   Sentinel-1/2/3/5P metadata: names, dates, footprints, 8-10 typed attributes, visibility) as a
   JSON-lines manifest in the PRIP Product shape, and one real small file per product (512
   bytes) in a scratch folder (``--workdir``, default a temporary folder; removed at the end).
   ``--ids assigned`` (the default): the lines have no ``Id``, as new products come from a
   producer, and the ingest gives each a new time-ordered one (UUID version 7, as the PRIP
   does); ``--ids given``: each line carries the generator's random (version 4) ``Id``, as a
   catalogue migrated from another PRIP does. ``--dates assigned`` (the default): the lines have
   no ``PublicationDate`` or ``ModificationDate`` either, and the storage dates each product in
   the transaction that stores it, in the order of commits; ``--dates given``: the generator's
   dates, kept (as before 2026-12-07: the earlier figures of bench/README.md).
2. For each database (``--db``) and mode (``--mode``) it creates a fresh database through the
   real migration and ingests the manifest with the production code path
   (:func:`proseo_odata.ingest.ingest_manifest`: batches, one transaction per batch,
   ``StorageBase.add_products``, subscriptions matched per product):

   * ``copy``: every file is copied into a local archive while MD5 and SHA-256 are computed
     (``--workers`` threads; each file fsynced, as ``LocalArchive`` always does);
   * ``reference``: the files are already in the archive (``"archive_key"``) with their
     ``ContentLength`` and checksums in the manifest, so only their size is checked.

   * ``single``: for comparison, the copy manifest through the per-file path
     (:func:`proseo_odata.ingest.ingest_file` per line: one transaction per product, what
     ``ingest FILE...`` and ``ingest manifest.jsonl`` without ``--manifest`` do).

   Then the same manifest again (``rerun``: every line skipped, nothing copied; not for
   ``single``, which refuses known products). The stored product count is checked after each run.
   ``--runs N`` does all that N times per database and mode, each time into a fresh database on
   the same server: on PostgreSQL the first run is a new cluster's first (it creates the WAL
   segment files, which PostgreSQL fills with zeros before it uses them, and touches its shared
   memory for the first time), a later run meets the server as one in service is, and as the
   reference (4.) does, which runs after the ingest on the same server.
3. PostgreSQL is a throwaway server (``bench.catalogue``'s, tests/conftest.py's
   ``ThrowawayPostgres`` with the catalogue server settings, durable: fsync and
   synchronous_commit on), listening on 127.0.0.1 only; ``--pg-url`` uses an existing server.
   SQLite is a file in the scratch folder with the backend's own settings (WAL).

4. The reference (PostgreSQL; ``--no-reference`` leaves it out): the rows the ingest stored,
   dumped with ``COPY ... TO STDOUT (FORMAT BINARY)`` and written back by ``COPY ... FROM STDIN
   (FORMAT BINARY)`` (the files' bytes as they are, one transaction per table; binary, as the
   ingest sends the products: no value parsed from text) into a fresh migrated database with every
   index: what the database itself takes on this machine with no client work. The table gives
   its rate, its server CPU per product and the ingest's rate as a ratio of it.

Prints a Markdown table (products/s, wall seconds, CPU seconds of this process plus its parser
processes -- ``--parsers``, counted from /proc with whoever reaps them -- and of the PostgreSQL
server) with the machine, the date and the command, for bench/README.md. With a kept
``--workdir`` a second run for the same ``--products`` and ``--seed`` reuses the generated
manifests and files (compared variants one after the other on the same data).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid

from bench.catalogue import Generator, _admin, _make_server, create_database, finish_load, log, machine
from proseo_odata.ingest import DEFAULT_BATCH_SIZE

MISSION = "BENCH"
FILE_SIZE = 512
TARGETS = {"sqlite": 2000, "postgresql": 5000}


def _iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _metadata(p: dict) -> dict:
    """The generated product as PRIP Product metadata (what a manifest line holds)."""
    document = {
        "Id": str(p["id"]),
        "Name": p["name"],
        "ContentType": p["content_type"],
        "OriginDate": _iso(p["origin_date"]),
        "PublicationDate": _iso(p["publication_date"]),
        "ModificationDate": _iso(p["modification_date"]),
        "Online": p["online"],
        "ContentDate": {"Start": _iso(p["content_start"]), "End": _iso(p["content_end"])},
        "ProductionType": p["production_type"],
        "Footprint": f"geography'SRID=4326;{p['footprint']}'",
        "Visibility": p["visibility"],
        "Attributes": [
            {"@odata.type": f"#OData.CSC.{kind}Attribute", "Name": name, "ValueType": kind,
             "Value": _iso(value) if kind == "DateTimeOffset" else value}
            for name, kind, value in p["attributes"]
        ],
    }
    if p["eviction_date"] is not None:
        document["EvictionDate"] = _iso(p["eviction_date"])
    return document


def generate(workdir: str, n: int, seed: int) -> dict:
    """Write the files under ``workdir/source/incoming/`` and the two manifests. Paths. A
    ``workdir`` that has them for the same N and seed already (a kept ``--workdir``: compared
    variants run one after the other on the same data) is used as it is."""
    source = os.path.join(workdir, "source")
    copy_path = os.path.join(workdir, "copy.jsonl")
    reference_path = os.path.join(workdir, "reference.jsonl")
    paths = {"source": source, "copy": copy_path, "reference": reference_path}
    marker = os.path.join(workdir, f"generated-{n}-{seed}")
    if os.path.exists(marker):
        return paths
    generator = Generator(seed)
    with open(copy_path, "w", encoding="utf-8") as copy_manifest, \
            open(reference_path, "w", encoding="utf-8") as reference_manifest:
        for i in range(n):
            p = generator.product()
            key = f"incoming/{i // 1000:04d}/{i:07d}.dat"
            path = os.path.join(source, *key.split("/"))
            if i % 1000 == 0:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            data = (p["name"].encode() * (FILE_SIZE // len(p["name"]) + 1))[:FILE_SIZE]
            with open(path, "wb") as handle:
                handle.write(data)
            document = _metadata(p)
            copy_manifest.write(json.dumps({"file": f"source/{key}", **document}) + "\n")
            document["ContentLength"] = len(data)
            document["Checksum"] = [
                {"Algorithm": "MD5", "Value": hashlib.md5(data, usedforsecurity=False).hexdigest()},
                {"Algorithm": "SHA256", "Value": hashlib.sha256(data).hexdigest()},
            ]
            reference_manifest.write(json.dumps({"archive_key": key, **document}) + "\n")
    open(marker, "w").close()
    return paths


def without(paths: dict, keys: tuple, suffix: str) -> dict:
    """The manifests of ``paths`` with the lines' ``keys`` left out, written beside them once
    (``-<suffix>.jsonl``): ``Id`` for ``--ids assigned`` (new products as producers hand them
    over; the PRIP gives each its Id), ``PublicationDate`` and ``ModificationDate`` for
    ``--dates assigned`` (the PRIP dates each product when it stores it)."""
    out = dict(paths)
    for mode in ("copy", "reference"):
        out[mode] = paths[mode].replace(".jsonl", f"-{suffix}.jsonl")
        marker = out[mode] + ".done"
        if os.path.exists(marker):
            continue
        with open(paths[mode], encoding="utf-8") as source, open(out[mode], "w", encoding="utf-8") as target:
            for line in source:
                document = json.loads(line)
                for key in keys:
                    del document[key]
                target.write(json.dumps(document) + "\n")
        open(marker, "w").close()
    return out


def server_cpu(datadir: str | None) -> float:
    """CPU seconds used so far by a PostgreSQL server started by this benchmark: the
    postmaster's own and what it reaped (``cutime``/``cstime``) plus its live children (the
    backends, checkpointer, WAL writer), from /proc. 0 without a server of ours."""
    postmaster = _postmaster(datadir)
    return 0.0 if postmaster is None else tree_cpu(postmaster)


def _postmaster(datadir: str | None) -> int | None:
    try:
        with open(os.path.join(datadir, "postmaster.pid"), encoding="utf-8") as handle:
            return int(handle.readline())
    except (OSError, TypeError, ValueError):
        return None


def children_cpu(exclude: int | None = None) -> float:
    """CPU seconds used so far by this process's descendants (the parser processes and the fork
    server that starts them) and what this process reaped, not counting the process tree of
    ``exclude`` (the benchmark's PostgreSQL server, counted by :func:`server_cpu`). A fork
    server reaps the parsers as they end: they count in its ``cutime``/``cstime``."""
    return tree_cpu(os.getpid(), own=False, exclude=exclude)


def tree_cpu(root: int, *, own: bool = True, exclude: int | None = None) -> float:
    """CPU seconds of the process tree of ``root``, from /proc: ``root``'s own (when ``own``)
    and what it reaped, and each live descendant's own and what it reaped (``utime``,
    ``stime``, ``cutime``, ``cstime``), without the tree of ``exclude``."""
    children: dict[int, list[int]] = {}
    times: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(name)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = (int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))
    mine, reaped = times.get(root, (0, 0))
    total = reaped + (mine if own else 0)
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid != exclude:
            total += sum(times[pid])
            stack.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


def run_one(storage, archive, manifest: str, n: int, batch_size: int, workers: int, expect: int,
            datadir: str | None = None, single: bool = False, parsers: int | None = None,
            writers: int | None = None) -> dict:
    from proseo_odata.ingest import ingest_manifest
    from proseo_odata.storage import Query

    postmaster = _postmaster(datadir)
    db_cpu, cpu, wall = server_cpu(datadir), time.process_time(), time.perf_counter()
    child_cpu = children_cpu(postmaster)
    if single:
        from pathlib import Path

        from proseo_odata.ingest import BulkIngestReport, ingest_file, read_manifest

        report = BulkIngestReport()
        for entry in read_manifest(Path(manifest)):
            ingest_file(storage, archive, MISSION, entry.path, entry.metadata)
            report.ingested += 1
    else:
        # (no parsers or writers argument unless given: the code before them had none)
        report = ingest_manifest(storage, archive, MISSION, manifest, batch_size=batch_size, workers=workers,
                                 **({} if parsers is None else {"parsers": parsers}),
                                 **({} if writers is None else {"writers": writers}))
    wall, cpu, db_cpu = time.perf_counter() - wall, time.process_time() - cpu, server_cpu(datadir) - db_cpu
    child_cpu = children_cpu(postmaster) - child_cpu
    if report.failed:
        raise RuntimeError(f"{len(report.failed)} lines failed, first: {report.failed[:3]}")
    count = storage.query_products(MISSION, Query(count=True, top=0)).count
    if count != n or report.ingested != expect:
        raise RuntimeError(f"stored {count} products, ingested {report.ingested} (expected {n} / {expect})")
    return {"rate": n / wall, "wall": wall, "cpu": cpu + child_cpu, "parsers_cpu": child_cpu, "db_cpu": db_cpu,
            "ingested": report.ingested,
            "skipped": report.skipped, "load": os.getloadavg()[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--mode", default="copy,reference", help="comma-separated: copy, reference")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--parsers", type=int, default=None,
                        help="parser processes (default: ingest_manifest's own default; 0: parse in process)")
    parser.add_argument("--writers", type=int, default=None,
                        help="batches written at once (default: the storage's bulk_writers)")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--pg-url", help="use this existing PostgreSQL server (maintenance database URL)")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="a server setting of the benchmark's own PostgreSQL server, beside "
                             "bench.catalogue's (repeatable; e.g. wal_init_zero=off)")
    parser.add_argument("--workdir", help="scratch folder (default: a temporary one, removed at the end)")
    parser.add_argument("--ids", choices=("assigned", "given"), default="assigned",
                        help="assigned (default): manifest lines without Id, new products whose Ids "
                             "the PRIP assigns (time-ordered, UUID version 7); given: lines with the "
                             "generator's random (version 4) Ids, a catalogue migrated with its Ids")
    parser.add_argument("--dates", choices=("assigned", "given"), default="assigned",
                        help="assigned (default): manifest lines without PublicationDate and "
                             "ModificationDate, new products the PRIP dates when it stores them (in the "
                             "order of commits); given: lines with the generator's dates, a catalogue "
                             "migrated with its dates")
    parser.add_argument("--no-reference", action="store_true",
                        help="PostgreSQL: leave out the raw COPY of the stored rows into a fresh database")
    parser.add_argument("--runs", type=int, default=1,
                        help="ingest runs per database and mode, each into a fresh database on the same "
                             "server (PostgreSQL: the first on a new cluster, the later ones on a server "
                             "that has written before, as the reference does; default 1)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs takes 1 or more")
    databases = [d.strip() for d in args.db.split(",") if d.strip()]
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    if set(databases) - set(TARGETS) or set(modes) - {"copy", "reference", "single"}:
        parser.error("--db takes sqlite/postgresql, --mode copy/reference/single")
    pg_settings = {}
    for setting in args.pg_setting:
        name, _, value = setting.partition("=")
        if not name or not value or " " in setting:
            parser.error("--pg-setting takes NAME=VALUE (without spaces)")
        pg_settings[name] = value
    if pg_settings and (args.pg_url or "postgresql" not in databases):
        parser.error("--pg-setting is for the benchmark's own PostgreSQL server (--db postgresql, no --pg-url)")

    from psycopg import sql
    from sqlalchemy.engine import make_url

    from proseo_odata.archive.local import LocalArchive
    from proseo_odata.model import Mission
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    workdir = args.workdir or tempfile.mkdtemp(prefix="proseo-bench-ingest-")
    os.makedirs(workdir, exist_ok=True)
    server = None
    results = []
    pg_version = ""
    try:
        started = time.perf_counter()
        paths = generate(workdir, args.products, args.seed)
        if args.ids == "assigned":
            paths = without(paths, ("Id",), "assigned")
        if args.dates == "assigned":
            paths = without(paths, ("PublicationDate", "ModificationDate"), "undated")
        log(f"generated {args.products:,} products and files in {time.perf_counter() - started:.0f} s ({workdir})")
        admin_url = None
        if "postgresql" in databases:
            if args.pg_url:
                admin_url = make_url(args.pg_url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
            else:
                server = _make_server(settings=pg_settings)
                server.start()
                admin_url = server.url
                finish_load(admin_url, own_server=True)  # fsync, full_page_writes, synchronous_commit on
                log(f"PostgreSQL on 127.0.0.1:{server.port}")
            with _admin(admin_url) as conn:
                pg_version = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
        for database in databases:
            for mode, run in ((m, r) for m in modes for r in range(1, args.runs + 1)):
                tag = f"{database}-{mode}" + (f"-{run}" if args.runs > 1 else "")
                if database == "sqlite":
                    path = os.path.join(workdir, tag + ".sqlite")
                    for stale in (path, path + "-wal", path + "-shm"):  # a kept --workdir's last run
                        if os.path.exists(stale):
                            os.remove(stale)
                    url = f"sqlite:///{path}"
                else:
                    name = f"proseo_bench_{uuid.uuid4().hex[:8]}"
                    with _admin(admin_url) as conn:
                        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
                # count_exact_limit None: the stored count checked after each run is exact (the
                # default bound would make it PostgreSQL's estimate above 100,000 products)
                storage = SQLAlchemyStorage.from_url(url, count_exact_limit=None)
                try:
                    storage.initialize_schema()
                    storage.add_mission(Mission(MISSION, "ingest benchmark"))
                    if mode in ("copy", "single"):
                        archive = LocalArchive(os.path.join(workdir, f"archive-{tag}"))
                    else:
                        archive = LocalArchive(paths["source"])
                    log(f"{tag}: ingesting {args.products:,} products")
                    datadir = server.datadir if server is not None and database == "postgresql" else None
                    first = run_one(storage, archive, paths["copy" if mode == "single" else mode], args.products,
                                    args.batch_size, args.workers, args.products, datadir, single=mode == "single",
                                    parsers=args.parsers, writers=args.writers)
                    log(f"{tag}: {first['rate']:,.0f} products/s ({first['wall']:.1f} s, CPU {first['cpu']:.1f} s "
                        f"(parsers {first['parsers_cpu']:.1f}) + server {first['db_cpu']:.1f} s, "
                        f"load {first['load']:.1f}); re-run")
                    again = None
                    if mode != "single":
                        again = run_one(storage, archive, paths[mode], args.products, args.batch_size, args.workers, 0,
                                        datadir, parsers=args.parsers, writers=args.writers)
                        log(f"{tag}: re-run {again['rate']:,.0f} lines/s (all skipped)")
                    reference = None
                    if database == "postgresql" and mode != "single" and not args.no_reference and run == args.runs:
                        log(f"{tag}: the reference, the stored rows by raw COPY into a fresh database")
                        reference = raw_copy(admin_url, url, workdir, args.products, datadir)
                        log(f"{tag}: raw COPY {reference['rate']:,.0f} products/s ({reference['wall']:.1f} s, "
                            f"server {reference['db_cpu']:.1f} s)")
                    results.append((database, mode if args.runs == 1 else f"{mode}, run {run}", first, again, reference))
                finally:
                    storage.close()
                    if mode in ("copy", "single"):
                        shutil.rmtree(os.path.join(workdir, f"archive-{tag}"), ignore_errors=True)
                    if database == "postgresql":
                        with _admin(admin_url) as conn:
                            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                                sql.Identifier(make_url(url).database)))
        print(report(args, results, pg_version))
        return 0
    finally:
        if server is not None:
            server.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


#: The tables a bulk ingest writes, in the order the reference writes them back.
COPIED_TABLES = ("products", "product_checksums", "product_attributes")


def raw_copy(admin_url: str, source_url: str, workdir: str, n: int, datadir: str | None) -> dict:
    """The reference of a PostgreSQL run: the rows the ingest stored (``source_url``) written
    back into a fresh migrated database (every index the ingest wrote) by binary ``COPY ...
    FROM STDIN``, one transaction per table, the files' bytes sent as they are -- what PostgreSQL
    itself takes on this machine with no client work (no parsing, no checks, no rows built).
    The tables are dumped (``COPY ... TO STDOUT``) before the clock starts and removed after."""
    from psycopg import sql

    from proseo_odata.model import Mission
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    files = {table: os.path.join(workdir, f"reference-{table}.copy") for table in COPIED_TABLES}
    name, url = create_database(admin_url, "proseo_bench_raw")
    try:
        with _admin(source_url) as conn:
            for table, path in files.items():
                with open(path, "wb") as handle, conn.cursor() as cursor, \
                        cursor.copy(sql.SQL("COPY {} TO STDOUT (FORMAT BINARY)").format(sql.Identifier(table))) as copy:
                    for block in copy:
                        handle.write(block)
        storage = SQLAlchemyStorage.from_url(url)
        try:
            storage.initialize_schema()
            storage.add_mission(Mission(MISSION, "ingest benchmark reference"))
        finally:
            storage.close()
        db_cpu, wall = server_cpu(datadir), time.perf_counter()
        with _admin(url) as conn:
            for table, path in files.items():
                with conn.transaction(), conn.cursor() as cursor, \
                        cursor.copy(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table))) as copy, \
                        open(path, "rb") as handle:
                    while block := handle.read(1 << 20):
                        copy.write(block)
        wall, db_cpu = time.perf_counter() - wall, server_cpu(datadir) - db_cpu
        with _admin(url) as conn:
            count = conn.execute("SELECT count(*) FROM products").fetchone()[0]
        if count != n:
            raise RuntimeError(f"raw COPY stored {count} products, expected {n}")
        return {"rate": n / wall, "wall": wall, "db_cpu": db_cpu, "load": os.getloadavg()[0]}
    finally:
        for path in files.values():
            if os.path.exists(path):
                os.remove(path)
        with _admin(admin_url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def report(args, results, pg_version: str) -> str:
    info = machine()
    lines = [
        f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: nproc = {info['nproc']}, CPU "
        f"`{info['cpu']}`, {info['memory']} RAM, Python {info['python']}"
        + (f", {pg_version}" if pg_version else "") + f"; load average {info['load'][0]:.2f} at the end.",
        f"Command: `{' '.join(['.venv/bin/python -m bench.ingest'] + (sys.argv[1:] if argv_is_ours() else []))}` "
        f"({args.products:,} products, batches of {args.batch_size}, {args.workers} copy threads, "
        f"{'default' if args.parsers is None else args.parsers} parser processes, "
        f"{'default' if args.writers is None else args.writers} writers, Ids {args.ids}, dates {args.dates}).",
        "",
        "| database | mode | products/s | wall s | load avg | CPU s: ingest (of it parsers) + PostgreSQL | CPU µs per product | target | met? | re-run (all skipped), lines/s | raw COPY products/s (server µs per product) | ingest / raw COPY |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for database, mode, first, again, reference in results:
        target = TARGETS[database]
        db_cpu = f" + {first['db_cpu']:.1f}" if database == "postgresql" else ""
        per_product = (first["cpu"] + first["db_cpu"]) / args.products * 1e6
        rerun = f"{again['rate']:,.0f}" if again else "-"
        raw = ratio = "-"
        if reference:
            raw = f"{reference['rate']:,.0f} ({reference['db_cpu'] / args.products * 1e6:,.0f})"
            ratio = f"{first['rate'] / reference['rate']:.2f}x"
        lines.append(
            f"| {database} | {mode} | **{first['rate']:,.0f}** | {first['wall']:.1f} | {first['load']:.1f} | "
            f"{first['cpu']:.1f} ({first['parsers_cpu']:.1f}){db_cpu} | {per_product:,.0f} | >= {target:,} | "
            f"{'yes' if first['rate'] >= target else '**no**'} | {rerun} | {raw} | {ratio} |")
    return "\n".join(lines)


def argv_is_ours() -> bool:
    return os.path.basename(sys.argv[0]) in ("ingest.py", "__main__.py") or sys.argv[0].endswith("bench.ingest")


if __name__ == "__main__":
    sys.exit(main())
