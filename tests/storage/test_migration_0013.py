"""Migration 0013: every outbox message not yet delivered gets its receiver (the endpoint's
``scheme://host:port``), by which the dispatcher counts delivery lanes and claims skip busy
receivers; delivered messages keep none."""
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import command
from migration_steps import migrate

from proseo_odata.model import Mission
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

PREVIOUS = "0012_sqlite_footprint_extents"
T0 = datetime(2026, 12, 6, 12, tzinfo=timezone.utc)


def _receivers(engine) -> dict:
    with engine.connect() as connection:
        return dict(connection.exec_driver_sql("SELECT id, receiver FROM outbox").all())


def test_undelivered_messages_get_their_receiver(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.add_mission(Mission("M1"))
        waiting = [storage.enqueue_notification("order", endpoint, None, None, {}, now=T0).id
                   for endpoint in ("https://Hub.example/notify/1", "http://hub.example:8080/2?x=1", "mailto:ops@example.org")]
        done = storage.enqueue_notification("order", "https://done.example/n", None, None, {}, now=T0).id
        [claimed] = [m for m in storage.claim_due_notifications(T0, 10) if m.id == done]
        storage.mark_notification_delivered(done, claim_token=claimed.claim_token, now=T0)
        migrate(storage.engine, command.downgrade, PREVIOUS)
        assert "receiver" not in {column["name"] for column in sa.inspect(storage.engine).get_columns("outbox")}
        migrate(storage.engine, command.upgrade, "head")
        assert _receivers(storage.engine) == {
            waiting[0]: "https://hub.example:443", waiting[1]: "http://hub.example:8080",
            waiting[2]: "mailto:ops@example.org", done: None,
        }
        busy = storage.claim_due_notifications(T0 + timedelta(hours=1), 10, exclude_receivers=["https://hub.example:443"])
        assert sorted(m.id for m in busy) == waiting[1:]
    finally:
        storage.close()
