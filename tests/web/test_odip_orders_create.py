"""Creating production orders through WebTest (contract sections 5 and 10) on SQLite and
PostgreSQL: the three creation routes, the stored order, EstimatedDate, the input product look-up
(404 E7258/E7259), every validation rule answered together in one 400, the masked password."""
from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin

import pytest

from odip_helpers import (
    COMPRESS_ID,
    DISABLED_ID,
    L1C_NAME,
    L1C_OLD_NAME,
    L2A_ID,
    MASK,
    ODIP,
    OTHER_WF_ID,
    auth,
    json_of,
    order_body,
)

WARNING = re.compile(r"^\d{3} proseo-api-odip \([EW]\d+\) .+$")
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # the seed documents' pattern
CREATE_PATHS = ["/ProductionOrder/OData.CSC.Order", "/ProductionOrder", "/ProductionOrders"]


def post(odip, body, login="ursula", status=201, path="/ProductionOrder"):
    return odip.app.post_json(f"{ODIP}{path}", body, headers=auth(login), status=status)


def problems(response) -> dict:
    """target -> message of every problem of a 400 answer."""
    assert response.status_int == 400
    assert WARNING.match(response.headers["Warning"])
    error = json_of(response)["error"]
    assert error["code"] == "E7205"
    details = error.get("details") or [error]
    return {d.get("target", ""): d["message"] for d in details}


# -- creation --------------------------------------------------------------------------------------


def test_created_under_a_second_mount_and_a_route_prefix(odip):
    """The services mounted again (``add_odip_service``), inside a host application's route
    prefix: the order's Location and context are the mount's."""
    import webtest
    from pyramid.config import Configurator

    with Configurator(settings=dict(odip.settings)) as config:
        with config.route_prefix_context("api"):
            config.include("proseo_odata_web")
            config.add_odip_service("/mirror/odip", name="odip-mirror")
    app = webtest.TestApp(config.make_wsgi_app())
    try:
        for root in ("/api/mirror/odip", f"/api{ODIP}"):
            response = app.post_json(f"{root}/ProductionOrder", order_body(), headers=auth("ursula"), status=201)
            order_id = json_of(response)["Id"]
            assert response.headers["Location"] == f"http://localhost{root}/ProductionOrders({order_id})"
            assert urljoin(f"http://localhost{root}/ProductionOrder", json_of(response)["@odata.context"]) == (
                f"http://localhost{root}/$metadata#ProductionOrders/$entity")
            assert app.get(f"{root}/ProductionOrders/", headers=auth("ursula"), status=308).headers["Location"] == (
                f"http://localhost{root}/ProductionOrders")
    finally:
        app.app.registry.storage.close()


