"""Issue 10 item 1: a transient database failure inside an order's run is retried (the order
returns to ``queued``, its attempts not counted: the budget of lost workers and service faults
stays whole), never turned into ``failed``; only the processor's own
failure fails an order; no status message, notification or log line carries SQL, bound parameters
or the notification password.

The failures are real: a statement on a PostgreSQL connection whose backend was terminated
(``pg_terminate_backend``), SQLite's "database is locked" from a writer holding the lock. They are
raised at a chosen step of the run (publishing the output) so that the outcome is deterministic;
``test_connection_drops.py`` drops the connections of real worker processes under load.
"""
import logging
import sqlite3
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from enginekit import add_input, make_settings, order_body, set_up
from proseo_odata.model import OrderStatus
from proseo_odata.orders.service import submit_order
from proseo_odata.model.statemachine import MESSAGE_FAILED, MESSAGE_QUEUED
from proseo_odata.production.engine import REASON_SERVICE_FAULT, Worker
from proseo_odata.storage.errors import describe, is_transient
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage, create_engine

PASSWORD = "PWX-333-topsecret"


def real_transient_error(url: str) -> sa.exc.OperationalError:
    """A genuine transient failure of a statement that binds the password as a parameter."""
    statement = sa.text("SELECT :secret AS value")
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("CREATE TABLE IF NOT EXISTS lock_probe (x TEXT)")
        holder.execute("BEGIN EXCLUSIVE")
        try:
            engine = sa.create_engine(url, hide_parameters=True, connect_args={"timeout": 0})
            with engine.connect() as connection:
                try:
                    connection.execute(sa.text("INSERT INTO lock_probe VALUES (:secret)"), {"secret": PASSWORD})
                except sa.exc.OperationalError as exc:
                    return exc
            raise AssertionError("SQLite did not report the lock")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            engine.dispose()
    engine = create_engine(url)
    admin = create_engine(url)
    try:
        with engine.connect() as connection:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with admin.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            try:
                connection.execute(statement, {"secret": PASSWORD})
            except sa.exc.OperationalError as exc:
                return exc
        raise AssertionError("the terminated connection still answered")
    finally:
        engine.dispose()
        admin.dispose()


@pytest.fixture
def env(db_url, tmp_path):
    settings = make_settings(db_url, tmp_path)
    storage, archive = set_up(settings)
    add_input(storage, archive)
    yield settings, storage, archive
    storage.close()


def submit(storage):
    with storage.transaction() as tx:
        return submit_order(tx, order_body(NotificationEndpoint="http://127.0.0.1:9/hook", NotificationEpUsername="hook",
                                           NotificationEpPassword=PASSWORD), mission="DEMO", owner="demo")


def assert_nothing_leaked(storage, caplog, order_id):
    order = storage.get_order("DEMO", order_id)
    texts = [order.status_message, caplog.text]
    for message in storage.list_notifications():
        texts += [repr(message.payload), message.last_error or ""]
    for text in texts:
        assert PASSWORD not in text
        assert "[SQL" not in text and "SELECT" not in text and "INSERT" not in text


def test_the_injected_error_is_real_transient_and_hides_its_parameters(db_url):
    error = real_transient_error(db_url)
    assert is_transient(error)
    assert "[SQL" in str(error)  # what an exception's text shows (and a status message must not)
    assert PASSWORD not in str(error)  # hide_parameters=True
    assert "[SQL" not in describe(error) and PASSWORD not in describe(error)


def test_transient_failure_while_publishing_requeues_then_completes(env, monkeypatch, caplog):
    settings, storage, archive = env
    error = real_transient_error(settings["proseo.storage.url"])
    order = submit(storage)
    original = SQLAlchemyStorage.add_product
    calls = {"n": 0}

    def flaky_add_product(self, product):
        calls["n"] += 1
        if calls["n"] <= 8:  # every retry of the publishing transaction fails: the run is given back
            raise error
        return original(self, product)

    monkeypatch.setattr(SQLAlchemyStorage, "add_product", flaky_add_product)
    caplog.set_level(logging.DEBUG)
    worker = Worker(storage, archive, settings)
    assert worker.run_pending(limit=1) == 1
    requeued = storage.get_order("DEMO", order.id)
    assert requeued.status is OrderStatus.QUEUED, requeued.status_message
    assert requeued.status_message == MESSAGE_QUEUED and requeued.attempts == 0
    assert requeued.worker_id is None and requeued.output_product_id is None
    assert list(archive.root.rglob("*MSIL2A*")) == []  # the unpublished output was deleted
    assert storage.list_notifications() == []  # an order given back is not notified

    assert worker.run_pending(limit=1) == 1  # the next run publishes (add_product works again)
    done = storage.get_order("DEMO", order.id)
    assert done.status is OrderStatus.COMPLETED, done.status_message
    assert done.attempts == 0
    assert "transient database failure" in caplog.text
    assert_nothing_leaked(storage, caplog, order.id)


