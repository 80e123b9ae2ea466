"""The order use cases of proseo_odata.orders.service, called as the web layer and the CLI call
them (no HTTP): one validation call with every problem, idempotent submission, idempotent cancel."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "production"))
from enginekit import add_input, make_settings, order_body, set_up  # noqa: E402

from proseo_odata.errors import InvalidOrder  # noqa: E402
from proseo_odata.model import OrderStatus  # noqa: E402
from proseo_odata.orders.idempotency import IdempotencyConflict  # noqa: E402
from proseo_odata.orders.service import cancel, submit  # noqa: E402
from proseo_odata.orders.validation import OrderValidationError  # noqa: E402


@pytest.fixture
def env(sqlite_url, tmp_path):
    storage, archive = set_up(make_settings(sqlite_url, tmp_path))
    add_input(storage, archive)
    yield storage
    storage.close()


def _submit(storage, body, **kwargs):
    with storage.transaction() as tx:
        return submit(tx, body, mission="DEMO", owner="demo", **kwargs)


def _shape_says_priority_is_wrong(body):
    return [InvalidOrder("Priority must be an integer from 1 to 100", target="Priority")] if "Priority" in body else []


def test_shape_and_meaning_problems_come_in_one_error_and_nothing_is_stored(env):
    body = order_body(workflow="NO_SUCH_WORKFLOW", Priority=[1])
    with pytest.raises(OrderValidationError) as caught:
        _submit(env, body, check_shape=_shape_says_priority_is_wrong)
    problems = [(p.target, p.message) for p in caught.value.problems]
    # the shape's message first; the core's own Priority finding is dropped, its others kept
    assert problems[0] == ("Priority", "Priority must be an integer from 1 to 100")
    assert [t for t, _ in problems].count("Priority") == 1
    assert any(t == "WorkflowName" for t, _ in problems)
    assert env.query_orders("DEMO", _all()).count == 0


def test_a_shape_problem_is_refused_before_a_replay_is_looked_up(env):
    order, replayed = _submit(env, order_body(), idempotency_key="k-1")
    assert not replayed
    with pytest.raises(OrderValidationError):
        _submit(env, order_body(Priority=[1]), idempotency_key="k-1", check_shape=_shape_says_priority_is_wrong)


def test_submission_replays_the_same_request_and_refuses_other_content(env):
    first, replayed = _submit(env, order_body(), idempotency_key="k-2")
    again, replayed_again = _submit(env, order_body(), idempotency_key="k-2")
    assert (replayed, replayed_again) == (False, True) and again.id == first.id
    with pytest.raises(IdempotencyConflict):
        _submit(env, order_body(Priority=70), idempotency_key="k-2")
    assert env.query_orders("DEMO", _all()).count == 1


def test_the_estimate_before_history_takes_the_given_run_time(env):
    from datetime import timedelta

    from proseo_odata.model import utcnow

    now = utcnow()
    order, _ = _submit(env, order_body(), now=now, default_run_seconds=900, workers=1)
    assert order.estimated_date == now + timedelta(seconds=900)  # nothing ahead, no history


def test_cancel_is_idempotent(env):
    order, _ = _submit(env, order_body())
    with env.transaction() as tx:
        cancelled = cancel(tx, tx.get_order("DEMO", order.id, for_update=True))
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.completed_date is not None
    with env.transaction() as tx:
        again = cancel(tx, tx.get_order("DEMO", order.id, for_update=True))
    assert again.status is OrderStatus.CANCELLED and again.completed_date == cancelled.completed_date


def _all():
    from proseo_odata.storage import Query

    return Query(count=True)
