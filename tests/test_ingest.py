"""ingest_file against real storage and a real archive: the archive write can never destroy the
file of a committed product, even when the duplicate is only noticed by the database."""
import hashlib
import uuid

import pytest

from proseo_odata.archive.local import LocalArchive
from proseo_odata.ingest import MetadataError, ingest_file
from proseo_odata.model import Mission
from proseo_odata.storage import ConflictError, NotFoundError, Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

PRODUCT_ID = "0a1b2c3d-0000-4000-8000-000000000001"


@pytest.fixture
def setup(site):
    """``(storage, archive)``: conftest's ``site``, mission ``M`` on both databases."""
    return site


def _files(archive):
    return sorted(p.relative_to(archive.root).as_posix() for p in archive.root.rglob("*") if p.is_file())


class _BlindStorage:
    """The storage as a concurrent ingest sees it: the pre-check finds nothing (the other
    ingest commits between the check and the insert), so only the database refuses."""

    def __init__(self, storage):
        self._storage = storage

    def get_product(self, mission, product_id, **kwargs):
        raise NotFoundError(f"no product {product_id}")

    def get_product_by_name(self, mission, name):
        raise NotFoundError(f"no product {name}")

    def __getattr__(self, name):
        return getattr(self._storage, name)


@pytest.mark.parametrize("metadata", [
    {"Id": PRODUCT_ID, "Name": "P.zip"},      # PRIP output ingested twice
    {"Id": PRODUCT_ID, "Name": "Q.zip"},      # same Id, other Name
    {"Name": "P.zip"},                        # same Name, new Id
])
def test_a_racing_duplicate_never_touches_the_committed_file(setup, tmp_path, metadata):
    storage, archive = setup
    first = tmp_path / "first.bin"
    first.write_bytes(b"original bytes")
    original = ingest_file(storage, archive, "M", first, {"Id": PRODUCT_ID, "Name": "P.zip"})
    before = _files(archive)
    second = tmp_path / "second.bin"
    second.write_bytes(b"different bytes")

    with pytest.raises(MetadataError) as checked:
        ingest_file(storage, archive, "M", second, metadata)
    assert checked.value.field in ("Id", "Name") and "already exists" in str(checked.value)
    with pytest.raises(ConflictError):
        ingest_file(_BlindStorage(storage), archive, "M", second, metadata)

    assert _files(archive) == before
    kept = storage.get_product("M", original.id)
    data = b"".join(archive.iter_range(kept.archive_key))
    assert data == b"original bytes" and kept.checksum("MD5") == hashlib.md5(data).hexdigest()
    assert storage.query_products("M", Query(count=True)).count == 1


def test_each_upload_gets_its_own_key(setup, tmp_path):
    storage, archive = setup
    path = tmp_path / "p.bin"
    path.write_bytes(b"x")
    a = ingest_file(storage, archive, "M", path, {"Name": "a.bin"})
    b = ingest_file(storage, archive, "M", path, {"Name": "b.bin"})
    for product in (a, b):
        mission, product_id, token, name = product.archive_key.split("/")
        assert (mission, uuid.UUID(product_id), name) == ("M", product.id, product.name) and len(token) == 16
    assert a.archive_key != b.archive_key and len(_files(archive)) == 2


# -- bulk ingest from a manifest (ingest_manifest, `ingest --manifest`) --------------------------

import json  # noqa: E402
import textwrap  # noqa: E402
import threading  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from proseo_odata.cli import main  # noqa: E402
from proseo_odata.ingest import ingest_manifest  # noqa: E402
from proseo_odata.model import Role, Subscription, User, hash_password  # noqa: E402

L1C = [{"Name": "productType", "ValueType": "String", "Value": "S2MSI1C"}]
L2A = [{"Name": "productType", "ValueType": "String", "Value": "S2MSI2A"}]


def _manifest(folder, lines):
    """Write the manifest lines (dicts as JSON, strings as they are) to folder/m.jsonl."""
    path = folder / "m.jsonl"
    path.write_text("".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines), encoding="utf-8")
    return path


def _product_files(folder, count, prefix="f"):
    folder.mkdir(exist_ok=True)
    for i in range(count):
        (folder / f"{prefix}{i}.dat").write_bytes(f"{prefix} file {i} ".encode() * (i + 1))
    return folder


