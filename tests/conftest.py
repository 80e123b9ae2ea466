"""Shared test fixtures: a throwaway PostgreSQL 15 server and database URLs for both backends.

The PostgreSQL server is real: ``initdb`` + ``pg_ctl`` on a temporary directory, listening on
127.0.0.1 on a free port, its unix socket inside the temporary directory, ``trust``
authentication, ``fsync=off`` for speed. It is started once per test session (only when a test
asks for it) and stopped and removed at the end, also when tests fail.

When ``initdb``/``pg_ctl`` cannot be found the PostgreSQL tests FAIL (they are never skipped:
CI must run them). Set ``PROSEO_TEST_PG_URL`` (for example
``postgresql://postgres@127.0.0.1:5432/postgres``) to use an existing server instead; the user
must be allowed to create databases. With pytest-xdist (``make test`` runs ``-n 2``) the
controlling process starts the one server of the run and hands it to the workers that way.

Fixtures:

``pg_server_url`` (session)
    SQLAlchemy URL (``postgresql+psycopg://...``) of the server's maintenance database.
``fresh_pg_url`` (function)
    SQLAlchemy URL of a new, empty database with a unique name, dropped after the test.
    Extensions (postgis, pg_trgm) are created by the Alembic migration, not here.
``migrated_pg_url`` (function)
    the same, but a copy of a template database migrated to head once per session.
``sqlite_url`` (function)
    SQLAlchemy URL of a SQLite file in the test's ``tmp_path`` (no file yet: an empty database).
``migrated_sqlite_url`` (function)
    the same URL, the file a copy of a SQLite database migrated to head once per session (a file
    copy costs ~1 ms, a migration ~50-150 ms).
``db_url`` (function, parametrised ``sqlite`` / ``postgresql``)
    ``migrated_sqlite_url`` or ``migrated_pg_url``: migrated to head, no rows
    (``initialize_schema`` on it is a no-op); the ``postgresql`` parameter carries the
    ``postgresql`` marker, so ``pytest -m "not postgresql"`` runs the SQLite half only.
    For a test marked ``shared_app``: one such database per module (tests/web/conftest.py).
``module_database`` (module)
    ``module_database(db_url)`` copies a database into one that lives until the module's last
    test (the worlds that tests marked ``shared_app`` share).
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest
from sqlalchemy.engine import make_url

try:
    from live_server import free_port
except ModuleNotFoundError:  # imported as tests.conftest by bench/catalogue.py and bench/http_catalogue.py
    from tests.live_server import free_port

_free_port = free_port  # the name bench/ imports

PG_URL_ENV = "PROSEO_TEST_PG_URL"


def _find_pg_bindir():
    """The directory holding initdb and pg_ctl, preferring PostgreSQL 15; None if absent."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/15/bin")) + sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), reverse=True
    ) + sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True)
    for directory in candidates:
        if os.access(os.path.join(directory, "initdb"), os.X_OK) and os.access(
            os.path.join(directory, "pg_ctl"), os.X_OK
        ):
            return directory
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(shutil.which("pg_ctl")))
    return None



