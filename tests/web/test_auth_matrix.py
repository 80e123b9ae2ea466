"""Authentication and authorisation (contract section 8): every PRIP route x every kind of caller.

The matrix is a table: (route, caller) -> expected status. "other" is a valid user of another
mission (the product does not exist for them: 404; collections are empty of DEMO products);
"wrong_mission" logs in to a mission where the user does not exist (401).
"""
from __future__ import annotations

import time

import jwt
import pytest

from prip_helpers import PRIP, TOKEN_SECRET, basic, served_app

CALLERS = {
    "none": {},
    "wrong_password": basic("DEMO\\alice", "not-the-password"),
    "unknown_user": basic("DEMO\\mallory", "whatever"),
    "wrong_mission": basic("OTHER\\alice", "alice-secret"),
    "missing_role": basic("bob"),
    "other_mission": basic("olga"),
    "valid": basic("alice"),
    "valid_dash": basic("DEMO-alice", "alice-secret"),
    "valid_plain": basic("alice", "alice-secret"),
}

# route template -> expected status per caller (None: the route does not need credentials)
ROUTES = {
    "/Products": {"other_mission": 200},
    "/Products/$count": {"other_mission": 200},
    "/Products({p1})": {"other_mission": 404},
    "/Products('{p1}')": {"other_mission": 404},
    "/Products({p1})/Attributes": {"other_mission": 404},
    "/Products({p1})/Assets": {"other_mission": 404},
    "/Products({p1})/$value": {"other_mission": 404},
}

BASE = {
    "none": 401,
    "wrong_password": 401,
    "unknown_user": 401,
    "wrong_mission": 401,
    "missing_role": 403,
    "valid": 200,
    "valid_dash": 200,
    "valid_plain": 200,
}

MATRIX = [
    (route, caller, {**BASE, **overrides}[caller])
    for route, overrides in ROUTES.items()
    for caller in CALLERS
]


def _url(catalogue, route):
    return PRIP + route.format(p1=catalogue.id("p1"))


@pytest.mark.shared_app
@pytest.mark.parametrize("route,caller,status", MATRIX, ids=[f"{r}-{c}" for r, c, _ in MATRIX])
def test_auth_matrix(app, catalogue, route, caller, status):
    # Each case a client of its own address: the failed logins of the others, on the module's
    # shared application, are not counted against it (the login throttle counts by address).
    address = f"192.0.2.{MATRIX.index((route, caller, status)) + 1}"
    response = app.get(_url(catalogue, route), headers=CALLERS[caller], expect_errors=True,
                       extra_environ={"REMOTE_ADDR": address})
    assert response.status_int == status, response.text
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="')
        assert response.json["error"]["code"] == "E7703"
    if status == 403:
        assert response.json["error"]["code"] == "E7704"
    if status == 404:
        assert response.json["error"]["code"] == "E7706"
    if status >= 400:
        assert response.headers["Warning"].startswith("199 proseo-api-prip (E")


@pytest.mark.shared_app
def test_other_mission_sees_only_its_own_products(app, catalogue):
    own = app.get(PRIP + "/Products", headers=basic("olga")).json["value"]
    assert [p["Id"] for p in own] == [str(p.id) for p in catalogue.other_mission.values()]
    assert app.get(PRIP + "/Products/$count", headers=basic("olga")).text == "1"


@pytest.mark.shared_app
@pytest.mark.parametrize(
    "login,visible",
    [
        ("alice", {"p1", "p2", "p3", "p4", "p5"}),
        ("dave", {"p1", "p2", "p3", "p4", "p5", "restricted"}),
        ("carol", {"p1", "p2", "p3", "p4", "p5", "restricted", "internal"}),
    ],
)
def test_visibility_classes(app, catalogue, login, visible):
    """PUBLIC for all; RESTRICTED with PRODUCT_READER_RESTRICTED or _ALL; INTERNAL with _ALL."""
    url, ids = PRIP + "/Products?$count=true", set()
    while url:
        body = app.get(url, headers=basic(login)).json
        assert body["@odata.count"] == len(visible)
        ids |= {p["Id"] for p in body["value"]}
        url = body.get("@odata.nextLink")
    assert ids == {catalogue.id(label) for label in visible}
    for label in ("restricted", "internal"):
        response = app.get(PRIP + f"/Products({catalogue.id(label)})", headers=basic(login), expect_errors=True)
        assert response.status_int == (200 if label in visible else 404)


@pytest.mark.shared_app
@pytest.mark.parametrize("path", ["/", "/$metadata"])
def test_metadata_is_public_by_default(app, path):
    assert app.get(PRIP + path).status_int == 200


