"""Error responses (contract section 9): OData error body + Warning header on every error,
404 for unknown paths, 405 for unsupported methods, 503 when the database is unreachable,
500 (body only, logged) for real bugs, never a 500 for client input."""
from __future__ import annotations

import base64
import json
import logging
import re
import socket
from urllib.parse import quote

import pytest
import webtest
from pyramid.config import Configurator

from prip_helpers import PRIP, basic, served_app

ODIP = "/proseo/odip/odata/v1"

WARNING = re.compile(r"^\d{3} proseo-api-(prip|odip) \([EW]\d+\) .+$")


def assert_error(response, status, code=None, service="prip"):
    assert response.status_int == status, response.text
    assert response.content_type == "application/json"
    error = response.json["error"]
    assert set(error) <= {"code", "message", "target", "details"}
    assert error["message"]
    assert re.fullmatch(r"[EW]\d{4}", error["code"])
    if code:
        assert error["code"] == code
    warning = response.headers["Warning"]
    assert WARNING.match(warning), warning
    assert warning.startswith(f"199 proseo-api-{service} ({error['code']}) ")
    return error


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "path,service",
    [
        (PRIP + "/Nothing", "prip"),
        (PRIP + "/Products(a0000000-0000-0000-0000-000000000001)/Nothing", "prip"),
        (PRIP + "/Products/$count/more", "prip"),
        ("/", "prip"),
        ("/proseo/odip/odata/v1/NoSuchSet", "odip"),
    ],
)
def test_unknown_path_is_404(app, path, service):
    response = app.get(path, headers=basic("alice"), expect_errors=True)
    error = assert_error(response, 404, service=service)
    assert error["code"] in ("E7701", "E7201")


@pytest.mark.shared_app
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "path", ["/", "/$metadata", "/Products", "/Products/$count", "/Products({p1})", "/Products({p1})/Attributes"]
)
def test_unsupported_method_is_405(app, catalogue, method, path):
    url = PRIP + path.format(p1=catalogue.id("p1"))
    count = app.get(PRIP + "/Products/$count", headers=basic("alice")).text
    response = app.request(url, method=method, headers=basic("alice"), expect_errors=True)
    assert_error(response, 405, "E7702")
    assert "GET" in response.headers["Allow"]
    # nothing changed (the module's other tests share the catalogue)
    assert app.get(PRIP + "/Products/$count", headers=basic("alice")).text == count
    app.get(PRIP + f"/Products({catalogue.id('p1')})", headers=basic("alice"), status=200)


@pytest.mark.shared_app
def test_product_not_found(app):
    missing = "0f0f0f0f-0000-4000-8000-000000000000"
    response = app.get(PRIP + f"/Products({missing})", headers=basic("alice"), expect_errors=True)
    error = assert_error(response, 404, "E7706")
    assert error["message"] == f"No product found with UUID {missing}"


