"""Pinned npm packages the tests run with Node.js, written once: ``install_node_package`` copies a
folder of tests/data/ (package.json, package-lock.json, the tests' scripts) into its own folder
under ``.node/`` (gitignored; one sibling folder per package, so that Node's module look-up,
which walks up the folders, never finds one package's modules from the other) and runs
``npm ci --ignore-scripts`` there: once, and again only when package.json or the lock file
changed or the installed version is not the pinned one. A stamp of the two files is written
only after an install succeeded; the scripts are copied on every run. Installs of one folder take
turns (a lock file beside it), as two pytest-xdist workers may need one package at once.

Without Node.js or without access to the npm registry it raises :class:`NodePackageUnavailable`
with a message saying so; the tests turn that into a failure, never a skip (CI has registry
access): :func:`node_package_or_fail`. Users: tests/web/test_metadata_openapi.py (the OASIS ``odata-openapi`` converter, in
``.node/odata-openapi/``), tests/web/test_metadata_vocabularies.py (``@sap-ux/odata-vocabularies``, in
``.node/odata-vocabularies/``), tests/clients/test_odata_client.py and test_odip_clients.py (``@odata/client``, in
``.node/odata-client/``) and tests/clients/test_odatajs.py (``odatajs``, in ``.node/odatajs/``).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Every package lives under here (``make clean`` removes it; gitignored).
NODE_ROOT = REPO / ".node"
NPM_TIMEOUT = 300
#: The files that decide what ``npm ci`` installs; the others of a folder are the tests' scripts.
MANIFESTS = ("package.json", "package-lock.json")


class NodePackageUnavailable(Exception):
    """Node.js/npm missing, or ``npm ci`` failed (for example: the registry is unreachable)."""


def installed_version(target: Path, package: str):
    manifest = target / "node_modules" / package / "package.json"
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None


def install_node_package(source: Path, target: Path, package: str, version: str, files, *, purpose: str,
                         env=None) -> Path:
    """``npm ci`` the folder ``source`` (its ``files``, package-lock.json among them, pinning
    ``package`` at ``version``) into ``target``; the install is skipped when ``target`` was
    installed from the same package.json and lock file and holds that version. Returns
    ``target``; :class:`NodePackageUnavailable` on any failure, its message naming ``purpose``
    (what the tests need the package for)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise NodePackageUnavailable(f"Node.js and npm are required to {purpose} (Debian: apt-get install nodejs npm)")
    target.mkdir(parents=True, exist_ok=True)
    stamp = target / ".installed-from"
    wanted = hashlib.sha256(b"\0".join((source / name).read_bytes() for name in MANIFESTS)).hexdigest()
    # One install at a time: test modules on two pytest-xdist workers may use one package
    # (@odata/client) at once; the second waits for the first's npm ci and then finds it done.
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.exists() and stamp.read_text(encoding="ascii") == wanted
                and installed_version(target, package) == version):
            stamp.unlink(missing_ok=True)
            _npm_ci(source, target, package, version, purpose, env)
            stamp.write_text(wanted, encoding="ascii")
        for name in files:
            if name not in MANIFESTS:  # replaced whole: another worker's node may be reading it
                partial = target / f".{name}.{os.getpid()}"
                shutil.copyfile(source / name, partial)
                os.replace(partial, target / name)
    return target


def node_package_or_fail(*args, **kwargs) -> Path:
    """:func:`install_node_package`, its :class:`NodePackageUnavailable` a test failure (never a
    skip) with the message that says what is missing."""
    import pytest

    try:
        return install_node_package(*args, **kwargs)
    except NodePackageUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def _npm_ci(source: Path, target: Path, package: str, version: str, purpose: str, env) -> None:
    for name in MANIFESTS:
        shutil.copyfile(source / name, target / name)
    command = ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(target)]
    try:
        result = subprocess.run(command, cwd=target, env=env, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise NodePackageUnavailable(f"`{' '.join(command)}` did not finish in {NPM_TIMEOUT} s: is the npm registry "
                                     "reachable?") from None
    if result.returncode != 0 or installed_version(target, package) != version:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise NodePackageUnavailable(f"could not install {package} {version} from the npm registry with "
                                     f"`{' '.join(command)}` (exit {result.returncode}); the tests need it to "
                                     f"{purpose}:\n{tail}")
