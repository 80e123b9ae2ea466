"""``Products(<id>)/Nodes`` of damaged and hostile ZIPs through the real PRIP application: mutated
ZIPs (tests/zip_mutations.py, the cases tests/archive/test_nodes_mutations.py feeds the reader)
stored as products, each browsed from its root by the ``uri``\\ s the listings give, every file's
entity, ``$value`` (GET and HEAD) and a random ``Range`` of it requested.

For every answer: the status is one the contract allows (a listing or entity 200 or 404; a
``$value`` 200, 404, a ``Range`` also 206 or 416), never 500, and agrees with the reader's own
answer on the same bytes (404 exactly when it refuses the directory or the entry); a listed node
has the reader's ``ContentLength`` and ``ChildrenNumber``. A body is iterated as a server sends it:
complete, it is the entry's bytes (its length, the CRC-32 its ``ETag`` carries, zipfile's bytes
when zipfile reads the entry); cut (``DamagedMember`` raised while it is sent), it is shorter than
its ``Content-Length``; a range to the end of a damaged entry (a resumed download) is cut too.

``NODES_FUZZ_SEED`` (as the reader's fuzz) and ``NODES_HTTP_CASES`` (products, 40 unless set)
override the run; SQLite only (the catalogue only finds the product).
"""
from __future__ import annotations

import io
import json
import os
import random
import struct
import traceback
import zipfile
import zlib

import pytest
from webob import Request

from proseo_odata.archive import load_archive
from proseo_odata.errors import NotFound
from proseo_odata import nodes
from proseo_odata.nodes import CHECKED_STORED_BYTES, TREES, DamagedMember, open_member, product_nodes, resolve

from prip_helpers import PRIP, add_stored_product, basic, served_app
from zip_mutations import BytesArchive, mutated, zipfile_content

SEED = int(os.environ.get("NODES_FUZZ_SEED", "20250907"))
CASES = int(os.environ.get("NODES_HTTP_CASES", "40"))
#: Nodes requested per product at most (a mutated directory may list many).
MAX_NODES = 40
HOST = "http://localhost"


@pytest.fixture
def db_url(migrated_sqlite_url):
    """SQLite only: the product is found by its key, everything else is the archive's."""
    return migrated_sqlite_url


@pytest.fixture
def products(storage, catalogue, app_settings):
    """``(case, seed archive, edits, bytes, product)`` of every case, its file archived."""
    archive = load_archive(app_settings)
    made = []
    for index in range(CASES):
        label, data, edits, _rng = mutated(SEED, index)
        product = add_stored_product(storage, archive, data, f"S2B_MSIL1C_NODES{index:05d}.SAFE.zip")
        made.append((index, label, edits, data, product))
    return made


@pytest.fixture
def web(app_settings, products):
    TREES.clear()
    with served_app(app_settings) as app:
        yield app.app  # the router itself: its bodies iterated here, as a server does
    TREES.clear()


class Answer:
    def __init__(self, status, headers, body, cut):
        self.status, self.headers, self.body, self.cut = status, headers, body, cut

    def json(self):
        return json.loads(self.body)


def call(app, path: str, method: str = "GET", headers=None) -> Answer:
    """The answer to a request, its body iterated as a server sends it (``cut``: the ``OSError``
    that stopped it)."""
    request = Request.blank(path, method=method, headers={**basic("alice"), **(headers or {})})
    status, headerlist, app_iter = request.call_application(app)
    chunks, cut = [], None
    try:
        for chunk in app_iter:
            chunks.append(chunk)
    except OSError as exc:
        cut = exc
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    return Answer(int(status.split()[0]), {name.lower(): value for name, value in headerlist}, b"".join(chunks), cut)


def _count(seen: dict, what: str) -> None:
    seen[what] = seen.get(what, 0) + 1


