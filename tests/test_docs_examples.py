"""The documentation's examples run as written against ``make run``'s server.

Every fenced ``sh`` and ``python`` block of the pages below that talks to the demo service
(``http://127.0.0.1:6543/proseo/...``) is run, the blocks of one page and language one after the
other in one shell or one interpreter, as a reader pastes them into one terminal. Only the port
and the notification endpoints (``https://...example...``) are changed: the server is ``pserve``
on a copy of development.ini with ``make run``'s demo data (``proseo-odata initdb`` and
``demo-data``), on a free port, and the endpoints are a receiver on 127.0.0.1 (nothing leaves the
machine; the order of docs/odip.md must notify it). In the shell, ``curl`` fails on an HTTP error
(``--fail-with-body``) and the script stops at the first failing command, so an example whose
request the service refuses, or whose command no longer exists, fails the test.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from live_server import Receiver, free_port, wait_for

REPO = Path(__file__).resolve().parents[1]
DEMO_ROOT = "127.0.0.1:6543"
BIN = Path(sys.executable).parent

#: (page, language of its blocks): the pages whose examples talk to the demo service
PAGES = [
    ("README.md", "sh"),
    ("docs/quickstart.md", "sh"),
    ("docs/prip.md", "sh"),
    ("docs/prip.md", "python"),
    ("docs/downloads.md", "sh"),
    ("docs/subscriptions.md", "sh"),
    ("docs/odip.md", "sh"),
    ("docs/odip.md", "python"),
]

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


#: a block that reads the service root an earlier block of its page set (``ROOT=...``)
_USES_ROOT = re.compile(r"\$ROOT\b|\bROOT \+|\{ROOT\}")


def demo_blocks(page: str, language: str) -> list[str]:
    """The fenced ``language`` blocks of ``page`` that address the demo service (its root, or
    ``ROOT`` that an earlier block set to it), in order."""
    text = (REPO / page).read_text(encoding="utf-8")
    return [body for lang, body in _FENCE.findall(text)
            if lang == language and (f"{DEMO_ROOT}/proseo/" in body or _USES_ROOT.search(body))]


def test_every_listed_page_has_examples_and_no_other_page_talks_to_the_demo_service():
    """A page that gains an example of the demo service is run too (add it to PAGES)."""
    for page, language in PAGES:
        assert demo_blocks(page, language), f"{page} has no {language} example of the demo service"
    listed = {page for page, _ in PAGES}
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        name = str(page.relative_to(REPO))
        for language in ("sh", "python"):
            if name not in listed or (name, language) not in PAGES:
                assert not demo_blocks(name, language), f"{name} has {language} examples this test does not run"


@pytest.fixture(scope="module")
def demo_port(tmp_path_factory):
    """``make run``'s steps in a folder of their own: development.ini (its demo workflows file
    read from the repository), initdb, demo-data, pserve on a free port (``PROSEO_PORT``)."""
    site = tmp_path_factory.mktemp("docs-site")
    ini = site / "development.ini"
    ini.write_text((REPO / "development.ini").read_text(encoding="utf-8").replace(
        "%(here)s/proseo_odata/demo", str(REPO / "proseo_odata" / "demo")), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this tree's code, whatever the venv was installed from
    for command in ("initdb", "demo-data"):
        subprocess.run([str(BIN / "proseo-odata"), "-c", str(ini), command], check=True, env=env, cwd=site,
                       capture_output=True, timeout=120)
    port = free_port()
    log_path = site / "pserve.log"
    log = log_path.open("wb")
    server = subprocess.Popen([str(BIN / "pserve"), str(ini)], env={**env, "PROSEO_PORT": str(port)}, cwd=site,
                              stdout=log, stderr=subprocess.STDOUT)

    def serving():  # this server (its log says so), answering
        assert server.poll() is None, log_path.read_text(errors="replace")
        if f"Serving on http://127.0.0.1:{port}" not in log_path.read_text(errors="replace"):
            return False
        try:
            return requests.get(f"http://127.0.0.1:{port}/proseo/prip/odata/v1/", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(serving, timeout=60, what="the demo server")
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


#: the reader's shell: stop at the first failing command; curl fails on an HTTP error (but a
#: resumed download, -C -, of a file already whole is curl's success on a 416)
_SHELL_PRELUDE = """set -euo pipefail
curl() {
  case " $* " in
    *" -C "*) command curl --show-error "$@" ;;
    *) command curl --fail-with-body --show-error "$@" ;;
  esac
}
"""


#: a notification endpoint of an example (an order's, a subscription's)
_ENDPOINT = re.compile(r"https://[\w.-]*example[\w.-]*(?:/[\w/-]*)?")


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as endpoint:
        yield endpoint


@pytest.mark.parametrize("page, language", PAGES, ids=[f"{page}:{language}" for page, language in PAGES])
def test_the_examples_of_a_page_run_as_written(demo_port, receiver, tmp_path, page, language):
    script = "\n".join(demo_blocks(page, language)).replace(DEMO_ROOT, f"127.0.0.1:{demo_port}")
    script = _ENDPOINT.sub(receiver.url, script)
    if language == "sh":
        command = ["bash", "-c", _SHELL_PRELUDE + script]
    else:
        command = [sys.executable, "-c", script]
    before = len(receiver.received)
    # (docs/odip.md's Python example polls its order for up to 600 s)
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=660,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, f"{page} ({language}) failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    if page == "docs/odip.md" and language == "sh":  # its order names an endpoint: notified on completion
        order = json.loads((tmp_path / "order.json").read_text())
        wait_for(lambda: any(r["body"].get("ProductionOrderId") == order["Id"] for r in receiver.received[before:]),
                 timeout=60, what="the order's notification")
    if "$value" in script:  # the files it downloaded are there, whole zips
        downloaded = [path for path in tmp_path.iterdir() if path.suffix == ".zip"]
        assert downloaded and all(path.read_bytes()[:2] == b"PK" for path in downloaded), downloaded


def test_the_interactive_examples_of_the_docs_give_what_they_show():
    """Every ``>>>`` example of the docs (docs/odata.md's parser examples) gives the output the
    page shows (doctest, ``...`` and line breaks as the page wraps them allowed), the names of
    ``proseo_odata`` imported as the page's first block does."""
    import doctest

    import proseo_odata

    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {name: getattr(proseo_odata, name) for name in proseo_odata.__all__}
    pages = 0
    for page in sorted((REPO / "docs").glob("*.md")):
        examples = [body for lang, body in _FENCE.findall(page.read_text(encoding="utf-8"))
                    if lang == "python" and ">>>" in body]
        pages += bool(examples)
        for number, body in enumerate(examples):
            runner.run(parser.get_doctest(body, globs, f"{page.name}[{number}]", str(page), 0))
    assert pages and runner.tries >= 7
    assert runner.failures == 0, "see the doctest report above"
