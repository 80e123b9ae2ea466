"""No file of the project carries an unresolved merge: a line that opens, separates or closes
a conflict (``<<<<<<< ``, a lone ``=======``, ``>>>>>>> ``). One sat in docs/configuration.md
through several sessions, splitting a table of settings, until a review found it."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: folders that are not the project's own text (environments, caches, build output)
SKIPPED = {".git", ".venv", ".venv-clients", ".node", ".pytest_cache", "var", "build", "dist", "__pycache__"}
SUFFIXES = {".py", ".md", ".ini", ".lark", ".txt", ".cfg", ".toml", ".yml", ".yaml", ".json", ".sh", ".abnf", ".xml", ".js"}
NAMES = {"Makefile", "run"}


def _project_files():
    stack = [ROOT]
    while stack:
        folder = stack.pop()
        for path in folder.iterdir():
            if path.is_dir():
                if path.name not in SKIPPED and not path.name.endswith(".egg-info"):
                    stack.append(path)
            elif path.suffix in SUFFIXES or path.name in NAMES:
                yield path


def _is_marker(line: str) -> bool:
    return line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "======="


def test_no_file_holds_a_merge_conflict():
    files = list(_project_files())
    assert any(p.name == "configuration.md" for p in files) and any(p.suffix == ".py" for p in files)
    found = []
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue
        found += [f"{path.relative_to(ROOT)}:{number}" for number, line in enumerate(lines, 1) if _is_marker(line)]
    assert not found, f"unresolved merge conflicts: {found}"
