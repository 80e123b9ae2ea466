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
