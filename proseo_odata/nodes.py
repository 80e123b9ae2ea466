"""A product's ``Nodes``: the folders and files inside its file, as the Copernicus Data Space
Ecosystem serves them (``Products(<id>)/Nodes(<name>)/Nodes(<name>)/.../$value``).

CDSE clients download single files of a product this way: CDSETool's ``filter_pattern``
fetches ``Nodes(<product Name>)/Nodes(manifest.safe)/$value`` first, then every file of the
manifest that matches the pattern. Nodes are read from the product's archived file, never
stored:

* a ZIP file (a zipped SAFE, as PRIP delivers products) is a tree: its root node is the product
  (``Name`` the product's ``Name``); when every entry of the ZIP lies in one top folder (``X.SAFE/``
  of a zipped ``X.SAFE``) that folder's contents are the root's children, and the folder's
  own name reaches the root too; otherwise the ZIP's top entries are.
* any other file (no ZIP end record in its last 64 KiB, or only one not followed by the end of
  the file and not pointing at a directory, or one of an empty directory after other data) is one
  node, the product's file itself, without children.

A folder's ``ContentLength`` is 0, a file's its size (uncompressed); ``ChildrenNumber`` counts
a node's direct children. Entry names are UTF-8 when flagged so, else the Info-ZIP Unicode Path
field of the name, else the bytes as UTF-8 when they are, else CP437; they are split at ``/``,
empty and ``.`` segments dropped, and entries with a ``..`` segment, a name longer than
:data:`MAX_NAME_BYTES` or deeper than :data:`MAX_DEPTH` levels are not listed; a tree of more
than :data:`MAX_NODES` nodes is not served.

The ZIP's records are read here, not by :mod:`zipfile`, so that nothing they claim is trusted
before it is bounded: everything is read through the archive's public contract
(:meth:`~proseo_odata.archive.ArchiveBase.iter_range` at an offset: S3 serves nodes with ranged
reads, never the whole object):

* the end record (the last one whose comment ends the file, else the last of
  :data:`END_CANDIDATES` that points at a directory: bytes after a ZIP are tolerated, as by
  ``unzip``; a ZIP64 end record whose locator precedes it takes its place, an extensible data
  sector too; data before the ZIP, as in a self-extracting one, shifts every offset), then the
  directory it points at, at most :data:`MAX_DIRECTORY_BYTES` bytes read in one range, parsed
  record by record and refused past :data:`MAX_ENTRIES` records (:class:`NodesUnavailable`);
* a file's bytes are served only when its entry is stored or deflated, not encrypted, and its
  local header (or its data descriptor) agrees with the directory on name, CRC-32 and sizes,
  its data lies inside the file and its declared size is possible (a stored entry's two sizes
  agree; deflate inflates at most 1032 times; an empty entry's CRC-32 is 0); a stored entry of
  at most :data:`CHECKED_STORED_BYTES` is also checked against its CRC-32 before an answer; then a
  stored entry is a byte range of the archived file, and a deflated one is inflated in bounded
  steps; either is checked (size and CRC-32) when sent whole, and a deflated one also when a
  range to its end is sent (a resumed download's: it is inflated from its start anyway), before
  its last bytes are sent.

A product's quicklook image is found among its nodes when its file is archived
(:func:`find_quicklook`: the shallowest file named as ``proseo.quicklook.names`` says; read from the
archive by :func:`archived_quicklook`, from the local file just archived by
:func:`file_quicklook`) and recorded with the product (:attr:`proseo_odata.model.Product.quicklook`).

Trees of directories of at most :data:`CACHED_DIRECTORY_BYTES` are kept in a small
process-local cache (:data:`TREES`), keyed by the archive key, size, MD5 and product name: a
client reading a manifest and then its files reads the directory once.
"""
from __future__ import annotations

import contextlib
import logging
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

from proseo_odata.errors import NotFound
from proseo_odata.model.entities import CONTROL_CHARACTERS, NO_QUICKLOOK
from proseo_odata.model.quicklook_names import is_quicklook_name
from proseo_odata.lru import ExpiringLRU

log = logging.getLogger(__name__)

__all__ = ["CACHED_DIRECTORY_BYTES", "CACHED_NODES", "CHECKED_STORED_BYTES", "DamagedMember", "Entry",
           "MAX_DEPTH", "MAX_DIRECTORY_BYTES", "MAX_ENTRIES", "MAX_NAME_BYTES", "MAX_NODES", "Member", "Node",
           "NodeNotFound", "NodesUnavailable", "TREES", "archived_quicklook", "file_quicklook",
           "find_quicklook", "is_node_path", "iter_member", "open_member", "product_nodes", "read_entries", "resolve"]

