"""Fixity (proseo_odata.fixity, `proseo-odata archive check`): products whose file is missing
from the archive, truncated, or changed in place, on both databases and a real archive folder,
beside products whose files are as recorded (ingested, registered by reference, without a
recorded checksum, offline, of another visibility class) and must never be reported."""
import dataclasses
import hashlib
import json
import uuid

import pytest
from click.testing import CliRunner

from site_ini import write_ini

from proseo_odata.archive.local import LocalArchive
from proseo_odata.cli import main
from proseo_odata.fixity import check_products
from proseo_odata.ingest import ingest_file, ingest_manifest
from proseo_odata.model import Mission, VisibilityClass
from proseo_odata.query import build_query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage


def _ingest(storage, archive, tmp_path, name, data=b"p" * 100, **metadata):
    source = tmp_path / "incoming" / name
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(data)
    return ingest_file(storage, archive, "M", str(source), {"Name": name, **metadata})


def make_damaged_site(storage, archive, tmp_path) -> dict:
    """{what it is: product}, the files of four damaged the ways they are damaged."""
    products = {what: _ingest(storage, archive, tmp_path, f"{what}.zip")
                for what in ("sound", "missing", "truncated", "rotten", "offline", "restricted")}
    storage.update_product(dataclasses.replace(storage.get_product("M", products["offline"].id), online=False))
    storage.update_product(dataclasses.replace(storage.get_product("M", products["restricted"].id),
                                               visibility=VisibilityClass.RESTRICTED))
    archive.delete(products["missing"].archive_key)
    archive.path_for(products["truncated"].archive_key).write_bytes(b"p" * 99)
    archive.path_for(products["rotten"].archive_key).write_bytes(b"p" * 99 + b"q")  # same size, other bytes
    # registered by reference, with its checksums given (the file not read at ingest)
    data = b"r" * 10
    key = f"M/{uuid.uuid4()}/feed/REF.zip"
    path = archive.path_for(key)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({
        "archive_key": key, "Name": "REF.zip", "ContentLength": 10,
        "Checksum": [{"Algorithm": "MD5", "Value": hashlib.md5(data).hexdigest()},
                     {"Algorithm": "SHA256", "Value": hashlib.sha256(data).hexdigest()}]}) + "\n")
    assert ingest_manifest(storage, archive, "M", manifest, parsers=0).ingested == 1
    products["referenced"] = storage.get_product_by_name("M", "REF.zip")
    # a product recording no checksum it can compute: checked by its size alone
    unhashed = _ingest(storage, archive, tmp_path, "unhashed.zip")
    storage.update_product(dataclasses.replace(storage.get_product("M", unhashed.id), checksums=[]))
    archive.path_for(unhashed.archive_key).write_bytes(b"u" * 100)
    products["unhashed"] = unhashed
    return products


def _check(storage, archive, **options):
    findings = []
    report = check_products(storage, archive, "M", found=findings.append, **options)
    return report, [(f.name, f.problem) for f in findings]


def test_missing_and_truncated_files_are_found_by_their_size(site, tmp_path):
    storage, archive = site
    products = make_damaged_site(storage, archive, tmp_path)
    report, found = _check(storage, archive, page_size=3, workers=2)
    in_id_order = sorted((p.id, p.name) for p in products.values())
    expected = [(name, problem) for _, name in in_id_order
                for problem in [{"missing.zip": "missing", "truncated.zip": "size"}.get(name)] if problem]
    assert found == expected
    assert (report.checked, report.without_file, report.problems, report.read) == (
        8, 0, {"missing": 1, "size": 1}, 0)


def test_checksums_find_a_file_changed_in_place(site, tmp_path):
    storage, archive = site
    make_damaged_site(storage, archive, tmp_path)
    report, found = _check(storage, archive, checksums=True)
    assert sorted(found) == [("missing.zip", "missing"), ("rotten.zip", "checksum"), ("truncated.zip", "size")]
    # every file that exists is read, but the one recording no checksum (its size is as recorded)
    assert (report.checked, report.read, report.bytes_read) == (8, 6, 4 * 100 + 99 + 10)
    finding = []
    check_products(storage, archive, "M", checksums=True, found=finding.append,
                   query_filter=build_query("Products", {"$filter": "Name eq 'rotten.zip'"}).query.filter)
    rotten = storage.get_product_by_name("M", "rotten.zip")
    assert finding[0].key == rotten.archive_key
    assert finding[0].detail == (f"MD5 {hashlib.md5(b'p' * 99 + b'q').hexdigest()}, "
                                 f"recorded {rotten.checksum('MD5')}")