@pytest.mark.shared_app
@pytest.mark.parametrize("key", ["42", "'abc'", "a0000000-0000-0000-0000-00000000000", "Name='x'"])
def test_malformed_key_is_400(app, key):
    response = app.get(PRIP + f"/Products({key})", headers=basic("alice"), expect_errors=True)
    error = assert_error(response, 400, "E7721")
    assert error["target"] == "Id"


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "query,target",
    [
        ("$format=xml", "$format"),
        ("$format=application/atom%2Bxml", "$format"),
        ("$top=-1", "$top"),
        ("$top=abc", "$top"),
        ("$skip=-5", "$skip"),
        ("$count=maybe", "$count"),
        ("$expand=Nothing", "$expand"),
        ("$select=NoSuchProperty", "$select"),
        ("$orderby=NoSuchProperty", "$orderby"),
        ("$filter=NoSuchProperty eq 1", "$filter"),
        ("$filter=Name add 1 eq 2", "$filter"),
        ("$filter=ContentLength eq 'abc'", "$filter"),
        ("$skiptoken=garbage", "$skiptoken"),
        # a coordinate that does not fit a float (was an OverflowError: 500)
        ("$filter=OData.CSC.Intersects(area=geography'SRID=4326;POINT(1e400 0)')", "$filter"),
        ("$filter=OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0,nan 0,1 1,0 0))')", "$filter"),
        # an alias that refers to itself (was a RecursionError: 500)
        ("$filter=Name eq @p&@p=@p", "$filter"),
        ("$filter=Name eq @p&@p=@q&@q=@p", "$filter"),
        # aliases of aliases: each doubling the tree (2**40 nodes; held a worker for hours), and
        # a chain deeper than Python's stack (a RecursionError)
        ("$filter=@a0&" + "&".join(f"@a{i}=@a{i + 1} or @a{i + 1}" for i in range(40)) + "&@a40=Name eq 'x'", "$filter"),
        ("$filter=Name eq @a0&" + "&".join(f"@a{i}=@a{i + 1}" for i in range(3000)) + "&@a3000='x'", "$filter"),
        # a quoted duration beyond timedelta's range (an OverflowError), an enumeration member in
        # arithmetic (an AttributeError)
        ("$filter=PublicationDate add 'P99999999999D' gt 2020-01-01T00:00:00Z", "$filter"),
        ("$filter=PublicationDate add 'P" + "9" * 5000 + "D' gt 2020-01-01T00:00:00Z", "$filter"),
        ("$filter=ContentLength add OData.CSC.ProductionType'systematic_production' eq 1", "$filter"),
        # substrings whose start is a substring's length: the SQL tripled at each level (12 MB of
        # SQL for 287 characters), and nested calls deeper than SQLAlchemy's compiler recursion
        ("$filter=" + "substring(Name,length(" * 12 + "Name" + "))" * 12 + " eq 'x'", "$filter"),
        ("$filter=" + "substring(" * 98 + "Name" + ",0)" * 98 + " eq 'x'", "$filter"),
    ],
)
def test_bad_query_options_are_400(app, query, target):
    """(Each answered within the test's time: an answer that took minutes was a worker held.)"""
    response = app.get(PRIP + "/Products?" + query, headers=basic("alice"), expect_errors=True)
    error = assert_error(response, 400)
    assert error.get("target") == target, error


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "document",
    [
        '{"s": [], "k": [], "n": 1e999}',  # OverflowError: int(inf)
        '{"s": [], "k": [], "n": NaN}',
        '{"s": [], "k": [{"u": 1}], "n": 0}',  # AttributeError: uuid.UUID(1)
        '{"s": [], "k": [{"t": 1}], "n": 0}',
        "[" * 5000 + "]" * 5000,  # RecursionError in the JSON decoder
    ],
)
def test_forged_skiptoken_is_400(app, document):
    response = app.get(PRIP + "/Products?$skiptoken=" + _token(document), headers=basic("alice"),
                       expect_errors=True)
    error = assert_error(response, 400)
    assert error.get("target") == "$skiptoken", error


@pytest.mark.shared_app
def test_syntax_error_names_position_and_expected(app):
    response = app.get(PRIP + "/Products?$filter=contains(Name,'a' eq true", headers=basic("alice"),
                       expect_errors=True)
    error = assert_error(response, 400, "E7721")
    assert error["target"] == "$filter"
    assert "column" in error["message"] and "expected" in error["message"].lower()
    assert re.search(r"column \d+", response.headers["Warning"])


@pytest.mark.shared_app
def test_invalid_utf8_in_query_is_400(app):
    response = app.get(PRIP + "/Products?$filter=Name%20eq%20%27%FF%27", headers=basic("alice"), expect_errors=True)
    assert_error(response, 400)


