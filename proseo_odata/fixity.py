"""Fixity: whether every product's file is still in the archive, as the catalogue describes it.

The reverse of :mod:`proseo_odata.orphans` (files no product names): products that name a file
the archive does not have, or has with another size, or (``checksums=True``, the file read)
with other bytes than the recorded MD5 or SHA-256. A download of such a product fails (404,
"missing from the archive") or sends what the catalogue does not describe. Causes:

* a catalogue restored from a backup older than the archive: products evicted or deleted since
  come back, naming files that are gone;
* a file deleted or truncated outside the service, or a storage fault (bit rot: only the
  checksums see it);
* an archive setting naming another folder or bucket (every product is missing).

Every product of the mission with a file is looked at (any visibility class, ``Online`` or not),
in ``Id`` order, a keyset page at a time (memory stays flat); the files are looked at by
``workers`` threads (an S3 archive answers one ``HeadObject`` per file). A product found wanting
is read again before it is reported: one removed or given another file meanwhile (eviction, a
deletion) is not a finding.
"""
from __future__ import annotations

import errno
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from proseo_odata.archive import DIGESTS, hash_archived
from proseo_odata.storage import BY_ID, ProductFile, Query, iter_pages

__all__ = ["Finding", "FixityReport", "check_products"]

#: Products read per statement.
PAGE_SIZE = 1000

#: Files looked at together by an archive that does not say (``ArchiveBase.check_workers``).
DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class Finding:
    """A product whose file is not as the catalogue describes it."""

    product_id: uuid.UUID
    name: str
    key: str
    #: ``missing``, ``size``, ``checksum`` or ``unreadable`` (the archive failed to answer)
    problem: str
    #: what was found, in words (``"1023 bytes, ContentLength 1024"``)
    detail: str = ""


@dataclass
class FixityReport:
    """What :func:`check_products` looked at and found (the findings themselves go to its
    ``found`` callback, so that memory stays flat when a whole archive is missing)."""

    checked: int = 0
    #: products without a file (only an embedding application stores such products)
    without_file: int = 0
    #: findings by problem
    problems: dict[str, int] = field(default_factory=dict)
    #: files read whole (``checksums=True``) and their bytes
    read: int = 0
    bytes_read: int = 0

    @property
    def found(self) -> int:
        return sum(self.problems.values())


def _examine(archive, product: ProductFile, checksums: bool) -> tuple[Finding | None, int | None]:
    """``(the finding or None, the bytes read, None when the file was not read)`` for one
    product's file."""
    key = product.archive_key
    expected = {}
    if checksums:
        for algorithm, value in product.checksums:
            digest = DIGESTS.get(algorithm.upper())
            if digest:
                expected[digest] = value.lower()

    def finding(problem: str, detail: str = "") -> Finding:
        return Finding(product.id, product.name, key, problem, detail)

    try:
        if expected:
            stored = hash_archived(archive, key)
            size, read = stored.size, stored.size
        else:
            size, read = archive.size(key), None
    except FileNotFoundError:
        return finding("missing", "no such file in the archive"), None
    except Exception as exc:  # noqa: BLE001 - one file's fault must not stop the check of the others
        return finding("unreadable", _fault(exc)), None
    if product.content_length is not None and size != product.content_length:
        return finding("size", f"{size} bytes, ContentLength {product.content_length}"), read
    for digest, value in sorted(expected.items()):
        if getattr(stored, digest) != value:
            return finding("checksum", f"{digest.upper()} {getattr(stored, digest)}, recorded {value}"), read
    return None, read


def _fault(exc: BaseException) -> str:
    """What an archive's failure was, without its message (which may name more than the
    operator should see in a report): the class, and the error's code where it has one
    (``PermissionError EACCES``, ``ClientError AccessDenied``)."""
    code = None
    if isinstance(exc, OSError) and exc.errno is not None:
        code = errno.errorcode.get(exc.errno)
    else:
        response = getattr(exc, "response", None)  # botocore's ClientError
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code")
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


def _still_so(storage, mission: str, finding: Finding) -> bool:
    """Whether the product still names the file found wanting (it was not removed, nor given
    another file, while it was being looked at)."""
    from proseo_odata.storage.errors import NotFoundError

    try:
        product = storage.get_product(mission, finding.product_id)
    except NotFoundError:
        return False
    return product.archive_key == finding.key


def check_products(storage, archive, mission: str, *, query_filter=None, checksums: bool = False,
                   workers: int | None = None, page_size: int = PAGE_SIZE,
                   found: Callable[[Finding], object] | None = None) -> FixityReport:
    """Look at the file of every product of ``mission`` (only those matching ``query_filter``, a
    bound filter of the Product entity type, when given): present, of the product's
    ``ContentLength`` and, with ``checksums``, of its recorded MD5 and SHA-256 (the file read
    whole; a product that records neither is checked by size). Each finding is passed to
    ``found`` as it is made, in ``Id`` order. An exception in the caller's thread (an
    interrupt, a failing ``found``) stops the workers between files and is raised. ``workers``
    threads look at the files (None: the archive's ``check_workers``: 2 for a local folder, 8
    for S3)."""
    if workers is None:
        workers = getattr(archive, "check_workers", DEFAULT_WORKERS)
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    report = FixityReport()
    stop = threading.Event()  # set when the caller is interrupted: the workers stop between files

    def examine_part(part):
        return [_examine(archive, p, checksums) for p in part if not stop.is_set()]

    query = Query(filter=query_filter, orderby=BY_ID, top=page_size)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fixity")
    try:
        for page in iter_pages(storage.query_product_files, mission, query=query, checksums=checksums):
            with_file = [p for p in page.items if p.archive_key]
            report.without_file += len(page.items) - len(with_file)
            # one task per worker and page (a task per file would cost more than a file's stat)
            size = max(1, -(-len(with_file) // workers))  # (a page of products without a file: no part)
            parts = [with_file[i:i + size] for i in range(0, len(with_file), size)]
            outcomes = pool.map(examine_part, parts)
            for outcome, read in (outcome for part in outcomes for outcome in part):
                report.checked += 1
                if read is not None:
                    report.read += 1
                    report.bytes_read += read
                if outcome is None or not _still_so(storage, mission, outcome):
                    continue
                report.problems[outcome.problem] = report.problems.get(outcome.problem, 0) + 1
                if found is not None:
                    found(outcome)
    except BaseException:  # an interrupt (Ctrl-C) or a failure: no file more is started
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return report
