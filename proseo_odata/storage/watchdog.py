"""A client-side deadline for PostgreSQL calls: a frozen server cannot stall a caller for ever.

``statement_timeout`` is enforced by the server, so it bounds a statement that runs or waits for
a lock, but not a server that does not run at all (its processes stopped with SIGSTOP, a hung
machine, a network path that swallows packets): the client then waits in ``recv`` with no end,
because the kernel on the other side still acknowledges the bytes. TCP keepalives and
``tcp_user_timeout`` do not see that either.

:class:`SocketWatchdog` closes that gap. Around every database round trip of an engine (each
statement, commit, rollback, the reset of a returned connection and the liveness ping at
checkout, which replaces SQLAlchemy's ``pool_pre_ping``) the connection is *armed* with a
deadline; one daemon thread shuts down the socket of any connection still busy past its deadline
(``shutdown(2)``, never ``close``: the driver keeps its descriptor and reports "server closed
the connection", SQLAlchemy invalidates the connection, the web layer answers 503 and the
workers retry). The deadline is ``statement_timeout`` plus a grace period, so the server's own
cancellation always comes first when the server is alive.

Only psycopg 3 connections are watched (their socket is ``connection.pgconn.socket``); anything
else is left alone.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

log = logging.getLogger(__name__)

#: Seconds added to ``statement_timeout`` before the client gives up on a round trip.
GRACE_SECONDS = 5.0
#: Execution option: the round trips of a connection that has it are not watched. For work that
#: lifts ``statement_timeout`` on purpose (``SQLAlchemyStorage.initialize_schema``: a migration's
#: backfill or index build on a large catalogue runs for minutes); without it the client would
#: drop the connection ``statement_timeout`` + grace seconds in, and the server would go on with
#: the orphaned statement, and its locks, until it ended and was rolled back.
UNWATCHED_OPTION = "proseo_unwatched"
_FRESH = "proseo_fresh_connection"
_RETURNED = "proseo_returned_at"


def _socket_of(dbapi_connection) -> int | None:
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is None or getattr(dbapi_connection, "closed", True):
        return None
    try:
        return int(pgconn.socket)
    except Exception:  # noqa: BLE001 - a closed or broken connection has no socket
        return None


class SocketWatchdog:
    """Shut down the socket of a connection that is busy past its deadline (one thread for all)."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self._armed: dict[int, tuple[float, Any, int]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: how many sockets were shut down (for tests and diagnostics)
        self.fired = 0

    def arm(self, dbapi_connection, seconds: float) -> None:
        fd = _socket_of(dbapi_connection)
        if fd is None:
            return
        with self._lock:
            self._armed[id(dbapi_connection)] = (time.monotonic() + seconds, dbapi_connection, fd)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="proseo-db-watchdog", daemon=True)
                self._thread.start()

    def disarm(self, dbapi_connection) -> None:
        if dbapi_connection is None:
            return
        with self._lock:
            self._armed.pop(id(dbapi_connection), None)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            now = time.monotonic()
            with self._lock:
                expired = [(key, conn, fd) for key, (deadline, conn, fd) in self._armed.items() if deadline <= now]
                for key, _conn, _fd in expired:
                    del self._armed[key]
            for _key, conn, fd in expired:
                if _socket_of(conn) != fd:  # closed meanwhile: the descriptor may be someone else's now
                    continue
                # Counted before the shutdown: the caller it wakes may read ``fired`` before this
                # thread runs again (a test failed on that race).
                self.fired += 1
                try:
                    duplicate = socket.socket(fileno=os.dup(fd))
                    try:
                        duplicate.shutdown(socket.SHUT_RDWR)
                    finally:
                        duplicate.close()  # closes the duplicate only; the driver's descriptor stays
                except OSError:
                    self.fired -= 1
                    continue
                log.warning("database call still unanswered after its deadline: connection shut down "
                            "(the server is frozen or unreachable)")


#: The process's watchdog.
WATCHDOG = SocketWatchdog()


def install(engine: sa.Engine, seconds: float, watchdog: SocketWatchdog = WATCHDOG, *, ping_idle: float = 0.0) -> None:
    """Watch every round trip of ``engine`` (a psycopg engine created with ``pool_pre_ping``
    off: the checkout ping here replaces it) with a deadline of ``seconds``. The ping is sent
    only to a connection that was idle in the pool for ``ping_idle`` seconds or more (0: at
    every checkout, as ``pool_pre_ping``)."""

    def dbapi_of(connection):
        try:
            return connection.connection.dbapi_connection
        except Exception:  # noqa: BLE001 - invalidated or closed
            return None

    def watched(conn) -> bool:
        return not conn.get_execution_options().get(UNWATCHED_OPTION, False)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, _cursor, _statement, _parameters, _context, _executemany):
        if watched(conn):
            watchdog.arm(dbapi_of(conn), seconds)

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, _cursor, _statement, _parameters, _context, _executemany):
        watchdog.disarm(dbapi_of(conn))

    @event.listens_for(engine, "handle_error")
    def _error(context):
        if context.connection is not None:
            watchdog.disarm(dbapi_of(context.connection))

    @event.listens_for(engine, "commit")
    def _commit(conn):
        if watched(conn):
            watchdog.arm(dbapi_of(conn), seconds)  # disarmed at checkin or the next statement

    @event.listens_for(engine, "rollback")
    def _rollback(conn):
        if watched(conn):
            watchdog.arm(dbapi_of(conn), seconds)

    @event.listens_for(engine, "reset")
    def _reset(dbapi_connection, _record, _state):
        watchdog.arm(dbapi_connection, seconds)

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection, record):
        watchdog.disarm(dbapi_connection)
        if record is not None:
            record.info[_RETURNED] = time.monotonic()

    for name in ("close", "close_detached", "invalidate", "soft_invalidate", "detach"):
        event.listen(engine, name, lambda dbapi_connection, *rest: watchdog.disarm(dbapi_connection))

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection, record):
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection, record, _proxy):
        """SQLAlchemy's pessimistic disconnect handling, with the deadline: a connection that
        does not answer the dialect's ping (``SELECT 1``) is replaced (the pool retries the checkout). Like
        ``pool_pre_ping``, a connection made for this checkout is not pinged (so the pool's
        retries always end with a usable connection when the server is up)."""
        if record.info.pop(_FRESH, False):
            return
        returned = record.info.get(_RETURNED)
        if ping_idle > 0 and returned is not None and time.monotonic() - returned < ping_idle:
            return  # in use moments ago: the first statement will tell (issue 12 item 6)
        watchdog.arm(dbapi_connection, seconds)
        try:
            # The dialect's ping (SQLAlchemy's pool_pre_ping): in autocommit, so the connection is
            # handed out outside a transaction, as it was returned; a read-only session then
            # switches it to autocommit (psycopg refuses that inside a transaction).
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure means: not usable
            raise sa.exc.DisconnectionError("the pooled connection did not answer its ping") from exc
        finally:
            watchdog.disarm(dbapi_connection)
