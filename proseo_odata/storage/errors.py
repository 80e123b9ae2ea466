"""Errors of the storage layer, and the one place that classifies database driver errors.

What a storage raises says what happened (:mod:`proseo_odata.errors`): ``NotFoundError`` (a
:class:`~proseo_odata.errors.NotFound`), ``ConflictError`` (a
:class:`~proseo_odata.errors.Conflict`), ``InvalidQueryError`` and ``InvalidValueError`` (an
invalid query or value: an unknown ``$orderby`` path, a tampered ``$skiptoken``, a number beyond a
column's range) and ``DatabaseUnavailableError`` (an :class:`~proseo_odata.errors.Unavailable`:
the database cannot be used now, the same work may succeed later). ``StorageError`` alone is an
internal problem (a misconfigured backend, a broken schema).

The choke point
---------------
A backend turns the errors of its database driver into these in one place, so that nothing above
the storage inspects a driver error (SQLSTATEs, SQLite error names, messages). For SQLAlchemy
backends that place is this module: :func:`translate` (and :func:`driver_errors` around the work)
turns a *transient* driver error into ``DatabaseUnavailableError``; the SQLAlchemy backend calls
it from the engine's ``handle_error`` event (every statement, commit and connect) and around its
sessions (a pool that had no connection in time). Other driver errors (a constraint the backend
did not expect, a bug in a statement) stay internal errors.

Transient (:func:`is_transient`): a lost connection, a database that is restarting or refusing
connections, a serialization failure, a deadlock, a lock or statement timeout, a pool without a
free connection in time, and SQLite's "database is locked" pass by themselves; retrying the same
work later is right (:func:`retry_transient`, the one retry helper). :func:`describe` gives the
one-line description of any of them from a fixed vocabulary (class name, SQLSTATE or SQLite error
name): no SQL, no parameters, no server text, so it is safe for logs and stored messages.
"""
from __future__ import annotations

import contextlib
import logging
import re
import time
from typing import Callable, Iterator, Optional, Sequence, TypeVar

from sqlalchemy import exc as sa_exc

from proseo_odata.errors import Conflict, InvalidInput, InvalidQuery, NotFound, Unavailable

__all__ = [
    "ConflictError", "DatabaseUnavailableError", "InvalidQueryError", "InvalidValueError", "NotFoundError",
    "SchemaNotReadyError", "StorageError", "describe", "driver_errors", "is_database_error", "is_transient", "log_failure",
    "query_refusal", "refusal",
    "refusals", "retry_transient", "translate",
]

T = TypeVar("T")

log = logging.getLogger(__name__)


class StorageError(Exception):
    """Root of every storage error."""


class SchemaNotReadyError(StorageError):
    """The database has no schema yet, or an older one than the code (``check_schema``). The
    message is one line saying what to run (``proseo-odata -c CONFIG.ini initdb``)."""


class DatabaseUnavailableError(StorageError, Unavailable):
    """The database cannot be used right now: a server that is down, a lost connection, a lock
    or statement timeout, a deadlock, a pool without a free connection. It may come back: a
    server starts anyway and answers 503 meanwhile, workers retry.

    ``reason`` is the :func:`describe` line of the driver error (no SQL, no parameters)."""

    def __init__(self, message: str, *, reason: Optional[str] = None):
        Unavailable.__init__(self, message)
        self.reason = reason or message


class NotFoundError(StorageError, NotFound):
    """The object does not exist (or is not visible in this mission). ``kind`` may say which
    (``"not_found.workflow"``)."""

    def __init__(self, message: str, *, target: str | None = None, kind: str | None = None):
        NotFound.__init__(self, message, target=target, kind=kind)


class ConflictError(StorageError, Conflict):
    """A uniqueness rule was broken (duplicate product Name in a mission, duplicate id) or an
    update was based on a stale ``revision`` (someone else changed the object)."""

    def __init__(self, message: str, *, target: str | None = None):
        Conflict.__init__(self, message, target=target)


class InvalidQueryError(StorageError, InvalidQuery):
    """The query cannot be run: an unknown ``$orderby`` path or a malformed/foreign
    ``$skiptoken``, an expression the database refuses to evaluate."""

    def __init__(self, message: str, *, target: str | None = None):
        InvalidQuery.__init__(self, message, target=target)


class InvalidValueError(StorageError, InvalidInput):
    """The database cannot hold a value (a number outside its column's range, for example)."""

    def __init__(self, message: str, *, target: str | None = None):
        InvalidInput.__init__(self, message, target=target)


# -- the classification of driver errors ---------------------------------------------------

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


def _driver_error(exc: BaseException) -> BaseException:
    """The DB-API error itself: ``exc.orig`` of SQLAlchemy's wrappers, else ``exc``."""
    return getattr(exc, "orig", None) or exc


def _code(exc: BaseException) -> Optional[str]:
    """The SQLite error name or the SQLSTATE of a driver error (None: neither)."""
    orig = _driver_error(exc)
    return getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)


