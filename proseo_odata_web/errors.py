"""Error responses: one constructor, the one error table, and the exception views (contract
section 9).

Every error the services answer goes through :func:`error_response`, which builds

- the OData error body ``{"error": {"code", "message", "target", "details"}}`` (target and
  details only when known), served as ``application/json``, and
- the ``Warning`` header ``199 proseo-api-prip (E7721) <message>`` (``proseo-api-odip`` for
  paths under the ODIP root or the ODIP token path).

The core's errors say what happened (:mod:`proseo_odata.errors`: a kind such as ``"not_found"``
or ``"conflict.order_state"``) and carry neither status nor code; :data:`ERROR_TABLE` is the one
place that maps ``(service, kind)`` to the HTTP status and the prosEO code (PRIP numbers 77xx,
ODIP 72xx). A kind missing from the table takes its parent's row (``"invalid_input.query"`` ->
``"invalid_input"``); each of an error's ``details`` gets the code of its own kind. The web
layer's own answers use the same table (kinds ``not_found.resource``, ``method_not_allowed``,
``http``, ``unavailable``, ``error``):

============================================  =========================  =======================
exception                                     kind                       answer
============================================  =========================  =======================
a core ``ProseoError`` (and the web layer's)  its own                    its row of the table
unknown path (Pyramid's not-found)            ``not_found.resource``     404 E7701 / E7201
method not supported by a path                ``method_not_allowed``     405 E7702 / E7202
other Pyramid ``HTTPException`` (4xx)         ``http``                   its own E7700 / E7200
storage unusable now (``Unavailable``: the    ``unavailable``            503 E7705 / E7206
storage's choke point translated a transient
driver error)
anything else: a bug, logged with traceback   ``error``                  500 E7799 / E7299
============================================  =========================  =======================

A database outage is logged once per episode, not once per request (:class:`OutageLog`): one
WARNING line without traceback when the first request fails, one INFO line when a request uses
the database successfully again (how long it lasted, how many requests were answered 503).

Authentication errors (401, 403, 429) are ``ProseoError`` subclasses defined in
:mod:`proseo_odata_web.auth`; a 401 carries ``WWW-Authenticate: Basic realm="..."``.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Iterable, Mapping, Optional
from urllib.parse import quote

from pyramid.exceptions import URLDecodeError
from pyramid.httpexceptions import HTTPException, HTTPMethodNotAllowed, HTTPPermanentRedirect
from pyramid.interfaces import IRoutesMapper
from pyramid.response import Response

from proseo_odata.archive import ArchiveUnavailableError
from proseo_odata.errors import ProseoError, RangeNotSatisfiable, Unavailable, kind_ancestors
from proseo_odata.storage.errors import describe

log = logging.getLogger(__name__)

#: The one error table: kind -> (HTTP status, PRIP code, ODIP code). ``None`` as status: the
#: status of the HTTP exception itself. Documented in docs/errors.md (checked by a test).
ERROR_TABLE: dict[str, tuple[Optional[int], str, str]] = {
    # kind                                   status  PRIP     ODIP
    "error":                                  (500, "E7799", "E7299"),  # a bug (logged)
    "http":                                   (None, "E7700", "E7200"),  # other HTTP errors
    "method_not_allowed":                     (405, "E7702", "E7202"),
    "unavailable":                            (503, "E7705", "E7206"),  # the database, for now
    "invalid_input":                          (400, "E7721", "E7221"),  # query option, filter, key, value
    "invalid_input.order":                    (400, "E7205", "E7205"),  # every problem in details
    "invalid_input.subscription":             (400, "E7742", "E7742"),
    "invalid_input.token_request":            (400, "E7710", "E7210"),
    "invalid_input.media_type":               (415, "E7718", "E7218"),  # a body not sent as application/json
    "unauthenticated":                        (401, "E7703", "E7203"),
    "forbidden":                              (403, "E7704", "E7204"),
    "too_many_attempts":                      (429, "E7711", "E7215"),
    "not_found":                              (404, "E7706", "E7211"),  # a product (or other object)
    "not_found.resource":                     (404, "E7701", "E7201"),  # no resource at that path
    "not_found.product_file":                 (404, "E7707", "E7212"),  # offline or evicted
    "not_found.subscription":                 (404, "E7741", "E7741"),
    "not_found.workflow":                     (404, "E7207", "E7207"),
    "not_found.order":                        (404, "E7208", "E7208"),
    "not_found.output_product":               (404, "E7209", "E7209"),
    "not_found.input_product":                (404, "E7258", "E7258"),  # by name
    "not_found.input_product.content_date":   (404, "E7259", "E7259"),
    "not_found.token_endpoint":               (404, "E7710", "E7210"),  # bearer tokens disabled
    "conflict":                               (409, "E7709", "E7213"),  # duplicate, stale revision
    "conflict.order_state":                   (409, "E7219", "E7219"),
    "conflict.subscription_state":            (409, "E7740", "E7740"),
    "conflict.idempotency":                   (422, "E7220", "E7220"),
    "range_not_satisfiable":                  (416, "E7716", "E7214"),
    "precondition_failed":                    (412, "E7717", "E7217"),  # If-Match, If-Unmodified-Since
}

SERVICES = ("prip", "odip")

ERROR_CONTENT_TYPE = "application/json"


def answer_of(service: str, kind: str) -> tuple[Optional[int], str]:
    """``(status, code)`` of ``kind`` in ``service`` (``'prip'`` or ``'odip'``) from
    :data:`ERROR_TABLE`, falling back to the kind's parent (``a.b`` -> ``a`` -> ``error``)."""
    column = SERVICES.index(service) + 1
    for name in kind_ancestors(kind):
        row = ERROR_TABLE.get(name)
        if row is not None:
            return row[0], row[column]
    raise AssertionError("unreachable: 'error' is in the table")  # pragma: no cover


