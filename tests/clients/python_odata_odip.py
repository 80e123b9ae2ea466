"""python-odata (PyPI ``python-odata``, a generic OData V4 client that reflects ``$metadata`` into
entity classes) against an ODIP, used as its README shows: ``ODataService(root, auth=...,
reflect_entities=True)``, queries built from the reflected properties, a new entity saved with
``service.save`` (``POST ProductionOrders``), a navigation property read from an entity
(``order.Product``). docs/odip.md ("Clients") has the same lines.

Run in the clients' venv (tests/clients/requirements.txt):
    python python_odata_odip.py <server base URL> <input product name>
with ODIP_USERNAME and ODIP_PASSWORD set. Prints one JSON line (the last): every request with
its method and status, and what each step returned.
"""
import json
import os
import sys
import time
from urllib.parse import unquote

import requests
from requests.auth import HTTPBasicAuth

from odata import ODataService

WAIT = 60.0  # seconds: the order's wait is bounded


def main(base_url, input_name):
    sent = []
    session = requests.Session()
    session.hooks["response"].append(
        lambda r, *args, **kwargs: sent.append([r.request.method, unquote(r.url), r.status_code]))
    report = {}

    # --- the snippet of docs/odip.md: python-odata on an ODIP ------------------------------------
    service = ODataService(base_url + "/proseo/odip/odata/v1/", session=session, reflect_entities=True,
                           auth=HTTPBasicAuth(os.environ["ODIP_USERNAME"], os.environ["ODIP_PASSWORD"]),
                           quiet_progress=True)
    Workflow = service.entities["Workflows"]
    Order = service.entities["ProductionOrders"]

    workflow = service.query(Workflow).filter(Workflow.Name == "S2_L1C_L2A").first()
    order = Order()
    order.WorkflowId = workflow.Id
    order.InputProductReference = {"Reference": input_name}
    order.WorkflowOptions = [{"Name": "ImageFormat", "Value": "JPG"}]
    order.Priority = 70
    service.save(order)                     # POST ProductionOrders: 201, the order back
    # ---------------------------------------------------------------------------------------------
    report["workflow"] = {"Id": str(workflow.Id), "Name": workflow.Name,
                          "Options": [option["Name"] for option in workflow.WorkflowOptions]}
    report["created"] = {"Id": str(order.Id), "Status": order.Status.name, "Priority": order.Priority,
                         "WorkflowName": order.WorkflowName, "WorkflowOptions": order.WorkflowOptions,
                         "Reference": order.InputProductReference["Reference"]}

    current, statuses = order, [order.Status.name]
    deadline = time.monotonic() + WAIT
    while statuses[-1] not in ("completed", "failed", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.1)
        current = service.query(Order).get(order.Id)  # by its key
        if current.Status.name != statuses[-1]:
            statuses.append(current.Status.name)
    report["statuses"] = statuses
    report["finished"] = {"StatusMessage": current.StatusMessage, "OrderOutputSize": current.OrderOutputSize,
                          "CompletedDate": current.CompletedDate.isoformat() if current.CompletedDate else None}
    output = current.Product  # GET ProductionOrders(<id>)/Product, once completed
    report["product"] = output and {"Id": str(output.Id), "Name": output.Name, "ContentLength": output.ContentLength}

    listed = (service.query(Order).filter(Order.WorkflowName == "S2_L1C_L2A")
              .order_by(Order.SubmissionDate.desc()).limit(5))
    report["listed"] = [[str(item.Id), item.Status.name] for item in listed]
    report["requests"] = sent
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