@pytest.mark.parametrize("path", ["/", "/$metadata"])
def test_metadata_can_require_credentials(app_settings, catalogue, path):
    with served_app({**app_settings, "proseo.anonymous_metadata": "false"}) as app:
        assert app.get(PRIP + path, expect_errors=True).status_int == 401
        assert app.get(PRIP + path, headers=basic("bob")).status_int == 200
        assert app.get(PRIP + path, headers=basic("DEMO\\bob", "nope"), expect_errors=True).status_int == 401


def test_malformed_authorization_headers(app):
    for header in ("Basic !!!notbase64", "Basic " + "bm9jb2xvbg==", "Digest abc", "Bearer"):
        response = app.get(PRIP + "/Products", headers={"Authorization": header}, expect_errors=True)
        assert response.status_int == 401, header
        assert "WWW-Authenticate" in response.headers


@pytest.mark.parametrize("header, named", [("Digest abc", "'digest'"), ("S3cretPassw0rd", None),
                                           ("eyJhbGciOiJIUzI1NiJ9.e30.sig", None), ("Pa55word more", None)])
def test_a_credential_sent_without_its_scheme_is_not_repeated(app, header, named):
    """A bare token or password as the Authorization header was answered, lower-cased, in the
    401's body and Warning header (which proxies log)."""
    response = app.get(PRIP + "/Products", headers={"Authorization": header}, expect_errors=True)
    assert response.status_int == 401
    shown = response.text + response.headers["Warning"]
    assert "Basic or Bearer" in response.json["error"]["message"]
    if named:
        assert named in shown
    else:
        assert header.split()[0].lower() not in shown.lower()


@pytest.mark.parametrize("grant, named", [("authorization_code", True), ("S3cretPassw0rd", False)])
def test_an_unsupported_grant_type_is_named_only_when_it_is_one(app, grant, named):
    response = app.post("/proseo/prip/v1/token", {"grant_type": grant, "username": "DEMO\\alice", "password": "x"},
                        expect_errors=True)
    assert response.status_int == 400
    assert (grant in response.text + response.headers["Warning"]) is named


# -- bearer tokens ------------------------------------------------------------------------------

TOKEN_PATHS = ["/proseo/prip/v1/token", "/proseo/odip/v1/token"]