#: A ZIP of more directory records than this is not browsed (a SAFE holds a few hundred).
MAX_ENTRIES = 20_000
#: Nor one whose directory is larger than this (bytes).
MAX_DIRECTORY_BYTES = 4 * 1024 * 1024
#: An entry whose name is longer than this (bytes) is not listed.
MAX_NAME_BYTES = 1024
#: Nor a name of more than this many levels.
MAX_DEPTH = 64
#: A ZIP whose tree has more nodes (folders and files) than this is not browsed.
MAX_NODES = 2 * MAX_ENTRIES
#: End records not followed by the end of the file (bytes after a ZIP) tried, last first.
END_CANDIDATES = 4
#: A stored entry up to this size is checked against its CRC-32 before it is answered.
CHECKED_STORED_BYTES = 1024 * 1024

#: Inflated bytes produced per step (and compressed bytes read per step).
STEP = 256 * 1024

#: The most deflate can inflate one byte to (RFC 1951: a length code of 258 per ~2 bits, 1032:1).
DEFLATE_RATIO = 1032

#: Parsed trees: (archive key, size, MD5, product name) -> root node, for :data:`TREE_SECONDS`;
#: only those of directories of at most :data:`CACHED_DIRECTORY_BYTES` and trees of at most
#: :data:`CACHED_NODES` nodes (a SAFE's directory is some 50 KB, its tree some 500 nodes).
TREES = ExpiringLRU(32)
TREE_SECONDS = 600
CACHED_DIRECTORY_BYTES = 256 * 1024
CACHED_NODES = 4096

STORED, DEFLATED = 0, 8
_END = b"PK\x05\x06"
_END64_LOCATOR = b"PK\x06\x07"
_END64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"
_UNSERVED_FLAGS = 0x1 | 0x20 | 0x40  # encrypted, compressed patched data, strong encryption
_DESCRIBED_LATER = 0x8  # CRC and sizes in a data descriptor after the data
_UTF8 = 0x800


class NodeNotFound(NotFound):
    """No node at that path in the product."""


class NodesUnavailable(NotFound):
    """The product's file cannot be browsed (a directory too large or unreadable) or the node's
    bytes cannot be served (encrypted, an unsupported compression, records that disagree):
    answered as the product's unavailable file is."""

    kind = "not_found.product_file"


@dataclass(frozen=True)
class Entry:
    """One record of a ZIP's directory, its offsets made absolute."""

    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compressed: int
    size: int
    header_offset: int

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


@dataclass
class Node:
    """One node: a folder (``children`` a dict, name -> node) or a file (``children`` None).
    ``entry`` is the file's ZIP record; None for the product's own file and for folders."""

    name: str
    size: int = 0
    children: Optional[dict] = None
    entry: Optional[Entry] = None
    #: other names the node is reached by (the root: its ZIP's top folder)
    aliases: tuple = field(default=(), compare=False)

    @property
    def is_folder(self) -> bool:
        return self.children is not None

    @property
    def children_number(self) -> int:
        return len(self.children) if self.children is not None else 0


def _read(archive, key: str, offset: int, length: int) -> bytes:
    return b"".join(archive.iter_range(key, offset, length)) if length > 0 else b""


def _end_records(tail: bytes) -> Iterator[tuple[int, bool]]:
    """The complete end records in ``tail``, last first, each with whether its comment ends the
    file: the one that does first."""
    candidates, at = [], tail.rfind(_END)
    while at >= 0:
        if len(tail) - at >= 22:
            (comment,) = struct.unpack("<H", tail[at + 20:at + 22])
            candidates.append((at, at + 22 + comment == len(tail)))
        at = tail.rfind(_END, 0, at)
    exact = [candidate for candidate in candidates if candidate[1]]
    yield from exact[:1]
    yield from [candidate for candidate in candidates if not candidate[1]][:END_CANDIDATES]