def request_path(request) -> str:
    """The request's path for an error's message, a log line or the service it belongs to:
    ``request.path``, or, when the path's escapes are not UTF-8 (``/%FF``: Pyramid's router
    refused it with ``URLDecodeError``, and ``request.path`` raises again), its bytes read as
    UTF-8 with each undecodable byte replaced."""
    try:
        return request.path
    except UnicodeDecodeError:
        raw = request.script_name.encode("latin-1") + request.environ.get("PATH_INFO", "").encode("latin-1")
        return raw.decode("utf-8", "replace")


def service_of_request(request) -> str:
    """``'odip'`` or ``'prip'``, from the request path (the Warning header's agent name)."""
    path = request_path(request)
    web = getattr(request.registry, "proseo", None)
    if web is None:
        return "odip" if "/odip/" in path else "prip"
    return web.service_of_path(path)


#: Control characters (RFC 9110 5.5: not allowed in a field value), shown as '?'.
_CONTROLS = {code: "?" for code in [*range(0x20), 0x7F]}


def _one_line(text: str) -> str:
    # Header values must not contain line breaks or other control characters (a message may
    # quote client input such as a NUL byte); and they are ASCII here: a character beyond it is
    # written as JSON writes it (``json.dumps``' escape; sent as Latin-1, an é was a byte that is
    # not UTF-8, and a character beyond Latin-1 a '?'), so the header says what the body says.
    line = " ".join(str(text).split()).translate(_CONTROLS)
    if not line.isascii():
        line = "".join(c if c.isascii() else json.dumps(c)[1:-1] for c in line)
    return line or "error"


#: The longest message, target or detail message an error answer carries: a message may quote
#: client input (a megabyte workflow name, a property name), and clients refuse long header
#: lines (curl: out of memory; Python's http.client: ``LineTooLong`` over 64 KiB).
MESSAGE_LIMIT = 1000


