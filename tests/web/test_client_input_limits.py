"""Client input the second review of orders and auth (2026-12-06) found answered 500, or answered in
a way clients cannot read: on both databases every case below is a 400 (401 for credentials)
with the OData error body and a Warning header short enough for curl and http.client."""
from __future__ import annotations

import base64
import re
import uuid

import pytest

from proseo_odata.model import Role, User, Workflow, WorkflowOption, hash_password

from odip_helpers import ODIP, auth, json_of, order_body
from prip_helpers import PRIP, basic

WARNING = re.compile(r"^199 proseo-api-(prip|odip) \(E\d{4}\) .+$")


def _error(response, status, code=None):
    assert response.status_int == status, response.text[:500]
    warning = response.headers["Warning"]
    assert WARNING.match(warning) and len(warning) < 1200, warning[:300]
    error = json_of(response)["error"]
    if code:
        assert error["code"] == code
    return error


def _targets(error) -> dict:
    return {d.get("target", ""): d["message"] for d in (error.get("details") or [error])}


def _post(odip, body, status=400):
    return odip.app.post_json(f"{ODIP}/ProductionOrder", body, headers=auth("ursula"), status=status)


@pytest.fixture
def free_workflow(odip):
    """A DEMO workflow with options of free value: a String, a DateTimeOffset and an Integer."""
    workflow = Workflow(mission="DEMO", name="FREE_TEXT", input_product_type="S2MSI1C", output_product_type="Z",
                        processor="image", id=uuid.uuid4(),
                        options=[WorkflowOption("Area", "String"), WorkflowOption("When", "DateTimeOffset"),
                                 WorkflowOption("Count", "Integer")])
    with odip.storage.transaction() as tx:
        tx.add_workflow(workflow)
    return workflow


def _free_order(workflow, **options):
    return order_body(WorkflowId=str(workflow.id), WorkflowName=workflow.name,
                      WorkflowOptions=[{"Name": name, "Value": value} for name, value in options.items()])


def test_a_megabyte_of_input_is_shortened_in_the_answer(odip):
    """The 400 quoted the whole workflow name: a 1 MB Warning header that curl ("out of memory")
    and Python's http.client (LineTooLong) cannot read."""
    error = _error(_post(odip, order_body(WorkflowName="W" * 1_000_000, WorkflowId=...)), 400, "E7205")
    assert "characters left out" in error["message"] and len(error["message"]) <= 1100
    response = odip.app.get(f"{ODIP}/Workflows", {"$filter": "N" * 60_000 + " eq 1"},
                            headers=auth("ursula"), status=400)
    assert "characters left out" in _error(response, 400)["message"]


def test_a_number_of_thousands_of_digits_is_a_400_in_prip(app, catalogue):
    """Python's int() refuses more than 4,300 digits with a ValueError: it was a 500."""
    response = app.get(f"{PRIP}/Products", {"$filter": f"ContentLength lt -{'9' * 5000}"}, headers=basic("alice"),
                       status=400)
    assert "out of the range of every numeric type" in _error(response, 400)["message"]


def test_a_number_of_hundreds_of_digits_stays_an_integer(app, catalogue):
    """Kept as a Decimal, then a double (inf past 309 digits), it escaped the Int64 range check:
    '<150 nines> add <150 nines> gt 0' answered 200."""
    response = app.get(f"{PRIP}/Products", {"$filter": f"{'9' * 150} add {'9' * 150} gt 0"}, headers=basic("alice"),
                       status=400)
    _error(response, 400)


def test_a_number_of_thousands_of_digits_is_a_400_in_odip(odip):
    response = odip.app.get(f"{ODIP}/ProductionOrders", {"$filter": f"Priority eq {'9' * 5000}"},
                            headers=auth("ursula"), status=400)
    assert "out of the range of every numeric type" in _error(response, 400)["message"]
    error = _error(_post(odip, order_body(Priority="9" * 5000)), 400, "E7205")
    assert "Priority" in _targets(error)


@pytest.mark.parametrize("field, value, target", [
    ("InputProductReference", {"Reference": "S2B_MSIL1C\u0000.zip"}, "InputProductReference/Reference"),
    ("NotificationEndpoint", "https://hook.example/\u0000", "NotificationEndpoint"),
    ("NotificationEpUsername", "user\u0000", "NotificationEpUsername"),
    ("WorkflowOptions", [{"Name": "ImageFormat", "Value": "JPG\u0000"}], "WorkflowOptions[0]/Value"),
])
def test_a_nul_character_in_an_order_is_named_by_its_target(odip, field, value, target):
    """PostgreSQL's text cannot hold NUL: the input product look-up answered 500, the endpoint a
    400 of the query code (E7221) without target; SQLite stored it."""
    error = _error(_post(odip, order_body(**{field: value})), 400, "E7205")
    assert error.get("target") == target and "NUL" in error["message"], error


