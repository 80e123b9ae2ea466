"""Workers start a queued order at once instead of at their next poll (issue 12 item 6).

With ``proseo.production.poll_seconds = 30`` an order submitted through HTTP must complete
within a few seconds: on SQLite and PostgreSQL by the web process's in-process worker (the
storage's in-process signal), and on PostgreSQL by a worker pool with its own storage and
engine, which only ``LISTEN``/``NOTIFY`` can wake. Each order is submitted while the worker is
idle (it has run the previous one, or had time for its first look at the empty queue), so
without a wake-up it would wait its 30 s poll.
"""
from __future__ import annotations

import time

import pytest
import requests
from enginekit import L1C_NAME, add_input, make_settings, order_body, set_up
from live_server import serve_wsgi

from proseo_odata.model import OrderStatus, ProductionOrder, Role, User, hash_password
from proseo_odata.production.engine import WorkerPool
from proseo_odata.storage.sqlalchemy import load_from_config

ODIP = "/proseo/odip/odata/v1"
POLL = "30"
#: Seconds an order may take from submission to completed (the poll alone would take 30).
BOUND = 8.0


def _settings(db_url, tmp_path, workers: int):
    return make_settings(
        db_url, tmp_path,
        **{"proseo.storage.backend": "proseo_odata.storage.sqlalchemy", "proseo.default_mission": "DEMO",
           "proseo.workers": str(workers), "proseo.production.poll_seconds": POLL,
           "proseo.production.lease_seconds": "30", "proseo.notify.dispatcher": "false"},
    )


def _submit_and_time(base: str, count: int = 2) -> list[float]:
    """Submit ``count`` orders one after the other; seconds from each submission to completed."""
    session = requests.Session()
    session.auth = ("DEMO\\demo", "demo")
    took = []
    for _ in range(count):
        time.sleep(0.5)  # the worker is idle and waiting (its first look at the queue is done)
        started = time.monotonic()
        created = session.post(f"{base}{ODIP}/ProductionOrders", json=order_body(reference=L1C_NAME), timeout=30)
        assert created.status_code == 201, created.text
        order_id = created.json()["Id"]
        while True:
            status = session.get(f"{base}{ODIP}/ProductionOrders({order_id})", timeout=30).json()["Status"]
            elapsed = time.monotonic() - started
            if status in ("completed", "failed", "cancelled"):
                break
            assert elapsed < BOUND, f"order {order_id} still {status} after {elapsed:.1f} s (poll interval {POLL} s)"
            time.sleep(0.02)
        assert status == "completed"
        took.append(elapsed)
    return took


def _prepare(settings):
    storage, archive = set_up(settings)
    add_input(storage, archive)
    storage.add_user(User("DEMO", "demo", hash_password("demo"), frozenset({Role.ODIP_USER, Role.PRIP_USER})))
    return storage, archive


def test_in_process_worker_starts_an_http_order_at_once(db_url, tmp_path):
    from proseo_odata_web import main

    settings = _settings(db_url, tmp_path, workers=1)
    storage, _archive = _prepare(settings)
    app = main({}, **settings)
    pool = app.registry.proseo_workers
    try:
        with serve_wsgi(app) as base:
            took = _submit_and_time(base)
    finally:
        pool.stop(10)
        app.registry.storage.close()
        storage.close()
    assert max(took) < BOUND


@pytest.mark.postgresql
def test_worker_of_another_storage_is_woken_by_notify(migrated_pg_url, tmp_path):
    """The web process has no worker; the pool runs on its own engine (as `proseo-odata worker`
    does in its own process), so only PostgreSQL's NOTIFY reaches it."""
    from proseo_odata_web import main

    settings = _settings(migrated_pg_url, tmp_path, workers=0)
    storage, archive = _prepare(settings)
    worker_storage = load_from_config(settings)
    pool = WorkerPool(settings, worker_storage, archive, threads=1, dispatcher=False).start()
    app = main({}, **settings)
    assert app.registry.proseo_workers is None
    try:
        deadline = time.monotonic() + 10
        while not worker_storage.order_signal.listening:
            assert time.monotonic() < deadline, "the worker's LISTEN connection did not come up"
            time.sleep(0.05)
        with serve_wsgi(app) as base:
            took = _submit_and_time(base)
    finally:
        pool.stop(10)
        app.registry.storage.close()
        worker_storage.close()
        storage.close()
    assert max(took) < BOUND


def test_signal_wakes_after_commit_only(db_url, tmp_path):
    """A queued order wakes waiters when its transaction commits, never on rollback; an order
    that is not queued (or another write) wakes nobody."""
    storage, _archive = _prepare(_settings(db_url, tmp_path, workers=0))
    workflow = storage.list_workflows("DEMO")[0]
    signal = storage.order_signal

    def order(status=OrderStatus.QUEUED):
        return ProductionOrder(mission="DEMO", workflow_id=workflow.id, workflow_name=workflow.name,
                               owner="demo", status=status)

    try:
        signal.listen()  # PostgreSQL: this process's LISTEN too (it wakes once when it is up)
        deadline = time.monotonic() + 10
        while storage.dialect == "postgresql" and not signal.listening:
            assert time.monotonic() < deadline, "the LISTEN connection did not come up"
            time.sleep(0.05)
        time.sleep(0.2)
        seen = signal.generation
        with pytest.raises(RuntimeError):
            with storage.transaction() as tx:
                tx.add_order(order())
                raise RuntimeError("rolled back")
        assert not signal.wait(seen, 0.3), "woken by a rolled-back order"
        with storage.transaction() as tx:
            tx.add_order(order())
            assert signal.generation == seen, "woken before the commit"
        assert signal.generation > seen
        time.sleep(0.3)  # PostgreSQL: its NOTIFY comes back through the listener too
        seen = signal.generation
        storage.add_order(order(OrderStatus.CANCELLED))
        storage.add_user(User("DEMO", "other", hash_password("x"), frozenset({Role.ODIP_USER})))
        assert not signal.wait(seen, 0.3)
    finally:
        storage.close()
