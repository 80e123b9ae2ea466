"""The PRIP -> ODIP error code table (proseo_odata_web/odip/errors.py, PRIP_TO_ODIP): only codes
with the same meaning take the ODIP counterpart, every other PRIP meaning gets an ODIP number of
its own, documented in the module docstring and in docs/odip.md with the same HTTP status."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from proseo_odata_web.download import RangeNotSatisfiableError
from proseo_odata.eviction import ProductUnavailableError
from proseo_odata.odata.errors import ODataError
from proseo_odata.storage.errors import ConflictError, NotFoundError
from proseo_odata_web.errors import WEB_CODES
from proseo_odata_web.odip import errors as odip_errors
from proseo_odata_web.odip.errors import PRIP_TO_ODIP, renumber

from odip_fixtures import ODIP, auth, json_of, odip, odip_password_hashes, odip_settings  # noqa: F401

DOCS = Path(__file__).resolve().parents[2] / "docs" / "odip.md"


def docstring_table() -> dict[str, str]:
    """code -> status of the module docstring's table."""
    rows = re.findall(r"^(E72\d\d)\s+(\d{3}|4xx)\s+\S", odip_errors.__doc__, re.MULTILINE)
    return dict(rows)


def docs_table() -> dict[str, str]:
    rows = re.findall(r"^\| `(E72\d\d)` \| (\d{3}|4xx) \|", DOCS.read_text(encoding="utf-8"), re.MULTILINE)
    return dict(rows)


@pytest.mark.parametrize(
    "prip_code, odip_code",
    [
        ("E7721", "E7221"),  # same meaning: invalid query
        ("E7705", "E7206"),  # the 503 (E7205 is the invalid order in ODIP)
        ("E7707", "E7212"),  # product file unavailable, not E7207 = no workflow
        ("E7709", "E7213"),  # concurrent change, not E7209 = no output product
        ("E7706", "E7211"),  # product not found, not E7206 = the 503
        ("E7716", "E7214"),  # range not satisfiable, not the undocumented E7216
        ("E7740", "E7740"),  # subscriptions: not in the table, passes through
        ("E7258", "E7258"),  # already an ODIP code
        ("E7205", "E7205"),
    ],
)
def test_renumber(prip_code, odip_code):
    assert renumber(ODataError("x", code=prip_code)).code == odip_code


def test_renumber_reaches_details():
    error = ODataError("outer", code="E7721", details=[ODataError("inner", code="E7709"),
                                                       ODataError("kept", code="E7205")])
    renumber(error)
    assert (error.code, [d.code for d in error.details]) == ("E7221", ["E7213", "E7205"])


def test_no_two_prip_codes_share_an_odip_code():
    assert len(set(PRIP_TO_ODIP.values())) == len(PRIP_TO_ODIP)


def test_mapped_codes_are_not_odip_meanings_of_the_service_itself():
    """ODIP's own codes (order validation, workflow/order/output not found, state change) are
    never the target of a PRIP code with another meaning."""
    own = {"E7205", "E7207", "E7208", "E7209", "E7219", "E7258", "E7259"}
    assert not own & set(PRIP_TO_ODIP.values())


@pytest.mark.parametrize("table", [docstring_table, docs_table], ids=["docstring", "docs/odip.md"])
def test_every_odip_target_is_documented_with_its_status(table):
    documented = table()
    assert documented, "no table found"
    statuses = {
        "E7706": NotFoundError("x").status,
        "E7707": ProductUnavailableError("x").status,
        "E7709": ConflictError("x").status,
        "E7716": RangeNotSatisfiableError("bytes=9-", 1).status,
        "E7721": 400,
        "E7705": 503,
        "E7703": 401,
        "E7704": 403,
        "E7701": 404,
        "E7702": 405,
        "E7710": 400,
        "E7799": 500,
        "E7700": "4xx",
    }
    assert set(statuses) == set(PRIP_TO_ODIP)
    for prip_code, odip_code in PRIP_TO_ODIP.items():
        assert odip_code in documented, f"{odip_code} (from {prip_code}) is not documented"
        assert documented[odip_code] == str(statuses[prip_code]), (prip_code, odip_code, documented[odip_code])


def test_web_layer_codes_agree_with_the_table():
    prip_codes, odip_codes = WEB_CODES["prip"], WEB_CODES["odip"]
    for kind in prip_codes:
        assert PRIP_TO_ODIP[prip_codes[kind]] == odip_codes[kind], kind


def test_unsatisfiable_range_on_the_output_file_is_e7214(odip):  # noqa: F811
    order_id = odip.order_id("u_completed")
    response = odip.app.get(f"{ODIP}/ProductionOrders({order_id})/Product/$value",
                            headers=dict(auth("ursula"), Range="bytes=999999-"), status=416)
    assert json_of(response)["error"]["code"] == "E7214"
    assert "(E7214)" in response.headers["Warning"]
