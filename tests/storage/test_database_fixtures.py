"""The database fixtures of tests/conftest.py give real, isolated databases."""
import sqlalchemy as sa
import pytest


@pytest.mark.postgresql
def test_pg_server_is_postgresql_15_with_extensions_available(pg_server_url):
    engine = sa.create_engine(pg_server_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
            available = set(
                conn.execute(sa.text("SELECT name FROM pg_available_extensions")).scalars()
            )
    finally:
        engine.dispose()
    assert int(version) // 10000 == 15
    assert {"pg_trgm", "postgis"} <= available


@pytest.mark.postgresql
def test_fresh_pg_database_is_empty_and_private(fresh_pg_url, pg_server_url):
    assert fresh_pg_url.startswith("postgresql+psycopg://")
    engine = sa.create_engine(fresh_pg_url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
            assert tables == 0
            conn.execute(sa.text("CREATE TABLE marker (x integer)"))
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    finally:
        engine.dispose()
    assert name != "postgres"
    assert name in fresh_pg_url


def test_sqlite_url_is_a_file_in_tmp_path(sqlite_url, tmp_path):
    engine = sa.create_engine(sqlite_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE marker (x integer)"))
    finally:
        engine.dispose()
    assert (tmp_path / "proseo.sqlite").exists()


def test_db_url_runs_once_per_backend(db_url):
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.literal(41) + 1)).scalar_one() == 42
    finally:
        engine.dispose()
    assert db_url.split(":")[0] in {"sqlite", "postgresql+psycopg"}
