"""The one error table (proseo_odata_web/errors.py, ERROR_TABLE): (service, kind) -> (status,
code). In ODIP only meanings PRIP shares take the ODIP counterpart of the PRIP code, every other
PRIP meaning gets an ODIP number of its own, documented in docs/odip.md with the same HTTP
status; the details of an error get the codes of their own kinds."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pyramid import testing

from proseo_odata.errors import Conflict, InvalidOrder, InvalidQuery, NotFound, ProseoError
from proseo_odata_web.errors import ERROR_TABLE, answer_of, proseo_error_view

from odip_helpers import ODIP, auth, json_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "odip.md"

#: Kinds whose ODIP code is documented with another status (E7210: a malformed token request is
#: 400, the token endpoint of a service without bearer tokens 404).
_SHARED_CODE_KINDS = {"not_found.token_endpoint"}


def docs_table() -> dict[str, str]:
    rows = re.findall(r"^\| `(E72\d\d)` \| (\d{3}|4xx) \|", DOCS.read_text(encoding="utf-8"), re.MULTILINE)
    return dict(rows)


@pytest.mark.parametrize(
    "kind, prip_code, odip_code",
    [
        ("invalid_input.query", "E7721", "E7221"),  # same meaning: invalid query (via its parent)
        ("unavailable", "E7705", "E7206"),  # the 503 (E7205 is the invalid order in ODIP)
        ("not_found.product_file", "E7707", "E7212"),  # product file unavailable, not E7207 = no workflow
        ("conflict", "E7709", "E7213"),  # concurrent change, not E7209 = no output product
        ("not_found", "E7706", "E7211"),  # product not found, not E7206 = the 503
        ("range_not_satisfiable", "E7716", "E7214"),  # not the undocumented E7216
        ("conflict.subscription_state", "E7740", "E7740"),  # subscriptions: PRIP's own
        ("not_found.input_product", "E7258", "E7258"),  # ODIP's own
        ("invalid_input.order", "E7205", "E7205"),
        ("not_found.input_product.content_date", "E7259", "E7259"),
        ("not_found.workflow.some_detail", "E7207", "E7207"),  # an unknown sub-kind: its parent's row
    ],
)
def test_answer_of(kind, prip_code, odip_code):
    assert answer_of("prip", kind)[1] == prip_code
    assert answer_of("odip", kind)[1] == odip_code
    assert answer_of("prip", kind)[0] == answer_of("odip", kind)[0]


def test_an_unknown_kind_is_an_internal_error():
    assert answer_of("prip", "nonsense") == (500, "E7799")
    assert answer_of("odip", ProseoError("x").kind) == (500, "E7299")


def test_a_kind_outside_its_family_is_refused():
    with pytest.raises(ValueError):
        NotFound("x", kind="conflict.order_state")
    assert NotFound("x", kind="not_found.order").kinds == ("not_found.order", "not_found", "error")


@pytest.mark.parametrize("path, codes", [("/odata/v1/Products", ("E7721", ["E7709", "E7205", "E7721"])),
                                         ("/odip/v1/Workflows", ("E7221", ["E7213", "E7205", "E7221"]))])
def test_details_get_the_codes_of_their_own_kinds(path, codes):
    request = testing.DummyRequest(path=path)
    error = InvalidQuery("outer", details=[Conflict("inner"), InvalidOrder("kept", target="Id"), InvalidQuery("q")])
    body = json.loads(proseo_error_view(error, request).body)["error"]
    assert (body["code"], [d["code"] for d in body["details"]]) == codes
    assert body["details"][1] == {"code": "E7205", "message": "kept", "target": "Id"}


def test_no_two_prip_meanings_share_an_odip_code():
    odip_codes = {}
    for kind, (_, prip_code, odip_code) in ERROR_TABLE.items():
        if prip_code.startswith("E77"):
            odip_codes.setdefault(odip_code, set()).add(prip_code)
    assert all(len(prips) == 1 for prips in odip_codes.values()), odip_codes


def test_mapped_codes_are_not_odip_meanings_of_the_service_itself():
    """ODIP's own codes (order validation, workflow/order/output not found, state change) are
    never the target of a PRIP code with another meaning."""
    own = {"E7205", "E7207", "E7208", "E7209", "E7219", "E7258", "E7259"}
    assert not own & {odip for _, prip, odip in ERROR_TABLE.values() if prip.startswith("E77")}


def test_every_odip_code_is_documented_with_its_status():
    documented = docs_table()
    assert documented, "no table found"
    for kind, (status, _, odip_code) in ERROR_TABLE.items():
        if odip_code.startswith("E7740") or odip_code in ("E7741", "E7742"):
            continue  # subscriptions are PRIP's only
        assert odip_code in documented, f"{odip_code} ({kind}) is not documented"
        if kind not in _SHARED_CODE_KINDS:
            assert documented[odip_code] == str(status or "4xx"), (kind, odip_code, documented[odip_code])


def test_unsatisfiable_range_on_the_output_file_is_e7214(odip):  # noqa: F811
    order_id = odip.order_id("u_completed")
    response = odip.app.get(f"{ODIP}/ProductionOrders({order_id})/Product/$value",
                            headers=dict(auth("ursula"), Range="bytes=999999-"), status=416)
    assert json_of(response)["error"]["code"] == "E7214"
    assert "(E7214)" in response.headers["Warning"]


def test_options_on_the_output_file_are_refused(odip):  # noqa: F811
    order_id = odip.order_id("u_completed")
    url = f"{ODIP}/ProductionOrders({order_id})/Product/$value"
    for query, target in (("$top=abc", "$top"), ("$filter=Name eq 'x'", "$filter"), ("$select=Name", "$select")):
        response = odip.app.get(f"{url}?{query}", headers=auth("ursula"), status=400)
        assert json_of(response)["error"]["code"] == "E7221" and json_of(response)["error"]["target"] == target
    assert odip.app.get(url, headers=auth("ursula")).body


def test_errors_of_an_order_product_name_the_set_the_path_uses(odip):  # noqa: F811
    order_id = odip.order_id("u_completed")
    for entity_set in ("ProductionOrder", "ProductionOrders"):
        for suffix in ("/Product?$top=1", "/Product/$value?$top=1"):
            response = odip.app.get(f"{ODIP}/{entity_set}({order_id}){suffix}", headers=auth("ursula"), status=400)
            message = json_of(response)["error"]["message"]
            assert f"{entity_set}(...)/Product" in message, message
            assert ("ProductionOrders" in message) == (entity_set == "ProductionOrders"), message
