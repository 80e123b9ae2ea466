"""The product archive: where product files live.

A backend is a module with ``load_from_config(settings)`` returning an object with the methods
of :class:`ArchiveBase` (the contract below; subclassing it is optional, the methods are what
count). ``proseo.archive.backend`` names it: a dotted module name, or the short names ``local``
(:mod:`proseo_odata.archive.local`) and ``s3`` (:mod:`proseo_odata.archive.s3`).

Keys are relative ``/``-separated paths such as ``DEMO/<product id>/<Name>``; a key never starts
with ``/`` and has no ``.``/``..`` segments. A missing key raises ``FileNotFoundError``; an archive that cannot be reached now raises
:class:`ArchiveUnavailableError`.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import BinaryIO, Iterator, Mapping, NamedTuple
from urllib.parse import quote

from proseo_odata.config import load_backend
from proseo_odata.errors import Unavailable
from proseo_odata.model.entities import CONTROL_CHARACTERS

__all__ = ["ArchiveBase", "ArchiveError", "ArchiveUnavailableError", "ArchivedFile", "content_disposition", "StoredFile", "UnfinishedUpload", "load_archive", "HashingReader", "FileSlice", "CHUNK_SIZE", "DIGESTS", "hash_archived"]

CHUNK_SIZE = 1024 * 1024

#: How the name of a file being written starts until it is complete (the local folder's
#: temporary files, :meth:`ArchiveBase.list_files`).
PARTIAL_PREFIX = ".part-"

SHORT_NAMES = {"local": "proseo_odata.archive.local", "s3": "proseo_odata.archive.s3"}

REQUIRED_METHODS = ("put_stream", "put_file", "iter_range", "exists", "size", "delete")


class ArchiveError(Exception):
    """A misconfigured archive or an invalid key."""


class ArchiveUnavailableError(ArchiveError, Unavailable):
    """The archive cannot be reached now (object storage away, timed out): a download is
    answered ``503`` with ``Retry-After``, and the same call may succeed later."""

    def __init__(self, message: str):
        Unavailable.__init__(self, message, kind="unavailable.archive")


def content_disposition(name: str) -> str:
    """``attachment; filename="..."`` for a product's ``name`` (RFC 6266): the ASCII fallback
    with quotes, backslashes and control characters (a CR/LF would be refused by the server, or
    split the header) replaced by ``_``, and ``filename*`` in UTF-8 when it differs."""
    ascii_name = re.sub(r'["\\]', "_", CONTROL_CHARACTERS.sub("_", name.encode("ascii", "replace").decode("ascii")))
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


class StoredFile(NamedTuple):
    """What a ``put_*`` returns: size in bytes and lower-case hex digests computed while
    writing (one pass over the data). Unpacks as ``size, md5, sha256 = archive.put_file(...)``."""

    size: int
    md5: str
    sha256: str


class ArchivedFile(NamedTuple):
    """A file in the archive, as :meth:`ArchiveBase.list_files` finds it."""

    key: str
    size: int
    modified: datetime  # when it was written (UTC, timezone-aware)


class UnfinishedUpload(NamedTuple):
    """An upload begun and never completed nor aborted (S3 multipart: its parts are kept, and
    billed, until it is aborted), as :meth:`ArchiveBase.list_unfinished` finds it."""

    key: str
    started: datetime  # UTC, timezone-aware
    upload_id: str


class HashingReader:
    """Wraps a binary stream; counts bytes and updates MD5 and SHA-256 as it is read."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if data:
            self.size += len(data)
            self.md5.update(data)
            self.sha256.update(data)
        return data

    def result(self) -> StoredFile:
        return StoredFile(self.size, self.md5.hexdigest(), self.sha256.hexdigest())


#: A recorded checksum's algorithm (upper case) -> the :class:`StoredFile` field holding its value.
DIGESTS = {"MD5": "md5", "SHA256": "sha256", "SHA-256": "sha256"}


def hash_archived(archive, key: str) -> StoredFile:
    """``(size, md5, sha256)`` of a file already in ``archive``, read once through
    :meth:`ArchiveBase.iter_range` (``FileNotFoundError`` for a missing key)."""
    md5, sha256, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
    for chunk in archive.iter_range(key):
        size += len(chunk)
        md5.update(chunk)
        sha256.update(chunk)
    return StoredFile(size, md5.hexdigest(), sha256.hexdigest())