def test_manifest_bad_lines_are_reported_by_number_and_the_good_lines_commit(setup, tmp_path):
    storage, archive = setup
    files = _product_files(tmp_path / "in", 6)
    lines = [
        {"file": "in/f0.dat"},                                                      # 1 ok
        '{"file": "in/f1.dat", ',                                                   # 2 not JSON
        {"file": "in/f1.dat", "Colour": "red"},                                     # 3 unknown key
        {"file": "in/missing.dat"},                                                 # 4 no such file
        {"file": "in/f2.dat", "Checksum": [{"Algorithm": "MD5", "Value": "0" * 32}]},  # 5 wrong MD5
        "",                                                                         # blank: skipped
        {"file": "in/f3.dat", "Name": "three.dat", "Attributes": L1C},              # 7 ok
        {"file": "in/f4.dat", "Name": "three.dat"},                                 # 8 same Name again
        {"file": "in/f4.dat", "ContentLength": 3},                                  # 9 wrong length
        {"file": "in/f5.dat", "Attributes": [{"Name": "n" * 300, "ValueType": "String", "Value": "v"}]},  # 10 too long for PostgreSQL
        {"file": "in/f1.dat", "ContentDate": {"Start": "yesterday"}},               # 11 bad date
        {"file": "in/f1.dat", "ContentLength": len((files / "f1.dat").read_bytes())},  # 12 ok
        {"Name": "x"},                                                              # 13 no file
    ]
    calls = []
    report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, lines), batch_size=3, workers=3,
                             progress=calls.append)
    failed = dict(report.failed)
    # PostgreSQL refuses line 10's attribute name (varchar(255)) and fails the batch's write: the
    # batch is written again product by product, so only line 10 fails. SQLite stores it.
    refused = [10] if storage.dialect == "postgresql" else []
    assert sorted(failed) == sorted([2, 3, 4, 5, 9, 11, 13] + refused), report.failed
    assert "not JSON" in failed[2] and "'Colour'" in failed[3] and "missing.dat" in failed[4]
    assert "MD5" in failed[5] and "ContentLength" in failed[9] and "ContentDate/Start" in failed[11]
    assert "file" in failed[13] and all("does not fit the database" in failed[n] for n in refused)
    assert (report.ingested, report.skipped, report.referenced) == (4 - len(refused), 1, 0)
    assert sum(calls) == 12 and len(calls) == 4  # every non-blank line, batch by batch
    names = {p.name for p in storage.query_products("M", Query()).items}
    assert names == {"f0.dat", "three.dat", "f1.dat"} | ({"f5.dat"} if not refused else set())
    # only the stored products' files are left in the archive, with their bytes and digests
    stored = storage.query_products("M", Query()).items
    assert sorted(_files(archive)) == sorted(p.archive_key for p in stored)
    for product in stored:
        data = b"".join(archive.iter_range(product.archive_key))
        assert product.content_length == len(data) and product.checksum("SHA256") == hashlib.sha256(data).hexdigest()
    assert storage.get_product_by_name("M", "three.dat").product_type == "S2MSI1C"


def test_a_line_whose_name_is_not_a_string_fails_alone(setup, tmp_path):
    storage, archive = setup
    _product_files(tmp_path / "in", 2)
    _product_files(tmp_path / "more", 2)
    # a CR/LF or DEL in a Name could never be a download's file name (the header was refused: a 500)
    lines = [{"file": "in/f0.dat", "Name": ["x"]}, {"file": "in/f1.dat"},
             {"file": "more/f0.dat", "Name": "a\r\nX-Evil: 1.dat"}, {"file": "more/f1.dat", "Name": "del\x7f.dat"}]
    report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, lines), batch_size=10, workers=1)
    assert [line for line, _ in report.failed] == [1, 3, 4] and all("Name" in why for _, why in report.failed), report.failed
    assert report.ingested == 1 and storage.get_product_by_name("M", "f1.dat")


@pytest.mark.parametrize("parsers", [0, 1], ids=["in-process", "parser-process"])
def test_lines_only_the_json_module_reads_and_lines_nested_too_deeply(setup, tmp_path, parsers):
    """Manifest lines are read by orjson; what it refuses goes to the json module, which decides
    as before (NaN is read, then refused by the attribute's check); a line nested deeper than
    either reader goes is a bad line, not a crash."""
    storage, archive = setup
    _product_files(tmp_path / "in", 3)
    lines = [
        '{"file": "in/f0.dat", "Attributes": [{"Name": "x", "ValueType": "Double", "Value": NaN}]}',
        '{"file": "in/f1.dat", "Attributes": ' + "[" * 100_000 + "]" * 100_000 + "}",
        {"file": "in/f2.dat", "Name": "fine.dat", "Attributes": [{"Name": "cloudCover", "ValueType": "Double", "Value": 2.5}]},
    ]
    report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, lines), batch_size=10, workers=1,
                             parsers=parsers)
    failed = dict(report.failed)
    assert sorted(failed) == [1, 2], report.failed
    assert "not JSON" not in failed[1] and "Attributes" in failed[1], failed[1]  # read, then refused
    assert "nested too deeply" in failed[2], failed[2]
    assert report.ingested == 1 and storage.get_product_by_name("M", "fine.dat")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "inf", "-Infinity", "NaN", 10 ** 400])
def test_a_double_that_is_not_finite_is_refused(value):
    """NaN and Infinity are no JSON numbers: a product holding one was served as bare
    ``Infinity``, which made its listing unreadable for strict JSON clients."""
    from proseo_odata.ingest import parse_attribute

    with pytest.raises(MetadataError, match="expected a finite number for qualityScore") as refused:
        parse_attribute({"Name": "qualityScore", "ValueType": "Double", "Value": value}, 0)
    assert refused.value.field == "Attributes[0]/Value"


def test_a_manifest_line_with_infinity_is_read_and_refused(setup, tmp_path):
    storage, archive = setup
    _product_files(tmp_path / "in", 2)
    lines = ['{"file": "in/f0.dat", "Attributes": [{"Name": "q", "ValueType": "Double", "Value": Infinity}]}',
             {"file": "in/f1.dat", "Name": "fine.dat"}]
    report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, lines), batch_size=10, workers=1, parsers=0)
    [(line, reason)] = report.failed
    assert line == 1 and "finite" in reason and "not JSON" not in reason, reason
    assert report.ingested == 1


