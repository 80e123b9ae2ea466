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
* any other file is one node, the product's file itself, without children.

A folder's ``ContentLength`` is 0, a file's its size (uncompressed); ``ChildrenNumber`` counts
a node's direct children. Entry names are split at ``/``; empty and ``.`` segments are dropped
and entries with a ``..`` segment are not listed. The directory is read through the archive's
public contract (:meth:`~proseo_odata.archive.ArchiveBase.iter_range` at an offset, or the
local file), so S3 archives serve nodes with ranged reads, never the whole object.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

from proseo_odata.errors import NotFound

__all__ = ["MAX_ENTRIES", "Node", "NodeNotFound", "NodesUnavailable", "check_readable", "iter_member",
           "open_archived", "product_nodes", "resolve"]

#: A ZIP listing more entries than this is not browsed (its directory would be read into memory
#: on every request): :class:`NodesUnavailable`.
MAX_ENTRIES = 100_000

#: What one ranged read of an archive without local files fetches (the ZIP directory and a
#: member's bytes are read through this buffer).
READ_BUFFER = 1024 * 1024


class NodeNotFound(NotFound):
    """No node at that path in the product."""


class NodesUnavailable(NotFound):
    """The product's file cannot be browsed (too many entries, an unreadable directory) or the
    node's bytes cannot be served (encrypted, an unsupported compression): answered as the
    product's unavailable file is."""

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
        if info.is_dir():
            if last not in folder or not folder[last].is_folder:
                folder[last] = Node(last, children={})
        elif last not in folder or not folder[last].is_folder:
            folder[last] = Node(last, size=info.file_size, member=info)
    return top


def product_nodes(archive, key: str, size: int, product_name: str) -> Node:
    """The root node of the product whose file is ``key`` (``size`` bytes) in ``archive``.
    ``FileNotFoundError`` when the file is missing; :class:`NodesUnavailable` for a ZIP with more
    than :data:`MAX_ENTRIES` entries."""
    with open_archived(archive, key, size) as file:
        try:
            if not zipfile.is_zipfile(file):
                return Node(product_name, size=size)
            file.seek(0)
            with zipfile.ZipFile(file) as zipped:
                infos = zipped.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
            return Node(product_name, size=size)  # not a ZIP after all: one file
    if len(infos) > MAX_ENTRIES:
        raise NodesUnavailable(f"The file of product {product_name} holds {len(infos)} entries, more than the "
                               f"{MAX_ENTRIES} whose nodes are served")
    top = _tree(infos)
    aliases = ()
    if len(top) == 1:
        (only,) = top.values()
        if only.is_folder:
            top, aliases = only.children, (only.name,)
    return Node(product_name, children=top, aliases=aliases)


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


def check_readable(node: Node, product_name: str) -> None:
    """:class:`NodesUnavailable` unless the bytes of the file ``node`` (a ZIP member) can be
    read: not encrypted, compressed by a method Python reads."""
    info = node.member
    if info.flag_bits & 0x1:
        raise NodesUnavailable(f"Node {node.name!r} of product {product_name} is encrypted: it is not served")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        raise NodesUnavailable(f"Node {node.name!r} of product {product_name} is compressed by a method "
                               f"(ZIP method {info.compress_type}) that is not served")


def iter_member(archive, key: str, size: int, info: zipfile.ZipInfo, start: int = 0, stop: Optional[int] = None,
                chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """The bytes ``start`` .. ``stop - 1`` of the ZIP member ``info`` (uncompressed), read from
    the archive as they are taken. A member whose stored bytes do not inflate to what its entry
    says raises ``zipfile.BadZipFile`` (its CRC) or ``EOFError`` while iterating."""
    stop = info.file_size if stop is None else min(stop, info.file_size)
    with open_archived(archive, key, size) as file, zipfile.ZipFile(file) as zipped, zipped.open(info) as member:
        if start:
            member.seek(start)
        left = stop - start
        while left > 0:
            chunk = member.read(min(chunk_size, left))
            if not chunk:
                raise EOFError(f"member {info.filename} ends {left} byte(s) early")
            left -= len(chunk)
            yield chunk
