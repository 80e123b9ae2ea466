"""The OASIS OData TC's ``odata-openapi`` converter (npm, pinned in
``tests/data/odata-openapi/package-lock.json``) turns each service's ``$metadata``, fetched
through the application, into OpenAPI: it must list the order creation and cancel operations
and the subscription actions, and no operation the service does not have (no PATCH, PUT,
DELETE or ``$batch``; every listed operation answers through the application).

The converter is installed with ``npm ci`` into ``.node/odata-openapi/`` at the repository root
(gitignored) once, and only again when the pinned lock file changes (tests/node_packages.py). Without Node.js or
without access to the npm registry the tests FAIL with a message saying so; they never skip
(CI has registry access).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from prip_helpers import PRIP
from odip_helpers import L1C_NAME, L2A_ID, ODIP, auth, json_of
from node_packages import NODE_ROOT, REPO, NodePackageUnavailable, install_node_package

from proseo_odata.notify.subscriptions import SUBSCRIPTION_INPUT_PROPERTIES
from proseo_odata.odata.edm import PRIORITY_BOUNDS
from proseo_odata.orders.validation import INPUT_PROPERTIES

PACKAGE = REPO / "tests" / "data" / "odata-openapi"
NODE_DIR = NODE_ROOT / "odata-openapi"
PINNED = "0.29.0"
FILES = ("package.json", "package-lock.json", "convert.js")


def install_converter(target: Path, env=None) -> Path:
    """``npm ci`` the pinned converter into ``target`` (skipped when it is there already, from
    the same lock file); returns ``target``. :class:`NodePackageUnavailable` on any failure."""
    return install_node_package(PACKAGE, target, "odata-openapi", PINNED, FILES, env=env,
                                purpose="check $metadata with the OASIS odata-openapi converter")


@pytest.fixture(scope="session")
def converter():
    """``convert(document_bytes, base_path[, openapi_version]) -> (openapi, messages)`` with the
    pinned converter (OpenAPI 3.0.0 unless a version is given; 3.1.0's schemas are JSON Schema)."""
    try:
        target = install_converter(NODE_DIR)
    except NodePackageUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)

    def convert(document: bytes, base_path: str, version: str = ""):
        command = ["node", str(target / "convert.js"), "http", "localhost", base_path] + ([version] if version else [])
        result = subprocess.run(command, input=document, capture_output=True, timeout=120, cwd=target)
        assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
        out = json.loads(result.stdout)
        return out["openapi"], out["messages"]

    return convert


def xml2json(target: Path, document: bytes) -> dict:
    """The OASIS TC's own CSDL XML -> CSDL JSON conversion (the ``odata-csdl`` package)."""
    script = ("const {xml2json}=require('odata-csdl');let t='';process.stdin.on('data',c=>t+=c);"
              "process.stdin.on('end',()=>process.stdout.write(JSON.stringify(xml2json(t))));")
    result = subprocess.run(["node", "-e", script], input=document, capture_output=True, timeout=60, cwd=target)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    return json.loads(result.stdout)


@pytest.fixture
def db_url(sqlite_url):
    return sqlite_url


def operations(openapi) -> set:
    return {(method.upper(), path) for path, item in openapi["paths"].items()
            for method in item if method != "parameters"}


SUBSCRIPTION_ACTIONS = {("POST", f"/Subscriptions({{Id}})/OData.CSC.{a}") for a in ("Pause", "Resume", "Cancel")}
EXPECTED = {
    "PRIP": {
        ("GET", "/Products"), ("GET", "/Products({Id})"), ("GET", "/Products({Id})/$value"),
        ("GET", "/Products({Id})/Attributes"), ("GET", "/Products({Id})/Assets"),
        ("GET", "/Subscriptions"), ("POST", "/Subscriptions"), ("GET", "/Subscriptions({Id})"),
    } | SUBSCRIPTION_ACTIONS,
    "ODIP": {
        ("GET", "/Workflows"), ("GET", "/Workflows({Id})"),
        ("GET", "/ProductionOrders"), ("POST", "/ProductionOrders"), ("GET", "/ProductionOrders({Id})"),
        ("POST", "/ProductionOrders/OData.CSC.Order"), ("POST", "/ProductionOrders({Id})/OData.CSC.Cancel"),
        ("GET", "/ProductionOrders({Id})/Product"),
        ("POST", "/ProductionOrder"), ("GET", "/ProductionOrder({Id})"),
        ("POST", "/ProductionOrder/OData.CSC.Order"), ("POST", "/ProductionOrder({Id})/OData.CSC.Cancel"),
        ("GET", "/ProductionOrder({Id})/Product"),
    },
}
ROOTS = {"PRIP": PRIP, "ODIP": ODIP}
USERS = {"PRIP": "ursula", "ODIP": "mgr"}
_ORDER = {"WorkflowId": L2A_ID, "InputProductReference": {"Reference": L1C_NAME}}
BODIES = {"/Subscriptions": {"FilterParam": "contains(Name,'S2B')", "NotificationEndpoint": "https://hook.example/p"},
          "/ProductionOrders": _ORDER, "/ProductionOrder": _ORDER,
          "/ProductionOrders/OData.CSC.Order": _ORDER, "/ProductionOrder/OData.CSC.Order": _ORDER}


