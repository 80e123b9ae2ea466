"""ODIP routes through WebTest on SQLite and PostgreSQL: service document, $metadata, Workflows,
ProductionOrders (every filter of contract section 6), the key forms, cancel, the output Product
and its $value, wrong methods and paths, and who sees what (contract section 8). The tests marked
``shared_app`` only read: they share one ODIP world per backend (tests/web/conftest.py)."""
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET

import pytest

from proseo_odata.archive.testing import store_product_file
from proseo_odata.model import Attribute, VisibilityClass

from odip_helpers import (
    COMPRESS_ID,
    DISABLED_ID,
    L1C_NAME,
    L2A_ID,
    MASK,
    ODIP,
    OTHER_WF_ID,
    _order,
    auth,
    json_of,
    l1c_zip,
    utc,
)

WARNING = re.compile(r"^\d{3} proseo-api-odip \([EW]\d+\) .+$")
ALL_DEMO = {"u_queued", "u_completed", "u_failed", "w_running", "w_cancelled"}


def assert_error(response, status: int, code: str | None = None):
    assert response.status_int == status, response.body
    assert WARNING.match(response.headers["Warning"]), response.headers["Warning"]
    error = json_of(response)["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
        assert f"({code})" in response.headers["Warning"]
    return error


def labels(odip, body) -> set:
    by_id = {str(order.id): label for label, order in odip.orders.items()}
    return {by_id[item["Id"]] for item in body["value"]}


def all_labels(odip, url, login, params=None) -> set:
    """Labels of every order over all pages (following @odata.nextLink, bounded)."""
    body = json_of(odip.app.get(url, params or {}, headers=auth(login)))
    found = labels(odip, body)
    for _ in range(10):
        if "@odata.nextLink" not in body:
            return found
        body = json_of(odip.app.get(body["@odata.nextLink"].split("localhost", 1)[1], headers=auth(login)))
        found |= labels(odip, body)
    raise AssertionError("more than 10 pages")


# -- service document and $metadata ----------------------------------------------------------------


@pytest.mark.shared_app
def test_service_document_lists_odip_sets(odip):
    for path in (f"{ODIP}/", ODIP):
        response = odip.app.get(path)
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.headers["OData-Version"] == "4.0"
        names = {item["name"] for item in json_of(response)["value"]}
        assert names == {"Workflows", "ProductionOrders"}


@pytest.mark.shared_app
def test_metadata_is_the_odip_csdl(odip):
    response = odip.app.get(f"{ODIP}/$metadata")
    assert response.content_type == "application/xml"
    root = ET.fromstring(response.body)
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    sets = {e.get("Name") for e in root.iterfind(".//edm:EntityContainer/edm:EntitySet", ns)}
    assert sets == {"Workflows", "ProductionOrders", "ProductionOrder"}  # every routed name
    schema = root.find(".//edm:Schema", ns)
    assert schema.get("Namespace") == "OData.CSC"
    members = [m.get("Name") for m in root.iterfind(".//edm:EnumType[@Name='JobStatus']/edm:Member", ns)]
    assert members == ["queued", "in_progress", "completed", "failed", "cancelled"]


# -- workflows -------------------------------------------------------------------------------------


@pytest.mark.shared_app
def test_workflows_lists_enabled_workflows_of_the_mission(odip):
    body = json_of(odip.app.get(f"{ODIP}/Workflows?$orderby=Name", headers=auth("ursula")))
    assert body["@odata.context"] == "$metadata#Workflows"
    assert [w["Name"] for w in body["value"]] == ["S2_L1C_COMPRESS", "S2_L1C_L2A"]
    l2a = body["value"][1]
    assert l2a["Id"] == L2A_ID
    assert l2a["InputProductType"] == "S2MSI1C" and l2a["OutputProductType"] == "S2MSI2A"
    assert l2a["WorkflowVersion"] == "1.2"
    assert l2a["WorkflowOptions"] == [{
        "Name": "ImageFormat",
        "Description": "Image Format option for the production output: GEOTIFF, JPG",
        "Type": "String",
        "Default": "GEOTIFF",
        "Value": ["GEOTIFF", "JPG"],
    }]


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "query, expected",
    [
        ("$filter=Name eq 'S2_L1C_L2A'", ["S2_L1C_L2A"]),
        ("$filter=contains(Name,'COMPRESS')", ["S2_L1C_COMPRESS"]),
        ("$filter=OutputProductType eq 'S2MSI2A' or WorkflowVersion eq '1.0'&$orderby=Name desc",
         ["S2_L1C_L2A", "S2_L1C_COMPRESS"]),
        ("$filter=InputProductType eq 'S2MSI1C'&$orderby=WorkflowVersion desc", ["S2_L1C_L2A", "S2_L1C_COMPRESS"]),
        (f"$filter=Id eq {COMPRESS_ID}", ["S2_L1C_COMPRESS"]),
        ("$filter=Name eq 'S2_DISABLED'", []),
        ("$orderby=Name&$top=1", ["S2_L1C_COMPRESS"]),
        ("$orderby=Name&$skip=1", ["S2_L1C_L2A"]),
    ],
)
def test_workflows_query_options(odip, query, expected):
    body = json_of(odip.app.get(f"{ODIP}/Workflows?{query}", headers=auth("uwe")))
    assert [w["Name"] for w in body["value"]] == expected


