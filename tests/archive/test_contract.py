"""The archive contract suite (proseo_odata.archive.testing.ArchiveContract) on every backend:
a local folder, and S3 on a real S3 API server (moto) on 127.0.0.1."""
import pytest

from proseo_odata.archive import load_archive
from proseo_odata.archive.local import LocalArchive
from proseo_odata.archive.s3 import S3Archive
from proseo_odata.archive.testing import ArchiveContract


class TestLocalArchive(ArchiveContract):
    @pytest.fixture
    def archive(self, tmp_path):
        archive = load_archive({"proseo.archive.backend": "local", "proseo.archive.path": str(tmp_path / "archive")})
        assert isinstance(archive, LocalArchive)
        return archive


class TestS3Archive(ArchiveContract):
    @pytest.fixture
    def archive(self, s3_settings):
        archive = load_archive({**s3_settings, "proseo.archive.s3.part_size": str(5 * 1024 * 1024)})
        assert isinstance(archive, S3Archive)
        return archive

    def test_large_put_is_multipart(self, archive):
        import io
        import os

        data = os.urandom(11 * 1024 * 1024)
        assert archive.put_stream("M/big.bin", io.BytesIO(data)).size == len(data)
        head = archive.client.head_object(Bucket=archive.bucket, Key=archive.object_key("M/big.bin"))
        assert head["ETag"].strip('"').endswith("-3")

    def test_list_files_under_the_configured_prefix(self, s3_settings):
        import io

        plain = load_archive(s3_settings)
        prefixed = load_archive({**s3_settings, "proseo.archive.s3.prefix": "site/a"})
        plain.put_stream("M/x.bin", io.BytesIO(b"x"))
        prefixed.put_stream("M/y.bin", io.BytesIO(b"yy"))
        assert [(f.key, f.size) for f in prefixed.list_files()] == [("M/y.bin", 2)]
        assert [f.key for f in prefixed.list_files("M/")] == ["M/y.bin"]
        assert [f.key for f in plain.list_files()] == ["M/x.bin"]  # (its own prefix, the fixture's)
        listed = prefixed.client.list_objects_v2(Bucket=prefixed.bucket)["Contents"]
        assert sorted(item["Key"] for item in listed) == sorted([plain.object_key("M/x.bin"), "site/a/M/y.bin"])
