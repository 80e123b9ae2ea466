"""proseo_odata.nodes against damaged and hostile ZIPs: a seeded, bounded mutation fuzz of the
reader (end record, ZIP64 end record and locator, directory, local headers, data descriptors,
stored and deflated data), through its public functions on an archive in memory.

The seeds are ZIPs of every kind the reader reads (a zipped SAFE of stored, deflated, empty and
folder entries with a comment and extra fields; data descriptors as zipfile writes them to a
stream, and without their signature; ZIP64 local headers, directory fields and end record; CP437
names with an Info-ZIP Unicode Path field; bytes before and after the ZIP). Each case mutates one
with 1 to 4 random edits: bits flipped and bytes overwritten, mostly in the records (at a
signature, or a field of one: end record, ZIP64 end record and locator, directory record, local
header, data descriptor, ZIP64 extra field), some anywhere; fields set to extreme values (0,
0xFFFFFFFF, 2**63, 2**64 - 1, the file's size, off by one); the file truncated, bytes inserted,
deleted, zeroed; signatures written anywhere; records copied over others; the end record
duplicated, a second directory appended; junk appended. The reader's knobs vary per case too:
:data:`~proseo_odata.nodes.STEP` (the inflate and read step, down to a few bytes) and
:data:`~proseo_odata.nodes.CHECKED_STORED_BYTES`.

Each case lists the tree (``product_nodes``), resolves every file, opens it (``open_member``),
reads it whole and in ranges (``iter_member``), and checks:

* the only errors are :class:`~proseo_odata.errors.NotFound` (``NodesUnavailable``,
  ``NodeNotFound``) before an answer, and :class:`~proseo_odata.nodes.DamagedMember` while
  reading; anything else (``struct.error``, ``zlib.error``, ``IndexError``, ``MemoryError``,
  a read outside the file, ...) fails the case;
* a body cut by ``DamagedMember`` is cut before its last byte: the client gets fewer bytes than
  ``Content-Length`` promised (a server that already sent them all answered a complete 200); a
  range to the end of an entry (a resumed download) is cut when the entry is damaged;
* an entry read whole has its directory record's size and CRC-32, stored or deflated;
* when :mod:`zipfile` also reads the entry (its CRC-32 checked) from the same mutated bytes, the
  bytes are equal, whole and in every range read;
* the case takes at most :data:`CASE_SECONDS` of the reader's time (a hard alarm stops a hang),
  and every 20th case's reads stay within a few MiB (tracemalloc).

``NODES_FUZZ_SEED`` and ``NODES_FUZZ_CASES`` override the seed and the number of cases (5,000, some
5 s; a longer local run: ``NODES_FUZZ_CASES=60000``, a minute); ``NODES_FUZZ_CASE=<n>`` runs case
``n`` alone. A failure names the seed, the case, the seed archive and its edits, and saves the
mutated file. The tests at the end are what the fuzz found.
"""
from __future__ import annotations

import io
import os
import random
import signal
import struct
import threading
import time
import traceback
import tracemalloc
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from proseo_odata import nodes
from proseo_odata.errors import NotFound
from proseo_odata.nodes import DamagedMember, iter_member, open_member, product_nodes, resolve

from zip_mutations import SEEDS, TEXT, BytesArchive, files, mutated, zipfile_content

SEED = int(os.environ.get("NODES_FUZZ_SEED", "20250907"))
CASES = int(os.environ.get("NODES_FUZZ_CASES", "5000"))
ONLY = os.environ.get("NODES_FUZZ_CASE")
#: The reader's CPU time one case may take (its zipfile comparison not counted).
CASE_SECONDS = 2.0
#: A case still running after this long is stopped (SIGALRM): a hang.
HANG_SECONDS = 30
#: Bytes a case's reads may allocate beyond the file's size times 4 (tracemalloc's peak).
MEMORY_SLACK = 3 * 1024 * 1024
KEY = "M/1/X.SAFE.zip"
NAME = "X.SAFE.zip"
#: The reader's knobs as it comes (the cases set others for a while).
STEP, CHECKED_STORED_BYTES = nodes.STEP, nodes.CHECKED_STORED_BYTES


