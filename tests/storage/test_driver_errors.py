"""The storage's one choke point for database driver errors (proseo_odata/storage/errors.py):
transient driver errors become DatabaseUnavailableError (an Unavailable), constraint and value
refusals are told apart by the DB-API's names, descriptions never carry SQL, parameters or server
text, and the one retry helper retries exactly the transient ones."""
from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from proseo_odata.errors import Unavailable
from proseo_odata.storage.errors import (
    ConflictError,
    DatabaseUnavailableError,
    InvalidValueError,
    describe,
    driver_errors,
    is_transient,
    refusal,
    retry_transient,
    translate,
)


def real_sqlite_error(tmp_path, sql: str, *params) -> sa.exc.DBAPIError:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}", hide_parameters=True)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            connection.exec_driver_sql("INSERT OR IGNORE INTO t VALUES (1, 'a')")
            connection.exec_driver_sql(sql, params)
    except sa.exc.DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("the statement did not fail")


def test_a_constraint_is_a_conflict_not_an_outage(tmp_path):
    error = real_sqlite_error(tmp_path, "INSERT INTO t VALUES (?, ?)", 1, "secret-value")
    assert refusal(error) is ConflictError and refusal(error.orig) is ConflictError
    assert not is_transient(error) and translate(error) is None
    assert describe(error) == "IntegrityError (SQLITE_CONSTRAINT_PRIMARYKEY)"
    assert "secret-value" not in describe(error) and "INSERT" not in describe(error)


def test_a_locked_database_is_unavailable(tmp_path):
    path = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (id INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        with pytest.raises(DatabaseUnavailableError) as caught, driver_errors():
            with engine.begin() as connection:
                connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    finally:
        engine.dispose()
        holder.rollback()
        holder.close()
    unavailable = caught.value
    assert isinstance(unavailable, Unavailable) and unavailable.kind == "unavailable"
    assert unavailable.reason == "OperationalError (SQLITE_BUSY)" == describe(unavailable)
    assert is_transient(unavailable) and translate(unavailable) is None  # translated once
    assert isinstance(unavailable.__cause__, sa.exc.OperationalError)


def test_values_the_database_cannot_hold_and_other_errors():
    assert refusal(sqlite3.DataError("x")) is InvalidValueError
    assert refusal(ValueError("x")) is None and not is_transient(ValueError("x"))
    assert is_transient(sa.exc.TimeoutError("QueuePool limit reached"))  # the pool, not the server
    with pytest.raises(ZeroDivisionError), driver_errors():
        1 / 0  # noqa: B018 - anything not from the database passes unchanged


def test_retry_transient_retries_only_what_may_pass(caplog):
    calls, waits = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise DatabaseUnavailableError("down", reason="OperationalError (57P01)")
        return "done"

    assert retry_transient(flaky, delays=(0.1, 0.2, 0.4), sleep=waits.append) == "done"
    assert waits == [0.1, 0.2] and caplog.text.count("OperationalError (57P01)") == 2

    def broken():
        calls.append(1)
        raise ConflictError("taken")

    calls.clear()
    with pytest.raises(ConflictError):
        retry_transient(broken, delays=(0.1,), sleep=waits.append)
    assert len(calls) == 1
