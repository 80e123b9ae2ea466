"""Damaged and hostile ZIPs for the tests of a product's Nodes (:mod:`proseo_odata.nodes`):
seed ZIPs of every kind the reader reads, random mutations of them aimed at their records, an
archive in memory as strict as the strictest backend, and zipfile's reading of an entry to compare
with. Used by tests/archive/test_nodes_mutations.py (the reader) and
tests/web/test_product_nodes_mutations.py (over HTTP).

:func:`mutated` makes case ``index`` of a run of seed ``seed``: the same bytes on every machine
(``random.Random`` seeded with a string is stable across processes and versions)."""
from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib

__all__ = ["BytesArchive", "OutsideTheFile", "SEEDS", "TEXT", "files", "mutate", "mutated", "zipfile_content"]

# -- the seeds -----------------------------------------------------------------------------------

_random = random.Random(7)
BAND = _random.randbytes(6000)  # random: deflate cannot shrink it
MANIFEST = b'<?xml version="1.0"?><xfdu:XFDU>' + b'<dataObject ID="B02"/>\n' * 60 + b"</xfdu:XFDU>"
#: Inflates to more than STEP (256 KiB): several steps, from some 1 KB.
TEXT = b"<granule>" + b"band 10m, " * 30_000 + b"</granule>"
SMALL = b"<Level-1C_Tile_ID/>"


class Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes each entry's CRC and sizes in a data descriptor."""

    def __init__(self):
        super().__init__()
        self.buffer = io.BytesIO()

    def writable(self):
        return True

    def write(self, data):
        return self.buffer.write(data)


def _zipfile_seed(entries, *, stream=False, zip64=False, comment=b"") -> bytes:
    """``entries`` (name, data, method) written by zipfile: to a stream (data descriptors), with
    ZIP64 local headers, ``extra`` fields on the names ending in ``.xml``."""
    target = Unseekable() if stream else io.BytesIO()
    with zipfile.ZipFile(target, "w") as zipped:
        zipped.comment = comment
        for name, data, method in entries:
            info = zipfile.ZipInfo(name, (2024, 1, 5, 10, 13, 21))
            info.compress_type = method
            if name.endswith(".xml"):  # an extended timestamp (0x5455), as Info-ZIP writes it
                info.extra = struct.pack("<2HBL", 0x5455, 5, 1, 1704449601)
            if name.endswith("/"):
                info.external_attr = 0o40755 << 16 | 0x10
            with zipped.open(info, "w", force_zip64=zip64 and not name.endswith("/")) as out:
                out.write(data)
    return (target.buffer if stream else target).getvalue()


def _deflated(data: bytes) -> bytes:
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    return deflate.compress(data) + deflate.flush()


def _hand_zip(entries, *, zip64=False, descriptor=False) -> bytes:
    """``entries`` (raw name, data, method, extra) written by hand: with ZIP64 fields in every
    directory record (sizes and offset 0xFFFFFFFF) and a ZIP64 end record and locator, or with
    data descriptors without their optional signature."""
    out, central = bytearray(), bytearray()
    for raw, data, method, extra in entries:
        packed = data if method == zipfile.ZIP_STORED else _deflated(data)
        crc, offset = zlib.crc32(data), len(out)
        flags = 0x8 if descriptor else 0
        if zip64:
            local_extra = extra + struct.pack("<2H2Q", 1, 16, len(data), len(packed))
            sizes = (0xFFFFFFFF, 0xFFFFFFFF)
        else:
            local_extra, sizes = extra, (len(packed), len(data))
        described = (0, 0, 0) if descriptor else (crc, *sizes)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 45 if zip64 else 20, flags, method, 0, 0, *described,
                           len(raw), len(local_extra)) + raw + local_extra + packed
        if descriptor:
            out += struct.pack("<3L", crc, len(packed), len(data))
        if zip64:
            central_extra = extra + struct.pack("<2H3Q", 1, 24, len(data), len(packed), offset)
            fields = (crc, 0xFFFFFFFF, 0xFFFFFFFF)
            header_offset = 0xFFFFFFFF
        else:
            central_extra, fields, header_offset = extra, (crc, len(packed), len(data)), offset
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 45, 45 if zip64 else 20, flags, method, 0, 0, *fields,
                               len(raw), len(central_extra), 0, 0, 0, 0, header_offset) + raw + central_extra
    start = len(out)
    out += central
    if zip64:
        record = len(out)
        out += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, len(entries), len(entries), len(central),
                           start)
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, record, 1)
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), start, 0)
    return bytes(out)


