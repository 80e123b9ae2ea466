"""``initialize_schema`` (what ``proseo-odata initdb`` runs) lifts both bounds on a statement's
time, the server's ``statement_timeout`` and the client's deadline (``storage/watchdog.py``): a
migration's backfill or index build on a large catalogue runs for minutes (migration 0010's
backfill: minutes at a million products). Before, the client dropped the connection
``statement_timeout`` + 5 s in, ``initdb`` failed, and the server went on with the orphaned
``UPDATE`` holding its lock on ``products``. Every other connection keeps both bounds."""
import pytest
from alembic import command

from proseo_odata.storage import watchdog
from proseo_odata.storage.errors import DatabaseUnavailableError
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

pytestmark = pytest.mark.postgresql

#: longer than the server's timeout and the client's deadline below
SLOW = "SELECT pg_sleep(1.5)"


@pytest.fixture
def storage(migrated_pg_url, monkeypatch):
    monkeypatch.setattr(watchdog, "GRACE_SECONDS", 0.3)
    storage = SQLAlchemyStorage.from_url(migrated_pg_url, statement_timeout=0.3)  # the client gives up 0.6 s in
    yield storage
    storage.close()


def test_an_ordinary_connection_keeps_both_bounds(storage):
    with pytest.raises(DatabaseUnavailableError):  # the server cancels it (statement_timeout)
        with storage.engine.begin() as connection:
            connection.exec_driver_sql(SLOW)
    fired = watchdog.WATCHDOG.fired
    with pytest.raises(DatabaseUnavailableError):  # the server's bound lifted: the client's ends it
        with storage.engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            connection.exec_driver_sql(SLOW)
    assert watchdog.WATCHDOG.fired > fired


def test_migrations_run_past_both_bounds(storage, monkeypatch):
    ran = []

    def slow_upgrade(config, revision):
        config.attributes["connection"].exec_driver_sql(SLOW)
        ran.append(revision)

    monkeypatch.setattr(command, "upgrade", slow_upgrade)
    fired = watchdog.WATCHDOG.fired
    storage.initialize_schema()
    assert ran == ["head"] and watchdog.WATCHDOG.fired == fired
    with pytest.raises(DatabaseUnavailableError):  # the engine's other connections are still bounded
        with storage.engine.begin() as connection:
            connection.exec_driver_sql(SLOW)