@pytest.mark.parametrize("writers", [1, 2, 3])
def test_batches_written_at_once_store_what_one_writer_stores(setup, tmp_path, writers):
    """With several writers a batch is stored while the ones before it may not have committed:
    a line naming the Name or the Id of a product in a batch still being written is skipped, as
    one writer skips it (there the database refuses it). The report and the progress follow
    manifest order; every product is stored once, with its own file."""
    storage, archive = setup
    _product_files(tmp_path / "in", 40)
    ids = [str(uuid.uuid4()) for _ in range(40)]
    lines = [{"file": f"in/f{i}.dat", "Id": ids[i]} for i in range(40)]
    lines[6] = {"file": "in/f6.dat", "Name": "f1.dat", "Id": ids[6]}  # batch 2: a Name of batch 1
    lines[7] = {"file": "in/f7.dat", "Id": ids[2]}  # batch 2: an Id of batch 1
    lines[13] = {"file": "in/f13.dat", "Name": "f9.dat", "Id": ids[13]}  # batch 3: a Name of batch 2
    lines[30] = {"file": "in/f30.dat", "Name": "f4.dat", "Id": ids[30]}  # batch 7: a Name of batch 1 (committed)
    calls, staged = [], []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "CREATE TEMPORARY TABLE" in statement:
            staged.append(statement)

    sa.event.listen(storage.engine, "before_cursor_execute", seen)
    try:
        report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, lines), batch_size=5, workers=2,
                                 writers=writers, progress=calls.append)
    finally:
        sa.event.remove(storage.engine, "before_cursor_execute", seen)
    assert (report.ingested, report.skipped, report.failed) == (36, 4, [])
    # skipped before the database sees them: two transactions inserting one Name wait for each
    # other (and could deadlock), and a refused COPY goes through the staging table
    assert staged == []
    assert calls == [5] * 8
    stored = {p.name: p for p in storage.query_products("M", Query(top=100)).items}
    assert len(stored) == 36 and "f6.dat" not in stored and "f7.dat" not in stored
    assert str(stored["f1.dat"].id) == ids[1] and str(stored["f2.dat"].id) == ids[2]
    assert str(stored["f9.dat"].id) == ids[9] and str(stored["f4.dat"].id) == ids[4]
    assert len(_files(archive)) == 36  # the skipped lines' copies are removed
    for product in stored.values():
        data = b"".join(archive.iter_range(product.archive_key))
        assert data == (tmp_path / "in" / product.name).read_bytes()


def test_the_collector_runs_only_when_the_ingest_calls_it(setup, tmp_path, monkeypatch):
    """While a bulk ingest runs, the collector's automatic runs are off in its process (they
    walked the batches in flight again and again); it collects fully every BULK_GC_EVERY
    batches instead, and the thresholds are restored afterwards."""
    import gc

    from proseo_odata import ingest as ingest_module

    storage, archive = setup
    _product_files(tmp_path / "in", 12)
    monkeypatch.setattr(ingest_module, "BULK_GC_EVERY", 2)
    before = gc.get_threshold()
    seen, full = [], []

    def collected(phase, info):
        if phase == "stop" and info["generation"] == 2:
            full.append(info)

    gc.callbacks.append(collected)
    # (the suite's objects set aside: each full collection walked them all, seconds a test)
    gc.freeze()
    try:
        report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(12)]),
                                 batch_size=2, workers=1, parsers=0, progress=lambda n: seen.append(gc.get_threshold()[0]))
    finally:
        gc.unfreeze()
        gc.callbacks.remove(collected)
    assert report.ingested == 12 and seen == [0] * 6
    assert len(full) >= 3  # batches 2, 4 and 6
    assert gc.get_threshold() == before


def test_manifest_batches_default_to_the_module_batch_size(setup, tmp_path, monkeypatch):
    """Without batch_size (the CLI's default too) a batch is DEFAULT_BATCH_SIZE lines."""
    import proseo_odata.ingest as ingest_module
    from proseo_odata import cli

    option = next(p for p in cli.ingest.params if p.name == "batch_size")
    assert option.default == ingest_module.DEFAULT_BATCH_SIZE
    storage, archive = setup
    _product_files(tmp_path / "in", 5)
    monkeypatch.setattr(ingest_module, "DEFAULT_BATCH_SIZE", 2)
    calls = []
    report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(5)]),
                             progress=calls.append)
    assert report.ingested == 5 and calls == [2, 2, 1]


def test_a_load_that_is_a_large_share_of_the_catalogue_refreshes_the_planner_statistics(setup, tmp_path):
    """PostgreSQL plans a catalogue it has no statistics for as if it were empty (a re-run's
    Name look-up scanned every name of the mission); autovacuum catches up only a minute later.
    SQLite has no statistics at all until ANALYZE runs (and no autovacuum to run it). So a load
    of at least a tenth of the products there are then is followed by ANALYZE."""
    storage, archive = setup
    postgresql = storage.dialect == "postgresql"
    if not postgresql:  # SQLite leaves a catalogue of fewer than 1,000 products unanalysed (below)
        storage.SQLITE_STATISTICS_MIN_ROWS = 20
    _product_files(tmp_path / "in", 30)

    def load(numbers):
        return ingest_manifest(storage, archive, "M", _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in numbers]),
                               batch_size=8)

    def estimated():  # the row count of products the planner reads (None: never analysed)
        with storage.engine.connect() as connection:
            if postgresql:
                count = connection.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = 'products'::regclass")).scalar()
                return None if count == -1 else count
            if connection.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is None:
                return None
            return connection.execute(sa.text("SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 "
                                              "WHERE tbl = 'products'")).scalar()

    assert estimated() is None
    first = load(range(20))  # from empty: all of it
    assert (first.ingested, first.statistics_refreshed, estimated()) == (20, True, 20)
    second = load([20])  # 1 of 21: left for later
    assert (second.ingested, second.statistics_refreshed, estimated()) == (1, False, 20)
    assert load(range(21)).statistics_refreshed is False  # nothing added
    third = load(range(21, 30))  # 9 of 30
    assert (third.ingested, third.statistics_refreshed, estimated()) == (9, True, 30)