@pytest.mark.shared_app
def test_workflows_count_and_select(odip):
    body = json_of(odip.app.get(f"{ODIP}/Workflows?$count=true&$select=Name,WorkflowVersion&$orderby=Name",
                                headers=auth("uwe")))
    assert body["@odata.count"] == 2
    assert body["@odata.context"] == "$metadata#Workflows(Name,WorkflowVersion)"
    assert body["value"] == [
        {"Id": COMPRESS_ID, "Name": "S2_L1C_COMPRESS", "WorkflowVersion": "1.0"},
        {"Id": L2A_ID, "Name": "S2_L1C_L2A", "WorkflowVersion": "1.2"},
    ]
    assert odip.app.get(f"{ODIP}/Workflows/$count", headers=auth("uwe")).text == "2"
    one = json_of(odip.app.get(f"{ODIP}/Workflows({L2A_ID})?$select=Name", headers=auth("uwe")))
    assert one == {"@odata.context": "$metadata#Workflows(Name)/$entity", "Id": L2A_ID, "Name": "S2_L1C_L2A"}


@pytest.mark.shared_app
@pytest.mark.parametrize("key", [L2A_ID, f"'{L2A_ID}'", f"Id={L2A_ID}", L2A_ID.upper()])
def test_one_workflow_by_key(odip, key):
    body = json_of(odip.app.get(f"{ODIP}/Workflows({key})", headers=auth("ursula")))
    assert body["@odata.context"] == "$metadata#Workflows/$entity"
    assert body["Id"] == L2A_ID and body["Name"] == "S2_L1C_L2A"


@pytest.mark.shared_app
@pytest.mark.parametrize("key", [DISABLED_ID, OTHER_WF_ID, "00000000-0000-4000-8000-000000000000"])
def test_hidden_or_missing_workflow_is_404(odip, key):
    response = odip.app.get(f"{ODIP}/Workflows({key})", headers=auth("ursula"), status=404)
    assert_error(response, 404, "E7207")


@pytest.mark.shared_app
def test_bad_workflow_key_and_bad_filter_answer_odip_codes(odip):
    response = odip.app.get(f"{ODIP}/Workflows(not-a-uuid)", headers=auth("ursula"), status=400)
    assert_error(response, 400, "E7221")
    response = odip.app.get(f"{ODIP}/Workflows?$filter=Name eq", headers=auth("ursula"), status=400)
    error = assert_error(response, 400, "E7221")
    assert "column" in error["message"]
    response = odip.app.get(f"{ODIP}/Workflows?$filter=Nope eq 1", headers=auth("ursula"), status=400)
    assert_error(response, 400)
    assert json_of(response)["error"]["code"].startswith("E72")


# -- production orders: listing and filters --------------------------------------------------------


