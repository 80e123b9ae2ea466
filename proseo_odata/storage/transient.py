"""Which database errors are transient (worth retrying) and how to describe them without SQL.

A lost connection, a database that is restarting or refusing connections, a serialization
failure, a deadlock, a lock or statement timeout and SQLite's "database is locked" pass by
themselves; retrying the same work later is right. Anything else (a constraint, a bug in a
statement) is not.

SQLAlchemy's exception texts hold the SQL statement and, unless the engine hides them, its bound
parameters; :func:`describe` gives a one-line description from a fixed vocabulary (class name and
SQLSTATE / SQLite error name) that is safe for logs and stored messages.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Sequence, TypeVar

from sqlalchemy import exc as sa_exc

__all__ = ["describe", "is_transient", "retry_transient"]

T = TypeVar("T")

#: PostgreSQL SQLSTATEs that pass: class 08 (connection) by prefix, and these.
_PG_TRANSIENT = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
    "57014",  # query_canceled (statement_timeout)
    "57P01", "57P02", "57P03",  # admin/crash shutdown, cannot connect now
    "53300",  # too_many_connections
    "25P03",  # idle_in_transaction_session_timeout
}
_SQLITE_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL")


def _sqlstate(exc: BaseException):
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def is_transient(exc: BaseException) -> bool:
    """True for a database error that may pass by itself (see the module docstring)."""
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no connection in time
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if sqlite_name is not None:
        return sqlite_name.startswith(_SQLITE_TRANSIENT)
    sqlstate = _sqlstate(exc)
    if sqlstate is None:
        # psycopg: an OperationalError/InterfaceError without SQLSTATE is a failed connection.
        return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))
    return sqlstate.startswith("08") or sqlstate in _PG_TRANSIENT


def describe(exc: BaseException) -> str:
    """A one-line description without SQL, parameters or server text: the exception's class
    and its SQLSTATE or SQLite error name."""
    name = type(exc).__name__
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorname", None) or _sqlstate(exc)
    detail = type(orig).__name__ if orig is not None else None
    parts = [name]
    if detail and detail != name:
        parts.append(detail)
    if code:
        parts.append(str(code))
    return " ".join(parts[:1]) + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


def retry_transient(
    work: Callable[[], T],
    *,
    delays: Sequence[float] = (0.1, 0.3, 1.0, 2.0, 4.0),
    what: str = "database call",
    logger: logging.Logger | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``work()``, retrying it after each delay of ``delays`` while it raises a transient
    database error; the last error propagates. Each retry logs one line (no SQL)."""
    logger = logger or logging.getLogger(__name__)
    for delay in delays:
        try:
            return work()
        except sa_exc.SQLAlchemyError as exc:
            if not is_transient(exc):
                raise
            logger.warning("%s: transient database error %s; retrying in %.1f s", what, describe(exc), delay)
        sleep(delay)
    return work()