@pytest.mark.parametrize("service", ["PRIP", "ODIP"])
def test_openapi_lists_exactly_the_operations_the_service_has(odip, converter, service):
    root = ROOTS[service]
    xml = odip.app.get(f"{root}/$metadata").body
    openapi, messages = converter(xml, root)
    # Edm.Geography (the footprint, Intersects' parameters) has no OpenAPI schema in the converter.
    assert set(messages) <= {"Unknown type: Edm.Geography"}, messages
    found = operations(openapi)
    assert found == EXPECTED[service], (found - EXPECTED[service], EXPECTED[service] - found)
    assert not any(method in ("PATCH", "PUT", "DELETE") for method, _ in found)
    assert "/$batch" not in openapi["paths"]
    # The CSDL JSON representation converts to the same operations.
    from_json, _ = converter(odip.app.get(f"{root}/$metadata", {"$format": "json"}).body, root)
    assert operations(from_json) == found
    # A created entity's body schema leaves out what the service sets (Core.Computed): exactly
    # what the service reads from such a body, and Id (ODIP takes a client's own order id; PRIP
    # ignores it in a subscription, like every key a client echoes)
    created_set, readable = (("/ProductionOrders", INPUT_PROPERTIES) if service == "ODIP"
                             else ("/Subscriptions", SUBSCRIPTION_INPUT_PROPERTIES))
    schema_ref = openapi["paths"][created_set]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    create_schema = openapi["components"]["schemas"][schema_ref.split("/")[-1]]
    assert set(create_schema["properties"]) == {"Id", *readable}
    # and the bounds the validation keeps (Validation.Minimum/Maximum)
    low, high = PRIORITY_BOUNDS
    assert {k: create_schema["properties"]["Priority"].get(k) for k in ("minimum", "maximum")} == {
        "minimum": low, "maximum": high}
    # Order creation takes the action's parameters as its body.
    if service == "ODIP":
        body = openapi["paths"]["/ProductionOrder/OData.CSC.Order"]["post"]["requestBody"]
        schema = body["content"]["application/json"]["schema"]
        assert {"InputProductReference", "WorkflowId", "WorkflowName", "WorkflowOptions", "Priority",
                "NotificationEndpoint"} <= set(schema["properties"])
        assert (schema["properties"]["Priority"]["minimum"], schema["properties"]["Priority"]["maximum"]) == PRIORITY_BOUNDS


#: The navigations a GET of these paths expands too, so that their schemas are tried as well.
EXPANDS = {"/Products": "Attributes,Assets", "/Products({Id})": "Attributes,Assets",
           "/ProductionOrders": "Product", "/ProductionOrders({Id})": "Product", "/ProductionOrder({Id})": "Product"}
#: The JSON format parameters each GET is also tried with (the schema allows an Int64 as a string).
FORMATS = ("application/json", "application/json;odata.metadata=full;IEEE754Compatible=true")