@pytest.mark.shared_app
def test_orders_collection_shape(odip):
    body = json_of(odip.app.get(f"{ODIP}/ProductionOrders?$filter=Status eq 'completed'", headers=auth("ursula")))
    assert body["@odata.context"] == "$metadata#ProductionOrders"
    (order,) = body["value"]
    assert order == {
        "Id": odip.order_id("u_completed"),
        "Status": "completed",
        "StatusMessage": "requested output product is available",
        "OrderOutputSize": 1024,
        "SubmissionDate": "2024-03-01T14:00:00.000Z",
        "EstimatedDate": "2024-03-01T14:05:00.000Z",
        "CompletedDate": "2024-03-01T14:00:00.000Z",
        "EvictionDate": "2024-03-31T14:00:00.000Z",
        "Priority": 80,
        "InputProductReference": {"Reference": L1C_NAME, "ContentDate": None},
        "WorkflowId": L2A_ID,
        "WorkflowName": "S2_L1C_L2A",
        "WorkflowOptions": [{"Name": "ImageFormat", "Value": "JPG"}],
        "NotificationEndpoint": "https://ursula.example/hook",
        "NotificationEpUsername": "hookuser",
        "NotificationEpPassword": MASK,
    }
    assert "hook-secret" not in odip.app.get(f"{ODIP}/ProductionOrders", headers=auth("mgr")).text


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "filter_, expected",
    [
        ("Status eq OData.CSC.JobStatus'completed'", {"u_completed"}),
        ("Status eq 'queued'", {"u_queued"}),
        ("Status ne 'queued' and Status ne 'completed'", {"u_failed", "w_running", "w_cancelled"}),
        ("Status in ('failed', 'cancelled')", {"u_failed", "w_cancelled"}),
        ("Priority gt 50", {"u_completed", "w_running"}),
        ("Priority le 10", {"u_queued"}),
        ("SubmissionDate gt 2024-03-01T14:30:00Z", {"u_failed", "w_running", "w_cancelled"}),
        ("SubmissionDate lt '2024-03-01T14:00:00.000000Z'", {"u_queued"}),
        ("CompletedDate ge 2024-03-01T15:00:00.000Z", {"u_failed", "w_cancelled"}),
        ("CompletedDate eq null", {"u_queued", "w_running"}),
        ("EstimatedDate lt 2024-03-01T14:00:00Z", {"u_queued"}),
        ("WorkflowName eq 'S2_L1C_COMPRESS'", {"u_failed"}),
        (f"WorkflowId eq {COMPRESS_ID}", {"u_failed"}),
        (f"WorkflowId eq {L2A_ID} and Priority eq 50", {"w_cancelled"}),
        (f"InputProductReference/any(att:att/Reference eq '{L1C_NAME}')", ALL_DEMO - {"u_failed"}),
        ("InputProductReference/any(x:startswith(x/Reference,'S2A_'))", {"u_failed"}),
        (f"InputProductReference/Reference eq '{L1C_NAME}' and Status eq 'queued'", {"u_queued"}),
        ("InputProductReference/ContentDate/Start lt 2020-01-01T00:00:00Z", {"u_queued"}),
        # ESA's on-demand requests: a comparison of the period means its Start (docs/query-semantics.md)
        ("InputProductReference/any(att:att/ContentDate gt 2019-10-25T08:59:39.023Z)", {"u_queued"}),
        ("InputProductReference/any(att:att/ContentDate ge 2019-10-25T08:59:39.024Z)", {"u_queued"}),
        ("InputProductReference/any(att:att/ContentDate gt 2019-10-25T08:59:39.024Z)", set()),
        ("InputProductReference/any(att:att/ContentDate lt 2030-01-01T00:00:00.000Z)", {"u_queued"}),
        ("InputProductReference/any(att:att/ContentDate le 2019-01-01T00:00:00.000Z)", set()),
        ("WorkflowOptions/any(att:att/Name eq 'ImageFormat' and att/OData.CSC.StringAttribute/Value eq 'JPG')",
         {"u_completed"}),
        ("WorkflowOptions/any(o:o/Name eq 'ImageFormat' and o/Value eq 'GEOTIFF')",
         {"u_queued", "w_running", "w_cancelled"}),
        ("WorkflowOptions/any(att:att/Name eq 'CompressionLevel')", {"u_failed"}),
        ("OrderOutputSize eq '1024'", {"u_completed"}),
        ("OrderOutputSize eq 1024", {"u_completed"}),
        ("OrderOutputSize gt 0 or Status eq 'failed'", {"u_completed", "u_failed"}),
        ("NotificationEndpoint eq 'https://ursula.example/hook'", {"u_completed"}),
        ("contains(StatusMessage,'processing')", {"u_queued", "w_running"}),
        ("STATUS EQ 'failed'".replace("STATUS", "Status"), {"u_failed"}),
    ],
)
def test_order_filters(odip, filter_, expected):
    assert all_labels(odip, f"{ODIP}/ProductionOrders", "mgr", {"$filter": filter_}) == expected


