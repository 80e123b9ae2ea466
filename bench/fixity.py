"""``proseo-odata archive check`` on a large catalogue, against the plain program that does the same.

Run (from the repository root), with the manifest and archive ``bench.ingest --workdir DIR``
keeps (its reference lines register the files of DIR/source by reference)::

    .venv/bin/python -m bench.fixity --workdir DIR --products 200000 [--runs 2]

The first N lines of DIR/reference-assigned.jsonl are ingested by reference into a new SQLite
database (the embedded default). Then, interleaved, ``--runs`` times each:

* ``check``: the command ``proseo-odata -c site.ini archive check --mission BENCH`` (a process
  of its own, start-up included), with its default workers (a local folder's: 2) or
  ``--workers N``: each file's presence and size;
* ``raw stat``: the reference, a loop in this process over ``SELECT archive_key,
  content_length FROM products`` (sqlite3) calling ``os.stat`` and comparing the size;
* ``check --checksums`` and ``raw hash``: the same with every file read whole, MD5 and SHA-256
  computed (hashlib, 1 MiB reads) and compared with the recorded values.

It prints products per second and each check's time as a ratio to its reference, the files'
count and bytes, and whether every run found nothing (any finding fails the run: the files are
as the manifest describes them). The files are in the page cache after the ingest (it reads
those whose checksums the lines do not give): the figures are of a warm cache.

The manifest's files are small (about 500 bytes): the per-product cost. ``--big-files N
--big-size MIB`` instead writes N files of MIB MiB of random bytes into a new archive folder,
registers them by reference and compares ``check --checksums`` with ``raw hash`` on them: the
cost per byte (``--workdir`` is then not read).
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from bench.catalogue import log, machine, write_site_ini


def _raw(database: str, root: str, checksums: bool) -> int:
    """The reference: products whose file is missing, of another size or other bytes."""
    connection = sqlite3.connect(database)
    try:
        recorded = {}
        if checksums:
            for product_id, algorithm, value in connection.execute(
                    "SELECT product_id, algorithm, value FROM product_checksums WHERE algorithm IN ('MD5', 'SHA256')"):
                recorded.setdefault(product_id, {})[algorithm] = value.lower()
        wrong = 0
        for product_id, key, length in connection.execute("SELECT id, archive_key, content_length FROM products ORDER BY id"):
            path = os.path.join(root, key)
            try:
                if checksums:
                    md5, sha256, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
                    with open(path, "rb") as handle:
                        while chunk := handle.read(1 << 20):
                            size += len(chunk)
                            md5.update(chunk)
                            sha256.update(chunk)
                    want = recorded.get(product_id, {})
                    bad = size != length or want.get("MD5", md5.hexdigest()) != md5.hexdigest() \
                        or want.get("SHA256", sha256.hexdigest()) != sha256.hexdigest()
                else:
                    bad = os.stat(path).st_size != length
            except FileNotFoundError:
                bad = True
            wrong += bad
        return wrong
    finally:
        connection.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fixity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", help="a folder bench.ingest --workdir kept")
    parser.add_argument("--products", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None, help="the check's --workers (default: the command's)")
    parser.add_argument("--big-files", type=int, default=0, help="N large files instead of the manifest's")
    parser.add_argument("--big-size", type=int, default=256, help="MiB per large file")
    args = parser.parse_args(argv)
    if args.products < 1 or args.runs < 1 or args.big_files < 0 or args.big_size < 1:
        parser.error("--products, --runs and --big-size take 1 or more")
    manifest = os.path.join(args.workdir or "", "reference-assigned.jsonl")
    if not args.big_files and not os.path.exists(manifest):
        parser.error(f"{manifest} is missing: run bench.ingest --mode reference --workdir {args.workdir} first")

    from proseo_odata.archive.local import LocalArchive
    from proseo_odata.ingest import ingest_manifest
    from proseo_odata.model import Mission
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    scratch = tempfile.mkdtemp(prefix="proseo-bench-fixity-")
    try:
        lines = os.path.join(scratch, "lines.jsonl")
        if args.big_files:
            root = os.path.join(scratch, "archive")
            os.makedirs(os.path.join(root, "big"))
            with open(lines, "w", encoding="utf-8") as out:
                for i in range(args.big_files):
                    key = f"big/{i:04d}.dat"
                    with open(os.path.join(root, key), "wb") as handle:
                        for _ in range(args.big_size):
                            handle.write(os.urandom(1 << 20))
                    out.write(json.dumps({"archive_key": key, "Name": f"BIG_{i:04d}.dat"}) + "\n")
        else:
            root = os.path.join(args.workdir, "source")
            with open(manifest, "rb") as source, open(lines, "wb") as out:
                out.writelines(itertools.islice(source, args.products))
        database = os.path.join(scratch, "catalogue.sqlite")
        storage = SQLAlchemyStorage.from_url(f"sqlite:///{database}")
        storage.initialize_schema()
        storage.add_mission(Mission("BENCH"))
        started = time.perf_counter()
        loaded = ingest_manifest(storage, LocalArchive(root), "BENCH", lines)
        storage.close()
        log(f"{loaded.ingested:,} products ingested by reference in {time.perf_counter() - started:.1f} s")
        ini = write_site_ini(scratch, database, root)
        with sqlite3.connect(database) as connection:
            files, size = connection.execute("SELECT count(*), sum(content_length) FROM products").fetchone()
        command = [os.path.join(os.path.dirname(sys.executable), "proseo-odata"), "-c", ini, "archive", "check",
                   "--mission", "BENCH", *(["--workers", str(args.workers)] if args.workers else [])]

        def check(checksums: bool) -> int:
            done = subprocess.run(command + (["--checksums"] if checksums else []), capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"archive check: exit status {done.returncode}: {done.stderr.strip()}")
            return 0

        variants = {
            "check": lambda: check(False), "raw stat": lambda: _raw(database, root, False),
            "check --checksums": lambda: check(True), "raw hash": lambda: _raw(database, root, True),
        }
        if args.big_files:
            del variants["check"], variants["raw stat"]
        times: dict[str, list[float]] = {name: [] for name in variants}
        for run in range(args.runs):
            names = list(variants)
            for name in names if run % 2 == 0 else [*names[1::-1], *names[:1:-1]]:  # each pair's order turns
                started = time.perf_counter()
                wrong = variants[name]()
                elapsed = time.perf_counter() - started
                if wrong:
                    raise SystemExit(f"{name}: {wrong} product(s) found wanting")
                times[name].append(elapsed)
                log(f"run {run + 1} {name}: {elapsed:.2f} s ({files / elapsed:,.0f} products/s), load "
                    f"{os.getloadavg()[0]:.1f}")
        print(f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; command: "
              f"`python -m bench.fixity {' '.join(argv if argv is not None else sys.argv[1:])}`\n")
        print(f"{files:,} products by reference on SQLite, {size / 2**20:,.0f} MiB of files (local folder, warm "
              f"page cache); every run found nothing.\n")
        print("| what | seconds per run | products/s | MiB/s | ratio to the reference |")
        print("|---|---|---:|---:|---:|")
        for name, reference in (("check", "raw stat"), ("raw stat", None),
                                ("check --checksums", "raw hash"), ("raw hash", None)):
            if name not in times:
                continue
            best = min(times[name])
            ratio = f"{best / min(times[reference]):.2f}x" if reference else "-"
            print(f"| {name} | {', '.join(f'{t:.2f}' for t in times[name])} | {files / best:,.0f} | "
                  f"{size / 2**20 / best:,.0f} | {ratio} |")
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