def _schema_problems(openapi, method: str, path: str, status: int, response) -> list:
    """What of ``response``'s JSON does not fit the schema OpenAPI gives this operation's answer
    (OpenAPI 3.1: JSON Schema 2020-12, its references into the document's components)."""
    responses = openapi["paths"][path][method.lower()]["responses"]
    # (the Order action answers 201 Created, as the ICD asks of a creation; OpenAPI describes an
    # action's answer as 200: the same schema)
    content = (responses.get(str(status)) or responses["200"]).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:  # $value: a stream
        return []
    validator = Draft202012Validator({**schema, "components": openapi["components"]},
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{method} {path}: {'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
            for error in validator.iter_errors(json_of(response))]


def _without_unknown_types(node):
    """The schemas without those of Edm.Geography properties, which the converter does not know
    (its only message; it writes them as ``"type": [null, "null"]``)."""
    if isinstance(node, dict):
        return {k: _without_unknown_types(v) for k, v in node.items()
                if not (isinstance(v, dict) and v.get("type") == [None, "null"])}
    if isinstance(node, list):
        return [_without_unknown_types(v) for v in node]
    return node


@pytest.mark.parametrize("service", ["PRIP", "ODIP"])
def test_every_openapi_operation_answers_through_the_application(odip, converter, service):
    """Each operation answers as OpenAPI says: its status, and a JSON body that fits the response
    schema the converter derives from $metadata (what a client generated from it expects), in
    both the default and the full metadata format, navigations expanded."""
    assert {"date-time", "uuid"} <= set(Draft202012Validator.FORMAT_CHECKER.checkers)  # (rfc3339-validator)
    root = ROOTS[service]
    openapi, _ = converter(odip.app.get(f"{root}/$metadata").body, root, "3.1.0")
    openapi = _without_unknown_types(openapi)
    created = odip.app.post_json(f"{PRIP}/Subscriptions", BODIES["/Subscriptions"], headers=auth("ursula"))
    ids = {"Products": str(odip.products["l1c"].id), "Subscriptions": json_of(created)["Id"],
           "Workflows": L2A_ID, "ProductionOrders": odip.order_id("u_completed"),
           "ProductionOrder": odip.order_id("u_completed")}
    problems, fitted = [], 0
    # Pause and Resume before Cancel: a cancelled subscription cannot be paused (409).
    for method, path in sorted(operations(openapi), key=lambda op: (op[1].endswith("Cancel"), op)):
        url = root + path.replace("{Id}", ids[path[1:].split("(")[0].split("/")[0]])
        if method == "POST":
            response = odip.app.post_json(url, BODIES.get(path, {}), headers=auth(USERS[service]), expect_errors=True)
            expected = 201 if path in BODIES else 200
            answers = [response]
        else:
            params = {"$expand": EXPANDS[path]} if path in EXPANDS else {}
            answers = [odip.app.get(url, params, headers={**auth(USERS[service]), "Accept": accept}, expect_errors=True)
                       for accept in FORMATS]
            expected = 200
        for response in answers:
            if response.status_int != expected:
                problems.append(f"{method} {url}: {response.status_int} {response.body[:200]!r}")
                continue
            schema_problems = _schema_problems(openapi, method, path, expected, response)
            problems += schema_problems
            fitted += not schema_problems and response.content_type == "application/json"
    assert not problems, "\n".join(problems)
    # every JSON answer was checked: each GET in both formats, each POST
    assert fitted == {"PRIP": 16, "ODIP": 20}[service]


@pytest.mark.parametrize("service", ["PRIP", "ODIP"])
def test_oasis_xml2json_of_the_xml_is_the_served_csdl_json(odip, converter, service):
    """The two representations the service serves are one document: the OASIS TC's own XML to
    JSON conversion of the XML equals the JSON, except the one point where that tool and the
    TC's JSON schema disagree (``$SRID``: a number there, a string in csdl.schema.json)."""
    root = ROOTS[service]
    converted = xml2json(NODE_DIR, odip.app.get(f"{root}/$metadata").body)
    served = json_of(odip.app.get(f"{root}/$metadata", {"$format": "json"}))

    def srid_as_string(node):
        if isinstance(node, dict):
            return {k: (str(v) if k == "$SRID" else srid_as_string(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [srid_as_string(v) for v in node]
        return node

    assert srid_as_string(converted) == served


def test_an_unreachable_registry_fails_with_a_clear_message(tmp_path):
    """What a run without registry access reports (bounded: no retries, 2 s fetch timeout)."""
    env = dict(os.environ, npm_config_registry="http://127.0.0.1:9/", npm_config_cache=str(tmp_path / "cache"),
               npm_config_fetch_retries="0", npm_config_fetch_timeout="2000", npm_config_offline="false")
    for _attempt in range(2):  # a failed install is not taken for a finished one the next time
        with pytest.raises(NodePackageUnavailable, match="could not install odata-openapi 0.29.0 from the npm registry"):
            install_converter(tmp_path / "node", env=env)
        assert not (tmp_path / "node" / ".installed-from").exists()
