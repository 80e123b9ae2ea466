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
* any other file (no ZIP end record) is one node, the product's file itself, without children.

A folder's ``ContentLength`` is 0, a file's its size (uncompressed); ``ChildrenNumber`` counts
a node's direct children. Entry names are split at ``/``; empty and ``.`` segments are dropped
and entries with a ``..`` segment are not listed.

Everything is read through the archive's public contract (the local file, or
:meth:`~proseo_odata.archive.ArchiveBase.iter_range` at an offset: S3 serves nodes with ranged
reads, never the whole object), and bounded by what the ZIP's records say before anything is
trusted:

* the end record's entry count and directory size are checked before the directory is parsed
  (at most :data:`MAX_ENTRIES` entries, :data:`MAX_DIRECTORY_BYTES` bytes); a directory Python's
  ``zipfile`` cannot read is :class:`NodesUnavailable`, never taken for a plain file;
* a file's bytes are served only when its entry is stored or deflated, not encrypted, its local
  header names it as the directory does, its data lies inside the file and its declared size is
  possible (a stored entry's sizes agree; deflate inflates at most 1032 times); then a stored
  entry is a byte range of the archived file, and a deflated one is inflated in bounded steps
  and checked (size and CRC-32) when sent whole.

Parsed trees of up to :data:`CACHED_ENTRIES` entries are kept in a small process-local cache
(:data:`TREES`), keyed by the archive key, size, MD5 and product name: a client reading a
manifest and then its files parses the directory once.
"""
from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

from proseo_odata.errors import NotFound
from proseo_odata.lru import ExpiringLRU

__all__ = ["CACHED_ENTRIES", "DamagedMember", "MAX_DIRECTORY_BYTES", "MAX_ENTRIES", "Member", "Node", "NodeNotFound", "NodesUnavailable", "TREES",
           "iter_member", "open_archived", "open_member", "product_nodes", "resolve"]

#: A ZIP listing more entries than this is not browsed: :class:`NodesUnavailable`.
MAX_ENTRIES = 100_000
#: Nor one whose directory is larger than this (bytes).
MAX_DIRECTORY_BYTES = 64 * 1024 * 1024

#: What one ranged read of an archive without local files fetches (the ZIP directory).
READ_BUFFER = 1024 * 1024

#: Inflated bytes produced per step (and compressed bytes read per step).
STEP = 256 * 1024

#: The most deflate can inflate one byte to (RFC 1951: a length code of 258 per ~2 bits, 1032:1).
DEFLATE_RATIO = 1032

#: Parsed trees: (archive key, size, MD5, product name) -> root node, for :data:`TREE_SECONDS`;
#: only those of at most :data:`CACHED_ENTRIES` entries (a SAFE holds a few hundred), so that the
#: cache holds at most some 32 x 4096 entries.
TREES = ExpiringLRU(32)
TREE_SECONDS = 600
CACHED_ENTRIES = 4096

_END = b"PK\x05\x06"
_END64_LOCATOR = b"PK\x06\x07"
_END64 = b"PK\x06\x06"
_LOCAL = b"PK\x03\x04"
_UNSERVED_FLAGS = 0x1 | 0x20 | 0x40  # encrypted, compressed patched data, strong encryption


class NodeNotFound(NotFound):
    """No node at that path in the product."""


class NodesUnavailable(NotFound):
    """The product's file cannot be browsed (a directory too large or unreadable) or the node's
    bytes cannot be served (encrypted, an unsupported compression, records that disagree):
    answered as the product's unavailable file is."""

    kind = "not_found.product_file"


@dataclass
class Node:
    """One node: a folder (``children`` a dict, name -> node) or a file (``children`` None).
    ``member`` is the file's ZIP entry; None for the product's own file and for folders."""

    name: str
    size: int = 0
    children: Optional[dict] = None
    member: Optional[zipfile.ZipInfo] = None
    #: other names the node is reached by (the root: its ZIP's top folder)
    aliases: tuple = field(default=(), compare=False)

    @property
    def is_folder(self) -> bool:
        return self.children is not None

    @property
    def children_number(self) -> int:
        return len(self.children) if self.children is not None else 0


class _RangeFile(io.RawIOBase):
    """A read-only, seekable file over ``archive.iter_range`` (an archive without local files)."""

    def __init__(self, archive, key: str, size: int):
        super().__init__()
        self._archive, self._key, self._size, self._pos = archive, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), self._size - self._pos)
        if wanted <= 0:
            return 0
        data = b"".join(self._archive.iter_range(self._key, self._pos, wanted))
        if not data:
            raise OSError(f"the archive file {self._key} ends before its size")
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)


