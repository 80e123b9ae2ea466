"""The requeue-or-fail policy of orders whose worker was lost (proseo_odata/production/queue.py),
the same for every backend: it runs on the storage contract's primitives (``expired_orders``,
``release_expired_order``), here on the SQLAlchemy backend (SQLite, and PostgreSQL with
``--postgresql``)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from proseo_odata.model import Mission, OrderStatus
from proseo_odata.production import queue
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import T0, make_order


@pytest.fixture
def storage(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    storage.initialize_schema()
    storage.add_mission(Mission("M1"))
    storage.add_mission(Mission("M2"))
    yield storage
    storage.close()


def test_requeue_expired_orders_then_fail_them(storage, caplog):
    order = storage.add_order(make_order())
    waiting = storage.add_order(make_order("M2", priority=1))  # queued: never touched
    storage.claim_next_order("lost", 10, T0)
    assert queue.requeue_expired(storage, now=T0 + timedelta(seconds=10), max_attempts=2) == []  # not yet expired
    [requeued] = queue.requeue_expired(storage, now=T0 + timedelta(seconds=11), max_attempts=2)
    assert requeued.id == order.id and requeued.status is OrderStatus.QUEUED and requeued.attempts == 1
    assert requeued.worker_id is None and requeued.lease_expires_at is None
    assert requeued.status_message == "request is queued for processing" and requeued.completed_date is None
    assert storage.get_order("M1", order.id) == requeued
    assert storage.renew_order_lease(order.id, "lost", 10, T0 + timedelta(seconds=12)) is False
    assert queue.requeue_expired(storage, now=T0 + timedelta(minutes=5), max_attempts=2) == []  # queued ones stay
    assert storage.claim_next_order("second", 10, T0 + timedelta(seconds=20)).id == order.id
    now = T0 + timedelta(seconds=31)
    [failed] = queue.requeue_expired(storage, now=now, max_attempts=2)
    assert failed.status is OrderStatus.FAILED and failed.attempts == 2 and failed.completed_date == now
    # a neutral text for clients: no host name nor pid (the worker's id goes to the log only)
    assert failed.status_message == "production has failed: the worker was lost 2 time(s); attempts exhausted"
    assert "lease of worker second expired; now failed" in caplog.text
    assert failed.status_message.startswith("production has failed")
    assert storage.get_order("M1", order.id) == failed
    assert storage.get_order("M2", waiting.id).status is OrderStatus.QUEUED


def test_a_failing_on_failed_rolls_the_recovery_back(storage):
    order = storage.add_order(make_order())
    storage.claim_next_order("lost", 10, T0)

    def on_failed(tx, failed):
        assert failed.id == order.id and tx.get_order("M1", order.id).status is OrderStatus.FAILED
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        queue.requeue_expired(storage, now=T0 + timedelta(minutes=1), max_attempts=1, on_failed=on_failed)
    stored = storage.get_order("M1", order.id)
    assert stored.status is OrderStatus.IN_PROGRESS and stored.worker_id == "lost" and stored.attempts == 0