def _directory_at(tail: bytes, at: int, tail_start: int) -> tuple[int, int, int, int]:
    """``(entries, directory bytes, directory offset, end)`` of the end record at ``at`` in
    ``tail``, or of the ZIP64 end record its locator follows (of 56 bytes or more: an extensible
    data sector may follow its fields); ``end``: where the records after the directory begin."""
    _sig, _disk, _disk_cd, _here, count, cd_size, cd_offset, _comment = struct.unpack("<4s4H2LH", tail[at:at + 22])
    end = tail_start + at
    if at >= 20 + 56 and tail[at - 20:at - 16] == _END64_LOCATOR:
        record = tail.rfind(_END64, 0, at - 20 - 56 + len(_END64))  # its signature 56 bytes or more before
        while record >= 0:
            (length,) = struct.unpack("<Q", tail[record + 4:record + 12])
            if length >= 44 and record + 12 + length == at - 20:
                fields = struct.unpack("<4sQ2H2L4Q", tail[record:record + 56])
                return fields[7], fields[8], fields[9], tail_start + record
            record = tail.rfind(_END64, 0, record)
    return count, cd_size, cd_offset, end


def read_entries(archive, key: str, size: int, product_name: str) -> Optional[tuple[list, int]]:
    """``(entries, directory bytes)`` of the ZIP archived as ``key`` (``size`` bytes), None when it
    is no ZIP; :class:`NodesUnavailable` when its records cannot be read within the bounds."""

    def refuse(why: str):
        return NodesUnavailable(f"The ZIP directory of product {product_name} is not read: {why}")

    tail_start = max(0, size - (22 + 0xFFFF + 20 + 56))
    tail = _read(archive, key, tail_start, size - tail_start)
    for at, exact in _end_records(tail):
        count, cd_size, cd_offset, end = _directory_at(tail, at, tail_start)
        start = end - cd_size
        shift = start - cd_offset  # data before the ZIP (a self-extracting one) moves every offset
        if cd_size == 0 and shift > 0:
            continue  # an empty directory after other data: a stray signature (an empty ZIP is its end record alone)
        if exact or not (start < 0 or shift < 0 or (cd_size and _read(archive, key, start, 4) != _CENTRAL)):
            break
        # else: the signature of an end record followed by bytes, pointing at no directory
    else:
        return None
    if cd_size > MAX_DIRECTORY_BYTES or count > MAX_ENTRIES:
        raise NodesUnavailable(
            f"The file of product {product_name} lists {count} entries in {cd_size} bytes: the nodes of a ZIP of "
            f"more than {MAX_ENTRIES} entries or {MAX_DIRECTORY_BYTES} directory bytes are not served")
    if start < 0 or shift < 0:
        raise refuse("its end record points outside the file")
    directory = _read(archive, key, start, cd_size)
    entries, pos = [], 0
    while pos < len(directory):
        if len(entries) >= MAX_ENTRIES:
            raise refuse(f"it holds more than {MAX_ENTRIES} entries")
        if directory[pos:pos + 4] != _CENTRAL or pos + 46 > len(directory):
            raise refuse(f"a damaged record at byte {pos}")
        (flags, method, _time, _date, crc, compressed, file_size, n, m, k, _disk, _internal, _external,
         header_offset) = struct.unpack("<8x4HL2L5HLL", directory[pos:pos + 46])
        record_end = pos + 46 + n + m + k
        if record_end > len(directory):
            raise refuse(f"a damaged record at byte {pos}")
        raw_name, extra = directory[pos + 46:pos + 46 + n], directory[pos + 46 + n:pos + 46 + n + m]
        pos = record_end
        try:
            file_size, compressed, header_offset = _zip64_values(extra, file_size, compressed, header_offset)
            name = _decoded_name(raw_name, flags, extra)
        except (struct.error, UnicodeDecodeError) as exc:
            raise refuse(f"a record of a name it cannot decode or of damaged sizes ({exc})") from None
        entries.append(Entry(name, raw_name, flags, method, crc, compressed, file_size, header_offset + shift))
    return entries, cd_size


