"""proseo_odata.nodes: a product's folders and files read from its archived ZIP, on the local
archive and on S3 (a real S3 API server, moto), where only ranges of the object are read; ZIPs
whose records lie are refused before anything they claim is trusted."""
import io
import os
import struct
import zipfile
import zlib

import pytest
from zip_mutations import Unseekable

from proseo_odata.archive import load_archive
from proseo_odata.nodes import TREES, DamagedMember, NodeNotFound, NodesUnavailable, iter_member, open_member, \
    product_nodes, resolve

BIG = os.urandom(3 * 1024 * 1024)  # larger than the read buffer, random: deflate cannot shrink it
TEXT = b"<granule>" + b"band " * 200_000 + b"</granule>"  # 1 MB that deflates well


def _zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zipped:
        for name, data in entries:
            zipped.writestr(name, data)
    return buffer.getvalue()


SAFE_ZIP = _zip([("X.SAFE/manifest.safe", b"<manifest/>"), ("X.SAFE/measurement/big.tiff", BIG),
                 ("X.SAFE/measurement/text.xml", TEXT), ("X.SAFE/preview/", b"")])


class CountingArchive:
    """An archive that counts the bytes and the calls of ``iter_range`` (the S3 path's reads)."""

    def __init__(self, archive):
        self.archive, self.read, self.calls = archive, 0, 0

    def iter_range(self, key, start=0, length=None, chunk_size=1024 * 1024):
        self.calls += 1
        for chunk in self.archive.iter_range(key, start, length, chunk_size):
            self.read += len(chunk)
            yield chunk


@pytest.fixture(autouse=True)
def no_cached_trees():
    TREES.clear()
    yield
    TREES.clear()


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


def _read(archive, key, size, root, path, start=0, stop=None):
    node = resolve(root, path)
    return b"".join(iter_member(archive, key, open_member(archive, key, size, node, root.name), start, stop))


def test_a_safe_zip_is_a_tree_whose_root_is_the_product(stored):
    archive, size = stored("M/1/X.SAFE.zip", SAFE_ZIP)
    root = product_nodes(archive, "M/1/X.SAFE.zip", size, "X.SAFE.zip")
    assert root.name == "X.SAFE.zip" and root.aliases == ("X.SAFE",) and root.is_folder
    assert sorted(root.children) == ["manifest.safe", "measurement", "preview"]
    big = resolve(root, ["X.SAFE", "measurement", "big.tiff"])
    assert big.size == len(BIG) and not big.is_folder and resolve(root, ["X.SAFE.zip", "preview"]).children == {}
    for path, data in ((["X.SAFE", "measurement", "big.tiff"], BIG), (["X.SAFE", "measurement", "text.xml"], TEXT)):
        assert _read(archive, "M/1/X.SAFE.zip", size, root, path) == data
        for start, stop in ((0, 10), (1_000_000, 1_000_010), (len(data) - 7, len(data)), (5, 5)):
            assert _read(archive, "M/1/X.SAFE.zip", size, root, path, start, stop) == data[start:stop]
    with pytest.raises(NodeNotFound, match="has no node 'nope'"):
        resolve(root, ["X.SAFE", "measurement", "nope"])
    with pytest.raises(NodeNotFound):
        resolve(root, ["Y.SAFE"])
    with pytest.raises(NodeNotFound):
        resolve(root, ["X.SAFE", "manifest.safe", "below-a-file"])


def test_other_files_are_one_node(stored):
    for data in (os.urandom(5000), b"PK\x05\x06 not a zip: no end record ends the file" + os.urandom(100),
                 # an end record of an empty directory after other data: a stray signature, not an
                 # empty ZIP (which is its end record alone)
                 os.urandom(5000) + b"PK\x05\x06" + bytes(18)):
        archive, size = stored("M/2/aux.bin", data)
        root = product_nodes(archive, "M/2/aux.bin", size, "aux.bin")
        assert (root.is_folder, root.size, root.entry) == (False, len(data), None)


def test_bytes_after_a_zip_and_before_it_are_tolerated(stored):
    for label, data in (("after", SAFE_ZIP + b"\0" * 100), ("before", b"#!/bin/sh\nexit 0\n" * 50 + SAFE_ZIP)):
        archive, size = stored(f"M/6/{label}.zip", data)
        root = product_nodes(archive, f"M/6/{label}.zip", size, "X.SAFE.zip")
        assert _read(archive, f"M/6/{label}.zip", size, root, ["X.SAFE", "measurement", "text.xml"]) == TEXT