@pytest.mark.shared_app
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE"])
@pytest.mark.parametrize(
    "path,service",
    [
        (PRIP + "/%FF", "prip"),
        (PRIP + "/Products(%C0%AF)", "prip"),
        (PRIP + "/Products(%ED%A0%80)/$value", "prip"),
        (PRIP + "/Products('caf%E9')/$value", "prip"),
        (ODIP + "/Workflows(%E9)", "odip"),
        ("/%FF", "prip"),
    ],
)
def test_a_path_whose_escapes_are_not_utf8_is_400(app, caplog, method, path, service):
    """Pyramid refuses such a path (``URLDecodeError``); the error views must not read
    ``request.path`` again (a 500 from waitress, three tracebacks in the log, without
    credentials). Answered as any bad input: 400, the OData body, Warning, nothing logged as an error."""
    with caplog.at_level(logging.ERROR):
        response = app.request(path, method=method, headers=basic("alice"), expect_errors=True)
    assert response.status_int == 400, response.text
    if method != "HEAD":
        error = assert_error(response, 400, service=service)
        assert "not UTF-8" in error["message"] and "\ufffd" in error["message"], error
    assert response.headers["OData-Version"] == "4.0"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "query,shown",
    [
        ("$filter=ProductionType eq OData.CSC.ProductionType'x%02y'", "'x?y' is not a value"),
        ("$filter=ProductionType eq OData.CSC.ProductionType'x%00y'", "a NUL character or a lone surrogate"),
        ("$filter=ProductionType eq 'x%01y%1B[0m%7F'", "'x?y?[0m?' is not a value"),
    ],
)
def test_warning_header_has_no_control_characters(app, query, shown):
    # The message quotes client input: a NUL or ESC made an invalid Warning header (RFC 9110 5.5;
    # WebTest's WSGI lint refused the response). The body keeps the exact message.
    response = app.get(f"{PRIP}/Products?{query}", headers=basic("alice"), expect_errors=True)
    error = assert_error(response, 400, "E7721")
    warning = response.headers["Warning"]
    assert not re.search(r"[\x00-\x1f\x7f]", warning), warning
    assert shown in warning
    if "NUL" not in shown:
        assert re.search(r"[\x00-\x1f\x7f]", error["message"])


# -- 500 for real bugs only ---------------------------------------------------------------------


@pytest.mark.shared_app
def test_the_warning_header_is_ascii_and_says_what_the_body_says(app):
    """A message quoting non-ASCII client input: sent as Latin-1 an 'ä' was a byte that is not
    UTF-8 and a '日' a '?'. Now both are JSON's escapes, so a client can read it back."""
    response = app.get(PRIP + "/Products?$filter=" + quote("Näme日 eq 'x'"), headers=basic("alice"), expect_errors=True)
    message = assert_error(response, 400)["message"]
    assert "Näme日" in message
    warning = response.headers["Warning"]
    assert warning.isascii() and "N\\u00e4me\\u65e5" in warning, warning
    assert json.loads('"' + warning.split(") ", 1)[1].replace('"', '\\"') + '"') == message


@pytest.mark.shared_app
@pytest.mark.parametrize("headers, status", [
    ({"OData-MaxVersion": "4.0"}, 200), ({"OData-MaxVersion": "4.01"}, 200), ({"OData-Version": "4.0"}, 200),
    ({"OData-MaxVersion": "3.0"}, 400), ({"OData-MaxVersion": "garbage"}, 400), ({"OData-Version": "3.0"}, 400),
    ({"Isolation": "snapshot"}, 412), ({"OData-Isolation": "snapshot"}, 412),
])
def test_odata_request_headers_that_cannot_be_honoured_fail_the_request(app, headers, status):
    """OData 4.01 Part 1, 8.2.7, 8.1.5, 8.2.6: they were ignored (a 3.0 client got a 4.0 answer,
    a snapshot request pages read without one)."""
    response = app.get(PRIP + "/Products?$top=1", headers={**basic("alice"), **headers}, expect_errors=True)
    if status == 200:
        assert response.status_int == 200, response.text
    else:
        error = assert_error(response, status)
        assert error["target"] == next(iter(headers))


def test_a_bug_answers_500_with_the_body(app_settings, catalogue, caplog):
    with Configurator(settings=dict(app_settings)) as config:
        config.include("proseo_odata_web")

        def broken(request):
            raise RuntimeError("a bug")

        config.add_route("broken", PRIP + "/broken")
        config.add_view(broken, route_name="broken")
    app = webtest.TestApp(config.make_wsgi_app())
    try:
        response = app.get(PRIP + "/broken", expect_errors=True)
        error = assert_error(response, 500, "E7799")
        assert "a bug" not in error["message"]  # internals are logged, not sent
        assert any("unhandled error" in r.getMessage() for r in caplog.records)
    finally:
        app.app.registry.storage.close()


# -- 503 when the database is unreachable ------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends


def _outage_records(caplog):
    return [r for r in caplog.records if r.name == "proseo_odata_web.errors"]


