"""Bulk ingest with parser processes (``ingest_manifest(parsers=N)``, ``ingest --parsers``):
real processes, real databases, real files. What is stored, skipped and reported is what the
in-process path (``parsers=0``) does; a dead parser or an interrupt ends the run cleanly."""
import multiprocessing
import os
import marshal
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from proseo_odata import ingest as ingest_module
from proseo_odata.ingest import IngestError, default_parsers, ingest_manifest, product_from_metadata
from proseo_odata.model import AttributeType, Mission
from proseo_odata.storage import Query
from tests.test_ingest import EVERY_FIELD, L1C, _files, _manifest, _product_files, _rows, _site, setup  # noqa: F401

#: Lines of every outcome: stored, bad JSON, bad metadata, missing file, wrong checksum, a Name
#: given twice, a known Name whose metadata is bad (skipped, as without parsers), no file.
MIXED = [
    {"file": "in/f0.dat"},
    '{"file": "in/f1.dat", ',
    {"file": "in/f1.dat", "Colour": "red"},
    {"file": "in/missing.dat"},
    {"file": "in/f2.dat", "Checksum": [{"Algorithm": "MD5", "Value": "0" * 32}]},
    {"file": "in/f3.dat", "Name": "three.dat", "Attributes": L1C},
    {"file": "in/f4.dat", "Name": "three.dat"},
    {"file": "in/f4.dat", "ContentLength": 3},
    {"file": "in/f5.dat", "Name": "known.dat", "ContentDate": {"Start": "yesterday"}},
    {"file": "in/f1.dat", "ContentDate": {"Start": "yesterday"}},
    {"file": "in/f6.dat", "Name": ["not", "a", "name"]},
    {"Name": "x"},
]


def _without_locations(rows):
    """``_rows`` without what differs between two ingests of the same file into two missions."""
    for row in rows.values():
        for key in ("id", "publication_date", "modification_date"):
            row.pop(key, None)
        row["checksums"] = [c[:2] for c in row["checksums"]]
    return rows


def test_parsers_store_skip_and_report_what_the_in_process_path_does(setup, tmp_path):
    storage, archive = setup
    storage.add_mission(Mission("P"))
    _product_files(tmp_path / "in", 8)
    (tmp_path / "known").mkdir()
    (tmp_path / "known" / "known.dat").write_bytes(b"known")
    lines = MIXED + [{"file": f"in/f{i % 8}.dat", "Name": f"e{i}.zip", **{k: v for k, v in m.items() if k != "Name"}}
                     for i, m in enumerate(EVERY_FIELD) if "Id" not in m]
    manifest = _manifest(tmp_path, lines)
    reports = {}
    for mission, parsers in (("M", 0), ("P", 2)):
        ingest_manifest(storage, archive, mission, _manifest(tmp_path / "known", [{"file": "known.dat"}]), parsers=0)
        calls = []
        reports[mission] = ingest_manifest(storage, archive, mission, manifest, batch_size=3, parsers=parsers,
                                           progress=calls.append)
        assert sum(calls) == len(lines) and len(calls) == -(-len(lines) // 3)
    single, pooled = reports["M"], reports["P"]
    assert pooled.failed == single.failed and len(single.failed) == 8, single.failed
    assert [n for n, _ in pooled.failed] == [2, 3, 4, 5, 8, 10, 11, 12]
    assert (pooled.ingested, pooled.skipped, pooled.referenced) == (single.ingested, single.skipped, 0) == (6, 2, 0)
    assert _without_locations(_rows(storage, "P")) == _without_locations(_rows(storage, "M"))
    stored = storage.query_products("P", Query(top=100)).items + storage.query_products("M", Query(top=100)).items
    assert sorted(_files(archive)) == sorted(p.archive_key for p in stored)
    # a re-run through the parsers skips every stored Name and fails the same lines again
    again = ingest_manifest(storage, archive, "P", manifest, batch_size=5, parsers=2)
    assert (again.ingested, again.skipped, again.failed) == (0, 8, single.failed)


def test_parsers_register_by_reference(setup, tmp_path):
    storage, archive = setup
    source = tmp_path / "a.nc"
    source.write_bytes(b"archived already")
    archive.put_file("incoming/a.nc", source)
    lines = [{"archive_key": "incoming/a.nc"}, {"archive_key": "incoming/none.nc"}]
    report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, lines), parsers=1)
    assert (report.ingested, report.referenced, [n for n, _ in report.failed]) == (1, 1, [2])
    assert storage.get_product_by_name("M", "a.nc").archive_key == "incoming/a.nc"
    assert _files(archive) == ["incoming/a.nc"]