@pytest.mark.shared_app
def test_password_is_not_filterable_nor_sortable(odip):
    response = odip.app.get(f"{ODIP}/ProductionOrders", {"$filter": "NotificationEpPassword eq 'hook-secret'"},
                            headers=auth("mgr"), status=400)
    error = assert_error(response, 400)
    assert "NotificationEpPassword" in error["message"] and "hook-secret" not in response.text
    response = odip.app.get(f"{ODIP}/ProductionOrders", {"$orderby": "NotificationEpPassword"},
                            headers=auth("mgr"), status=400)
    error = assert_error(response, 400)
    assert "cannot be used in $orderby" in error["message"] and "$filter" not in error["message"]


@pytest.mark.shared_app
def test_orders_orderby_count_paging(odip):
    body = json_of(odip.app.get(f"{ODIP}/ProductionOrders?$orderby=Priority desc,SubmissionDate&$count=true",
                                headers=auth("mgr")))
    assert body["@odata.count"] == 5
    assert [item["Priority"] for item in body["value"]] == [80, 60, 50]  # default page size 3
    assert "%24skip=3" in body["@odata.nextLink"]
    rest = json_of(odip.app.get(body["@odata.nextLink"].split("localhost", 1)[1], headers=auth("mgr")))
    assert [item["Priority"] for item in rest["value"]] == [50, 10]
    assert "@odata.nextLink" not in rest
    assert odip.app.get(f"{ODIP}/ProductionOrders/$count?$filter=Status eq 'queued'", headers=auth("mgr")).text == "1"


@pytest.mark.shared_app
def test_orders_select(odip):
    body = json_of(odip.app.get(f"{ODIP}/ProductionOrders?$select=Status,Priority&$orderby=Priority&$top=1",
                                headers=auth("mgr")))
    assert body["value"] == [{"Id": odip.order_id("u_queued"), "Status": "queued", "Priority": 10}]
    assert body["@odata.context"] == "$metadata#ProductionOrders(Status,Priority)"
    one = json_of(odip.app.get(f"{ODIP}/ProductionOrders({odip.order_id('u_queued')})?$select=Status",
                               headers=auth("mgr")))
    assert one == {"@odata.context": "$metadata#ProductionOrders(Status)/$entity", "Id": odip.order_id("u_queued"),
                   "Status": "queued"}
    expanded = json_of(odip.app.get(f"{ODIP}/ProductionOrders({odip.order_id('u_completed')})?$select=Status"
                                    "&$expand=Product", headers=auth("mgr")))
    assert expanded["@odata.context"] == "$metadata#ProductionOrders(Status)/$entity"
    assert expanded["Status"] == "completed" and expanded["Product"]["Name"] == odip.products["output"].name
    assert set(expanded) == {"@odata.context", "Id", "Status", "Product"}


# -- who sees which orders -------------------------------------------------------------------------


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "login, expected",
    [
        ("ursula", {"u_queued", "u_completed", "u_failed"}),
        ("uwe", {"w_running", "w_cancelled"}),
        ("mgr", ALL_DEMO),
        ("oscar", {"o_queued"}),
    ],
)
def test_users_see_own_orders_managers_the_mission(odip, login, expected):
    assert all_labels(odip, f"{ODIP}/ProductionOrders", login) == expected


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "login, label, status",
    [
        ("ursula", "u_queued", 200),
        ("uwe", "u_queued", 404),  # another user's order
        ("mgr", "u_queued", 200),  # a manager sees the mission's orders
        ("oscar", "u_queued", 404),  # another mission's manager
        ("mgr", "o_queued", 404),
    ],
)
def test_one_order_visibility(odip, login, label, status):
    response = odip.app.get(f"{ODIP}/ProductionOrders({odip.order_id(label)})", headers=auth(login), status=status)
    if status == 404:
        assert_error(response, 404, "E7208")
    else:
        assert json_of(response)["Id"] == odip.order_id(label)


@pytest.mark.parametrize(
    "path, method",
    [
        ("/Workflows", "get"),
        (f"/Workflows({L2A_ID})", "get"),
        ("/ProductionOrders", "get"),
        ("/ProductionOrders/$count", "get"),
        ("/ProductionOrders(d0000000-0000-0000-0000-000000000001)", "get"),
        ("/ProductionOrder(d0000000-0000-0000-0000-000000000001)/OData.CSC.Cancel", "post"),
        ("/ProductionOrder(d0000000-0000-0000-0000-000000000002)/Product", "get"),
        ("/ProductionOrder(d0000000-0000-0000-0000-000000000002)/Product/$value", "get"),
        ("/ProductionOrder", "post"),
        ("/ProductionOrder/OData.CSC.Order", "post"),
    ],
)
def test_auth_matrix(odip, path, method):
    call = getattr(odip.app, method)
    response = call(f"{ODIP}{path}", status=401)
    assert_error(response, 401, "E7203")
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    response = call(f"{ODIP}{path}", headers=auth("ursula", "wrong"), status=401)
    assert_error(response, 401, "E7203")
    response = call(f"{ODIP}{path}", headers=auth("pete"), status=403)
    assert_error(response, 403, "E7204")