def test_sqlite_leaves_a_small_catalogue_without_statistics(setup, tmp_path):
    """Statistics of a few rows would outlive a catalogue grown by other ways (nothing refreshes
    them then): below SQLITE_STATISTICS_MIN_ROWS products SQLite gets none."""
    storage, archive = setup
    if storage.dialect != "sqlite":
        pytest.skip("SQLite's threshold")
    _product_files(tmp_path / "in", 12)
    storage.SQLITE_STATISTICS_MIN_ROWS = 13
    lines = [{"file": f"in/f{i}.dat"} for i in range(12)]
    assert ingest_manifest(storage, archive, "M", _manifest(tmp_path, lines)).statistics_refreshed is False
    with storage.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is None
    assert storage.refresh_statistics(13) is False  # never analysed: the 12 rows there count
    storage.SQLITE_STATISTICS_MIN_ROWS = 12
    assert storage.refresh_statistics(1) is True  # (not only the load's)


def test_statistics_not_refreshed_in_time_leave_the_committed_load_and_its_report(setup, tmp_path, caplog):
    """The refresh is best effort: the load is committed before it. Another session holding a
    lock that ANALYZE needs (another ANALYZE, a VACUUM) makes it give up after 2 s with a
    warning; the report is whole."""
    storage, archive = setup
    if storage.dialect != "postgresql":
        pytest.skip("PostgreSQL's lock_timeout (SQLite's: tests/storage/test_sqlite_statistics_growth.py)")
    _product_files(tmp_path / "in", 5)
    blocker = sa.create_engine(storage.engine.url)
    try:
        with blocker.connect() as holder:
            holder.execute(sa.text("LOCK TABLE products IN SHARE UPDATE EXCLUSIVE MODE"))  # what ANALYZE takes
            with caplog.at_level("WARNING", logger="proseo_odata.storage.sqlalchemy"):
                report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(5)]))
            holder.rollback()
    finally:
        blocker.dispose()
    assert (report.ingested, report.failed, report.statistics_refreshed) == (5, [], False)
    assert storage.query_products("M", Query(count=True)).count == 5
    assert "planner statistics were not refreshed" in caplog.text
    assert storage.refresh_statistics(5) is True  # the lock gone, it works


def test_a_role_that_may_not_analyze_the_tables_leaves_the_statistics_to_autovacuum(migrated_pg_url, caplog):
    """PostgreSQL only warns (and does nothing) when a role that does not own the tables runs
    ANALYZE: the refresh asks first, and answers False with its own warning."""
    from sqlalchemy.engine import make_url

    owner = sa.create_engine(migrated_pg_url)
    try:
        with owner.begin() as connection:
            connection.execute(sa.text("DROP ROLE IF EXISTS proseo_test_reader"))
            connection.execute(sa.text("CREATE ROLE proseo_test_reader LOGIN"))
        url = make_url(migrated_pg_url).set(username="proseo_test_reader").render_as_string(hide_password=False)
        storage = SQLAlchemyStorage.from_url(url)
        try:
            with caplog.at_level("WARNING", logger="proseo_odata.storage.sqlalchemy"):
                assert storage.refresh_statistics(10) is False
        finally:
            storage.close()
        assert "may not ANALYZE" in caplog.text
    finally:
        with owner.begin() as connection:
            connection.execute(sa.text("DROP ROLE IF EXISTS proseo_test_reader"))
        owner.dispose()


def test_manifest_rerun_skips_what_is_there_and_copies_nothing_twice(setup, tmp_path):
    storage, archive = setup
    _product_files(tmp_path / "in", 5)
    manifest = _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(3)])
    first = ingest_manifest(storage, archive, "M", manifest, batch_size=2)
    assert (first.ingested, first.skipped, first.failed) == (3, 0, [])
    before = _files(archive)
    again = ingest_manifest(storage, archive, "M", manifest, batch_size=2)
    assert (again.ingested, again.skipped, again.failed) == (0, 3, [])
    assert _files(archive) == before
    grown = _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(5)])
    third = ingest_manifest(storage, archive, "M", grown, batch_size=2)
    assert (third.ingested, third.skipped) == (2, 3)
    assert len(_files(archive)) == 5 and storage.query_products("M", Query(count=True)).count == 5


def test_manifest_registers_archived_files_by_reference(setup, tmp_path):
    storage, archive = setup
    data = {name: f"already archived {name}".encode() * 3 for name in ("a.nc", "b.nc", "c.nc")}
    for name, payload in data.items():
        source = tmp_path / name
        source.write_bytes(payload)
        archive.put_file(f"incoming/{name}", source)
    before = _files(archive)
    md5 = hashlib.md5(data["b.nc"]).hexdigest()
    sha = hashlib.sha256(data["b.nc"]).hexdigest()
    lines = [
        {"archive_key": "incoming/a.nc"},                                   # hashed through the archive
        {"archive_key": "incoming/b.nc", "ContentLength": len(data["b.nc"]),  # trusted: size checked only
         "Checksum": [{"Algorithm": "MD5", "Value": md5}, {"Algorithm": "SHA256", "Value": sha}]},
        {"archive_key": "incoming/c.nc", "Checksum": [{"Algorithm": "MD5", "Value": "f" * 32}]},  # wrong
        {"archive_key": "incoming/b.nc", "ContentLength": 1, "Name": "b2.nc",
         "Checksum": [{"Algorithm": "MD5", "Value": md5}, {"Algorithm": "SHA256", "Value": sha}]},  # wrong size
        {"archive_key": "incoming/none.nc"},                                # not in the archive
        {"archive_key": "../etc/passwd"},                                   # not a key
        {"archive_key": "incoming/a.nc", "file": "a.nc", "Name": "both"},   # both
    ]
    report = ingest_manifest(storage, archive, "M", _manifest(tmp_path, lines), batch_size=4)
    assert sorted(dict(report.failed)) == [3, 4, 5, 6, 7], report.failed
    assert (report.ingested, report.referenced) == (2, 2)
    assert _files(archive) == before  # nothing copied, nothing deleted (not even after a mismatch)
    for name in ("a.nc", "b.nc"):
        product = storage.get_product_by_name("M", name)
        assert product.archive_key == f"incoming/{name}" and product.content_length == len(data[name])
        assert product.checksum("MD5") == hashlib.md5(data[name]).hexdigest()
        assert product.checksum("SHA256") == hashlib.sha256(data[name]).hexdigest()