def _generated_products(count):
    from bench.catalogue import Generator
    from bench.ingest import _metadata

    generator = Generator(20261205)
    for i in range(count):
        metadata = _metadata(generator.product())
        metadata["Checksum"] = [{"Algorithm": "XXH3", "Value": f"{i:016x}", "ChecksumDate": "2026-12-05T01:02:03.5Z"}]
        product, checksums, _ = product_from_metadata(metadata, mission="M", file_name="x")
        product.checksums = checksums  # (what the ingest gives it once the file is checked)
        yield product


def test_a_packed_product_comes_back_with_every_field(tmp_path):
    """The benchmark's generated products through pack, marshal (what the parser processes
    send), unpack: every field (the renderings of the footprint too) equal, of the same types,
    the dates to the microsecond and in UTC."""
    products = list(_generated_products(300))
    back = [ingest_module._unpack_product(p) for p in marshal.loads(marshal.dumps(
        [ingest_module._pack_product(p) for p in products]))]
    assert any(a.type is AttributeType.DATETIMEOFFSET for p in products for a in p.attributes)
    assert any(c.date is not None for p in products for c in p.checksums)
    for original, copy in zip(products, back):
        assert copy.__dict__ == original.__dict__ and repr(copy) == repr(original)
        assert {k: type(v) for k, v in copy.__dict__.items()} == {k: type(v) for k, v in original.__dict__.items()}
        assert [type(a.type) for a in copy.attributes] == [type(a.type) for a in original.attributes]
        assert copy.rendered_footprint is not None and copy == original


class _NoNames:
    def existing_product_names(self, mission, names):
        return set()


def test_chunks_in_flight_are_bounded(tmp_path):
    """Whatever the manifest's length, at most a batch and 2 x parsers chunks are queued ahead of
    the batch handed out (memory stays flat on a 1M manifest)."""
    _product_files(tmp_path / "in", 1)
    manifest = _manifest(tmp_path, [{"file": "in/f0.dat", "Name": f"n{i}"} for i in range(230)])
    submitted, handed = [], []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            submitted.append(len(args[1]))
            return super().submit(fn, *args, **kwargs)

    with Counting(2) as pool:
        for records in ingest_module._parsed_records(pool, _NoNames(), "M", manifest, None, batch_size=20, parsers=2):
            handed.append(len(records))
            assert sum(submitted) - sum(handed) <= 20 + 2 * 2 * 20
    assert handed == [20] * 11 + [10] and sum(submitted) == 230


def test_a_rerun_does_not_send_known_lines_to_the_parsers(tmp_path):
    """While a chunk's lines are mostly known Names they are skipped here, unparsed; from the
    first mostly new chunk on, every line goes to the parsers (a fresh manifest pays one chunk)."""
    _product_files(tmp_path / "in", 1)
    manifest = _manifest(tmp_path, [{"file": "in/f0.dat", "Name": f"n{i}"} for i in range(100)])

    class Known:
        def existing_product_names(self, mission, names):
            return {n for n in names if int(n[1:]) < 45 or int(n[1:]) % 10 == 0}

    submitted = []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            submitted.extend(number for number, _ in args[1])
            return super().submit(fn, *args, **kwargs)

    with Counting(2) as pool:
        records = [r for batch in ingest_module._parsed_records(pool, Known(), "M", manifest, None, 20, 1) for r in batch]
    assert [r[0] for r in records] == list(range(1, 101))
    known = [r[0] for r in records if r[2] is ingest_module._KNOWN]
    # batches (and chunks) of 20 lines: 1-20 and 21-40 known (skipped here), 41-60 mostly new
    # (its known ones skipped here still): every line from 61 on is parsed
    first_new = [41, 42, 43, 44, 45, 51]  # (line L names n{L-1})
    assert known == list(range(1, 41)) + first_new
    assert submitted == [n for n in range(41, 61) if n not in first_new] + list(range(61, 101))