def test_bearer_token_from_odip_token_path(odip_settings, odip_password_hashes):
    from odip_helpers import build_world
    from prip_helpers import served_app

    settings = dict(odip_settings, **{"proseo.token.secret": "t" * 40})
    world = build_world(settings, odip_password_hashes)
    try:
        with served_app(settings) as app:
            token = app.post("/proseo/odip/v1/token", {"grant_type": "password", "username": "DEMO\\uwe",
                                                      "password": "uwe-pw"}).json["access_token"]
            body = json_of(app.get(f"{ODIP}/ProductionOrders", headers={"Authorization": f"Bearer {token}"}))
            assert labels(world, body) == {"w_running", "w_cancelled"}
    finally:
        world.storage.close()


# -- key forms -------------------------------------------------------------------------------------


@pytest.mark.shared_app
@pytest.mark.parametrize("template", ["/ProductionOrders('{id}')", "/ProductionOrders({id})",
                                      "/ProductionOrder({id})", "/ProductionOrders(Id={id})"])
def test_order_key_forms(odip, template):
    order_id = odip.order_id("u_failed")
    body = json_of(odip.app.get(ODIP + template.format(id=order_id), headers=auth("ursula")))
    assert body["@odata.context"] == "$metadata#ProductionOrders/$entity"
    assert body["Id"] == order_id and body["Status"] == "failed"
    assert body["WorkflowOptions"] == [{"Name": "CompressionLevel", "Value": "9"}]
    assert body["NotificationEpPassword"] is None


@pytest.mark.shared_app
def test_bad_order_key_is_400(odip):
    response = odip.app.get(f"{ODIP}/ProductionOrders('abc')", headers=auth("ursula"), status=400)
    assert_error(response, 400, "E7221")


# -- cancel ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("entity_set", ["ProductionOrders", "ProductionOrder"])
@pytest.mark.parametrize(
    "label, login, after",
    [
        ("u_queued", "ursula", "cancelled"),
        ("w_running", "uwe", "cancelled"),
        ("w_running", "mgr", "cancelled"),
        ("u_completed", "ursula", "completed"),  # already ended: unchanged, still 200
        ("u_failed", "ursula", "failed"),
        ("w_cancelled", "uwe", "cancelled"),
    ],
)
def test_cancel(odip, entity_set, label, login, after):
    before = odip.storage.get_order("DEMO", odip.orders[label].id)
    response = odip.app.post(f"{ODIP}/{entity_set}({before.id})/OData.CSC.Cancel", headers=auth(login))
    body = json_of(response)
    assert response.status_int == 200
    assert body["Status"] == after
    stored = odip.storage.get_order("DEMO", before.id)
    assert stored.status.value == after
    if before.status.is_terminal:
        assert stored.revision == before.revision  # not written at all
        assert body["StatusMessage"] == before.status_message
        assert body["CompletedDate"] == json_of(
            odip.app.get(f"{ODIP}/ProductionOrders({before.id})", headers=auth(login)))["CompletedDate"]
    else:
        assert body["StatusMessage"] == "request cancelled by user"
        assert stored.completed_date is not None
        # Cancelling twice answers the cancelled order again.
        again = json_of(odip.app.post(f"{ODIP}/{entity_set}({before.id})/OData.CSC.Cancel", headers=auth(login)))
        assert again["Status"] == "cancelled"


