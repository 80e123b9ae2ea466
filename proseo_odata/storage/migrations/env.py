"""Alembic environment of the storage schema.

Run programmatically by ``SQLAlchemyStorage.initialize_schema()`` (``proseo-odata initdb``),
which passes an open connection in ``config.attributes["connection"]``; from the command line
(``alembic -c development.ini upgrade head``) the URL comes from ``proseo.storage.url`` of the
``[app:main]`` section or ``sqlalchemy.url``.
"""
from alembic import context
import sqlalchemy as sa

from proseo_odata.storage.schema import metadata

config = context.config


def _url():
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    import plaster

    settings = plaster.get_settings(config.config_file_name, "app:main")
    return settings["proseo.storage.url"]


def run_migrations_offline():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