def is_transient(exc: BaseException) -> bool:
    """True for an error that may pass by itself: a ``DatabaseUnavailableError`` (the backend
    said so) or a transient driver error (see the module docstring)."""
    if isinstance(exc, DatabaseUnavailableError):
        # (not any ``Unavailable``: an order's run that meets the archive away is a service fault,
        # requeued with a pause and a limit)
        return True
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no connection in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
    elif isinstance(exc, sa_exc.SQLAlchemyError):
        return False
    else:
        orig = exc  # a DB-API error SQLAlchemy did not wrap (psycopg's COPY)
    sqlite_name = getattr(orig, "sqlite_errorname", None)
    if sqlite_name is not None:
        return sqlite_name.startswith(_SQLITE_TRANSIENT)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is None:
        # psycopg: an OperationalError/InterfaceError (the DB-API's names) without SQLSTATE is a
        # failed connection.
        return bool({cls.__name__ for cls in type(orig).__mro__} & {"OperationalError", "InterfaceError"})
    return sqlstate.startswith("08") or sqlstate in _PG_TRANSIENT


def describe(exc: BaseException) -> str:
    """A one-line description without SQL, parameters or server text: the exception's class
    and its SQLSTATE or SQLite error name (a ``DatabaseUnavailableError`` gives the description
    of the driver error it stands for)."""
    if isinstance(exc, DatabaseUnavailableError):
        return exc.reason
    name = type(exc).__name__
    orig = getattr(exc, "orig", None)
    code = _code(exc)
    detail = type(orig).__name__ if orig is not None else None
    parts = [name]
    if detail and detail != name:
        parts.append(detail)
    if code:
        parts.append(str(code))
    return " ".join(parts[:1]) + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


def driver_detail(exc: BaseException) -> Optional[str]:
    """For operators only (the command line, the server's start-up log), never for clients: the
    first line of the driver's own message of ``exc`` or of the error it was raised from
    ("password authentication failed for user ...", "database ... does not exist"), at most 300
    characters, without any ``password=...``; None when there is no driver error."""
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        orig = getattr(current, "orig", None)
        if orig is not None or type(current).__module__.split(".")[0] in ("psycopg", "sqlite3", "psycopg2"):
            lines = [line for line in str(orig if orig is not None else current).splitlines() if line.strip()]
            if lines:
                text = re.sub(r"(?i)password\s*=\s*\S+", "password=***", " ".join(lines[0].split()))
                return text[:300]
        current = current.__cause__ or current.__context__
    return None


def is_database_error(exc: BaseException) -> bool:
    """True for an error of the database or its driver (transient or not), as opposed to one of
    the caller's own code: a ``DatabaseUnavailableError`` or any SQLAlchemy error."""
    return isinstance(exc, (DatabaseUnavailableError, sa_exc.SQLAlchemyError))


def log_failure(logger: logging.Logger, message: str, exc: BaseException, *args,
                level: int = logging.WARNING) -> None:
    """Log ``message`` (with ``args``) for ``exc`` in one line when it comes from the storage: a
    database error naming its classes and SQLSTATE (:func:`describe`), another storage error
    (a refusal such as a ``ConflictError``) with its own message; never the statement or its
    parameters, which the traceback of a chained driver error would print. Anything else is
    logged with its traceback (``logger.exception``)."""
    if is_database_error(exc):
        logger.log(level, message + ": %s", *args, describe(exc))
    elif isinstance(exc, StorageError):
        logger.log(level, message + ": %s", *args, exc)
    else:
        logger.exception(message, *args)


def refusal(exc: BaseException) -> Optional[type[StorageError]]:
    """The storage error class for a statement the database refused because of the data:
    ``ConflictError`` for a constraint (a DB-API ``IntegrityError``), ``InvalidValueError`` for
    a value it cannot hold (a DB-API ``DataError``), None for anything else. Works on SQLAlchemy's
    wrappers and on DB-API errors SQLAlchemy did not wrap (psycopg's ``COPY``), by the DB-API's
    standard exception names."""
    names = {cls.__name__ for cls in type(_driver_error(exc)).__mro__}
    if "IntegrityError" in names:
        return ConflictError
    if "DataError" in names:
        return InvalidValueError
    return None


def nul_refusal(exc: BaseException) -> Optional[InvalidValueError]:
    """The ``InvalidValueError`` for a text parameter holding a NUL character, which PostgreSQL's
    text cannot hold (psycopg refuses to send it: a ``DataError``); None for any other error.
    Input checks refuse NUL where a client sends text; this keeps any path they miss a 400."""
    orig = _driver_error(exc)
    if "DataError" in {cls.__name__ for cls in type(orig).__mro__} and "NUL" in str(orig):
        return InvalidValueError("a text holds a NUL character (\\u0000), which the database cannot hold")
    return None


