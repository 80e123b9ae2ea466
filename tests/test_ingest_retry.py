"""A batch whose write the server cancels (``statement_timeout``) is written again.

Real conditions: another session holds a lock on ``products`` that the batch's ``COPY`` waits
for, the server cancels the wait at the storage's ``statement_timeout`` (query_canceled, a
transient error), and the lock is released once the ingest has logged that it will try again.
Without the retry the ingest stops with the first batch unwritten."""
import json
import logging
import threading

import psycopg
import pytest

from sqlalchemy.engine import make_url
from proseo_odata.archive.local import LocalArchive
from proseo_odata.ingest import ingest_manifest
from proseo_odata.model import Mission
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

pytestmark = pytest.mark.postgresql


class _Retried(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record):
        if "retrying" in record.getMessage():
            self.seen.set()


@pytest.mark.parametrize("mode", ["SHARE", "ACCESS EXCLUSIVE"])
def test_a_batch_cancelled_by_the_statement_timeout_is_written_again(migrated_pg_url, tmp_path, mode):
    """``SHARE``: the batch's ``COPY`` waits; ``ACCESS EXCLUSIVE``: its Names' look-up already."""
    storage = SQLAlchemyStorage.from_url(migrated_pg_url, statement_timeout=1)
    storage.add_mission(Mission("M"))
    archive = LocalArchive(tmp_path / "archive")
    names = [f"T{i}.zip" for i in range(6)]
    for name in names:
        (tmp_path / name).write_bytes(name.encode() * 10)
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"file": str(tmp_path / n), "Name": n}) + "\n" for n in names))

    retried = _Retried()
    logger = logging.getLogger("proseo_odata.ingest")
    logger.addHandler(retried)
    locker = psycopg.connect(make_url(migrated_pg_url).set(drivername="postgresql").render_as_string(hide_password=False))
    locker.execute(f"LOCK TABLE products IN {mode} MODE")  # (a COPY takes ROW EXCLUSIVE, a SELECT ACCESS SHARE)

    def release():
        retried.seen.wait(30)  # bounded: released anyway, and the assertion below fails
        locker.commit()

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        report = ingest_manifest(storage, archive, "M", manifest, parsers=0, batch_size=3)
    finally:
        releaser.join()
        locker.close()
        logger.removeHandler(retried)
    try:
        assert retried.seen.is_set()
        assert (report.ingested, report.failed) == (len(names), [])
        stored = [storage.get_product_by_name("M", n) for n in names]
        files = sorted(p for p in archive.root.rglob("*") if p.is_file())
        assert sorted(archive.root / p.archive_key for p in stored) == files
    finally:
        storage.close()