class FileSlice:
    """Bytes ``start`` .. ``stop - 1`` of an open binary file, as the file object a WSGI server's
    ``wsgi.file_wrapper`` sends without copying it through memory.

    The file is positioned at ``start``, and ``fileno``, ``seek``, ``tell`` and ``close`` are
    the file's own: a server that uses ``sendfile`` (gunicorn) sends from the descriptor's offset
    as many bytes as the response's ``Content-Length``; a server that seeks and reads (waitress)
    reads from the file as the client takes the data. ``read`` never returns a byte at or past
    ``stop``, so a plain iteration cannot send more than the slice either.
    """

    def __init__(self, file: BinaryIO, start: int, stop: int):
        file.seek(start)
        self.file = file
        self.stop = stop
        self.fileno, self.seek, self.tell = file.fileno, file.seek, file.tell

    def close(self) -> None:
        self.file.close()

    def read(self, size: int | None = -1) -> bytes:
        left = self.stop - self.file.tell()
        if left <= 0 or size == 0:
            return b""
        if size is None or size < 0 or size > left:
            size = left
        data = self.file.read(size)
        if not data:
            # The file ends before the slice (cut short while it was being sent): an error, so that
            # the server drops the connection; an empty read made waitress wait on it for minutes,
            # spinning, with the rest of Content-Length still promised.
            raise OSError(f"the file ends {left} byte(s) before the end of the slice being sent")
        return data


class ArchiveBase:
    """Contract of an archive backend."""

    #: True when :meth:`presigned_url` works (downloads may then answer 307).
    presign = False

    #: Files ``archive check`` looks at together by default (:func:`proseo_odata.fixity.check_products`):
    #: many for a backend whose every look-up waits on the network.
    check_workers = 8

    def put_stream(self, key: str, stream: BinaryIO, content_type: str | None = None) -> StoredFile:
        """Store everything read from ``stream`` under ``key`` (replacing any file there) and
        return its size, MD5 and SHA-256, computed in the same pass. The file becomes visible
        under ``key`` only when complete: a failed put leaves no partial file."""
        raise NotImplementedError

    def put_file(self, key: str, path, content_type: str | None = None) -> StoredFile:
        """:meth:`put_stream` with the contents of the local file ``path``."""
        with open(path, "rb") as stream:
            return self.put_stream(key, stream, content_type)

    def iter_range(self, key: str, start: int = 0, length: int | None = None, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the bytes ``start`` .. ``start + length - 1`` (to the end when ``length`` is
        None) in chunks of at most ``chunk_size``, never reading the whole file into memory.
        ``FileNotFoundError`` for a missing key (raised on first iteration at the latest)."""
        raise NotImplementedError

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the whole file (close it after use)."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        """True when a file is stored under ``key``."""
        raise NotImplementedError

    def size(self, key: str) -> int:
        """Size in bytes. ``FileNotFoundError`` for a missing key."""
        raise NotImplementedError

    def delete(self, key: str) -> bool:
        """Remove the file; True when it existed (a missing key is not an error)."""
        raise NotImplementedError

    def local_path(self, key: str) -> str | None:
        """A local filesystem path of the file when the backend has one (processors can read it
        in place), else None."""
        return None

    def fetch_to(self, key: str, path) -> int:
        """Copy the file to the local ``path``; returns the number of bytes written."""
        written = 0
        with open(path, "wb") as target:
            for chunk in self.iter_range(key):
                target.write(chunk)
                written += len(chunk)
        return written

    def presigned_url(self, key: str, filename: str | None = None, content_type: str | None = None) -> str:
        """A time-limited URL a client can download from directly (only when ``presign``)."""
        raise NotImplementedError

    def list_files(self, prefix: str = "") -> Iterator[ArchivedFile]:
        """Every file whose key starts with ``prefix``, in no particular order, with its size
        and time of writing; also what a write interrupted by the end of its process left behind
        where the backend can leave something (the local folder's temporary files: keys whose
        last part starts with :data:`PARTIAL_PREFIX`). For maintenance
        (:mod:`proseo_odata.orphans`); optional: ``NotImplementedError`` when the backend
        cannot list its files."""
        raise NotImplementedError

    def list_unfinished(self, prefix: str = "") -> Iterator[UnfinishedUpload]:
        """The uploads under keys starting with ``prefix`` that were begun and never completed
        nor aborted (a process killed in the middle of an S3 multipart upload). None by default:
        a backend whose interrupted writes leave files lists them in :meth:`list_files`."""
        return iter(())

    def abort_unfinished(self, upload: UnfinishedUpload) -> None:
        """Discard an upload of :meth:`list_unfinished` and what it stored."""
        raise NotImplementedError


def load_archive(settings: Mapping[str, str]):
    """Build the archive named by ``proseo.archive.backend`` (default ``local``) by calling the
    module's ``load_from_config(settings)``; ``ArchiveError`` when that fails or the result
    lacks the contract's methods."""
    module_name, archive = load_backend(settings, "proseo.archive.backend", "local", error=ArchiveError,
                                        short_names=SHORT_NAMES)
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(archive, m, None))]
    if missing:
        raise ArchiveError(
            f"proseo.archive.backend: {module_name}.load_from_config returned {type(archive).__name__} "
            f"without {', '.join(missing)}"
        )
    return archive