def test_trees_are_cached_by_file_and_checksum(stored, monkeypatch):
    archive, size = stored("M/5/X.SAFE.zip", SAFE_ZIP)
    first = product_nodes(archive, "M/5/X.SAFE.zip", size, "X.SAFE.zip", md5="abc")
    assert product_nodes(archive, "M/5/X.SAFE.zip", size, "X.SAFE.zip", md5="abc") is first
    assert product_nodes(archive, "M/5/X.SAFE.zip", size, "X.SAFE.zip", md5="other") is not first
    assert product_nodes(archive, "M/5/X.SAFE.zip", size, "X.SAFE.zip") is not first  # no MD5: not cached
    monkeypatch.setattr("proseo_odata.nodes.CACHED_DIRECTORY_BYTES", 100)  # SAFE_ZIP's is larger
    TREES.clear()
    assert product_nodes(archive, "M/5/X.SAFE.zip", size, "X.SAFE.zip", md5="abc") is not \
        product_nodes(archive, "M/5/X.SAFE.zip", size, "X.SAFE.zip", md5="abc")


def test_s3_reads_the_directory_and_the_ranges_not_the_object(s3_settings):
    archive = load_archive(s3_settings)
    archive.put_stream("M/3/X.SAFE.zip", io.BytesIO(SAFE_ZIP))
    counting = CountingArchive(archive)
    root = product_nodes(counting, "M/3/X.SAFE.zip", len(SAFE_ZIP), "X.SAFE.zip")
    assert counting.read < 1024 * 1024 + 128 * 1024  # the end of the object, not its 4 MiB
    counting.read = 0
    stored_zip = _zip([("X.SAFE/big.tiff", BIG)], zipfile.ZIP_STORED)
    archive.put_stream("M/4/X.SAFE.zip", io.BytesIO(stored_zip))
    root = product_nodes(archive, "M/4/X.SAFE.zip", len(stored_zip), "X.SAFE.zip")
    assert _read(counting, "M/4/X.SAFE.zip", len(stored_zip), root, ["X.SAFE", "big.tiff"], len(BIG) - 10) == BIG[-10:]
    assert counting.read < 1024 * 1024  # a range of a stored entry: its local header and those 10 bytes


def _patched(data: bytes, signature: bytes, offset: int, fmt: str, value) -> bytes:
    data = bytearray(data)
    struct.pack_into(fmt, data, data.index(signature) + offset, value)
    return bytes(data)


def _zip64_liar(declared=2 ** 62) -> bytes:
    """A stored entry of 5 bytes (right CRC) whose central record says, in ZIP64, it has ``declared``."""
    name, data = b"X.SAFE/liar.bin", b"hello"
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
    extra = struct.pack("<HHQ", 1, 8, declared)
    central = struct.pack("<4s6H3I5HII", b"PK\x01\x02", 45, 45, 0, 0, 0, 0, crc, len(data), 0xFFFFFFFF,
                          len(name), len(extra), 0, 0, 0, 0, 0) + name + extra
    return local + name + data + central + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central),
                                                       len(local) + len(name) + len(data), 0)


GOOD = _zip([("X.SAFE/a.txt", b"hello" * 100)])


def _bad_utf8_name() -> bytes:
    """A name in the central directory that is not the UTF-8 its flag says."""
    raw = bytearray(_zip([("X.SAFE/ok\u00e9.txt", b"e")]))
    raw[raw.rindex("ok\u00e9".encode()) + 2] = 0xFF
    return bytes(raw)


@pytest.mark.parametrize("label, data, words", [
    # a directory that zipfile cannot read: unavailable, never taken for a plain file
    ("damaged record", _patched(GOOD, b"PK\x01\x02", 0, "<4s", b"PK\x09\x09"), "damaged record"),
    ("record past the directory", _patched(GOOD, b"PK\x01\x02", 28, "<H", 60000), "damaged record"),
    ("end record outside", _patched(GOOD, b"PK\x05\x06", 12, "<L", 10 ** 6), "outside the file"),
    ("bad UTF-8 name", _bad_utf8_name(), "directory"),
    # the end record's count, checked before the directory is read
    ("entry count", _patched(GOOD, b"PK\x05\x06", 10, "<H", 1001), "1001 entries"),
])
def test_unreadable_or_too_large_directories_are_refused(tmp_path, label, data, words, monkeypatch):
    monkeypatch.setattr("proseo_odata.nodes.MAX_ENTRIES", 1000)
    archive = load_archive({"proseo.archive.backend": "local", "proseo.archive.path": str(tmp_path)})
    archive.put_stream("k/x.zip", io.BytesIO(data))
    with pytest.raises(NodesUnavailable, match=words):
        product_nodes(archive, "k/x.zip", len(data), "x.zip")


