"""``proseo-odata archive quicklooks`` on a catalogue whose files were never searched, against
a plain program that searches the same files and writes the same column (a floor: without the
command's guards, revisions and catalogue versions).

Run (from the repository root)::

    .venv/bin/python -m bench.quicklooks --products 20000 [--runs 2]

Each run builds, in a scratch folder, ``--products`` files in a local archive folder (half of
them small zipped SAFEs with a ``preview/quick-look.png``, half 512 bytes that are no ZIP),
registers them by reference with their size and both checksums (so that the ingest does not
read them: nothing is searched), on SQLite, the embedded default. Then:

* ``first``: the command (a process of its own, start-up included): every file searched, what
  was found recorded (a path, or "none");
* ``again``: the command once more: no file is read (each was searched);
* ``--again``: the command with ``--again``: the files recorded without one are searched again;
* ``raw``: the reference, on a copy of the database made before ``first``: a loop in this
  process over ``SELECT id, archive_key FROM products`` opening each file with ``zipfile`` and
  looking for a quicklook's name among its entries, then one ``executemany`` ``UPDATE`` of the
  column in one transaction (sqlite3).

Every summary the command prints is checked against the catalogue it was given. It prints each
one's seconds per run, catalogue products per second (the files searched are all of them in
``first`` and ``raw``, none in ``again``, half in ``--again``), and ``first``'s ratio to ``raw``.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile

from bench.catalogue import log, machine, write_site_ini


def _files(root: str, count: int, lines: str) -> None:
    rng = random.Random(7)
    with open(lines, "w", encoding="utf-8") as out:
        for i in range(count):
            if i % 2 == 0:
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w") as zipped:
                    zipped.writestr(f"P{i}.SAFE/manifest.safe", b"m" * 200)
                    zipped.writestr(f"P{i}.SAFE/preview/quick-look.png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(64))
                data, name = buffer.getvalue(), f"P{i:07d}.zip"
            else:
                data, name = rng.randbytes(512), f"P{i:07d}.bin"
            key = f"BENCH/{i // 1000:04d}/{name}"
            os.makedirs(os.path.join(root, os.path.dirname(key)), exist_ok=True)
            with open(os.path.join(root, key), "wb") as handle:
                handle.write(data)
            out.write(json.dumps({"archive_key": key, "Name": name, "ContentLength": len(data), "Checksum": [
                {"Algorithm": "MD5", "Value": hashlib.md5(data).hexdigest()},
                {"Algorithm": "SHA256", "Value": hashlib.sha256(data).hexdigest()}]}) + "\n")


def _raw(database: str, root: str) -> int:
    """The reference: each file's ZIP entries searched for the quicklook's name, the outcomes
    written in one transaction. Returns how many quicklooks it found."""
    connection = sqlite3.connect(database)
    try:
        outcomes = []
        for product_id, key in connection.execute("SELECT id, archive_key FROM products ORDER BY id"):
            found = ""
            try:
                with zipfile.ZipFile(os.path.join(root, key)) as zipped:
                    found = next((n.split("/", 1)[1] for n in zipped.namelist() if n.endswith("/quick-look.png")), "")
            except zipfile.BadZipFile:
                pass
            outcomes.append((found, product_id))
        with connection:
            connection.executemany("UPDATE products SET quicklook = ? WHERE id = ? AND quicklook IS NULL", outcomes)
        return sum(1 for found, _ in outcomes if found)
    finally:
        connection.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quicklooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    if args.products < 2 or args.runs < 1:
        parser.error("--products takes 2 or more, --runs 1 or more")

    from proseo_odata.archive.local import LocalArchive
    from proseo_odata.ingest import ingest_manifest
    from proseo_odata.model import Mission
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    half = args.products // 2
    expected = {"first": f"{args.products} product file(s) of mission BENCH searched: {args.products - half} "
                         f"quicklook(s) recorded, {half} without one",
                "again": "0 product file(s) of mission BENCH searched: 0 quicklook(s) recorded, 0 without one",
                "--again": f"{half} product file(s) of mission BENCH searched: 0 quicklook(s) recorded, {half} without one",
                "raw": f"{args.products - half} quicklook(s) found"}
    times: dict[str, list[float]] = {name: [] for name in expected}
    for run in range(args.runs):
        scratch = tempfile.mkdtemp(prefix="proseo-bench-quicklooks-")
        try:
            root, lines = os.path.join(scratch, "archive"), os.path.join(scratch, "lines.jsonl")
            _files(root, args.products, lines)
            database = os.path.join(scratch, "catalogue.sqlite")
            storage = SQLAlchemyStorage.from_url(f"sqlite:///{database}")
            try:
                storage.initialize_schema()
                storage.add_mission(Mission("BENCH"))
                loaded = ingest_manifest(storage, LocalArchive(root), "BENCH", lines)
            finally:
                storage.close()
            if loaded.ingested != args.products:
                raise SystemExit(f"{loaded.ingested} of {args.products} products ingested: {loaded.failed[:3]}")
            reference = os.path.join(scratch, "reference.sqlite")
            shutil.copyfile(database, reference)
            ini = write_site_ini(scratch, database, root)
            command = [os.path.join(os.path.dirname(sys.executable), "proseo-odata"), "-c", ini, "archive",
                       "quicklooks", "--mission", "BENCH"]

            def quicklooks(*extra: str) -> str:
                done = subprocess.run(command + list(extra), capture_output=True, text=True, timeout=600)
                if done.returncode != 0:
                    raise SystemExit(f"archive quicklooks: exit status {done.returncode}: {done.stderr.strip()}")
                return done.stderr.strip().splitlines()[-1]

            steps = {"first": quicklooks, "again": quicklooks, "--again": lambda: quicklooks("--again"),
                     "raw": lambda: f"{_raw(reference, root)} quicklook(s) found"}
            order = list(steps) if run % 2 == 0 else ["raw", "first", "again", "--again"]
            for name in order:
                started = time.perf_counter()
                summary = steps[name]()
                times[name].append(time.perf_counter() - started)
                log(f"run {run + 1} {name}: {times[name][-1]:.2f} s: {summary}")
                if summary != expected[name]:
                    raise SystemExit(f"{name}: {summary!r}, expected {expected[name]!r}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; command: "
          f"`python -m bench.quicklooks {' '.join(argv if argv is not None else sys.argv[1:])}`\n")
    print(f"{args.products:,} products by reference on SQLite (local folder, warm page cache), half with a "
          "quicklook; every summary as expected.\n")
    print("| what | seconds per run | catalogue products/s (best) | ratio to raw |")
    print("|---|---|---:|---:|")
    for name, spent in times.items():
        best = min(spent)
        ratio = f"{best / min(times['raw']):.2f}x" if name == "first" else "-"
        print(f"| {name} | {', '.join(f'{t:.2f}' for t in spent)} | {args.products / best:,.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
