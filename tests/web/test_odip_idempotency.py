"""Issue 10 item 8: idempotent order creation (``Idempotency-Key`` header or the client's own
``Id``) on SQLite and PostgreSQL: a retried POST returns the first order, never a second one;
reusing a key or Id for different content is 422 E7220; another user's Id is 409; malformed keys
are 400; concurrent retries with one key create one order (PostgreSQL, real server threads)."""
from __future__ import annotations

import threading
import uuid

import pytest

from odip_helpers import ODIP, auth, json_of, order_body
from proseo_odata.storage import Query


def post(odip, body, login="ursula", status=201, key=None):
    headers = auth(login)
    if key is not None:
        headers["Idempotency-Key"] = key
    return odip.app.post_json(f"{ODIP}/ProductionOrders", body, headers=headers, status=status)


def count_orders(odip, owner="ursula"):
    return odip.storage.query_orders("DEMO", Query(count=True, top=1), owner=owner).count


def test_a_retried_post_with_the_same_key_returns_the_first_order(odip):
    before = count_orders(odip)
    key = str(uuid.uuid4())
    first = post(odip, order_body(), key=key)
    assert "Idempotent-Replayed" not in first.headers
    again = post(odip, order_body(), key=key)
    assert json_of(again)["Id"] == json_of(first)["Id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_orders(odip) == before + 1
    # another key, or no key, is a new order
    assert json_of(post(odip, order_body(), key=str(uuid.uuid4())))["Id"] != json_of(first)["Id"]
    post(odip, order_body())
    assert count_orders(odip) == before + 3


def test_the_key_belongs_to_the_user(odip):
    key = "shared-key-1"
    mine = json_of(post(odip, order_body(), key=key))["Id"]
    theirs = json_of(post(odip, order_body(), login="uwe", key=key))["Id"]
    assert mine != theirs


def test_reusing_a_key_for_another_order_is_422(odip):
    key = str(uuid.uuid4())
    first = json_of(post(odip, order_body(), key=key))
    response = post(odip, order_body(Priority=90), key=key, status=422)
    error = json_of(response)["error"]
    assert error["code"] == "E7220" and error["target"] == "Idempotency-Key"
    assert first["Id"] in error["message"]
    assert response.headers["Warning"].startswith("199 proseo-api-odip (E7220)")
    # the password counts only as given or not: a retry with another password is a replay
    replay = post(odip, order_body(NotificationEpPassword="other-secret"), key=key)
    assert json_of(replay)["Id"] == first["Id"] and "other-secret" not in replay.text


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "caf\u00e9", "a\tb"])
def test_malformed_keys_are_400(odip, key):
    headers = auth("ursula")
    headers["Idempotency-Key"] = key.encode("utf-8").decode("latin-1")
    response = odip.app.post_json(f"{ODIP}/ProductionOrders", order_body(), headers=headers, status=400)
    assert json_of(response)["error"]["target"] == "Idempotency-Key"


def test_the_clients_own_id(odip):
    own = str(uuid.uuid4())
    first = post(odip, order_body(Id=own))
    assert json_of(first)["Id"] == own
    assert first.headers["Location"].endswith(f"ProductionOrders({own})")
    again = post(odip, order_body(Id=own.upper()))
    assert json_of(again)["Id"] == own and again.headers["Idempotent-Replayed"] == "true"
    assert json_of(post(odip, order_body(Id=own, Priority=7), status=422))["error"]["code"] == "E7220"
    # another user's order with that Id: a conflict, and nothing of theirs is shown
    response = post(odip, order_body(Id=own), login="uwe", status=409)
    assert "queued" not in response.text
    assert json_of(post(odip, order_body(Id="not-a-guid"), status=400))["error"]["target"] == "Id"
    assert json_of(post(odip, order_body(Id=None)))["Id"] != own  # null: the server assigns one


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True)
def test_concurrent_retries_with_one_key_create_one_order(odip):
    """Eight threads post the same key at once through a real WSGI server. PostgreSQL only: on
    SQLite concurrent writers need the BEGIN IMMEDIATE of issue 8's first item (branch i8)."""
    import requests

    from live_server import serve_wsgi

    key = str(uuid.uuid4())
    before = count_orders(odip)
    results, errors = [], []
    with serve_wsgi(odip.app.app, threads=8) as base:
        barrier = threading.Barrier(8)

        def client():
            try:
                barrier.wait(10)
                response = requests.post(f"{base}{ODIP}/ProductionOrders", json=order_body(), timeout=60,
                                         headers={**auth("ursula"), "Idempotency-Key": key})
                results.append((response.status_code, response.json().get("Id")))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
    assert not errors, errors
    assert [status for status, _ in results] == [201] * 8, results
    assert len({order_id for _, order_id in results}) == 1
    assert count_orders(odip) == before + 1