def _local_name_changed(data: bytes) -> bytes:
    raw = bytearray(data)
    at = raw.index(b"PK\x03\x04") + 30
    raw[at:at + 12] = b"X.SAFE/b.txt"
    return bytes(raw)


@pytest.mark.parametrize("label, data, words", [
    ("local name", _local_name_changed(GOOD), "another file"),
    ("header offset past the end", _patched(GOOD, b"PK\x01\x02", 42, "<L", 10 ** 6), "local header"),
    ("patched data flag", _patched(GOOD, b"PK\x01\x02", 8, "<H", 0x20), "patched"),
    ("encrypted", _patched(GOOD, b"PK\x01\x02", 8, "<H", 0x1), "encrypted"),
    ("bzip2", _zip([("X.SAFE/a.txt", b"hello" * 100)], zipfile.ZIP_BZIP2), "method 12"),
    ("lzma", _zip([("X.SAFE/a.txt", b"hello" * 100)], zipfile.ZIP_LZMA), "method 14"),
    ("impossible ratio", _patched(GOOD, b"PK\x01\x02", 24, "<L", 10 ** 9), "sizes"),
    ("zip64 liar", _zip64_liar(), "sizes"),
])
def test_entries_whose_records_disagree_are_refused_before_any_byte(tmp_path, label, data, words):
    archive = load_archive({"proseo.archive.backend": "local", "proseo.archive.path": str(tmp_path)})
    archive.put_stream("k/x.zip", io.BytesIO(data))
    root = product_nodes(archive, "k/x.zip", len(data), "x.zip")
    (node,) = root.children.values()
    with pytest.raises(NodesUnavailable, match=words):
        open_member(archive, "k/x.zip", len(data), node, "x.zip")


def test_damaged_deflated_data_stops_the_body(tmp_path):
    archive = load_archive({"proseo.archive.backend": "local", "proseo.archive.path": str(tmp_path)})
    for label, mutate, words in (
        ("crc", lambda raw: (struct.pack_into("<L", raw, raw.index(b"PK\x01\x02") + 16, 0),  # both records
                             struct.pack_into("<L", raw, raw.index(b"PK\x03\x04") + 14, 0)), "CRC"),
        ("bytes", lambda raw: raw.__setitem__(slice(raw.index(b"PK\x03\x04") + 42, raw.index(b"PK\x03\x04") + 60),
                                              b"\xff" * 18), "damaged|early|more than"),
    ):
        raw = bytearray(_zip([("X.SAFE/t.xml", TEXT)]))
        mutate(raw)
        archive.put_stream(f"k/{label}.zip", io.BytesIO(bytes(raw)))
        root = product_nodes(archive, f"k/{label}.zip", len(raw), "x.zip")
        member = open_member(archive, f"k/{label}.zip", len(raw), root.children["t.xml"], "x.zip")
        with pytest.raises(DamagedMember, match=words):
            b"".join(iter_member(archive, f"k/{label}.zip", member))


VARIANT_ENTRIES = {"X.SAFE/manifest.safe": b"<manifest/>" * 30, "X.SAFE/empty.txt": b"",
                   "X.SAFE/m/big.tiff": BIG[:300_000], "X.SAFE/m/text.xml": TEXT[:200_000],
                   "X.SAFE/m/stored.bin": BIG[:5000]}


def _variant(kind: str) -> bytes:
    target = Unseekable() if kind == "data descriptors" else io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zipped:
        if kind == "comment":  # zipfile 3.11 itself cannot read this one back (it takes the last signature)
            zipped.comment = b"a comment holding PK\x05\x06 and more"
        for name, data in VARIANT_ENTRIES.items():
            method = zipfile.ZIP_STORED if name.endswith("stored.bin") else zipfile.ZIP_DEFLATED
            if kind in ("zip64", "data descriptors"):
                with zipped.open(zipfile.ZipInfo(name), "w", force_zip64=kind == "zip64") as out:
                    out.write(data)
            else:
                zipped.writestr(name, data, compress_type=method)
    data = (target.buffer if isinstance(target, Unseekable) else target).getvalue()
    return b"MZ self-extracting stub " * 100 + data if kind == "prefixed" else data