def _unicode_path(raw: bytes, name: str) -> bytes:
    """An Info-ZIP Unicode Path extra field (0x7075) naming ``raw`` ``name``."""
    field = b"\x01" + struct.pack("<L", zlib.crc32(raw)) + name.encode("utf-8")
    return struct.pack("<2H", 0x7075, len(field)) + field


GRANULE = "X.SAFE/GRANULE/L1C_T32TQR_A044962_20240105T101321/"
STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
SAFE_ENTRIES = [
    ("X.SAFE/", b"", STORED),
    ("X.SAFE/manifest.safe", MANIFEST, DEFLATED),
    (GRANULE + "IMG_DATA/T32TQR_20240105T101321_B02.jp2", BAND, STORED),
    (GRANULE + "MTD_TL.xml", SMALL, DEFLATED),
    (GRANULE + "QI_DATA/MSK_CLASSI_B00.xml", TEXT, DEFLATED),
    ("X.SAFE/rep_info/", b"", STORED),
    ("X.SAFE/empty.txt", b"", DEFLATED),
]
CP437 = "X.SAFE/caf\u00e9.txt".encode("cp437")


def _seeds() -> dict:
    """name -> (archive bytes, {path below the root: content})."""
    small = [entry for entry in SAFE_ENTRIES if entry[1] is not TEXT]
    made = {
        "safe": (_zipfile_seed(SAFE_ENTRIES, comment=b"a comment holding PK\x05\x06 in it"), SAFE_ENTRIES),
        "descriptors": (_zipfile_seed(SAFE_ENTRIES, stream=True), SAFE_ENTRIES),
        "zip64 local headers": (_zipfile_seed(small, zip64=True), small),
        "prefixed and trailing": (b"#!/bin/sh\nexit 0\n" * 20 + _zipfile_seed(small) + b"\n-- signature --\n", small),
    }
    hand = [(b"X.SAFE/manifest.safe", MANIFEST, DEFLATED, b""), (CP437, b"coffee", STORED, b""),
            (b"X.SAFE/t\x82.bin", BAND[:700], STORED, _unicode_path(b"X.SAFE/t\x82.bin", "X.SAFE/t\u00e9\u2615.bin")),
            (b"X.SAFE/empty.txt", b"", STORED, b""), (b"X.SAFE/MTD_TL.xml", SMALL, DEFLATED, b"")]
    names = {CP437: "X.SAFE/caf\u00e9.txt", b"X.SAFE/t\x82.bin": "X.SAFE/t\u00e9\u2615.bin"}
    hand_entries = [(names[raw] if raw in names else raw.decode(), data, method) for raw, data, method, _extra in hand]
    made["zip64 everywhere"] = (_hand_zip(hand, zip64=True), hand_entries)
    made["unsigned descriptors"] = (_hand_zip(hand, descriptor=True), hand_entries)
    return {label: (data, {tuple(name.split("/")[1:]): content for name, content, _method in entries
                           if not name.endswith("/")})
            for label, (data, entries) in made.items()}


SEEDS = _seeds()

# -- the mutations -------------------------------------------------------------------------------

SIGNATURES = {"end": b"PK\x05\x06", "end64": b"PK\x06\x06", "locator": b"PK\x06\x07", "central": b"PK\x01\x02",
              "local": b"PK\x03\x04", "descriptor": b"PK\x07\x08"}
#: Each record's fields: (offset from its signature, struct format).
FIELDS = {
    "end": [(4, "<H"), (6, "<H"), (8, "<H"), (10, "<H"), (12, "<L"), (16, "<L"), (20, "<H")],
    "end64": [(4, "<Q"), (12, "<H"), (16, "<L"), (20, "<L"), (24, "<Q"), (32, "<Q"), (40, "<Q"), (48, "<Q")],
    "locator": [(4, "<L"), (8, "<Q"), (16, "<L")],
    "central": [(8, "<H"), (10, "<H"), (16, "<L"), (20, "<L"), (24, "<L"), (28, "<H"), (30, "<H"), (32, "<H"),
                (34, "<H"), (42, "<L")],
    "local": [(6, "<H"), (8, "<H"), (14, "<L"), (18, "<L"), (22, "<L"), (26, "<H"), (28, "<H")],
    "descriptor": [(4, "<L"), (8, "<L"), (12, "<L"), (8, "<Q"), (16, "<Q")],
}
LENGTHS = {"end": 22, "end64": 56, "locator": 20, "central": 46, "local": 30, "descriptor": 16}


