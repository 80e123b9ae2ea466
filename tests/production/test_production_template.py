"""Issue 10 item 3: the shipped production.ini delivers notifications. The server (``pserve``) and a
worker (``proseo-odata -c production.ini worker``, the documented command) run from the template
with only the machine-specific values replaced (database URL -> the test PostgreSQL, archive
folder, workflows file, listen port); an order submitted over HTTP is run by the worker and its
notification reaches a real HTTP receiver with the order's credentials. The worker logs at INFO
from the template's logging sections with ``-c`` given once."""
import base64
import json
import re
import signal
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from enginekit import DEMO_WORKFLOWS, L1C_NAME, add_input, wait_for
from proseo_odata.archive import load_archive
from proseo_odata.cli import read_settings
from proseo_odata.model import Mission, Role, User, hash_password
from proseo_odata.storage import load_storage

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "PWX-333-topsecret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def derive_ini(target: Path, replacements: dict) -> Path:
    """production.ini with the values of ``replacements`` (key -> value) replaced; every key
    must exist in the template (a renamed key fails the test rather than being ignored)."""
    text = (ROOT / "production.ini").read_text(encoding="utf-8")
    for key, value in replacements.items():
        pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
        text, count = pattern.subn(lambda _m: f"{key} = {value}", text)
        assert count == 1, f"production.ini has no single line for {key}"
    target.write_text(text, encoding="utf-8")
    return target


class Receiver:
    def __init__(self):
        self.received = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.received.append((json.loads(body), self.headers.get("Authorization")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.postgresql
@pytest.mark.slow
def test_production_ini_server_and_worker_notify_an_order(migrated_pg_url, tmp_path):
    port = free_port()
    archive_dir = tmp_path / "archive"
    ini = derive_ini(tmp_path / "production.ini", {
        "proseo.storage.url": migrated_pg_url,
        "proseo.archive.path": str(archive_dir),
        "proseo.workflows.file": str(DEMO_WORKFLOWS),
        "listen": f"127.0.0.1:{port}",
    })
    settings = read_settings(str(ini))
    assert settings["proseo.workers"] == "0"  # as shipped: workers run separately
    cli = [sys.executable, "-m", "proseo_odata.cli", "-c", str(ini)]
    for args in (["initdb"], ["mission", "add", "DEMO", "--name", "Demo"]):
        subprocess.run(cli + args, check=True, capture_output=True, timeout=120)
    subprocess.run(cli + ["user", "add", "DEMO\\alice", "--role", "ODIP_USER", "--role", "PRIP_USER", "--password-stdin"],
                   input="alice-pw\n", text=True, check=True, capture_output=True, timeout=60)
    storage = load_storage(settings)
    add_input(storage, load_archive(settings))

    receiver = Receiver()
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    with open(server_log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "pyramid.scripts.pserve", str(ini)], stdout=out,
                                  stderr=subprocess.STDOUT, cwd=tmp_path)
    with open(worker_log, "wb") as out:
        worker = subprocess.Popen(cli + ["worker"], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}/proseo/odip/odata/v1"
    try:
        def up():
            try:
                return requests.get(f"{base}/", timeout=2).status_code < 500
            except requests.RequestException:  # not listening yet, or still loading the app
                return server.poll() is not None  # stop waiting when it died
        assert wait_for(up, 60, 0.2) and server.poll() is None, server_log.read_text()[-3000:]
        response = requests.post(f"{base}/ProductionOrders", auth=("DEMO\\alice", "alice-pw"), timeout=30, json={
            "WorkflowName": "S2_L1C_L2A", "InputProductReference": {"Reference": L1C_NAME},
            "NotificationEndpoint": receiver.url, "NotificationEpUsername": "hook", "NotificationEpPassword": PASSWORD,
        })
        assert response.status_code == 201, response.text
        order_id = response.json()["Id"]
        assert wait_for(lambda: receiver.received or worker.poll() is not None, 90, 0.2), \
            worker_log.read_text()[-3000:]
        [(body, authorization)] = receiver.received
        assert body["ProductionOrderId"] == order_id and body["ProductName"], body
        assert authorization == "Basic " + base64.b64encode(f"hook:{PASSWORD}".encode()).decode()
        order = requests.get(f"{base}/ProductionOrders({order_id})", auth=("DEMO\\alice", "alice-pw"), timeout=30).json()
        assert order["Status"] == "completed"
    finally:
        stop(worker)
        stop(server)
        receiver.close()
        storage.close()
    log = worker_log.read_text()
    # Logging from the template (INFO for proseo_odata), with -c given once.
    assert "INFO" in log and "production pool started" in log and f"order {order_id} completed" in log, log[-3000:]
    assert PASSWORD not in log and PASSWORD not in server_log.read_text()