def _racing_update_order(monkeypatch, odip, *, finish: bool, conflicts: int = 1):
    """Make the storage's update_order lose ``conflicts`` races: before raising ConflictError
    it lets "the worker" write first, in the same transaction (completing the order when
    ``finish``, else renewing its lease: a revision bump only). Returns the list of calls."""
    from proseo_odata.model import OrderStatus
    from proseo_odata.storage.errors import ConflictError

    storage_class = type(odip.app.app.registry.storage)
    original = storage_class.update_order
    calls = []

    def update_order(self, order):
        calls.append(order.status)
        if len(calls) <= conflicts:
            current = self.get_order(order.mission, order.id)
            if finish:
                current.status = OrderStatus.COMPLETED
                current.status_message = "requested output product is available"
                current.completed_date = utc(2024, 3, 1, 18, 0, 0)
            original(self, current)
            raise ConflictError(f"Production order {order.id} was changed concurrently")
        return original(self, order)

    monkeypatch.setattr(storage_class, "update_order", update_order)
    return calls


def test_cancel_racing_a_completion_answers_the_completed_order(odip, monkeypatch):
    order_id = odip.orders["w_running"].id
    calls = _racing_update_order(monkeypatch, odip, finish=True)
    body = json_of(odip.app.post(f"{ODIP}/ProductionOrders({order_id})/OData.CSC.Cancel", headers=auth("uwe"),
                                 status=200))
    assert len(calls) == 1  # the completed order is not written again
    assert (body["Status"], body["StatusMessage"]) == ("completed", "requested output product is available")
    assert odip.storage.get_order("DEMO", order_id).status.value == "completed"


def test_cancel_racing_a_lease_renewal_cancels_on_the_second_try(odip, monkeypatch):
    order_id = odip.orders["w_running"].id
    calls = _racing_update_order(monkeypatch, odip, finish=False)
    body = json_of(odip.app.post(f"{ODIP}/ProductionOrders({order_id})/OData.CSC.Cancel", headers=auth("uwe"),
                                 status=200))
    assert [status.value for status in calls] == ["cancelled", "cancelled"]  # lost once, then won
    assert body["Status"] == "cancelled"
    assert odip.storage.get_order("DEMO", order_id).status.value == "cancelled"


def test_cancel_losing_every_race_is_a_409_and_retries_once(odip, monkeypatch):
    order_id = odip.orders["w_running"].id
    calls = _racing_update_order(monkeypatch, odip, finish=False, conflicts=99)
    response = odip.app.post(f"{ODIP}/ProductionOrders({order_id})/OData.CSC.Cancel", headers=auth("uwe"),
                             status=409)
    assert_error(response, 409, "E7213")
    assert [status.value for status in calls] == ["cancelled", "cancelled"]  # one retry, no more
    assert odip.storage.get_order("DEMO", order_id).status.value == "in_progress"


def test_cancel_of_someone_elses_order_is_404_and_changes_nothing(odip):
    order_id = odip.order_id("u_queued")
    for login in ("uwe", "oscar"):
        response = odip.app.post(f"{ODIP}/ProductionOrders({order_id})/OData.CSC.Cancel", headers=auth(login),
                                 status=404)
        assert_error(response, 404, "E7208")
    assert odip.storage.get_order("DEMO", odip.orders["u_queued"].id).status.value == "queued"


def test_cancel_with_notification_endpoint_enqueues_the_notification(odip):
    from proseo_odata.model import OrderStatus

    order = odip.storage.get_order("DEMO", odip.orders["w_running"].id)
    order.notification_endpoint = "http://127.0.0.1:9/hook"
    odip.storage.update_order(order)
    odip.app.post(f"{ODIP}/ProductionOrders({order.id})/OData.CSC.Cancel", headers=auth("uwe"))
    (message,) = [m for m in odip.storage.list_notifications() if m.payload.get("ProductionOrderId") == str(order.id)]
    assert message.payload["Status"] == OrderStatus.CANCELLED.value
    assert message.payload["StatusMessage"] == "request cancelled by user"


# -- the output product ----------------------------------------------------------------------------


def refused_message(odip, url: str) -> str:
    return json_of(odip.app.get(f"{ODIP}/{url}", headers=auth("ursula"), status=400))["error"]["message"]