def test_a_rerun_looks_known_names_up_a_batch_at_a_time(tmp_path, monkeypatch):
    """One look-up per batch, not per chunk (a look-up per 500 lines made a PostgreSQL re-run
    slower than without parsers)."""
    monkeypatch.setattr(ingest_module, "PARSE_CHUNK", 10)
    _product_files(tmp_path / "in", 1)
    manifest = _manifest(tmp_path, [{"file": "in/f0.dat", "Name": f"n{i}"} for i in range(95)])
    lookups = []

    class Known:
        def existing_product_names(self, mission, names):
            lookups.append(len(names))
            return set(names)

    with ThreadPoolExecutor(1) as pool:
        batches = list(ingest_module._parsed_records(pool, Known(), "M", manifest, None, 40, 1))
    assert [len(b) for b in batches] == [40, 40, 15] and lookups == [40, 40, 15]
    assert all(r[2] is ingest_module._KNOWN for b in batches for r in b)


def test_a_parser_process_that_dies_ends_the_run_with_a_clear_error(setup, tmp_path, monkeypatch):
    """A parser killed after the first batch is written: the run stops with IngestError (no
    hang), the committed batches stay, nothing half-written is reported, a re-run completes."""
    storage, archive = setup
    monkeypatch.setattr(ingest_module, "PARSE_CHUNK", 2)
    _product_files(tmp_path / "in", 40)
    manifest = _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(40)])
    killed = []

    def kill_a_parser(lines):
        if not killed:
            parser = next(p for p in multiprocessing.active_children() if "SpawnProcess" in p.name or "Fork" in p.name)
            os.kill(parser.pid, signal.SIGKILL)
            killed.append(parser.pid)

    started = time.monotonic()
    with pytest.raises(IngestError, match="parser process ended unexpectedly") as stopped:
        ingest_manifest(storage, archive, "M", manifest, batch_size=4, parsers=2, progress=kill_a_parser)
    assert time.monotonic() - started < 60 and killed
    report = stopped.value.report
    count = storage.query_products("M", Query(count=True, top=0)).count
    assert report.ingested == count and 4 <= count < 40 and count % 4 == 0
    assert len(_files(archive)) == count  # the batch being prepared left no copies
    again = ingest_manifest(storage, archive, "M", manifest, batch_size=4, parsers=2)
    assert (again.ingested, again.skipped) == (40 - count, count)
    assert len(_files(archive)) == 40
    assert not [p for p in multiprocessing.active_children() if p.pid in killed]


def test_an_interrupt_stops_the_parsers_and_keeps_the_committed_batches(setup, tmp_path):
    storage, archive = setup
    _product_files(tmp_path / "in", 30)
    manifest = _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(30)])
    before = set(multiprocessing.active_children())

    def interrupt(lines):
        raise KeyboardInterrupt  # (every time: also when the run would count a batch again)

    with pytest.raises(KeyboardInterrupt):
        ingest_manifest(storage, archive, "M", manifest, batch_size=5, parsers=2, progress=interrupt)
    count = storage.query_products("M", Query(count=True, top=0)).count
    # the interrupt comes as the first batch is counted: the batches being written then (one
    # per writer) are finished, the next one, prepared, leaves no copy
    assert count == 5 * storage.bulk_writers and len(_files(archive)) == count
    assert set(multiprocessing.active_children()) <= before  # the parsers are gone
    again = ingest_manifest(storage, archive, "M", manifest, batch_size=5, parsers=2)
    assert again.ingested == 30 - count and again.skipped == count


def test_default_parsers_leave_small_manifests_in_process(tmp_path, monkeypatch):
    small = _manifest(tmp_path, [{"file": "x"}])
    assert default_parsers(small) == 0
    monkeypatch.setattr(ingest_module, "PARSERS_MIN_BYTES", 1)
    assert default_parsers(small) == (1 if len(os.sched_getaffinity(0)) >= 2 else 0)


