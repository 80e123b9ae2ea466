"""Order-end notifications: payload, outbox, and delivery to a real HTTP receiver on 127.0.0.1
that is down at first, with retries, backoff, give-up and a restart in between (SQLite + PostgreSQL)."""
import base64
import json
import logging
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
import pytest

from live_server import Receiver, free_port
from proseo_odata.model import OrderStatus, Product, ProductionOrder, utcnow
from proseo_odata.notify.delivery import (
    DeliveryPolicy,
    NotificationDispatcher,
    backoff_delay,
    enqueue_order_notification,
    order_notification_payload,
    safe_endpoint,
)
from proseo_odata.storage.sqlalchemy import load_from_config

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PASSWORD = "s3cr3t-Pa55word"


@pytest.fixture
def storage(db_url):
    storage = load_from_config({"proseo.storage.url": db_url})
    storage.initialize_schema()
    yield storage
    storage.close()


def ended_order(status, endpoint, **fields):
    return ProductionOrder(
        mission="DEMO", owner="demo", workflow_id=uuid.uuid4(), workflow_name="W", status=status,
        status_message={"completed": "requested output product is available", "failed": "production has failed: boom",
                        "cancelled": "request cancelled by user"}[status],
        notification_endpoint=endpoint, **fields,
    )


def test_payload_of_each_end():
    product = Product(mission="DEMO", name="OUT.zip")
    now = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    done = ended_order("completed", "http://x/")
    payload = order_notification_payload(done, product, now=now)
    assert payload == {
        "@odata.context": "$metadata#Notification/$entity",
        "ProductId": str(product.id),
        "ProductName": "OUT.zip",
        "ProductionOrderId": str(done.id),
        "NotificationDate": "2025-01-02T03:04:05.678Z",
    }
    failed = order_notification_payload(ended_order("failed", "http://x/"), None, now=now)
    assert failed["Status"] == "failed" and failed["StatusMessage"] == "production has failed: boom"
    assert failed["ProductId"] is None
    cancelled = order_notification_payload(ended_order("cancelled", "http://x/"), None)
    assert cancelled["Status"] == "cancelled" and ISO_Z.match(cancelled["NotificationDate"])
    json.dumps(cancelled)  # valid JSON


def test_no_endpoint_no_message_and_unfinished_rejected(storage):
    assert enqueue_order_notification(storage, ended_order("completed", None)) is None
    assert storage.list_notifications() == []
    running = ended_order("completed", "http://x/")
    running.status = OrderStatus.IN_PROGRESS
    with pytest.raises(ValueError):
        enqueue_order_notification(storage, running)


@pytest.mark.parametrize("attempt,expected", [(1, 2.0), (2, 4.0), (3, 8.0), (5, 30.0), (100, 30.0), (0, 2.0)])
def test_backoff_delay(attempt, expected):
    assert backoff_delay(attempt, 2.0, 30.0) == expected


def test_safe_endpoint_strips_credentials():
    assert safe_endpoint("https://u:pw@host:8443/p?q=1") == "https://host:8443/p?..."  # a query may hold a token
    assert safe_endpoint("https://host/p") == "https://host/p"
    assert safe_endpoint("https://host/a\r\nERROR forged") == "https://host/a%0D%0AERROR%20forged"
    assert len(safe_endpoint("https://host/" + "p" * 100_000)) == 303