def _with_password(body: dict) -> dict:
    """An order's JSON as a client echoes it: the masked password replaced by its own again."""
    return {**body, "NotificationEpPassword": "s3cr3t-pw"} if body.get("NotificationEpPassword") else body


@pytest.mark.parametrize("how", ["key", "id"])
def test_an_echo_or_another_spelling_of_the_same_order_is_a_replay(odip, how):
    """The fingerprint was taken over the raw body: the order's own JSON echoed back, a default
    written out, a value spelled otherwise each answered 422 "different content"."""
    order_id = str(uuid.uuid4())
    key = str(uuid.uuid4()) if how == "key" else None
    first_body = order_body() if how == "key" else order_body(Id=order_id)
    first_body.pop("Priority")
    first = json_of(post(odip, first_body, key=key))
    shown = json_of(odip.app.get(f"{ODIP}/ProductionOrders({first['Id']})", headers=auth("ursula")))
    hex_id = uuid.UUID(first["Id"]).hex
    variants = [
        _with_password(first), _with_password(shown),
        {**first_body, "Priority": 50},
        {**first_body, "WorkflowOptions": [{"Name": "ImageFormat", "Value": "jpg"}]},
        {**first_body, "Id": "{" + first["Id"] + "}"}, {**first_body, "Id": f"urn:uuid:{first['Id']}"},
        {**first_body, "Id": hex_id},
    ]
    for body in variants:
        again = post(odip, body, key=key)
        assert json_of(again)["Id"] == first["Id"] and again.headers["Idempotent-Replayed"] == "true", body
    # other content is still refused
    for body in ({**first_body, "Priority": 51}, {**first_body, "NotificationEpUsername": "someone-else"},
                 {**first_body, "WorkflowOptions": [{"Name": "ImageFormat", "Value": "GEOTIFF"}]}):
        assert json_of(post(odip, body, key=key, status=422))["error"]["code"] == "E7220"
    if how == "key":  # the key's order, but another Id in the body
        assert post(odip, {**first_body, "Id": str(uuid.uuid4())}, key=key, status=422)


def test_the_same_id_and_content_under_a_new_key_is_a_replay(odip):
    """A retry with a new Idempotency-Key but the body's own Id and content answered 409
    'already exists'; odip.md promises the order for the same Id and content."""
    order_id = str(uuid.uuid4())
    first = json_of(post(odip, order_body(Id=order_id), key=str(uuid.uuid4())))
    again = post(odip, order_body(Id=order_id), key=str(uuid.uuid4()))
    assert json_of(again)["Id"] == first["Id"] == order_id and again.headers["Idempotent-Replayed"] == "true"
    assert json_of(post(odip, order_body(Id=order_id, Priority=99), key=str(uuid.uuid4()), status=422))


@pytest.mark.parametrize("spelling", ["{%s", "%s}", "{{%s}"])
def test_an_id_with_unbalanced_braces_is_not_a_guid(odip, spelling):
    order_id = str(uuid.uuid4())
    error = json_of(post(odip, order_body(Id=spelling % order_id), status=400))["error"]
    assert error["code"] == "E7205" and "Id must be a GUID" in error["message"]
