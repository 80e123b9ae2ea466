"""PRIP Subscriptions over HTTP (contract sections 3, 5, 8, 9): create, read, list, the three
actions, validation, scoping to mission and owner, and the never-returned password."""
import json
import logging
import re
import uuid

import pytest

from prip_helpers import PRIP, basic

SECRET = "Sup3r-s3cret-pa55word"
GOOD_FILTER = "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')"


def new_subscription(**overrides):
    body = {
        "FilterParam": GOOD_FILTER,
        "StageOrder": False,
        "Priority": 10,
        "NotificationEndpoint": "https://receiver.example.org/notify",
        "NotificationEpUsername": "rx",
        "NotificationEpPassword": SECRET,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def create(app, login="alice", status=201, **overrides):
    return app.post_json(f"{PRIP}/Subscriptions", new_subscription(**overrides), headers=basic(login), status=status)


def assert_nothing_stored(app):
    """(The tests of refused requests share their module's world: none may have stored one.)"""
    assert app.get(f"{PRIP}/Subscriptions", headers=basic("alice")).json["value"] == []


def test_create_answers_201_with_location_and_masked_password(app):
    answer = create(app)
    body = answer.json
    assert body["@odata.context"] == "$metadata#Subscriptions/$entity"
    uuid.UUID(body["Id"])
    assert body["Status"] == "running"
    assert body["FilterParam"] == GOOD_FILTER
    assert (body["Priority"], body["StageOrder"]) == (10, False)
    assert body["NotificationEndpoint"] == "https://receiver.example.org/notify"
    assert body["NotificationEpUsername"] == "rx"
    assert body["NotificationEpPassword"] == "********"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["SubmissionDate"])  # seed pattern
    for op in ("eq", "ge", "le"):  # the emitted (truncated) value pasted back selects it
        found = app.get(f"{PRIP}/Subscriptions", {"$filter": f"SubmissionDate {op} {body['SubmissionDate']}"},
                        headers=basic("alice")).json["value"]
        assert body["Id"] in {s["Id"] for s in found}, op
    assert body["LastNotificationDate"] is None
    assert answer.headers["Location"].endswith(f"{PRIP}/Subscriptions({body['Id']})")
    assert answer.headers["Content-Type"].startswith("application/json")
    assert SECRET not in answer.text


def test_read_back_in_every_key_form(app):
    subscription_id = create(app).json["Id"]
    for key in (subscription_id, f"'{subscription_id}'", f"Id={subscription_id}", subscription_id.upper()):
        body = app.get(f"{PRIP}/Subscriptions({key})", headers=basic("alice")).json
        assert body["Id"] == subscription_id and body["NotificationEpPassword"] == "********"
        assert SECRET not in str(body)


def test_an_entity_read_in_full_metadata_can_be_posted_back(app):
    subscription_id = create(app).json["Id"]
    full = app.get(f"{PRIP}/Subscriptions({subscription_id})",
                   headers={**basic("alice"), "Accept": "application/json;odata.metadata=full"}).json
    assert "Id@odata.type" in full and "#OData.CSC.Cancel" in full  # what a client echoes back
    full["NotificationEpPassword"] = SECRET
    again = app.post_json(f"{PRIP}/Subscriptions", full, headers=basic("alice"), status=201).json
    assert again["Id"] != subscription_id and again["FilterParam"] == full["FilterParam"]


def test_options_of_a_list_are_refused_on_one_subscription(app):
    subscription_id = create(app).json["Id"]
    for query in ("$filter=Status eq 'paused'", "$top=1", "$orderby=Priority"):
        answer = app.get(f"{PRIP}/Subscriptions({subscription_id})?{query}", headers=basic("alice"), status=400)
        assert answer.json["error"]["target"] == query.partition("=")[0]
    assert app.get(f"{PRIP}/Subscriptions({subscription_id})?$select=Status", headers=basic("alice")).json["Status"]


def test_password_absent_is_null(app):
    body = create(app, NotificationEpPassword=..., NotificationEpUsername=...).json
    assert body["NotificationEpPassword"] is None and body["NotificationEpUsername"] is None