def run_until(dispatcher, predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dispatcher.run_once()
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_receiver_down_then_up_gets_exactly_one_each_across_a_restart(db_url, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/notify"
    policy = DeliveryPolicy(retry_base_seconds=0.2, retry_max_seconds=0.5, max_attempts=50, timeout_seconds=2, claim_lease_seconds=5)

    first = load_from_config({"proseo.storage.url": db_url})
    first.initialize_schema()
    orders = [
        ended_order("completed", endpoint, notification_username="alice", notification_password=PASSWORD),
        ended_order("failed", endpoint),
        ended_order("cancelled", endpoint + "?x=1"),
    ]
    with first.transaction() as tx:
        for order in orders:
            enqueue_order_notification(tx, order, Product(mission="DEMO", name=f"{order.id}.zip") if order.status == "completed" else None)
    dispatcher = NotificationDispatcher(first, policy=policy)
    assert dispatcher.run_once() == 0  # nobody listens yet
    pending = first.list_notifications(undelivered_only=True)
    assert len(pending) == 3
    assert all(m.attempts == 1 and m.next_attempt_at is not None and "Connection" in m.last_error for m in pending)
    dispatcher.stop()
    first.close()  # "restart": a new storage and dispatcher, state only in the database

    receiver = Receiver(port)
    second = load_from_config({"proseo.storage.url": db_url})
    try:
        dispatcher = NotificationDispatcher(second, policy=policy)
        assert run_until(dispatcher, lambda: len(receiver.received) >= 3)
        for _ in range(3):  # later rounds deliver nothing again
            dispatcher.run_once()
            time.sleep(0.1)
        dispatcher.stop()
        got = sorted(receiver.received, key=lambda r: r["body"]["ProductionOrderId"])
        assert len(got) == 3
        assert sorted(r["body"]["ProductionOrderId"] for r in got) == sorted(str(o.id) for o in orders)
        by_id = {r["body"]["ProductionOrderId"]: r for r in got}
        with_auth = by_id[str(orders[0].id)]
        assert with_auth["auth"] == "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        assert by_id[str(orders[1].id)]["auth"] is None
        assert by_id[str(orders[1].id)]["body"]["Status"] == "failed"
        assert by_id[str(orders[2].id)]["path"] == "/notify?x=1"
        assert all(r["type"] == "application/json" for r in got)
        assert all(ISO_Z.match(r["body"]["NotificationDate"]) for r in got)
        assert second.list_notifications(undelivered_only=True) == []
        assert all(m.delivered_at is not None for m in second.list_notifications())
    finally:
        receiver.close()
        second.close()
    assert PASSWORD not in caplog.text


def test_gives_up_after_retry_limit(storage, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    receiver = Receiver(port, status=500)
    try:
        endpoint = f"http://user:{PASSWORD}@127.0.0.1:{port}/hook"
        enqueue_order_notification(storage, ended_order("completed", endpoint, notification_password=PASSWORD, notification_username="u"))
        policy = DeliveryPolicy(retry_base_seconds=0.05, retry_max_seconds=0.1, max_attempts=3, timeout_seconds=2)
        dispatcher = NotificationDispatcher(storage, policy=policy)
        [message] = storage.list_notifications()
        assert run_until(dispatcher, lambda: storage.get_notification(message.id).next_attempt_at is None)
        for _ in range(3):
            dispatcher.run_once()
            time.sleep(0.1)
        dispatcher.stop()
        final = storage.get_notification(message.id)
        assert final.attempts == 3 and final.delivered_at is None
        assert final.last_error == "HTTP 500 Internal Server Error"
        assert len(receiver.received) == 3
    finally:
        receiver.close()
    assert PASSWORD not in caplog.text


def test_mailto_is_given_up_at_once(storage):
    enqueue_order_notification(storage, ended_order("failed", "mailto:ops@example.org"))
    NotificationDispatcher(storage, policy=DeliveryPolicy()).run_once()
    [message] = storage.list_notifications()
    assert message.next_attempt_at is None and message.attempts == 1
    assert "only http and https" in message.last_error


def test_dispatcher_thread_delivers(storage):
    port = free_port()
    receiver = Receiver(port)
    try:
        dispatcher = NotificationDispatcher(storage, {"proseo.notify.poll_seconds": "0.05"}).start()
        enqueue_order_notification(storage, ended_order("completed", f"http://127.0.0.1:{port}/"))
        deadline = time.monotonic() + 15
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        dispatcher.stop()
        assert len(receiver.received) == 1
    finally:
        receiver.close()


def test_claim_lease_covers_one_delivery_whatever_is_configured():
    policy = DeliveryPolicy.from_settings(
        {"proseo.notify.claim_lease_seconds": "1", "proseo.notify.timeout_seconds": "25",
         "proseo.notify.connect_timeout_seconds": "3"}
    )
    assert policy.claim_lease_seconds == 1 and policy.lease_seconds == 3 + 25 + DeliveryPolicy.LEASE_SLACK_SECONDS
    assert policy.http_timeout == (3, 25)
    assert DeliveryPolicy(claim_lease_seconds=600).lease_seconds == 600
    assert DeliveryPolicy().lease_seconds == 60  # the defaults: 2 s + 5 s + 30 s is less than 60 s


@pytest.mark.parametrize("name", ["concurrency", "per_endpoint", "timeout_seconds", "connect_timeout_seconds"])
def test_delivery_policy_refuses_nonsense(name):
    with pytest.raises(ValueError, match=name):
        DeliveryPolicy.from_settings({f"proseo.notify.{name}": "0"})


def test_two_dispatchers_and_a_slow_receiver_deliver_each_message_exactly_once(db_url):
    """The web process and a ``proseo-odata worker`` both run a dispatcher; a receiver slower
    than the configured claim lease must still get every message once."""
    port = free_port()
    receiver = Receiver(port, delay=0.5)
    endpoint = f"http://127.0.0.1:{port}/slow"
    # 0.2 s configured lease, 0.5 s per POST: were the lease taken as configured, the other
    # dispatcher would claim (and post) every message again while the first still waits.
    policy = DeliveryPolicy(timeout_seconds=5, claim_lease_seconds=0.2, retry_base_seconds=0.2, batch_size=20)
    storages = [load_from_config({"proseo.storage.url": db_url}) for _ in range(2)]
    storages[0].initialize_schema()
    orders = [ended_order("completed", endpoint) for _ in range(5)]  # odd: one dispatcher idles at the end
    with storages[0].transaction() as tx:
        for order in orders:
            enqueue_order_notification(tx, order, Product(mission="DEMO", name=f"{order.id}.zip"))
    dispatchers = [NotificationDispatcher(s, policy=policy) for s in storages]
    counts, errors = [], []

    def run(dispatcher, start_after):
        try:
            time.sleep(start_after)
            deadline = time.monotonic() + 30
            delivered = 0
            while time.monotonic() < deadline and storages[0].list_notifications(undelivered_only=True):
                delivered += dispatcher.run_once()
                time.sleep(0.02)
            counts.append(delivered)
        except BaseException as exc:  # noqa: BLE001 - reported in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d, i * 0.25)) for i, d in enumerate(dispatchers)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        time.sleep(0.7)  # anything still on its way would arrive now
        assert not errors, errors
        got = [r["body"]["ProductionOrderId"] for r in receiver.received]
        assert sorted(got) == sorted(str(o.id) for o in orders)  # each once, none twice
        assert sum(counts) == len(orders)
        messages = storages[0].list_notifications()
        assert all(m.delivered_at is not None and m.attempts == 0 for m in messages)
    finally:
        for d in dispatchers:
            d.stop()
        receiver.close()
        for s in storages:
            s.close()


def test_a_dispatcher_that_lost_its_claim_records_nothing(storage, caplog):
    """A deliverer slower than its lease: the message is claimed again meanwhile; the stale
    deliverer's success is not recorded over the new claim, and it says so."""
    caplog.set_level(logging.WARNING)
    port = free_port()
    taken = []

    def claim_again(_request):
        # while the first dispatcher waits for this answer, its lease "expires" and another
        # deliverer claims the message
        taken.extend(storage.claim_due_notifications(utcnow() + timedelta(hours=1), 10))

    receiver = Receiver(port, on_post=claim_again)
    try:
        message = enqueue_order_notification(storage, ended_order("completed", f"http://127.0.0.1:{port}/"))
        dispatcher = NotificationDispatcher(storage, policy=DeliveryPolicy(timeout_seconds=5))
        assert dispatcher.run_once() == 0
        dispatcher.stop()
        assert len(receiver.received) == 1 and [m.id for m in taken] == [message.id]
        state = storage.get_notification(message.id)
        assert state.delivered_at is None and state.attempts == 0  # the new claim is untouched
        assert "another dispatcher holds it" in caplog.text
        assert storage.mark_notification_delivered(message.id, claim_token=taken[0].claim_token)
        assert storage.get_notification(message.id).delivered_at is not None
    finally:
        receiver.close()


def test_credentials_beyond_latin1_are_sent_in_utf8(storage):
    """requests encodes text credentials as Latin-1: a password with '€' raised UnicodeEncodeError,
    which escaped the attempt (never counted, never given up, retried after every lease)."""
    with Receiver() as receiver:
        order = ended_order("failed", receiver.url, notification_username="üser", notification_password="pässwörd€")
        with storage.transaction() as tx:
            enqueue_order_notification(tx, order)
        dispatcher = NotificationDispatcher(storage, policy=DeliveryPolicy(timeout_seconds=2))
        try:
            assert run_until(dispatcher, lambda: len(receiver.received) == 1, timeout=10)
        finally:
            dispatcher.stop()
    expected = base64.b64encode("üser:pässwörd€".encode("utf-8")).decode()
    assert receiver.received[0]["auth"] == f"Basic {expected}"


def test_any_failure_of_the_post_is_a_counted_attempt(storage, monkeypatch):
    from proseo_odata.notify import delivery

    class Broken:
        def post(self, *args, **kwargs):
            raise UnicodeError("a failure requests does not wrap")

        def close(self):
            pass

    monkeypatch.setattr(delivery.requests, "Session", Broken)
    with storage.transaction() as tx:
        enqueue_order_notification(tx, ended_order("failed", "http://127.0.0.1:9/notify"))
    dispatcher = NotificationDispatcher(storage, policy=DeliveryPolicy(max_attempts=1))
    try:
        dispatcher.run_once()
    finally:
        dispatcher.stop()
    [message] = storage.list_notifications()
    assert message.attempts == 1 and message.next_attempt_at is None  # given up after its one attempt
    assert "UnicodeError" in message.last_error


class _Trickler:
    """A receiver that reads a POST and sends its answer one byte every ``pace`` seconds: each
    read of the client is within its timeout, the whole answer takes longer than a claim lease."""

    def __init__(self, pace: float):
        import socket

        self.posts = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/slow"
        self.pace = pace
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            while len(body) < length:
                body += conn.recv(65536)
            self.posts += 1
            for byte in b"HTTP/1.0 204 OK\r\n\r\n":
                time.sleep(self.pace)
                conn.sendall(bytes([byte]))

    def close(self):
        self.sock.close()


def test_a_receiver_slower_than_the_lease_gets_its_message_once(storage):
    """The lease ran out while a receiver trickled its answer: another dispatcher POSTed the
    message again, the first one's outcome was not recorded, and so on for ever. The running
    deliveries' claims are renewed now."""

    class ShortLease(DeliveryPolicy):
        LEASE_SLACK_SECONDS = 0.5

    # the shortest lease a message is still delivered under (the dispatcher keeps 5 s of it)
    policy = ShortLease(timeout_seconds=1.0, connect_timeout_seconds=0.5, claim_lease_seconds=7.0, poll_seconds=0.1)
    assert policy.lease_seconds == 7.0
    trickler = _Trickler(pace=0.5)  # 19 bytes: about 9.5 s
    with storage.transaction() as tx:
        enqueue_order_notification(tx, ended_order("failed", trickler.url))
    dispatchers = [NotificationDispatcher(storage, policy=policy).start() for _ in range(2)]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and storage.list_notifications()[0].delivered_at is None:
            time.sleep(0.2)
        time.sleep(1)
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        trickler.close()
    [message] = storage.list_notifications()
    assert message.delivered_at is not None and message.attempts == 0
    assert trickler.posts == 1
