"""The local-folder archive: one-pass digests, atomic writes, ranges, keys that stay inside."""
import hashlib
import io
import os

import pytest

from proseo_odata.archive import ArchiveError, StoredFile, load_archive
from proseo_odata.archive.local import LocalArchive


@pytest.fixture
def archive(tmp_path):
    return load_archive({"proseo.archive.backend": "local", "proseo.archive.path": str(tmp_path / "archive")})


def test_put_returns_size_and_digests_and_reads_back(archive, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    stored = archive.put_stream("M/1/a.bin", io.BytesIO(data))
    assert stored == StoredFile(len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
    size, md5, sha256 = stored
    assert archive.exists("M/1/a.bin") and archive.size("M/1/a.bin") == size
    assert b"".join(archive.iter_range("M/1/a.bin")) == data
    assert b"".join(archive.iter_range("M/1/a.bin", 1000, 5000, chunk_size=333)) == data[1000:6000]
    assert b"".join(archive.iter_range("M/1/a.bin", len(data) - 3)) == data[-3:]
    with archive.open("M/1/a.bin") as stream:
        assert stream.read() == data
    source = tmp_path / "src.bin"
    source.write_bytes(b"hello")
    assert archive.put_file("M/2/b.bin", source).md5 == hashlib.md5(b"hello").hexdigest()
    assert open(archive.local_path("M/2/b.bin"), "rb").read() == b"hello"
    copy = tmp_path / "copy.bin"
    assert archive.fetch_to("M/2/b.bin", copy) == 5 and copy.read_bytes() == b"hello"


def test_failed_write_leaves_no_file(archive):
    class Broken:
        calls = 0

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 2:
                raise OSError("disk on fire")
            return b"abcd"

    archive.put_stream("M/x", io.BytesIO(b"old"))
    with pytest.raises(OSError, match="disk on fire"):
        archive.put_stream("M/x", Broken())
    assert b"".join(archive.iter_range("M/x")) == b"old"  # the old file is untouched
    assert [p.name for p in (archive.root / "M").iterdir()] == ["x"]  # no temporary left


def test_missing_keys_and_delete(archive):
    with pytest.raises(FileNotFoundError):
        archive.size("M/none")
    with pytest.raises(FileNotFoundError):
        list(archive.iter_range("M/none"))
    archive.put_stream("M/a/b/c", io.BytesIO(b"1"))
    assert archive.delete("M/a/b/c") is True
    assert archive.delete("M/a/b/c") is False
    assert not (archive.root / "M").exists()  # emptied folders are removed


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "M/../../x", "M//x", "M/./x", "M\\x"])
def test_keys_cannot_leave_the_folder(archive, key):
    with pytest.raises(ArchiveError):
        archive.put_stream(key, io.BytesIO(b"x"))


def test_load_archive_needs_a_path(tmp_path):
    with pytest.raises(ArchiveError, match="proseo.archive.path"):
        load_archive({"proseo.archive.backend": "proseo_odata.archive.local"})
    with pytest.raises(ArchiveError, match="cannot import"):
        load_archive({"proseo.archive.backend": "nowhere.module"})
    assert isinstance(load_archive({"proseo.archive.local.root": str(tmp_path / "r")}), LocalArchive)
