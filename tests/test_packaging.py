"""The built wheel carries its package data (grammar, migrations, demo files) and works from
outside the source tree; installed with its own (core) dependencies only, it embeds the OData
compiler (docs/embedding.md) and runs the command line without the web stack.

The wheel is built from a copy of the source tree (so the shared working tree gets no build/
folder), installed without dependencies into a fresh virtual environment, and run from a
temporary folder. The dependencies come from the test virtual environment's site-packages,
added as a plain path (its .pth files, among them the editable install of the source tree, are
not processed), so only the wheel can provide ``proseo_odata``.
"""
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

CHECK = textwrap.dedent(
    r"""
    import importlib.resources, json, sys, pathlib
    import proseo_odata
    here = pathlib.Path(proseo_odata.__file__).resolve()
    grammars = importlib.resources.files("proseo_odata.grammars")
    lark_files = sorted(p.name for p in grammars.iterdir() if p.name.endswith(".lark"))
    odata_lark = grammars / "odata.lark"
    migrations = importlib.resources.files("proseo_odata") / "storage" / "migrations" / "versions"
    result = {
        "file": str(here),
        "lark_files": lark_files,
        "odata_lark_size": len(odata_lark.read_text(encoding="utf-8")) if odata_lark.is_file() else None,
        "migrations": sorted(p.name for p in migrations.iterdir() if p.name.endswith(".py")),
        "env_py": (importlib.resources.files("proseo_odata") / "storage" / "migrations" / "env.py").is_file(),
        "workflows_json": (importlib.resources.files("proseo_odata") / "demo" / "workflows.json").is_file(),
    }
    try:
        from proseo_odata.odata.parser import parse_filter
    except ImportError as exc:
        result["parse"] = "no parser: %s" % exc
    else:
        result["parse"] = type(parse_filter("contains(Name,'_AUX_') and ContentLength gt 10")).__name__
    print(json.dumps(result))
    """
)


def _run(cmd, **kwargs):
    # the installs under test, not a PYTHONPATH the suite was started with (a worktree's checkout)
    kwargs.setdefault("env", {k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


def _copy_source(tmp_path) -> Path:
    source = tmp_path / "src"
    shutil.copytree(
        ROOT, source, symlinks=True,  # proseo_odata/grammars stays a link to grammars/
        ignore=shutil.ignore_patterns(".venv", ".git", "var", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    return source


def _build_wheel(tmp_path) -> Path:
    source = _copy_source(tmp_path)
    wheels = tmp_path / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(wheels),
                  str(source)])
    assert "Warning" not in built.stderr, built.stderr  # no setuptools banners (package discovery)
    wheel = list(wheels.glob("proseo_odata-*.whl"))
    assert len(wheel) == 1, wheel
    return wheel[0]


def test_wheel_installs_and_finds_its_package_data(tmp_path):
    built = [_build_wheel(tmp_path)]

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # Install the wheel with the test environment's pip into the fresh environment.
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(purelib), str(built[0])])
    dependencies = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (purelib / "zz_test_dependencies.pth").write_text("\n".join(sorted(set(dependencies))) + "\n", encoding="utf-8")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    output = _run([str(python), "-I", "-c", CHECK], cwd=outside).stdout
    import json

    found = json.loads(output.strip().splitlines()[-1])
    assert found["file"].startswith(str(purelib)), found["file"]  # the wheel, not the source tree
    assert found["lark_files"], "no .lark grammar in the wheel"
    if (ROOT / "grammars" / "odata.lark").is_file():
        assert found["odata_lark_size"] and found["odata_lark_size"] > 100
        assert found["parse"] not in (None,) and not found["parse"].startswith("no parser"), found["parse"]
    assert "0001_initial.py" in found["migrations"] and found["env_py"]
    assert found["workflows_json"]


#: Distributions of the web stack and its extras, none of which the core may pull in.
WEB_ONLY = {"pyramid", "prometheus-client", "cornice", "colander", "waitress", "gunicorn", "webob", "pyramid-tm", "zope-sqlalchemy", "transaction",
            "pillow", "pyjwt", "psycopg", "boto3"}

EMBED = textwrap.dedent(
    r"""
    import json, pathlib, re, sys
    doc = pathlib.Path(sys.argv[1]).read_text(encoding="utf-8")
    example = max(re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL), key=len)
    namespace = {"__name__": "embedding_example"}
    exec(compile(example, "docs/embedding.md", "exec"), namespace)
    found = namespace["search"]("Title eq 'Ulysses'")
    try:
        import pyramid
        web = "pyramid importable"
    except ImportError:
        web = None
    print(json.dumps({"found": found, "web": web, "modules": sorted(m for m in sys.modules if m.split(".")[0] in
          ("pyramid", "cornice", "webob", "waitress", "PIL"))}))
    """
)


def test_bare_install_embeds_the_compiler_and_runs_the_cli_without_the_web_stack(tmp_path):
    """pip install of the wheel with its declared dependencies only, into a fresh virtual
    environment (the test environment's pip, its cache and indexes): no pyramid, and yet the
    embedding example of docs/embedding.md and ``proseo-odata initdb`` run."""
    import json

    wheel = _build_wheel(tmp_path)
    env_dir = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)])
    listed = json.loads(_run([sys.executable, "-m", "pip", "--python", str(python), "list", "--format", "json"]).stdout)
    installed = {entry["name"].lower().replace("_", "-") for entry in listed}
    assert "proseo-odata" in installed
    assert not installed & WEB_ONLY, sorted(installed & WEB_ONLY)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = json.loads(_run([str(python), "-I", "-c", EMBED, str(ROOT / "docs" / "embedding.md")],
                             cwd=outside).stdout.strip().splitlines()[-1])
    assert result == {"found": [3], "web": None, "modules": []}, result

    # The command line is part of the core: initdb and a listing on SQLite, no web stack needed.
    ini = outside / "site.ini"
    key = Fernet.generate_key().decode()  # as a real site has (no "stored UNENCRYPTED" warning)
    ini.write_text(textwrap.dedent(f"""\
        [app:main]
        use = egg:proseo-odata
        proseo.storage.url = sqlite:///%(here)s/var/proseo.sqlite
        proseo.archive.backend = local
        proseo.archive.path = %(here)s/var/archive
        proseo.secrets.key = {key}
        """), encoding="utf-8")
    script = env_dir / "bin" / "proseo-odata"
    first = _run([str(script), "-c", str(ini), "initdb"], cwd=outside)
    assert "database ready" in first.stdout and first.stderr == "", first.stderr
    listed = _run([str(script), "-c", str(ini), "mission", "list"], cwd=outside)
    assert "no missions yet" in listed.stdout


def test_editable_install_prints_no_setuptools_warnings(tmp_path):
    """``make run``/``make test`` install the source tree in editable mode: no setuptools banner
    (packages missing from the configuration, "Editable installation" of a mapped layout)."""
    source = _copy_source(tmp_path)
    env_dir = tmp_path / "editable"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    result = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                   "-e", str(source)])
    assert "Warning" not in result.stderr and "!!" not in result.stderr, result.stderr
    dependencies = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (purelib / "zz_test_dependencies.pth").write_text("\n".join(sorted(set(dependencies))) + "\n", encoding="utf-8")
    found = _run([str(python), "-c", "import proseo_odata.odata.parser as p; print(p.__file__);"
                  "print(type(p.parse_filter('Name eq 1')).__name__)"], cwd=tmp_path).stdout.split()
    assert found == [str(source / "proseo_odata" / "odata" / "parser.py"), "Compare"], found
