"""Notification delivery: order-end notifications into the outbox, and the outbox dispatcher.

The outbox lives in the database (``StorageBase.enqueue_notification`` and friends), so a
notification is written in the same transaction as the change that causes it and survives a
restart. :class:`NotificationDispatcher` delivers due messages: an HTTP ``POST`` of the JSON
payload with ``Content-Type: application/json`` and HTTP Basic when the message has
credentials. A 2xx answer marks it delivered; anything else is retried with exponential backoff
(``base * 2**(attempt-1)``, capped) until ``max_attempts``, then given up (kept, undelivered, with
its last error, for inspection).

Settings (all optional):

=====================================  =======  ==============================================
``proseo.notify.poll_seconds``         1        how often the dispatcher looks for due messages
``proseo.notify.batch_size``           20       messages delivered per round at most
``proseo.notify.timeout_seconds``      10       HTTP timeout of one delivery (connecting, and
                                                waiting for the answer)
``proseo.notify.retry_base_seconds``   5        first retry delay
``proseo.notify.retry_max_seconds``    3600     cap of the retry delay
``proseo.notify.max_attempts``         10       attempts before giving up
``proseo.notify.claim_lease_seconds``  60       a claimed message is retried after this if the
                                                dispatcher dies while delivering it; never less
                                                than ``2 * timeout_seconds + 30``
=====================================  =======  ==============================================

Several dispatchers may run against one database (the web process's ``WorkerPool`` and every
``proseo-odata worker`` start one). Each claims **one message at a time**
(``StorageBase.claim_due_notifications``), POSTs it and records the outcome with the claim's
token. The claim's lease (:attr:`DeliveryPolicy.lease_seconds`) is longer than one POST can
take (two timeouts: connecting, then waiting for the answer) plus slack for the database calls,
so no other dispatcher takes the message while it is being delivered. Should a claim still be
lost (a receiver that trickles its answer byte by byte for longer than the lease), the stale
claimer's outcome is not recorded (the storage checks the token) and it logs a warning.

Delivery is *at least once*, as with any HTTP notification: a receiver sees a message twice
only if a deliverer dies (or loses its database) after the receiver accepted the POST and
before the delivery was recorded; the message is then claimed again after its lease.

Passwords are never logged: log lines name the message id and the endpoint without any user
information, and error texts stored in ``last_error`` never contain the credentials.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

import requests

from proseo_odata.model import UTC, OrderStatus, ProductionOrder, utcnow
from proseo_odata.model.times import format_datetime
from proseo_odata.storage.transient import describe

log = logging.getLogger(__name__)

ORDER_KIND = "order"
NOTIFICATION_CONTEXT = "$metadata#Notification/$entity"


def order_notification_payload(order: ProductionOrder, product=None, *, now: Optional[datetime] = None) -> dict:
    """The body of contract section 10 for an order that ended.

    ``ProductId``/``ProductName`` name the output product (``None`` when there is none: failed
    or cancelled orders); ``Status`` and ``StatusMessage`` are added for failed and cancelled
    orders.
    """
    when = (now or utcnow()).astimezone(UTC)
    payload: dict[str, Any] = {
        "@odata.context": NOTIFICATION_CONTEXT,
        "ProductId": str(product.id) if product is not None else None,
        "ProductName": product.name if product is not None else None,
        "ProductionOrderId": str(order.id),
        "NotificationDate": format_datetime(when),
    }
    if order.status in (OrderStatus.FAILED, OrderStatus.CANCELLED):
        payload["Status"] = order.status.value
        payload["StatusMessage"] = order.status_message
    return payload


def enqueue_order_notification(storage, order: ProductionOrder, product=None, *, now: Optional[datetime] = None):
    """Put the order-end notification into the outbox when the order has an endpoint.

    Call it with a storage bound to the transaction that records the order's end, so the
    notification exists exactly when that change is committed. Returns the outbox message or
    None (no endpoint).
    """
    if not order.notification_endpoint:
        return None
    if not OrderStatus(order.status).is_terminal:
        raise ValueError(f"order {order.id} has not ended (status {order.status})")
    return storage.enqueue_notification(
        ORDER_KIND,
        order.notification_endpoint,
        order.notification_username,
        order.notification_password,
        order_notification_payload(order, product, now=now),
        mission=order.mission,
        now=now,
    )


def safe_endpoint(endpoint: str) -> str:
    """The endpoint without user information (for logs)."""
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return "<unparsable endpoint>"
    if parts.username is None and parts.password is None:
        return endpoint
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempt``-th failed attempt (1-based): ``base * 2**(attempt-1)``, capped."""
    if attempt < 1:
        attempt = 1
    return min(cap, base * (2 ** min(attempt - 1, 62)))


