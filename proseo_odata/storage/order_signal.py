"""Wake production workers as soon as an order is queued, instead of at their next poll.

A worker that finds the queue empty waits on :class:`OrderSignal` (``poll_seconds`` at most,
the fallback that also catches anything the signal misses). The storage marks every
transaction that queues an order (:func:`mark_order_queued`: a new order, a requeue, a lease
recovery); when that transaction commits, the signal wakes the waiting workers:

- in the same process (the web process's in-process workers, any backend): a
  ``threading.Condition``, woken from SQLAlchemy's ``after_commit`` session event, so a worker
  never claims before the order is visible;
- in other processes (PostgreSQL): the transaction also runs ``pg_notify`` on
  :data:`ORDER_CHANNEL`, which PostgreSQL delivers at commit (and never on rollback). Each
  process with waiting workers keeps ONE dedicated connection that ``LISTEN``s on the channel
  (:class:`_Listener`, psycopg's public ``notifies`` API) and wakes its workers; when that
  connection breaks it reconnects after ``retry_seconds`` and wakes them once (a notification
  sent meanwhile is lost; the poll would find its order anyway).

Wake-ups are hints: a woken worker just tries to claim, and whoever wins the claim runs the
order (the queue's claim rules are unchanged).
"""
from __future__ import annotations

import logging
import threading
from typing import Optional

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from proseo_odata.storage.errors import describe

log = logging.getLogger(__name__)

#: The PostgreSQL notification channel of "an order was queued".
ORDER_CHANNEL = "proseo_order_queued"
#: ``Session.info`` key: the signal to wake when the session's transaction commits.
_PENDING = "proseo_order_signal"


class OrderSignal:
    """A generation counter with a condition: ``seen = signal.generation`` before looking at the
    queue, then ``signal.wait(seen, timeout)`` returns at once if anything was queued since.

    With ``engine`` (PostgreSQL), the first :meth:`wait` starts the process's listener thread.
    """

    def __init__(self, engine: Optional[sa.Engine] = None, *, retry_seconds: float = 1.0):
        self._condition = threading.Condition()
        self._generation = 0
        self._engine = engine
        self._retry_seconds = retry_seconds
        self._listener: Optional[_Listener] = None

    @property
    def generation(self) -> int:
        return self._generation

    def wake(self) -> None:
        """Something was queued (or a waiter must look again): wake every waiter."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until the generation differs from ``seen`` or ``timeout`` seconds passed; True
        when woken."""
        if self._engine is not None and self._listener is None:
            self.listen()
        with self._condition:
            return self._condition.wait_for(lambda: self._generation != seen, timeout)

    def listen(self) -> None:
        """Start the listener (PostgreSQL; idempotent)."""
        with self._condition:
            if self._engine is None or self._listener is not None:
                return
            self._listener = _Listener(self._engine, self, self._retry_seconds)
        self._listener.start()

    @property
    def listening(self) -> bool:
        """True once the listener's ``LISTEN`` is in place (tests wait for it)."""
        return self._listener is not None and self._listener.ready.is_set()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
        self.wake()


def order_notify_expression():
    """``pg_notify(ORDER_CHANNEL, '')``: PostgreSQL's notification of a queued order, for a
    statement of the queuing transaction (an ``INSERT``'s ``RETURNING`` saves a round trip)."""
    return sa.func.pg_notify(ORDER_CHANNEL, "")


def mark_order_queued(session: Session, signal: OrderSignal, *, notified: bool = False) -> None:
    """In ``session``'s transaction: an order became ``queued``. On PostgreSQL this sends the
    notification (delivered at commit) unless a statement of the transaction already did
    (``notified``); in every case ``signal`` is woken after the commit."""
    if not notified and session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(order_notify_expression()))
    session.info[_PENDING] = signal


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released: the outer transaction has not committed yet
    signal = session.info.pop(_PENDING, None)
    if signal is not None:
        signal.wake()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)


class _Listener:
    """One thread with one dedicated connection that ``LISTEN``s on :data:`ORDER_CHANNEL`."""

    #: Seconds between looks at the stop flag while no notification arrives.
    TICK = 1.0

    def __init__(self, engine: sa.Engine, signal: OrderSignal, retry_seconds: float):
        self._engine = engine
        self._signal = signal
        self._retry_seconds = max(0.05, retry_seconds)
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proseo-order-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.TICK + 5)

    def _connect(self):
        from psycopg import sql

        # A connection of the engine's own settings, taken out of its pool for good: it stays
        # in LISTEN mode, so it must never serve a request.
        pooled = self._engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()
        try:
            connection.rollback()
            connection.autocommit = True
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ORDER_CHANNEL)))
        except BaseException:
            # Detached: the pool no longer closes it, so a failed set-up must.
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            raise
        return connection

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            connection = None
            try:
                connection = self._connect()
                self.ready.set()
                if failures:
                    log.info("order listener: listening again")
                failures = 0
                self._signal.wake()  # anything queued while not listening
                while not self._stop.is_set():
                    for _notification in connection.notifies(timeout=self.TICK):
                        self._signal.wake()
            except Exception as exc:  # noqa: BLE001 - the database is away: poll, retry
                self.ready.clear()
                failures += 1
                if failures == 1:
                    reason = describe(exc) if isinstance(exc, sa.exc.SQLAlchemyError) else type(exc).__name__
                    log.warning("order listener: %s; workers poll until it reconnects", reason)
            finally:
                if connection is not None:
                    try:
                        connection.close()
                    except Exception:  # noqa: BLE001 - already broken
                        pass
            self._stop.wait(self._retry_seconds)
