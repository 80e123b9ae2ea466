"""PostgreSQL orders text by the database's collation: the contract, SQLite and subscriptions'
matching compare by code point, so a database that does not is named in a warning."""
from __future__ import annotations

import logging
import uuid

import pytest
import sqlalchemy as sa

from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

pytestmark = pytest.mark.postgresql


def _create(server_url: str, clause: str) -> str:
    from psycopg import sql

    name = f"proseo_order_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(sql.SQL("CREATE DATABASE {} TEMPLATE template0 " + clause)
                                   .format(sql.Identifier(name)).as_string())
    admin.dispose()
    return name


def _drop(server_url: str, name: str) -> None:
    from psycopg import sql

    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)).as_string())
    admin.dispose()


@pytest.mark.parametrize("clause, warned", [
    ("LOCALE_PROVIDER icu ICU_LOCALE 'und'", True),
    ("LOCALE_PROVIDER libc LC_COLLATE 'C'", False),
    ("LOCALE_PROVIDER libc LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'", False),
])
def test_a_database_that_does_not_order_text_by_code_point_is_warned_of(pg_server_url, caplog, clause, warned):
    name = _create(pg_server_url, clause)
    storage = SQLAlchemyStorage.from_url(sa.engine.make_url(pg_server_url).set(database=name).render_as_string(
        hide_password=False))
    try:
        with caplog.at_level(logging.WARNING, logger="proseo_odata.storage.sqlalchemy"):
            storage.initialize_schema()
            storage.check_schema()
        messages = [r.getMessage() for r in caplog.records if "orders text" in r.getMessage()]
        assert len(messages) == (1 if warned else 0), messages  # once, not at every readiness probe
        if warned:
            assert "ICU" in messages[0] and "LC_COLLATE 'C'" in messages[0]
            # what it warns of: the database's own order is not code-point order
            with storage.engine.connect() as connection:
                ordered = connection.exec_driver_sql(
                    "SELECT v FROM (VALUES ('a'), ('B'), ('_x')) AS t(v) ORDER BY v").scalars().all()
            assert ordered != sorted(ordered)
    finally:
        storage.close()
        _drop(pg_server_url, name)
