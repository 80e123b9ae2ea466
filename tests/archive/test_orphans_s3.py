"""Orphan files on an S3 archive (a real S3 API server, moto, on 127.0.0.1): a product row
removed while its object stays is listed and removed; an ingested product's object is not."""
from datetime import timedelta

from proseo_odata.archive import load_archive
from proseo_odata.ingest import ingest_file
from proseo_odata.model import Mission, utcnow
from proseo_odata.orphans import find_orphans, find_unfinished, remove_orphans
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage


def test_orphans_on_s3(s3_site):
    storage, archive, source = s3_site
    kept = ingest_file(storage, archive, "M", str(source), {"Name": "KEPT.zip"})
    gone = ingest_file(storage, archive, "M", str(source), {"Name": "GONE.zip"})
    storage.delete_product("M", gone.id)
    later = utcnow() + timedelta(days=2)  # S3 keeps its own write times: look from the future
    assert list(find_orphans(storage, archive)) == []  # too young today
    assert [(f.key, f.size) for f in find_orphans(storage, archive, now=later)] == [(gone.archive_key, 80)]
    report = remove_orphans(storage, archive, now=later)
    assert (report.removed, report.errors) == (1, [])
    assert not archive.exists(gone.archive_key) and archive.exists(kept.archive_key)


def test_unfinished_uploads_on_s3(s3_settings, migrated_sqlite_url):
    """What a process killed in the middle of a multipart upload leaves: an upload begun, one
    part stored, never completed nor aborted (S3Archive.put_stream's own first steps)."""
    import uuid

    archive = load_archive(s3_settings)
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        storage.add_mission(Mission("M"))
        keys = {"ours": f"M/{uuid.uuid4()}/0a1b/BIG.zip", "operator's": "incoming/BIG.nc"}
        for key in keys.values():
            started = archive.client.create_multipart_upload(Bucket=archive.bucket, Key=archive.object_key(key))
            archive.client.upload_part(Bucket=archive.bucket, Key=archive.object_key(key), UploadId=started["UploadId"],
                                       PartNumber=1, Body=b"x" * 1024)
        assert sorted(u.key for u in archive.list_unfinished()) == sorted(keys.values())
        assert [u.key for u in archive.list_unfinished("M/")] == [keys["ours"]]
        later = utcnow() + timedelta(days=2)
        # (moto reports a fixed start time, years ago: the cutoff is checked against it)
        started = next(u.started for u in archive.list_unfinished() if u.key == keys["ours"])
        assert list(find_unfinished(storage, archive, now=started + timedelta(hours=23))) == []  # maybe still running
        assert [u.key for u in find_unfinished(storage, archive, now=started + timedelta(hours=25))] == [keys["ours"]]
        dry = remove_orphans(storage, archive, now=later, remove=False)
        assert ([u.key for u in dry.uploads], dry.aborted) == ([keys["ours"]], 0)
        report = remove_orphans(storage, archive, now=later)
        assert ([u.key for u in report.uploads], report.aborted, report.errors) == ([keys["ours"]], 1, [])
        assert [u.key for u in archive.list_unfinished()] == [keys["operator's"]]  # ours aborted, its parts gone
        assert list(archive.list_files()) == []
    finally:
        storage.close()


def test_the_command_aborts_unfinished_uploads(s3_settings, tmp_path):
    """``proseo-odata archive orphans`` on a site whose archive is S3 (an .ini as an operator
    writes it): the unfinished upload is listed, then aborted with ``--remove``."""
    import uuid

    from click.testing import CliRunner

    from proseo_odata.cli import main

    lines = ["[app:main]", "use = egg:proseo-odata", "proseo.storage.backend = proseo_odata.storage.sqlalchemy",
             f"proseo.storage.url = sqlite:///{tmp_path / 'site.sqlite'}"]
    lines += [f"{name} = {value}" for name, value in s3_settings.items()]
    ini = tmp_path / "site.ini"
    ini.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def invoke(*args):
        result = CliRunner().invoke(main, ["-c", str(ini), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    invoke("initdb")
    invoke("mission", "add", "M")
    archive = load_archive(s3_settings)
    key = f"M/{uuid.uuid4()}/0a1b/BIG.zip"
    archive.client.create_multipart_upload(Bucket=archive.bucket, Key=archive.object_key(key))
    result = invoke("archive", "orphans")
    assert [line.split("\t")[:2] for line in result.stdout.splitlines()] == [[key, "unfinished upload"]]
    assert "0 orphan file(s), 0 byte(s), older than 24 h; 1 unfinished upload(s)" in result.output
    result = invoke("archive", "orphans", "--remove")
    assert "; 1 unfinished upload(s); 0 removed, 1 aborted" in result.output
    assert list(archive.list_unfinished()) == []