def _check_body(answer: Answer, expected: int, crc, truth, start: int = 0) -> str | None:
    """What is wrong with a 200 or 206 body of ``expected`` bytes (from ``start`` of the entry)."""
    if int(answer.headers["content-length"]) != expected:
        return f"Content-Length {answer.headers['content-length']}, expected {expected}"
    if answer.cut is not None:
        return None if len(answer.body) < expected else f"all {expected} bytes sent before {answer.cut!r}"
    if len(answer.body) != expected:
        return f"{len(answer.body)} bytes of {expected}, no error"
    if crc is not None and zlib.crc32(answer.body) != crc:
        return f"its CRC-32 {zlib.crc32(answer.body):08x}, its ETag's {crc:08x}"
    if truth is not None and answer.body != truth[start:start + expected]:
        return "not the bytes zipfile reads"
    return None


def _check_product(web, data: bytes, product, rng: random.Random, seen: dict) -> list:
    """The problems of one product's nodes (empty: none); ``seen`` counts the answers."""
    problems = []
    base = f"{PRIP}/Products({product.id})"
    archive, key, size = BytesArchive(data), product.archive_key, len(data)
    listing = call(web, base + "/Nodes")
    try:
        root = product_nodes(archive, key, size, product.name)
    except NotFound:
        root = None
    if listing.status != (200 if root is not None else 404):
        return [f"GET Nodes: {listing.status}, the reader {'lists' if root else 'refuses'} the directory"]
    _count(seen, f"Nodes {listing.status}")
    if root is None:
        return []
    (top,) = listing.json()["value"]
    queue, visited = [([root.name], top)], 0
    while queue and visited < MAX_NODES:
        path, shown = queue.pop(0)
        visited += 1
        node = resolve(root, path)
        if (shown["Name"], shown["ContentLength"], shown["ChildrenNumber"]) != \
                (node.name, node.size, node.children_number):
            problems.append(f"{path}: shown {shown}, the reader's {node}")
            continue
        entity = shown["Nodes"]["uri"][len(HOST):].removesuffix("/Nodes")
        answer = call(web, entity)
        if answer.status != 200 or answer.json()["Name"] != node.name:
            problems.append(f"GET {path}: {answer.status}")
            continue
        if node.is_folder:
            children = call(web, entity + "/Nodes")
            if children.status != 200:
                problems.append(f"GET {path}/Nodes: {children.status}")
                continue
            queue += [([*path, child["Name"]], child) for child in children.json()["value"]]
            continue
        value = entity + "/$value"
        if node.entry is None:  # the product's own file
            answer = call(web, value)
            if answer.status != 200 or answer.body != data:
                problems.append(f"GET {path}/$value (the file): {answer.status}")
            continue
        try:
            member = open_member(archive, key, size, node, product.name)
        except NotFound:
            member = None
        whole = call(web, value)
        _count(seen, f"$value {whole.status}{' cut' if whole.cut else ''}")
        if whole.status != (200 if member is not None else 404):
            problems.append(f"GET {path}/$value: {whole.status}, the reader {'opens' if member else 'refuses'} it")
            continue
        head = call(web, value, "HEAD")
        if head.status != whole.status or head.body:
            problems.append(f"HEAD {path}/$value: {head.status}, {len(head.body)} bytes")
        if member is None:
            continue
        etag = whole.headers.get("etag", "").strip('"')
        crc = int(etag.rsplit("-", 1)[1], 16) if "-" in etag else None
        if crc is not None and crc != member.crc:
            problems.append(f"{path}: ETag {etag}, the entry's CRC-32 {member.crc:08x}")
        truth = zipfile_content(data, node.entry)
        wrong = _check_body(whole, member.size, crc, truth)
        if wrong:
            problems.append(f"GET {path}/$value: {wrong}")
        first = rng.randrange(member.size + 3)
        last = rng.choice([first + rng.randrange(100), member.size - 1, member.size + 10])
        ranged = call(web, value, headers={"Range": f"bytes={first}-{max(first, last)}"})
        _count(seen, f"Range {ranged.status}{' cut' if ranged.cut else ''}")
        if ranged.status == 206:
            stop = min(max(first, last) + 1, member.size)
            wrong = _check_body(ranged, stop - first, crc if (first, stop) == (0, member.size) else None, truth, first)
            if ranged.headers.get("content-range") != f"bytes {first}-{stop - 1}/{member.size}":
                wrong = f"Content-Range {ranged.headers.get('content-range')}"
            if whole.cut and not member.stored and stop == member.size and not ranged.cut:
                wrong = "a range to the end of a damaged entry sent whole"  # a resumed download, checked
        elif ranged.status == 200:  # Accept-Ranges: none (an entry that inflates much), or no range
            wrong = _check_body(ranged, member.size, crc, truth)
        elif ranged.status == 416:
            wrong = None if first >= member.size else "416 of a range inside the entry"
        else:
            wrong = f"status {ranged.status}"
        if wrong:
            problems.append(f"GET {path}/$value Range bytes={first}-{max(first, last)}: {wrong}")
    return problems


