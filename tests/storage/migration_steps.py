"""Alembic steps on a database, for the migration tests."""
from alembic.config import Config

from proseo_odata.storage.sqlalchemy import MIGRATIONS


def migration_config(connection) -> Config:
    """An Alembic configuration of the project's migrations running on ``connection``."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


def migrate(engine, step, revision) -> None:
    """``step`` (``alembic.command.upgrade`` or ``downgrade``) to ``revision``, in one transaction."""
    with engine.begin() as connection:
        step(migration_config(connection), revision)
    # SQLite: a connection idle in the pool keeps the schema it last read for PRAGMAs such as
    # foreign_key_list (statements re-read a changed schema; those PRAGMAs do not), so a
    # reflection on it after the step could mix the old keys with the new table text. The
    # storage's look at its statistics (a thread of its own) leaves such a second connection.
    engine.dispose()