def test_unreachable_database_answers_503(app_settings, caplog):
    url = f"postgresql+psycopg://postgres:pw-not-logged@127.0.0.1:{_closed_port()}/nowhere?connect_timeout=2"
    caplog.set_level(logging.INFO)
    with served_app({**app_settings, "proseo.storage.url": url}) as app:  # starts anyway, says so once
        for _ in range(3):
            response = app.get(PRIP + "/Products", headers=basic("alice"), expect_errors=True)
            error = assert_error(response, 503, "E7705")
            assert "database" in error["message"].lower()
            assert response.headers["Retry-After"]
        assert_error(app.get(ODIP + "/Workflows", headers=basic("alice"), expect_errors=True), 503, "E7206", "odip")
        # The service document needs no database and still works.
        assert app.get(PRIP + "/").status_int == 200
    # One log line for the whole outage, not a traceback per request; no password in it.
    [record] = _outage_records(caplog)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "unavailable" in record.getMessage() and "pw-not-logged" not in caplog.text
    assert "Traceback" not in caplog.text


def test_outage_log_is_one_line_per_episode(caplog):
    from proseo_odata_web.errors import OutageLog

    caplog.set_level(logging.INFO)
    outage = OutageLog(logging.getLogger("outage-test"))
    assert not outage.recovered()  # no episode: nothing logged
    error = ConnectionError("connection refused\nsecond line with details")
    assert outage.failed(error) and not outage.failed(error) and not outage.failed(error)
    assert outage.in_outage and outage.recovered() and not outage.recovered()
    assert outage.failed(error)  # a new episode
    lines = [r.getMessage() for r in caplog.records if r.name == "outage-test"]
    assert len(lines) == 3, lines
    # storage.errors.describe: class names and codes only, never the driver's (or server's) text.
    assert lines[0].startswith("database unavailable (ConnectionError)")
    assert "connection refused" not in caplog.text and "second line" not in caplog.text
    assert lines[1].startswith("database available again after") and "(3 failure(s) in between)" in lines[1]


def test_an_answer_from_the_caches_does_not_end_an_outage(caplog):
    """A token request answered from the user cache logged "available again after 0.0 s", and the
    next 503 "unavailable" again: two lines per pair of requests. The episode ends once a
    statement ran since its last failure (the storage's ``statements_run``)."""
    from proseo_odata_web.errors import OutageLog

    caplog.set_level(logging.INFO)
    outage = OutageLog(logging.getLogger("outage-cache-test"))
    error = ConnectionError("refused")
    assert outage.failed(error, 41)
    assert not outage.recovered(41) and outage.in_outage  # no statement ran: still away
    assert not outage.failed(error, 41)
    assert outage.recovered(42) and not outage.in_outage
    lines = [r.getMessage() for r in caplog.records if r.name == "outage-cache-test"]
    assert len(lines) == 2, lines


def test_the_storage_counts_the_statements_it_ran(migrated_sqlite_url):
    from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        before = storage.statements_run
        storage.list_missions()
        assert storage.statements_run > before
    finally:
        storage.close()


@pytest.mark.postgresql
def test_database_going_away_answers_503(fresh_pg_url, tmp_path, password_hashes, pg_server_url, caplog):
    """A running app whose PostgreSQL database stops accepting connections answers 503."""
    caplog.set_level(logging.INFO)
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from proseo_odata.storage import load_storage
    from prip_helpers import seed

    settings = {"proseo.storage.url": fresh_pg_url, "proseo.archive.backend": "", "proseo.default_mission": "DEMO",
                "proseo.token.secret": "x" * 32}
    storage = load_storage(settings)
    storage.initialize_schema()
    seed(storage, password_hashes)
    storage.close()
    with served_app(settings) as app:
        name = make_url(fresh_pg_url).database
        admin_url = make_url(pg_server_url).set(drivername="postgresql").render_as_string(hide_password=False)
        assert app.get(PRIP + "/Products", headers=basic("alice")).status_int == 200
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        for _ in range(3):
            response = app.get(PRIP + "/Products", headers=basic("alice"), expect_errors=True)
            assert_error(response, 503, "E7705")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name)))
        assert app.get(PRIP + "/Products", headers=basic("alice")).status_int == 200
        assert app.get(PRIP + "/Products", headers=basic("alice")).status_int == 200
    # The episode: one warning when it began, one line when the database was back.
    records = _outage_records(caplog)
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO], [r.getMessage() for r in records]
    assert all(r.exc_info is None for r in records)
    assert "(3 failure(s) in between)" in records[1].getMessage()
