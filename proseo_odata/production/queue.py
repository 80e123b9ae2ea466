"""The order queue as workers use it: claims, heartbeats and recovery of lost orders, retried
when the database reports a transient failure.

The rules live in the storage contract (:class:`proseo_odata.storage.base.StorageBase`), so that
any backend can run production orders:

- :func:`claim_next_order` (``StorageBase.claim_next_order``) takes the queued order with the
  highest ``priority``, oldest ``submission_date`` first (then by id), and moves it to
  ``in_progress`` with this worker's id and a lease; exactly one worker gets it.
- :func:`heartbeat` (``StorageBase.renew_order_lease``) extends the lease while the order runs.
  It is False when the order is no longer ``in_progress`` for this worker (the user cancelled
  it, or the lease expired and someone requeued it): the worker must stop.
- :func:`requeue_expired` is the policy for orders whose lease expired (their worker died),
  the same for every backend: back to ``queued`` with ``attempts + 1``, or ``failed`` once
  ``max_attempts`` runs were lost, in one transaction with the caller's ``on_failed`` work. The
  backend only offers the primitives (``StorageBase.expired_orders``,
  ``StorageBase.release_expired_order``).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Callable, Optional, TypeVar

from proseo_odata.model import OrderStatus, ProductionOrder, utcnow
from proseo_odata.model.statemachine import MESSAGE_FAILED, MESSAGE_QUEUED, OrderEvent, transition
from proseo_odata.storage.errors import retry_transient

T = TypeVar("T")

log = logging.getLogger(__name__)


def retry_on_busy(action: Callable[[], T], *, attempts: int = 8, delay: float = 0.05, max_delay: float = 2.0,
                  within: Optional[float] = None) -> T:
    """Run ``action``; retry it while the storage reports a transient failure
    (:func:`proseo_odata.storage.errors.retry_transient`, the one retry helper, with waits that
    grow linearly up to ``max_delay`` seconds, ``attempts`` runs in all; with ``within``, as many
    runs as those waits take to add up to ``within`` seconds, if that is more).

    Transient: the database is unavailable for now (a ``DatabaseUnavailableError``: SQLite's
    ``database is locked``; on PostgreSQL a serialization failure, a deadlock, a lost or
    terminated connection, a lock or statement timeout). Safe to retry because the transaction
    was rolled back; an ``action`` whose commit may have happened before the connection broke must
    be idempotent (the engine's end-of-order transactions check that the order is still theirs).
    Other errors pass through.
    """
    delays = [min(max_delay, delay * attempt) for attempt in range(1, attempts)]
    while within is not None and sum(delays) < within:
        delays.append(min(max_delay, delay * (len(delays) + 1)))
    return retry_transient(action, delays=delays, what="order queue", logger=log)


def claim_next_order(storage, worker_id: str, lease_seconds: float, *, now: Optional[datetime] = None,
                     retry: bool = True) -> Optional[ProductionOrder]:
    """Claim the next queued order (``in_progress``, leased to ``worker_id``); None when the
    queue is empty. ``retry=False``: one try (a worker that knows the database is away)."""
    claim = lambda: storage.claim_next_order(worker_id, lease_seconds, now or utcnow())  # noqa: E731
    return retry_on_busy(claim) if retry else claim()


def heartbeat(storage, order_id: uuid.UUID, worker_id: str, lease_seconds: float, *, now: Optional[datetime] = None) -> bool:
    """Extend the lease; False when the order is no longer ``in_progress`` for this worker."""
    return retry_on_busy(lambda: storage.renew_order_lease(order_id, worker_id, lease_seconds, now or utcnow()))


def lost_run(order: ProductionOrder, now: datetime, max_attempts: int) -> ProductionOrder:
    """The policy for an order whose worker was lost (in place; returns it): one more attempt
    counted, no worker and lease; ``failed`` ("the worker was lost N time(s)", ``completed_date =
    now``) once ``attempts`` reaches ``max_attempts``, else ``queued`` again. The message is for
    clients: it never names the worker (host name, pid), which :func:`requeue_expired` logs."""
    order.attempts += 1
    order.worker_id = order.lease_expires_at = None
    if order.attempts >= max_attempts:
        order.status = transition(order.status, OrderEvent.FAIL, order_id=order.id)
        order.status_message = (
            f"{MESSAGE_FAILED}: the worker was lost {order.attempts} time(s); attempts exhausted"
        )
        order.completed_date = now
    else:
        order.status = transition(order.status, OrderEvent.REQUEUE, order_id=order.id)
        order.status_message = MESSAGE_QUEUED
    return order


def requeue_expired(
    storage,
    *,
    now: Optional[datetime] = None,
    max_attempts: int = 3,
    on_failed: Optional[Callable[[object, ProductionOrder], None]] = None,
) -> list[ProductionOrder]:
    """Recover orders whose lease expired before ``now`` (:func:`lost_run`); returns them as
    changed. Orders a heartbeat, a cancel or another recoverer got first are left out.

    ``on_failed(tx, order)`` is called for every order that failed, inside the transaction that
    fails it (the engine enqueues the order's notification there), so both happen or neither.
    """
    when = now or utcnow()

    def recover() -> list[ProductionOrder]:
        changed = []
        with storage.transaction() as tx:
            for order in tx.expired_orders(when):
                lost_worker = order.worker_id
                if not tx.release_expired_order(lost_run(order, when, max_attempts), when):
                    continue
                log.warning("order %s: lease of worker %s expired; now %s (attempt %d of %d)",
                            order.id, lost_worker, order.status.value, order.attempts, max_attempts)
                if on_failed is not None and order.status is OrderStatus.FAILED:
                    on_failed(tx, order)
                changed.append(order)
        return changed

    return retry_on_busy(recover)
