"""Errors of the storage layer.

``NotFoundError``, ``ConflictError``, ``InvalidQueryError`` and ``InvalidValueError`` can be caused by a client (an
unknown id, a duplicate name, a tampered ``$skiptoken``), so they are also ``ODataError``s: the
web layer answers them with their ``status`` (404, 409, 400) and the OData error body.
``StorageError`` alone is an internal problem (a misconfigured backend, a broken database).
"""
from __future__ import annotations

from proseo_odata.odata.errors import ODataError


class StorageError(Exception):
    """Root of every storage error."""


class NotFoundError(StorageError, ODataError):
    """The object does not exist (or is not visible in this mission). HTTP 404."""

    status = 404

    def __init__(self, message: str, *, code: str = "E7706", target: str | None = None):
        ODataError.__init__(self, message, code=code, target=target, status=404)


class ConflictError(StorageError, ODataError):
    """A uniqueness rule was broken (duplicate product Name in a mission, duplicate id) or an
    update was based on a stale ``revision`` (someone else changed the object). HTTP 409."""

    status = 409

    def __init__(self, message: str, *, code: str = "E7709", target: str | None = None):
        ODataError.__init__(self, message, code=code, target=target, status=409)


class InvalidQueryError(StorageError, ODataError):
    """The query cannot be run: an unknown ``$orderby`` path or a malformed/foreign
    ``$skiptoken``. HTTP 400."""

    status = 400

    def __init__(self, message: str, *, code: str = "E7721", target: str | None = None):
        ODataError.__init__(self, message, code=code, target=target, status=400)


class InvalidValueError(StorageError, ODataError):
    """The database cannot hold a value (a number outside its column's range, for example).
    HTTP 400."""

    status = 400

    def __init__(self, message: str, *, code: str = "E7721", target: str | None = None):
        ODataError.__init__(self, message, code=code, target=target, status=400)


# -- transient database errors ------------------------------------------------------------------

#: PostgreSQL SQLSTATEs that a retry of the whole transaction can resolve: serialization failure,
#: deadlock, the backend terminated (``pg_terminate_backend``, shutdown, crash), too many
#: connections, a statement or lock wait over its timeout (the database or a lock is stuck).
TRANSIENT_SQLSTATES = frozenset({
    "40001", "40P01", "57P01", "57P02", "57P03", "53300", "57014", "55P03",
})
#: SQLite error names a retry can resolve (another writer holds the database).
TRANSIENT_SQLITE_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED")


def _sqlstate(exc: BaseException):
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None)


def is_transient_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a database failure that retrying the transaction can resolve: a lost
    connection, a serialization failure, a deadlock, a lock or statement timeout, SQLite's
    "database is locked". Such a failure is the service's weather, never an order's fault.

    Only SQLAlchemy's exceptions qualify (a backend without SQLAlchemy raises its own errors);
    the transaction that raised it has been rolled back.
    """
    try:
        from sqlalchemy import exc as sa_exc
    except ImportError:  # pragma: no cover - the SQLAlchemy backend is the only one shipped
        return False
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError, sa_exc.InterfaceError)):
        return True  # a connection that broke; the pool waited too long for a free connection
    if isinstance(exc, sa_exc.DBAPIError):
        orig = exc.orig
        name = getattr(orig, "sqlite_errorname", None)
        if name is not None:
            return name.startswith(TRANSIENT_SQLITE_ERRORS) or "locked" in str(orig).lower()
        state = _sqlstate(exc)
        if state is not None:
            return state in TRANSIENT_SQLSTATES or state.startswith("08")
        # psycopg: an OperationalError without SQLSTATE means the connection itself failed.
        return isinstance(exc, sa_exc.OperationalError)
    return False


def describe_error(exc: BaseException) -> str:
    """A one-line description of a database error that is safe for logs and messages: the
    exception classes and the SQLSTATE only, never the statement, its bound parameters or the
    driver's message (which can quote values)."""
    orig = getattr(exc, "orig", None)
    parts = [type(exc).__name__]
    if orig is not None and orig is not exc:
        parts.append(f"{type(orig).__module__.split('.')[0]}.{type(orig).__name__}")
    state = _sqlstate(exc) or getattr(getattr(exc, "orig", None), "sqlite_errorname", None)
    if state:
        parts.append(f"SQLSTATE {state}" if not str(state).startswith("SQLITE") else str(state))
    if getattr(exc, "connection_invalidated", False):
        parts.append("connection lost")
    return " / ".join(parts)
