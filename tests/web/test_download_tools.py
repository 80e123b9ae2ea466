"""The command-line download tools users fetch products with, against a live server: curl and
GNU Wget (both on every machine image this project runs on) download a product's ``$value``
with Basic credentials, name the file from ``Content-Disposition``, and resume a partial file
with a ``Range`` request. Wget sends credentials only after a ``401`` with a ``Basic``
challenge, so it also shows that the challenge is there."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from live_server import serve_wsgi

from prip_helpers import P1_FILE, PRIP, USERS, served_app

pytestmark = pytest.mark.slow


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: the download tools' tests need it (Debian package {name})")
    return path


@pytest.fixture
def value_url(app_settings, catalogue):
    with served_app(app_settings) as app, serve_wsgi(app.app) as url:
        yield f"{url}{PRIP}/Products({catalogue.id('p1')})/$value", catalogue.products["p1"].name


def _login():
    mission, name, password, _roles = USERS["alice"]
    return f"{mission}\\{name}", password


def _run(args, cwd):
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (args[0], done.returncode, done.stderr[-2000:])
    return done


def test_curl_names_the_file_and_resumes_it(value_url, tmp_path):
    url, name = value_url
    user, password = _login()
    curl = _tool("curl")
    _run([curl, "-sS", "-f", "-u", f"{user}:{password}", "-O", "-J", url], tmp_path)
    assert (tmp_path / name).read_bytes() == P1_FILE
    partial = tmp_path / "resumed.zip"
    partial.write_bytes(P1_FILE[:400])  # an interrupted download
    _run([curl, "-sS", "-f", "-u", f"{user}:{password}", "-C", "-", "-o", str(partial), url], tmp_path)
    assert partial.read_bytes() == P1_FILE


def test_wget_answers_the_challenge_names_the_file_and_continues_it(value_url, tmp_path):
    url, name = value_url
    user, password = _login()
    wget = _tool("wget")
    credentials = [f"--user={user}", f"--password={password}"]
    _run([wget, "-q", "--content-disposition", *credentials, url], tmp_path)  # credentials after the 401
    assert (tmp_path / name).read_bytes() == P1_FILE
    (tmp_path / name).write_bytes(P1_FILE[:700])
    _run([wget, "-q", "-c", "--content-disposition", *credentials, url], tmp_path)
    assert (tmp_path / name).read_bytes() == P1_FILE
    refused = subprocess.run([wget, "-q", "-O", "-", f"--user={user}", "--password=wrong", url],
                             capture_output=True, timeout=60)
    assert refused.returncode == 6 and refused.stdout == b""  # 6: authentication failed
