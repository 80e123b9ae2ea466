"""A mission's catalogue as a JSON-lines manifest: what ``ingest --manifest`` reads back.

Each product becomes one line: the Product metadata :func:`proseo_odata.ingest.product_from_metadata`
reads (``Id``, the dates to the microsecond, ``Visibility``, ``ProductionType``, the typed
``Attributes``, the ``Checksum`` list, the ``Footprint`` WKT) plus ``"archive_key"``, the file's key
in the archive, and ``"quicklook"`` when its file was searched for one (:attr:`Product.quicklook`:
its path, or ``""`` for none). Ingesting those
lines by reference (nothing copied) into another database that shares the archive stores the
same products, with the same Ids and values
(``tests/test_export.py``):

* moving a catalogue from the embedded SQLite database to PostgreSQL;
* a logical copy of the catalogue beside the database's own backups: after a restore from an
  older backup, ingesting a later export registers again the products stored since (the known
  Names are skipped).

A product without a file (``archive_key`` None: only an embedding application stores such
products) has no manifest form and is reported instead of written (:attr:`ExportReport.without_file`).
"""
from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Callable

import orjson

from proseo_odata.ingest import ARCHIVE_KEY, QUICKLOOK
from proseo_odata.model import Product, format_datetime
from proseo_odata.model.enums import AttributeType

log = logging.getLogger(__name__)

__all__ = ["ExportReport", "export_products", "manifest_line"]

#: Products read per statement (a keyset page by Id: memory stays flat on any catalogue).
PAGE_SIZE = 1000

def _datetime(value) -> str | None:
    return None if value is None else format_datetime(value, 6)


def _attribute(attribute) -> dict:
    value = attribute.value
    if attribute.type is AttributeType.DATETIMEOFFSET:
        value = _datetime(value)
    elif attribute.type is AttributeType.DOUBLE and math.isinf(value):
        value = "INF" if value > 0 else "-INF"  # OData JSON's spelling; JSON has no number for it
    return {"Name": attribute.name, "ValueType": attribute.type.value, "Value": value}


def manifest_line(product: Product) -> dict:
    """``product`` as a manifest line (see the module); ``ValueError`` when it has no file."""
    if not product.archive_key:
        raise ValueError(f"product {product.id} ({product.name}) has no file: no manifest line names it")
    line = {
        "Id": str(product.id),
        "Name": product.name,
        "ContentType": product.content_type,
        "ContentLength": product.content_length,
        "OriginDate": _datetime(product.origin_date),
        "PublicationDate": _datetime(product.publication_date),
        "ModificationDate": _datetime(product.modification_date),
        "EvictionDate": _datetime(product.eviction_date),
        "Online": product.online,
        "ContentDate": {"Start": _datetime(product.content_start), "End": _datetime(product.content_end)},
        "ProductionType": product.production_type.value,
        "Visibility": product.visibility.value,
        "Footprint": product.footprint,
        "Attributes": [_attribute(a) for a in product.attributes],
        "Checksum": [{"Algorithm": c.algorithm, "Value": c.value, "ChecksumDate": _datetime(c.date)}
                     for c in product.checksums],
        ARCHIVE_KEY: product.archive_key,
    }
    if product.quicklook is not None:
        line[QUICKLOOK] = product.quicklook
    return line


@dataclass
class ExportReport:
    """What :func:`export_products` wrote."""

    exported: int = 0
    #: the Ids of the products left out for having no file
    without_file: list[uuid.UUID] = field(default_factory=list)


def export_products(storage, mission: str, write: Callable[[bytes], object], *, query_filter=None,
                    page_size: int = PAGE_SIZE) -> ExportReport:
    """Write every product of ``mission`` (of every visibility class; only those matching
    ``query_filter``, a bound filter of the Product entity type, when given) as one manifest
    line each, in ``Id`` order: ``write(line)`` gets each line's UTF-8 bytes with its newline.
    Each page of ``page_size`` products is read in its own short transaction (a keyset page
    after the last Id written): a product added during the export is written when its Id sorts
    after the page being read."""
    from proseo_odata.storage import BY_ID, Query, iter_pages

    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    report = ExportReport()
    query = Query(filter=query_filter, orderby=BY_ID, top=page_size, expand=frozenset({"Attributes"}))
    for page in iter_pages(storage.query_products, mission, query=query):
        for product in page.items:
            if not product.archive_key:
                report.without_file.append(product.id)
                continue
            write(orjson.dumps(manifest_line(product), option=orjson.OPT_APPEND_NEWLINE))
            report.exported += 1
    if report.without_file:
        log.warning("export: %d product(s) of %s without a file left out", len(report.without_file), mission)
    return report