def _subscriber(storage, filter_param, name="alice", roles=(Role.PRIP_USER,)):
    storage.add_user(User("M", name, hash_password("pw"), set(roles)))
    return storage.add_subscription(Subscription(
        mission="M", owner=name, filter_param=filter_param, notification_endpoint="http://127.0.0.1:9/notify"))


def test_manifest_notifies_subscriptions_for_every_new_product(setup, tmp_path):
    storage, archive = setup
    l1c = _subscriber(storage, "Attributes/OData.CSC.StringAttribute/any(a:a/Name eq 'productType' and a/OData.CSC.StringAttribute/Value eq 'S2MSI1C')")
    everything = _subscriber(storage, "startswith(Name,'f')", name="bob")
    _subscriber(storage, "true", name="carol", roles=(Role.ODIP_USER,))  # may not read products: nothing
    _product_files(tmp_path / "in", 7)
    lines = [{"file": f"in/f{i}.dat", "Attributes": L1C if i % 3 else L2A} for i in range(7)]
    manifest = _manifest(tmp_path, lines)
    report = ingest_manifest(storage, archive, "M", manifest, batch_size=2)
    assert report.ingested == 7 and report.notified == 4 + 7
    sent = storage.list_notifications()
    by_subscription = {}
    for message in sent:
        by_subscription.setdefault(message.payload["SubscriptionId"], set()).add(message.payload["ProductName"])
    assert by_subscription == {
        str(l1c.id): {f"f{i}.dat" for i in range(7) if i % 3},
        str(everything.id): {f"f{i}.dat" for i in range(7)},
    }
    assert storage.get_subscription("M", l1c.id).last_notification_date is not None
    ingest_manifest(storage, archive, "M", manifest, batch_size=2)  # re-run: nothing new, no notification
    assert len(storage.list_notifications()) == len(sent)


def test_manifest_notifications_are_written_in_bulk(setup, tmp_path):
    """One batch of 12 products matched by two subscriptions: 24 notifications, written by ONE
    outbox INSERT, and each subscription's LastNotificationDate written once."""
    import sqlalchemy as sa

    storage, archive = setup
    first = _subscriber(storage, "startswith(Name,'f')")
    second = _subscriber(storage, "true", name="bob")
    _product_files(tmp_path / "in", 12)
    manifest = _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(12)])
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()).upper())

    sa.event.listen(storage.engine, "before_cursor_execute", record)
    try:
        report = ingest_manifest(storage, archive, "M", manifest, batch_size=100)
    finally:
        sa.event.remove(storage.engine, "before_cursor_execute", record)
    assert report.ingested == 12 and report.notified == 24
    assert sum(s.startswith("INSERT INTO OUTBOX") for s in statements) == 1
    assert sum(s.startswith("UPDATE SUBSCRIPTIONS") for s in statements) == 2
    sent = storage.list_notifications()
    assert sorted((m.payload["SubscriptionId"], m.payload["ProductName"]) for m in sent) == sorted(
        (str(s.id), f"f{i}.dat") for s in (first, second) for i in range(12))
    for subscription in (first, second):
        assert storage.get_subscription("M", subscription.id).last_notification_date is not None


def test_concurrent_manifest_ingests_store_each_product_once(setup, tmp_path):
    storage, archive = setup
    _product_files(tmp_path / "in", 24)
    manifest = _manifest(tmp_path, [{"file": f"in/f{i}.dat"} for i in range(24)])
    reports, errors = [], []

    def run():
        try:
            reports.append(ingest_manifest(storage, archive, "M", manifest, batch_size=4, workers=2))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == [] and len(reports) == 2
    assert sum(r.ingested for r in reports) == 24 and sum(r.skipped for r in reports) == 24
    stored = storage.query_products("M", Query(count=True, top=100)).items
    assert len(stored) == 24 and sorted(_files(archive)) == sorted(p.archive_key for p in stored)


@pytest.mark.postgresql
def test_bulk_rows_have_the_postgis_footprint(migrated_pg_url, tmp_path):
    from proseo_odata.odata import edm
    from proseo_odata.odata.binding import bind_filter
    from proseo_odata.odata.parser import parse_filter

    storage = SQLAlchemyStorage.from_url(migrated_pg_url)
    storage.add_mission(Mission("M"))
    try:
        _product_files(tmp_path / "in", 2)
        lines = [{"file": "in/f0.dat", "Footprint": "geography'SRID=4326;POLYGON((10 50,11 50,11 51,10 51,10 50))'"},
                 {"file": "in/f1.dat", "Footprint": "POLYGON((100 10,101 10,101 11,100 11,100 10))"}]
        ingest_manifest(storage, LocalArchive(tmp_path / "archive"), "M", _manifest(tmp_path, lines))
        bound = bind_filter(parse_filter(
            "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((10.5 50.5,12 50.5,12 52,10.5 52,10.5 50.5))')"),
            edm.PRODUCT, model=edm.PRIP_MODEL)
        assert [p.name for p in storage.query_products("M", Query(filter=bound)).items] == ["f0.dat"]
    finally:
        storage.close()