def _cli(ini, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "proseo_odata.cli", "-c", str(ini), *args], capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_cli_parsers_option_and_setting(tmp_path, sqlite_url):
    ini = _site(tmp_path, sqlite_url, "proseo.ingest.parsers = 1\n")
    assert _cli(ini, "initdb").returncode == 0 and _cli(ini, "mission", "add", "M").returncode == 0
    _product_files(tmp_path / "in", 4)
    manifest = _manifest(tmp_path, [{"file": "in/f0.dat"}, {"file": "in/f1.dat", "Online": "yes"},
                                    {"file": "in/f2.dat"}, {"file": "in/f3.dat"}])
    result = _cli(ini, "ingest", "--mission", "M", "--manifest", str(manifest), "--no-progress", "--parsers", "2")
    assert result.returncode == 1, result.stderr
    assert "3 product(s) ingested into mission M" in result.stdout and f"{manifest}:2: field 'Online'" in result.stderr
    again = _cli(ini, "ingest", "--mission", "M", "--manifest", str(manifest), "--no-progress")  # the setting's 1
    assert "0 product(s) ingested" in again.stdout and "3 already present" in again.stdout
    bad = _cli(ini, "ingest", "--mission", "M", "--manifest", str(manifest), "--parsers", "-1")
    assert bad.returncode == 2 and "--parsers" in bad.stderr
    (tmp_path / "bad").mkdir()
    bad_setting = _site(tmp_path / "bad", sqlite_url, "proseo.ingest.parsers = two\n")
    bad = _cli(bad_setting, "ingest", "--mission", "M", "--manifest", str(manifest))
    assert bad.returncode == 2 and "proseo.ingest.parsers must be an integer" in bad.stderr


def test_ctrl_c_ends_the_cli_run_cleanly(tmp_path, sqlite_url):
    """A real SIGINT to the command while it ingests with parser processes: it exits within
    seconds with a clear message, the committed batches stay, a re-run completes the rest."""
    ini = _site(tmp_path, sqlite_url)
    assert _cli(ini, "initdb").returncode == 0 and _cli(ini, "mission", "add", "M").returncode == 0
    _product_files(tmp_path / "in", 1)
    total = 6000
    manifest = _manifest(tmp_path, [{"file": "in/f0.dat", "Name": f"p{i}.dat"} for i in range(total)])
    command = [sys.executable, "-m", "proseo_odata.cli", "-c", str(ini), "ingest", "--mission", "M",
               "--manifest", str(manifest), "--batch-size", "200", "--parsers", "2", "--progress"]
    database = sqlite3.connect(tmp_path / "proseo.sqlite")  # counts without any cache

    def stored():
        return database.execute("SELECT count(*) FROM products").fetchone()[0]

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            if stored():
                break  # a batch is committed: the parsers are running
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        count = stored()
    finally:
        database.close()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, (out, err)
    assert "interrupted" in err and "re-run" in err and "Traceback" not in err
    assert count % 200 == 0 and 0 < count < total
    again = _cli(ini, "ingest", "--mission", "M", "--manifest", str(manifest), "--no-progress", "--parsers", "2")
    assert again.returncode == 0 and f"{total - count} product(s) ingested" in again.stdout


def test_an_interrupt_while_a_batchs_copies_start_leaves_no_copy(setup, tmp_path, monkeypatch):
    """A second review's Ctrl-C: an interrupt inside the batch's preparation, after some of its
    copies had started, left those files in the archive with no product naming them."""
    storage, archive = setup
    _product_files(tmp_path / "in", 12)
    manifest = _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(12)])
    real, made = ingest_module.upload_key, []

    def key_then_interrupt(product):
        if len(made) == 3:
            raise KeyboardInterrupt
        made.append(real(product))
        return made[-1]

    monkeypatch.setattr(ingest_module, "upload_key", key_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ingest_manifest(storage, archive, "M", manifest, batch_size=12, parsers=0)
    assert len(made) == 3 and _files(archive) == []  # the three copies started are removed again
    monkeypatch.setattr(ingest_module, "upload_key", real)
    assert ingest_manifest(storage, archive, "M", manifest, batch_size=12, parsers=0).ingested == 12
