"""A commit whose answer never reaches the ingest: the server has stored the products, the
client sees the connection lost. The ingest must not then delete the files it copied for them
(a product without its file), as it does for products that certainly were not stored.

The fault is real: a TCP proxy in front of the PostgreSQL test server (``netfaults``) forwards
the client's ``COMMIT``, waits for the server's answer (the commit is done once it is sent)
and, instead of passing it on, closes the client's connection."""
import json

import pytest
from sqlalchemy.engine import make_url

from netfaults import CommitLosingProxy
from proseo_odata.archive.local import LocalArchive
from proseo_odata.ingest import ingest_file, ingest_manifest
from proseo_odata.model import Mission
from proseo_odata.storage import DatabaseUnavailableError
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

pytestmark = pytest.mark.postgresql


@pytest.fixture
def setup(migrated_pg_url, tmp_path):
    direct = SQLAlchemyStorage.from_url(migrated_pg_url)
    direct.add_mission(Mission("M"))
    url = make_url(migrated_pg_url)
    proxy = CommitLosingProxy(url.port)
    proxied = SQLAlchemyStorage.from_url(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    try:
        yield direct, proxied, proxy, LocalArchive(tmp_path / "archive")
    finally:
        proxied.close()
        direct.close()
        proxy.close()


def _source(tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(name.encode() * 10)
    return str(path)


def test_a_file_ingested_whose_commit_answer_is_lost_keeps_its_file(setup, tmp_path):
    direct, proxied, proxy, archive = setup
    proxy.arm()
    with pytest.raises(DatabaseUnavailableError):
        ingest_file(proxied, archive, "M", _source(tmp_path, "P1.zip"), {"Name": "P1.zip"})
    assert proxy.lost.is_set()
    stored = direct.get_product_by_name("M", "P1.zip")  # the commit took place
    assert archive.size(stored.archive_key) == stored.content_length  # and its file is there


def test_a_manifest_batch_whose_commit_answer_is_lost_keeps_its_files(setup, tmp_path):
    direct, proxied, proxy, archive = setup
    names = [f"B{i}.zip" for i in range(5)]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"file": _source(tmp_path, n), "Name": n}) + "\n" for n in names))
    proxy.arm()
    with pytest.raises(DatabaseUnavailableError):
        ingest_manifest(proxied, archive, "M", manifest, parsers=0)
    assert proxy.lost.is_set()
    for name in names:  # every product of the batch was stored, each with its file
        stored = direct.get_product_by_name("M", name)
        assert archive.size(stored.archive_key) == stored.content_length
    # a re-run, with the database answering again, finds them all and copies nothing more
    files = sorted(p for p in archive.root.rglob("*") if p.is_file())
    report = ingest_manifest(direct, archive, "M", manifest, parsers=0)
    assert (report.ingested, report.skipped, report.failed) == (0, len(names), [])
    assert sorted(p for p in archive.root.rglob("*") if p.is_file()) == files


def test_a_connection_lost_before_the_commit_is_written_again(setup, tmp_path):
    """The other side: the connection lost at the write, before any ``COMMIT``: the server
    rolls back, nothing is stored, and the ingest writes the same products again (the files
    copied stay for it): each product is stored once, with its file."""
    direct, proxied, proxy, archive = setup
    proxy.arm(lose="write")
    product = ingest_file(proxied, archive, "M", _source(tmp_path, "W.zip"), {"Name": "W.zip"})
    assert proxy.faults == 1
    assert archive.size(direct.get_product_by_name("M", "W.zip").archive_key) == product.content_length
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"file": _source(tmp_path, n), "Name": n}) + "\n" for n in ("X.zip", "Y.zip")))
    proxy.arm(lose="write")
    report = ingest_manifest(proxied, archive, "M", manifest, parsers=0)
    assert proxy.faults == 2
    assert (report.ingested, report.failed) == (2, [])
    stored = [direct.get_product_by_name("M", n) for n in ("W.zip", "X.zip", "Y.zip")]
    files = sorted(p for p in archive.root.rglob("*") if p.is_file())
    assert sorted(archive.root / p.archive_key for p in stored) == files  # no file twice, none orphaned


def test_a_database_that_stays_away_before_the_commit_leaves_neither_product_nor_file(setup, tmp_path, monkeypatch):
    """Every write's connection lost: the attempts run out, the error stops the ingest, and the
    copies are removed (nothing was stored)."""
    import proseo_odata.ingest as ingest

    monkeypatch.setattr(ingest, "STORE_RETRY_DELAYS", (0.01, 0.01))
    direct, proxied, proxy, archive = setup
    proxy.arm(lose="write", times=None)
    with pytest.raises(DatabaseUnavailableError):
        ingest_file(proxied, archive, "M", _source(tmp_path, "W.zip"), {"Name": "W.zip"})
    assert proxy.faults == 3  # the first attempt and two more
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"file": _source(tmp_path, n), "Name": n}) + "\n" for n in ("X.zip", "Y.zip")))
    with pytest.raises(DatabaseUnavailableError):
        ingest_manifest(proxied, archive, "M", manifest, parsers=0)
    assert proxy.faults == 6
    proxy.disarm()
    assert direct.existing_product_names("M", ["W.zip", "X.zip", "Y.zip"]) == set()
    assert not [p for p in archive.root.rglob("*") if p.is_file()]


def test_a_commit_answer_lost_is_not_written_again(setup, tmp_path):
    """A commit whose outcome is unknown is not retried (a second attempt would find the Names
    taken): the error stops the ingest at the first fault."""
    direct, proxied, proxy, archive = setup
    proxy.arm(times=None)
    with pytest.raises(DatabaseUnavailableError):
        ingest_file(proxied, archive, "M", _source(tmp_path, "A.zip"), {"Name": "A.zip"})
    assert proxy.faults == 1
    proxy.disarm()
    assert direct.get_product_by_name("M", "A.zip").name == "A.zip"