def _extra_fields(extra: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack("<2H", extra[pos:pos + 4])
        yield tag, extra[pos + 4:pos + 4 + length]
        pos += 4 + length


def _decoded_name(raw: bytes, flags: int, extra: bytes) -> str:
    """An entry's name: UTF-8 when its flag says so (strictly); else the UTF-8 of its Info-ZIP
    Unicode Path field (0x7075) when that field is of this name (its CRC-32), else the raw bytes as
    UTF-8 when they are (Info-ZIP writes them so without the flag), else as CP437."""
    if flags & _UTF8:
        return raw.decode("utf-8")
    for tag, data in _extra_fields(extra):
        if tag == 0x7075 and len(data) > 5 and data[0] == 1 and struct.unpack("<L", data[1:5])[0] == zlib.crc32(raw):
            try:
                return data[5:].decode("utf-8")
            except UnicodeDecodeError:
                break
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def _zip64_values(extra: bytes, *values: int) -> tuple:
    """``values`` (size, compressed size, local header offset, in that order) with those that are
    0xFFFFFFFF read from the ZIP64 extra field (id 1), in order."""
    values = list(values)
    if 0xFFFFFFFF not in values:
        return tuple(values)
    for tag, data in _extra_fields(extra):
        if tag == 1:
            used = 0
            for index, value in enumerate(values):
                if value == 0xFFFFFFFF:
                    (values[index],) = struct.unpack("<Q", data[used:used + 8])
                    used += 8
            return tuple(values)
    raise struct.error("a ZIP64 size without its ZIP64 field")


def _segments(name: str) -> Optional[list]:
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return None if ".." in parts else parts


def _tree(entries: Sequence[Entry], product_name: str) -> tuple[dict, int]:
    """The folders and files of a ZIP's entries (a name that is both a file and a folder is a
    folder), and their number; :class:`NodesUnavailable` past :data:`MAX_NODES`."""
    top: dict = {}
    nodes = 0
    for entry in entries:
        parts = _segments(entry.name) if len(entry.raw_name) <= MAX_NAME_BYTES else None
        if not parts or len(parts) > MAX_DEPTH:
            continue
        nodes += len(parts)  # at most: the folders on the way may exist already
        if nodes > MAX_NODES:
            raise NodesUnavailable(f"The ZIP of product {product_name} makes a tree of more than {MAX_NODES} nodes: "
                                   "its nodes are not served")
        folder = top
        for part in parts[:-1]:
            node = folder.get(part)
            if node is None or not node.is_folder:
                node = folder[part] = Node(part, children={})
            folder = node.children
        last = parts[-1]
        if last in folder and folder[last].is_folder:
            continue
        folder[last] = Node(last, children={}) if entry.is_dir else Node(last, size=entry.size, entry=entry)
    return top, nodes


def product_nodes(archive, key: str, size: int, product_name: str, md5: Optional[str] = None) -> Node:
    """The root node of the product whose file is ``key`` (``size`` bytes) in ``archive``
    (cached in :data:`TREES` when its ``md5`` is given). ``OSError`` when the file cannot be
    read; :class:`NodesUnavailable` for a ZIP whose directory is too large or unreadable."""
    cache_key = (key, size, md5, product_name) if md5 else None
    root = TREES.get(cache_key) if cache_key else None
    if root is not None:
        return root
    read = read_entries(archive, key, size, product_name)
    if read is None:
        return Node(product_name, size=size)
    entries, directory_bytes = read
    top, nodes = _tree(entries, product_name)
    aliases = ()
    if len(top) == 1:
        (only,) = top.values()
        if only.is_folder:
            top, aliases = only.children, (only.name,)
    root = Node(product_name, children=top, aliases=aliases)
    if cache_key and directory_bytes <= CACHED_DIRECTORY_BYTES and nodes <= CACHED_NODES:
        TREES.put(cache_key, root, time.monotonic() + TREE_SECONDS)
    return root


def find_quicklook(root: Node, names: Optional[Sequence[str]] = None) -> Optional[str]:
    """The path of the product's quicklook among the nodes of ``root`` (its names below the root
    joined by ``/``, as :func:`resolve` takes them split): the shallowest file whose name
    matches one of ``names`` (the process's when None:
    :func:`proseo_odata.model.quicklook_names.quicklook_names`) and whose path
    :func:`is_node_path` accepts, the first by path of those at one depth; None when none does."""
    level = [((), root)]
    while level:
        matches, folders = [], []
        for path, node in level:
            for name, child in (node.children or {}).items():
                if child.is_folder:
                    folders.append(((*path, name), child))
                elif is_quicklook_name(name, names) and is_node_path("/".join((*path, name))):
                    matches.append((*path, name))
        if matches:
            return "/".join(min(matches))
        level = folders
    return None


def is_node_path(text) -> bool:
    """Whether ``text`` can be a quicklook's path (:attr:`proseo_odata.model.Product.quicklook`):
    names joined by ``/``, none empty, ``.`` or ``..``, no control character, at most
    :data:`MAX_NAME_BYTES` characters (what an export writes and an ingest reads back)."""
    return (isinstance(text, str) and 0 < len(text) <= MAX_NAME_BYTES and not CONTROL_CHARACTERS.search(text)
            and not any(part in ("", ".", "..") for part in text.split("/")))


def archived_quicklook(archive, key: str, size: int, product_name: str) -> Optional[str]:
    """:func:`find_quicklook` of the file archived as ``key`` (``size`` bytes), what
    :attr:`~proseo_odata.model.Product.quicklook` records: its path, :data:`NO_QUICKLOOK` when the
    file has none (no ZIP, no picture of a quicklook's name, or a ZIP whose nodes are not served:
    :class:`NodesUnavailable`, which its bytes decide), None when it cannot be read (logged: the
    product is published without its quicklook, never refused for it, and ``archive quicklooks``
    looks again)."""
    try:
        return find_quicklook(product_nodes(archive, key, size, product_name)) or NO_QUICKLOOK
    except NodesUnavailable as exc:
        log.info("product %s: no quicklook among nodes that are not served: %s", product_name, exc)
        return NO_QUICKLOOK
    except Exception as exc:  # noqa: BLE001 - a quicklook is never worth failing a publication
        log.warning("product %s: its file %s was not searched for a quicklook: %s: %s", product_name, key,
                    type(exc).__name__, exc)
        return None


class _OneFile:
    """The archive's reading contract (``iter_range``) over one local file."""

    def __init__(self, path):
        self.path = path

    def iter_range(self, key: str, start: int = 0, length: Optional[int] = None) -> Iterator[bytes]:
        with open(self.path, "rb") as stream:
            stream.seek(start)
            yield stream.read() if length is None else stream.read(length)


def file_quicklook(path, size: int, product_name: str) -> Optional[str]:
    """:func:`archived_quicklook` of a local file just archived (``size`` bytes, as the archive
    stored them), read where it is: an S3 archive would answer two ranged reads more."""
    return archived_quicklook(_OneFile(path), str(path), size, product_name)


def resolve(root: Node, path: Sequence[str]) -> Node:
    """The node at ``path`` (the root's name first, then one name per level);
    :class:`NodeNotFound` when there is none."""
    if not path or (path[0] != root.name and path[0] not in root.aliases):
        raise NodeNotFound(f"Product {root.name} has no node {path[0] if path else ''!r}: its root node is "
                           f"{root.name!r}")
    node = root
    for depth, name in enumerate(path[1:], start=1):
        child = node.children.get(name) if node.children is not None else None
        if child is None:
            where = "/".join(path[:depth])
            raise NodeNotFound(f"Node {where!r} of product {root.name} has no node {name!r}")
        node = child
    return node


@dataclass(frozen=True)
class Member:
    """Where a ZIP entry's bytes are in the archived file, checked (:func:`open_member`)."""

    offset: int       #: of its (compressed) data in the archived file
    compressed: int   #: bytes of data there
    size: int         #: bytes once inflated
    crc: int
    stored: bool      #: stored (a plain byte range of the file), else deflated
    checked: bool = False  #: its bytes matched its CRC-32 when it was opened (a small stored entry)


def open_member(archive, key: str, size: int, node: Node, product_name: str) -> Member:
    """The checked location of the file ``node``'s bytes (a ZIP entry); :class:`NodesUnavailable`
    when they cannot be served as its directory record describes them (see the module docstring);
    ``OSError`` when the archived file cannot be read."""
    entry = node.entry

    def refuse(why: str):
        return NodesUnavailable(f"Node {node.name!r} of product {product_name} is not served: {why}")

    if entry.flags & _UNSERVED_FLAGS:
        raise refuse("it is encrypted or patched")
    if entry.method not in (STORED, DEFLATED):
        raise refuse(f"it is compressed by ZIP method {entry.method} (only stored and deflated are)")
    stored = entry.method == STORED
    if (stored and entry.size != entry.compressed) or entry.size > entry.compressed * DEFLATE_RATIO + 64 \
            or (not stored and entry.size and entry.compressed < 2) or (entry.size == 0 and entry.crc != 0):
        raise refuse("its sizes (or the CRC-32 of no byte) cannot be true")
    if not 0 <= entry.header_offset <= size - 30:
        raise refuse("its local header lies outside the file")
    header = _read(archive, key, entry.header_offset, 30)
    if len(header) != 30 or header[:4] != _LOCAL:
        raise refuse("its local header is missing")
    _version, _flags, _method, _time, _date, crc, compressed, file_size, n, m = struct.unpack("<5H3L2H", header[4:])
    offset = entry.header_offset + 30 + n + m
    if offset + entry.compressed > size:
        raise refuse("its data lies outside the file")
    local = _read(archive, key, entry.header_offset + 30, n + m)
    if local[:n] != entry.raw_name:
        raise refuse("its local header names another file")
    if entry.flags & _DESCRIBED_LATER:
        descriptor = _read(archive, key, offset + entry.compressed, min(24, size - offset - entry.compressed))
        forms = (descriptor, descriptor[4:]) if descriptor[:4] == _DESCRIPTOR else (descriptor,)  # signature optional
        described = [struct.unpack(fmt, form[:struct.calcsize(fmt)]) for form in forms for fmt in ("<3L", "<L2Q")
                     if len(form) >= struct.calcsize(fmt)]
        if (entry.crc, entry.compressed, entry.size) not in described:
            raise refuse("its data descriptor disagrees with the directory")
    else:
        try:
            file_size, compressed = _zip64_values(local[n:], file_size, compressed)
        except struct.error:
            raise refuse("its local header's sizes cannot be read") from None
        if (crc, compressed, file_size) != (entry.crc, entry.compressed, entry.size):
            raise refuse("its local header disagrees with the directory")
    checked = stored and entry.size <= CHECKED_STORED_BYTES
    if checked and zlib.crc32(_read(archive, key, offset, entry.size)) != entry.crc:
        raise refuse("its data does not match its CRC-32")
    return Member(offset, entry.compressed, entry.size, entry.crc, stored, checked)


class DamagedMember(OSError):
    """An entry's data is not what its entry says: it does not inflate to it, or its size or
    CRC-32 differs (raised while sending)."""


def _plain(archive, key: str, member: Member) -> Iterator[bytes]:
    """The entry's bytes from its first, in steps of at most :data:`STEP` bytes: a range of the
    file when it is stored, inflated when it is deflated (:class:`DamagedMember` when that fails)."""
    if member.stored:
        yield from archive.iter_range(key, member.offset, member.size, STEP)
        return
    inflater = zlib.decompressobj(-15)
    for compressed in archive.iter_range(key, member.offset, member.compressed, STEP):
        while True:  # then b"": what the inflater holds back beyond STEP
            try:
                data = inflater.decompress(compressed, STEP)
            except zlib.error as exc:
                raise DamagedMember(f"its deflated data is damaged: {exc}") from None
            compressed = inflater.unconsumed_tail
            if not data:
                break
            yield data
        if inflater.eof:
            break


def iter_member(archive, key: str, member: Member, start: int = 0, stop: Optional[int] = None) -> Iterator[bytes]:
    """The bytes ``start`` .. ``stop - 1`` of ``member`` (once inflated), read from the archive
    as they are taken. A deflated entry is inflated from its start in steps of at most
    :data:`STEP` bytes; sent to its end (whole, or a range that ends with it, as a resumed
    download's) it is checked against its size and CRC-32, and so is a stored entry sent whole
    (:class:`DamagedMember` otherwise; also when it ends early or runs past its size): the last
    bytes are held back until they are checked, so that a damaged entry's body always ends before
    its last byte (a server that has sent every byte ``Content-Length`` promised has answered a
    complete 200 or 206, whatever it logs after). Any other range is not checked: a stored entry's
    is a range of the file (a resumed download reads only what it gets), a deflated one's is
    inflated from the entry's start up to it."""
    stop = member.size if stop is None else min(stop, member.size)
    if start >= stop:
        return
    # checked: sent whole, or a deflated entry's range to its end (inflated from its start anyway)
    checked = stop == member.size and (start == 0 or not member.stored)
    if member.stored and not checked:
        yield from archive.iter_range(key, member.offset + start, stop - start, STEP)
        return
    produced, crc = 0, 0
    held = b""  # checked: the last bytes to send, sent once the next ones are read (or once checked)
    with contextlib.closing(_plain(archive, key, member)) as plain:  # its read closed when this stops
        for data in plain:
            if produced + len(data) > member.size:
                raise DamagedMember("its data inflates to more than its size")
            if checked:
                crc = zlib.crc32(data, crc)
            low, high = max(start - produced, 0), min(stop - produced, len(data))
            produced += len(data)
            if low < high and not checked:
                yield data[low:high]
            elif low < high:
                if held:
                    yield held
                held = data[low:high]
            if produced >= stop and not checked:
                return
    if produced < stop:
        raise DamagedMember(f"its data ends {stop - produced} byte(s) early")
    if checked and crc != member.crc:
        raise DamagedMember("its data does not match its CRC-32")
    if held:
        yield held
