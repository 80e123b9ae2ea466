"""Error responses: one constructor and the exception views (contract section 9).

Every error the services answer goes through :func:`error_response`, which builds

- the OData error body ``{"error": {"code", "message", "target", "details"}}`` (target and
  details only when known), served as ``application/json``, and
- the ``Warning`` header ``199 proseo-api-prip (E7721) <message>`` (``proseo-api-odip`` for
  paths under the ODIP root or the ODIP token path).

The exception views translate:

============================================  =======  ===============================
exception                                     status   code (PRIP / ODIP)
============================================  =======  ===============================
core ``ODataError`` and subclasses            its own  its own (E7721, E7706, ...)
unknown path (Pyramid's not-found)            404      E7701 / E7201
method not supported by a path                405      E7702 / E7202
other Pyramid ``HTTPException`` (4xx)         its own  E7700 / E7200
database unusable now (a transient error:     503      E7705 / E7206
``storage.transient.is_transient``)
anything else: a bug, logged with traceback   500      E7799 / E7299
============================================  =======  ===============================

A database outage is logged once per episode, not once per request (:class:`OutageLog`): one
WARNING line without traceback when the first request fails, one INFO line when a request uses
the database successfully again (how long it lasted, how many requests were answered 503).

Authentication errors (401, 403) are ``ODataError`` subclasses defined in
:mod:`proseo_odata_web.auth`; a 401 carries ``WWW-Authenticate: Basic realm="..."``.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Iterable, Mapping, Optional

from pyramid.httpexceptions import HTTPException, HTTPMethodNotAllowed
from pyramid.response import Response
from sqlalchemy import exc as sa_exc

from proseo_odata.odata.errors import ODataError
from proseo_odata.storage.errors import database_error_reason
from proseo_odata.storage.transient import is_transient

log = logging.getLogger(__name__)

#: Codes of the errors the web layer itself produces, per service (prosEO numbering: PRIP
#: 77xx, ODIP 72xx).
WEB_CODES = {
    "prip": {"http": "E7700", "not_found": "E7701", "method": "E7702", "unavailable": "E7705", "internal": "E7799"},
    "odip": {"http": "E7200", "not_found": "E7201", "method": "E7202", "unavailable": "E7206", "internal": "E7299"},
}

ERROR_CONTENT_TYPE = "application/json"


def service_of_request(request) -> str:
    """``'odip'`` or ``'prip'``, from the request path (the Warning header's agent name)."""
    web = getattr(request.registry, "proseo", None)
    if web is None:
        return "odip" if "/odip/" in request.path else "prip"
    return web.service_of_path(request.path)


#: Control characters (RFC 9110 5.5: not allowed in a field value), shown as '?'.
_CONTROLS = {code: "?" for code in [*range(0x20), 0x7F]}


def _one_line(text: str) -> str:
    # Header values must not contain line breaks or other control characters (a message may
    # quote client input such as a NUL byte); keep them Latin-1 safe for WSGI.
    line = " ".join(str(text).split()).translate(_CONTROLS)
    return line.encode("latin-1", "replace").decode("latin-1") or "error"


def error_response(
    request,
    status: int,
    code: str,
    message: str,
    *,
    target: Optional[str] = None,
    details: Iterable[Mapping] = (),
    headers: Optional[Mapping[str, str]] = None,
) -> Response:
    """The one constructor of error responses: OData error body plus ``Warning`` header."""
    error = {"code": code, "message": message}
    if target:
        error["target"] = target
    details = list(details)
    if details:
        error["details"] = details
    response = Response(
        status=status,
        body=json.dumps({"error": error}).encode("utf-8"),
        content_type=ERROR_CONTENT_TYPE,
        charset="utf-8",
    )
    response.headers["OData-Version"] = "4.0"
    response.headers["Warning"] = f"199 proseo-api-{service_of_request(request)} ({code}) {_one_line(message)}"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def odata_error_view(exc: ODataError, request):
    """Core ``ODataError`` (and the web layer's subclasses): status, code, target from it."""
    details = [
        {k: v for k, v in d.to_dict().items() if k in ("code", "message", "target")} for d in exc.details
    ]
    headers = dict(getattr(exc, "headers", None) or {})
    return error_response(
        request, exc.status, exc.code, exc.message, target=exc.target, details=details, headers=headers
    )


def not_found_view(exc, request):
    codes = WEB_CODES[service_of_request(request)]
    return error_response(request, 404, codes["not_found"], f"No resource at {request.path}")


def method_not_allowed_view(exc: HTTPMethodNotAllowed, request):
    codes = WEB_CODES[service_of_request(request)]
    allowed = getattr(exc, "allow", None) or []
    headers = {"Allow": ", ".join(allowed)} if allowed else {}
    return error_response(
        request,
        405,
        codes["method"],
        f"Method {request.method} is not supported for {request.path}",
        headers=headers,
    )


def http_exception_view(exc: HTTPException, request):
    """Any other Pyramid HTTP exception (raised by Pyramid, WebOb or Cornice)."""
    if exc.code < 400:  # redirects and friends pass through unchanged
        return exc
    codes = WEB_CODES[service_of_request(request)]
    message = exc.detail or exc.explanation or exc.title
    return error_response(request, exc.code, codes["http"], str(message))


class OutageLog:
    """One log line per database outage episode instead of a traceback per failed request.

    ``failed(exc)`` is called for every failure that means "the database is unavailable"; the
    first one of an episode logs one WARNING line (the driver's one-line reason, never SQL,
    parameters or a traceback), the others only count. ``recovered()`` is called after work
    that used the database successfully; when an episode was open it logs one INFO line with
    its duration and count, and closes it. Thread-safe; ``recovered()`` costs one attribute
    read while there is no outage. The web layer keeps one per application
    (:func:`outage_log`); other long-running parts (workers) may keep their own.
    """

    def __init__(self, logger: logging.Logger = log, what: str = "database"):
        self.logger = logger
        self.what = what
        self._lock = threading.Lock()
        self._since: Optional[float] = None
        self._failures = 0

    @property
    def in_outage(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> bool:
        """Count one failure; log it when it starts an episode (returns True then)."""
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
                self._failures = 0
            self._failures += 1
        if first:
            self.logger.warning("%s unavailable (%s); answering 503 until it is back, logged once",
                                self.what, database_error_reason(exc))
        return first

    def recovered(self) -> bool:
        """Close an open episode (returns True when there was one)."""
        if self._since is None:
            return False
        with self._lock:
            if self._since is None:
                return False
            seconds, failures = time.monotonic() - self._since, self._failures
            self._since, self._failures = None, 0
        self.logger.info("%s available again after %.1f s (%d failure(s) in between)", self.what, seconds, failures)
        return True


def outage_log(registry) -> OutageLog:
    """The application's :class:`OutageLog` (made on first use)."""
    outage = getattr(registry, "proseo_outage", None)
    if outage is None:
        with _OUTAGE_LOCK:
            outage = getattr(registry, "proseo_outage", None)
            if outage is None:
                outage = registry.proseo_outage = OutageLog()
    return outage


_OUTAGE_LOCK = threading.Lock()


def database_unavailable_response(exc: BaseException, request):
    """The 503 answer for a database that cannot be reached; logs once per outage episode.
    The one place that answers "database unavailable" (exception views and other callers)."""
    outage_log(request.registry).failed(exc)
    codes = WEB_CODES[service_of_request(request)]
    return error_response(
        request,
        503,
        codes["unavailable"],
        "The database is unavailable; please retry later",
        headers={"Retry-After": "30"},
    )


def _database_recovered(event) -> None:
    """NewResponse subscriber: a request that used the database and was not answered 503 (its
    transaction committed by then) closes an outage episode."""
    request = event.request
    if "dbsession" in request.__dict__ and event.response.status_code != 503:
        outage = getattr(request.registry, "proseo_outage", None)
        if outage is not None:
            outage.recovered()


def database_error_view(exc: sa_exc.SQLAlchemyError, request):
    """503 when the database cannot be used now (a transient error: lost or refused connection,
    lock or statement timeout, serialization failure, SQLite's lock); any other database error is
    a bug (500)."""
    if is_transient(exc):
        return database_unavailable_response(exc, request)
    return internal_error_view(exc, request)


def internal_error_view(exc: BaseException, request):
    """A real bug: logged with its traceback, answered 500 with the error body only."""
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    codes = WEB_CODES[service_of_request(request)]
    return error_response(request, 500, codes["internal"], "Internal server error")


def includeme(config):
    """Register the exception views (``config.include('proseo_odata_web.errors')``)."""
    config.add_exception_view(odata_error_view, context=ODataError)
    config.add_notfound_view(not_found_view)
    config.add_exception_view(method_not_allowed_view, context=HTTPMethodNotAllowed)
    config.add_exception_view(http_exception_view, context=HTTPException)
    config.add_exception_view(database_error_view, context=sa_exc.SQLAlchemyError)
    config.add_exception_view(internal_error_view, context=Exception)
    config.add_subscriber(_database_recovered, "pyramid.events.NewResponse")