@pytest.mark.parametrize("kind", ["plain", "comment", "zip64", "data descriptors", "prefixed"])
def test_every_kind_of_zip_python_writes_reads_back(tmp_path, kind):
    data = _variant(kind)
    archive = load_archive({"proseo.archive.backend": "local", "proseo.archive.path": str(tmp_path)})
    archive.put_stream("k/x.zip", io.BytesIO(data))
    root = product_nodes(archive, "k/x.zip", len(data), "X.SAFE.zip")
    for name, expected in VARIANT_ENTRIES.items():
        assert _read(archive, "k/x.zip", len(data), root, ["X.SAFE", *name.split("/")[1:]]) == expected, (kind, name)


def _local_archive(tmp_path, data: bytes):
    archive = load_archive({"proseo.archive.backend": "local", "proseo.archive.path": str(tmp_path)})
    archive.put_stream("k/x.zip", io.BytesIO(data))
    return archive


def _zip64_end_with_extensible_data(extensible=b"\x99\x99\x04\x00ABCD") -> bytes:
    """A ZIP whose ZIP64 end record carries an extensible data sector (APPNOTE 4.3.14), its 32-bit
    end record saturated."""
    data = _zip([("X.SAFE/a.txt", b"hello")])
    end = data.rindex(b"PK\x05\x06")
    _sig, _d, _dc, _here, count, cd_size, cd_offset, _c = struct.unpack("<4s4H2LH", data[end:end + 22])
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44 + len(extensible), 45, 45, 0, 0, count, count, cd_size,
                         cd_offset) + extensible
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
    return data[:end] + record + locator + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                                                       0xFFFFFFFF, 0)


def _descriptor_without_signature(data: bytes) -> bytes:
    """One deflated entry whose CRC, sizes are in a data descriptor without its optional signature."""
    name = b"X.SAFE/manifest.safe"
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = deflate.compress(data) + deflate.flush()
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 8, 8, 0, 0, 0, 0, 0, len(name), 0) + name + packed \
        + struct.pack("<3L", crc, len(packed), len(data))
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 8, 8, 0, 0, crc, len(packed), len(data), len(name),
                          0, 0, 0, 0, 0, 0) + name
    return local + central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local), 0)


def _with_crc(prefix: bytes, target: int) -> bytes:
    """``prefix`` and 4 bytes making its CRC-32 ``target`` (CRC-32 is linear over GF(2))."""
    base = zlib.crc32(prefix + b"\0\0\0\0")
    basis = {}
    for bit in range(32):
        value, mask = zlib.crc32(prefix + (1 << bit).to_bytes(4, "little")) ^ base, 1 << bit
        for top in reversed(range(32)):
            if not value >> top & 1:
                continue
            if top not in basis:
                basis[top] = (value, mask)
                break
            value, mask = value ^ basis[top][0], mask ^ basis[top][1]
    value, chosen = target ^ base, 0
    for top in reversed(range(32)):
        if value >> top & 1:
            value, chosen = value ^ basis[top][0], chosen ^ basis[top][1]
    return prefix + chosen.to_bytes(4, "little")


def test_legitimate_zips_zipfile_cannot_read_are_read(tmp_path):
    cases = [
        ("a ZIP64 end record with an extensible data sector", _zip64_end_with_extensible_data(),
         ["X.SAFE", "a.txt"], b"hello"),
        # a descriptor without its signature, whose CRC-32 happens to be the signature
        ("descriptor", _descriptor_without_signature(_with_crc(b"<manifest/>", 0x08074B50)),
         ["X.SAFE", "manifest.safe"], _with_crc(b"<manifest/>", 0x08074B50)),
    ]
    for label, data, path, expected in cases:
        archive = _local_archive(tmp_path / label.replace(" ", "_"), data)
        root = product_nodes(archive, "k/x.zip", len(data), "x.zip")
        assert _read(archive, "k/x.zip", len(data), root, path) == expected, label
    # a comment quoting the end signature, and bytes after the ZIP: the record that points at a directory
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("X.SAFE/manifest.safe", b"<manifest/>")
        zipped.comment = b"signed by PK\x05\x06 tool 1.0.0.0.0.0.0"
    data = buffer.getvalue() + b"\n-- an appended signature block --\n"
    archive = _local_archive(tmp_path / "trailing", data)
    root = product_nodes(archive, "k/x.zip", len(data), "x.zip")
    assert _read(archive, "k/x.zip", len(data), root, ["X.SAFE", "manifest.safe"]) == b"<manifest/>"


