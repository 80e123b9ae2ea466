"""Notification delivery: order-end notifications into the outbox, and the outbox dispatcher.

The outbox lives in the database (``StorageBase.enqueue_notification`` and friends), so a
notification is written in the same transaction as the change that causes it and survives a
restart. :class:`NotificationDispatcher` delivers due messages: an HTTP ``POST`` of the JSON
payload with ``Content-Type: application/json`` and HTTP Basic when the message has
credentials. A 2xx answer marks it delivered; anything else is retried with exponential backoff
(``base * 2**(attempt-1)``, capped) until ``max_attempts``, then given up (kept, undelivered, with
its last error, for inspection).

Settings (all optional):

==========================================  =======  =========================================
``proseo.notify.poll_seconds``              1        how often the dispatcher looks for due
                                                     messages when it is idle
``proseo.notify.batch_size``                20       messages per :meth:`run_once` round
``proseo.notify.concurrency``               8        delivery lanes (threads)
``proseo.notify.per_endpoint``              2        lanes one receiver (scheme, host and
                                                     port) may use at once
``proseo.notify.connect_timeout_seconds``   2        time to connect to a receiver
``proseo.notify.timeout_seconds``           5        time to wait for the answer (read timeout)
``proseo.notify.retry_base_seconds``        5        first retry delay
``proseo.notify.retry_max_seconds``         3600     cap of the retry delay
``proseo.notify.max_attempts``              10       attempts before giving up
``proseo.notify.claim_lease_seconds``       60       a claimed message is retried after this if
                                                     the dispatcher dies while delivering it;
                                                     never less than connect + read timeout + 30
==========================================  =======  =========================================

Isolation: a dispatcher delivers on ``concurrency`` lanes, at most ``per_endpoint`` for one
receiver (the endpoint's ``scheme://host:port``, :attr:`OutboxMessage.receiver`: one server
behind many URLs is one receiver). Its claims skip receivers that already hold their lanes
(``exclude_receivers``), so a receiver that is slow or never answers delays only its own
messages, each by at most the two timeouts, and never another receiver's.

Several dispatchers may run against one database (the web process's ``WorkerPool`` and every
``proseo-odata worker`` start one). Each claims due messages
(``StorageBase.claim_due_notifications``), POSTs them and records each outcome with the claim's
token. The claim's lease (:attr:`DeliveryPolicy.lease_seconds`) is longer than one POST can
take plus slack for the database calls, so no other dispatcher takes the message while it is
being delivered, and while a delivery runs its claim is renewed every third of the lease
(``renew_notification_claims``): a receiver that trickles its answer byte by byte, every byte
within the read timeout, for longer than the lease is not posted the message again. Should a
claim still be lost (the database away for a whole lease), the stale claimer's outcome is not
recorded (the storage checks the token) and it logs a warning. A transient database error while recording an outcome (a dropped
connection, a deadlock, a busy SQLite) is retried (:func:`~proseo_odata.storage.errors.retry_transient`)
rather than posting again; it is never recorded as the message's error.

Delivery is *at least once*, as with any HTTP notification: a receiver sees a message twice
only if a deliverer dies (or loses its database) after the receiver accepted the POST and
before the delivery was recorded; the message is then claimed again after its lease.

Passwords are never logged: log lines name the message id and the endpoint without any user
information, and error texts stored in ``last_error`` never contain the credentials. They are
stored sealed (:mod:`proseo_odata.secretbox`); :meth:`NotificationDispatcher._deliver` opens one
right before its POST.
"""
from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
import unicodedata
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Optional, Union
from urllib.parse import urlsplit, urlunsplit

import requests

from proseo_odata.config import number_setting
from proseo_odata.model import UTC, OrderStatus, ProductionOrder, utcnow
from proseo_odata.model.entities import CONTROL_CHARACTERS
from proseo_odata.model.times import format_datetime
from proseo_odata.secretbox import MASK, SecretsError
from proseo_odata.storage.errors import describe, is_transient, retry_transient

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


#: Characters no endpoint holds (and :func:`safe_endpoint` percent-encodes): the control
#: characters (:data:`~proseo_odata.model.entities.CONTROL_CHARACTERS`: a CR/LF would forge log
#: lines) and the blank.
_NOT_IN_ENDPOINT = re.compile(CONTROL_CHARACTERS.pattern[:-1] + " ]")


