"""WebTest fixtures: the real application over SQLite and PostgreSQL (``db_url``).

``catalogue`` stores two missions, users with every role combination the auth matrix needs and
a catalogue of products through the real storage backend; ``app`` is a ``webtest.TestApp`` over
``proseo_odata_web.main`` with the same settings (its own storage, as after a restart).
Password hashes are computed once per session (scrypt is deliberately slow).
"""
from __future__ import annotations

import pytest

from proseo_odata.model import hash_password
from proseo_odata.archive import load_archive
from proseo_odata.storage import load_storage
from prip_helpers import TOKEN_SECRET, USERS, Catalogue, make_app, seed


@pytest.fixture(scope="session")
def password_hashes():
    return {login: hash_password(password) for login, (_m, _n, password, _r) in USERS.items()}


@pytest.fixture
def app_settings(db_url, tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    return {
        "proseo.storage.backend": "proseo_odata.storage.sqlalchemy",
        "proseo.storage.url": db_url,
        "proseo.archive.backend": "local",
        "proseo.archive.path": str(archive),
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