def _site(tmp_path, sqlite_url, more=""):
    """A site .ini in ``tmp_path``: SQLite at ``sqlite_url``, a local archive beside it, ``more``."""
    ini = tmp_path / "site.ini"
    ini.write_text(textwrap.dedent(f"""\
        [app:main]
        proseo.storage.backend = proseo_odata.storage.sqlalchemy
        proseo.storage.url = {sqlite_url}
        proseo.archive.backend = local
        proseo.archive.path = %(here)s/archive
        """) + more, encoding="utf-8")
    return ini


def test_cli_manifest_summary_failed_lines_and_exit_status(tmp_path, sqlite_url):
    ini = _site(tmp_path, sqlite_url)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, ["-c", str(ini), *args], catch_exceptions=False)

    assert invoke("initdb").exit_code == 0 and invoke("mission", "add", "M").exit_code == 0
    _product_files(tmp_path / "in", 3)
    manifest = _manifest(tmp_path, [{"file": "in/f0.dat"}, {"file": "in/f1.dat", "Online": "yes"}, {"file": "in/f2.dat"}])
    result = invoke("ingest", "--mission", "M", "--manifest", str(manifest), "--batch-size", "2", "--no-progress")
    assert result.exit_code == 1
    assert "2 product(s) ingested into mission M (0 by reference), 0 already present, 1 line(s) failed" in result.stdout
    assert f"{manifest}:2: field 'Online'" in result.stderr
    again = invoke("ingest", "--mission", "M", "--manifest", str(manifest), "--no-progress")
    assert "0 product(s) ingested" in again.stdout and "2 already present" in again.stdout
    usage = invoke("ingest", "--mission", "M", "--manifest", str(manifest), str(manifest))
    assert usage.exit_code == 2 and "--manifest takes no FILE" in usage.output
    assert invoke("ingest", "--mission", "NOPE", "--manifest", str(manifest)).exit_code == 1


#: Manifest lines covering every kind of field the bulk path writes itself (renderings, typed
#: attribute columns, date-times in other zones and precisions, promoted and derived columns).
EVERY_FIELD = [
    {"Name": "full.zip", "Id": "0a1b2c3d-0000-4000-8000-0000000000aa", "ContentType": "application/zip",
     "OriginDate": "2021-05-20T19:08:07.654Z", "PublicationDate": "2021-05-20T21:08:07.123456+02:00",
     "ModificationDate": "2021-05-21 00:00:01", "EvictionDate": "2031-01-01T00:00:00.1Z", "Online": False,
     "ContentDate": {"Start": "2021-05-20T10:00:00.000001Z", "End": "2021-05-20T10:00:30.123456789Z"},
     "ProductionType": "on-demand:default", "Visibility": "RESTRICTED",
     "Footprint": "geography'SRID=4326;POLYGON((10 50,11.25 50,11.25 51.000001,10 51,10 50))'",
     "Checksum": [{"Algorithm": "XXH3", "Value": "abcdef", "ChecksumDate": "2021-05-20T19:08:07Z"}],
     "Attributes": [
         {"@odata.type": "#OData.CSC.StringAttribute", "Name": "productType", "ValueType": "String", "Value": "S2MSI2A"},
         {"@odata.type": "#OData.CSC.DoubleAttribute", "Name": "cloudCover", "ValueType": "Double", "Value": 12.5},
         {"@odata.type": "#OData.CSC.IntegerAttribute", "Name": "orbitNumber", "ValueType": "Integer", "Value": "-42"},
         {"Name": "hugeInteger", "IntegerValue": 9223372036854775807},
         {"Name": "onboard", "ValueType": "Boolean", "Value": "true"},
         {"Name": "processed", "BooleanValue": False},
         {"@odata.type": "#OData.CSC.DateTimeOffsetAttribute", "Name": "beginningDateTime",
          "Value": "2021-05-20T10:00:00.5-01:30"},
         {"Name": "ratio", "DoubleValue": "1e-7"},
         {"Name": "empty", "StringValue": ""},
     ]},
    {"Name": "geojson.zip", "GeoFootprint": {"type": "MultiPolygon", "coordinates": [
        [[[0, 0], [1.5, 0], [1.5, 1], [0, 0]]], [[[10, 10], [12, 10], [12, 12], [10, 10]], [[10.5, 10.5], [11, 10.5], [11, 11], [10.5, 10.5]]]]},
     "Attributes": [{"Name": "cloudCover", "ValueType": "Integer", "Value": 3}]},  # not the promoted type
    {"Name": "three-d.zip", "Footprint": "POLYGON Z((1 2 3,4 5 6,7 8 9,1 2 3))"},
    {"Name": "point.zip", "Footprint": "SRID=4326;POINT(1e-5 -0.0)", "PublicationDate": "2021-05-20T19:08:07Z"},
    {"Name": "bare.zip"},
]


BULK_ID = "0a1b2c3d-0000-4000-8000-0000000000bb"