@pytest.mark.parametrize("path", CREATE_PATHS)
def test_create_the_demo_order(odip, path):
    before = datetime.now(timezone.utc)
    response = post(odip, order_body(), path=path)
    body = json_of(response)
    # relative to the request's URL (the action's answer is two levels below the service root)
    assert urljoin(f"http://localhost{ODIP}{path}", body["@odata.context"]) == \
        f"http://localhost{ODIP}/$metadata#ProductionOrders/$entity"
    order_id = body["Id"]
    assert response.headers["Location"] == f"http://localhost{ODIP}/ProductionOrders({order_id})"
    assert body["Status"] == "queued"
    assert body["StatusMessage"] == "request is queued for processing"
    assert body["OrderOutputSize"] == 0
    assert body["WorkflowId"] == L2A_ID and body["WorkflowName"] == "S2_L1C_L2A"
    assert body["WorkflowOptions"] == [{"Name": "ImageFormat", "Value": "JPG"}]  # a string, not ["JPG"]
    assert body["Priority"] == 50
    assert body["InputProductReference"] == {
        "Reference": L1C_NAME,
        "ContentDate": {"Start": "2019-10-25T08:59:39.024Z", "End": "2019-10-25T09:00:09.024Z"},
    }
    assert body["NotificationEndpoint"] == "https://myservice.example/notification"
    assert body["NotificationEpUsername"] == "myserviceuser"
    assert body["NotificationEpPassword"] == MASK
    assert "s3cr3t-pw" not in response.text
    for key in ("SubmissionDate", "EstimatedDate"):
        assert DATE.match(body[key]), body[key]
    submitted = datetime.fromisoformat(body["SubmissionDate"].replace("Z", "+00:00"))
    estimated = datetime.fromisoformat(body["EstimatedDate"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= submitted <= datetime.now(timezone.utc)
    assert estimated > submitted
    assert body["CompletedDate"] is None and body["EvictionDate"] is None

    stored = odip.storage.get_order("DEMO", uuid.UUID(order_id))
    assert stored.owner == "ursula" and stored.status.value == "queued"
    assert stored.input_product_id == odip.products["l1c"].id
    assert stored.notification_password.encrypted  # kept sealed for delivery
    assert odip.storage.secrets.open(stored.notification_password) == "s3cr3t-pw"
    assert stored.production_type.value == "on-demand:non-default"
    # The Location answers the same order.
    again = json_of(odip.app.get(response.headers["Location"].split("localhost", 1)[1], headers=auth("ursula")))
    assert again == {**body, "@odata.context": "$metadata#ProductionOrders/$entity"}  # one level below the root


def test_minimal_order_takes_defaults(odip):
    body = json_of(post(odip, {"WorkflowName": "S2_L1C_L2A", "InputProductReference": {"Reference": L1C_NAME}}))
    assert body["Priority"] == 50
    assert body["WorkflowOptions"] == [{"Name": "ImageFormat", "Value": "GEOTIFF"}]
    assert body["WorkflowId"] == L2A_ID
    assert body["NotificationEndpoint"] is None and body["NotificationEpPassword"] is None
    assert body["InputProductReference"]["ContentDate"] is None
    stored = odip.storage.get_order("DEMO", uuid.UUID(body["Id"]))
    assert stored.production_type.value == "on-demand:default"


def test_estimated_date_grows_with_the_queue(odip):
    first = json_of(post(odip, order_body(Priority=90)))
    second = json_of(post(odip, order_body(Priority=90)))
    low = json_of(post(odip, order_body(Priority=1)))
    as_dt = lambda b: datetime.fromisoformat(b["EstimatedDate"].replace("Z", "+00:00"))  # noqa: E731
    # One more order ahead each time; the run time comes from the workflow's history (the
    # completed seed order), so the estimates grow by at least that much.
    assert as_dt(second) > as_dt(first)
    assert as_dt(low) > as_dt(second)
    for body in (first, second, low):
        assert as_dt(body) > datetime.fromisoformat(body["SubmissionDate"].replace("Z", "+00:00"))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_estimated_date_before_history_is_the_configured_run_time(odip, odip_settings):
    """proseo.production.default_run_seconds (read once, CoreSettings) is the run time of a
    workflow without completed orders (S2_L1C_COMPRESS here): EstimatedDate = submission + a
    whole number of those run times (one per round of the orders ahead in the queue)."""
    from prip_helpers import served_app

    def wait(app):
        body = app.post_json(f"{ODIP}/ProductionOrder",
                             {"WorkflowName": "S2_L1C_COMPRESS", "InputProductReference": {"Reference": L1C_NAME}},
                             headers=auth("ursula"), status=201).json
        assert body["WorkflowId"] == str(COMPRESS_ID)
        as_dt = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
        return as_dt(body["EstimatedDate"]) - as_dt(body["SubmissionDate"])

    by_default = wait(odip.app)
    assert by_default % timedelta(seconds=60) == timedelta(0) and timedelta(0) < by_default < timedelta(hours=1)
    with served_app({**odip_settings, "proseo.production.default_run_seconds": "3600"}) as app:
        configured = wait(app)
    assert configured % timedelta(hours=1) == timedelta(0) and configured >= timedelta(hours=1)


@pytest.mark.parametrize(
    "reference, expected",
    [
        ({"Reference": L1C_OLD_NAME}, "l1c_old"),
        ({"ContentDate": {"Start": "2019-01-01T10:00:05Z", "End": "2019-01-01T10:00:10Z"}}, "l1c_old"),
        # the name wins when it exists, the period is the fallback
        ({"Reference": "not-there.zip", "ContentDate": {"Start": "2019-10-25T08:59:40Z", "End": "2019-10-25T09:00:00Z"}},
         "l1c"),
        # the user's documents' date form with a colon before the fraction
        ({"ContentDate": {"Start": "2016-01-17T10:34:51.922Z", "End": "2016-01-17T10:35:18:872Z"}}, None),
    ],
)
def test_input_product_lookup(odip, reference, expected):
    body = order_body(InputProductReference=reference)
    if expected is None:
        response = post(odip, body, status=404)
        error = json_of(response)["error"]
        assert error["code"] == "E7259" and "covering" in error["message"]
        assert WARNING.match(response.headers["Warning"]) and "(E7259)" in response.headers["Warning"]
        return
    created = json_of(post(odip, body))
    stored = odip.storage.get_order("DEMO", uuid.UUID(created["Id"]))
    assert stored.input_product_id == odip.products[expected].id


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "login, reference, code",
    [
        ("ursula", "missing.zip", "E7258"),
        ("ursula", "S2B_MSIL2A_WRONG_TYPE.zip", "E7258"),  # not of the workflow's InputProductType
        ("restr", "S2B_MSIL1C_RESTRICTED.zip", "E7258"),  # not visible to this user
        ("oscar", L1C_NAME, None),  # OTHER has no workflow S2_L1C_L2A: 400, not the other catalogue
    ],
)
def test_input_product_not_found(odip, login, reference, code):
    body = {"WorkflowName": "S2_L1C_L2A", "InputProductReference": {"Reference": reference}}
    if code is None:
        assert "WorkflowName" in problems(post(odip, body, login=login, status=400))
        return
    response = post(odip, body, login=login, status=404)
    error = json_of(response)["error"]
    assert error["code"] == code and reference in error["message"]
    assert len(_all_orders(odip)) == len(odip.orders)  # nothing stored


def _all_orders(odip):
    from proseo_odata.storage import Query

    return odip.storage.query_orders("DEMO", Query(top=100)).items + odip.storage.query_orders("OTHER", Query(top=100)).items


def test_restricted_input_is_found_by_a_reader(odip):
    body = {"WorkflowName": "S2_L1C_L2A", "InputProductReference": {"Reference": "S2B_MSIL1C_RESTRICTED.zip"}}
    # ursula has no product reader role: the restricted product is not hers to see
    assert json_of(post(odip, body, login="ursula", status=404))["error"]["code"] == "E7258"
    created = json_of(post(odip, body, login="mgr"))  # PRODUCT_READER_ALL
    stored = odip.storage.get_order("DEMO", uuid.UUID(created["Id"]))
    assert stored.input_product_id == odip.products["restricted"].id


def test_other_mission_orders_against_its_own_workflow(odip):
    body = {"WorkflowId": OTHER_WF_ID, "InputProductReference": {"Reference": L1C_NAME},
            "WorkflowOptions": [{"Name": "Level", "Value": 3}]}
    created = json_of(post(odip, body, login="oscar"))
    stored = odip.storage.get_order("OTHER", uuid.UUID(created["Id"]))
    assert stored.input_product_id == odip.products["other_l1c"].id
    assert created["WorkflowOptions"] == [{"Name": "Level", "Value": "3"}]
    # ... and it is invisible in DEMO
    odip.app.get(f"{ODIP}/ProductionOrders({created['Id']})", headers=auth("mgr"), status=404)


# -- validation: every rule, and all problems together ---------------------------------------------


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "overrides, target, fragment",
    [
        ({"WorkflowId": ..., "WorkflowName": ...}, "WorkflowId", "WorkflowId or WorkflowName is required"),
        ({"WorkflowId": "not-a-guid"}, "WorkflowId", "is not a GUID"),
        ({"WorkflowId": COMPRESS_ID}, "WorkflowName", "names workflow"),
        ({"WorkflowId": DISABLED_ID, "WorkflowName": ...}, "WorkflowId", "no enabled workflow"),
        ({"WorkflowId": OTHER_WF_ID, "WorkflowName": ...}, "WorkflowId", "no enabled workflow"),
        ({"WorkflowId": ..., "WorkflowName": "NOPE"}, "WorkflowName", "no enabled workflow named 'NOPE'"),
        ({"WorkflowName": 7}, "WorkflowName", "must be a string"),
        ({"Priority": 0}, "Priority", "from 1 to 100"),
        ({"Priority": 101}, "Priority", "from 1 to 100"),
        ({"Priority": "high"}, "Priority", "from 1 to 100"),
        ({"Priority": 5.5}, "Priority", "from 1 to 100"),
        ({"Priority": True}, "Priority", "from 1 to 100"),
        ({"InputProductReference": ...}, "InputProductReference", "required"),
        ({"InputProductReference": "x.zip"}, "InputProductReference", "must be an object"),
        ({"InputProductReference": {}}, "InputProductReference", "needs a Reference or a ContentDate"),
        ({"InputProductReference": {"Reference": 5}}, "InputProductReference/Reference", "must be a string"),
        ({"InputProductReference": {"Reference": "  "}}, "InputProductReference/Reference", "product name"),
        ({"InputProductReference": {"ContentDate": {"Start": "2020-01-02T00:00:00Z"}}},
         "InputProductReference/ContentDate/End", "End is required"),
        ({"InputProductReference": {"ContentDate": {"Start": "2020-01-02T00:00:00Z", "End": "yesterday"}}},
         "InputProductReference/ContentDate/End", "ISO-8601"),
        ({"InputProductReference": {"ContentDate": {"Start": "2020-01-02T00:00:00Z", "End": "2020-01-01T00:00:00Z"}}},
         "InputProductReference/ContentDate", "is after End"),
        ({"InputProductReference": {"Reference": L1C_NAME, "Name": "x"}}, "InputProductReference/Name", "unknown"),
        ({"WorkflowOptions": [{"Name": "ImageFormat", "Value": "PNG"}]}, "WorkflowOptions/ImageFormat",
         "not one of the allowed values"),
        ({"WorkflowOptions": [{"Name": "Colour", "Value": "red"}]}, "WorkflowOptions/Colour",
         "not an option of workflow S2_L1C_L2A"),
        ({"WorkflowOptions": [{"Name": "ImageFormat", "Value": ["JPG", "GEOTIFF"]}]}, "WorkflowOptions/ImageFormat",
         "one-element array"),
        ({"WorkflowOptions": [{"Name": "ImageFormat"}]}, "WorkflowOptions/ImageFormat", "Value is required"),
        ({"WorkflowOptions": [{"Value": "JPG"}]}, "WorkflowOptions[0]", "needs a Name"),
        ({"WorkflowOptions": ["JPG"]}, "WorkflowOptions[0]", "must be an object"),
        ({"WorkflowOptions": {"ImageFormat": "JPG"}}, "WorkflowOptions", "must be an array"),
        ({"WorkflowOptions": [{"Name": "ImageFormat", "Value": "JPG"}, {"Name": "ImageFormat", "Value": "JPG"}]},
         "WorkflowOptions/ImageFormat", "more than once"),
        ({"NotificationEndpoint": "ftp://example.org/x"}, "NotificationEndpoint", "http or https URL"),
        ({"NotificationEndpoint": "not a url"}, "NotificationEndpoint", "http or https URL"),
        ({"NotificationEndpoint": 42}, "NotificationEndpoint", "must be a string"),
        ({"NotificationEpPassword": 1234}, "NotificationEpPassword", "must be a string"),
        ({"NotificationEpUsername": ["u"]}, "NotificationEpUsername", "must be a string"),
        ({"Colour": "red"}, "Colour", "unknown property"),
    ],
)
def test_each_validation_rule(odip, overrides, target, fragment):
    found = problems(post(odip, order_body(**overrides), status=400))
    assert target in found, found
    assert fragment in found[target], found
    assert len(_all_orders(odip)) == len(odip.orders)  # nothing stored


