"""Through HTTP: what the per-process user and workflow caches (issue 12 item 6,
:mod:`proseo_odata.storage.readcache`) must never do. A change made by the server process itself
(its own storage) takes effect at the next request; a change by another process (the command
line: here another storage object on the same database) within ``proseo.storage.*_cache.ttl``
seconds, and the cache never lets a wrong password in."""
from __future__ import annotations

import pytest

from proseo_odata.model import Role, User, hash_password
from proseo_odata.storage.readcache import ReadCache

from odip_helpers import ODIP, auth, order_body
from fake_clock import Clock
from prip_helpers import PRIP, basic


@pytest.fixture
def clock(app):
    """The application's caches on a clock the test moves (TTL 5 s)."""
    clock = Clock()
    served = app.app.registry.storage
    served.user_cache = ReadCache(ttl=5, clock=clock)
    served.workflow_cache = ReadCache(ttl=5, clock=clock)
    return clock


def _status(app, headers, path="/Products"):
    return app.get(PRIP + path, headers=headers, expect_errors=True).status_int


def _bearer(app, login="DEMO\\alice", password="alice-secret"):
    token = app.post("/proseo/prip/v1/token", {"grant_type": "password", "username": login, "password": password})
    return {"Authorization": f"Bearer {token.json['access_token']}"}


def test_changes_by_the_server_process_itself_apply_at_once(app, catalogue, clock):
    served = app.app.registry.storage
    token = _bearer(app)
    assert _status(app, basic("alice")) == _status(app, token) == 200
    new_hash = hash_password("new-secret")
    served.update_user(User("DEMO", "alice", new_hash, {Role.PRIP_USER}))
    assert _status(app, basic("alice")) == 401
    assert _status(app, token) == 401  # issued for the old password
    assert _status(app, basic("DEMO\\alice", "new-secret")) == 200
    token = _bearer(app, password="new-secret")
    served.update_user(User("DEMO", "alice", new_hash, set()))  # the role taken away
    assert _status(app, token) == 403
    served.delete_user("DEMO", "alice")
    assert _status(app, basic("DEMO\\alice", "new-secret")) == _status(app, token) == 401


def test_another_process_changes_apply_within_the_ttl(app, catalogue, storage, clock):
    token = _bearer(app)
    assert _status(app, basic("alice")) == _status(app, token) == 200
    storage.update_user(User("DEMO", "alice", hash_password("new-secret"), {Role.PRIP_USER}))
    clock.now += 4
    assert _status(app, basic("alice")) == 200  # the cached user: its old password, for at most the TTL
    assert _status(app, token) == 200
    assert _status(app, basic("DEMO\\alice", "new-secret")) == 401
    clock.now += 1.01
    assert _status(app, basic("alice")) == _status(app, token) == 401
    assert _status(app, basic("DEMO\\alice", "new-secret")) == 200
    token = _bearer(app, password="new-secret")
    storage.delete_user("DEMO", "alice")
    assert _status(app, token) == 200  # cached moments ago
    clock.now += 5.01
    assert _status(app, token) == _status(app, basic("DEMO\\alice", "new-secret")) == 401


def test_the_cache_never_accepts_a_wrong_password(app, catalogue, clock):
    assert _status(app, basic("alice")) == 200  # alice is cached now
    assert _status(app, basic("DEMO\\alice", "alice-secret-not")) == 401
    assert _status(app, basic("DEMO\\alice", "")) == 401


@pytest.fixture
def odip_clock(odip):
    clock = Clock()
    served = odip.app.app.registry.storage
    served.user_cache = ReadCache(ttl=5, clock=clock)
    served.workflow_cache = ReadCache(ttl=5, clock=clock)
    return clock


def _submit(odip, name="S2_L1C_L2A"):
    return odip.app.post_json(ODIP + "/ProductionOrders", order_body(WorkflowName=name), headers=auth("ursula"),
                              expect_errors=True)


def test_a_disabled_workflow_refuses_orders_at_once_or_within_the_ttl(odip, odip_clock):
    assert _submit(odip).status_int == 201
    # another process (the CLI's `workflows sync`, an operator) disables it: seen within the TTL
    workflow = odip.storage.get_workflow_by_name("DEMO", "S2_L1C_L2A")
    workflow.enabled = False
    odip.storage.update_workflow(workflow)
    odip_clock.now += 4
    assert _submit(odip).status_int == 201
    odip_clock.now += 1.01
    refused = _submit(odip)
    assert refused.status_int == 400 and "S2_L1C_L2A" in refused.text
    # the server process itself enables it again: at once
    served = odip.app.app.registry.storage
    workflow = served.get_workflow_by_name("DEMO", "S2_L1C_L2A")
    workflow.enabled = True
    served.update_workflow(workflow)
    assert _submit(odip).status_int == 201