# -- the reader under test -----------------------------------------------------------------------

class Failure(AssertionError):
    """A check of a case that fails (reported with the case, its seed and its edits)."""


@dataclass
class Outcome:
    """What one case reached (counted over the run: the fuzz must reach every stage)."""

    stages: dict = field(default_factory=dict)

    def count(self, stage: str) -> None:
        self.stages[stage] = self.stages.get(stage, 0) + 1


class _Clock:
    """The reader's own time in a case: its thread's CPU time (a machine busy with other work, as
    CI's is, makes no case slow)."""

    def __init__(self):
        self.spent = 0.0

    @contextmanager
    def timed(self):
        began = time.thread_time()
        try:
            yield
        finally:
            self.spent += time.thread_time() - began


def _drain(chunks, limit: int) -> tuple[list, int, BaseException | None]:
    """The chunks ``chunks`` yields (at most ``limit`` bytes of them kept), their byte count, and the
    ``DamagedMember`` that ended them early, if one did."""
    kept, count = [], 0
    try:
        for chunk in chunks:
            if not isinstance(chunk, bytes) or not chunk:
                raise Failure(f"iter_member yielded {type(chunk).__name__} {chunk[:8]!r}")
            count += len(chunk)
            if count <= limit:
                kept.append(chunk)
    except DamagedMember as exc:
        return kept, count, exc
    return kept, count, None


def _ranges(rng: random.Random, size: int) -> list:
    """Ranges to read of an entry of ``size`` bytes: its ends, past its end, a random one and one to
    its end (a resumed download's)."""
    ranges = [(0, 1), (max(size - 1, 0), size), (size, size + 5)]
    if size > 2:
        start = rng.randrange(size)
        ranges += [(start, rng.randrange(start, size + 1)), (rng.randrange(1, size), size)]
    return ranges


def run_case(data: bytes, rng: random.Random, outcome: Outcome, clock: _Clock) -> None:
    """The reader over ``data``: every file listed, opened, read whole and in ranges, checked."""
    archive = BytesArchive(data)
    try:
        with clock.timed():
            root = product_nodes(archive, KEY, len(data), NAME)
    except NotFound:
        outcome.count("directory refused")
        return
    if not root.is_folder:
        outcome.count("not a ZIP")
        return
    outcome.count("listed")
    for path, node in files(root):
        for first in (root.name, *root.aliases):
            with clock.timed():
                found = resolve(root, [first, *path])
            if found is not node:
                raise Failure(f"resolve({first!r}, {path}) found another node")
        entry = node.entry
        if node.size != entry.size:
            raise Failure(f"node {path}: ContentLength {node.size}, its entry {entry.size}")
        try:
            with clock.timed():
                member = open_member(archive, KEY, len(data), node, NAME)
        except NotFound:
            outcome.count("member refused")
            continue
        if (member.size, member.crc, member.compressed) != (entry.size, entry.crc, entry.compressed):
            raise Failure(f"node {path}: member {member} of entry {entry}")
        with clock.timed():
            kept, count, damaged = _drain(iter_member(archive, KEY, member), 64 * 1024 * 1024)
        if damaged is not None:
            outcome.count("damaged")
            if count >= member.size:
                raise Failure(f"node {path}: all {count} bytes of {member.size} were sent before {damaged!r}: "
                              "the client got a complete body")
            whole = None
        else:
            whole = b"".join(kept)
            if len(whole) != member.size:
                raise Failure(f"node {path}: {len(whole)} bytes read whole, its size {member.size}")
            if zlib.crc32(whole) != member.crc:
                raise Failure(f"node {path}: read whole, its CRC-32 {zlib.crc32(whole):08x}, its entry's "
                              f"{member.crc:08x}")
            outcome.count("served")
        truth = zipfile_content(data, entry) if whole is not None or member.size <= 4 * 1024 * 1024 else None
        if truth is not None:
            outcome.count("compared with zipfile" if whole is not None else "damaged, zipfile reads it")
            if whole is not None and whole != truth:
                raise Failure(f"node {path}: {len(whole)} bytes read, zipfile reads other bytes")
        for start, stop in _ranges(rng, member.size):
            with clock.timed():
                kept, count, damaged = _drain(iter_member(archive, KEY, member, start, stop), 64 * 1024 * 1024)
            expected = max(0, min(stop, member.size) - start)
            if damaged is not None:
                if count >= expected:
                    raise Failure(f"node {path}: range {start}-{stop}: all {count} bytes sent before {damaged!r}")
                continue
            if whole is None and stop >= member.size > start and not member.stored:  # inflated from its start anyway
                raise Failure(f"node {path}: range {start}-{stop} to the end of a damaged entry served whole")
            piece = b"".join(kept)
            if len(piece) != expected:
                raise Failure(f"node {path}: range {start}-{stop}: {len(piece)} bytes, not {expected}")
            for reference, label in ((whole, "its whole read"), (truth, "zipfile's")):
                if reference is not None and piece != reference[start:stop]:
                    raise Failure(f"node {path}: range {start}-{stop} differs from {label}")