def test_list_shows_only_own_subscriptions_of_the_mission(app):
    mine = {create(app).json["Id"], create(app, FilterParam="startswith(Name,'S1')").json["Id"]}
    theirs = create(app, login="carol").json["Id"]
    other_mission = create(app, login="olga").json["Id"]
    listed = app.get(f"{PRIP}/Subscriptions", headers=basic("alice")).json
    assert listed["@odata.context"] == "$metadata#Subscriptions"
    assert {s["Id"] for s in listed["value"]} == mine
    assert SECRET not in str(listed)
    assert {s["Id"] for s in app.get(f"{PRIP}/Subscriptions", headers=basic("olga")).json["value"]} == {other_mission}
    for login, foreign in (("alice", theirs), ("alice", other_mission), ("olga", theirs)):
        answer = app.get(f"{PRIP}/Subscriptions({foreign})", headers=basic(login), status=404)
        assert answer.json["error"]["message"] == f"No subscription found with UUID {foreign}"
    app.post(f"{PRIP}/Subscriptions({theirs})/OData.CSC.Cancel", headers=basic("alice"), status=404)


@pytest.mark.shared_app
def test_unknown_subscription_is_404(app):
    missing = uuid.uuid4()
    answer = app.get(f"{PRIP}/Subscriptions({missing})", headers=basic("alice"), status=404)
    assert answer.headers["Warning"].startswith("199 proseo-api-prip (E7741) No subscription found")


@pytest.mark.shared_app
def test_bad_key_is_400(app):
    app.get(f"{PRIP}/Subscriptions(not-a-uuid)", headers=basic("alice"), status=400)


@pytest.mark.parametrize("actions, expected", [
    (["Pause"], "paused"),
    (["Pause", "Resume"], "running"),
    (["Pause", "Pause"], "paused"),
    (["Resume"], "running"),
    (["Cancel"], "cancelled"),
    (["Pause", "Cancel"], "cancelled"),
    (["Cancel", "Cancel"], "cancelled"),
])
def test_actions(app, actions, expected):
    subscription_id = create(app).json["Id"]
    for action in actions:
        body = app.post(f"{PRIP}/Subscriptions({subscription_id})/OData.CSC.{action}", headers=basic("alice")).json
        assert body["NotificationEpPassword"] == "********"
    assert body["Status"] == expected
    assert app.get(f"{PRIP}/Subscriptions('{subscription_id}')", headers=basic("alice")).json["Status"] == expected


@pytest.mark.parametrize("headers, status", [({"If-Match": '"nope"'}, 412), ({"If-None-Match": "*"}, 412),
                                             ({"If-Match": "*"}, 200), ({"If-None-Match": '"x"'}, 200)])
def test_an_action_with_a_precondition_it_cannot_meet_changes_nothing(app, headers, status):
    """The entity has no ETag: If-Match "nope" never matches, If-None-Match * fails on an entity
    that exists. The pause went ahead all the same."""
    subscription_id = create(app).json["Id"]
    answer = app.post(f"{PRIP}/Subscriptions({subscription_id})/OData.CSC.Pause", headers={**basic("alice"), **headers},
                      status=status)
    expected = "paused" if status == 200 else "running"
    if status == 412:
        assert answer.json["error"]["code"] == "E7717" and answer.json["error"]["target"] == next(iter(headers))
    assert app.get(f"{PRIP}/Subscriptions({subscription_id})", headers=basic("alice")).json["Status"] == expected


@pytest.mark.parametrize("action", ["Pause", "Resume"])
def test_illegal_state_change_is_409(app, action):
    subscription_id = create(app).json["Id"]
    app.post(f"{PRIP}/Subscriptions({subscription_id})/OData.CSC.Cancel", headers=basic("alice"))
    answer = app.post(f"{PRIP}/Subscriptions({subscription_id})/OData.CSC.{action}", headers=basic("alice"), status=409)
    assert "is cancelled" in answer.json["error"]["message"]
    assert re.match(r"^\d{3} proseo-api-prip \([EW]\d+\) .+$", answer.headers["Warning"])
    assert app.get(f"{PRIP}/Subscriptions({subscription_id})", headers=basic("alice")).json["Status"] == "cancelled"


