"""What operators and load balancers watch (issue 10 item 9; docs/deployment.md).

Three routes outside the OData services, without authentication:

``GET /healthz`` (liveness)
    ``200 {"status": "ok"}`` while the process answers requests; touches nothing else (a
    database outage must not make an orchestrator restart healthy processes).
``GET /readyz`` (readiness)
    ``200 {"status": "ready"}`` when the database answers and its schema is at the revision this
    code ships (the storage contract's ``check_schema``); otherwise ``503 {"status":
    "unavailable", "reason": ...}`` with ``Retry-After`` (a load balancer takes the instance out
    of rotation). The reason is ``database unreachable`` or the storage's one-line schema message
    (what to run); never SQL or a connection string.
``GET /metrics``
    the Prometheus text format (``prometheus_client``), per process:

    - ``proseo_http_requests_total{route,method,status}`` and
      ``proseo_http_request_duration_seconds{route,method}`` (histogram): every request, by
      Pyramid route name (``unmatched`` for paths without a route);
    - ``proseo_orders{status}``, ``proseo_order_queue_oldest_age_seconds``: the production
      queue (read from the database at scrape time, so every process reports the same);
    - ``proseo_outbox_pending``, ``proseo_outbox_retrying``, ``proseo_outbox_given_up``,
      ``proseo_outbox_oldest_age_seconds``: the notification outbox (database, at scrape time);
    - ``proseo_notification_deliveries_total{outcome}``: attempts of this process's dispatcher
      (``delivered``, ``retry``, ``failed`` = given up, ``lost`` = claim expired);
    - ``proseo_login_failures_total{reason}``: ``wrong_credentials`` and ``throttled`` (429);
    - ``proseo_database_up``: 1 when the scrape's database queries succeeded.

Settings: ``proseo.health.liveness_path`` (``/healthz``), ``proseo.health.readiness_path``
(``/readyz``), ``proseo.metrics.path`` (``/metrics``; empty: no metrics at all).
"""
from __future__ import annotations

import logging
import time
from typing import Optional

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.tweens import EXCVIEW

from proseo_odata.model import OrderStatus, utcnow
from proseo_odata.storage import DatabaseUnavailableError, SchemaNotReadyError
from proseo_odata.storage.errors import describe

log = logging.getLogger(__name__)

DEFAULT_PATHS = {
    "proseo.health.liveness_path": "/healthz",
    "proseo.health.readiness_path": "/readyz",
    "proseo.metrics.path": "/metrics",
}

#: Latency buckets (seconds): catalogue queries are tens of ms, downloads may take minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


class _DatabaseCollector:
    """Queue and outbox gauges read from the database at scrape time."""

    def __init__(self, storage):
        self.storage = storage

    def describe(self):  # no samples at registration time (no database query then)
        return []

    def collect(self):
        up = GaugeMetricFamily("proseo_database_up", "1 when the database answered this scrape's queries")
        try:
            stats = self.storage.operations_stats()
        except NotImplementedError:
            return
        except Exception as exc:  # noqa: BLE001 - a scrape during an outage says so, never fails
            log.warning("metrics: database queries failed (%s)", describe(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        now = utcnow()
        orders = GaugeMetricFamily("proseo_orders", "Production orders by status", labels=["status"])
        for status in OrderStatus:
            orders.add_metric([status.value], stats.orders_by_status.get(status.value, 0))
        yield orders
        age = GaugeMetricFamily("proseo_order_queue_oldest_age_seconds",
                                "Age of the oldest queued production order (0 when none is queued)")
        age.add_metric([], (now - stats.oldest_queued_at).total_seconds() if stats.oldest_queued_at else 0.0)
        yield age
        for name, value, text in (
            ("proseo_outbox_pending", stats.outbox_pending, "Undelivered notifications still to be attempted"),
            ("proseo_outbox_retrying", stats.outbox_retrying, "Pending notifications that failed at least once"),
            ("proseo_outbox_given_up", stats.outbox_given_up, "Notifications given up (attempts exhausted)"),
        ):
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], value)
            yield gauge
        oldest = GaugeMetricFamily("proseo_outbox_oldest_age_seconds",
                                   "Age of the oldest pending notification (0 when none)")
        oldest.add_metric([], (now - stats.oldest_pending_at).total_seconds() if stats.oldest_pending_at else 0.0)
        yield oldest


