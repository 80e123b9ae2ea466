"""The one key parser (proseo_odata_web/keys.py) and every route with a key using it: products,
subscriptions, workflows and production orders accept the same forms and refuse the same
texts with their service's code and a message naming what the key is of."""
from __future__ import annotations

import uuid
from urllib.parse import unquote

import pytest

from proseo_odata.odata.errors import ODataError
from proseo_odata_web.errors import answer_of
from proseo_odata_web.keys import EXAMPLE_KEY, name_key, parse_key, parse_name_key

from prip_helpers import PRIP, basic
from odip_helpers import ODIP, auth

GUID = "2B17B57D-fff4-4645-b539-91f305c83b91"


@pytest.mark.parametrize("text", [GUID, f"'{GUID}'", f"Id={GUID}", f"Id='{GUID}'", f"  {GUID} "])
def test_accepted_forms(text):
    assert parse_key(text, "thing") == uuid.UUID(GUID)


@pytest.mark.parametrize("name", ["cloudCover", "it's", "''", "a b/c?d#e%f", "\u00e9t\u00e9 \U0001f600", "(x)", ""])
def test_name_keys_round_trip_through_a_url(name):
    written = name_key(name)
    assert "/" not in written and "?" not in written and "#" not in written and " " not in written
    assert parse_name_key(unquote(written), "attribute") == name
    assert parse_name_key(f"Name={unquote(written)}", "attribute") == name


@pytest.mark.parametrize("text", ["cloudCover", "'cloudCover", "cloudCover'", "'it's'", "Id='x'", "name='x'", '"x"'])
def test_refused_name_keys(text):
    with pytest.raises(ODataError) as caught:
        parse_name_key(text, "attribute")
    assert caught.value.target == "Name" and "attribute" in str(caught.value)


@pytest.mark.parametrize("text", ["", "abc", f"'{GUID}", f"{GUID}'", f"id={GUID}", f"Name={GUID}",
                                  GUID[:-1], GUID + "0", f'"{GUID}"', f"{{{GUID}}}", GUID.replace("-", "")])
@pytest.mark.parametrize("service, code", [("prip", "E7721"), ("odip", "E7221")])
def test_refused_texts(text, service, code):
    with pytest.raises(ODataError) as caught:
        parse_key(text, "production order")
    error = caught.value
    assert (*answer_of(service, error.kind), error.target) == (400, code, "Id")
    assert error.message == f"Invalid production order key {text!r}: expected a UUID such as {EXAMPLE_KEY}"


@pytest.mark.parametrize("path, what", [
    ("/Products(abc)", "product"),
    ("/Products(abc)/Attributes", "product"),
    ("/Products(abc)/$value", "product"),
    ("/Subscriptions(abc)", "subscription"),
    ("/Subscriptions(abc)/OData.CSC.Pause", "subscription"),
])
def test_prip_routes(app, path, what):
    method = app.post if "OData.CSC" in path else app.get
    answer = method(PRIP + path, headers=basic("alice"), status=400)
    assert answer.json["error"]["code"] == "E7721"
    assert answer.json["error"]["message"].startswith(f"Invalid {what} key 'abc'")


@pytest.mark.parametrize("path, what", [
    ("/Workflows(abc)", "workflow"),
    ("/ProductionOrders(abc)", "production order"),
    ("/ProductionOrder(abc)/OData.CSC.Cancel", "production order"),
    ("/ProductionOrders(abc)/Product/$value", "production order"),
])
def test_odip_routes(odip, path, what):  # noqa: F811
    method = odip.app.post if "OData.CSC" in path else odip.app.get
    answer = method(ODIP + path, headers=auth("ursula"), status=400)
    assert answer.json["error"]["code"] == "E7221"
    assert answer.json["error"]["message"].startswith(f"Invalid {what} key 'abc'")