@pytest.mark.parametrize(
    "overrides",
    [
        {"Priority": "75"},
        {"Priority": 75.0},
        {"WorkflowOptions": [{"Name": "ImageFormat", "Value": "jpg"}]},  # allowed values without regard to case
        {"WorkflowOptions": [{"Name": "ImageFormat", "Value": "JPG", "Description": "echoed", "Type": "String"}]},
        {"NotificationEndpoint": "mailto:ops@example.org"},
        {"NotificationEndpoint": None, "NotificationEpPassword": None},
        {"Id": str(uuid.uuid4()), "Status": "completed", "SubmissionDate": "2000-01-01T00:00:00Z"},  # ignored
        {"@odata.context": "$metadata#ProductionOrders/$entity"},
        {"WorkflowId": f"'{L2A_ID}'"},
    ],
)
def test_tolerated_forms(odip, overrides):
    body = json_of(post(odip, order_body(**overrides)))
    assert body["Status"] == "queued"
    assert body["WorkflowOptions"][0]["Value"] in ("JPG", "GEOTIFF")
    assert body["SubmissionDate"] > "2020"


def test_all_problems_at_once(odip):
    body = {
        "WorkflowName": "S2_L1C_L2A",
        "Priority": 500,
        "InputProductReference": {"ContentDate": {"Start": "2020-02-01T00:00:00Z", "End": "2020-01-01T00:00:00Z"}},
        "WorkflowOptions": [{"Name": "ImageFormat", "Value": "BMP"}, {"Name": "Speed", "Value": "fast"}],
        "NotificationEndpoint": "gopher://x",
        "NotificationEpPassword": 99,
        "Extra": 1,
    }
    response = post(odip, body, status=400)
    found = problems(response)
    assert set(found) == {
        "Priority",
        "InputProductReference/ContentDate",
        "WorkflowOptions/ImageFormat",
        "WorkflowOptions/Speed",
        "NotificationEndpoint",
        "NotificationEpPassword",
        "Extra",
    }, found
    error = json_of(response)["error"]
    assert error["message"].startswith("Invalid production order, 7 problems")
    assert f"({error['code']})" in response.headers["Warning"]


