"""The fixtures of every web test: the real application (WebTest over ``proseo_odata_web.main``)
over SQLite and PostgreSQL (``db_url``), for PRIP and for ODIP. Test modules import none of them
(pytest finds them here); helpers and constants come from ``prip_helpers`` and ``odip_helpers``.

PRIP: ``catalogue`` stores two missions, users with every role combination the auth matrix needs
and a catalogue of products through the real storage backend; ``app`` is a ``webtest.TestApp``
with ``app_settings`` (its own storage, as after a restart).

ODIP: ``odip`` is an :class:`odip_helpers.OdipWorld` built on ``odip_settings`` (see
``odip_helpers.build_world``) with ``odip.app``, the application over it (no workers).

Password hashes are computed once per session (scrypt is deliberately slow); ``db_url`` is a copy
of a database migrated once per session (tests/conftest.py).

``@pytest.mark.shared_app`` (on a test, or ``pytestmark`` on a module): the test gets the PRIP or
ODIP world, application included, that the module's marked tests share, one per backend, built
once (building the application costs ~0.15 s of CPU, seeding ~0.05-0.1 s, per test otherwise).
ONLY for tests that read: GET or HEAD with valid credentials, or a request the service must refuse
before it writes anything (a 4xx) in a test that checks nothing was stored; no writes through the
storage or the API, no settings of their own, nothing that counts between requests (metrics; the
login throttle counts by address: a test sending failed logins gives each case its own
``REMOTE_ADDR``, as test_auth_matrix does). The names stay the same (``app``, ``catalogue``, ``app_settings``, ``storage``,
``odip``, ``odip_settings``); ``make_app({**app_settings, ...})`` still builds a new application
(over the shared, seeded database). Unmarked tests get a fresh world each, as before.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import webtest

from odip_helpers import DEMO_WORKFLOWS, ODIP_USERS, OdipWorld, build_world
from prip_helpers import TOKEN_SECRET, USERS, Catalogue, make_app, seed, served_app
from proseo_odata.archive import load_archive
from proseo_odata.model import hash_password
from proseo_odata.storage import load_storage


def _hashes(users) -> dict:
    return {login: hash_password(password) for login, (_m, _n, password, _r) in users.items()}


def _archive_folder(tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    return str(folder)


# -- PRIP ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def password_hashes():
    return _hashes(USERS)


def _settings(db_url, archive_folder, more: dict) -> dict:
    """The settings every web world has, and ``more``."""
    return {
        "proseo.storage.backend": "proseo_odata.storage.sqlalchemy",
        "proseo.storage.url": db_url,
        "proseo.archive.backend": "local",
        "proseo.archive.path": archive_folder,
        "proseo.page_size.default": "3",
        "proseo.page_size.max": "4",
        "proseo.default_mission": "DEMO",
        "proseo.workers": "0",
        **more,
    }


def _prip_settings(db_url, archive_folder) -> dict:
    return _settings(db_url, archive_folder, {
        "proseo.seed_aliases": "true",
        "proseo.anonymous_metadata": "true",
        "proseo.token.secret": TOKEN_SECRET,
        "proseo.token.lifetime": "600",
    })


@pytest.fixture
def app_settings(request, db_url, tmp_path, shared_worlds, password_hashes):
    if _shared(request):
        return shared_worlds.prip(db_url, password_hashes).settings
    return _prip_settings(db_url, _archive_folder(tmp_path))


@pytest.fixture
def storage(request, app_settings, shared_worlds):
    if _shared(request):
        yield shared_worlds.prip(app_settings["proseo.storage.url"]).storage
        return
    storage = load_storage(app_settings)
    storage.initialize_schema()
    yield storage
    storage.close()


@pytest.fixture
def archive(app_settings):
    return load_archive(app_settings)


@pytest.fixture
def catalogue(request, storage, password_hashes, archive, shared_worlds) -> Catalogue:
    if _shared(request):
        return shared_worlds.prip(request.getfixturevalue("app_settings")["proseo.storage.url"]).catalogue
    return seed(storage, password_hashes, archive)


@pytest.fixture
def app(request, app_settings, catalogue, shared_worlds):
    if _shared(request):
        yield shared_worlds.prip(app_settings["proseo.storage.url"]).app
        return
    with served_app(app_settings) as test_app:
        yield test_app


# -- ODIP ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def odip_password_hashes():
    return _hashes(ODIP_USERS)


def _odip_settings(db_url, archive_folder) -> dict:
    return _settings(db_url, archive_folder, {
        "proseo.workflows.file": str(DEMO_WORKFLOWS),
        "proseo.workflows.entry_points": "false",
        "proseo.secrets.key": "pF8l0o5VJ0nqk8JdQ6wQ2m0QbJ1p3s6xv9y2B5E8H-c=",  # tests only
    })


@pytest.fixture
def odip_settings(request, db_url, tmp_path, shared_worlds, odip_password_hashes):
    if _shared(request):
        return shared_worlds.odip(db_url, odip_password_hashes).settings
    return _odip_settings(db_url, _archive_folder(tmp_path))


@pytest.fixture
def odip(request, odip_settings, odip_password_hashes, shared_worlds) -> OdipWorld:
    if _shared(request):
        yield shared_worlds.odip(odip_settings["proseo.storage.url"])
        return
    world = _odip_world(odip_settings, odip_password_hashes)
    yield world
    _close_world(world)


def _odip_world(settings, password_hashes) -> OdipWorld:
    world = build_world(settings, password_hashes)
    world.app = make_app(settings)
    return world


def _close_world(world) -> None:
    world.app.app.registry.storage.close()
    world.storage.close()


# -- worlds shared by the tests of a module marked shared_app ----------------------------------


def _shared(request) -> bool:
    return request.node.get_closest_marker("shared_app") is not None


@dataclass
class SharedPrip:
    settings: dict
    storage: object
    catalogue: Catalogue
    app: webtest.TestApp


class SharedWorlds:
    """The PRIP and ODIP worlds of one module, one per backend (the scheme of the URL), built
    when the first test asks (``*_settings`` pass the password hashes then), on a database copied
    from that test's ``db_url`` (``module_database``)."""

    def __init__(self, module_database, tmp_path_factory):
        self._copy = module_database
        self._tmp = tmp_path_factory
        self._worlds = {}
        self._closers = []

    def _world(self, kind, db_url, build, password_hashes):
        key = (kind, db_url.split(":", 1)[0])
        if key not in self._worlds:
            assert password_hashes is not None, "the settings fixture builds the shared world"
            archive_folder = _archive_folder(self._tmp.mktemp(f"shared-{kind}"))
            self._worlds[key] = build(self._copy(db_url), archive_folder, password_hashes)
        return self._worlds[key]

    def prip(self, db_url, password_hashes=None) -> SharedPrip:
        return self._world("prip", db_url, self._build_prip, password_hashes)

    def odip(self, db_url, password_hashes=None) -> OdipWorld:
        return self._world("odip", db_url, self._build_odip, password_hashes)

    def _build_prip(self, url, archive_folder, password_hashes) -> SharedPrip:
        settings = _prip_settings(url, archive_folder)
        storage = load_storage(settings)
        self._closers.append(storage.close)
        storage.initialize_schema()
        catalogue = seed(storage, password_hashes, load_archive(settings))
        app = make_app(settings)
        self._closers.append(app.app.registry.storage.close)
        return SharedPrip(settings, storage, catalogue, app)

    def _build_odip(self, url, archive_folder, password_hashes) -> OdipWorld:
        world = _odip_world(_odip_settings(url, archive_folder), password_hashes)
        self._closers.append(lambda: _close_world(world))
        return world

    def close(self) -> None:
        for close in reversed(self._closers):
            close()


@pytest.fixture(scope="module")
def shared_worlds(module_database, tmp_path_factory):
    """The worlds of the module's tests marked ``shared_app`` (see the module docstring)."""
    worlds = SharedWorlds(module_database, tmp_path_factory)
    yield worlds
    worlds.close()
