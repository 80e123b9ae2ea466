"""proseo_odata.nodes: a product's folders and files read from its archived ZIP, on the local
archive and on S3 (a real S3 API server, moto), where only ranges of the object are read."""
import io
import os
import zipfile

import pytest

from proseo_odata.archive import load_archive
from proseo_odata.nodes import MAX_ENTRIES, NodeNotFound, NodesUnavailable, check_readable, iter_member, \
    product_nodes, resolve

BIG = os.urandom(3 * 1024 * 1024)  # larger than the read buffer, random: deflate cannot shrink it


def _zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zipped:
        for name, data in entries:
            zipped.writestr(name, data)
    return buffer.getvalue()


SAFE_ZIP = _zip([("X.SAFE/manifest.safe", b"<manifest/>"), ("X.SAFE/measurement/big.tiff", BIG),
                 ("X.SAFE/preview/", b"")])


class CountingArchive:
    """An archive that counts the bytes read through ``iter_range`` (the S3 path's reads)."""

    def __init__(self, archive):
        self.archive, self.read = archive, 0

    def iter_range(self, key, start=0, length=None, chunk_size=1024 * 1024):
        for chunk in self.archive.iter_range(key, start, length, chunk_size):
            self.read += len(chunk)
            yield chunk


@pytest.fixture(params=["local", "s3"])
def stored(request, tmp_path):
    """``put(key, data) -> (archive, size)`` on a local folder or a new S3 bucket."""
    if request.param == "local":
        archive = load_archive({"proseo.archive.backend": "local", "proseo.archive.path": str(tmp_path)})
    else:
        archive = load_archive(request.getfixturevalue("s3_settings"))

    def put(key, data):
        archive.put_stream(key, io.BytesIO(data))
        return archive, len(data)

    return put


def test_a_safe_zip_is_a_tree_whose_root_is_the_product(stored):
    archive, size = stored("M/1/X.SAFE.zip", SAFE_ZIP)
    root = product_nodes(archive, "M/1/X.SAFE.zip", size, "X.SAFE.zip")
    assert root.name == "X.SAFE.zip" and root.aliases == ("X.SAFE",) and root.is_folder
    assert sorted(root.children) == ["manifest.safe", "measurement", "preview"]
    big = resolve(root, ["X.SAFE", "measurement", "big.tiff"])
    assert big.size == len(BIG) and not big.is_folder and resolve(root, ["X.SAFE.zip", "preview"]).children == {}
    assert b"".join(iter_member(archive, "M/1/X.SAFE.zip", size, big.member)) == BIG
    assert b"".join(iter_member(archive, "M/1/X.SAFE.zip", size, big.member, 1_000_000, 1_000_010)) == \
        BIG[1_000_000:1_000_010]
    with pytest.raises(NodeNotFound, match="has no node 'nope'"):
        resolve(root, ["X.SAFE", "measurement", "nope"])
    with pytest.raises(NodeNotFound):
        resolve(root, ["Y.SAFE"])
    with pytest.raises(NodeNotFound):
        resolve(root, ["X.SAFE", "manifest.safe", "below-a-file"])


def test_other_files_are_one_node(stored):
    data = b"PK\x05\x06 not a zip at all" + os.urandom(100)
    archive, size = stored("M/2/aux.bin", data)
    root = product_nodes(archive, "M/2/aux.bin", size, "aux.bin")
    assert (root.is_folder, root.size, root.member) == (False, len(data), None)


def test_s3_reads_the_directory_and_the_member_not_the_object(s3_settings):
    archive = load_archive(s3_settings)
    archive.put_stream("M/3/X.SAFE.zip", io.BytesIO(SAFE_ZIP))
    counting = CountingArchive(archive)
    root = product_nodes(counting, "M/3/X.SAFE.zip", len(SAFE_ZIP), "X.SAFE.zip")
    assert counting.read < 1024 * 1024 + 64 * 1024  # one buffer of the end, not 3 MiB
    counting.read = 0
    manifest = resolve(root, ["X.SAFE", "manifest.safe"])
    assert b"".join(iter_member(counting, "M/3/X.SAFE.zip", len(SAFE_ZIP), manifest.member)) == b"<manifest/>"
    assert counting.read < 2 * 1024 * 1024 + 64 * 1024


def test_unreadable_members_and_huge_directories_are_refused(stored, monkeypatch):
    archive, size = stored("M/4/X.zip", _zip([("a.txt", b"a")]))
    root = product_nodes(archive, "M/4/X.zip", size, "X.zip")
    node = root.children["a.txt"]
    node.member.flag_bits |= 0x1
    with pytest.raises(NodesUnavailable, match="encrypted"):
        check_readable(node, "X.zip")
    node.member.flag_bits &= ~0x1
    node.member.compress_type = 9  # deflate64: Python cannot inflate it
    with pytest.raises(NodesUnavailable, match="method"):
        check_readable(node, "X.zip")
    monkeypatch.setattr("proseo_odata.nodes.MAX_ENTRIES", 0)
    with pytest.raises(NodesUnavailable, match="more than the 0"):
        product_nodes(archive, "M/4/X.zip", size, "X.zip")
    assert MAX_ENTRIES > 0
