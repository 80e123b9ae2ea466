"""Fixtures of the client tests: a PRIP under a real waitress server on 127.0.0.1 over the
client catalogue, and the Python of the clients' own venv (see client_support.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from client_support import (
    CLIENTS_VENV,
    ClientCatalogue,
    build_catalogue,
    catalogue_entries,
    odata_client_installed,
    serve_prip,
)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def client_catalogue_dir(request, tmp_path_factory):
    """Filled once per module and backend: on PostgreSQL the database writes a page's JSON
    (``storage.product_json``), on SQLite Python does; the clients read both. The products are
    client_support.catalogue_entries(), or those of the test module's ``CATALOGUE_ENTRIES``."""
    url = None
    if request.param == "postgresql":
        from sqlalchemy.engine import make_url

        server = make_url(request.getfixturevalue("pg_server_url"))
        template = server.set(database=request.getfixturevalue("pg_template_name"))
        url = request.getfixturevalue("module_database")(template.render_as_string(hide_password=False))
    entries = getattr(request.module, "CATALOGUE_ENTRIES", catalogue_entries)
    return build_catalogue(tmp_path_factory.mktemp("clients"), url, entries)


@pytest.fixture(scope="module")
def client_catalogue(client_catalogue_dir) -> ClientCatalogue:
    return client_catalogue_dir[1]


@pytest.fixture(scope="module")
def prip_server(client_catalogue_dir):
    """Base URL (``http://127.0.0.1:<port>``) of the PRIP over the client catalogue."""
    with serve_prip(client_catalogue_dir[0]) as url:
        yield url


@pytest.fixture(scope="module")
def strict_prip_server(client_catalogue_dir):
    """The same catalogue served with ``proseo.paging = strict`` ($top caps the total)."""
    with serve_prip({**client_catalogue_dir[0], "proseo.paging": "strict"}) as url:
        yield url


@pytest.fixture(scope="session")
def clients_python() -> Path:
    """The clients' venv Python; a clear failure (not a skip) when it is missing."""
    python = CLIENTS_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(
            f"the client venv {CLIENTS_VENV} is missing: create it with `make clients` "
            "(`make test` does), or point PROSEO_CLIENTS_VENV at one made from "
            "tests/clients/requirements.txt",
            pytrace=False,
        )
    return python


@pytest.fixture(scope="session")
def odata_client() -> Path:
    """Where the generic OData client ``@odata/client`` and its scripts are installed."""
    return odata_client_installed()