@pytest.mark.shared_app
@pytest.mark.parametrize("entity_set", ["ProductionOrders", "ProductionOrder"])
def test_output_product_and_its_file(odip, entity_set):
    order_id = odip.order_id("u_completed")
    output = odip.products["output"]
    body = json_of(odip.app.get(f"{ODIP}/{entity_set}({order_id})/Product", headers=auth("ursula")))
    assert body["Id"] == str(output.id) and body["Name"] == output.name
    # ODIP has no entity set of products: the context names the type (resolved from two levels down)
    assert body["@odata.context"] == "../$metadata#OData.CSC.Product"
    selected = json_of(odip.app.get(f"{ODIP}/{entity_set}({order_id})/Product?$select=Name", headers=auth("ursula")))
    assert selected["@odata.context"] == "../$metadata#OData.CSC.Product(Name)"
    assert {k for k in selected if not k.startswith("@")} == {"Id", "Name"}
    assert body["ProductionType"] == "on-demand:non-default"
    md5 = next(c["Value"] for c in body["Checksum"] if c["Algorithm"] == "MD5")
    with_attributes = json_of(odip.app.get(f"{ODIP}/{entity_set}({order_id})/Product?$expand=Attributes",
                                           headers=auth("ursula")))
    # one entity: an option of a list is refused, naming it and the route, never ignored
    for url in (f"{entity_set}({order_id})/Product", f"{entity_set}({order_id})", f"Workflows({L2A_ID})"):
        refused = json_of(odip.app.get(f"{ODIP}/{url}?$filter=Name eq 'x'", headers=auth("ursula"), status=400))
        assert refused["error"]["target"] == "$filter", url
    assert f"{entity_set}(...)/Product" in refused_message(odip, f"{entity_set}({order_id})/Product?$top=1")
    assert {"Name": "productType", "Value": "S2MSI2A"}.items() <= with_attributes["Attributes"][0].items()

    response = odip.app.get(f"{ODIP}/{entity_set}({order_id})/Product/$value", headers=auth("ursula"))
    assert response.body == b"JPEG bytes of a finished order" * 40
    assert hashlib.md5(response.body).hexdigest() == md5.lower()
    assert response.headers["Content-Disposition"] == f'attachment; filename="{output.name}"'
    partial = odip.app.get(f"{ODIP}/{entity_set}({order_id})/Product/$value", headers=dict(auth("ursula"),
                           Range="bytes=0-9"), status=206)
    assert partial.body == b"JPEG bytes"
    head = odip.app.head(f"{ODIP}/{entity_set}({order_id})/Product/$value", headers=auth("ursula"))
    assert head.headers["Content-Length"] == str(len(b"JPEG bytes of a finished order" * 40)) and head.body == b""


@pytest.mark.shared_app
@pytest.mark.parametrize("label", ["u_queued", "u_failed"])
@pytest.mark.parametrize("suffix", ["/Product", "/Product/$value"])
def test_no_output_product_yet_is_404(odip, label, suffix):
    response = odip.app.get(f"{ODIP}/ProductionOrders({odip.order_id(label)}){suffix}", headers=auth("ursula"),
                            status=404)
    error = assert_error(response, 404, "E7209")
    assert "no output product" in error["message"]


@pytest.mark.shared_app
def test_output_product_of_someone_elses_order_is_404(odip):
    response = odip.app.get(f"{ODIP}/ProductionOrders({odip.order_id('u_completed')})/Product", headers=auth("uwe"),
                            status=404)
    assert_error(response, 404, "E7208")


@pytest.mark.parametrize("visibility, readers", [
    (VisibilityClass.INTERNAL, {"mgr"}),
    (VisibilityClass.RESTRICTED, {"mgr"}),
    (VisibilityClass.PUBLIC, {"mgr", "boss", "uwe"}),
])
def test_output_product_needs_the_product_visibility_too(odip, visibility, readers):
    """Seeing an order (its owner, any ORDER_MGR) does not widen the catalogue: the output
    product answers 404 unless the user may read its visibility class in PRIP."""
    data = b"output of uwe's order" * 8
    product = store_product_file(
        odip.archive, data, name=f"S2B_MSIL2A_{visibility.name}.zip", mission="DEMO",
        attributes=[Attribute.of("productType", "S2MSI2A")], content_start=utc(2019, 3, 1),
        content_end=utc(2019, 3, 1, 0, 1), visibility=visibility)
    order = _order("w_completed", "uwe", "completed", index=9, output_product_id=product.id,
                   completed_date=utc(2024, 3, 2))
    with odip.storage.transaction() as tx:
        tx.add_product(product)
        tx.add_order(order)
    for login in ("mgr", "boss", "uwe"):
        for suffix in ("/Product", "/Product/$value"):
            path = f"{ODIP}/ProductionOrders({order.id}){suffix}"
            if login in readers:
                response = odip.app.get(path, headers=auth(login))
                assert (json_of(response)["Id"] if suffix == "/Product" else response.body) == (
                    str(product.id) if suffix == "/Product" else data)
            else:
                response = odip.app.get(path, headers=auth(login), status=404)
                message = assert_error(response, 404, "E7209")["message"]
                # neither the hidden product's Id nor a false "no longer in the catalogue"
                assert str(product.id) not in message and "not one you may read" in message
        # $expand=Product inlines the same product, or null for a user who may not read it
        inline = json_of(odip.app.get(f"{ODIP}/ProductionOrders({order.id})?$expand=Product", headers=auth(login)))
        listed = json_of(odip.app.get(f"{ODIP}/ProductionOrders", {"$expand": "Product", "$filter": f"Id eq {order.id}"},
                                      headers=auth(login)))["value"][0]
        for body in (inline, listed):
            if login in readers:
                assert body["Product"]["Id"] == str(product.id) and body["Product"]["Name"] == product.name
            else:
                assert body["Product"] is None


