"""Notification passwords at rest (issue 10 item 2): sealed with the configured Fernet key in
orders, subscriptions and the outbox; a dump of the database (SQLite ``iterdump``, every text
column of every PostgreSQL table) never holds them; opened only to deliver (a real receiver gets
the right Basic credentials); migration 0004 seals existing rows; key rotation; missing and wrong
keys."""
import base64
import json
import logging
import sqlite3
import textwrap

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from live_server import Receiver

from proseo_odata.cli import main
from proseo_odata.model import OrderStatus, Subscription
from proseo_odata.notify.delivery import NotificationDispatcher, enqueue_order_notification
from proseo_odata.secretbox import FERNET_PREFIX, PLAIN_PREFIX, SealedSecret, SecretBox, SecretsError, generate_key
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage, load_from_config
from proseo_odata.storage.testing import make_order

ORDER_PASSWORD = "PWX-333-topsecret"
SUB_PASSWORD = "sub-Pa55-w0rd-\u00e9\u00e8"
KEY = generate_key()
OLD_KEY = generate_key()


# -- the box ------------------------------------------------------------------------------------


def test_seal_and_open_round_trip_and_never_show_the_secret():
    box = SecretBox([KEY])
    sealed = box.seal(SUB_PASSWORD)
    assert isinstance(sealed, SealedSecret) and sealed.encrypted and sealed.stored.startswith(FERNET_PREFIX)
    assert SUB_PASSWORD not in sealed.stored
    assert box.open(sealed) == SUB_PASSWORD
    assert box.seal(sealed) is sealed  # a value read from storage is written back unchanged
    assert box.seal(SUB_PASSWORD) != sealed  # a fresh IV every time
    assert SUB_PASSWORD not in repr(sealed) and SUB_PASSWORD not in str(sealed) and str(sealed) == "<sealed secret>"
    assert f"{ {'p': sealed} }" == "{'p': <sealed secret>}"  # e.g. a dict formatted into a message
    assert box.open(None) is None and box.seal(None) is None
    assert box.open("already-open") == "already-open"  # a backend that does not seal


def test_rotation_new_key_first_old_keys_still_open():
    old = SecretBox([OLD_KEY]).seal(ORDER_PASSWORD)
    rotated = SecretBox(f"{KEY}, {OLD_KEY}".split(", "))
    assert rotated.open(old) == ORDER_PASSWORD
    resealed = rotated.reseal(old)
    assert SecretBox([KEY]).open(resealed) == ORDER_PASSWORD  # now under the new key alone
    with pytest.raises(SecretsError) as caught:
        SecretBox([KEY]).open(old)  # the old key was removed before rotating: it cannot be opened
    assert ORDER_PASSWORD not in str(caught.value)


def test_no_key_stores_plain_with_a_warning_and_cannot_open_encrypted(caplog):
    with caplog.at_level(logging.WARNING, logger="proseo_odata.secretbox"):
        box = SecretBox.from_settings({})
        assert not box.has_key and "UNENCRYPTED" not in caplog.text  # opening a storage does not warn
        sealed = box.seal("pw")
        box.seal("pw2")
    assert caplog.text.count("UNENCRYPTED") == 1  # the first password stored unencrypted does, once
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="proseo_odata.secretbox"):
        copier = SecretBox.from_settings({})  # a process that only copies a stored password (the outbox)
        assert copier.to_column(SecretBox.from_column(sealed.stored)) == sealed.stored
        SecretBox([KEY]).to_column(SecretBox.from_column(sealed.stored))  # with a key: nothing to say
    assert caplog.text.count("UNENCRYPTED") == 1
    assert sealed.stored == PLAIN_PREFIX + "pw" and not sealed.encrypted and box.open(sealed) == "pw"
    with pytest.raises(SecretsError, match="not set"):
        box.open(SecretBox([KEY]).seal("pw"))