def test_body_that_is_not_json_or_not_an_object(odip):
    response = odip.app.post(f"{ODIP}/ProductionOrder", b"{not json", headers=dict(auth("ursula"),
                             **{"Content-Type": "application/json"}), status=400)
    error = json_of(response)["error"]
    assert error["code"] == "E7205" and "not valid JSON" in error["message"]
    assert WARNING.match(response.headers["Warning"])
    found = problems(post(odip, ["S2_L1C_L2A"], status=400))
    assert list(found) == ["body"] and "JSON object" in found["body"]
    found = problems(odip.app.post(f"{ODIP}/ProductionOrders", b"", headers=auth("ursula"), status=400))
    assert "JSON object" in found["body"]


@pytest.mark.shared_app
@pytest.mark.parametrize("path", ["/ProductionOrder", "/ProductionOrders", "/ProductionOrder/OData.CSC.Order"])
@pytest.mark.parametrize("body", [b"[" * 100000, b'{"a":' * 5000])
def test_body_nested_beyond_the_decoder_is_400(odip, path, body):
    # json.loads raised RecursionError, answered 500
    response = odip.app.post(f"{ODIP}{path}", body, headers=dict(auth("ursula"), **{"Content-Type": "application/json"}),
                             status=400)
    error = json_of(response)["error"]
    assert (error["code"], error["message"], error["target"]) == ("E7205", "The request body is nested too deeply", "body")
    assert WARNING.match(response.headers["Warning"])
    assert len(_all_orders(odip)) == len(odip.orders)  # nothing stored