def _rows(storage, mission):
    """The products, checksum and attribute rows of ``mission`` as the database holds them,
    without the columns that differ between two ingests of the same file (mission, archive key,
    the checksum dates of computed checksums) and keyed by Name."""
    import sqlalchemy as sa

    from proseo_odata.storage.schema import product_attributes, product_checksums, products

    with storage.engine.connect() as connection:
        found = {}
        for row in connection.execute(sa.select(products).where(products.c.mission == mission)).mappings():
            values = {k: v for k, v in row.items() if k not in ("mission", "archive_key", "footprint_geom")}
            if storage.tables.postgis:
                values["geom"] = connection.execute(sa.select(sa.func.ST_AsText(products.c.footprint_geom))
                                                    .where(products.c.id == row["id"])).scalar()
            values["checksums"] = sorted(tuple(r[1:]) for r in connection.execute(
                sa.select(product_checksums).where(product_checksums.c.product_id == row["id"])))
            values["attributes"] = sorted(tuple(r[1:]) for r in connection.execute(
                sa.select(product_attributes).where(product_attributes.c.product_id == row["id"])))
            found[row["name"]] = values
    return found


def test_manifest_stores_the_same_rows_as_the_per_file_ingest(setup, tmp_path):
    """Bulk ingest writes rows its own way (COPY / one executemany, footprint renderings from
    the geometry it parsed): every column comes out as the per-file ingest writes it."""
    storage, archive = setup
    storage.add_mission(Mission("B"))
    files = _product_files(tmp_path / "in", len(EVERY_FIELD))
    for i, metadata in enumerate(EVERY_FIELD):
        ingest_file(storage, archive, "M", files / f"f{i}.dat", metadata)
    # (Ids are unique across missions: the bulk copy of the first line gets its own)
    lines = [{"file": f"in/f{i}.dat", **metadata, **({"Id": BULK_ID} if "Id" in metadata else {})}
             for i, metadata in enumerate(EVERY_FIELD)]
    report = ingest_manifest(storage, archive, "B", _manifest(tmp_path, lines))
    assert (report.ingested, report.failed) == (len(EVERY_FIELD), [])
    single, bulk = _rows(storage, "M"), _rows(storage, "B")
    ids = {name: row.pop("id") for name, row in bulk.items()}
    assert ids["full.zip"] == uuid.UUID(BULK_ID)
    for rows in (single, bulk):
        for row in rows.values():
            row.pop("id", None)
            row.pop("publication_date") if row["name"] in ("geojson.zip", "three-d.zip", "bare.zip") else None
            row.pop("modification_date") if row["name"] in ("geojson.zip", "three-d.zip", "bare.zip") else None
            # MD5/SHA256 are dated with the publication date (now, for lines without one)
            row["checksums"] = [c if c[0] not in ("MD5", "SHA256") or row["name"] in ("full.zip", "point.zip")
                                else c[:2] for c in row["checksums"]]
    assert bulk == single
    # the renderings made from the parsed geometry are those of the stored WKT
    from proseo_odata.storage.mapping import render_footprint

    for row in bulk.values():
        assert (row["footprint_literal"], row["footprint_geojson"]) == render_footprint(row["footprint"]), row
    full = bulk["full.zip"]
    assert full["footprint_literal"] == "geography'SRID=4326;POLYGON((10 50,11.25 50,11.25 51.000001,10 51,10 50))'"
    assert full["cloud_cover"] == 12.5 and full["product_type"] == "S2MSI2A"
    assert json.loads(bulk["geojson.zip"]["footprint_geojson"])["type"] == "MultiPolygon"
    assert bulk["three-d.zip"]["footprint"] == "POLYGON((1 2,4 5,7 8,1 2))"
    assert bulk["point.zip"]["footprint"] == "POINT(0.00001 0)"


def test_two_lines_with_one_id_store_the_first_and_remove_the_second_copy(setup, tmp_path):
    """Two lines of one batch give the same Id (other Names): the database keeps the first.
    The results were matched by Id, so the second line also counted as ingested and the file
    copied for it stayed in the archive with no product."""
    storage, archive = setup
    _product_files(tmp_path / "in", 2)
    same = "6f1c1a0e-0000-4000-8000-000000000001"
    manifest = _manifest(tmp_path, [{"file": "in/f0.dat", "Id": same}, {"file": "in/f1.dat", "Id": same}])
    report = ingest_manifest(storage, archive, "M", manifest, batch_size=10)
    assert (report.ingested, report.skipped, report.failed) == (1, 1, [])
    assert [p.name for p in storage.query_products("M", Query()).items] == ["f0.dat"]
    assert len(_files(archive)) == 1


@pytest.mark.parametrize("footprint", [
    {"GeoFootprint": {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 2]}]}},
    {"GeoFootprint": {"type": "Polygon", "coordinates": []}},
    {"Footprint": "geography'SRID=4326;GEOMETRYCOLLECTION(POINT(1 2))'"},
])
def test_a_footprint_of_a_type_the_service_does_not_serve_fails_its_line(setup, tmp_path, footprint):
    """A GeoJSON GeometryCollection was read by shapely and then made the WKT writer raise: the
    whole ingest stopped with a traceback. It is now the line's error, as a literal's is."""
    storage, archive = setup
    _product_files(tmp_path / "in", 2)
    manifest = _manifest(tmp_path, [{"file": "in/f0.dat", **footprint}, {"file": "in/f1.dat"}])
    report = ingest_manifest(storage, archive, "M", manifest, batch_size=10)
    assert [n for n, _ in report.failed] == [1] and report.ingested == 1
    assert "geometry" in report.failed[0][1]


