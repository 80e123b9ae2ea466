"""The order life cycle of contract section 4: every (state, event) cell of the table."""
import pytest

from proseo_odata.model import OrderStatus
from proseo_odata.errors import Conflict
from proseo_odata.model.statemachine import (
    STATUS_MESSAGES,
    IllegalTransition,
    OrderEvent,
    can_transition,
    transition,
)
from proseo_odata_web.errors import answer_of

Q, P, C, F, X = (
    OrderStatus.QUEUED,
    OrderStatus.IN_PROGRESS,
    OrderStatus.COMPLETED,
    OrderStatus.FAILED,
    OrderStatus.CANCELLED,
)
ILLEGAL = None

# Rows: current state; columns: start, complete, fail, cancel, requeue (contract section 4 diagram).
EXPECTED = {
    Q: {"start": P, "complete": ILLEGAL, "fail": F, "cancel": X, "requeue": ILLEGAL},
    P: {"start": ILLEGAL, "complete": C, "fail": F, "cancel": X, "requeue": Q},
    C: {"start": ILLEGAL, "complete": ILLEGAL, "fail": ILLEGAL, "cancel": ILLEGAL, "requeue": ILLEGAL},
    F: {"start": ILLEGAL, "complete": ILLEGAL, "fail": ILLEGAL, "cancel": ILLEGAL, "requeue": ILLEGAL},
    X: {"start": ILLEGAL, "complete": ILLEGAL, "fail": ILLEGAL, "cancel": ILLEGAL, "requeue": ILLEGAL},
}

CELLS = [(state, event, row[event]) for state, row in EXPECTED.items() for event in row]


def test_table_covers_every_cell():
    assert {s for s, _, _ in CELLS} == set(OrderStatus)
    assert {OrderEvent(e) for _, e, _ in CELLS} == set(OrderEvent)
    assert len(CELLS) == 25


@pytest.mark.parametrize("state,event,expected", CELLS, ids=[f"{s}-{e}" for s, e, _ in CELLS])
def test_transition_cell(state, event, expected):
    assert can_transition(state, event) is (expected is not ILLEGAL)
    if expected is ILLEGAL:
        with pytest.raises(IllegalTransition) as info:
            transition(state, event)
        err = info.value
        assert isinstance(err, Conflict)
        assert answer_of("odip", err.kind) == (409, "E7219")
        assert err.order_status == state and err.event == event
        assert state.value in err.message and event in err.message
    else:
        assert transition(state, event) is expected
        # The literal forms work too (stored values are strings).
        assert transition(state.value, event) is expected


def test_illegal_transition_names_the_order():
    with pytest.raises(IllegalTransition, match="cannot start production order 42 in status completed"):
        transition("completed", "start", order_id=42)


def test_status_messages_are_prosEO_texts():
    assert STATUS_MESSAGES == {
        Q: "request is queued for processing",
        P: "request is under processing",
        C: "requested output product is available",
        F: "production has failed",
        X: "request cancelled by user",
    }
