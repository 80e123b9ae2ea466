"""Issue 10 item 7: waits on PostgreSQL are bounded. A statement stuck behind a lock that another
session holds is cancelled by ``proseo.storage.statement_timeout`` and answered 503 (the OData
error body, ``Retry-After``) within a bounded time; a server that accepts connections but never
answers (a frozen postmaster) fails a connection attempt after ``proseo.storage.connect_timeout``,
as a transient error the web layer answers with 503 and the workers retry."""
import socket
import threading
import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from netfaults import FreezableProxy
from prip_helpers import PRIP, basic, make_app, served_app
from proseo_odata.storage import load_storage
from proseo_odata.storage.errors import is_transient

pytestmark = pytest.mark.postgresql


@pytest.fixture
def db_url(migrated_pg_url):  # PostgreSQL only (overrides the parametrised fixture)
    return migrated_pg_url


def test_a_statement_behind_a_held_lock_is_a_bounded_503(app_settings, catalogue, db_url):
    with served_app({**app_settings, "proseo.storage.statement_timeout": "1"}) as app:
        app.get(f"{PRIP}/Products", headers=basic("alice"), status=200)
        libpq = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(libpq) as holder:
            holder.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")  # held until the block ends
            started = time.monotonic()
            response = app.get(f"{PRIP}/Products", headers=basic("alice"), status=503)
            elapsed = time.monotonic() - started
            holder.rollback()
        assert elapsed < 6, f"503 after {elapsed:.1f} s"
        assert response.headers["Retry-After"] and response.json["error"]["message"]
        assert "[SQL" not in response.text and "LOCK" not in response.text
        app.get(f"{PRIP}/Products", headers=basic("alice"), status=200)  # the lock is gone: served again


@pytest.fixture
def frozen_server():
    """A TCP listener on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_server_that_never_answers_fails_within_the_connect_timeout(frozen_server):
    storage = load_storage({
        "proseo.storage.url": f"postgresql+psycopg://proseo:secret@127.0.0.1:{frozen_server}/proseo",
        "proseo.storage.connect_timeout": "2",
    })
    try:
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            storage.list_missions()
        elapsed = time.monotonic() - started
    finally:
        storage.close()
    assert elapsed < 8, f"failed only after {elapsed:.1f} s"
    assert is_transient(raised.value)  # the web layer answers 503 for exactly these


def test_timeouts_are_settings_with_defaults(db_url):
    import sqlalchemy as sa

    from proseo_odata.storage.errors import StorageError
    from proseo_odata.storage.sqlalchemy import load_from_config

    for settings, shown in (({}, "30s"), ({"proseo.storage.statement_timeout": "2.5"}, "2500ms"),
                            ({"proseo.storage.statement_timeout": "0"}, "0")):
        storage = load_from_config({"proseo.storage.url": db_url, **settings})
        try:
            with storage.engine.connect() as connection:
                assert connection.execute(sa.text("SHOW statement_timeout")).scalar() == shown
            assert storage.engine.pool.timeout() == 10
        finally:
            storage.close()
    with pytest.raises(StorageError, match="proseo.storage.statement_timeout"):
        load_from_config({"proseo.storage.url": "sqlite://", "proseo.storage.statement_timeout": "soon"})


def test_a_frozen_server_is_a_bounded_503_and_service_resumes(app_settings, catalogue, db_url, monkeypatch):
    from proseo_odata.storage import watchdog

    monkeypatch.setattr(watchdog, "GRACE_SECONDS", 1.0)
    url = make_url(db_url)
    proxy = FreezableProxy(url.port)
    fired = watchdog.WATCHDOG.fired
    app = make_app({**app_settings, "proseo.storage.url": url.set(port=proxy.port).render_as_string(hide_password=False),
                    "proseo.storage.statement_timeout": "1", "proseo.storage.connect_timeout": "2"})
    try:
        app.get(f"{PRIP}/Products", headers=basic("alice"), status=200)
        proxy.freeze()
        for _ in range(2):  # a pooled connection (its ping times out), then with new connections too
            started = time.monotonic()
            response = app.get(f"{PRIP}/Products", headers=basic("alice"), status=503)
            elapsed = time.monotonic() - started
            assert elapsed < 12, f"503 after {elapsed:.1f} s"
            assert response.headers["Retry-After"] and "[SQL" not in response.text
        assert watchdog.WATCHDOG.fired > fired
        proxy.frozen.clear()
        app.get(f"{PRIP}/Products", headers=basic("alice"), status=200)
    finally:
        proxy.frozen.clear()
        app.app.registry.storage.close()
        proxy.close()
