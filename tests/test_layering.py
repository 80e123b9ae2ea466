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