def test_a_filter_checks_the_matching_products_only(site, tmp_path):
    storage, archive = site
    make_damaged_site(storage, archive, tmp_path)
    only = build_query("Products", {"$filter": "startswith(Name,'t') or Name eq 'sound.zip'"}).query.filter
    report, found = _check(storage, archive, query_filter=only)
    assert (report.checked, found) == (2, [("truncated.zip", "size")])


def test_a_product_removed_while_it_is_looked_at_is_not_reported(site, tmp_path):
    """Eviction between the page being read and the file being looked at: the row, then the file."""
    storage, archive = site
    products = make_damaged_site(storage, archive, tmp_path)
    evicted = products["sound"]

    class EvictingArchive:
        def __getattr__(self, name):
            return getattr(archive, name)

        def size(self, key):
            if key == evicted.archive_key:
                storage.delete_product("M", evicted.id)
                archive.delete(key)
            return archive.size(key)

    report, found = _check(storage, EvictingArchive())
    assert sorted(found) == [("missing.zip", "missing"), ("truncated.zip", "size")]
    assert report.checked == 8


def test_an_archive_that_fails_to_answer_is_a_finding_and_the_check_goes_on(site, tmp_path):
    storage, archive = site
    products = make_damaged_site(storage, archive, tmp_path)

    class FailingArchive:
        def __getattr__(self, name):
            return getattr(archive, name)

        def size(self, key):
            if key == products["sound"].archive_key:
                raise PermissionError(13, "Permission denied")
            return archive.size(key)

    findings = []
    report = check_products(storage, FailingArchive(), "M", found=findings.append)
    assert sorted((f.name, f.problem, f.detail) for f in findings) == [
        ("missing.zip", "missing", "no such file in the archive"),
        ("sound.zip", "unreadable", "PermissionError EACCES"),
        ("truncated.zip", "size", "99 bytes, ContentLength 100")]
    assert report.found == 3


def test_wrong_arguments_are_refused(site):
    storage, archive = site
    with pytest.raises(ValueError):
        check_products(storage, archive, "M", workers=0)
    with pytest.raises(ValueError):
        check_products(storage, archive, "M", page_size=0)


def test_the_archive_says_how_many_files_are_looked_at_together(site, tmp_path, monkeypatch):
    """A local folder: 2 (more threads only take turns holding the interpreter lock); S3 and an
    archive that does not say: 8; a caller's number wins."""
    from proseo_odata import fixity
    from proseo_odata.archive import ArchiveBase
    from proseo_odata.archive.s3 import S3Archive

    storage, archive = site
    make_damaged_site(storage, archive, tmp_path)
    pools = []

    class Pool(fixity.ThreadPoolExecutor):
        def __init__(self, max_workers, **options):
            pools.append(max_workers)
            super().__init__(max_workers, **options)

    monkeypatch.setattr(fixity, "ThreadPoolExecutor", Pool)

    class Unsaid:  # the archive contract without ArchiveBase (and without check_workers)
        def __getattr__(self, name):
            if name == "check_workers":
                raise AttributeError(name)
            return getattr(archive, name)

    assert _check(storage, archive)[1] == _check(storage, Unsaid())[1] == _check(storage, archive, workers=5)[1]
    assert pools == [2, 8, 5]
    assert (ArchiveBase.check_workers, S3Archive.check_workers) == (8, 8)