def test_a_file_that_contradicts_its_metadata_is_refused_and_removed(setup, tmp_path):
    """A file whose size or checksum differs from the metadata: MetadataError naming the field,
    nothing stored, the copy removed again."""
    storage, archive = setup
    source = tmp_path / "c.bin"
    source.write_bytes(b"12345")
    for metadata, field in (({"Name": "C1.zip", "ContentLength": 4}, "ContentLength"),
                            ({"Name": "C2.zip", "Checksum": [{"Algorithm": "MD5", "Value": "0" * 32}]}, "Checksum")):
        with pytest.raises(MetadataError) as refused:
            ingest_file(storage, archive, "M", source, metadata)
        assert refused.value.field == field
        with pytest.raises(NotFoundError):
            storage.get_product_by_name("M", metadata["Name"])
    assert _files(archive) == []


@pytest.mark.parametrize("metadata, field", [
    ({"Name": ".."}, "Name"),
    ({"Name": "N" * 256}, "Name"),                            # longer than a file name may be
    ({"Name": "a\x00b.zip"}, "Name"),
    ({"Name": ".part-REV_output.zip"}, "Name"),               # the archive's temporary file name
    ({"ContentType": "zip"}, "ContentType"),
    ({"ContentType": "text/plain\r\nX-Injected: 1"}, "ContentType"),  # would be a download's header
    ({"ContentType": "application/" + "x" * 300}, "ContentType"),
    ({"Footprint": "POLYGON((1 1,2 1,2 2,1 2,1 1))\x00 and the rest"}, "Footprint"),  # GEOS would stop at the NUL
])
def test_metadata_no_product_could_carry_is_refused_naming_its_field(metadata, field):
    from proseo_odata.ingest import product_from_metadata

    with pytest.raises(MetadataError) as refused:
        product_from_metadata(metadata, mission="M", file_name="F.zip")
    assert refused.value.field == field


def test_mime_types_with_parameters_are_kept():
    from proseo_odata.ingest import product_from_metadata

    for content_type in ("application/zip", "application/vnd.eu.esa.safe+zip", "text/plain; charset=utf-8"):
        product, _, _ = product_from_metadata({"ContentType": content_type}, mission="M", file_name="F")
        assert product.content_type == content_type


def test_blanks_around_a_mime_type_are_dropped():
    """Releases before 2026-12-06 stored "application/zip " (a trailing blank); their exports
    must ingest (a SQLite -> PostgreSQL move lost such products)."""
    from proseo_odata.ingest import product_from_metadata

    for content_type in ("application/zip ", "\tapplication/zip", " text/plain; charset=utf-8 "):
        product, _, _ = product_from_metadata({"ContentType": content_type}, mission="M", file_name="F")
        assert product.content_type == content_type.strip()


# -- the date of publication ---------------------------------------------------------------------

from slow_archive import SlowArchive  # noqa: E402

from proseo_odata.model.entities import utcnow  # noqa: E402

def test_a_product_is_dated_when_it_is_published_not_when_its_metadata_was_read(setup, tmp_path):
    """A large file takes its time to copy. A product dated before the copy would reach the
    catalogue after others published meanwhile, with a date before theirs: a harvester asking for
    ``PublicationDate gt`` the last it saw would never see it."""
    storage, archive = setup
    slow = SlowArchive(archive, 0.3)
    (tmp_path / "big.dat").write_bytes(b"x" * 1000)
    (tmp_path / "given.dat").write_bytes(b"y" * 1000)
    product = ingest_file(storage, slow, "M", tmp_path / "big.dat")
    assert product.publication_date >= slow.copied[product.archive_key]
    stored = storage.get_product("M", product.id)
    assert stored.publication_date == stored.modification_date == product.publication_date
    given = ingest_file(storage, slow, "M", tmp_path / "given.dat", {"PublicationDate": "2021-01-01T00:00:00Z"})
    assert storage.get_product("M", given.id).publication_date.year == 2021


@pytest.mark.parametrize("parsers", [0, 1])
def test_manifest_products_without_a_date_are_dated_when_their_batch_is_stored(setup, tmp_path, parsers):
    storage, archive = setup
    slow = SlowArchive(archive, 0.2)
    _product_files(tmp_path / "in", 5)
    lines = [{"file": f"in/f{i}.dat"} for i in range(4)] + [
        {"file": "in/f4.dat", "PublicationDate": "2021-01-01T00:00:00Z"}]
    ingest_manifest(storage, slow, "M", _manifest(tmp_path, lines), batch_size=2, parsers=parsers)
    stored = [storage.get_product_by_name("M", f"f{i}.dat") for i in range(5)]
    dates = [product.publication_date for product in stored]
    assert all(date >= slow.copied[product.archive_key] for date, product in zip(dates[:4], stored))
    assert dates[4].year == 2021
    # in the order of the lines in a batch (the batches commit in any order: two writers on PostgreSQL)
    assert dates[0] < dates[1] and dates[2] < dates[3]


def test_who_dates_the_publication():
    from proseo_odata.ingest import product_from_metadata

    def product(metadata, **kwargs):
        return product_from_metadata(metadata, mission="M", file_name="f.dat", **kwargs)[0]

    aliased = product({"PublicationDate": None, "CreationDate": "2020-01-02T03:04:05Z"})  # null: the alias counts
    assert aliased.publication_date.year == 2020 and not aliased.stamp_publication
    assert product({}).stamp_publication  # the storage's, when it stores it
    given_now = product({}, now=utcnow())  # a caller's moment: kept
    assert not given_now.stamp_publication
