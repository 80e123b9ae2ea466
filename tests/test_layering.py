"""The core package must stay framework-agnostic: nothing under proseo_odata imports the web layer."""
import ast
import pathlib

import pytest

CORE = pathlib.Path(__file__).resolve().parent.parent / "proseo_odata"
FORBIDDEN = ("pyramid", "cornice", "webob", "proseo_odata_web", "zope", "transaction", "waitress", "prometheus_client")


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def core_files():
    return sorted(CORE.rglob("*.py"))


def test_core_has_python_files():
    assert core_files(), "the core package is empty"


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_never_imports_the_web_layer(path):
    bad = [name for name in _imports(path) if name.split(".")[0] in FORBIDDEN]
    assert not bad, f"{path} imports {bad}"


#: Database drivers: only the storage backends talk to them.
DRIVERS = ("psycopg", "psycopg2", "psycopg_pool", "sqlite3", "pysqlite2", "asyncpg", "pg8000")
WEB = CORE.parent / "proseo_odata_web"
STORAGE = CORE / "storage"


def _above_storage():
    core = [p for p in core_files() if STORAGE not in p.parents]
    return core + sorted(WEB.rglob("*.py"))


def _driver_or_driver_errors(name: str, names=()) -> bool:
    """A driver module, or SQLAlchemy's exception module (the wrapped driver errors)."""
    return (name.split(".")[0] in DRIVERS or name == "sqlalchemy.exc"
            or (name == "sqlalchemy" and "exc" in names))


def _imported_names(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, tuple(alias.name for alias in node.names)


@pytest.mark.parametrize("path", _above_storage(), ids=lambda p: str(p.relative_to(CORE.parent)))
def test_nothing_above_the_storage_touches_database_drivers_or_their_errors(path):
    """Driver errors stop at the storage's choke point (proseo_odata/storage/errors.py): no module
    of the core outside storage/, and none of the web layer, imports a database driver or
    ``sqlalchemy.exc``."""
    bad = [name for name, names in _imported_names(path) if _driver_or_driver_errors(name, names)]
    assert not bad, f"{path} imports {bad}"


def test_the_driver_check_finds_what_it_looks_for():
    assert [n for n, ns in _imported_names(STORAGE / "errors.py") if _driver_or_driver_errors(n, ns)]