def _records(data: bytes) -> list:
    """``(kind, offset)`` of every record signature in ``data`` (in file data too: so be it),
    and ``("zip64", offset)`` of each 8-byte value of a ZIP64 extra field of a record."""
    found = []
    for kind, signature in SIGNATURES.items():
        at = data.find(signature)
        while at >= 0:
            found.append((kind, at))
            at = data.find(signature, at + 1)
    for kind, at in list(found):
        if kind not in ("central", "local"):
            continue
        fixed = 46 if kind == "central" else 30
        if at + fixed > len(data):
            continue
        n, m = struct.unpack_from("<2H", data, at + (28 if kind == "central" else 26))
        pos, stop = at + fixed + n, min(at + fixed + n + m, len(data))
        while pos + 4 <= stop:
            tag, length = struct.unpack_from("<2H", data, pos)
            if tag == 1:
                found += [("zip64", value) for value in range(pos + 4, min(pos + 4 + length, stop) - 7, 8)]
            pos += 4 + length
    return found


def _extremes(rng: random.Random, width: int, current: int, size: int) -> int:
    top = (1 << (8 * width)) - 1
    value = rng.choice([0, 1, 2, top, top - 1, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 0x80000000, 0xFFFF, 2 ** 63,
                        2 ** 63 - 1, current + 1, current - 1, current + rng.randint(-64, 64), current * 2,
                        current // 2, size, size - 1, size + 1, size - 22, size - 30, size - 46, size - 56,
                        rng.randrange(top + 1), rng.randrange(min(top, max(size, 1) * 2) + 1)])
    return value & top


def _data_start(data: bytearray, at: int) -> int:
    """Where the data of the local header at ``at`` begins."""
    if at + 30 > len(data):
        return at
    n, m = struct.unpack_from("<2H", data, at + 26)
    return at + 30 + n + m


def _position(rng: random.Random, data: bytearray, records: list) -> tuple[int, str]:
    """A position to edit: in a record (its fixed part, mostly), in an entry's data or anywhere."""
    choice = rng.random()
    locals_ = [at for kind, at in records if kind == "local"]
    if locals_ and choice < 0.3:
        start = _data_start(data, rng.choice(locals_))
        pos = start + rng.choice([0, 1, 2, rng.randrange(64), rng.randrange(4096)])
        return max(0, min(pos, len(data) - 1)), f"data@{start}"
    if records and choice < 0.85:
        kind, at = rng.choice(records)
        span = 8 if kind == "zip64" else LENGTHS[kind]
        pos = at + rng.randrange(-2, span + 6)
        return max(0, min(pos, len(data) - 1)), f"{kind}@{at}"
    return rng.randrange(len(data)), "anywhere"


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, list]:
    """``data`` with 1 to 4 random edits, and their descriptions (enough to make them again)."""
    data, edits = bytearray(data), []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        if not data:
            data += b"PK\x05\x06" + bytes(18)
            edits.append("empty: an end record alone")
            continue
        records = _records(bytes(data))
        what = rng.choices(["flip", "byte", "field", "truncate", "insert", "delete", "zero", "signature", "copy",
                            "duplicate end", "second directory", "append"],
                           weights=[14, 8, 30, 6, 6, 6, 4, 6, 6, 5, 3, 6])[0]
        if what == "flip":
            pos, where = _position(rng, data, records)
            bits = rng.choice([1, 1, 2, 0x80, rng.randrange(1, 256)])
            data[pos] ^= bits
            edits.append(f"flip {bits:#04x} at {pos} ({where})")
        elif what == "byte":
            pos, where = _position(rng, data, records)
            data[pos] = rng.choice([0, 0xFF, 0x80, 0x50, 0x4B, rng.randrange(256)])
            edits.append(f"byte {data[pos]:#04x} at {pos} ({where})")
        elif what == "field" and records:
            kind, at = rng.choice(records)
            offset, fmt = (0, "<Q") if kind == "zip64" else rng.choice(FIELDS[kind])
            width = struct.calcsize(fmt)
            if at + offset + width > len(data):
                continue
            (current,) = struct.unpack_from(fmt, data, at + offset)
            value = _extremes(rng, width, current, len(data))
            struct.pack_into(fmt, data, at + offset, value)
            edits.append(f"field {kind}@{at}+{offset} {fmt} {current} -> {value}")
        elif what == "truncate":
            if records and rng.random() < 0.5:
                kind, at = rng.choice(records)
                cut = max(0, at + rng.randrange(-3, 60))
            else:
                cut = rng.randrange(len(data))
            del data[cut:]
            edits.append(f"truncate at {cut}")
        elif what == "insert":
            pos, where = _position(rng, data, records)
            junk = rng.choice([bytes(rng.randrange(1, 9)), rng.randbytes(rng.randrange(1, 65)), b"PK",
                               bytes(data[pos:pos + rng.randrange(1, 47)])])
            data[pos:pos] = junk
            edits.append(f"insert {junk[:16].hex()}({len(junk)}) at {pos} ({where})")
        elif what == "delete":
            pos, where = _position(rng, data, records)
            count = rng.choice([1, 2, 4, rng.randrange(1, 64)])
            del data[pos:pos + count]
            edits.append(f"delete {count} at {pos} ({where})")
        elif what == "zero":
            pos, where = _position(rng, data, records)
            count = rng.randrange(1, 33)
            data[pos:pos + count] = bytes(len(data[pos:pos + count]))
            edits.append(f"zero {count} at {pos} ({where})")
        elif what == "signature":
            pos, where = _position(rng, data, records)
            signature = rng.choice(list(SIGNATURES.values()))
            data[pos:pos + 4] = signature
            edits.append(f"signature {signature!r} at {pos} ({where})")
        elif what == "copy" and len(records) >= 2:
            (kind, source), (other, target) = rng.sample(records, 2)
            if kind == "zip64" or other == "zip64":
                continue
            piece = bytes(data[source:source + LENGTHS[kind] + rng.randrange(0, 24)])
            data[target:target + len(piece)] = piece
            edits.append(f"copy {kind}@{source} ({len(piece)}) over {other}@{target}")
        elif what == "duplicate end":
            at = data.rfind(b"PK\x05\x06")
            if at < 0:
                continue
            record = bytes(data[at:at + 22])
            where = rng.choice(["end", "before", "end+junk"])
            if where == "before":
                data[at:at] = record
            else:
                data += record + (rng.randbytes(rng.randrange(1, 40)) if where == "end+junk" else b"")
            edits.append(f"duplicate end record ({where})")
        elif what == "second directory":
            first, at = data.find(b"PK\x01\x02"), data.rfind(b"PK\x05\x06")
            if first < 0 or at < first:
                continue
            data += data[first:at + 22]  # the same records and an end record, now pointing wrongly
            edits.append("second directory appended")
        elif what == "append":
            junk = rng.choice([rng.randbytes(rng.randrange(1, 200)), b"PK\x05\x06" + rng.randbytes(18),
                               b"PK\x05\x06" + bytes(18),
                               b"PK\x06\x07" + rng.randbytes(16) + b"PK\x05\x06" + bytes(18)])
            data += junk
            edits.append(f"append {junk[:24].hex()}({len(junk)})")
    return bytes(data), edits