def endpoint_problem(text: str, *, mailto: bool = False) -> Optional[str]:
    """Why ``text`` is not a notification endpoint, or None when it is one: an ``http``/``https``
    URL with a host, a valid port and no user information (``https://user:password@host``:
    credentials belong in ``NotificationEpUsername``/``-Password``), without blanks or control
    characters; ``mailto:`` addresses too when ``mailto``. ``text`` is stripped by the caller.
    The reason never repeats the text (it may hold a password)."""
    kinds = "an http or https URL" + (" (or mailto:)" if mailto else "")
    if len(text) > MAX_ENDPOINT_LENGTH:
        return f"NotificationEndpoint must be {kinds} of at most {MAX_ENDPOINT_LENGTH:,} characters"
    if _NOT_IN_ENDPOINT.search(text) or any(c.isspace() or unicodedata.category(c) == "Cf" for c in text):
        return f"NotificationEndpoint must be {kinds} without blanks or control characters"
    try:
        parts = urlsplit(text)
        hostname, port = parts.hostname, parts.port  # raise ValueError for a malformed host or port
    except ValueError:  # "https://a]b.example/": Invalid IPv6 URL; ":99999": Port out of range
        return f"NotificationEndpoint must be {kinds} with a valid host and port"
    if "@" in parts.netloc:
        return ("NotificationEndpoint must not contain user information (user:password@): give the "
                "credentials as NotificationEpUsername and NotificationEpPassword")
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and hostname:
        bracketed = "[" in parts.netloc
        if (port == 0 or not _valid_host(hostname, bracketed=bracketed)
                or (bracketed and not re.fullmatch(r"\[[^\[\]]+\](:[0-9]*)?", parts.netloc))):
            return f"NotificationEndpoint must be {kinds} with a valid host and port"
        return None
    if mailto and scheme == "mailto" and re.match(r"[^@]+@[^@]+\Z", parts.path or ""):
        return None
    return f"NotificationEndpoint must be {kinds}"


#: The longest notification endpoint (URLs beyond a couple of kilobytes are refused by servers).
MAX_ENDPOINT_LENGTH = 2048

#: A host name's label (after IDNA): letters, digits, hyphens (not at either end) and, as
#: resolvers take them in internal names (``my_service``), underscores.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")


def _valid_host(hostname: str, *, bracketed: bool) -> bool:
    """An IP address (IPv6 in brackets), or a host name whose labels (after IDNA) are :data:`_LABEL`."""
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        address = None
    if bracketed or address is not None:
        return address is not None and (address.version == 6) == bracketed
    try:
        ascii_name = hostname.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return all(_LABEL.match(label) for label in ascii_name.split("."))


#: The longest notification user name and password (a receiver's Basic credentials; HTTP servers
#: refuse header lines of some kilobytes, and every outbox message carries a copy).
MAX_CREDENTIAL_LENGTH = 1024


def credentials_problems(username: Optional[str], password: Optional[str]) -> list[tuple[str, str]]:
    """``(property, reason)`` for each of a notification user name and password that HTTP Basic
    cannot send: a name with ``:`` (RFC 7617: the receiver would split there), more than
    :data:`MAX_CREDENTIAL_LENGTH` characters; and a password that is
    :data:`proseo_odata.secretbox.MASK`, what the service answers in place of a stored one (an
    object read back and sent again would make the mask the receiver's password). Reasons never
    repeat the values."""
    problems = []
    for name, value in (("NotificationEpUsername", username), ("NotificationEpPassword", password)):
        if not isinstance(value, str):
            continue
        if len(value) > MAX_CREDENTIAL_LENGTH:
            problems.append((name, f"{name} has more than {MAX_CREDENTIAL_LENGTH:,} characters"))
        elif name == "NotificationEpUsername" and ":" in value:
            problems.append((name, "NotificationEpUsername cannot hold ':' (HTTP Basic separates the password there)"))
        elif name == "NotificationEpPassword" and value == MASK:
            problems.append((name, "NotificationEpPassword is the mask this service answers in place of a stored "
                                   "password: send the password itself"))
    return problems


