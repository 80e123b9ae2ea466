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

from proseo_odata.model import Product, format_datetime, utcnow
from proseo_odata.config import eviction_batch_size, number_setting
from proseo_odata.errors import NotFound
from proseo_odata.storage.errors import log_failure

log = logging.getLogger(__name__)

__all__ = [
    "EvictionReport",
    "PeriodicEviction",
    "ProductUnavailableError",
    "check_downloadable",
    "is_evicted",
    "evict_due_products",
    "start_periodic_eviction",
]


class ProductUnavailableError(NotFound):
    """The product exists (or existed) but its file cannot be downloaded (offline, evicted)."""

    kind = "not_found.product_file"

    def __init__(self, message: str):
        super().__init__(message, target="$value")


def is_evicted(eviction_date: datetime | None, now: datetime | None = None) -> bool:
    """Whether a product of this ``EvictionDate`` is past it (its file may no longer be served)."""
    return eviction_date is not None and eviction_date <= (now or utcnow())


def check_downloadable(product: Product, now: datetime | None = None) -> None:
    """Raise :class:`ProductUnavailableError` unless the product's file may be served."""
    if is_evicted(product.eviction_date, now):
        raise ProductUnavailableError(
            f"Product {product.id} ({product.name}) was evicted from the archive at "
            f"{format_datetime(product.eviction_date)} and can no longer be downloaded"
        )
    if not product.online or not product.archive_key:
        raise ProductUnavailableError(
            f"Product {product.id} ({product.name}) is offline: its file is not available for download"
        )


@dataclass
class EvictionReport:
    """What one eviction run did: products removed from the catalogue, files removed from the
    archive, and files that could not be removed (key, error) - left for the next run."""

    products: int = 0
    files: int = 0
    file_errors: list[tuple[str, str]] = field(default_factory=list)


_BY_EVICTION_DATE = ((("EvictionDate",), False),)


def evict_due_products(storage, archive, *, now: datetime | None = None, batch_size: int = 100) -> EvictionReport:
    """Remove every product whose ``EvictionDate`` is at or before ``now`` (default: the
    current time), mission by mission, at most ``batch_size`` per transaction.

    ``storage`` must be unbound (each batch is its own transaction, committed before that
    batch's files are deleted); ``archive`` may be None (catalogue only).
    """
    from proseo_odata.storage import Query
    from proseo_odata.storage.errors import NotFoundError

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or utcnow()
    report = EvictionReport()
    query = Query(orderby=_BY_EVICTION_DATE, top=batch_size)
    for mission in [m.code for m in storage.list_missions()]:
        while True:
            keys: list[str] = []
            with storage.transaction() as tx:
                # Oldest eviction date first: the due products are a prefix of this order, and
                # the rows deleted here are gone from the next batch's query.
                page = tx.query_products(mission, query)
                due = [p for p in page.items if p.eviction_date <= now]
                for product in due:
                    try:
                        tx.delete_product(mission, product.id)
                    except NotFoundError:  # evicted concurrently by another process
                        continue
                    report.products += 1
                    if product.archive_key:
                        keys.append(product.archive_key)
            # Committed: the catalogue no longer offers these files, so they can go.
            for key in keys:
                if archive is None:
                    break
                try:
                    archive.delete(key)
                    report.files += 1
                except Exception as exc:  # noqa: BLE001 - an orphan file is retried by hand, not fatal
                    log.warning("eviction: could not delete archived file %s: %s", key, exc)
                    report.file_errors.append((key, str(exc)))
            if len(due) < batch_size:
                break
    if report.products:
        log.info("eviction: %d products removed, %d files deleted", report.products, report.files)
    return report


class PeriodicEviction:
    """Runs :func:`evict_due_products` every ``interval`` seconds in a daemon thread."""

    def __init__(self, storage, archive, interval: float, batch_size: int = 100):
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.storage, self.archive = storage, archive
        self.interval, self.batch_size = interval, batch_size
        self.runs = 0
        self.last_report: EvictionReport | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proseo-eviction", daemon=True)

    def start(self) -> "PeriodicEviction":
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last_report = evict_due_products(self.storage, self.archive, batch_size=self.batch_size)
            except Exception as exc:  # noqa: BLE001 - the database may be down; try again next time
                log_failure(log, "eviction run failed", exc, level=logging.ERROR)
            self.runs += 1
            self._stop.wait(self.interval)


def start_periodic_eviction(settings, storage, archive) -> PeriodicEviction | None:
    """Start periodic eviction as configured: ``proseo.eviction.interval`` (seconds; 0 or
    absent = off) and ``proseo.eviction.batch_size`` (default 100). Returns the running
    :class:`PeriodicEviction` (call ``stop()`` at shutdown) or None when off."""
    interval = number_setting(settings, "proseo.eviction.interval", 0.0, ok=lambda n: n >= 0,
                              needs="a number of seconds, not negative")
    batch_size = eviction_batch_size(settings)  # checked when off too: a bad value is found at start-up
    if interval == 0:
        return None
    return PeriodicEviction(storage, archive, interval, batch_size).start()
