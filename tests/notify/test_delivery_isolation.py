"""Isolated delivery (issue 10 item 5): a receiver that accepts connections and never answers holds
only its own delivery slots, for its read timeout; another endpoint's notifications go through
at once. Transient database errors while recording an outcome are retried, not recorded as a
delivery failure. Real HTTP receivers on 127.0.0.1; SQLite and PostgreSQL."""
import contextlib
import logging
import select
import socket
import threading
import time

import pytest
from sqlalchemy import exc as sa_exc

from proseo_odata.model import Mission
from proseo_odata.notify.delivery import DeliveryPolicy, NotificationDispatcher
from proseo_odata.storage.sqlalchemy import load_from_config
from proseo_odata.storage.errors import describe, is_transient

from live_server import Receiver, free_port


class HangingReceiver:
    """Accepts TCP connections on 127.0.0.1 and never answers (reads and holds them)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hang"
        self.max_open = 0
        self.accepted = 0
        self._held = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        while not self._closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            holder = threading.Thread(target=self._hold, args=(conn,), daemon=True)
            with self._lock:
                self.accepted += 1
                # Counted when a connection arrives, from what the kernel already holds: a
                # connection the client closed is at end of file now, even if its holder thread
                # has not been scheduled yet to see it (that lag made a count from the threads
                # report three connections held while the client held two).
                self._held = {held for held in self._held if not self._client_closed(held)}
                self._held.add(conn)
                self.max_open = max(self.max_open, len(self._held))
                self._threads.append(holder)
            holder.start()

    @staticmethod
    def _client_closed(conn):
        try:
            readable, _, _ = select.select([conn], [], [], 0)
            return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True  # closed by its holder thread

    def _hold(self, conn):
        try:
            conn.settimeout(0.2)
            while not self._closing.is_set():
                try:
                    if conn.recv(65536) == b"":
                        break  # the client gave up (its read timeout)
                except socket.timeout:
                    continue
                except OSError:
                    break
        finally:
            with self._lock:
                self._held.discard(conn)
                conn.close()

    def close(self):
        """Stop accepting and holding; every thread of the receiver has ended on return (a
        close() alone does not wake a thread blocked in accept(): shutdown() does)."""
        self._closing.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
        assert not any(thread.is_alive() for thread in threads), "a receiver thread did not stop"


@pytest.fixture
def storage(db_url):
    storage = load_from_config({"proseo.storage.url": db_url})
    storage.initialize_schema()
    storage.add_mission(Mission("M1"))
    yield storage
    storage.close()


def _one_url(url: str, i: int) -> str:
    return url


def _url_per_message(url: str, i: int) -> str:
    """One server behind one URL per subscription (``.../hang/<n>``, ``HTTP://...``): lanes were
    counted per URL text, so six URLs of one hanging server took all four lanes and the other
    receiver waited for the read timeouts."""
    return f"{url.replace('http://', 'HTTP://') if i % 2 else url}/{i}"


@pytest.mark.parametrize("hanging_url", [_one_url, _url_per_message])
def test_a_hanging_receiver_does_not_delay_another_endpoint(storage, hanging_url):
    port = free_port()
    hanging, fast = HangingReceiver(), Receiver(port)
    fast_url = f"http://127.0.0.1:{port}/fast"
    # The hanging receiver's read timeout is long enough for a margin between a slow machine and
    # waiting for it: under the whole suite on two cores, with a 2 s timeout, the fast endpoint
    # once took 3.1 s (alone, or beside three busy loops, it takes 0.06-0.13 s).
    policy = DeliveryPolicy(poll_seconds=0.1, timeout_seconds=5.0, connect_timeout_seconds=1.0,
                            concurrency=4, per_endpoint=2, retry_base_seconds=60)
    dispatcher = NotificationDispatcher(storage, policy=policy)
    try:
        # The hanging endpoint's messages are older: they are claimed first.
        for i in range(6):
            storage.enqueue_notification("order", hanging_url(hanging.url, i), None, None, {"n": f"h{i}"})
        for i in range(10):
            storage.enqueue_notification("order", fast_url, None, None, {"n": f"f{i}"})
        started = time.monotonic()
        dispatcher.start()
        deadline = started + 10
        while len(fast.received) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        fast_done = time.monotonic() - started
        assert len(fast.received) == 10
        # Before the hanging receiver's first read timeout (5 s): nothing waited for it.
        assert fast_done < 4.0, f"the fast endpoint waited {fast_done:.1f} s"
        assert hanging.max_open <= 2  # per-receiver slots: at most 2 connections held
        # After one read timeout the first two hanging messages are recorded as failed (to be
        # retried later) and the next two are tried.
        while time.monotonic() < started + 12:
            failed = [m for m in storage.list_notifications(undelivered_only=True) if m.attempts]
            if len(failed) >= 2 and hanging.accepted >= 3:
                break
            time.sleep(0.05)
        assert len(failed) >= 2 and all("Timeout" in m.last_error for m in failed)
        assert hanging.accepted >= 3 and hanging.max_open <= 2
    finally:
        hanging.close()
        dispatcher.stop(timeout=5)
        fast.close()


def test_run_once_delivers_concurrently_with_bounded_time(storage):
    """A round with slow (0.3 s) receivers on four endpoints takes about one delivery's time,
    not the sum (the old dispatcher POSTed one message after another)."""
    ports = [free_port() for _ in range(4)]
    receivers = [Receiver(port, delay=0.3) for port in ports]
    try:
        for port in ports:
            for _ in range(2):
                storage.enqueue_notification("order", f"http://127.0.0.1:{port}/n", None, None, {})
        dispatcher = NotificationDispatcher(storage, policy=DeliveryPolicy(concurrency=8, per_endpoint=2, timeout_seconds=5))
        started = time.monotonic()
        assert dispatcher.run_once() == 8
        elapsed = time.monotonic() - started
        assert elapsed < 1.5, f"8 deliveries of 0.3 s took {elapsed:.2f} s"  # sequential: >= 2.4 s
        assert sorted(len(r.received) for r in receivers) == [2, 2, 2, 2]
        dispatcher.stop()
    finally:
        for r in receivers:
            r.close()


class FlakyStorage:
    """The real storage, whose outcome-recording calls fail with a dropped connection the first
    ``failures`` times (as when PostgreSQL's backend is terminated)."""

    def __init__(self, storage, failures):
        self._storage = storage
        self.failures = failures
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self._storage, name)

    def _flaky(self, method, *args, **kwargs):
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise sa_exc.OperationalError(
                "UPDATE outbox SET password='PWX-333-topsecret'", {"password": "PWX-333-topsecret"},
                ConnectionError("server closed the connection unexpectedly"), connection_invalidated=True,
            )
        return method(*args, **kwargs)

    def mark_notification_delivered(self, *args, **kwargs):
        return self._flaky(self._storage.mark_notification_delivered, *args, **kwargs)

    def record_notification_failure(self, *args, **kwargs):
        return self._flaky(self._storage.record_notification_failure, *args, **kwargs)


def test_a_dropped_connection_while_recording_is_retried_not_a_failure(storage, caplog):
    port = free_port()
    receiver = Receiver(port)
    try:
        message = storage.enqueue_notification("order", f"http://127.0.0.1:{port}/n", "u", "PWX-333-topsecret", {})
        flaky = FlakyStorage(storage, failures=2)
        with caplog.at_level(logging.INFO):
            assert NotificationDispatcher(flaky, policy=DeliveryPolicy()).run_once() == 1
        stored = storage.get_notification(message.id)
        assert stored.delivered_at is not None and stored.attempts == 0 and stored.last_error is None
        assert len(receiver.received) == 1  # POSTed once: the recording was retried, not the POST
        assert flaky.calls == 3
        assert "transient database error OperationalError" in caplog.text
        assert "PWX-333" not in caplog.text and "UPDATE" not in caplog.text
    finally:
        receiver.close()


def test_transient_classification():
    dropped = sa_exc.OperationalError("SELECT 1", {}, ConnectionError("gone"), connection_invalidated=True)
    assert is_transient(dropped) and describe(dropped) == "OperationalError (ConnectionError)"

    class Deadlock(Exception):
        sqlstate = "40P01"

    class Unique(Exception):
        sqlstate = "23505"

    assert is_transient(sa_exc.OperationalError("x", {}, Deadlock()))
    assert not is_transient(sa_exc.IntegrityError("x", {}, Unique()))
    assert describe(sa_exc.IntegrityError("INSERT secret", {"p": "secret"}, Unique())) == "IntegrityError (Unique, 23505)"
    assert not is_transient(ValueError("x"))