def test_actions_accept_get_not(app):
    subscription_id = create(app).json["Id"]
    app.get(f"{PRIP}/Subscriptions({subscription_id})/OData.CSC.Pause", headers=basic("alice"), status=405)
    app.delete(f"{PRIP}/Subscriptions", headers=basic("alice"), status=405)


@pytest.mark.shared_app
def test_invalid_filter_param_is_400_with_its_position(app):
    answer = create(app, status=400, FilterParam="contains(Name,'a' eq true")
    error = answer.json["error"]
    assert error["target"] == "FilterParam"
    assert "column" in error["message"] and "FilterParam" in error["message"]
    answer = create(app, status=400, FilterParam="Nme eq 'x'")
    assert "Nme" in answer.json["error"]["message"]
    assert_nothing_stored(app)


@pytest.mark.shared_app
def test_every_problem_is_reported_at_once_without_echoing_values(app):
    answer = create(app, status=400, FilterParam=..., NotificationEndpoint="ftp://x", Priority="high",
                    Colour="blue", NotificationEpPassword=12345)
    error = answer.json["error"]
    targets = sorted(d["target"] for d in error["details"])
    assert targets == sorted(["FilterParam", "NotificationEndpoint", "Priority", "Colour", "NotificationEpPassword"])
    assert "12345" not in answer.text
    assert_nothing_stored(app)


def test_the_password_mask_sent_back_is_refused(app):
    """A subscription read back (its password answered as the mask) and posted again: the mask
    would become the receiver's password. Refused; other asterisks are a password like any."""
    read_back = create(app).json
    answer = create(app, status=400, NotificationEpPassword=read_back["NotificationEpPassword"])
    error = answer.json["error"]
    assert (error["code"], error["target"]) == ("E7742", "NotificationEpPassword")
    assert "mask" in error["message"]
    assert create(app, NotificationEpPassword="*********").json["NotificationEpPassword"] == "********"


@pytest.mark.shared_app
def test_endpoint_with_user_information_is_refused_without_echoing_it(app):
    answer = create(app, status=400, NotificationEndpoint=f"https://rx:{SECRET}@receiver.example.org/notify")
    error = answer.json["error"]
    assert (error["code"], error["target"]) == ("E7742", "NotificationEndpoint")
    assert "user information" in error["message"] and SECRET not in answer.text
    assert_nothing_stored(app)


@pytest.mark.shared_app
@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
def test_body_must_be_a_json_object(app, body):
    app.post(f"{PRIP}/Subscriptions", body, headers={**basic("alice"), "Content-Type": "application/json"}, status=400)
    assert_nothing_stored(app)


@pytest.mark.shared_app
@pytest.mark.parametrize("body", [b"[" * 100000, b'{"a":' * 5000])
def test_body_nested_beyond_the_decoder_is_400(app, body):
    # json.loads raised RecursionError, answered 500
    answer = app.post(f"{PRIP}/Subscriptions", body, headers={**basic("alice"), "Content-Type": "application/json"},
                      status=400)
    assert answer.json["error"] == {"code": "E7742", "message": "The request body is nested too deeply",
                                    "target": "body"}
    assert_nothing_stored(app)


def test_read_only_properties_in_the_body_are_ignored(app):
    body = create(app, Status="cancelled", Id=str(uuid.uuid4()), **{"@odata.context": "$metadata#Subscriptions/$entity"}).json
    assert body["Status"] == "running"


def test_filter_and_orderby_on_the_collection(app):
    paused = create(app).json["Id"]
    create(app)
    app.post(f"{PRIP}/Subscriptions({paused})/OData.CSC.Pause", headers=basic("alice"))
    listed = app.get(f"{PRIP}/Subscriptions", {"$filter": "Status eq 'paused'"}, headers=basic("alice")).json
    assert [s["Id"] for s in listed["value"]] == [paused]
    ordered = app.get(f"{PRIP}/Subscriptions", {"$orderby": "Priority desc", "$count": "true"}, headers=basic("alice")).json
    assert ordered["@odata.count"] == 2