def safe_endpoint(endpoint: str) -> str:
    """The endpoint for logs: without user information nor query (either may hold a token: shown
    as ``?...``), blanks and control characters percent-encoded (a CR/LF cannot forge a log
    line), at most 300 characters."""
    endpoint = _NOT_IN_ENDPOINT.sub(lambda match: f"%{ord(match.group()):02X}", endpoint)
    try:
        parts = urlsplit(endpoint)
        host = parts.netloc
        if parts.username is not None or parts.password is not None:
            host = parts.hostname or ""
            if parts.port:
                host += f":{parts.port}"
    except ValueError:
        return "<unparsable endpoint>"
    shown = urlunsplit((parts.scheme, host, parts.path, "..." if parts.query else "", ""))
    return shown if len(shown) <= 300 else shown[:300] + "..."


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempt``-th failed attempt (1-based): ``base * 2**(attempt-1)``, capped."""
    if attempt < 1:
        attempt = 1
    return min(cap, base * (2 ** min(attempt - 1, 62)))


@dataclass
class DeliveryPolicy:
    poll_seconds: float = 1.0
    batch_size: int = 20
    timeout_seconds: float = 5.0
    connect_timeout_seconds: float = 2.0
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 10
    claim_lease_seconds: float = 60.0
    concurrency: int = 8
    per_endpoint: int = 2

    #: Added to the two HTTP timeouts for the shortest claim lease: the database calls around a
    #: POST (with their retries of transient errors).
    LEASE_SLACK_SECONDS = 30.0

    @property
    def lease_seconds(self) -> float:
        """The claim lease actually used: ``claim_lease_seconds``, but never shorter than one
        delivery can take (connect and read timeouts plus :attr:`LEASE_SLACK_SECONDS`)."""
        return max(
            self.claim_lease_seconds,
            self.connect_timeout_seconds + self.timeout_seconds + self.LEASE_SLACK_SECONDS,
        )

    @property
    def http_timeout(self) -> tuple[float, float]:
        """``requests``' (connect, read) timeout."""
        return (self.connect_timeout_seconds, self.timeout_seconds)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "DeliveryPolicy":
        def get(name, default, kind):
            if kind is int:
                return number_setting(settings, f"proseo.notify.{name}", default, int, ok=lambda n: n >= 1,
                                      needs="at least 1")
            if name.startswith("retry_"):  # 0: at once
                return number_setting(settings, f"proseo.notify.{name}", default, ok=lambda n: n >= 0,
                                      needs="a number of seconds, not negative")
            return number_setting(settings, f"proseo.notify.{name}", default, ok=lambda n: n > 0,
                                  needs="a positive number of seconds")

        return cls(
            poll_seconds=get("poll_seconds", cls.poll_seconds, float),
            batch_size=get("batch_size", cls.batch_size, int),
            timeout_seconds=get("timeout_seconds", cls.timeout_seconds, float),
            connect_timeout_seconds=get("connect_timeout_seconds", cls.connect_timeout_seconds, float),
            retry_base_seconds=get("retry_base_seconds", cls.retry_base_seconds, float),
            retry_max_seconds=get("retry_max_seconds", cls.retry_max_seconds, float),
            max_attempts=get("max_attempts", cls.max_attempts, int),
            claim_lease_seconds=get("claim_lease_seconds", cls.claim_lease_seconds, float),
            concurrency=get("concurrency", cls.concurrency, int),
            per_endpoint=get("per_endpoint", cls.per_endpoint, int),
        )


def post_notification(endpoint: str, payload: dict, username: Optional[str], password: Optional[str], *,
                      timeout: Union[float, tuple[float, float]], session=None) -> Optional[str]:
    """Deliver one message; None on success (2xx), else the reason (never holding the password).

    ``timeout`` is ``requests``' timeout: one number, or (connect, read)."""
    scheme = urlsplit(endpoint).scheme.lower()
    if scheme not in ("http", "https"):
        return f"{CANNOT_DELIVER} to a {scheme or 'scheme-less'} endpoint (only http and https are delivered)"
    # UTF-8, as RFC 7617 recommends (requests would encode text as Latin-1, and fail on any other
    # character): bytes are sent as they are.
    auth = ((username or "").encode("utf-8"), (password or "").encode("utf-8")) if (username or password) else None
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
    except Exception as exc:  # noqa: BLE001 - any failure of the POST is a failed attempt, counted
        # (not only requests' own: one that escaped was retried after each lease, never given up)
        text = f"{type(exc).__name__}: {exc}"
        if password:
            text = text.replace(password, MASK)
        return text
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code} {response.reason or ''}".strip()