def test_option_values_fit_the_index_of_option_values(odip, free_workflow):
    """A String option value of 2,700 bytes overflowed PostgreSQL's B-tree entry (a 500)."""
    body = json_of(_post(odip, _free_order(free_workflow, Area="é" * 1000), status=201))  # 2,000 bytes
    assert body["WorkflowOptions"] == [{"Name": "Area", "Value": "é" * 1000}] or body["WorkflowOptions"][0]["Value"]
    error = _error(_post(odip, _free_order(free_workflow, Area="a" * 2001)), 400, "E7205")
    assert "longer than 2,000 bytes" in _targets(error)["WorkflowOptions/Area"]


def test_typed_option_values_in_other_spellings_still_pass(odip, free_workflow):
    body = json_of(_post(odip, _free_order(free_workflow, Count="0" * 40 + "7", When="2016-01-17 10:34:51Z"),
                         status=201))
    assert {o["Name"]: o["Value"] for o in body["WorkflowOptions"]}["Count"] == "0" * 40 + "7"


def test_a_workflow_file_default_without_offset_still_loads():
    """A client's DateTimeOffset option needs its offset; a workflow file's default may leave
    it out (UTC), as before: sync and start-up must not fail after an upgrade."""
    from proseo_odata.production.workflows import workflow_from_definition

    workflow = workflow_from_definition({
        "id": str(uuid.uuid4()), "mission": "DEMO", "name": "W", "input_product_type": "A",
        "output_product_type": "B", "processor": "image",
        "options": [{"name": "When", "type": "DateTimeOffset", "default": "2016-01-17T10:34:51"}]})
    assert workflow.options[0].default == "2016-01-17T10:34:51"


def test_a_nul_under_an_empty_name_is_found(odip):
    error = _error(_post(odip, {**order_body(), "": "a\u0000"}), 400, "E7205")
    assert "NUL" in error["message"]


@pytest.mark.parametrize("option, value, fragment", [
    ("Count", "\u0665", "not an Integer"),  # ARABIC-INDIC DIGIT FIVE: int() takes it
    ("Count", "9" * 1000, "outside the Integer"),
    ("When", "2026-12-06T10:00:00", "not a DateTimeOffset"),  # no offset
])
def test_typed_option_values_are_what_their_type_says(odip, free_workflow, option, value, fragment):
    error = _error(_post(odip, _free_order(free_workflow, **{option: value})), 400, "E7205")
    assert fragment in _targets(error)[f"WorkflowOptions/{option}"]


BAD_ENDPOINTS = [
    "https://hook.example:99999/x", "https://hook.example:abc/x", "https://hook.example/a b",
    "https://hook.example/x\r\n2026-12-06 12:00:00,000 ERROR [forged] line", "https://hook.example/\tx",
    # second probe: each retried until given up (InvalidURL), or posted to another port (:0)
    "http://[::1]]:8080/x", "https://.example.org/", "https://ex\u200bample.org/", "http://[v1.x]/",
    "https://ex%00ample.org/", "http://hook.example:0/x", "https://hook.example/\u00a0x",
    "https://hook.example/" + "p" * 2048,
]
GOOD_ENDPOINTS = ["http://[::1]:8080/x", "https://bücher.example/x?token=abc", "http://127.0.0.1:9/n",
                  "http://[fe80::1%25eth0]/x", "https://hook.example.:443/x", "http://my_service:8080/hook"]


def test_notification_endpoints_of_every_valid_kind_are_taken(app, catalogue):
    for endpoint in GOOD_ENDPOINTS:  # one world for all (each costs a second to build)
        app.post_json(f"{PRIP}/Subscriptions", {"FilterParam": "contains(Name,'S2')", "NotificationEndpoint": endpoint},
                      headers=basic("alice"), status=201)


def test_a_notification_endpoint_that_can_never_work_is_refused(odip):
    """Accepted with 201 before: retried until given up, and a CR/LF forged log lines."""
    for endpoint in BAD_ENDPOINTS:  # one world for all (each costs a second to build)
        error = _error(_post(odip, order_body(NotificationEndpoint=endpoint)), 400, "E7205")
        assert "NotificationEndpoint" in _targets(error), endpoint
        assert "forged" not in error["message"] and "abc" not in error["message"]