def test_the_command_lists_the_findings_and_exits_3(migrated_sqlite_url, tmp_path):
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    archive = LocalArchive(tmp_path / "archive")
    try:
        storage.add_mission(Mission("M"))
        products = make_damaged_site(storage, archive, tmp_path)
    finally:
        storage.close()
    ini = write_ini(tmp_path / "site", migrated_sqlite_url, archive.root)
    runner = CliRunner()
    result = runner.invoke(main, ["-c", str(ini), "archive", "check", "--mission", "M"])
    assert result.exit_code == 3, result.output
    missing, truncated = products["missing"], products["truncated"]
    assert sorted(result.stdout.splitlines()) == sorted([
        f"{missing.id}\tmissing.zip\t{missing.archive_key}\tmissing\tno such file in the archive",
        f"{truncated.id}\ttruncated.zip\t{truncated.archive_key}\tsize\t99 bytes, ContentLength 100"])
    assert result.stderr.strip() == "8 product file(s) of mission M checked: 1 missing, 1 of another size"

    result = runner.invoke(main, ["-c", str(ini), "archive", "check", "--mission", "M", "--checksums",
                                  "--workers", "3"])
    assert result.exit_code == 3
    assert len(result.stdout.splitlines()) == 3
    assert result.stderr.strip() == ("8 product file(s) of mission M checked (6 read, 509 byte(s)): "
                                     "1 missing, 1 of another size, 1 with other bytes (checksum)")

    sound = ["-c", str(ini), "archive", "check", "--mission", "M", "--checksums", "--filter", "Name eq 'sound.zip'"]
    result = runner.invoke(main, sound)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr.strip() == ("1 product file(s) of mission M checked (1 read, 100 byte(s)): "
                                     "all present and as recorded")

    # nothing to check (a filter that matches nothing, a mission without products): was a
    # ValueError traceback (a part size of 0)
    for nothing in (["--mission", "M", "--filter", "Name eq 'no-such-product'"], ["--mission", "EMPTY"]):
        if nothing[1] == "EMPTY":
            assert runner.invoke(main, ["-c", str(ini), "mission", "add", "EMPTY"]).exit_code == 0
        result = runner.invoke(main, ["-c", str(ini), "archive", "check", *nothing])
        assert (result.exit_code, result.stdout, result.exception) == (0, "", None), result.output
        assert "0 product file(s)" in result.stderr, result.stderr

    result = runner.invoke(main, ["-c", str(ini), "archive", "check", "--mission", "M", "--filter", "Nope eq 1"])
    assert result.exit_code == 1 and result.stderr.startswith("Error: --filter: ")
    result = runner.invoke(main, ["-c", str(ini), "archive", "check", "--mission", "XX"])
    assert result.exit_code == 1 and "XX" in result.stderr


def test_file_pages_are_the_product_pages(site, tmp_path):
    """The SQLAlchemy backend's own query_product_files answers what the contract's default
    (converting query_products' products) answers: the same products, order, pages and values."""
    from proseo_odata.storage import ProductFile, Query, StorageBase, iter_pages

    storage, archive = site
    make_damaged_site(storage, archive, tmp_path)
    only = build_query("Products", {"$filter": "Name ne 'sound.zip'"}).query.filter
    for checksums in (False, True):
        for query_filter in (None, only):
            query = Query(filter=query_filter, orderby=((("Id",), False),), top=3)
            own = [p.items for p in iter_pages(storage.query_product_files, "M", query=query, checksums=checksums)]
            default = [p.items for p in iter_pages(StorageBase.query_product_files.__get__(storage), "M", query=query,
                                                   checksums=checksums)]
            assert own == default
            assert all(isinstance(p, ProductFile) for page in own for p in page)
            assert sum(map(len, own)) == (8 if query_filter is None else 7)
    recorded = storage.query_product_files("M", Query(top=100), checksums=True).items
    assert {len(p.checksums) for p in recorded if p.name != "unhashed.zip"} == {2}


def test_a_missions_products_in_id_order_are_read_in_index_order_on_sqlite(migrated_sqlite_url):
    """Without planner statistics SQLite would sort the whole mission for every keyset page
    (migration 0011): the page statement's plan has no sort."""
    import sqlite3

    from statement_log import StatementLog

    from proseo_odata.storage import Query

    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        storage.add_mission(Mission("M"))
        with StatementLog(storage.engine) as log:
            storage.query_product_files("M", Query(orderby=((("Id",), False),), top=10,
                                                    skiptoken=None))
            storage.query_products("M", Query(orderby=((("Id",), False),), top=10))
    finally:
        storage.close()
    pages = [(text, parameters) for text, parameters in log.seen if "ORDER BY products.id" in text]
    assert len(pages) == 2
    connection = sqlite3.connect(migrated_sqlite_url.removeprefix("sqlite:///"))
    try:
        for text, parameters in pages:
            plan = " ".join(row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + text, parameters))
            assert "ix_products_mission_id_sqlite" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        connection.close()


def test_an_interrupt_stops_the_workers_between_files(site, tmp_path):
    """Ctrl-C while the workers look at a page: no file more is started (a page of large files
    being hashed would otherwise hold the command until all were read). The interrupt comes
    from the main thread (here: its ``found`` callback) while the second worker's part is slow."""
    import time

    storage, archive = site
    products = [_ingest(storage, archive, tmp_path, f"p{i:02d}.zip", data=b"x") for i in range(60)]
    archive.delete(products[0].archive_key)  # the first finding, in the first worker's part
    slow = {p.archive_key for p in products[30:]}
    calls = []

    class SlowArchive:
        def __getattr__(self, name):
            return getattr(archive, name)

        def size(self, key):
            if key in slow:
                calls.append(key)
                time.sleep(0.05)
            return archive.size(key)

    def interrupted(finding):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_products(storage, SlowArchive(), "M", workers=2, found=interrupted)
    time.sleep(0.3)  # a worker that went on would look at six more slow files meanwhile
    assert len(calls) <= 3, len(calls)