def test_outages_do_not_spend_the_budget_of_lost_workers(env, monkeypatch):
    """Runs given back for a database outage are not attempts: after two of them, a lost worker
    and a service fault still each count one of max_attempts (3), and the order completes."""
    settings, storage, archive = env
    error = real_transient_error(settings["proseo.storage.url"])
    order = submit(storage)
    original = SQLAlchemyStorage.add_product
    worker = Worker(storage, archive, {**settings, "proseo.production.fault_pause_seconds": "0.01"})
    for _ in range(2):  # the publishing transaction fails every retry: the run is given back
        monkeypatch.setattr(SQLAlchemyStorage, "add_product", lambda self, product: (_ for _ in ()).throw(error))
        assert worker.run_pending(limit=1) == 1
        assert storage.get_order("DEMO", order.id).status is OrderStatus.QUEUED
    monkeypatch.setattr(SQLAlchemyStorage, "add_product", original)
    # a lost worker: its lease expires, recovery requeues the order, one attempt counted
    from proseo_odata.production import queue

    claimed = storage.claim_next_order("lost-worker", lease_seconds=60)
    assert claimed.id == order.id
    later = claimed.lease_expires_at + timedelta(seconds=1)
    assert [o.id for o in queue.requeue_expired(storage, now=later, max_attempts=3)] == [order.id]
    after_loss = storage.get_order("DEMO", order.id)
    assert after_loss.status is OrderStatus.QUEUED and after_loss.attempts == 1, after_loss.status_message
    # a service fault: one more attempt, still queued (3 would fail it)
    monkeypatch.setattr(archive, "put_file", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("disk full")))
    worker.run_pending(limit=1)
    after_fault = storage.get_order("DEMO", order.id)
    assert after_fault.status is OrderStatus.QUEUED and after_fault.attempts == 2, after_fault.status_message
    monkeypatch.undo()
    assert worker.run_pending(limit=1) == 1
    assert storage.get_order("DEMO", order.id).status is OrderStatus.COMPLETED


def test_an_outage_that_outlasts_the_quick_retries_but_not_the_lease_costs_no_attempt(env, monkeypatch):
    """The run hits an outage (its input's look-up fails), and the database is still away when
    the worker gives the order back: it keeps trying while its lease holds (two thirds of
    proseo.production.lease_seconds), not 3 s as before, after which lease recovery counted the
    outage as a lost worker."""
    settings, storage, archive = env
    error = real_transient_error(settings["proseo.storage.url"])
    order = submit(storage)
    original_update = SQLAlchemyStorage.update_order
    away_until = []

    def input_lookup_fails(self, *args, **kwargs):
        away_until.append(time.monotonic() + 5.0)  # 5 s more of outage: beyond the 3.3 s of quick retries
        raise error

    def update_while_away(self, order_):
        if away_until and time.monotonic() < away_until[0]:
            raise error
        return original_update(self, order_)

    monkeypatch.setattr(SQLAlchemyStorage, "get_product", input_lookup_fails)
    monkeypatch.setattr(SQLAlchemyStorage, "update_order", update_while_away)
    worker = Worker(storage, archive, {**settings, "proseo.production.lease_seconds": "12"})  # patience 8 s
    assert worker.run_pending(limit=1) == 1
    monkeypatch.undo()
    requeued = storage.get_order("DEMO", order.id)
    assert requeued.status is OrderStatus.QUEUED and requeued.attempts == 0, requeued.status_message
    assert requeued.worker_id is None
    assert worker.run_pending(limit=1) == 1
    assert storage.get_order("DEMO", order.id).status is OrderStatus.COMPLETED


def test_a_brief_failure_is_retried_inside_the_run(env, monkeypatch, caplog):
    settings, storage, archive = env
    error = real_transient_error(settings["proseo.storage.url"])
    order = submit(storage)
    original = SQLAlchemyStorage.add_product
    calls = {"n": 0}

    def once(self, product):
        calls["n"] += 1
        if calls["n"] == 1:
            raise error
        return original(self, product)

    monkeypatch.setattr(SQLAlchemyStorage, "add_product", once)
    caplog.set_level(logging.DEBUG)
    Worker(storage, archive, settings).run_pending(limit=1)
    done = storage.get_order("DEMO", order.id)
    assert done.status is OrderStatus.COMPLETED and done.attempts == 0
    assert calls["n"] == 2
    assert_nothing_leaked(storage, caplog, order.id)


