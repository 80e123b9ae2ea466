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