def _as_postgres(cmd):
    """Run as the ``postgres`` system user when we are root (initdb refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(
            f"command failed ({result.returncode}): {' '.join(cmd)}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


class ThrowawayPostgres:
    """One PostgreSQL server in a temporary directory; ``start()`` then ``stop()``."""

    def __init__(self, bindir):
        self.bindir = bindir
        self.tmpdir = None
        self.port = None
        self.started = False

    @property
    def datadir(self):
        return os.path.join(self.tmpdir, "data")

    def _bin(self, name):
        return os.path.join(self.bindir, name)

    def start(self):
        self.tmpdir = tempfile.mkdtemp(prefix="proseo-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.tmpdir, user="postgres", group="postgres")
        _run(
            _as_postgres(
                [
                    self._bin("initdb"),
                    "-D", self.datadir,
                    "-U", "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            )
        )
        last_error = None
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-c port={self.port}",
                    f"-c unix_socket_directories={self.tmpdir}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                ]
            )
            try:
                _run(
                    _as_postgres(
                        [
                            self._bin("pg_ctl"),
                            "-D", self.datadir,
                            "-l", os.path.join(self.tmpdir, "server.log"),
                            "-o", options,
                            "-w", "-t", "60",
                            "start",
                        ]
                    )
                )
                self.started = True
                return self
            except RuntimeError as exc:
                last_error = exc
                time.sleep(0.5)
        log = ""
        try:
            with open(os.path.join(self.tmpdir, "server.log"), encoding="utf-8") as handle:
                log = handle.read()[-4000:]
        except OSError:
            pass
        raise RuntimeError(f"PostgreSQL did not start: {last_error}\nserver log:\n{log}")

    def stop(self):
        try:
            if self.started:
                subprocess.run(
                    _as_postgres([self._bin("pg_ctl"), "-D", self.datadir, "-m", "immediate", "-w", "stop"]),
                    capture_output=True,
                    timeout=60,
                )
                self.started = False
        finally:
            if self.tmpdir:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
                self.tmpdir = None

    @property
    def url(self):
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


def _sqlalchemy_pg_url(url):
    """Normalise any PostgreSQL URL to the psycopg 3 SQLAlchemy dialect."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _libpq_url(url):
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server_url():
    """SQLAlchemy URL of a running PostgreSQL server (maintenance database ``postgres``)."""
    external = os.environ.get(PG_URL_ENV)
    if external:
        yield _sqlalchemy_pg_url(external)
        return
    bindir = _find_pg_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL 15 server binaries (initdb, pg_ctl) not found: install postgresql-15 "
            f"(and postgresql-15-postgis-3; see `make system-deps`) or set {PG_URL_ENV} to an "
            "existing server. The PostgreSQL tests are never skipped.",
            pytrace=False,
        )
    server = ThrowawayPostgres(bindir)
    atexit.register(server.stop)  # belt and braces if the session is killed mid-way
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - reported as a test failure with the server log
        server.stop()
        pytest.fail(f"could not start the throwaway PostgreSQL server: {exc}", pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


def _xdist_controller(config) -> bool:
    """True in the controlling process of a pytest-xdist run with workers (``-n 2``)."""
    workers = config.getoption("numprocesses", None)
    return bool(workers) and not hasattr(config, "workerinput") and config.getoption("dist", "no") != "no"


def pytest_configure(config):
    """Under pytest-xdist, ONE throwaway PostgreSQL server for the whole run: the controller
    starts it and hands it to the workers as ``PROSEO_TEST_PG_URL`` (each worker then makes its
    own template and test databases on it). Skipped when that variable is set already, or when
    no PostgreSQL test is selected (``-m "not postgresql"``). If the server cannot start here,
    each worker tries itself and reports why its PostgreSQL tests fail."""
    if not _xdist_controller(config) or os.environ.get(PG_URL_ENV):
        return
    if "not postgresql" in (config.getoption("markexpr", "") or ""):
        return
    bindir = _find_pg_bindir()
    if bindir is None:
        return
    server = ThrowawayPostgres(bindir)
    atexit.register(server.stop)
    try:
        server.start()
    except Exception:  # noqa: BLE001 - the workers start their own and report the error
        server.stop()
        return
    config._proseo_pg_server = server
    os.environ[PG_URL_ENV] = server.url


def pytest_unconfigure(config):
    server = getattr(config, "_proseo_pg_server", None)
    if server is not None:
        os.environ.pop(PG_URL_ENV, None)
        server.stop()


def _admin_connection(server_url):
    import psycopg

    return psycopg.connect(_libpq_url(server_url), autocommit=True)


@contextlib.contextmanager
def _pg_database(server_url, template=None):
    """Create a database with a unique name (optionally a copy of ``template``); drop it after."""
    from psycopg import sql

    name = f"proseo_test_{uuid.uuid4().hex[:16]}"
    # CREATE DATABASE takes no bound parameters; identifiers are quoted by psycopg.sql.
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    with _admin_connection(server_url) as conn:
        conn.execute(statement)
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connection(server_url) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def fresh_pg_url(pg_server_url):
    """SQLAlchemy URL of a new empty database; dropped (forcefully) after the test."""
    with _pg_database(pg_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def pg_template_name(pg_server_url):
    """A database migrated to head once per session (extensions, tables, indexes), used as the
    template of ``migrated_pg_url``: copying it is far cheaper than migrating each time."""
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    with _pg_database(pg_server_url) as url:
        storage = SQLAlchemyStorage.from_url(url)
        try:
            storage.initialize_schema()
        finally:
            storage.close()  # a template must have no open connections
        yield make_url(url).database


@pytest.fixture
def migrated_pg_url(pg_server_url, pg_template_name):
    """SQLAlchemy URL of a new database already migrated to head (no rows); dropped after."""
    with _pg_database(pg_server_url, template=pg_template_name) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    """SQLAlchemy URL of a SQLite database file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'proseo.sqlite'}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """Path of a SQLite database migrated to head once per session (no rows), closed: the
    template ``migrated_sqlite_url`` copies."""
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    storage = SQLAlchemyStorage.from_url(f"sqlite:///{path}")
    try:
        storage.initialize_schema()
    finally:
        storage.close()  # no connection left: the file alone is the whole database
    return path


@pytest.fixture
def migrated_sqlite_url(sqlite_url, sqlite_template):
    """``sqlite_url`` with its file a copy of the migrated template (no rows)."""
    shutil.copyfile(sqlite_template, make_url(sqlite_url).database)
    return sqlite_url


@pytest.fixture(scope="module")
def module_database(tmp_path_factory):
    """``module_database(db_url, key=None)``: the URL of a copy of the database ``db_url`` (SQLite
    file copy, or PostgreSQL ``CREATE DATABASE ... TEMPLATE``: nothing may be connected to it)
    that lives until the module's last test has run; with a ``key``, made once per module and
    key. For tests marked ``shared_app`` (tests/web/conftest.py)."""
    with contextlib.ExitStack() as stack:
        made = {}

        def copy(db_url: str, key=None) -> str:
            if key is not None and key in made:
                return made[key]
            url = make_url(db_url)
            if url.get_backend_name() == "sqlite":
                path = tmp_path_factory.mktemp("module-db") / "proseo.sqlite"
                if os.path.exists(url.database):  # else an empty database: no file yet
                    shutil.copyfile(url.database, path)
                result = url.set(database=str(path)).render_as_string(hide_password=False)
            else:
                server = url.set(database="postgres").render_as_string(hide_password=False)
                result = stack.enter_context(_pg_database(server, template=url.database))
            if key is not None:
                made[key] = result
            return result

        yield copy


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=BACKENDS)
def db_url(request):
    """A fresh database migrated to head with no rows, once on SQLite and once on PostgreSQL
    (``initialize_schema`` on it is a no-op)."""
    if request.node.get_closest_marker("shared_app") is not None:
        # The module's marked tests read one world built once: one database per module.
        if request.param == "sqlite":
            template = f"sqlite:///{request.getfixturevalue('sqlite_template')}"
        else:
            server = make_url(request.getfixturevalue("pg_server_url"))
            template = server.set(database=request.getfixturevalue("pg_template_name")).render_as_string(
                hide_password=False)
        return request.getfixturevalue("module_database")(template, key=request.param)
    if request.param == "sqlite":
        return request.getfixturevalue("migrated_sqlite_url")
    return request.getfixturevalue("migrated_pg_url")


@pytest.fixture
def site(db_url, tmp_path):
    """``(storage, archive)``: the SQLAlchemy storage on ``db_url`` (both databases) with mission
    ``M``, and a local archive folder ``tmp_path/archive``."""
    from proseo_odata.archive.local import LocalArchive
    from proseo_odata.model import Mission
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    storage = SQLAlchemyStorage.from_url(db_url)
    storage.add_mission(Mission("M"))
    try:
        yield storage, LocalArchive(tmp_path / "archive")
    finally:
        storage.close()
