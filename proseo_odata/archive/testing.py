"""Test support for archive backends, shipped so that a mission's own backend can reuse it.

* :func:`moto_s3_server` starts a real S3 API server (moto in server mode, threaded) on a free
  127.0.0.1 port and yields its URL; :func:`new_bucket_settings` creates an empty bucket there
  and returns the settings mapping of an S3 archive on it. Needs the ``test`` extra (moto).
"""
from __future__ import annotations

import contextlib
import uuid

TEST_CREDENTIALS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


@contextlib.contextmanager
def moto_s3_server():
    """Run moto's S3 server on 127.0.0.1 (a free port) for the duration of the block."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def new_bucket_settings(endpoint_url: str, **extra) -> dict:
    """Create a fresh bucket on ``endpoint_url``; return ``proseo.archive.s3.*`` settings for it."""
    import boto3

    bucket = f"proseo-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=TEST_CREDENTIALS["region"],
        aws_access_key_id=TEST_CREDENTIALS["access_key"],
        aws_secret_access_key=TEST_CREDENTIALS["secret_key"],
    )
    client.create_bucket(Bucket=bucket)
    settings = {"proseo.archive.backend": "s3", "proseo.archive.s3.endpoint_url": endpoint_url,
                "proseo.archive.s3.bucket": bucket, "proseo.archive.s3.prefix": "products"}
    for name, value in TEST_CREDENTIALS.items():
        settings[f"proseo.archive.s3.{name}"] = value
    for name, value in extra.items():
        settings[f"proseo.archive.s3.{name}"] = value
    return settings


def archive_for_backend(backend: str, folder, s3_endpoint: str | None = None, **s3_extra):
    """A fresh archive of ``backend`` (``"local"`` in ``folder``, or ``"s3"`` on a new bucket)."""
    if backend == "s3":
        from .s3 import load_from_config

        return load_from_config(new_bucket_settings(s3_endpoint, **s3_extra))
    if backend == "local":
        from .local import load_from_config

        return load_from_config({"proseo.archive.backend": "local", "proseo.archive.path": str(folder)})
    raise ValueError(f"unknown archive backend {backend!r}")


def store_product_file(archive, data, *, name: str, mission: str = "TEST", published=None,
                       content_type: str = "application/zip", **product_fields):
    """Archive ``data`` (bytes, or the path of a file) and return an (unsaved)
    :class:`~proseo_odata.model.Product` for it, with its MD5 and SHA256 checksums as the
    archive computed them."""
    import io

    from proseo_odata.model import Checksum, Product, utcnow

    product = Product(mission=mission, name=name, content_type=content_type,
                      publication_date=published or utcnow(), **product_fields)
    key = f"{mission}/{product.id}/{name}"
    if isinstance(data, (bytes, bytearray)):
        size, md5, sha256 = archive.put_stream(key, io.BytesIO(data), content_type=content_type)
    else:
        with open(data, "rb") as stream:
            size, md5, sha256 = archive.put_stream(key, stream, content_type=content_type)
    product.archive_key = key
    product.content_length = size
    product.checksums = [Checksum("MD5", md5, product.publication_date),
                         Checksum("SHA256", sha256, product.publication_date)]
    return product


def s2_l1c_zip(picture=None) -> bytes:
    """A demo-like S2MSI1C product, what the demo image workflows convert: a zip holding a
    ``manifest.xml`` and ``quicklook.png``, ``picture`` (PNG bytes or a Pillow image; default a
    small green image)."""
    import io
    import zipfile

    if not isinstance(picture, (bytes, bytearray)):
        from PIL import Image

        if picture is None:
            picture = Image.new("RGB", (24, 16), (20, 140, 60))
        png = io.BytesIO()
        picture.save(png, format="PNG")
        picture = png.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest.xml", "<manifest><productType>S2MSI1C</productType></manifest>")
        archive.writestr("quicklook.png", picture)
    return out.getvalue()


class ArchiveContract:
    """The archive contract suite (:class:`proseo_odata.archive.ArchiveBase`), backend-neutral.

    Subclass it in a test module as ``class TestMyArchive(ArchiveContract)`` and provide an
    ``archive`` pytest fixture returning a fresh, empty archive of your backend.
    """

    @staticmethod
    def _data(size: int) -> bytes:
        import os

        return os.urandom(size)

    def test_put_stream_returns_size_and_digests_of_one_pass(self, archive):
        import hashlib
        import io

        from . import StoredFile

        data = self._data(3 * 1024 * 1024 + 7)
        stored = archive.put_stream("M/1/a.bin", io.BytesIO(data), content_type="application/octet-stream")
        assert isinstance(stored, StoredFile)
        assert stored == (len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
        assert archive.exists("M/1/a.bin") and archive.size("M/1/a.bin") == len(data)
        assert b"".join(archive.iter_range("M/1/a.bin")) == data

    def test_list_files_names_every_file_under_a_prefix(self, archive):
        import io
        from datetime import datetime, timedelta, timezone

        contents = {"M/1/a.bin": b"a" * 10, "M/10/b.bin": b"bb", "M/2/c/d.bin": b"", "N/e.bin": b"e" * 3}
        before = datetime.now(timezone.utc) - timedelta(minutes=5)
        for key, data in contents.items():
            archive.put_stream(key, io.BytesIO(data))
        listed = {f.key: f for f in archive.list_files()}
        assert {key: f.size for key, f in listed.items()} == {key: len(data) for key, data in contents.items()}
        assert all(before <= f.modified <= datetime.now(timezone.utc) + timedelta(minutes=5) for f in listed.values())
        assert sorted(f.key for f in archive.list_files("M/")) == ["M/1/a.bin", "M/10/b.bin", "M/2/c/d.bin"]
        assert sorted(f.key for f in archive.list_files("M/1")) == ["M/1/a.bin", "M/10/b.bin"]  # a prefix, not a folder
        assert [f.key for f in archive.list_files("M/2/c/")] == ["M/2/c/d.bin"]
        assert list(archive.list_files("Q/")) == []
        archive.delete("M/1/a.bin")
        assert "M/1/a.bin" not in {f.key for f in archive.list_files()}

    def test_put_file_and_replace(self, archive, tmp_path):
        path = tmp_path / "source.bin"
        path.write_bytes(b"first version")
        assert archive.put_file("M/2/b.bin", path).size == 13
        path.write_bytes(b"second")
        assert archive.put_file("M/2/b.bin", path).size == 6
        assert b"".join(archive.iter_range("M/2/b.bin")) == b"second"

    def test_ranged_reads(self, archive):
        import io

        data = self._data(100_000)
        archive.put_stream("M/3/c.bin", io.BytesIO(data))
        cases = [(0, None), (0, 1024), (99_999, 1), (50_000, None), (12_345, 54_321), (99_000, 5_000)]
        for start, length in cases:
            end = None if length is None else start + length
            assert b"".join(archive.iter_range("M/3/c.bin", start, length)) == data[start:end], (start, length)
        assert b"".join(archive.iter_range("M/3/c.bin", 10, 0)) == b""
        chunks = list(archive.iter_range("M/3/c.bin", 0, None, chunk_size=8192))
        assert len(chunks) >= 13 and max(len(c) for c in chunks) <= 8192

    def test_open_reads_the_whole_file(self, archive):
        import io

        data = self._data(70_000)
        archive.put_stream("M/4/d.bin", io.BytesIO(data))
        stream = archive.open("M/4/d.bin")
        try:
            assert stream.read() == data
        finally:
            stream.close()

    def test_empty_file(self, archive):
        import io

        stored = archive.put_stream("M/5/empty.bin", io.BytesIO(b""))
        assert stored.size == 0 and stored.md5 == "d41d8cd98f00b204e9800998ecf8427e"
        assert archive.exists("M/5/empty.bin") and archive.size("M/5/empty.bin") == 0
        assert b"".join(archive.iter_range("M/5/empty.bin")) == b""

    def test_missing_keys(self, archive):
        import pytest

        assert archive.exists("M/none.bin") is False
        with pytest.raises(FileNotFoundError):
            archive.size("M/none.bin")
        with pytest.raises(FileNotFoundError):
            b"".join(archive.iter_range("M/none.bin"))
        assert archive.delete("M/none.bin") is False

    def test_delete(self, archive):
        import io

        archive.put_stream("M/6/e.bin", io.BytesIO(b"x"))
        assert archive.delete("M/6/e.bin") is True
        assert not archive.exists("M/6/e.bin")
        assert archive.delete("M/6/e.bin") is False

    def test_failed_put_leaves_no_file(self, archive):
        import pytest

        class Broken:
            def __init__(self):
                self.sent = 0

            def read(self, size=-1):
                if self.sent > 64 * 1024:
                    raise OSError("source lost")
                self.sent += 32 * 1024
                return b"y" * (32 * 1024)

        with pytest.raises(OSError, match="source lost"):
            archive.put_stream("M/7/broken.bin", Broken())
        assert not archive.exists("M/7/broken.bin")

    def test_fetch_to_copies_locally(self, archive, tmp_path):
        import io

        data = self._data(200_000)
        archive.put_stream("M/8/f.bin", io.BytesIO(data))
        assert archive.fetch_to("M/8/f.bin", tmp_path / "copy.bin") == len(data)
        assert (tmp_path / "copy.bin").read_bytes() == data