def test_bad_keys_are_refused_without_echoing_them(tmp_path):
    with pytest.raises(SecretsError, match="key 2 is not a Fernet key") as caught:
        SecretBox.from_settings({"proseo.secrets.key": f"{KEY} not-a-key-at-all"})
    assert "not-a-key-at-all" not in str(caught.value)
    with pytest.raises(SecretsError, match="cannot read"):
        SecretBox.from_settings({"proseo.secrets.key_file": str(tmp_path / "missing.keys")})
    key_file = tmp_path / "proseo.keys"
    key_file.write_text(f"# new key first\n{KEY}\n{OLD_KEY}  # old\n", encoding="utf-8")
    box = SecretBox.from_settings({"proseo.secrets.key_file": str(key_file)})
    assert box.key_count == 2 and box.open(SecretBox([OLD_KEY]).seal("x")) == "x"
    assert SecretBox([KEY]).open(box.seal("y")) == "y"  # the first line seals


# -- the storage: a dump never holds a password ------------------------------------------------------


def _dump_text(storage, db_url) -> str:
    """Everything the database holds as text: SQLite's iterdump; on PostgreSQL every text-like
    column (text, varchar, json, jsonb) of every table of the public schema."""
    if db_url.startswith("sqlite"):
        connection = sqlite3.connect(sa.engine.make_url(db_url).database)
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()
    chunks = []
    with storage.engine.connect() as connection:
        columns = connection.execute(sa.text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'json', 'jsonb')"
        )).all()
        assert len(columns) > 20  # really every text column
        for table, column in columns:
            quoted = sa.table(table, sa.column(column))
            for (value,) in connection.execute(sa.select(sa.cast(quoted.c[column], sa.Text()))):
                chunks.append(value or "")
    return "\n".join(chunks)


def _secrets_absent(text: str) -> bool:
    encoded = base64.b64encode(f"u:{ORDER_PASSWORD}".encode()).decode()
    return all(s not in text for s in (ORDER_PASSWORD, SUB_PASSWORD, SUB_PASSWORD.encode("unicode_escape").decode(), encoded))


def test_database_dump_never_holds_a_notification_password_and_delivery_opens_it(db_url):
    storage = load_from_config({"proseo.storage.url": db_url, "proseo.secrets.key": KEY})
    receiver = Receiver(path="/hook")
    try:
        storage.initialize_schema()
        from proseo_odata.model import Mission

        storage.add_mission(Mission("M1"))
        order = storage.add_order(make_order(notification_endpoint=receiver.url, notification_username="u",
                                             notification_password=ORDER_PASSWORD))
        storage.add_subscription(Subscription(
            mission="M1", owner="alice", filter_param="true", notification_endpoint=receiver.url,
            notification_username="s", notification_password=SUB_PASSWORD,
        ))
        with storage.transaction() as tx:
            loaded = tx.get_order("M1", order.id, for_update=True)
            assert isinstance(loaded.notification_password, SealedSecret)  # read back sealed
            loaded.status = OrderStatus.FAILED
            loaded.status_message = f"failed: {loaded!r} {vars(loaded)}"  # a careless message
            tx.update_order(loaded)
            enqueue_order_notification(tx, loaded)
        [message] = storage.list_notifications()
        assert isinstance(message.password, SealedSecret) and message.password.encrypted

        dump = _dump_text(storage, db_url)
        assert "fernet:" in dump and _secrets_absent(dump), "a password is in the clear in the database"

        # Decrypted only to deliver: the receiver gets the real credentials.
        assert NotificationDispatcher(storage, {"proseo.notify.timeout_seconds": "5"}).run_once() == 1
        assert [r["auth"] for r in receiver.received] == ["Basic " + base64.b64encode(f"u:{ORDER_PASSWORD}".encode()).decode()]
        assert _secrets_absent(_dump_text(storage, db_url))

        # The same database with a wrong key: delivery is not attempted; the reason has no secret.
        other = load_from_config({"proseo.storage.url": db_url, "proseo.secrets.key": OLD_KEY})
        try:
            with other.transaction() as tx:
                enqueue_order_notification(tx, tx.get_order("M1", order.id))
            assert NotificationDispatcher(other, {}).run_once() == 0
            failed = other.list_notifications(undelivered_only=True)[0]
            assert failed.attempts == 1 and "cannot be decrypted" in failed.last_error
            assert _secrets_absent(failed.last_error) and len(receiver.received) == 1
        finally:
            other.close()
    finally:
        receiver.close()
        storage.close()


