"""The order queue in the database: claiming, leases, heartbeats, and recovery of lost orders.

Workers in any number of threads and processes share one queue, the ``orders`` table. The rules:

- :func:`claim_next_order` takes the queued order with the highest ``priority``, oldest
  ``submission_date`` first (then by id), and moves it to ``in_progress`` with this worker's id
  and a lease, so that exactly one worker gets it:

  * PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1`` then ``UPDATE`` in one
    transaction; concurrent workers skip each other's locked rows instead of waiting.
  * SQLite (one writer at a time): one guarded statement
    ``UPDATE orders SET ... WHERE status = 'queued' AND id = (SELECT id ... LIMIT 1) RETURNING``.
    SQLite takes the write lock before the statement reads, so two workers never get the same
    row; the ``status = 'queued'`` guard makes that explicit.

- :func:`heartbeat` extends the lease while the order runs. It only touches a row that is still
  ``in_progress`` *and* held by this worker; when that is no longer so (the user cancelled the
  order, or the lease had expired and someone requeued it), the worker must stop.
- :func:`requeue_expired` returns orders whose lease expired (their worker died) to ``queued``
  with ``attempts + 1``, or fails them once ``max_attempts`` runs were lost.

Claims and heartbeats do not change an order's ``revision``; state changes (requeue, fail) do,
so a worker holding a stale copy cannot overwrite them (storage's optimistic concurrency).
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Optional, TypeVar

import sqlalchemy as sa

from proseo_odata.model import OrderStatus, ProductionOrder, utcnow
from proseo_odata.orders.statemachine import (
    MESSAGE_FAILED,
    MESSAGE_IN_PROGRESS,
    MESSAGE_QUEUED,
    OrderEvent,
    transition,
)
from proseo_odata.storage.schema import orders

log = logging.getLogger(__name__)

T = TypeVar("T")


def _engine(storage) -> sa.Engine:
    engine = getattr(storage, "engine", None)
    if engine is None:
        raise TypeError("the production queue needs a SQLAlchemy storage (with an .engine)")
    return engine


def retry_on_busy(action: Callable[[], T], *, attempts: int = 8, delay: float = 0.05) -> T:
    """Run ``action``; retry when the database reports a lock conflict that a retry resolves.

    SQLite answers ``database is locked`` when a deferred transaction that has read must write
    after another connection wrote; PostgreSQL may report a serialization failure or deadlock.
    Both are safe to retry because the transaction was rolled back.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except sa.exc.OperationalError as exc:
            text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
            retriable = "locked" in text or "deadlock" in text or "could not serialize" in text
            if not retriable or attempt == attempts:
                raise
            time.sleep(delay * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class ClaimedOrder:
    id: uuid.UUID
    mission: str


def _claim_values(worker_id: str, now: datetime, lease: timedelta) -> dict:
    return {
        "status": transition(OrderStatus.QUEUED, OrderEvent.START).value,
        "status_message": MESSAGE_IN_PROGRESS,
        "worker_id": worker_id,
        "lease_expires_at": now + lease,
    }


def _queue_order():
    return (orders.c.priority.desc(), orders.c.submission_date.asc(), orders.c.id.asc())


def claim_next_order_id(storage, worker_id: str, lease_seconds: float, *, now: Optional[datetime] = None) -> Optional[ClaimedOrder]:
    """Claim the next queued order (see the module docstring); None when the queue is empty."""
    engine = _engine(storage)
    lease = timedelta(seconds=lease_seconds)

    def attempt() -> Optional[ClaimedOrder]:
        when = now or utcnow()
        values = _claim_values(worker_id, when, lease)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                row = conn.execute(
                    sa.select(orders.c.id, orders.c.mission)
                    .where(orders.c.status == OrderStatus.QUEUED.value)
                    .order_by(*_queue_order())
                    .limit(1)
                    .with_for_update(skip_locked=True)
                ).first()
                if row is None:
                    return None
                conn.execute(sa.update(orders).where(orders.c.id == row.id).values(**values))
                return ClaimedOrder(row.id, row.mission)
            next_id = (
                sa.select(orders.c.id)
                .where(orders.c.status == OrderStatus.QUEUED.value)
                .order_by(*_queue_order())
                .limit(1)
                .scalar_subquery()
            )
            row = conn.execute(
                sa.update(orders)
                .where(orders.c.id == next_id, orders.c.status == OrderStatus.QUEUED.value)
                .values(**values)
                .returning(orders.c.id, orders.c.mission)
            ).first()
            return ClaimedOrder(row.id, row.mission) if row is not None else None

    return retry_on_busy(attempt)


def claim_next_order(storage, worker_id: str, lease_seconds: float, *, now: Optional[datetime] = None) -> Optional[ProductionOrder]:
    """Claim the next queued order and return it (``in_progress``, leased to ``worker_id``)."""
    claimed = claim_next_order_id(storage, worker_id, lease_seconds, now=now)
    if claimed is None:
        return None
    return retry_on_busy(lambda: storage.get_order(claimed.mission, claimed.id))


def heartbeat(storage, order_id: uuid.UUID, worker_id: str, lease_seconds: float, *, now: Optional[datetime] = None) -> bool:
    """Extend the lease; False when the order is no longer ``in_progress`` for this worker."""
    engine = _engine(storage)

    def attempt() -> bool:
        when = now or utcnow()
        with engine.begin() as conn:
            result = conn.execute(
                sa.update(orders)
                .where(
                    orders.c.id == order_id,
                    orders.c.worker_id == worker_id,
                    orders.c.status == OrderStatus.IN_PROGRESS.value,
                )
                .values(lease_expires_at=when + timedelta(seconds=lease_seconds))
            )
            return result.rowcount == 1

    return retry_on_busy(attempt)


def order_status(storage, order_id: uuid.UUID) -> Optional[str]:
    """The stored status of an order (any mission); None if it does not exist."""
    with _engine(storage).connect() as conn:
        return conn.execute(sa.select(orders.c.status).where(orders.c.id == order_id)).scalar()


def requeue_expired(
    storage,
    *,
    now: Optional[datetime] = None,
    max_attempts: int = 3,
    on_failed: Optional[Callable[[object, ProductionOrder], None]] = None,
) -> list[ProductionOrder]:
    """Recover orders whose lease expired before ``now``; returns them as changed.

    Each goes back to ``queued`` with ``attempts + 1`` (worker and lease cleared), or, when that
    would reach ``max_attempts``, to ``failed`` with a message saying the workers were lost and
    ``CompletedDate`` set. ``on_failed(tx, order)`` is called inside the transaction that fails
    an order (the engine enqueues the order's notification there).
    """
    engine = _engine(storage)
    when = now or utcnow()
    with engine.connect() as conn:
        expired = conn.execute(
            sa.select(orders.c.id, orders.c.mission)
            .where(orders.c.status == OrderStatus.IN_PROGRESS.value, orders.c.lease_expires_at < when)
            .order_by(orders.c.lease_expires_at)
        ).all()
    changed = []
    for row in expired:

        def recover(order_id=row.id, mission=row.mission) -> Optional[ProductionOrder]:
            with storage.transaction() as tx:
                order = tx.get_order(mission, order_id, for_update=True)
                if order.status is not OrderStatus.IN_PROGRESS or order.lease_expires_at is None or order.lease_expires_at >= when:
                    return None  # a heartbeat, a cancel or another recoverer came first
                lost_worker = order.worker_id
                order.attempts += 1
                order.worker_id = None
                order.lease_expires_at = None
                if order.attempts >= max_attempts:
                    order.status = transition(order.status, OrderEvent.FAIL, order_id=order.id)
                    order.status_message = (
                        f"{MESSAGE_FAILED}: the worker was lost {order.attempts} time(s) "
                        f"(last: {lost_worker}); attempts exhausted"
                    )
                    order.completed_date = when
                    tx.update_order(order)
                    if on_failed is not None:
                        on_failed(tx, order)
                else:
                    order.status = transition(order.status, OrderEvent.REQUEUE, order_id=order.id)
                    order.status_message = MESSAGE_QUEUED
                    tx.update_order(order)
                log.warning(
                    "order %s: lease of worker %s expired; now %s (attempt %d of %d)",
                    order.id, lost_worker, order.status.value, order.attempts, max_attempts,
                )
                return order

        try:
            order = retry_on_busy(recover)
        except Exception as exc:  # noqa: BLE001 - e.g. a concurrent update: the next round retries
            from proseo_odata.storage.errors import ConflictError, NotFoundError

            if isinstance(exc, (ConflictError, NotFoundError)):
                continue
            raise
        if order is not None:
            changed.append(order)
    return changed
