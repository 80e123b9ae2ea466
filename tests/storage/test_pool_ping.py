"""The PostgreSQL pool's checkout ping (issue 12 item 6, ``create_engine(pool_ping_idle=...)``):
a connection returned moments ago is used without a ping (no round trip per request on a healthy
pool); one idle longer than ``pool_ping_idle`` is pinged and replaced when the server dropped it."""
import time

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from proseo_odata.storage.sqlalchemy import create_engine

pytestmark = pytest.mark.postgresql


def _drop_backend(pg_server_url, pid):
    admin = make_url(pg_server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    time.sleep(0.2)  # the backend has gone


def _backend_pid(engine):
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()


def test_the_pool_hands_out_the_connection_used_last(migrated_pg_url):
    engine = create_engine(migrated_pg_url, pool_ping_idle=30)
    try:
        assert len({_backend_pid(engine) for _ in range(20)}) == 1  # LIFO: the rest may idle out
    finally:
        engine.dispose()


@pytest.mark.parametrize("ping_idle,idle", [(0, 0), (0.3, 0.3)], ids=["every checkout", "after idling"])
def test_a_pinged_connection_is_replaced_when_dropped(migrated_pg_url, pg_server_url, ping_idle, idle):
    """``pool_ping_idle = 0`` pings at every checkout; otherwise a connection idle that long is
    pinged: either way a dropped connection is replaced before the request sees it."""
    engine = create_engine(migrated_pg_url, pool_ping_idle=ping_idle)
    try:
        first = _backend_pid(engine)
        _drop_backend(pg_server_url, first)
        time.sleep(idle)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def test_a_connection_dropped_moments_ago_fails_once_and_the_pool_recovers(migrated_pg_url, pg_server_url):
    """The price of no ping (documented): the first statement on it fails; the next checkout
    gets a new connection."""
    engine = create_engine(migrated_pg_url, pool_ping_idle=30)
    try:
        first = _backend_pid(engine)
        _drop_backend(pg_server_url, first)
        with pytest.raises(sa.exc.OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def test_a_pinged_connection_serves_read_only_sessions(migrated_pg_url):
    """The ping leaves the connection outside a transaction: a read-only session (autocommit on
    PostgreSQL, the web layer's GET requests) can use it. A ``SELECT 1`` in a transaction of
    its own left it INTRANS, and switching it to autocommit failed ("can't change
    'autocommit' now")."""
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    storage = SQLAlchemyStorage(create_engine(migrated_pg_url, pool_ping_idle=0))  # a ping at every checkout
    try:
        for _ in range(3):
            with storage.read_session_factory() as session:
                assert session.execute(sa.text("SELECT 1")).scalar() == 1
            assert storage.list_missions() == []  # and the writers' sessions after it
    finally:
        storage.close()