def test_select_on_the_collection_keeps_the_key(app):
    subscription_id = create(app).json["Id"]
    listed = app.get(f"{PRIP}/Subscriptions", {"$select": "Status,Priority"}, headers=basic("alice")).json
    assert listed["value"] == [{"Id": subscription_id, "Status": "running", "Priority": 10}]
    assert listed["@odata.context"] == "$metadata#Subscriptions(Status,Priority)"
    # one subscription honours $select too (it answered every property)
    one = app.get(f"{PRIP}/Subscriptions({subscription_id})", {"$select": "Status"}, headers=basic("alice")).json
    assert one == {"@odata.context": "$metadata#Subscriptions(Status)/$entity", "Id": subscription_id, "Status": "running"}
    app.get(f"{PRIP}/Subscriptions({subscription_id})", {"$select": "Nope"}, headers=basic("alice"), status=400)


def test_password_is_not_filterable(app):
    create(app)
    answer = app.get(f"{PRIP}/Subscriptions", {"$filter": f"NotificationEpPassword eq '{SECRET}'"},
                     headers=basic("alice"), status=400)
    assert SECRET not in answer.json["error"]["message"] or "NotificationEpPassword" in answer.json["error"]["message"]


def test_authentication_and_role(app):
    app.get(f"{PRIP}/Subscriptions", status=401)
    app.post_json(f"{PRIP}/Subscriptions", new_subscription(), status=401)
    app.get(f"{PRIP}/Subscriptions", headers=basic("bob"), status=403)


def test_password_is_never_logged(app, caplog):
    caplog.set_level(logging.DEBUG)
    subscription_id = create(app).json["Id"]
    create(app, status=400, FilterParam="bad eq", NotificationEpPassword=SECRET)
    app.post(f"{PRIP}/Subscriptions({subscription_id})/OData.CSC.Pause", headers=basic("alice"))
    assert caplog.records, "nothing was logged at all: the check would be vacuous"
    assert SECRET not in caplog.text


@pytest.mark.shared_app
@pytest.mark.parametrize("bad", ['"\\ud800"', "NaN", "Infinity"])
def test_body_that_json_loads_takes_but_rfc_8259_does_not_is_400(app, bad):
    # a lone surrogate escape was accepted and then failed to encode for storage (500)
    body = f'{{"FilterParam": "Online eq true", "NotificationEndpoint": "https://rx.example.org/n", "Priority": {bad}}}'
    if bad.startswith('"'):
        body = f'{{"FilterParam": {bad}, "NotificationEndpoint": "https://rx.example.org/n"}}'
    answer = app.post(f"{PRIP}/Subscriptions", body.encode(), status=400,
                      headers={**basic("alice"), "Content-Type": "application/json"})
    assert answer.json["error"] == {"code": "E7742", "message": "The request body is not valid JSON", "target": "body"}
    assert_nothing_stored(app)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None, "application/xml",
                                          "multipart/form-data; boundary=x"])
def test_a_body_not_sent_as_json_is_415(app, content_type):
    """A text/plain or form POST is a "simple" cross-site request: a page elsewhere could make a
    browser holding Basic credentials create a subscription notifying the page's owner."""
    headers = {**basic("alice"), **({"Content-Type": content_type} if content_type else {})}
    # (app.request: WebTest's post would give a body without a type application/x-www-form-urlencoded)
    answer = app.request(f"{PRIP}/Subscriptions", method="POST", body=json.dumps(new_subscription()).encode(),
                         headers=headers, expect_errors=True)
    assert answer.request.environ.get("CONTENT_TYPE") == content_type
    assert answer.status_int == 415, answer.text
    error = answer.json["error"]
    assert (error["code"], error["target"]) == ("E7718", "Content-Type")
    assert "(E7718)" in answer.headers["Warning"]
    assert app.get(f"{PRIP}/Subscriptions", headers=basic("alice")).json["value"] == []
    for json_type in ("application/json; charset=utf-8", "application/json;odata.metadata=minimal"):
        assert app.post(f"{PRIP}/Subscriptions", json.dumps(new_subscription()).encode(),
                        headers={**basic("alice"), "Content-Type": json_type}, status=201)
