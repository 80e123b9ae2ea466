"""validate_subscription (proseo_odata/notify/subscriptions.py): the rules of a new
subscription's request body, every problem in one SubscriptionValidationError (400)."""
from __future__ import annotations

import pytest

from proseo_odata.notify.subscriptions import (
    DEFAULT_SUBSCRIPTION_PRIORITY,
    SubscriptionValidationError,
    validate_subscription,
)
from proseo_odata_web.errors import answer_of

SECRET = "pa55-W0rd-never-echoed"
GOOD = {
    "FilterParam": "startswith(Name,'S2')",
    "StageOrder": True,
    "Priority": 7,
    "NotificationEndpoint": "https://rx.example.org/notify",
    "NotificationEpUsername": "rx",
    "NotificationEpPassword": SECRET,
}


def body(**overrides):
    result = dict(GOOD, **overrides)
    return {k: v for k, v in result.items() if v is not ...}


def test_a_good_body_gives_the_fields():
    assert validate_subscription(body()) == {
        "filter_param": "startswith(Name,'S2')",
        "stage_order": True,
        "priority": 7,
        "notification_endpoint": "https://rx.example.org/notify",
        "notification_username": "rx",
        "notification_password": SECRET,
    }


def test_defaults_nulls_and_ignored_properties():
    fields = validate_subscription(body(StageOrder=None, Priority=..., NotificationEpUsername=...,
                                        NotificationEpPassword=None, Id="x", Status="cancelled",
                                        **{"@odata.context": "$metadata#Subscriptions/$entity"}))
    assert (fields["stage_order"], fields["priority"]) == (False, DEFAULT_SUBSCRIPTION_PRIORITY)
    assert fields["notification_username"] is None and fields["notification_password"] is None


@pytest.mark.parametrize("overrides, target, words", [
    ({"FilterParam": ...}, "FilterParam", "required"),
    ({"FilterParam": 12}, "FilterParam", "must be a string"),
    ({"FilterParam": "Nme eq 'x'"}, "FilterParam", "Nme"),
    ({"FilterParam": "contains(Name,'a' eq true"}, "FilterParam", "column"),
    ({"NotificationEndpoint": ...}, "NotificationEndpoint", "required"),
    ({"NotificationEndpoint": "ftp://host/x"}, "NotificationEndpoint", "http or https"),
    ({"NotificationEndpoint": "https://u:pw@host/x"}, "NotificationEndpoint", "user information"),
    ({"NotificationEndpoint": ["https://x"]}, "NotificationEndpoint", "must be a string"),
    ({"Priority": 0}, "Priority", "1 to 100"),
    ({"Priority": 101}, "Priority", "1 to 100"),
    ({"Priority": True}, "Priority", "must be an integer"),
    ({"Priority": "5"}, "Priority", "must be an integer"),
    ({"StageOrder": "yes"}, "StageOrder", "must be a Boolean"),
    ({"NotificationEpPassword": 12345}, "NotificationEpPassword", "must be a string"),
    ({"Colour": "blue"}, "Colour", "Unknown property"),
    ({"Prio@rity": 3}, "Prio@rity", "Unknown property"),  # not an annotation as OData JSON writes one
    ({"#Priority": 3}, "#Priority", "Unknown property"),
    ({"@Priority": 3}, "@Priority", "Unknown property"),
])
def test_one_problem(overrides, target, words):
    with pytest.raises(SubscriptionValidationError) as caught:
        validate_subscription(body(**overrides))
    error = caught.value
    assert (*answer_of("prip", error.kind), error.target) == (400, "E7742", target)
    assert words in error.message
    assert [d.target for d in error.details] == [target]


@pytest.mark.parametrize("value", [None, [], "text", 3])
def test_body_must_be_an_object(value):
    with pytest.raises(SubscriptionValidationError) as caught:
        validate_subscription(value)
    assert caught.value.target == "body" and "JSON object" in caught.value.message


def test_every_problem_at_once_without_values():
    bad = body(FilterParam=..., NotificationEndpoint="ftp://x", Priority="high", Colour="blue",
               NotificationEpPassword=12345, StageOrder=SECRET)
    with pytest.raises(SubscriptionValidationError) as caught:
        validate_subscription(bad)
    error = caught.value
    assert error.target == "body" and error.message.startswith("Invalid Subscription, 6 problems: ")
    assert sorted(d.target for d in error.details) == sorted(
        ["FilterParam", "NotificationEndpoint", "Priority", "Colour", "NotificationEpPassword", "StageOrder"])
    text = error.message + " ".join(d.message for d in error.details)
    assert SECRET not in text and "12345" not in text and "high" not in text


def test_the_properties_the_service_sets_are_ignored_in_a_body():
    """What a client echoing a subscription sends back: the key and the Core.Computed properties
    of $metadata (both come from edm's flags, so a flag changed there changes this set)."""
    from proseo_odata.notify.subscriptions import SUBSCRIPTION_SERVER_PROPERTIES

    assert SUBSCRIPTION_SERVER_PROPERTIES == {"Id", "Status", "SubmissionDate", "LastNotificationDate"}
    echoed = {"Id": "x", "Status": "running", "SubmissionDate": "2024-01-01T00:00:00.000Z",
              "LastNotificationDate": None}
    assert validate_subscription(body(**echoed)) == validate_subscription(body())