# -- methods and paths -----------------------------------------------------------------------------


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "method, path",
    [
        ("delete", "/Workflows"),
        ("post", "/Workflows"),
        ("put", f"/Workflows({L2A_ID})"),
        ("get", "/ProductionOrder"),
        ("get", "/ProductionOrder/OData.CSC.Order"),
        ("delete", "/ProductionOrders(d0000000-0000-0000-0000-000000000001)"),
        ("get", "/ProductionOrders(d0000000-0000-0000-0000-000000000001)/OData.CSC.Cancel"),
        ("post", "/ProductionOrders(d0000000-0000-0000-0000-000000000002)/Product"),
        ("post", "/$metadata"),
    ],
)
def test_wrong_method_is_405(odip, method, path):
    response = getattr(odip.app, method)(f"{ODIP}{path}", headers=auth("ursula"), status=405)
    assert_error(response, 405, "E7202")


@pytest.mark.shared_app
@pytest.mark.parametrize("path", ["/Nothing", "/ProductionOrders(d0000000-0000-0000-0000-000000000001)/Nope",
                                  "/Workflows/x/y", "/Products"])
def test_unknown_path_is_404(odip, path):
    response = odip.app.get(f"{ODIP}{path}", headers=auth("ursula"), status=404)
    assert_error(response, 404, "E7201")


@pytest.mark.shared_app
def test_405_names_the_allowed_methods(odip):
    response = odip.app.delete(f"{ODIP}/ProductionOrders", headers=auth("ursula"), status=405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "POST"}
    response = odip.app.get(f"{ODIP}/ProductionOrder/OData.CSC.Order", headers=auth("ursula"), status=405)
    assert "POST" in response.headers["Allow"] and "GET" not in response.headers["Allow"]


def test_an_order_products_quicklook_is_linked_for_who_can_follow_the_link(odip):
    """``ProductionOrders(<id>)/Product?$expand=Assets``: the link leads into PRIP's Nodes, so a
    reader of the order without the PRIP_USER role (who reads the file through ODIP) gets no
    asset rather than a link answering 403 (docs/prip.md, "Quicklooks")."""
    from urllib.parse import urlsplit

    from proseo_odata.nodes import archived_quicklook

    product = store_product_file(odip.archive, l1c_zip(), name="S2B_MSIL2A_QUICKLOOKED.zip", mission="DEMO",
                                 attributes=[Attribute.of("productType", "S2MSI2A")],
                                 content_start=utc(2019, 3, 1), content_end=utc(2019, 3, 1, 0, 1))
    product.quicklook = archived_quicklook(odip.archive, product.archive_key, product.content_length, product.name)
    order = _order("q", "ursula", "completed", index=9, output_product_id=product.id, completed_date=utc(2024, 3, 2))
    with odip.storage.transaction() as tx:
        tx.add_product(product)
        tx.add_order(order)
    base = f"{ODIP}/ProductionOrders({order.id})/Product"
    (asset,) = json_of(odip.app.get(f"{base}?$expand=Assets", headers=auth("ursula")))["Assets"]
    picture = odip.app.get(urlsplit(asset["DownloadLink"]).path, headers=auth("ursula"))
    assert picture.content_type == "image/png" and picture.body.startswith(b"\x89PNG")
    odip.app.get(f"{base}/$value", headers=auth("mgr"), status=200)  # reads the file through ODIP
    assert json_of(odip.app.get(f"{base}?$expand=Assets", headers=auth("mgr")))["Assets"] == []
    odip.app.get(urlsplit(asset["DownloadLink"]).path, headers=auth("mgr"), status=403)