def test_password_is_never_echoed_nor_logged(odip, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "Very-Secret-9f8e7d"
    bad = order_body(NotificationEpPassword=secret, Priority=0, NotificationEndpoint="nope")
    response = post(odip, bad, status=400)
    assert secret not in response.text and secret not in response.headers["Warning"]
    created = post(odip, order_body(NotificationEpPassword=secret))
    assert secret not in created.text
    listing = odip.app.get(f"{ODIP}/ProductionOrders", {"$filter": "Status eq 'queued'"}, headers=auth("ursula"))
    assert secret not in listing.text and MASK in listing.text
    assert secret not in caplog.text


def test_roles_needed_to_create(odip):
    response = post(odip, order_body(), login="pete", status=403)
    assert json_of(response)["error"]["code"] == "E7204"
    response = odip.app.post_json(f"{ODIP}/ProductionOrder", order_body(), status=401)
    assert json_of(response)["error"]["code"] == "E7203"
    assert len(_all_orders(odip)) == len(odip.orders)


def test_created_order_belongs_to_its_user(odip):
    created = json_of(post(odip, order_body(), login="uwe"))
    odip.app.get(f"{ODIP}/ProductionOrders({created['Id']})", headers=auth("ursula"), status=404)
    json_of(odip.app.get(f"{ODIP}/ProductionOrders({created['Id']})", headers=auth("uwe")))
    json_of(odip.app.get(f"{ODIP}/ProductionOrders({created['Id']})", headers=auth("mgr")))
    cancelled = json_of(odip.app.post(f"{ODIP}/ProductionOrders({created['Id']})/OData.CSC.Cancel", headers=auth("mgr")))
    assert cancelled["Status"] == "cancelled"


# -- the two layers: colander checks the JSON shape, the core the meaning ---------------------------


MEANING_ONLY = [
    ({"Priority": 0}, "Priority"),
    ({"Priority": 101}, "Priority"),
    ({"Priority": "high"}, "Priority"),
    ({"Priority": 5.5}, "Priority"),
    ({"InputProductReference": {"Reference": "  "}}, "InputProductReference/Reference"),
    ({"InputProductReference": {"ContentDate": {"Start": "2020-01-02T00:00:00Z", "End": "yesterday"}}},
     "InputProductReference/ContentDate/End"),
    ({"InputProductReference": {"ContentDate": {"Start": "2020-01-02T00:00:00Z", "End": "2020-01-01T00:00:00Z"}}},
     "InputProductReference/ContentDate"),
    ({"WorkflowOptions": [{"Name": "ImageFormat", "Value": "PNG"}]}, "WorkflowOptions/ImageFormat"),
    ({"WorkflowOptions": [{"Name": "", "Value": "JPG"}]}, "WorkflowOptions"),
    ({"NotificationEndpoint": "ftp://example.org/x"}, "NotificationEndpoint"),
]


@pytest.mark.shared_app
@pytest.mark.parametrize("overrides, target", MEANING_ONLY)
def test_the_schema_leaves_the_meaning_to_the_core(odip, overrides, target):
    """No range, date, name or value rule in colander: the shape passes, the core's message is
    the one answered (a rule written in both layers would show the shape's)."""
    from proseo_odata.orders.validation import OrderValidationError, validate_order
    from proseo_odata_web.odip.schemas import shape_problems

    body = order_body(**overrides)
    assert shape_problems(body) == []
    with pytest.raises(OrderValidationError) as caught:
        validate_order(body, odip.storage.list_workflows("DEMO", enabled_only=True), mission="DEMO")
    core = {p.target: p.message for p in caught.value.problems}
    assert problems(post(odip, body, status=400)) == core and target in core
    assert len(_all_orders(odip)) == len(odip.orders)  # nothing stored


@pytest.mark.parametrize("overrides, target", [
    ({"Priority": True}, "Priority"),
    ({"Priority": [50]}, "Priority"),
    ({"WorkflowName": 7}, "WorkflowName"),
    ({"InputProductReference": "x.zip"}, "InputProductReference"),
    ({"InputProductReference": {"Reference": 5}}, "InputProductReference/Reference"),
    ({"InputProductReference": {"ContentDate": {"Start": 20200101, "End": "2020-01-01T00:00:00Z"}}},
     "InputProductReference/ContentDate/Start"),
    ({"WorkflowOptions": {"ImageFormat": "JPG"}}, "WorkflowOptions"),
    ({"WorkflowOptions": [{"Value": "JPG"}]}, "WorkflowOptions[0]"),
    ({"WorkflowOptions": [{"Name": "ImageFormat", "Value": {"v": 1}}]}, "WorkflowOptions/ImageFormat"),
])
def test_the_schema_reports_shape_problems(overrides, target):
    from proseo_odata_web.errors import answer_of
    from proseo_odata_web.odip.schemas import shape_problems

    found = shape_problems(order_body(**overrides))
    assert [p.target for p in found] == [target]
    assert all(answer_of("odip", p.kind) == (400, "E7205") for p in found)


@pytest.mark.shared_app
@pytest.mark.parametrize("bad", ['"\\udfff"', "NaN", "-Infinity"])
def test_body_that_json_loads_takes_but_rfc_8259_does_not_is_400(odip, bad):
    # a lone surrogate in WorkflowName reached the storage encoder: 500
    body = f'{{"WorkflowName": {bad}, "InputProductReference": {{"Reference": "x"}}, "Priority": 50}}'
    response = odip.app.post(f"{ODIP}/ProductionOrder", body.encode(), status=400,
                             headers=dict(auth("ursula"), **{"Content-Type": "application/json"}))
    error = json_of(response)["error"]
    assert (error["code"], error["target"]) == ("E7205", "body") and "not valid JSON" in error["message"]
    assert len(_all_orders(odip)) == len(odip.orders)  # nothing stored


def test_an_order_read_back_and_posted_again_keeps_no_masked_password(odip):
    """The seeds' request and response share one schema: a client re-running an order posts it
    back as read, with the password answered as the mask. The mask is refused, not stored as the
    receiver's password; the seed's example password (nine asterisks) is a password."""
    read_back = json_of(post(odip, order_body()))
    again = order_body(NotificationEpPassword=read_back["NotificationEpPassword"])
    found = problems(post(odip, again, status=400))
    assert set(found) == {"NotificationEpPassword"} and "mask" in found["NotificationEpPassword"]
    stored = json_of(post(odip, order_body(NotificationEpPassword="*********")))
    password = odip.storage.get_order("DEMO", uuid.UUID(stored["Id"])).notification_password
    assert odip.storage.secrets.open(password) == "*********"


def test_an_order_body_not_sent_as_json_is_415(odip):
    import json

    before = len(json_of(odip.app.get(f"{ODIP}/ProductionOrders", headers=auth("ursula")))["value"])
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = odip.app.post(f"{ODIP}/ProductionOrder", json.dumps(order_body()).encode(),
                                 headers={**auth("ursula"), "Content-Type": content_type}, status=415)
        assert json_of(response)["error"]["code"] == "E7218"
        assert WARNING.match(response.headers["Warning"])
    assert len(json_of(odip.app.get(f"{ODIP}/ProductionOrders", headers=auth("ursula")))["value"]) == before


def test_a_cancel_with_if_match_that_cannot_match_cancels_nothing(odip):
    order_id = json_of(post(odip, order_body()))["Id"]
    answer = odip.app.post(f"{ODIP}/ProductionOrders({order_id})/OData.CSC.Cancel",
                           headers={**auth("ursula"), "If-Match": '"stale"'}, status=412)
    assert json_of(answer)["error"]["code"] == "E7217"
    assert json_of(odip.app.get(f"{ODIP}/ProductionOrders({order_id})", headers=auth("ursula")))["Status"] == "queued"
