"""The rolling archive: products leave the catalogue and the archive at their ``EvictionDate``.

* :func:`check_downloadable` is the rule the download answers by: a product whose eviction
  date has passed, or that is offline, or that has no file, cannot be downloaded
  (:class:`ProductUnavailableError`, HTTP 404 with a message saying why).
* :func:`evict_due_products` removes due products in bounded batches: each batch's rows are
  deleted and committed first, then their files are deleted from the archive. A crash between
  the two leaves orphan files, never a catalogue row without its file; running it again is
  harmless (deleting a missing file is not an error, a product already gone is skipped).
* :func:`start_periodic_eviction` runs it every ``proseo.eviction.interval`` seconds in a
  daemon thread of the server process (0 = off).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from proseo_odata.model import Product, utcnow
from proseo_odata.odata.errors import ODataError

log = logging.getLogger(__name__)

__all__ = [
    "EvictionReport",
    "PeriodicEviction",
    "ProductUnavailableError",
    "check_downloadable",
    "evict_due_products",
    "start_periodic_eviction",
]


class ProductUnavailableError(ODataError):
    """The product exists (or existed) but its file cannot be downloaded. HTTP 404."""

    status = 404

    def __init__(self, message: str):
        super().__init__(message, code="E7707", target="$value", status=404)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def check_downloadable(product: Product, now: datetime | None = None) -> None:
    """Raise :class:`ProductUnavailableError` unless the product's file may be served."""
    now = now or utcnow()
    if product.eviction_date is not None and product.eviction_date <= now:
        raise ProductUnavailableError(
            f"Product {product.id} ({product.name}) was evicted from the archive at "
            f"{_iso(product.eviction_date)} and can no longer be downloaded"
        )
    if not product.online or not product.archive_key:
        raise ProductUnavailableError(
            f"Product {product.id} ({product.name}) is offline: its file is not available for download"
        )
