"""ODIP and PRIP subscriptions driven by generic OData V4 clients, on SQLite and PostgreSQL, against
tests/odip_service.py's server (a real waitress server with one worker and a real notification
receiver).

1. The npm package ``@odata/client`` (pinned in ``tests/data/odata-client/package-lock.json``, the package
tests/clients/test_odata_client.py searches PRIP with), through its entity-set API only
(``create``, ``retrieve``, ``query``, ``count``, the bound ``action``): production orders are
created, one is cancelled, another runs on the service's worker until completed and its output
is read inline (``$expand=Product``) and from the PRIP catalogue; a subscription is created,
paused, resumed and cancelled. The script is tests/data/odata-client/odip_orders.js. Without
Node.js or the npm registry the test FAILS; it never skips.
2. python-odata (PyPI, in the clients' venv), which reflects ``$metadata`` into entity classes:
a workflow found by name, an order created with ``service.save`` and read by its key until it
has ended, its output product through the reflected navigation property, the orders listed. The
script is tests/clients/python_odata_odip.py.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from urllib.parse import unquote

import pytest
from client_support import ODATA_CLIENT_VERSION, ROOT, run_client
from live_server import wait_for
from odip_service import L1C_NAME, L2A_ID, ODIP, PRIP, USER, odip_service

pytestmark = pytest.mark.slow


@pytest.fixture
def service(db_url, tmp_path):
    with odip_service(db_url, tmp_path) as running:
        yield running


def _run(target, base: str, notification_url: str) -> dict:
    env = dict(os.environ, ODIP_USERNAME=USER[0], ODIP_PASSWORD=USER[1])
    result = subprocess.run(["node", str(target / "odip_orders.js"), f"{base}{ODIP}/", f"{base}{PRIP}/", L1C_NAME,
                             notification_url], capture_output=True, text=True, timeout=180, cwd=target, env=env)
    if result.returncode != 0:
        pytest.fail(f"odip_orders.js exited {result.returncode}\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n"
                    f"{result.stderr[-6000:]}", pytrace=False)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_odata_client_orders_cancels_and_subscribes(odata_client, service):
    base, receiver, _ = service
    report = _run(odata_client, base, receiver.url)
    sent = [(r["method"], unquote(r["url"]), r["status"]) for r in report["requests"]]
    odip, prip = f"{base}{ODIP}", f"{base}{PRIP}"

    # Every request answered as the library expects: 201 for a creation, 200 otherwise.
    assert [status for method, url, status in sent] == [
        201 if method == "POST" and url.endswith(("/ProductionOrders", "/Subscriptions")) else 200
        for method, url, _ in sent], sent

    # 1. the workflow, found by the builder's filter, its options inline
    assert report["workflows"] == [{"Id": L2A_ID, "Name": "S2_L1C_L2A", "Options": ["ImageFormat"]}]
    assert sent[0] == ("GET", f"{odip}/Workflows?$filter=Name eq 'S2_L1C_L2A'&$expand=WorkflowOptions", 200)

    # 2. two orders created with POST ProductionOrders, the defaults filled in
    (slow_id, slow_status, slow_flow, slow_priority), (demo_id, demo_status, demo_flow, demo_priority) = (
        tuple(o.values()) for o in report["created"])
    assert (slow_status, slow_flow, slow_priority) == ("queued", "SLOW", 50)
    assert (demo_status, demo_flow, demo_priority) == ("queued", "S2_L1C_L2A", 80)
    posted = [json.loads(r["body"]) for r in report["requests"] if r["url"] == f"{odip}/ProductionOrders"]
    assert [body.get("WorkflowName") or body.get("WorkflowId") for body in posted] == ["SLOW", L2A_ID]

    # 3. the bound action, on the key as the library writes it (quoted)
    assert ("POST", f"{odip}/ProductionOrders('{slow_id}')/OData.CSC.Cancel", 200) in sent
    assert report["cancelled"]["Status"] == "cancelled" and report["cancelled"]["Id"] == slow_id
    assert report["cancelled"]["context"] == "../$metadata#ProductionOrders/$entity"

    # 4. the demo order ran on the worker once the slow one was cancelled
    assert report["statuses"] in (["queued", "in_progress", "completed"], ["queued", "completed"])
    finished = report["finished"]
    assert finished["StatusMessage"] == "requested output product is available" and finished["OrderOutputSize"] > 0
    assert ("GET", f"{odip}/ProductionOrders('{demo_id}')", 200) in sent

    # 5. its output inline, 8. and in the catalogue, by its key
    product = report["product"]
    assert product["Name"].startswith("S2B_MSIL2A_") and product["ContentLength"] == finished["OrderOutputSize"]
    assert ("GET", f"{odip}/ProductionOrders('{demo_id}')?$expand=Product", 200) in sent
    assert report["catalogued"] == {"Id": product["Id"], "Name": product["Name"]}
    assert ("GET", f"{prip}/Products('{product['Id']}')", 200) in sent

    # 6. a cancel of an ended order answers it unchanged
    assert report["cancelAgain"] == "completed"

    # 7. counted and listed by the builder's options
    assert report["completedCount"] == 1
    assert report["listed"] == [[slow_id, "cancelled"], [demo_id, "completed"]]
    assert ("GET", f"{odip}/ProductionOrders?$filter=Status eq 'completed'&$top=1&$count=true", 200) in sent
    assert ("GET", f"{odip}/ProductionOrders?$orderby=SubmissionDate asc&$select=Id,Status", 200) in sent

    # 9. the subscription's life through its bound actions
    assert report["subscription"] == ["running", "paused", "running", "cancelled", "cancelled"]
    for action in ("Pause", "Resume", "Cancel"):
        assert ("POST", f"{prip}/Subscriptions('{report['subscriptionId']}')/OData.CSC.{action}", 200) in sent

    # The order's notification reached the real receiver, naming the product the client read.
    notice, = wait_for(lambda: receiver.for_order(demo_id), 60, what="the demo order's notification")
    assert notice["body"]["ProductId"] == product["Id"] and notice["body"]["ProductName"] == product["Name"]


def test_python_odata_reflects_orders_and_reads_the_output(clients_python, service, tmp_path):
    base, _, _ = service
    report = run_client(clients_python, "python_odata_odip.py", base, L1C_NAME,
                        env={"ODIP_USERNAME": USER[0], "ODIP_PASSWORD": USER[1], "HOME": str(tmp_path)})
    sent = [tuple(request) for request in report["requests"]]
    odip = f"{base}{ODIP}"
    assert [status for method, url, status in sent] == [201 if method == "POST" else 200 for method, url, _ in sent], sent

    assert report["workflow"] == {"Id": L2A_ID, "Name": "S2_L1C_L2A", "Options": ["ImageFormat"]}
    assert ("GET", f"{odip}/Workflows?$top=1&$filter=(Name eq 'S2_L1C_L2A')", 200) in sent
    # saved: the library's POST, and the order the answer carries
    created = report["created"]
    assert ("POST", f"{odip}/ProductionOrders", 201) in sent
    assert (created["Status"], created["Priority"], created["WorkflowName"]) == ("queued", 70, "S2_L1C_L2A")
    assert created["WorkflowOptions"] == [{"Name": "ImageFormat", "Value": "JPG"}] and created["Reference"] == L1C_NAME
    # by its key (the library filters on Id) until completed
    assert report["statuses"] in (["queued", "in_progress", "completed"], ["queued", "completed"])
    assert ("GET", f"{odip}/ProductionOrders?$filter=(Id eq {created['Id']})", 200) in sent
    finished = report["finished"]
    assert finished["StatusMessage"] == "requested output product is available" and finished["CompletedDate"]
    # the output through the navigation property
    product = report["product"]
    assert ("GET", f"{odip}/ProductionOrders({created['Id']})/Product", 200) in sent
    assert product["Name"].startswith("S2B_MSIL2A_") and product["ContentLength"] == finished["OrderOutputSize"] > 0
    assert report["listed"] == [[created["Id"], "completed"]]


def test_docs_show_the_lines_the_clients_run():
    docs = (ROOT / "docs" / "odip.md").read_text(encoding="utf-8")
    documented = set(docs.splitlines())
    script = (ROOT / "tests" / "clients" / "python_odata_odip.py").read_text(encoding="utf-8")
    section = re.split(r"\n *# ---", script.split("# --- the snippet of docs/odip.md", 1)[1], maxsplit=1)[0]
    code = [line for line in textwrap.dedent(section.split("\n", 1)[1]).splitlines() if line.strip()]
    assert len(code) == 12
    assert [line for line in code if line not in documented] == []
    pins = (ROOT / "tests" / "clients" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert "python-odata==0.8.1" in pins and "python-odata 0.8.1 (PyPI)" in docs
    assert f"`@odata/client` {ODATA_CLIENT_VERSION} (npm" in docs and "tests/data/odata-client/odip_orders.js" in docs