# -- bearer tokens: checked once, remembered until they expire (proseo.token.cache_size) ----------


def _decodes(monkeypatch):
    """Count PyJWT's decodes of the application (every full check of a token)."""
    import jwt

    from proseo_odata_web import auth as web_auth

    calls = []
    real = jwt.decode
    monkeypatch.setattr(web_auth.jwt, "decode", lambda *a, **k: (calls.append(a[0]), real(*a, **k))[1])
    return calls


def _signed(claims: dict, secret: str = None, user: User = None) -> dict:
    """A token of ``claims``, and of ``user``'s password when given."""
    import jwt

    from prip_helpers import TOKEN_SECRET
    from proseo_odata_web.auth import TOKEN_ALGORITHM, TOKEN_ISSUER, _password_mark

    mark = {"pwd": _password_mark(user)} if user is not None else {}
    token = jwt.encode({"iss": TOKEN_ISSUER, **mark, **claims}, secret or TOKEN_SECRET, algorithm=TOKEN_ALGORITHM)
    return {"Authorization": f"Bearer {token}"}


def test_a_token_is_checked_once_and_its_user_on_every_request(app, catalogue, monkeypatch):
    served = app.app.registry.storage
    token = _bearer(app)
    calls = _decodes(monkeypatch)
    assert [_status(app, token) for _ in range(3)] == [200, 200, 200]
    assert len(calls) == 1
    # a role taken away, then the user deleted (by the server process): at the next request,
    # although the token's claims are remembered
    served.update_user(User("DEMO", "alice", served.get_user("DEMO", "alice").password_hash, set()))
    assert _status(app, token) == 403
    served.delete_user("DEMO", "alice")
    assert _status(app, token) == 401 and len(calls) == 1


def test_a_remembered_token_is_refused_once_it_expires(app, catalogue, monkeypatch):
    import time

    now = int(time.time())
    token = _signed({"sub": "alice", "mission": "DEMO", "iat": now, "exp": now + 2},
                    user=app.app.registry.storage.get_user("DEMO", "alice"))
    calls = _decodes(monkeypatch)
    assert _status(app, token) == _status(app, token) == 200 and len(calls) == 1
    time.sleep(max(0.0, now + 2 - time.time()) + 0.05)
    refused = app.get(PRIP + "/Products", headers=token, expect_errors=True)
    assert refused.status_int == 401 and "expired" in refused.text and len(calls) == 2


def test_only_tokens_that_passed_every_check_are_remembered(app, catalogue, monkeypatch):
    import time

    now = int(time.time())
    forged = _signed({"sub": "alice", "mission": "DEMO", "iat": now, "exp": now + 60}, secret="another-secret-0123456789abcdef0123456789")
    calls = _decodes(monkeypatch)
    assert [_status(app, forged) for _ in range(2)] == [401, 401] and len(calls) == 2
    assert len(app.app.registry.proseo_tokens) == 0


def test_the_token_memo_is_bounded_and_keeps_entries_until_their_expiry_only():
    from proseo_odata_web.auth import TokenClaims

    now = [1000.0]
    memo = TokenClaims(size=2, clock=lambda: now[0])
    memo.put("a", {"sub": "a"}, 1010)
    memo.put("b", {"sub": "b"}, 1020)
    assert memo.get("a") == {"sub": "a"}  # now the most recently used
    memo.put("c", {"sub": "c"}, 1030)
    assert len(memo) == 2 and memo.get("b") is None and memo.get("a") and memo.get("c")
    now[0] = 1010.0  # a's exp: no longer
    assert memo.get("a") is None and memo.get("c") and len(memo) == 1
    off = TokenClaims(size=0)
    off.put("a", {"sub": "a"}, now[0] + 60)
    assert off.get("a") is None and len(off) == 0


def test_cache_size_zero_checks_every_request(app_settings, catalogue, monkeypatch):
    from prip_helpers import served_app

    with served_app({**app_settings, "proseo.token.cache_size": "0"}) as app:
        token = _bearer(app)
        calls = _decodes(monkeypatch)
        assert [_status(app, token) for _ in range(2)] == [200, 200] and len(calls) == 2


@pytest.mark.parametrize("value", ["-1", "many"])
def test_a_bad_token_cache_size_is_refused_at_start_up(value):
    from proseo_odata_web.settings import SettingsError, WebSettings

    with pytest.raises(SettingsError, match="proseo.token.cache_size"):
        WebSettings.from_settings({"proseo.token.cache_size": value})
    assert WebSettings.from_settings({}).token_cache_size == 1024