def open_archived(archive, key: str, size: int):
    """A seekable binary file of the archived ``key`` (``size`` bytes): the local file when the
    archive has one, else ranged reads through a buffer. Close it after use."""
    local_path = getattr(archive, "local_path", None)
    path = local_path(key) if local_path is not None else None
    if path is not None:
        return open(path, "rb")
    return io.BufferedReader(_RangeFile(archive, key, size), READ_BUFFER)


def _read_at(file, offset: int, length: int) -> bytes:
    file.seek(offset)
    return file.read(length)


def _directory_extent(file, size: int) -> Optional[tuple[int, int]]:
    """``(entries, directory bytes)`` from the ZIP's end record, None when the file has none
    (not a ZIP). The end record is the last ``PK\\x05\\x06`` whose comment ends the file."""
    tail_start = max(0, size - (22 + 0xFFFF))
    tail = _read_at(file, tail_start, size - tail_start)
    at = tail.rfind(_END)
    while at >= 0:
        if len(tail) - at >= 22:
            (_sig, _disk, _disk_cd, _here, entries, cd_size, _cd_offset,
             comment) = struct.unpack("<4s4H2LH", tail[at:at + 22])
            if at + 22 + comment == len(tail):
                break
        at = tail.rfind(_END, 0, at)
    else:
        return None
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:  # ZIP64: the counts are in its end record
        locator = tail[at - 20:at] if at >= 20 else b""
        if len(locator) == 20 and locator[:4] == _END64_LOCATOR:
            end64 = struct.unpack("<4sLQL", locator)[2]
            record = _read_at(file, end64, 56) if 0 <= end64 <= size - 56 else b""
            if len(record) == 56 and record[:4] == _END64:
                fields = struct.unpack("<4sQ2H2L4Q", record)
                entries, cd_size = fields[7], fields[8]
    return entries, cd_size


def _segments(name: str) -> Optional[list]:
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return None if ".." in parts else parts


def _tree(infos: Sequence[zipfile.ZipInfo]) -> dict:
    """The folders and files of a ZIP's entries (a name that is both a file and a folder is a folder)."""
    top: dict = {}
    for info in infos:
        parts = _segments(info.filename)
        if not parts:
            continue
        folder = top
        for part in parts[:-1]:
            node = folder.get(part)
            if node is None or not node.is_folder:
                node = folder[part] = Node(part, children={})
            folder = node.children
        last = parts[-1]
        if last in folder and folder[last].is_folder:
            continue
        folder[last] = Node(last, children={}) if info.is_dir() else Node(last, size=info.file_size, member=info)
    return top


def product_nodes(archive, key: str, size: int, product_name: str, md5: Optional[str] = None) -> Node:
    """The root node of the product whose file is ``key`` (``size`` bytes) in ``archive``
    (cached in :data:`TREES` when its ``md5`` is given). ``OSError`` when the file cannot be
    read; :class:`NodesUnavailable` for a ZIP whose directory is too large or unreadable."""
    cache_key = (key, size, md5, product_name) if md5 else None
    root = TREES.get(cache_key) if cache_key else None
    if root is None:
        root, entries = _read_nodes(archive, key, size, product_name)
        if cache_key and entries <= CACHED_ENTRIES:
            TREES.put(cache_key, root, time.monotonic() + TREE_SECONDS)
    return root