# -- migration 0004 and rotation -----------------------------------------------------------------


def _ini(tmp_path, db_url, keys):
    ini = tmp_path / "site.ini"
    ini.write_text(textwrap.dedent(f"""\
        [app:main]
        use = egg:proseo-odata
        proseo.storage.url = {db_url.replace('%', '%%')}
        proseo.secrets.key = {' '.join(keys)}
        proseo.archive.backend = proseo_odata.archive.local
        proseo.archive.path = %(here)s/archive
        """), encoding="utf-8")
    return ini


def test_migration_0004_seals_existing_passwords_and_rotation_reseals(tmp_path, sqlite_url):
    from alembic import command
    from migration_steps import migration_config

    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:
        config = migration_config(connection)
        command.upgrade(config, "0003_outbox_claim_token")
        connection.execute(sa.text("INSERT INTO missions (code, name) VALUES ('M1', '')"))
        connection.execute(sa.text(
            "INSERT INTO outbox (kind, endpoint, username, password, payload, created_at, attempts) "
            "VALUES ('order', 'http://127.0.0.1:9/x', 'u', :pw, '{}', '2026-01-01T00:00:00.000000', 0)"
        ), {"pw": ORDER_PASSWORD})
    engine.dispose()
    assert ORDER_PASSWORD in _dump_text(None, sqlite_url)

    runner = CliRunner()
    ini = _ini(tmp_path, sqlite_url, [OLD_KEY])
    result = runner.invoke(main, ["-c", str(ini), "initdb"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert _secrets_absent(_dump_text(None, sqlite_url))
    storage = SQLAlchemyStorage.from_url(sqlite_url, secrets=SecretBox([OLD_KEY]))
    try:
        assert storage.secrets.open(storage.list_notifications()[0].password) == ORDER_PASSWORD
    finally:
        storage.close()

    # Rotation: the new key first, the old one after it; rotate; then the new key alone opens.
    ini = _ini(tmp_path, sqlite_url, [KEY, OLD_KEY])
    result = runner.invoke(main, ["-c", str(ini), "secrets", "rotate"], catch_exceptions=False)
    assert result.exit_code == 0 and "resealed 1" in result.output, result.output
    storage = SQLAlchemyStorage.from_url(sqlite_url, secrets=SecretBox([KEY]))
    try:
        assert storage.secrets.open(storage.list_notifications()[0].password) == ORDER_PASSWORD
    finally:
        storage.close()
    # A key set that opens nothing: rotate says so and fails, and changes nothing.
    ini = _ini(tmp_path, sqlite_url, [generate_key()])
    result = runner.invoke(main, ["-c", str(ini), "secrets", "rotate"])
    assert result.exit_code == 1 and "cannot be opened" in result.output and ORDER_PASSWORD not in result.output
    # A malformed key is a one-line CLI error that does not echo the key.
    ini = _ini(tmp_path, sqlite_url, ["garbage-key-text"])
    result = runner.invoke(main, ["-c", str(ini), "secrets", "rotate"])
    assert result.exit_code == 1 and "not a Fernet key" in result.output and "garbage-key-text" not in result.output


def test_generate_key_prints_a_usable_key(tmp_path, sqlite_url):
    result = CliRunner().invoke(main, ["-c", str(_ini(tmp_path, sqlite_url, [])), "secrets", "generate-key"])
    assert result.exit_code == 0
    key = result.output.strip()
    assert SecretBox([key]).open(SecretBox([key]).seal("x")) == "x"


def test_a_sealed_secret_cannot_be_serialised_by_accident():
    """The web layer masks the password; the storage hands out only the sealed object, which
    cannot be serialised by accident either."""
    sealed = SecretBox([KEY]).seal(ORDER_PASSWORD)
    with pytest.raises(TypeError):
        json.dumps({"p": sealed})
