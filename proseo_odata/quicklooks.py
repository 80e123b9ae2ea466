"""Quicklooks of products whose files were never searched for one (``proseo-odata archive quicklooks``).

A product's quicklook (:attr:`proseo_odata.model.Product.quicklook`, served as its
``QUICKLOOK`` asset) is looked for among its nodes when its file is archived, and what was found
is recorded: its path, or :data:`~proseo_odata.model.NO_QUICKLOOK` for none. Products stored
before that (schema revisions before 0015), files registered by reference with their size and
checksums (the file is not read then), and files that could not be read have nothing recorded
(None): :func:`find_quicklooks` searches their files and records what it finds, a path or none,
so that a file is searched once. ``again`` searches the files recorded without one too (after a
change of ``proseo.quicklook.names``).

Every product of the mission with a file and such a quicklook is looked at (any visibility
class), in ``Id`` order, a keyset page at a time (:meth:`~proseo_odata.storage.StorageBase.query_product_files`:
the few columns a search needs); the files by ``workers`` threads (an S3
archive answers two ranged reads per ZIP). What was found is written a page at a time by
:meth:`~proseo_odata.storage.StorageBase.record_quicklooks` (on the SQLAlchemy backend 50
products a transaction, one ``UPDATE`` of the column per product, while the product has the quicklook the
search began from and still names the file searched: one given another file, or removed,
meanwhile is left as it is).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from proseo_odata.fixity import DEFAULT_WORKERS
from proseo_odata.model import NO_QUICKLOOK
from proseo_odata.nodes import archived_quicklook
from proseo_odata.storage import BY_ID, Query, QuicklookSearch, iter_pages

__all__ = ["QuicklookReport", "find_quicklooks"]

#: Products per page.
PAGE_SIZE = 500


@dataclass
class QuicklookReport:
    """``looked``: products whose file was searched; ``found``: those given a quicklook;
    ``none``: those whose file has none (recorded as searched); ``unreadable``: those whose file
    could not be read (logged, nothing recorded); ``changed``: those given another file, or
    removed, meanwhile (not written)."""

    looked: int = 0
    found: int = 0
    none: int = 0
    unreadable: int = 0
    changed: int = 0


def find_quicklooks(storage, archive, mission: str, *, query_filter=None, workers: int | None = None,
                    page_size: int = PAGE_SIZE, again: bool = False) -> QuicklookReport:
    """Search the file of every product of ``mission`` (matching ``query_filter``, a bound filter
    of the Product entity type, when given) never searched for a quicklook (and, with ``again``,
    of those searched without one found), and record what is found
    (:func:`proseo_odata.nodes.archived_quicklook`). ``workers`` threads read the files (None:
    the archive's ``check_workers``, as :func:`proseo_odata.fixity.check_products`)."""
    if workers is None:
        workers = getattr(archive, "check_workers", DEFAULT_WORKERS)
    searched = (None, NO_QUICKLOOK) if again else (None,)
    report = QuicklookReport()
    query = Query(filter=query_filter, orderby=BY_ID, top=page_size)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="quicklooks") as pool:
        for page in iter_pages(storage.query_product_files, mission, query=query):
            wanting = [p for p in page.items if p.archive_key and p.quicklook in searched]
            found = pool.map(lambda p: archived_quicklook(archive, p.archive_key, p.content_length, p.name), wanting)
            searches = []
            for product, quicklook in zip(wanting, found):
                report.looked += 1
                if quicklook is None:
                    report.unreadable += 1
                elif quicklook == product.quicklook:  # none again: nothing to write
                    report.none += 1
                else:
                    searches.append(QuicklookSearch(product.id, product.archive_key, quicklook, product.quicklook))
            for search, written in zip(searches, storage.record_quicklooks(mission, searches)):
                if not written:
                    report.changed += 1
                elif search.quicklook == NO_QUICKLOOK:
                    report.none += 1
                else:
                    report.found += 1
    return report