def _read_nodes(archive, key: str, size: int, product_name: str) -> tuple[Node, int]:
    """The root node and the number of entries read."""
    with open_archived(archive, key, size) as file:
        extent = _directory_extent(file, size)
        if extent is None:
            return Node(product_name, size=size), 0
        entries, directory = extent
        if entries > MAX_ENTRIES or directory > MAX_DIRECTORY_BYTES:
            raise NodesUnavailable(
                f"The file of product {product_name} lists {entries} entries in {directory} bytes: the nodes of "
                f"a ZIP of more than {MAX_ENTRIES} entries or {MAX_DIRECTORY_BYTES} directory bytes are not served")
        file.seek(0)
        try:
            with zipfile.ZipFile(file) as zipped:
                infos = zipped.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, EOFError,
                struct.error) as exc:  # ValueError: a name that is not the UTF-8 its flag says, too
            raise NodesUnavailable(f"The ZIP directory of product {product_name} cannot be read: {exc}") from None
    if len(infos) > MAX_ENTRIES:
        raise NodesUnavailable(f"The file of product {product_name} holds more than {MAX_ENTRIES} entries: "
                               "its nodes are not served")
    top = _tree(infos)
    aliases = ()
    if len(top) == 1:
        (only,) = top.values()
        if only.is_folder:
            top, aliases = only.children, (only.name,)
    return Node(product_name, children=top, aliases=aliases), len(infos)


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


def open_member(archive, key: str, size: int, node: Node, product_name: str) -> Member:
    """The checked location of the file ``node``'s bytes (a ZIP entry); :class:`NodesUnavailable`
    when they cannot be served as its directory entry describes them (see the module docstring);
    ``OSError`` when the archived file cannot be read."""
    info = node.member

    def refuse(why: str):
        return NodesUnavailable(f"Node {node.name!r} of product {product_name} is not served: {why}")

    if info.flag_bits & _UNSERVED_FLAGS:
        raise refuse("it is encrypted or patched")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise refuse(f"it is compressed by ZIP method {info.compress_type} (only stored and deflated are)")
    stored = info.compress_type == zipfile.ZIP_STORED
    if (stored and info.file_size != info.compress_size) or info.file_size > info.compress_size * DEFLATE_RATIO + 64:
        raise refuse("its sizes cannot both be true")
    header = b"".join(archive.iter_range(key, info.header_offset, 30)) if 0 <= info.header_offset <= size - 30 else b""
    if len(header) != 30 or header[:4] != _LOCAL:
        raise refuse("its local header is missing")
    name_length, extra_length = struct.unpack("<2H", header[26:30])
    local_name = b"".join(archive.iter_range(key, info.header_offset + 30, name_length)) if name_length else b""
    try:
        central_name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    except UnicodeEncodeError:
        central_name = None
    if local_name != central_name:
        raise refuse("its local header names another file")
    offset = info.header_offset + 30 + name_length + extra_length
    if offset + info.compress_size > size:
        raise refuse("its data ends after the file")
    return Member(offset, info.compress_size, info.file_size, info.CRC, stored)


class DamagedMember(OSError):
    """A deflated entry's data does not inflate to what its entry says (raised while sending)."""


def iter_member(archive, key: str, member: Member, start: int = 0, stop: Optional[int] = None) -> Iterator[bytes]:
    """The bytes ``start`` .. ``stop - 1`` of ``member`` (once inflated), read from the archive
    as they are taken. A stored entry is a range of the file; a deflated one is inflated from its
    start in steps of at most :data:`STEP` bytes, checked against its size and CRC-32 when sent
    whole (:class:`DamagedMember` otherwise; also when it ends early or runs past its size)."""
    stop = member.size if stop is None else min(stop, member.size)
    if start >= stop:
        return
    if member.stored:
        yield from archive.iter_range(key, member.offset + start, stop - start, STEP)
        return
    inflater, produced, crc = zlib.decompressobj(-15), 0, 0
    whole = start == 0 and stop == member.size
    for compressed in archive.iter_range(key, member.offset, member.compressed, STEP):
        while True:  # then b"": what the inflater holds back beyond STEP
            try:
                data = inflater.decompress(compressed, STEP)
            except zlib.error as exc:
                raise DamagedMember(f"its deflated data is damaged: {exc}") from None
            compressed = inflater.unconsumed_tail
            if not data:
                break
            if produced + len(data) > member.size:
                raise DamagedMember("its data inflates to more than its size")
            if whole:
                crc = zlib.crc32(data, crc)
            low, high = max(start - produced, 0), min(stop - produced, len(data))
            produced += len(data)
            if low < high:
                yield data[low:high]
            if produced >= stop and not whole:
                return
        if inflater.eof:
            break
    if produced < stop:
        raise DamagedMember(f"its data ends {stop - produced} byte(s) early")
    if whole and crc != member.crc:
        raise DamagedMember("its data does not match its CRC-32")