def _memory_peak(data: bytes) -> int:
    """tracemalloc's peak while the reader lists and reads everything of ``data`` (nothing kept)."""
    archive = BytesArchive(data)
    tracemalloc.start()
    try:
        try:
            root = product_nodes(archive, KEY, len(data), NAME)
            for _path, node in files(root) if root.is_folder else ():
                try:
                    member = open_member(archive, KEY, len(data), node, NAME)
                    for _chunk in iter_member(archive, KEY, member):
                        pass
                except (NotFound, DamagedMember):
                    pass
        except NotFound:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@contextmanager
def _knobs(knobs: dict):
    """The reader's module constants set to ``knobs`` while the block runs."""
    saved = {name: getattr(nodes, name) for name in knobs}
    for name, value in knobs.items():
        setattr(nodes, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(nodes, name, value)


class Hang(BaseException):
    """Raised by the alarm in a case that runs past HANG_SECONDS."""


@contextmanager
def _alarm(seconds: int):
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield  # no alarm: only the main thread can have one
        return

    def ring(_signum, _frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _case(index: int) -> tuple[str, bytes, list, random.Random, dict]:
    """Case ``index`` of the run: ``(seed archive, mutated bytes, edits, its rng, its knobs)``."""
    label, data, edits, rng = mutated(SEED, index)
    small = rng.randrange(64 if TEXT in SEEDS[label][1].values() else 1, 400)  # TEXT by 1 byte: 0.2 s a read
    knobs = {"STEP": rng.choice([STEP] * 6 + [65536, 4096, small]),
             "CHECKED_STORED_BYTES": rng.choice([CHECKED_STORED_BYTES] * 3 + [0, 100])}
    return label, data, edits, rng, knobs


@pytest.fixture(autouse=True)
def no_cached_trees():
    nodes.TREES.clear()
    yield
    nodes.TREES.clear()


@pytest.mark.parametrize("label", sorted(SEEDS))
def test_every_seed_reads_back_whole(label):
    """The seeds are sound: every file reads back as written (else the fuzz mutates nothing useful)."""
    data, expected = SEEDS[label]
    archive = BytesArchive(data)
    root = product_nodes(archive, KEY, len(data), NAME)
    assert root.aliases == ("X.SAFE",), label
    read = {}
    for path, node in files(root):
        member = open_member(archive, KEY, len(data), node, NAME)
        read[path] = b"".join(iter_member(archive, KEY, member))
    assert read == expected, label
    run_case(data, random.Random(0), Outcome(), _Clock())


def test_mutated_zips_answer_their_bytes_or_refuse(tmp_path):
    indexes = [int(ONLY)] if ONLY is not None else range(CASES)
    outcome, slowest, began = Outcome(), (0.0, None), time.perf_counter()
    for index in indexes:
        label, data, edits, rng, knobs = _case(index)
        clock = _Clock()
        try:
            with _knobs(knobs), _alarm(HANG_SECONDS):
                run_case(data, rng, outcome, clock)
                if clock.spent > CASE_SECONDS:  # once more: a slow case is slow every time, a busy machine not
                    clock = _Clock()
                    run_case(data, _case(index)[3], Outcome(), clock)
                    if clock.spent > CASE_SECONDS:
                        raise Failure(f"the reader took {clock.spent:.2f} s of CPU")
                if index % 20 == 0:
                    peak = _memory_peak(data)
                    if peak > 4 * len(data) + MEMORY_SLACK:
                        raise Failure(f"the reads allocated {peak} bytes at their peak, for a file of {len(data)}")
        except (Exception, Hang) as exc:  # noqa: BLE001 - every error of the reader is reported with its case
            failed = f"{type(exc).__name__}: {exc}"
            log = traceback.format_exc()
        else:
            failed = None
        if failed is not None:
            saved = tmp_path / f"case-{index}.zip"
            saved.write_bytes(data)
            print(log)
            pytest.fail(f"NODES_FUZZ_SEED={SEED} NODES_FUZZ_CASE={index}: seed {label!r}, knobs {knobs}, edits "
                        f"{edits}: {failed} (the file: {saved})", pytrace=False)
        if clock.spent > slowest[0]:
            slowest = (clock.spent, index)
    print(f"\n{len(indexes)} cases (seed {SEED}) in {time.perf_counter() - began:.1f} s, the slowest case "
          f"{slowest[1]} ({slowest[0] * 1000:.0f} ms): {dict(sorted(outcome.stages.items()))}")
    if ONLY is None and CASES >= 500:  # the mutations reach every stage of the reader
        for stage in ("not a ZIP", "directory refused", "member refused", "damaged", "served",
                      "compared with zipfile"):
            assert outcome.stages.get(stage, 0) >= CASES // 200, (stage, outcome.stages)


# -- what the fuzz found -------------------------------------------------------------------------

def _patched(data: bytes, changes) -> bytes:
    """``data`` with ``(signature, offset, format, value)`` packed at each first signature's offset."""
    raw = bytearray(data)
    for signature, offset, fmt, value in changes:
        struct.pack_into(fmt, raw, raw.index(signature) + offset, value)
    return bytes(raw)


def _read_whole(data: bytes, path) -> tuple[bytes, int, DamagedMember | None]:
    """``(bytes read, the entry's size, the error that cut them)`` of the file at ``path``."""
    archive = BytesArchive(data)
    root = product_nodes(archive, KEY, len(data), NAME)
    member = open_member(archive, KEY, len(data), resolve(root, [NAME, *path]), NAME)
    kept, _count, damaged = _drain(iter_member(archive, KEY, member), len(data) * 2000)
    return b"".join(kept), member.size, damaged


def _crc_damaged() -> tuple[bytes, bytes]:
    """``(text, ZIP)``: a deflated entry of ``text`` whose CRC-32, in both its records, is another."""
    text = b"<tile/>" * 300
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("X.SAFE/MTD_TL.xml", text)
    return text, _patched(buffer.getvalue(), [(b"PK\x03\x04", 14, "<L", 0xDEADBEEF),
                                              (b"PK\x01\x02", 16, "<L", 0xDEADBEEF)])


@pytest.mark.parametrize("step", [STEP, 100])
def test_a_deflated_entry_whose_crc_is_wrong_is_cut_before_its_last_byte(monkeypatch, step):
    """Its CRC-32 was checked after its last byte was sent: the server, which had sent every byte
    Content-Length promised, had answered a complete 200 of bytes that are not the entry's (it only
    logged the error). Case 532 of seed 20250907 found it: a byte of a deflated entry's data flipped,
    which still inflated to its 19 bytes, not those of its CRC-32; here the CRC-32 both records give
    is another."""
    monkeypatch.setattr(nodes, "STEP", step)
    text, data = _crc_damaged()
    body, size, damaged = _read_whole(data, ["MTD_TL.xml"])
    assert isinstance(damaged, DamagedMember) and "CRC-32" in str(damaged)
    assert len(body) < size == len(text) and text.startswith(body)


@pytest.mark.parametrize("step", [STEP, 100])
def test_a_resumed_range_of_a_damaged_deflated_entry_is_cut(monkeypatch, step):
    """A range to its end (``Range: bytes=N-``, a resumed download) was inflated from the entry's
    start to its end, but not checked: a complete 206 of bytes that are not the entry's, the client's
    file damaged without a sign. Case 75 of seed 20250907 found it: a bit of a deflated entry's data
    flipped, which still inflated to its 1424 bytes."""
    monkeypatch.setattr(nodes, "STEP", step)
    text, data = _crc_damaged()
    archive = BytesArchive(data)
    root = product_nodes(archive, KEY, len(data), NAME)
    member = open_member(archive, KEY, len(data), resolve(root, [NAME, "MTD_TL.xml"]), NAME)
    for start in (1, 1000, len(text) - 1):
        kept, count, damaged = _drain(iter_member(archive, KEY, member, start, len(text) + 10), len(text))
        assert isinstance(damaged, DamagedMember) and count < len(text) - start, start
        assert text[start:].startswith(b"".join(kept))
    # a range that ends before the entry does is not checked (its end is not inflated)
    assert b"".join(iter_member(archive, KEY, member, 10, 20)) == text[10:20]


def test_a_deflated_entry_inflating_past_its_size_at_a_step_is_cut_before_its_last_byte(monkeypatch):
    """Its data inflating past its size was found one step after its last byte was sent (its CRC-32,
    wrong too, never checked): the client had a complete body."""
    monkeypatch.setattr(nodes, "STEP", 100)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("X.SAFE/a.txt", b"A" * 1000)
    data = _patched(buffer.getvalue(), [(b"PK\x03\x04", 14, "<L", 0xDEADBEEF), (b"PK\x01\x02", 16, "<L", 0xDEADBEEF),
                                        (b"PK\x03\x04", 22, "<L", 300), (b"PK\x01\x02", 24, "<L", 300)])  # 300 bytes
    body, size, damaged = _read_whole(data, ["a.txt"])
    assert isinstance(damaged, DamagedMember) and "more than its size" in str(damaged)
    assert len(body) < size == 300


def test_a_zip64_end_record_as_zipfile_writes_it_is_read(monkeypatch):
    """The ZIP64 end record was looked for at least 59 bytes before its locator, never at the 56
    every writer puts it at: every ZIP64 file (more than 65,535 entries, or a directory past 4 GiB)
    was refused ("a damaged record at byte 0"), its directory taken to end at the 32-bit end record.
    The seed "zip64 everywhere" found it; zipfile writes such a record for more than
    ZIP_FILECOUNT_LIMIT entries (here 1)."""
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("X.SAFE/manifest.safe", b"<manifest/>")
        zipped.writestr("X.SAFE/b.txt", b"bee")
    data = buffer.getvalue()
    assert data[-98:-94] == b"PK\x06\x06"  # 56 bytes, the locator (20), the end record (22)
    assert _read_whole(data, ["manifest.safe"])[0] == b"<manifest/>"
    assert _read_whole(data, ["b.txt"])[0] == b"bee"
    # a 32-bit end record saturated, as for a directory past 4 GiB: the ZIP64 record's values count
    end = data.rindex(b"PK\x05\x06")
    saturated = data[:end] + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    assert _read_whole(saturated, ["b.txt"])[0] == b"bee"
