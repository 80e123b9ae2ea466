"""The fixtures of every web test: the real application (WebTest over ``proseo_odata_web.main``)
over SQLite and PostgreSQL (``db_url``), for PRIP and for ODIP. Test modules import none of them
(pytest finds them here); helpers and constants come from ``prip_helpers`` and ``odip_helpers``.

PRIP: ``catalogue`` stores two missions, users with every role combination the auth matrix needs
and a catalogue of products through the real storage backend; ``app`` is a ``webtest.TestApp``
with ``app_settings`` (its own storage, as after a restart).

``shared_prip`` is the same PRIP world built once per module (for modules whose tests only read).

ODIP: ``odip`` is an :class:`odip_helpers.OdipWorld` built on ``odip_settings`` (see
``odip_helpers.build_world``) with ``odip.app``, the application over it (no workers).

Password hashes are computed once per session (scrypt is deliberately slow); ``db_url`` is a copy
of a database migrated once per session (tests/conftest.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import webtest

from odip_helpers import DEMO_WORKFLOWS, ODIP_USERS, OdipWorld, build_world
from prip_helpers import TOKEN_SECRET, USERS, Catalogue, make_app, seed
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


def _prip_settings(db_url, archive_folder) -> dict:
    return {
        "proseo.storage.backend": "proseo_odata.storage.sqlalchemy",
        "proseo.storage.url": db_url,
        "proseo.archive.backend": "local",
        "proseo.archive.path": archive_folder,
        "proseo.page_size.default": "3",
        "proseo.page_size.max": "4",
        "proseo.seed_aliases": "true",
        "proseo.anonymous_metadata": "true",
        "proseo.default_mission": "DEMO",
        "proseo.token.secret": TOKEN_SECRET,
        "proseo.token.lifetime": "600",
        "proseo.workers": "0",
    }


@pytest.fixture
def app_settings(db_url, tmp_path):
    return _prip_settings(db_url, _archive_folder(tmp_path))


@pytest.fixture
def storage(app_settings):
    storage = load_storage(app_settings)
    storage.initialize_schema()
    yield storage
    storage.close()


@pytest.fixture
def archive(app_settings):
    return load_archive(app_settings)


@pytest.fixture
def catalogue(storage, password_hashes, archive) -> Catalogue:
    return seed(storage, password_hashes, archive)


@pytest.fixture
def app(app_settings, catalogue):
    test_app = make_app(app_settings)
    yield test_app
    storage = getattr(test_app.app.registry, "storage", None)
    if storage is not None:
        storage.close()


@dataclass
class SharedPrip:
    settings: dict
    storage: object
    catalogue: Catalogue
    app: webtest.TestApp


@pytest.fixture(scope="module")
def shared_prip(module_db_url, tmp_path_factory, password_hashes) -> SharedPrip:
    """``app_settings``, ``storage``, ``catalogue`` and ``app`` built ONCE per module and backend
    (building the application costs ~0.15 s, seeding ~0.05 s): only for modules whose tests
    only read (GET with valid credentials, no settings of their own, nothing that counts
    between requests); such a module points its ``app`` and ``catalogue`` here (see
    test_prip_filters.py)."""
    settings = _prip_settings(module_db_url, _archive_folder(tmp_path_factory.mktemp("shared-prip")))
    storage = load_storage(settings)
    try:
        catalogue = seed(storage, password_hashes, load_archive(settings))
        app = make_app(settings)
        try:
            yield SharedPrip(settings, storage, catalogue, app)
        finally:
            app.app.registry.storage.close()
    finally:
        storage.close()


# -- ODIP ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def odip_password_hashes():
    return _hashes(ODIP_USERS)


@pytest.fixture
def odip_settings(db_url, tmp_path):
    return {
        "proseo.storage.backend": "proseo_odata.storage.sqlalchemy",
        "proseo.storage.url": db_url,
        "proseo.archive.backend": "local",
        "proseo.archive.path": _archive_folder(tmp_path),
        "proseo.page_size.default": "3",
        "proseo.page_size.max": "4",
        "proseo.default_mission": "DEMO",
        "proseo.workflows.file": str(DEMO_WORKFLOWS),
        "proseo.workflows.entry_points": "false",
        "proseo.workers": "0",
        "proseo.secrets.key": "pF8l0o5VJ0nqk8JdQ6wQ2m0QbJ1p3s6xv9y2B5E8H-c=",  # tests only
    }


@pytest.fixture
def odip(odip_settings, odip_password_hashes) -> OdipWorld:
    world = build_world(odip_settings, odip_password_hashes)
    world.app = make_app(odip_settings)
    yield world
    world.app.app.registry.storage.close()
    world.storage.close()