#: How a reason that makes further attempts pointless starts (the message is given up at once).
CANNOT_DELIVER = "cannot deliver"


class NotificationDispatcher:
    """Delivers due outbox messages.

    :meth:`run_once` delivers one round and returns when it is done; :meth:`start`/:meth:`stop`
    run it in the background. Deliveries run on a pool of ``concurrency`` threads, at most
    ``per_endpoint`` of them for one receiver (``scheme://host:port``): the claim skips receivers
    whose slots are all busy (``exclude_receivers``), so a hanging or slow receiver holds only its
    own slots, for at most its connect and read timeouts per message, whatever number of URLs it
    has, and every other receiver's messages keep flowing.
    """

    def __init__(self, storage, settings: Optional[Mapping[str, Any]] = None, *, policy: Optional[DeliveryPolicy] = None):
        self.storage = storage
        self.policy = policy or DeliveryPolicy.from_settings(settings or {})
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pool_lock = threading.Lock()
        self._slots = threading.Condition()
        self._held: Counter = Counter()  # receiver -> claimed messages not yet finished
        self._running: Counter = Counter()  # receiver -> delivery lanes (threads) running
        self._waiting: dict[str, deque] = {}  # receiver -> claimed messages waiting for a lane
        #: message id -> claim token of the deliveries running now, whose claims the renewer
        #: thread keeps (:meth:`_renew_loop`)
        self._in_flight: dict[int, str] = {}
        self._renewer: Optional[threading.Thread] = None
        self._local = threading.local()  # one requests.Session per delivery thread
        self._sessions: list = []
        #: Called with (outcome, message) after each delivery attempt: "delivered", "retry",
        #: "failed" (given up) or "lost" (claim expired); metrics hook (proseo_odata_web.metrics).
        self.on_outcome: Optional[Callable[[str, Any], None]] = None

    # -- the slots ---------------------------------------------------------------------------
    #
    # ``concurrency`` lanes (threads) deliver, at most ``per_endpoint`` of them for one receiver;
    # a claim (one statement for up to as many messages as lanes are free) skips receivers that
    # already hold ``per_endpoint`` messages. A batch may still bring more messages for one
    # receiver than it has free lanes: those wait for that receiver's next free lane (without
    # taking a lane from other receivers; at most ``2 * concurrency`` messages are held in all),
    # and one whose claim lease would run out before its delivery could end is left to be
    # claimed again.

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.policy.concurrency, thread_name_prefix="proseo-notify")
            return self._pool

    def _busy_receivers(self) -> list[str]:
        return [receiver for receiver, count in self._held.items() if count >= self.policy.per_endpoint]

    def _free_slots(self) -> int:
        """How many more messages may be claimed now: free lanes (threads), and never more than
        ``2 * concurrency`` held in all (running plus waiting for a busy receiver's lane)."""
        concurrency = self.policy.concurrency
        return min(concurrency - sum(self._running.values()), 2 * concurrency - sum(self._held.values()))

    def _forget(self, counter: Counter, receiver: str) -> None:
        counter[receiver] -= 1
        if counter[receiver] <= 0:
            del counter[receiver]

    def _pump(self, due: datetime, budget: int) -> tuple[list[Future], int]:
        """Claim due messages while slots are free (at most ``budget``) and start their
        delivery lanes; returns the started lanes and how many messages were claimed."""
        policy = self.policy
        lease = timedelta(seconds=policy.lease_seconds)
        # The last moment a held message may still be POSTed: its lease minus one delivery.
        usable = policy.lease_seconds - policy.connect_timeout_seconds - policy.timeout_seconds - 5.0
        started: list[Future] = []
        claimed_total = 0
        while budget > 0 and not self._stop.is_set():
            with self._slots:
                limit = min(self._free_slots(), budget)
                exclude = self._busy_receivers()
            if limit < 1:
                break
            if exclude:
                claimed = self.storage.claim_due_notifications(due, limit, lease=lease, exclude_receivers=exclude)
            else:
                claimed = self.storage.claim_due_notifications(due, limit, lease=lease)
            if not claimed:
                break
            claimed_total += len(claimed)
            budget -= len(claimed)
            deadline = time.monotonic() + usable
            lanes = []
            with self._slots:
                for message in claimed:
                    receiver = message.receiver
                    self._held[receiver] += 1
                    if self._running[receiver] < policy.per_endpoint:
                        self._running[receiver] += 1
                        lanes.append((message, deadline))
                    else:
                        self._waiting.setdefault(receiver, deque()).append((message, deadline))
            for item in lanes:
                try:
                    started.append(self._executor().submit(self._lane, item))
                except RuntimeError:  # stop() shut the pool down: the leases bring the messages back
                    with self._slots:
                        self._forget(self._held, item[0].receiver)
                        self._forget(self._running, item[0].receiver)
            if len(claimed) < limit:
                break
        return started, claimed_total

    def _lane(self, item) -> int:
        """Deliver ``item``, then the messages waiting for the same receiver; returns how many
        were delivered."""
        delivered = 0
        while True:
            message, deadline = item
            if time.monotonic() <= deadline and not self._stop.is_set():
                delivered += self._deliver_safely(message)
            else:
                log.info("notification %s to %s: left for the next claim (its lease is nearly over)",
                         message.id, safe_endpoint(message.endpoint))
            with self._slots:
                receiver = message.receiver
                self._forget(self._held, receiver)
                waiting = self._waiting.get(receiver)
                if waiting:
                    item = waiting.popleft()
                    if not waiting:
                        del self._waiting[receiver]
                    self._slots.notify_all()
                    continue
                self._forget(self._running, receiver)
                self._slots.notify_all()
                return delivered

    def run_once(self, now: Optional[datetime] = None) -> int:
        """Deliver the messages due at ``now`` (default: the current time), up to
        ``batch_size`` of them, concurrently as above; returns when each has been attempted,
        with how many were delivered (and recorded as delivered by this dispatcher)."""
        due = now or utcnow()
        lanes: list[Future] = []
        budget = max(1, self.policy.batch_size)
        while budget > 0 and not self._stop.is_set():
            started, claimed = self._pump(due, budget)
            budget -= claimed
            lanes += started
            if not claimed:
                with self._slots:
                    if not self._held:
                        break  # nothing held, nothing claimable: the round is over
                    self._slots.wait(0.5)  # a slot frees (or a busy receiver is free again)
        return sum(lane.result() for lane in lanes)

    # -- one delivery ------------------------------------------------------------------------

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._pool_lock:
                self._sessions.append(session)
        return session

    def _deliver_safely(self, message) -> bool:
        with self._slots:
            self._in_flight[message.id] = message.claim_token
        self._start_renewer()
        try:
            return self._deliver(message)
        except Exception as exc:  # noqa: BLE001 - the message's claim lease brings it back later
            log.warning("notification %s to %s: delivery aborted (%s); it is retried after its claim lease",
                        message.id, safe_endpoint(message.endpoint), describe(exc))
            return False
        finally:
            with self._slots:
                self._in_flight.pop(message.id, None)

    def _start_renewer(self) -> None:
        with self._pool_lock:
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(target=self._renew_loop, name="proseo-notify-lease", daemon=True)
                self._renewer.start()

    def _renew_loop(self) -> None:
        """Every third of the lease, renew the claims of the deliveries running: a receiver that
        answers slowly, each read within the read timeout, for longer than the lease keeps its
        message (no other dispatcher POSTs it again meanwhile, and its outcome is recorded)."""
        lease = self.policy.lease_seconds
        while not self._stop.wait(lease / 3):
            with self._slots:
                claims = dict(self._in_flight)
            if not claims:
                continue
            try:
                self.storage.renew_notification_claims(claims, utcnow() + timedelta(seconds=lease))
            except Exception as exc:  # noqa: BLE001 - the next round tries again; the lease has time left
                log.warning("notification dispatcher: claims of running deliveries not renewed (%s)", describe(exc))

    def _record(self, work, message_id, what: str):
        """A storage write of a delivery's outcome, retried while the database error is transient
        (a retried POST would be a duplicate for the receiver)."""
        return retry_transient(work, what=f"notification {message_id}: recording {what}", logger=log)

    def _deliver(self, message) -> bool:
        """POST one claimed message and record the outcome; True when recorded as delivered."""
        policy = self.policy
        token = message.claim_token
        where = safe_endpoint(message.endpoint)
        try:
            password = self.storage.secrets.open(message.password)
        except SecretsError as exc:
            error = f"the notification password cannot be opened: {exc}"
        else:
            error = post_notification(
                message.endpoint,
                message.payload,
                message.username,
                password,
                timeout=policy.http_timeout,
                session=self._session(),
            )
            del password
        if error is None:
            if self._record(lambda: self.storage.mark_notification_delivered(message.id, claim_token=token, now=utcnow()),
                            message.id, "its delivery"):
                log.info("notification %s delivered to %s", message.id, where)
                self._outcome("delivered", message)
                return True
            self._claim_lost(message, where, "delivered")
            return False
        attempt = message.attempts + 1
        if attempt >= policy.max_attempts or error.startswith(CANNOT_DELIVER):
            if self._record(lambda: self.storage.record_notification_failure(message.id, None, error, claim_token=token),
                            message.id, "a failed attempt"):
                log.warning("notification %s to %s given up after %d attempt(s): %s", message.id, where, attempt, error)
                self._outcome("failed", message)
            else:
                self._claim_lost(message, where, "failed")
            return False
        delay = backoff_delay(attempt, policy.retry_base_seconds, policy.retry_max_seconds)
        if self._record(
            lambda: self.storage.record_notification_failure(
                message.id, utcnow() + timedelta(seconds=delay), error, claim_token=token),
            message.id, "a failed attempt",
        ):
            log.info("notification %s to %s failed (attempt %d), retry in %.0f s: %s", message.id, where, attempt, delay, error)
            self._outcome("retry", message)
        else:
            self._claim_lost(message, where, "failed")
        return False

    def _outcome(self, outcome: str, message) -> None:
        hook = self.on_outcome
        if hook is not None:
            try:
                hook(outcome, message)
            except Exception:  # noqa: BLE001 - metrics never break a delivery
                log.debug("notification outcome hook failed", exc_info=True)

    def _claim_lost(self, message, where: str, outcome: str) -> None:
        log.warning(
            "notification %s to %s: %s, but its claim expired and another dispatcher holds it now; "
            "outcome not recorded here (lease too short for this receiver?)",
            message.id, where, outcome,
        )
        self._outcome("lost", message)

    # -- the background loop -----------------------------------------------------------------

    def _loop(self) -> None:
        outage = False
        while not self._stop.is_set():
            try:
                _, claimed = self._pump(utcnow(), self.policy.concurrency)
                if outage:
                    log.warning("notification dispatcher: database reachable again")
                    outage = False
            except Exception as exc:  # noqa: BLE001 - the database may be away for a while; keep going
                claimed = 0
                if is_transient(exc):
                    if not outage:  # one line per outage, not one per poll
                        log.warning("notification dispatcher: database unavailable (%s); retrying every %.0f s",
                                    describe(exc), self.policy.poll_seconds)
                    outage = True
                else:
                    log.error("notification dispatcher round failed: %s", describe(exc))
            with self._slots:
                # Claimed something and slots are left: look again at once; otherwise wait for a
                # slot to free or for the poll interval.
                if claimed and self._free_slots() > 0:
                    continue
                self._slots.wait(self.policy.poll_seconds)

    def start(self) -> "NotificationDispatcher":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="proseo-notify", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, wait up to ``timeout`` for the running deliveries, close the sessions.
        A delivery still running then is abandoned; its message is retried after its lease."""
        self._stop.set()
        with self._slots:
            self._slots.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            deadline = time.monotonic() + timeout
            with self._slots:
                while self._held and time.monotonic() < deadline:
                    self._slots.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            pool.shutdown(wait=False, cancel_futures=True)
        with self._pool_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
