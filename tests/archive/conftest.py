"""Fixtures of the archive tests: a real S3 API server (moto in server mode) on 127.0.0.1."""
import pytest

from proseo_odata.archive.testing import moto_s3_server, new_bucket_settings


@pytest.fixture(scope="session")
def s3_endpoint():
    """URL of a moto S3 server started for the session on a free 127.0.0.1 port."""
    with moto_s3_server() as url:
        yield url


@pytest.fixture
def s3_settings(s3_endpoint):
    """Settings of an S3 archive on a new, empty bucket of the session's server."""
    return new_bucket_settings(s3_endpoint)


@pytest.fixture
def s3_site(s3_settings, migrated_sqlite_url, tmp_path):
    """``(storage, archive, source)``: a SQLite catalogue with mission ``M``, an S3 archive on a
    new bucket, and a product file of 80 bytes to ingest."""
    from proseo_odata.archive import load_archive
    from proseo_odata.model import Mission
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    storage.add_mission(Mission("M"))
    source = tmp_path / "P.zip"
    source.write_bytes(b"s3" * 40)
    try:
        yield storage, load_archive(s3_settings), source
    finally:
        storage.close()
