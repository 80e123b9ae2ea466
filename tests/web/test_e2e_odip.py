"""End to end, on SQLite and PostgreSQL: the application under a real waitress server on
127.0.0.1 with its in-process worker pool (``proseo.workers = 1``) and notification dispatcher,
driven by the ``requests`` client only.

1. A slow order (an external command that sleeps) is submitted and seen ``in_progress``; it holds
   the only worker.
2. The demo order of the user's documents (S2_L1C_L2A, ImageFormat JPG, on a demo-like S2MSI1C
   zip holding a PNG) is submitted and stays ``queued`` behind it.
3. The slow order is cancelled over HTTP: it answers ``cancelled`` at once, its worker stops the
   processor (the command's process group), and the demo order runs.
4. The demo order goes ``queued -> in_progress -> completed`` (polled, bounded); a real HTTP
   receiver on 127.0.0.1 gets its notification with the endpoint's Basic credentials, and the
   cancelled order's notification with ``Status``.
5. The output is downloaded through PRIP ``Products(<id>)/$value``; its MD5 matches the
   catalogue's checksum, and it is a zip holding a JPEG.
Every wait is bounded.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import time
import zipfile
from pathlib import Path

import pytest
import requests
from live_server import wait_for
from odip_helpers import L1C_NAME, L2A_ID, ODIP, order_body
from odip_service import PRIP, odip_service

WAIT = 60.0  # seconds; every wait below is bounded by it


@pytest.fixture
def service(db_url, tmp_path):
    """The running service: (base URL, receiver, scratch folder); everything stopped afterwards."""
    with odip_service(db_url, tmp_path) as running:
        yield running


def _processes_running(*markers: str) -> list[int]:
    """Ids of live processes whose command line contains every marker (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().split()[2]
        except OSError:
            continue
        if all(marker in cmdline for marker in markers) and state != "Z":
            found.append(int(entry))
    return found


def test_demo_order_end_to_end(service):
    base, receiver, scratch = service
    session = requests.Session()
    session.auth = ("DEMO\\demo", "demo")
    timeout = 30

    def order(order_id):
        answer = session.get(f"{base}{ODIP}/ProductionOrders({order_id})", timeout=timeout)
        assert answer.status_code == 200, answer.text
        return answer.json()

    # The workflows the service offers.
    workflows = session.get(f"{base}{ODIP}/Workflows", params={"$filter": "Name eq 'S2_L1C_L2A'"}, timeout=timeout)
    assert workflows.status_code == 200 and workflows.json()["value"][0]["Id"] == L2A_ID

    # 1. A slow order holds the only worker.
    slow = session.post(f"{base}{ODIP}/ProductionOrders", json={
        "WorkflowName": "SLOW", "InputProductReference": {"Reference": L1C_NAME},
        "NotificationEndpoint": receiver.url,
    }, timeout=timeout)
    assert slow.status_code == 201, slow.text
    slow_id = slow.json()["Id"]
    wait_for(lambda: order(slow_id)["Status"] == "in_progress", WAIT, what="the slow order to start")
    wait_for(lambda: _processes_running(scratch, "--delay"), WAIT, what="the slow processor to run")

    # 2. The demo order of the user's documents waits behind it.
    demo_body = order_body(NotificationEndpoint=receiver.url, NotificationEpPassword="e2e-secret")
    created = session.post(f"{base}{ODIP}/ProductionOrder/OData.CSC.Order", json=demo_body, timeout=timeout)
    assert created.status_code == 201, created.text
    demo = created.json()
    assert demo["Status"] == "queued" and demo["NotificationEpPassword"] == "********"
    assert created.headers["Location"] == f"{base}{ODIP}/ProductionOrders({demo['Id']})"
    time.sleep(0.5)  # several poll rounds of the worker: it is busy, the order must stay queued
    seen = [order(demo["Id"])["Status"]]
    assert seen == ["queued"]

    # 3. Cancel the slow order: answered at once, its processor is stopped.
    cancelled = session.post(f"{base}{ODIP}/ProductionOrder({slow_id})/OData.CSC.Cancel", timeout=timeout)
    assert cancelled.status_code == 200 and cancelled.json()["Status"] == "cancelled"
    wait_for(lambda: not _processes_running(scratch, "--delay"), 20, what="the slow processor to be stopped")

    # 4. The demo order runs: queued -> in_progress -> completed, polled.
    deadline = time.monotonic() + WAIT
    while seen[-1] != "completed":
        assert time.monotonic() < deadline, f"demo order not completed in time; statuses seen {seen}"
        status = order(demo["Id"])["Status"]
        assert status in ("queued", "in_progress", "completed"), status
        if status != seen[-1]:
            seen.append(status)
        time.sleep(0.02)
    assert seen in (["queued", "in_progress", "completed"], ["queued", "completed"])  # too quick to see, at most
    finished = order(demo["Id"])
    assert finished["StatusMessage"] == "requested output product is available"
    assert finished["OrderOutputSize"] > 0 and finished["CompletedDate"] and finished["EvictionDate"]
    assert finished["WorkflowOptions"] == [{"Name": "ImageFormat", "Value": "JPG"}]

    # The cancelled order stays cancelled; cancelling it or the completed one again changes nothing.
    assert order(slow_id)["Status"] == "cancelled"
    again = session.post(f"{base}{ODIP}/ProductionOrders({demo['Id']})/OData.CSC.Cancel", timeout=timeout)
    assert again.status_code == 200 and again.json() == dict(finished, **{"@odata.context": again.json()["@odata.context"]})

    # The notifications reached the receiver.
    demo_request, = wait_for(lambda: receiver.for_order(demo["Id"]), WAIT, what="the demo notification")
    note = demo_request["body"]
    assert demo_request["type"].startswith("application/json")
    assert demo_request["auth"] == "Basic " + base64.b64encode(b"myserviceuser:e2e-secret").decode()
    assert note["@odata.context"] == "$metadata#Notification/$entity"
    assert note["ProductionOrderId"] == demo["Id"]
    assert note["NotificationDate"].endswith("Z")
    slow_request, = wait_for(lambda: receiver.for_order(slow_id), WAIT, what="the cancel notification")
    assert slow_request["body"]["Status"] == "cancelled" and slow_request["auth"] is None

    # The output product, through ODIP's navigation and through PRIP.
    product = session.get(f"{base}{ODIP}/ProductionOrders({demo['Id']})/Product", timeout=timeout).json()
    assert product["Id"] == note["ProductId"] and product["Name"] == note["ProductName"]
    assert product["Name"].startswith("S2B_MSIL2A_")
    assert product["ProductionType"] == "on-demand:non-default"
    catalogue = session.get(f"{base}{PRIP}/Products({note['ProductId']})", timeout=timeout)
    assert catalogue.status_code == 200
    md5 = next(c["Value"] for c in catalogue.json()["Checksum"] if c["Algorithm"] == "MD5")
    typed = session.get(f"{base}{PRIP}/Products", timeout=timeout, params={
        "$filter": "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' "
                   "and att/OData.CSC.StringAttribute/Value eq 'S2MSI2A')"}).json()
    assert [p["Id"] for p in typed["value"]] == [note["ProductId"]]

    with session.get(f"{base}{PRIP}/Products({note['ProductId']})/$value", stream=True, timeout=timeout) as download:
        assert download.status_code == 200
        data = b"".join(download.iter_content(64 * 1024))
    assert hashlib.md5(data).hexdigest() == md5.lower()
    assert len(data) == finished["OrderOutputSize"] == catalogue.json()["ContentLength"]
    with zipfile.ZipFile(io.BytesIO(data)) as output:
        images = [name for name in output.namelist() if name.lower().endswith((".jpg", ".jpeg"))]
        assert images, output.namelist()
        assert output.read(images[0])[:3] == b"\xff\xd8\xff"  # a JPEG
        quicklook = output.read("quicklook.jpg")
    # its quicklook, from ODIP's navigation too: a link into PRIP's Nodes
    expanded = session.get(f"{base}{ODIP}/ProductionOrders({demo['Id']})/Product?$expand=Assets", timeout=timeout)
    (asset,) = expanded.json()["Assets"]
    assert asset["Type"] == "QUICKLOOK" and asset["DownloadLink"].startswith(f"{base}{PRIP}/Products({note['ProductId']})/")
    assert session.get(asset["DownloadLink"], timeout=timeout).content == quicklook
    same = session.get(f"{base}{ODIP}/ProductionOrders({demo['Id']})/Product/$value", timeout=timeout)
    assert same.status_code == 200 and same.content == data
