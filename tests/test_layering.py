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


# -- the import graph: floors, no circles ----------------------------------------------------------

#: The floors of ``proseo_odata``, low to high (docs/development.md). A module may import its own
#: floor and the floors below it, never one above. Keys are subpackages or top-level modules of
#: the package ("" is the package's ``__init__``).
FLOORS = {
    # 0: the domain and the query language, and what every floor reads
    "": 0, "model": 0, "odata": 0, "config": 0, "errors": 0, "secretbox": 0, "lru": 0,
    # 1: where things are kept
    "storage": 1, "archive": 1,
    # build_query: the query options of a request -> the storage Query (storage/base.py)
    "query": 1,
    # 2: what runs on its own: production, notification, eviction, ingest and export, archive maintenance;
    # reading the files inside an archived ZIP, and the quicklooks found there
    "production": 2, "notify": 2, "eviction": 2, "ingest": 2, "orphans": 2, "export": 2, "fixity": 2,
    "nodes": 2, "quicklooks": 2,
    # 3: the order use cases (submit, cancel, estimate)
    "orders": 3,
    # 4: the command line and its demo data
    "cli": 4, "demo": 4,
}


def _module_name(path):
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph():
    """{module: {imported proseo_odata module, ...}} over every file of the package: module-level
    and function-level imports, absolute and relative."""
    modules = {_module_name(p): p for p in core_files()}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                candidates = [module] + [f"{module}.{alias.name}" for alias in node.names]
            else:
                continue
            for candidate in candidates:
                while candidate not in modules and "." in candidate:
                    candidate = candidate.rpartition(".")[0]
                if candidate in modules and candidate != name and candidate.startswith("proseo_odata"):
                    targets.add(candidate)
        graph[name] = targets
    return graph


def unit_of(module: str) -> str:
    """The subpackage or top-level module of ``proseo_odata`` a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def unit_graph(graph):
    units = {}
    for module, targets in graph.items():
        for target in targets:
            if unit_of(target) != unit_of(module):
                units.setdefault(unit_of(module), {}).setdefault(unit_of(target), []).append(f"{module} -> {target}")
    return units


def find_cycle(edges):
    """One cycle of ``edges`` ({node: iterable of nodes}) as a list of nodes, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_every_subpackage_has_a_floor():
    missing = sorted({unit_of(m) for m in import_graph()} - set(FLOORS))
    assert not missing, f"add these to FLOORS (and to docs/development.md): {missing}"


def test_no_import_circle_between_subpackages():
    units = unit_graph(import_graph())
    cycle = find_cycle(units)
    assert cycle is None, "import circle: " + " -> ".join(cycle) + "\n" + "\n".join(
        arrow for a, b in zip(cycle, cycle[1:]) for arrow in units[a][b])


def test_no_import_from_a_lower_floor_up():
    upward = [
        arrow
        for unit, targets in unit_graph(import_graph()).items()
        for target, arrows in targets.items()
        if FLOORS.get(target, 0) > FLOORS.get(unit, 0)
        for arrow in arrows
    ]
    assert not upward, "imports from a lower floor up:\n" + "\n".join(sorted(upward))


def test_the_graph_checks_can_fail():
    """The checks see what they must: a circle and an upward arrow made up here are found."""
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"]}) is None
    graph = import_graph()
    # function-level and relative imports are seen: the engine imports its queue and the
    # notification modules, the web-free CLI imports the worker command inside a function
    assert "proseo_odata.production.queue" in graph["proseo_odata.production.engine"]
    assert "proseo_odata.production.command" in graph["proseo_odata.cli"]
    made_up = {**graph, "proseo_odata.model.entities": graph["proseo_odata.model.entities"] | {"proseo_odata.orders.service"}}
    units = unit_graph(made_up)
    assert FLOORS["orders"] > FLOORS["model"] and "orders" in units["model"]
    assert find_cycle(units) is not None
