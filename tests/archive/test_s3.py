"""S3-specific behaviour of the archive, against a real S3 API server (moto, 127.0.0.1)."""
import hashlib
import io
import os

import pytest
import requests

from proseo_odata.archive import ArchiveError
from proseo_odata.archive.s3 import MIN_PART_SIZE, S3Archive, S3Settings, load_from_config


class CountingStream(io.RawIOBase):
    """A source that hands out at most ``limit`` bytes per read and records the largest read."""

    def __init__(self, data, limit=64 * 1024):
        self.data, self.pos, self.limit, self.largest = data, 0, limit, 0

    def readable(self):
        return True

    def read(self, size=-1):
        size = self.limit if size is None or size < 0 else min(size, self.limit)
        piece = self.data[self.pos:self.pos + size]
        self.pos += len(piece)
        self.largest = max(self.largest, len(piece))
        return piece


def test_settings_require_a_bucket():
    with pytest.raises(ArchiveError, match="bucket"):
        S3Settings.from_settings({})


def test_settings_reject_a_too_small_part_size():
    with pytest.raises(ArchiveError, match="part_size"):
        S3Settings.from_settings({"proseo.archive.s3.bucket": "b", "proseo.archive.s3.part_size": "1024"})


def test_settings_parse_presign_and_prefix():
    config = S3Settings.from_settings({
        "proseo.archive.s3.bucket": "b", "proseo.archive.s3.prefix": "/a/b/",
        "proseo.archive.s3.presign": "true", "proseo.archive.s3.presign_expiry": "60",
    })
    assert (config.prefix, config.presign, config.presign_expiry) == ("a/b", True, 60)
    assert S3Archive(config, client=object()).object_key("x/y.zip") == "a/b/x/y.zip"


def test_multipart_upload_hashes_in_one_pass_from_short_reads(s3_settings):
    archive = load_from_config({**s3_settings, "proseo.archive.s3.part_size": str(MIN_PART_SIZE)})
    data = os.urandom(2 * MIN_PART_SIZE + 12345)
    source = CountingStream(data)
    size, md5, sha256 = archive.put_stream("big/file.bin", source)
    assert (size, md5, sha256) == (len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
    assert source.largest <= 64 * 1024
    uploads = archive.client.list_multipart_uploads(Bucket=archive.bucket).get("Uploads", [])
    assert uploads == []  # completed, nothing left dangling
    head = archive.client.head_object(Bucket=archive.bucket, Key=archive.object_key("big/file.bin"))
    assert head["ETag"].strip('"').endswith("-3")  # three parts went up
    assert b"".join(archive.iter_range("big/file.bin", MIN_PART_SIZE - 10, 20)) == data[MIN_PART_SIZE - 10:MIN_PART_SIZE + 10]


def test_failed_multipart_upload_is_aborted(s3_settings):
    archive = load_from_config({**s3_settings, "proseo.archive.s3.part_size": str(MIN_PART_SIZE)})

    class Broken(CountingStream):
        def read(self, size=-1):
            if self.pos >= MIN_PART_SIZE + 1000:
                raise OSError("disk gone")
            return super().read(size)

    with pytest.raises(OSError, match="disk gone"):
        archive.put_stream("broken.bin", Broken(os.urandom(3 * MIN_PART_SIZE)))
    assert archive.client.list_multipart_uploads(Bucket=archive.bucket).get("Uploads", []) == []
    assert not archive.exists("broken.bin")


def test_ranged_read_streams_in_chunks(s3_settings):
    archive = load_from_config(s3_settings)
    data = os.urandom(300_000)
    archive.put_stream("chunks.bin", io.BytesIO(data))
    chunks = list(archive.iter_range("chunks.bin", 1000, 250_000, chunk_size=65536))
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= 65536
    assert b"".join(chunks) == data[1000:251_000]
    assert b"".join(archive.iter_range("chunks.bin", 299_990)) == data[299_990:]


def test_missing_object(s3_settings):
    archive = load_from_config(s3_settings)
    assert not archive.exists("nothing.bin")
    with pytest.raises(FileNotFoundError):
        archive.size("nothing.bin")
    with pytest.raises(FileNotFoundError):
        b"".join(archive.iter_range("nothing.bin"))
    assert archive.delete("nothing.bin") is False


def test_presigned_url_downloads_with_attachment_name(s3_settings):
    archive = load_from_config({**s3_settings, "proseo.archive.s3.presign": "true",
                                "proseo.archive.s3.presign_expiry": "120"})
    data = b"presigned content"
    archive.put_stream("p/q.zip", io.BytesIO(data), content_type="application/zip")
    url = archive.presigned_url("p/q.zip", filename="Q.zip", content_type="application/zip")
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200 and answer.content == data
    assert answer.headers["Content-Disposition"] == 'attachment; filename="Q.zip"'
    assert "X-Amz-Expires=120" in url and "X-Amz-Signature=" in url
