"""``log_failure``: what the long-running parts (workers, eviction, subscription matching, the
start-up workflow sync) log when a storage call fails: one line for the storage's errors, never
the statement a chained driver error carries, a traceback for anything else."""
import logging

import sqlalchemy as sa

from proseo_odata.storage.errors import ConflictError, log_failure

log = logging.getLogger("proseo_odata.tests.log_failure")
STATEMENT = "INSERT INTO workflows (secret_column) VALUES (1)"


def _logged(caplog, exc, **kw):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=log.name):
        log_failure(log, "step %s failed", exc, "A", **kw)
    (record,) = caplog.records
    return record, caplog.text


def test_a_database_error_is_one_line_without_its_statement(caplog):
    error = sa.exc.OperationalError(STATEMENT, {}, Exception("server closed the connection"))
    assert "[SQL" in str(error)  # what a traceback would print
    record, text = _logged(caplog, error)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == "step A failed: OperationalError (Exception)"
    assert "[SQL" not in text and "secret_column" not in text


def test_a_refusal_is_its_own_message_not_the_chained_driver_error(caplog):
    try:
        try:
            raise sa.exc.IntegrityError(STATEMENT, {}, Exception("duplicate key"))
        except sa.exc.IntegrityError as driver:
            raise ConflictError("Workflow 'W' of mission M already exists") from driver
    except ConflictError as exc:
        record, text = _logged(caplog, exc, level=logging.ERROR)
    assert record.levelno == logging.ERROR and record.exc_info is None
    assert record.getMessage() == "step A failed: Workflow 'W' of mission M already exists"
    assert "[SQL" not in text and "secret_column" not in text


def test_anything_else_keeps_its_traceback(caplog):
    try:
        raise ValueError("a bug")
    except ValueError as exc:
        record, text = _logged(caplog, exc)
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage() == "step A failed" and "ValueError: a bug" in text