@dataclass
class DeliveryPolicy:
    poll_seconds: float = 1.0
    batch_size: int = 20
    timeout_seconds: float = 10.0
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 10
    claim_lease_seconds: float = 60.0

    #: Added to two HTTP timeouts for the shortest claim lease: the database calls around a POST.
    LEASE_SLACK_SECONDS = 30.0

    @property
    def lease_seconds(self) -> float:
        """The claim lease actually used: ``claim_lease_seconds``, but never shorter than one
        delivery can take (``2 * timeout_seconds`` plus :attr:`LEASE_SLACK_SECONDS`)."""
        return max(self.claim_lease_seconds, 2 * self.timeout_seconds + self.LEASE_SLACK_SECONDS)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "DeliveryPolicy":
        def get(name, default, kind):
            value = settings.get(f"proseo.notify.{name}")
            return default if value in (None, "") else kind(value)

        return cls(
            poll_seconds=get("poll_seconds", cls.poll_seconds, float),
            batch_size=get("batch_size", cls.batch_size, int),
            timeout_seconds=get("timeout_seconds", cls.timeout_seconds, float),
            retry_base_seconds=get("retry_base_seconds", cls.retry_base_seconds, float),
            retry_max_seconds=get("retry_max_seconds", cls.retry_max_seconds, float),
            max_attempts=get("max_attempts", cls.max_attempts, int),
            claim_lease_seconds=get("claim_lease_seconds", cls.claim_lease_seconds, float),
        )


def post_notification(endpoint: str, payload: dict, username: Optional[str], password: Optional[str], *, timeout: float, session=None) -> Optional[str]:
    """Deliver one message; None on success (2xx), else the reason (never holding the password)."""
    scheme = urlsplit(endpoint).scheme.lower()
    if scheme not in ("http", "https"):
        return f"cannot deliver to a {scheme or 'scheme-less'} endpoint (only http and https are delivered)"
    auth = (username or "", password or "") if (username or password) else None
    poster = session or requests
    try:
        response = poster.post(
            endpoint,
            json=payload,
            auth=auth,
            timeout=timeout,
            headers={"Content-Type": "application/json"},
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        text = f"{type(exc).__name__}: {exc}"
        if password:
            text = text.replace(password, "********")
        return text
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code} {response.reason or ''}".strip()


class NotificationDispatcher:
    """Delivers due outbox messages; :meth:`run_once` for one round, :meth:`start`/:meth:`stop` for a thread."""

    def __init__(self, storage, settings: Optional[Mapping[str, Any]] = None, *, policy: Optional[DeliveryPolicy] = None):
        self.storage = storage
        self.policy = policy or DeliveryPolicy.from_settings(settings or {})
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._session = requests.Session()

    def run_once(self, now: Optional[datetime] = None) -> int:
        """Deliver due messages, one claim at a time, up to ``batch_size``; returns how many
        were delivered (and recorded as delivered by this dispatcher)."""
        policy = self.policy
        lease = timedelta(seconds=policy.lease_seconds)
        started = now or utcnow()
        clock = utcnow()
        delivered = 0
        for _ in range(max(1, policy.batch_size)):
            if self._stop.is_set():
                break
            # Only messages due when the round started (a failure retried a moment later waits
            # for the next round), each leased for ``lease`` from the moment it is claimed.
            claimed = self.storage.claim_due_notifications(started, 1, lease=lease + (utcnow() - clock))
            if not claimed:
                break
            if self._deliver(claimed[0]):
                delivered += 1
        return delivered

    def _deliver(self, message) -> bool:
        """POST one claimed message and record the outcome; True when recorded as delivered."""
        policy = self.policy
        token = message.claim_token
        error = post_notification(
            message.endpoint,
            message.payload,
            message.username,
            message.password,
            timeout=policy.timeout_seconds,
            session=self._session,
        )
        where = safe_endpoint(message.endpoint)
        if error is None:
            if self.storage.mark_notification_delivered(message.id, claim_token=token, now=utcnow()):
                log.info("notification %s delivered to %s", message.id, where)
                return True
            self._claim_lost(message, where, "delivered")
            return False
        attempt = message.attempts + 1
        if attempt >= policy.max_attempts or error.startswith("cannot deliver"):
            if self.storage.record_notification_failure(message.id, None, error, claim_token=token):
                log.warning("notification %s to %s given up after %d attempt(s): %s", message.id, where, attempt, error)
            else:
                self._claim_lost(message, where, "failed")
            return False
        delay = backoff_delay(attempt, policy.retry_base_seconds, policy.retry_max_seconds)
        if self.storage.record_notification_failure(message.id, utcnow() + timedelta(seconds=delay), error, claim_token=token):
            log.info("notification %s to %s failed (attempt %d), retry in %.0f s: %s", message.id, where, attempt, delay, error)
        else:
            self._claim_lost(message, where, "failed")
        return False

    @staticmethod
    def _claim_lost(message, where: str, outcome: str) -> None:
        log.warning(
            "notification %s to %s: %s, but its claim expired and another dispatcher holds it now; "
            "outcome not recorded here (lease too short for this receiver?)",
            message.id, where, outcome,
        )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # noqa: BLE001 - the database may be away for a while; keep going
                # one line, no SQL (branch i10b reworks delivery; take its version when merging)
                log.error("notification dispatcher round failed: %s", describe(exc))
            self._stop.wait(self.policy.poll_seconds)

    def start(self) -> "NotificationDispatcher":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="proseo-notify", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._session.close()
