"""The order listener thread (:mod:`proseo_odata.storage.order_signal`) on database errors: it
logs one line (:func:`~proseo_odata.storage.errors.describe`) and keeps retrying, and a
connection it took out of the pool is closed when setting it up fails."""
from __future__ import annotations

import logging
import time

import psycopg
import pytest
import sqlalchemy as sa

from proseo_odata.storage.order_signal import OrderSignal, _Listener


def test_listener_survives_an_unreachable_database(caplog):
    """Nothing listens on port 1: every connect fails; the thread logs the describe() line once
    and keeps retrying instead of dying."""
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    attempts = []
    sa.event.listen(engine, "do_connect", lambda *args: attempts.append(time.monotonic()))
    signal = OrderSignal(engine, retry_seconds=0.05)
    caplog.set_level(logging.INFO, logger="proseo_odata.storage.order_signal")
    try:
        signal.listen()
        deadline = time.monotonic() + 5
        while len(attempts) < 3:
            assert time.monotonic() < deadline, f"the listener stopped retrying after {len(attempts)} attempt(s)"
            time.sleep(0.02)
        listener = signal._listener
        assert listener is not None and listener._thread.is_alive()
        assert not signal.listening
    finally:
        signal.close()
        engine.dispose()
    lines = [r.getMessage() for r in caplog.records if r.name == "proseo_odata.storage.order_signal"]
    # One line for the whole outage, describe()'s (class names, no server text).
    assert len(lines) == 1 and lines[0].startswith("order listener: OperationalError"), lines
    assert lines[0].endswith("; workers poll until it reconnects") and "127.0.0.1" not in lines[0], lines


class _Connection:
    def __init__(self, fail_on: str):
        self.fail_on = fail_on
        self.closed = False
        self.autocommit = False

    def rollback(self):
        if self.fail_on == "rollback":
            raise psycopg.OperationalError("server closed the connection")

    def execute(self, statement):
        if self.fail_on == "listen":
            raise psycopg.OperationalError("server closed the connection")

    def close(self):
        self.closed = True


class _Pooled:
    def __init__(self, connection):
        self.driver_connection = connection
        self.detached = False

    def detach(self):
        self.detached = True


class _Engine:
    def __init__(self, connection):
        self.pooled = _Pooled(connection)

    def raw_connection(self):
        return self.pooled


@pytest.mark.parametrize("fail_on", ["rollback", "listen"])
def test_failed_listen_setup_closes_the_detached_connection(fail_on):
    connection = _Connection(fail_on)
    engine = _Engine(connection)
    listener = _Listener(engine, OrderSignal(), retry_seconds=0.05)
    with pytest.raises(psycopg.OperationalError):
        listener._connect()
    assert engine.pooled.detached
    assert connection.closed, "the detached connection leaked"