def test_names_info_zip_writes_in_utf_8_without_the_flag(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("X.SAFE/caf\u00e9.txt", b"coffee")
    raw = bytearray(buffer.getvalue())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # drop the UTF-8 flag (bit 11)
        at = raw.index(signature)
        (flags,) = struct.unpack_from("<H", raw, at + flag_offset)
        struct.pack_into("<H", raw, at + flag_offset, flags & ~0x800)
    archive = _local_archive(tmp_path, bytes(raw))
    root = product_nodes(archive, "k/x.zip", len(raw), "x.zip")
    assert list(root.children) == ["caf\u00e9.txt"]
    assert _read(archive, "k/x.zip", len(raw), root, ["X.SAFE", "caf\u00e9.txt"]) == b"coffee"


def _stored_zip(name: bytes, data: bytes, extra: bytes = b"") -> bytes:
    """One stored entry, written by hand: ``name`` as raw bytes (no UTF-8 flag), ``extra`` in both headers."""
    crc = zlib.crc32(data)
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name),
                        len(extra)) + name + extra + data
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name),
                          len(extra), 0, 0, 0, 0, 0) + name + extra
    return local + central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local), 0)


def test_names_in_an_info_zip_unicode_path_field(tmp_path):
    cp437 = "X.SAFE/caf\u00e9.txt".encode("cp437")  # what an old tool writes, unflagged: b"caf\x82.txt"
    unicode_name = "X.SAFE/caf\u00e9 \u2615.txt"  # what CP437 cannot write: only the field holds it
    field = b"\x01" + struct.pack("<L", zlib.crc32(cp437)) + unicode_name.encode("utf-8")
    stale = b"\x01" + struct.pack("<L", zlib.crc32(b"another name")) + unicode_name.encode("utf-8")
    for extra, expected in ((struct.pack("<2H", 0x7075, len(field)) + field, "caf\u00e9 \u2615.txt"),
                            (struct.pack("<2H", 0x7075, len(stale)) + stale, "caf\u00e9.txt"),  # of another name
                            (b"", "caf\u00e9.txt")):  # CP437's 0x82
        data = _stored_zip(cp437, b"coffee", extra)
        archive = _local_archive(tmp_path / str(len(extra)) / expected[-5:], data)
        root = product_nodes(archive, "k/x.zip", len(data), "x.zip")
        assert list(root.children) == [expected]
        assert _read(archive, "k/x.zip", len(data), root, ["X.SAFE", expected]) == b"coffee"


def test_deep_trees_are_bounded(tmp_path, monkeypatch):
    deep = "X.SAFE/" + "/".join(["d"] * 70) + "/deep.txt"
    data = _zip([("X.SAFE/a.txt", b"a"), (deep, b"deep")] + [(f"X.SAFE/{i}/x/y/z.txt", b"z") for i in range(30)])
    archive = _local_archive(tmp_path, data)
    root = product_nodes(archive, "k/x.zip", len(data), "x.zip")
    assert "d" not in root.children and "a.txt" in root.children  # more than 64 levels: not listed
    monkeypatch.setattr("proseo_odata.nodes.MAX_NODES", 100)  # 30 entries of 4 levels
    with pytest.raises(NodesUnavailable, match="more than 100 nodes"):
        product_nodes(archive, "k/x.zip", len(data), "x.zip")


def test_an_empty_deflated_entry_with_a_crc_is_refused(tmp_path):
    raw = bytearray(_zip([("X.SAFE/empty.txt", b""), ("X.SAFE/b.txt", b"b")]))
    for signature, crc_offset in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        struct.pack_into("<L", raw, raw.index(signature) + crc_offset, 0xDEADBEEF)
    archive = _local_archive(tmp_path, bytes(raw))
    root = product_nodes(archive, "k/x.zip", len(raw), "x.zip")
    with pytest.raises(NodesUnavailable, match="CRC-32 of no byte"):
        open_member(archive, "k/x.zip", len(raw), root.children["empty.txt"], "x.zip")
