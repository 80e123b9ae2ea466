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
from prip_helpers import PRIP, basic


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


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
    served.update_user(User("DEMO", "alice", hash_password("new-secret"), {Role.PRIP_USER}))
    assert _status(app, basic("alice")) == 401
    assert _status(app, basic("DEMO\\alice", "new-secret")) == 200
    served.update_user(User("DEMO", "alice", hash_password("new-secret"), set()))  # the role taken away
    assert _status(app, token) == 403
    served.delete_user("DEMO", "alice")
    assert _status(app, basic("DEMO\\alice", "new-secret")) == _status(app, token) == 401


def test_another_process_changes_apply_within_the_ttl(app, catalogue, storage, clock):
    token = _bearer(app)
    assert _status(app, basic("alice")) == _status(app, token) == 200
    storage.update_user(User("DEMO", "alice", hash_password("new-secret"), {Role.PRIP_USER}))
    clock.now += 4
    assert _status(app, basic("alice")) == 200  # the cached user: its old password, for at most the TTL
    assert _status(app, basic("DEMO\\alice", "new-secret")) == 401
    clock.now += 1.01
    assert _status(app, basic("alice")) == 401
    assert _status(app, basic("DEMO\\alice", "new-secret")) == 200
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
