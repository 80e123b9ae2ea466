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


def database_error_reason(exc: BaseException) -> str:
    """One line saying why a database call failed: the first line of the driver's message
    (``exc.orig`` for SQLAlchemy's wrappers), never the SQL statement or its parameters, which
    SQLAlchemy appends to its own message."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    reason = lines[0].strip() if lines else ""
    return f"{type(orig).__name__}: {reason}" if reason else type(orig).__name__


class SchemaNotReadyError(StorageError):
    """The database has no schema yet, or an older one than the code (``check_schema``). The
    message is one line saying what to run (``proseo-odata -c CONFIG.ini initdb``)."""


class DatabaseUnavailableError(StorageError):
    """The database cannot be reached right now (``check_schema``): a server that is down, a
    network problem. It may come back, so a server starts anyway and answers 503 meanwhile."""


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
