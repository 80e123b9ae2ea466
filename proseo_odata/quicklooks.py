"""Quicklooks of products stored without one (``proseo-odata archive quicklooks``).

A product's quicklook (:attr:`proseo_odata.model.Product.quicklook`, served as its
``QUICKLOOK`` asset) is found among its nodes when its file is archived. Products stored
before that (schema revisions before 0015), and files registered by reference with their size
and checksums (the file is not read then), have none recorded: :func:`find_quicklooks` looks in
their files and records what it finds.

Every product of the mission with a file and no quicklook is looked at (any visibility class),
in ``Id`` order, a keyset page at a time; the files by ``workers`` threads (an S3 archive
answers two ranged reads per ZIP). A file without one (no ZIP, or no picture of a known name)
is read again by the next run: nothing records that it was searched. A product is written only
when a quicklook was found, by :meth:`~proseo_odata.storage.StorageBase.record_quicklook` (one
``UPDATE`` of the column on the SQLAlchemy backend, while the product has none and still names
the file searched: one given another file, or removed, meanwhile is left as it is).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from proseo_odata.fixity import DEFAULT_WORKERS
from proseo_odata.nodes import archived_quicklook
from proseo_odata.storage import BY_ID, Query, iter_pages

__all__ = ["QuicklookReport", "find_quicklooks"]

#: Products per page.
PAGE_SIZE = 500


@dataclass
class QuicklookReport:
    """``looked``: products whose file was searched; ``found``: those given a quicklook;
    ``changed``: those with one found but given one or another file, or removed, meanwhile
    (not written)."""

    looked: int = 0
    found: int = 0
    changed: int = 0


def find_quicklooks(storage, archive, mission: str, *, query_filter=None, workers: int | None = None,
                    page_size: int = PAGE_SIZE) -> QuicklookReport:
    """Search the file of every product of ``mission`` (matching ``query_filter``, a bound filter
    of the Product entity type, when given) that has a file and no quicklook, and record the
    quicklook found (:func:`proseo_odata.nodes.archived_quicklook`). ``workers`` threads read
    the files (None: the archive's ``check_workers``, as :func:`proseo_odata.fixity.check_products`)."""
    if workers is None:
        workers = getattr(archive, "check_workers", DEFAULT_WORKERS)
    report = QuicklookReport()
    query = Query(filter=query_filter, orderby=BY_ID, top=page_size)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="quicklooks") as pool:
        for page in iter_pages(storage.query_products, mission, query=query):
            wanting = [p for p in page.items if p.archive_key and p.quicklook is None]
            found = pool.map(lambda p: archived_quicklook(archive, p.archive_key, p.content_length, p.name), wanting)
            for product, quicklook in zip(wanting, found):
                report.looked += 1
                if quicklook is None:
                    continue
                if storage.record_quicklook(mission, product.id, product.archive_key, quicklook):
                    report.found += 1
                else:
                    report.changed += 1
    return report
