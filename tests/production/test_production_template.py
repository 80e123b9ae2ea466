"""Issue 10 item 3: the shipped production.ini delivers notifications. The server (``pserve``) and a
worker (``proseo-odata -c production.ini worker``, the documented command) run from the template
with only the machine-specific values replaced (database URL -> the test PostgreSQL, archive
folder, workflows file, listen port); an order submitted over HTTP is run by the worker and its
notification reaches a real HTTP receiver with the order's credentials. The worker logs at INFO
from the template's logging sections with ``-c`` given once."""
import base64
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: bench/

from bench.downloads import stop_server as stop  # noqa: E402
from bench.soak import PASSWORD, derive_ini  # noqa: E402

from enginekit import DEMO_WORKFLOWS, L1C_NAME, add_input
from live_server import Receiver, free_port, wait_for
from proseo_odata.archive import load_archive
from proseo_odata.cli import read_settings
from proseo_odata.storage import load_storage
from proseo_odata.storage.errors import NotFoundError


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
    # production.ini sweeps evicted products inside the server (proseo.eviction.interval)
    evicted = add_input(storage, load_archive(settings), name="S2A_MSIL1C_EVICTED.zip")
    evicted.eviction_date = datetime(2024, 1, 1, tzinfo=timezone.utc)
    storage.update_product(evicted)

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
        [request] = receiver.received
        body = request["body"]
        assert body["ProductionOrderId"] == order_id and body["ProductName"], body
        assert request["auth"] == "Basic " + base64.b64encode(f"hook:{PASSWORD}".encode()).decode()
        order = requests.get(f"{base}/ProductionOrders({order_id})", auth=("DEMO\\alice", "alice-pw"), timeout=30).json()
        assert order["Status"] == "completed"

        def gone():
            try:
                storage.get_product_by_name("DEMO", evicted.name)
            except NotFoundError:
                return True
            return False
        assert wait_for(gone, 30, 0.2), server_log.read_text()[-3000:]
    finally:
        stop(worker)
        stop(server)
        receiver.close()
        storage.close()
    log = worker_log.read_text()
    # Logging from the template (INFO for proseo_odata), with -c given once.
    assert "INFO" in log and "production pool started" in log and f"order {order_id} completed" in log, log[-3000:]
    assert PASSWORD not in log and PASSWORD not in server_log.read_text()