def test_a_subscription_endpoint_that_can_never_work_is_refused(app, catalogue):
    for endpoint in BAD_ENDPOINTS:
        response = app.post_json(f"{PRIP}/Subscriptions", {"FilterParam": "contains(Name,'S2')",
                                                           "NotificationEndpoint": endpoint},
                                 headers=basic("alice"), status=400)
        assert _error(response, 400, "E7742")["target"] == "NotificationEndpoint", endpoint


def test_a_nul_in_basic_credentials_or_a_token_request_is_a_401(app, catalogue):
    """PostgreSQL could not look the name up: a 500 with a traceback."""
    for login in ("DEMO\\al\u0000ice", "DE\u0000MO\\alice", "al\u0000ice"):
        header = {"Authorization": "Basic " + base64.b64encode(f"{login}:x".encode()).decode()}
        _error(app.get(f"{PRIP}/Products", headers=header, status=401), 401)
        response = app.post("/proseo/prip/v1/token", {"grant_type": "password", "username": login, "password": "x"},
                            status=401)
        _error(response, 401)


def _token(app, password="alice-secret"):
    response = app.post("/proseo/prip/v1/token",
                        {"grant_type": "password", "username": "DEMO\\alice", "password": password})
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def test_a_token_ends_with_its_password_and_its_user(app, catalogue):
    """A token worked until it expired after its user's password changed, and again for a new
    user of the same name."""
    served = app.app.registry.storage
    token = _token(app)
    app.get(f"{PRIP}/Products", headers=token, status=200)
    served.update_user(User("DEMO", "alice", hash_password("new-secret"), {Role.PRIP_USER}))
    _error(app.get(f"{PRIP}/Products", headers=token, status=401), 401)
    fresh = _token(app, "new-secret")
    app.get(f"{PRIP}/Products", headers=fresh, status=200)
    served.delete_user("DEMO", "alice")
    served.add_user(User("DEMO", "alice", hash_password("new-secret"), {Role.PRIP_USER}))
    _error(app.get(f"{PRIP}/Products", headers=fresh, status=401), 401)
    app.get(f"{PRIP}/Products", headers=_token(app, "new-secret"), status=200)


@pytest.mark.postgresql
def test_the_storage_answers_a_nul_text_as_an_invalid_value(migrated_pg_url):
    """The safety net under the input checks: psycopg refuses to send a NUL (DataError)."""
    from proseo_odata.storage.errors import InvalidValueError, NotFoundError
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    storage = SQLAlchemyStorage.from_url(migrated_pg_url)
    try:
        with pytest.raises(InvalidValueError, match="NUL"):
            storage.get_user("DEMO", "a\u0000b")
        with pytest.raises(NotFoundError):
            storage.get_user("DEMO", "ab")  # the session is usable after it
    finally:
        storage.close()


@pytest.mark.parametrize("credentials, target", [
    ({"NotificationEpUsername": "user:name"}, "NotificationEpUsername"),
    ({"NotificationEpPassword": "p" * 1025}, "NotificationEpPassword"),
])
def test_notification_credentials_basic_can_send(odip, credentials, target):
    """A ':' in the user name split the receiver's credentials elsewhere; megabytes of password
    were copied into every outbox message and refused by every receiver (431)."""
    error = _error(_post(odip, order_body(**credentials)), 400, "E7205")
    assert target in _targets(error) and "ppp" not in error["message"]


@pytest.mark.parametrize("credentials, target", [
    ({"NotificationEpUsername": "user:name"}, "NotificationEpUsername"),
    ({"NotificationEpUsername": "u" * 1025}, "NotificationEpUsername"),
])
def test_subscription_credentials_basic_can_send(app, catalogue, credentials, target):
    response = app.post_json(f"{PRIP}/Subscriptions", {"FilterParam": "contains(Name,'S2')",
                                                       "NotificationEndpoint": "https://hook.example/x",
                                                       **credentials},
                             headers=basic("alice"), status=400)
    assert _error(response, 400, "E7742")["target"] == target


def test_an_orderby_of_thousands_of_items_is_a_400(app, catalogue):
    """SQLite refused 2,000 ORDER BY terms ("too many terms in ORDER BY clause"): a 500."""
    response = app.get(f"{PRIP}/Products", {"$orderby": ",".join(["Name"] * 2000)}, headers=basic("alice"), status=400)
    assert "at most 32" in _error(response, 400)["message"]
    assert app.get(f"{PRIP}/Products", {"$orderby": ",".join(["Name"] * 32)}, headers=basic("alice")).status_int == 200