def _token(app, path="/proseo/prip/v1/token", **form):
    form = form or {"grant_type": "password", "username": "DEMO\\alice", "password": "alice-secret"}
    return app.post(path, form, expect_errors=True)


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_password_grant_issues_a_working_token(app, catalogue, path):
    response = _token(app, path)
    assert response.status_int == 200
    body = response.json
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 600
    products = app.get(PRIP + "/Products", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert len(products.json["value"]) == 3


def test_client_credentials_grant(app):
    response = _token(app, grant_type="client_credentials", client_id="DEMO\\carol", client_secret="carol-secret")
    assert response.status_int == 200
    claims = jwt.decode(response.json["access_token"], TOKEN_SECRET, algorithms=["HS256"])
    assert (claims["mission"], claims["sub"]) == ("DEMO", "carol")


def test_token_survives_a_restart(app, app_settings, catalogue):
    token = _token(app).json["access_token"]
    with served_app(app_settings) as restarted:  # a new process: new registry, new storage, same secret
        response = restarted.get(PRIP + f"/Products({catalogue.id('p1')})", headers={"Authorization": f"Bearer {token}"})
        assert response.json["Id"] == catalogue.id("p1")


def test_token_of_another_secret_is_rejected(app_settings, catalogue):
    with served_app({**app_settings, "proseo.token.secret": "another-secret-another-secret-1234"}) as other:
        token = _token(other).json["access_token"]
    with served_app(app_settings) as app:
        response = app.get(PRIP + "/Products", headers={"Authorization": f"Bearer {token}"}, expect_errors=True)
        assert response.status_int == 401
        assert response.json["error"]["message"] == "Invalid bearer token"


@pytest.mark.parametrize(
    "claims,message",
    [
        ({"iss": "proseo-odata", "sub": "alice", "mission": "DEMO", "iat": 1, "exp": 2, "pwd": "x"},
         "The bearer token has expired"),
        # no password mark (a token of a release before it): refused
        ({"iss": "proseo-odata", "sub": "alice", "mission": "DEMO", "iat": 1, "exp": 2**40}, "Invalid bearer token"),
        ({"iss": "proseo-odata", "sub": "alice", "mission": "DEMO", "iat": 1, "exp": 2**40, "pwd": "x"},
         "The bearer token was issued before its user's password or account changed"),
        ({"iss": "proseo-odata", "sub": "alice", "mission": "DEMO", "iat": 1}, "Invalid bearer token"),
        ({"iss": "somebody", "sub": "alice", "mission": "DEMO", "iat": 1, "exp": 2**40}, "Invalid bearer token"),
        ({"iss": "proseo-odata", "sub": "ghost", "mission": "DEMO", "iat": 1, "exp": 2**40, "pwd": "x"},
         "The bearer token's user no longer exists"),
    ],
)
def test_bad_tokens_are_rejected(app, claims, message):
    token = jwt.encode(claims, TOKEN_SECRET, algorithm="HS256")
    response = app.get(PRIP + "/Products", headers={"Authorization": f"Bearer {token}"}, expect_errors=True)
    assert response.status_int == 401
    assert response.json["error"]["message"] == message
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_unsigned_token_is_rejected(app):
    token = jwt.encode({"iss": "proseo-odata", "sub": "carol", "mission": "DEMO", "iat": int(time.time()),
                        "exp": int(time.time()) + 60}, None, algorithm="none")
    response = app.get(PRIP + "/Products", headers={"Authorization": f"Bearer {token}"}, expect_errors=True)
    assert response.status_int == 401


def test_token_of_a_user_without_role_gets_403(app):
    token = _token(app, grant_type="password", username="DEMO\\bob", password="bob-secret").json["access_token"]
    response = app.get(PRIP + "/Products", headers={"Authorization": f"Bearer {token}"}, expect_errors=True)
    assert response.status_int == 403


@pytest.mark.parametrize(
    "form,status,code",
    [
        ({"grant_type": "password", "username": "DEMO\\alice", "password": "wrong"}, 401, "E7703"),
        ({"grant_type": "password", "username": "DEMO\\alice"}, 400, "E7710"),
        ({"grant_type": "authorization_code", "code": "x"}, 400, "E7710"),
        ({}, 400, "E7710"),
    ],
)
def test_token_request_errors(app, form, status, code):
    response = app.post("/proseo/prip/v1/token", form, expect_errors=True)
    assert response.status_int == status
    assert response.json["error"]["code"] == code
    assert response.headers["Warning"].startswith(f"199 proseo-api-prip ({code}) ")


def test_token_errors_under_odip_name_odip(app):
    response = app.post("/proseo/odip/v1/token", {"grant_type": "password", "username": "x", "password": "y"},
                        expect_errors=True)
    assert response.status_int == 401
    assert response.headers["Warning"].startswith("199 proseo-api-odip (E7203) ")


def test_token_endpoint_only_accepts_post(app):
    response = app.get("/proseo/prip/v1/token", expect_errors=True)
    assert response.status_int == 405
    assert response.headers["Allow"] == "POST"


_FORM = b"grant_type=password&username=DEMO%5Calice&password=alice-secret"
_FILE_PART = (b'--zz\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npassword\r\n'
              b'--zz\r\nContent-Disposition: form-data; name="username"; filename="u.txt"\r\n'
              b'Content-Type: text/plain\r\n\r\nDEMO\\alice\r\n'
              b'--zz\r\nContent-Disposition: form-data; name="password"\r\n\r\nalice-secret\r\n--zz--\r\n')


@pytest.mark.parametrize(
    "content_type,body,target",
    [
        # WebOb raises DeprecationWarning (an exception) for a form in another charset: was a 500
        ("application/x-www-form-urlencoded; charset=utf-16", _FORM, "body"),
        ("application/x-www-form-urlencoded; charset=latin-1", _FORM, "body"),
        # ... and ValueError for a multipart body without a boundary: was a 500
        ("multipart/form-data", _FORM, "body"),
        # a file part where a text field is expected: was a TypeError (500)
        ("multipart/form-data; boundary=zz", _FILE_PART, "username"),
    ],
)
def test_unreadable_token_forms_are_400(app, content_type, body, target):
    response = app.post("/proseo/prip/v1/token", body, headers={"Content-Type": content_type}, expect_errors=True)
    assert response.status_int == 400, response.text
    assert response.json["error"]["code"] == "E7710"
    assert response.json["error"]["target"] == target
    assert response.headers["Warning"].startswith("199 proseo-api-prip (E7710) ")


def test_multipart_token_form_with_a_boundary_works(app):
    body = (b'--zz\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npassword\r\n'
            b'--zz\r\nContent-Disposition: form-data; name="username"\r\n\r\nDEMO\\alice\r\n'
            b'--zz\r\nContent-Disposition: form-data; name="password"\r\n\r\nalice-secret\r\n--zz--\r\n')
    response = app.post("/proseo/prip/v1/token", body, headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert response.json["token_type"] == "bearer"