def test_archive_faults_requeue_until_attempts_are_exhausted_with_a_fixed_message(env, monkeypatch, caplog):
    settings, storage, archive = env
    order = submit(storage)

    def broken_put_file(*args, **kwargs):
        raise OSError(f"No space left on device (while copying for {PASSWORD})")

    monkeypatch.setattr(archive, "put_file", broken_put_file)
    caplog.set_level(logging.INFO)
    # a pause before each requeue, doubled at each attempt (5 s, 10 s by default): the three
    # attempts ran back to back before, and a short archive outage failed the order for good
    worker = Worker(storage, archive, {**settings, "proseo.production.fault_pause_seconds": "0.4"})
    for attempt, pause in ((1, 0.4), (2, 0.8)):
        started = time.monotonic()
        worker.run_pending(limit=1)
        assert time.monotonic() - started >= pause
        current = storage.get_order("DEMO", order.id)
        assert current.status is OrderStatus.QUEUED and current.attempts == attempt
    started = time.monotonic()
    worker.run_pending(limit=1)
    assert time.monotonic() - started < 1.6  # no pause before failing
    failed = storage.get_order("DEMO", order.id)
    assert failed.status is OrderStatus.FAILED and failed.attempts == 3
    assert failed.status_message == f"{MESSAGE_FAILED}: {REASON_SERVICE_FAULT}"
    [notification] = storage.list_notifications()
    assert PASSWORD not in failed.status_message and PASSWORD not in repr(notification.payload)


def test_a_processor_bug_fails_the_order_without_the_exception_text(env, monkeypatch):
    settings, storage, archive = env
    order = submit(storage)
    from proseo_odata.production import image

    def explode(self, job, progress, cancel):
        raise RuntimeError(f"boom with {PASSWORD}")

    monkeypatch.setattr(image.ImageFormatProcessor, "run", explode)
    Worker(storage, archive, settings).run_pending(limit=1)
    failed = storage.get_order("DEMO", order.id)
    assert failed.status is OrderStatus.FAILED
    assert failed.status_message == f"{MESSAGE_FAILED}: the processor raised RuntimeError"


def test_a_worker_logs_an_outage_once_and_its_end_once(tmp_path, sqlite_url, caplog, monkeypatch):
    """During an outage the worker logged a retry WARNING four times a second (every retry of
    every round): about 15,000 lines an hour per thread."""
    import threading
    import time

    from proseo_odata.storage.errors import DatabaseUnavailableError

    settings = make_settings(sqlite_url, tmp_path)
    storage, archive = set_up(settings)
    away = threading.Event()
    away.set()
    real_claim = storage.claim_next_order
    calls = []

    def claim(*args, **kwargs):
        calls.append(time.monotonic())
        if away.is_set():
            raise DatabaseUnavailableError("the database is unavailable (OperationalError)", reason="OperationalError")
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(storage, "claim_next_order", claim)
    worker = Worker(storage, archive, settings)
    caplog.set_level(logging.DEBUG, logger="proseo_odata")
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        time.sleep(2.0)  # 0.1 s polls: some 15 rounds
        away.clear()
        time.sleep(0.5)
    finally:
        worker.stop()
        thread.join(5)
        storage.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "secrets.key" not in r.getMessage()]
    retries = [m for m in warnings if "retrying in" in m]
    assert len(calls) >= 15  # the worker kept trying, every poll
    assert len(retries) <= 7, warnings  # the first round's retries only: then it knows
    assert sum("worker" in m and "unavailable" in m for m in warnings) == 1, warnings
    assert sum("reachable again" in m for m in warnings) == 1, warnings
    assert len(warnings) == len(retries) + 2, warnings


def test_an_archive_away_is_a_service_fault_not_a_database_one(env, monkeypatch, caplog):
    """An S3 store away (ArchiveUnavailableError, an Unavailable) was taken for a transient
    database failure: requeued without pause nor limit, for ever under run_forever."""
    from proseo_odata.archive import ArchiveUnavailableError

    settings, storage, archive = env
    order = submit(storage)

    def away(*args, **kwargs):
        raise ArchiveUnavailableError("the archive cannot be reached (GetObject: EndpointConnectionError)")
        yield  # noqa: unreachable - a generator, as iter_range is

    monkeypatch.setattr(archive, "iter_range", away)
    caplog.set_level(logging.INFO)
    worker = Worker(storage, archive, {**settings, "proseo.production.fault_pause_seconds": "0.01"})
    for _ in range(4):
        worker.run_pending(limit=1)
    failed = storage.get_order("DEMO", order.id)
    assert failed.status is OrderStatus.FAILED and failed.attempts == 3
    assert f"{MESSAGE_FAILED}: {REASON_SERVICE_FAULT}" == failed.status_message
    assert "transient database failure" not in caplog.text