@contextlib.contextmanager
def refusals(*, conflict: str, invalid: str) -> Iterator[None]:
    """Run a block of writes, raising :func:`refusal`'s error for a statement the database
    refused because of the data: ``ConflictError(conflict)`` or ``InvalidValueError(invalid)``,
    chained to the driver error. The messages are the caller's own: the driver's text (constraint,
    table and column names, the refused values) is logged at debug level, never sent to a client.
    Every other exception (a ``ConflictError`` the block raised itself) passes unchanged."""
    try:
        yield
    except Exception as exc:
        refused = refusal(exc)
        if refused is None:
            raise
        log.debug("the database refused a write (%s): %s", describe(exc), _driver_error(exc))
        raise refused(conflict if refused is ConflictError else invalid) from exc


#: SQLite's messages for a statement beyond its parser or expression limits (deterministic for
#: the statement's text: a $filter nested or chained too much, too many literals).
_SQLITE_LIMIT_MESSAGES = ("parser stack overflow", "expression tree is too large", "too many sql variables",
                          "like or glob pattern too complex", "string or blob too big",
                          "too many terms in order by clause")


#: PostgreSQL data exceptions (SQLSTATE class 22) that a client's filter can raise on stored rows,
#: in our words: the driver's text (which may quote stored values) stays out of client messages.
_DATA_EXCEPTIONS = {
    "22003": "a number out of range",
    "22008": "a date-time out of range",
    "22012": "a division by zero",
    "22001": "a string too long",
    "22P02": "a value not valid for its type",
    "2201B": "a regular expression the database cannot evaluate (not valid, or too complex for it)",
}


def query_refusal(exc: BaseException) -> Optional[InvalidQueryError]:
    """The client's ``InvalidQueryError`` when the database refused a query built from the
    client's options because of the expression itself, None otherwise: too big or nested too
    deeply (SQLite's limits, PostgreSQL's SQLSTATE class 54 "program limit exceeded"), or a data
    exception while evaluating it on the stored rows (PostgreSQL class 22: bigint or timestamp out
    of range, an invalid regular expression; the message gives the database's primary reason; on
    SQLite a filter function that raised)."""
    orig = _driver_error(exc)
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith("22"):
        reason = _DATA_EXCEPTIONS.get(sqlstate, f"a data exception (SQLSTATE {sqlstate})")
        return InvalidQueryError(f"$filter cannot be evaluated on the stored data: {reason}", target="$filter")
    if getattr(orig, "sqlite_errorname", None) == "SQLITE_ERROR" and str(orig).lower().startswith(
            "user-defined function raised exception"):
        # SQLite's functions of the filter compiler (proseo_odata.odata.sql) return no-match or
        # null for what they cannot read, except matchesPattern for a computed pattern that RE2
        # cannot compile (PostgreSQL's counterpart is SQLSTATE 2201B, above).
        return InvalidQueryError("$filter cannot be evaluated on the stored data: a matchesPattern "
                                 "pattern is not a valid regular expression", target="$filter")
    too_big = (isinstance(sqlstate, str) and sqlstate.startswith("54")) or (
        getattr(orig, "sqlite_errorname", None) in ("SQLITE_ERROR", "SQLITE_TOOBIG")
        and str(orig).lower().startswith(_SQLITE_LIMIT_MESSAGES)
    )
    if not too_big:
        return None
    return InvalidQueryError(
        "The query is too complex for the database (nested or repeated too much): simplify $filter",
        target="$filter",
    )


def translate(exc: BaseException) -> Optional[DatabaseUnavailableError]:
    """The core error a driver error stands for: a ``DatabaseUnavailableError`` for a transient
    one, None for any other (it stays what it is: an internal error, or one the backend turns into
    ``ConflictError``/``InvalidValueError`` where it expects it)."""
    if isinstance(exc, DatabaseUnavailableError) or not is_transient(exc):
        return None
    reason = describe(exc)
    return DatabaseUnavailableError(f"the database is unavailable ({reason})", reason=reason)


@contextlib.contextmanager
def driver_errors() -> Iterator[None]:
    """Run a block of database work, raising :func:`translate`'s error for a transient driver
    error (chained to it); every other exception passes unchanged."""
    try:
        yield
    except Exception as exc:
        unavailable = translate(exc)
        if unavailable is None:
            raise
        raise unavailable from exc


def retry_transient(
    work: Callable[[], T],
    *,
    delays: Sequence[float] = (0.1, 0.3, 1.0, 2.0, 4.0),
    what: str = "database call",
    logger: logging.Logger | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retryable: Callable[[BaseException], bool] = is_transient,
) -> T:
    """Run ``work()``, retrying it after each delay of ``delays`` while it raises a transient
    error (``retryable``, by default :func:`is_transient`); the last error propagates, as does any
    other at once. Each retry logs one line (:func:`describe`, no SQL).

    Safe because the failed transaction was rolled back; a ``work`` whose commit may have happened
    before the connection broke must be idempotent, or its ``retryable`` must refuse that case."""
    logger = logger or log
    for delay in delays:
        try:
            return work()
        except Exception as exc:
            if not retryable(exc):
                raise
            logger.warning("%s: transient database error %s; retrying in %.1f s", what, describe(exc), delay)
        sleep(delay)
    return work()