def mutated(seed: int, index: int) -> tuple[str, bytes, list, random.Random]:
    """Case ``index`` of a run of ``seed``: ``(seed archive's name, mutated bytes, the edits, the
    case's rng, for the rest of the case's random choices)``."""
    rng = random.Random(f"{seed}:{index}")
    label = rng.choice(sorted(SEEDS))
    data, edits = mutate(rng, SEEDS[label][0])
    return label, data, edits, rng


# -- reading them --------------------------------------------------------------------------------

class OutsideTheFile(AssertionError):
    """A read starting at or past the end of the file, or at a negative offset."""


class BytesArchive:
    """The archive contract over bytes in memory, as strict as its strictest backend: S3 answers
    416 to a range that starts at or past the end of the object (a ``ClientError``, no
    ``OSError``: the web layer would answer 500), the local file system refuses a negative
    offset; such a read fails the case."""

    def __init__(self, data: bytes):
        self.data = data

    def iter_range(self, key, start=0, length=None, chunk_size=1024 * 1024):
        if start < 0 or (length is not None and length < 0) or (start >= len(self.data) and length != 0):
            raise OutsideTheFile(f"a read of {length} byte(s) at {start} of a file of {len(self.data)}")
        stop = len(self.data) if length is None else min(len(self.data), start + length)
        for at in range(start, stop, chunk_size):
            yield self.data[at:min(at + chunk_size, stop)]


def files(root) -> list:
    """``(path, node)`` of every file below ``root`` (iteratively: a tree may be deep)."""
    found, stack = [], [((), root)]
    while stack:
        path, node = stack.pop()
        if node.is_folder:
            stack.extend(((*path, name), child) for name, child in node.children.items())
        elif node.entry is not None:
            found.append((path, node))
    return found


def zipfile_content(data: bytes, entry) -> bytes | None:
    """What zipfile reads (its CRC-32 checked) of the entry at ``entry``'s local header, with its
    CRC-32 and sizes; None when it cannot."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zipped:
            for info in zipped.infolist():
                if (info.header_offset, info.CRC, info.file_size, info.compress_size) == \
                        (entry.header_offset, entry.crc, entry.size, entry.compressed):
                    with zipped.open(info) as member:
                        content = member.read(entry.size + 1)
                        return content if len(content) == entry.size and not member.read(1) else None
    except Exception:  # noqa: BLE001 - zipfile's own refusals (and its bugs) only skip the comparison
        return None
    return None
