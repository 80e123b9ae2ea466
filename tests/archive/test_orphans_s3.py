"""Orphan files on an S3 archive (a real S3 API server, moto, on 127.0.0.1): a product row
removed while its object stays is listed and removed; an ingested product's object is not."""
from datetime import timedelta

from proseo_odata.archive import load_archive
from proseo_odata.ingest import ingest_file
from proseo_odata.model import Mission, utcnow
from proseo_odata.orphans import find_orphans, remove_orphans
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage


def test_orphans_on_s3(s3_settings, migrated_sqlite_url, tmp_path):
    archive = load_archive(s3_settings)
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        storage.add_mission(Mission("M"))
        source = tmp_path / "P.zip"
        source.write_bytes(b"s3" * 40)
        kept = ingest_file(storage, archive, "M", str(source), {"Name": "KEPT.zip"})
        gone = ingest_file(storage, archive, "M", str(source), {"Name": "GONE.zip"})
        storage.delete_product("M", gone.id)
        later = utcnow() + timedelta(days=2)  # S3 keeps its own write times: look from the future
        assert list(find_orphans(storage, archive)) == []  # too young today
        assert [(f.key, f.size) for f in find_orphans(storage, archive, now=later)] == [(gone.archive_key, 80)]
        report = remove_orphans(storage, archive, now=later)
        assert (report.removed, report.errors) == (1, [])
        assert not archive.exists(gone.archive_key) and archive.exists(kept.archive_key)
    finally:
        storage.close()