def _shortened(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text``, or its beginning and end with the middle left out when longer than ``limit``."""
    text = str(text)
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 4
    return f"{text[:head]}... ({len(text) - head - tail} characters left out) ...{text[-tail:]}"


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
    """The one constructor of error responses: OData error body plus ``Warning`` header.

    Messages and targets longer than :data:`MESSAGE_LIMIT` characters are shortened in the middle.
    """
    message = _shortened(message)
    error = {"code": code, "message": message}
    if target:
        error["target"] = _shortened(target)
    details = [{name: _shortened(value) if name in ("message", "target") else value for name, value in detail.items()}
               for detail in details]
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


def kind_response(request, kind: str, message: str, *, status: Optional[int] = None, **kwargs) -> Response:
    """The error response for ``kind`` in the request's service (:func:`answer_of`); ``status``
    only for the kind ``http`` (whose row has none)."""
    table_status, code = answer_of(service_of_request(request), kind)
    return error_response(request, table_status or status, code, message, **kwargs)


def _headers_of(exc: ProseoError) -> dict:
    """Headers an error's answer carries: the web layer's own (``exc.headers``: a 401's
    ``WWW-Authenticate``, a 429's ``Retry-After``) and a 416's ``Content-Range``."""
    headers = dict(getattr(exc, "headers", None) or {})
    if isinstance(exc, RangeNotSatisfiable):
        headers.setdefault("Content-Range", f"bytes */{exc.size}")
    return headers


def proseo_error_view(exc: ProseoError, request):
    """A core (or web) ``ProseoError``: status and code from :data:`ERROR_TABLE` by its kind and
    the request's service; message, target and details from the error."""
    service = service_of_request(request)
    status, code = answer_of(service, exc.kind)
    if status == 500:  # a ProseoError of no known kind: a bug
        return internal_error_view(exc, request)
    details = []
    for detail in exc.details:
        entry = {"code": answer_of(service, detail.kind)[1], "message": detail.message}
        if detail.target:
            entry["target"] = detail.target
        details.append(entry)
    return error_response(request, status, code, exc.message, target=exc.target, details=details,
                          headers=_headers_of(exc))


def not_found_view(exc, request):
    """404 for a path no route has; but a ``GET`` or ``HEAD`` of a path of the services that
    has one once its repeated ``/`` are made one and a trailing ``/`` is dropped (``Products/``,
    ``v1//Products``: a client root configured with a slash at its end) is sent there with a
    ``308``. Other methods keep the 404: a redirected body (a token request's password) would
    be sent again to a URL built from the request's ``Host`` and scheme."""
    canonical = _canonical_path(request) if request.method in ("GET", "HEAD") else None
    if canonical is not None:
        query = request.query_string
        location = quote(request.script_name + canonical, safe="/:@!$&'()*+,;=") + (f"?{query}" if query else "")
        return HTTPPermanentRedirect(location=location, headers={"OData-Version": "4.0"})  # as every answer
    return kind_response(request, "not_found.resource", f"No resource at {request_path(request)}")


_SLASHES = re.compile("/{2,}")


def _canonical_path(request) -> Optional[str]:
    """The request's path with its repeated slashes made one, and then without a trailing
    slash, whichever differs from it, lies under a service's root or token path and a route
    matches first; None when neither does. (Another application's paths, when the services are
    included in one, are left to it.)"""
    web = getattr(request.registry, "proseo", None)
    mapper = request.registry.queryUtility(IRoutesMapper)
    if web is None or mapper is None:
        return None
    try:
        path = request.path_info
    except UnicodeDecodeError:
        return None
    single = _SLASHES.sub("/", path)
    for candidate in dict.fromkeys((single, single.rstrip("/") or "/")):
        if candidate != path and web.owner_of_path(candidate) is not None and any(
                route.match(candidate) is not None for route in mapper.get_routes()):
            return candidate
    return None


def undecodable_path_view(exc: URLDecodeError, request):
    """A path whose percent-escapes are not UTF-8 (``/%FF``, ``Products(%C0%AF)``): no
    resource can have it, and the client sent it: 400, as undecodable query options are."""
    return kind_response(request, "invalid_input",
                         f"The request path is not UTF-8 text after percent-decoding: {request_path(request)}")


def method_not_allowed_view(exc: HTTPMethodNotAllowed, request):
    allowed = getattr(exc, "allow", None) or []
    headers = {"Allow": ", ".join(allowed)} if allowed else {}
    return kind_response(request, "method_not_allowed",
                         f"Method {request.method} is not supported for {request_path(request)}", headers=headers)


def http_exception_view(exc: HTTPException, request):
    """Any other Pyramid HTTP exception (raised by Pyramid, WebOb or Cornice)."""
    if exc.code < 400:  # redirects and friends pass through unchanged
        return exc
    message = exc.detail or exc.explanation or exc.title
    return kind_response(request, "http", str(message), status=exc.code)


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
        #: the storage's count of statements run when the episode's last failure came (None:
        #: the storage keeps no count); an episode closes only once a statement ran since
        self._mark: Optional[int] = None

    @property
    def in_outage(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException, statements: Optional[int] = None) -> bool:
        """Count one failure; log it when it starts an episode (returns True then).
        ``statements``: the storage's count of statements run so far (``statements_run``)."""
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
                self._failures = 0
            self._failures += 1
            self._mark = statements
        if first:
            self.logger.warning("%s unavailable (%s); answering 503 until it is back, logged once",
                                self.what, describe(exc))
        return first

    def recovered(self, statements: Optional[int] = None) -> bool:
        """Close an open episode (returns True when there was one), unless ``statements`` (the
        storage's count now) shows that no statement ran since the last failure: a request
        answered from the caches (a user looked up seconds ago) does not prove the database back."""
        if self._since is None:
            return False
        with self._lock:
            if self._since is None:
                return False
            if statements is not None and self._mark is not None and statements <= self._mark:
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
    """The 503 answer for a storage that cannot be used now; logs once per outage episode.
    The one place that answers "database unavailable" (the exception view and other callers)."""
    outage_log(request.registry).failed(exc, _statements_run(request))
    return kind_response(request, "unavailable", "The database is unavailable; please retry later",
                         headers={"Retry-After": "30"})


def _database_recovered(event) -> None:
    """NewResponse subscriber: a request that used the database and was not answered 503 (its
    transaction committed by then) closes an outage episode."""
    request = event.request
    if "storage" in request.__dict__ and event.response.status_code != 503:
        outage = getattr(request.registry, "proseo_outage", None)
        if outage is not None:
            outage.recovered(_statements_run(request))


def _statements_run(request) -> Optional[int]:
    """The application storage's count of statements run (None when it keeps none)."""
    return getattr(getattr(request.registry, "storage", None), "statements_run", None)


def unavailable_view(exc: Unavailable, request):
    """503 when the storage cannot be used now: its choke point turned a transient driver error
    (lost or refused connection, lock or statement timeout, serialization failure, SQLite's lock,
    no pooled connection in time) into an ``Unavailable``."""
    return database_unavailable_response(exc, request)


def archive_unavailable_view(exc: ArchiveUnavailableError, request):
    """503 when the archive cannot be reached now (object storage away or timing out): logged as
    what it is, one line per request, not as a database outage."""
    log.warning("%s %s: %s", request.method, request_path(request), exc.message)
    return kind_response(request, exc.kind, "The archive is unavailable; please retry later",
                         headers={"Retry-After": "30"})


def internal_error_view(exc: BaseException, request):
    """A real bug: logged with its traceback, answered 500 with the error body only."""
    log.error("unhandled error on %s %s", request.method, request_path(request), exc_info=exc)
    return kind_response(request, "error", "Internal server error")


def includeme(config):
    """Register the exception views (``config.include('proseo_odata_web.errors')``)."""
    config.add_exception_view(proseo_error_view, context=ProseoError)
    config.add_exception_view(unavailable_view, context=Unavailable)
    config.add_exception_view(archive_unavailable_view, context=ArchiveUnavailableError)
    config.add_notfound_view(not_found_view)
    config.add_exception_view(undecodable_path_view, context=URLDecodeError)
    config.add_exception_view(method_not_allowed_view, context=HTTPMethodNotAllowed)
    config.add_exception_view(http_exception_view, context=HTTPException)
    config.add_exception_view(internal_error_view, context=Exception)
    config.add_subscriber(_database_recovered, "pyramid.events.NewResponse")