class Metrics:
    """The metrics of one application (its own ``CollectorRegistry``, so several applications
    in one process, as in tests or an embedding application, do not collide)."""

    def __init__(self, storage=None):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("proseo_http_requests_total", "HTTP requests answered",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("proseo_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.logins = Counter("proseo_login_failures_total", "Failed and throttled logins",
                              ["reason"], registry=self.registry)
        self.deliveries = Counter("proseo_notification_deliveries_total",
                                  "Notification delivery attempts of this process's dispatcher",
                                  ["outcome"], registry=self.registry)
        for reason in ("wrong_credentials", "throttled"):
            self.logins.labels(reason)
        for outcome in ("delivered", "retry", "failed", "lost"):
            self.deliveries.labels(outcome)
        if storage is not None:
            self.registry.register(_DatabaseCollector(storage))

    def login(self, outcome: str) -> None:
        """Count a login outcome: ``failure`` (wrong credentials) or ``throttled``."""
        self.logins.labels("throttled" if outcome == "throttled" else "wrong_credentials").inc()

    def delivery(self, outcome: str, _message=None) -> None:
        self.deliveries.labels(outcome).inc()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


#: Methods with their own label; anything else a client sends is counted as ``other``.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def metrics_tween_factory(handler, registry):
    """Times every request (outside the exception view, so error answers are counted with their
    final status)."""
    metrics: Optional[Metrics] = getattr(registry, "proseo_metrics", None)
    if metrics is None:
        return handler

    def metrics_tween(request):
        started = time.perf_counter()
        status = 500
        try:
            response = handler(request)
            status = response.status_int
            return response
        finally:
            route = request.matched_route.name if getattr(request, "matched_route", None) is not None else "unmatched"
            method = request.method if request.method in _METHODS else "other"
            metrics.observe(route, method, status, time.perf_counter() - started)

    return metrics_tween


def _json(status: int, body: dict, headers: Optional[dict] = None) -> Response:
    response = Response(status=status, json_body=body)
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def liveness_view(request):
    return _json(200, {"status": "ok"})


def readiness_view(request):
    """Database reachable and schema current (see the module docstring): the storage contract's
    ``check_schema``, the same check a starting server and every command make."""
    try:
        request.registry.storage.check_schema()
    except DatabaseUnavailableError:
        log.warning("readiness: database unreachable")
        return _json(503, {"status": "unavailable", "reason": "database unreachable"}, {"Retry-After": "10"})
    except SchemaNotReadyError as exc:
        return _json(503, {"status": "unavailable", "reason": str(exc)}, {"Retry-After": "60"})
    return _json(200, {"status": "ready"})


def metrics_view(request):
    metrics: Metrics = request.registry.proseo_metrics
    response = Response(body=metrics.exposition(), content_type=CONTENT_TYPE_LATEST.split(";")[0], charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def includeme(config) -> None:
    """The three routes, the request tween and the metrics (``registry.proseo_metrics``)."""
    settings = config.get_settings()
    registry = config.registry
    paths = {key: str(settings.get(key, default)).strip() for key, default in DEFAULT_PATHS.items()}
    storage = getattr(registry, "storage", None)
    for key, name, view in (
        ("proseo.health.liveness_path", "proseo.healthz", liveness_view),
        ("proseo.health.readiness_path", "proseo.readyz", readiness_view),
        ("proseo.metrics.path", "proseo.metrics", metrics_view),
    ):
        if not paths[key]:
            continue
        if not paths[key].startswith("/"):
            raise ValueError(f"{key} must start with '/', got {paths[key]!r}")
        config.add_route(name, paths[key])
        config.add_view(view, route_name=name, request_method=("GET", "HEAD"), permission=NO_PERMISSION_REQUIRED)
    if paths["proseo.metrics.path"]:
        registry.proseo_metrics = Metrics(storage)
        config.add_tween("proseo_odata_web.operations.metrics_tween_factory", over=EXCVIEW)
    else:
        registry.proseo_metrics = None


def attach_dispatcher(registry) -> None:
    """Count the in-process dispatcher's outcomes (after ODIP started its worker pool)."""
    metrics = getattr(registry, "proseo_metrics", None)
    pool = getattr(registry, "proseo_workers", None)
    dispatcher = getattr(pool, "dispatcher", None)
    if metrics is not None and dispatcher is not None:
        dispatcher.on_outcome = metrics.delivery