def test_mutated_zips_answer_their_nodes_or_404_never_500(web, products, monkeypatch):
    seen = {}
    for index, label, edits, data, product in products:
        TREES.clear()
        rng = random.Random(f"{SEED}:{index}:http")
        # stored entries checked before the answer, or (0, 100) checked as they are sent
        monkeypatch.setattr(nodes, "CHECKED_STORED_BYTES", rng.choice([CHECKED_STORED_BYTES, 0, 100]))
        try:
            problems = _check_product(web, data, product, rng, seen)
        except Exception:  # noqa: BLE001 - reported with its case
            problems = [traceback.format_exc()]
        assert not problems, f"NODES_FUZZ_SEED={SEED} case {index}: seed {label!r}, edits {edits}: {problems}"
    print(f"\n{len(products)} products (seed {SEED}): {dict(sorted(seen.items()))}")
    if CASES >= 40:  # the cases reach every kind of answer
        for what in ("Nodes 200", "Nodes 404", "$value 200", "$value 404", "Range 206", "Range 416"):
            assert seen.get(what), (what, seen)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_an_entry_whose_crc_is_wrong_is_cut_short(storage, catalogue, app_settings, monkeypatch, method):
    """A deflated entry's CRC-32 was checked after its last byte was sent: a complete 200 of bytes
    that are not the entry's, and a resumed download's range was not checked at all: a complete
    206 (tests/archive/test_nodes_mutations.py has the reader's side); a stored one larger than
    CHECKED_STORED_BYTES was sent whole as a range of the file, unchecked. Now each body sent whole
    (and a deflated one's range to its end) stops before its last byte, so the client sees fewer
    bytes than Content-Length."""
    monkeypatch.setattr(nodes, "CHECKED_STORED_BYTES", 1000)  # the stored entry is larger: not checked before
    text = random.Random(3).randbytes(2100).hex().encode()  # deflates some 2 times: ranges are served
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zipped:
        zipped.writestr("X.SAFE/MTD_TL.xml", text)
    raw = bytearray(buffer.getvalue())
    for signature, offset in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):  # another CRC-32, in both records
        struct.pack_into("<L", raw, raw.index(signature) + offset, 0xDEADBEEF)
    product = add_stored_product(storage, load_archive(app_settings), bytes(raw), "S2B_MSIL1C_CRC.SAFE.zip")
    value = f"{PRIP}/Products({product.id})/Nodes(X.SAFE)/Nodes(MTD_TL.xml)/$value"
    with served_app(app_settings) as app:
        answer = call(app.app, value)
        resumed = call(app.app, value, headers={"Range": "bytes=3000-"})  # a resumed download
    assert answer.status == 200 and answer.headers["content-length"] == str(len(text))
    assert isinstance(answer.cut, DamagedMember) and len(answer.body) < len(text)
    assert resumed.status == 206 and resumed.headers["content-length"] == str(len(text) - 3000)
    if method == zipfile.ZIP_DEFLATED:  # inflated from its start anyway: checked
        assert isinstance(resumed.cut, DamagedMember) and len(resumed.body) < len(text) - 3000
    else:  # a range of the file, as a range of the product's own file is: only what it sends is read
        assert resumed.cut is None and resumed.body == text[3000:]
