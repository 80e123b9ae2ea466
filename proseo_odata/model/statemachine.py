"""The production order life cycle (contract section 4) as one declarative transition table.

::

    queued --start--> in_progress --complete--> completed
      |  ^                 |  |
      |  \\--requeue-------/  \\--fail--> failed      (requeue: the worker was lost, attempts remain)
      |--fail--> failed                             (e.g. the input product left the archive)
      \\--cancel--> cancelled <--cancel-- in_progress

No other transition exists: :func:`transition` raises :class:`IllegalTransition` for every
(state, event) pair that is not in :data:`TRANSITIONS`, never a silent no-op. Callers that want
idempotence (the web layer's cancel of a finished order answers 200 with the order unchanged)
decide that themselves, for example with :func:`can_transition`.
"""
from __future__ import annotations

from enum import StrEnum

from proseo_odata.model import OrderStatus
from proseo_odata.errors import Conflict

__all__ = [
    "IllegalTransition",
    "MESSAGE_CANCELLED",
    "MESSAGE_COMPLETED",
    "MESSAGE_FAILED",
    "MESSAGE_IN_PROGRESS",
    "MESSAGE_INPUT_NOT_FOUND",
    "MESSAGE_QUEUED",
    "OrderEvent",
    "STATUS_MESSAGES",
    "TRANSITIONS",
    "can_transition",
    "transition",
]

# prosEO's status messages (contract section 4).
MESSAGE_QUEUED = "request is queued for processing"
MESSAGE_IN_PROGRESS = "request is under processing"
MESSAGE_COMPLETED = "requested output product is available"
MESSAGE_FAILED = "production has failed"
MESSAGE_CANCELLED = "request cancelled by user"
MESSAGE_INPUT_NOT_FOUND = "input product not found"

#: The default StatusMessage of each status.
STATUS_MESSAGES = {
    OrderStatus.QUEUED: MESSAGE_QUEUED,
    OrderStatus.IN_PROGRESS: MESSAGE_IN_PROGRESS,
    OrderStatus.COMPLETED: MESSAGE_COMPLETED,
    OrderStatus.FAILED: MESSAGE_FAILED,
    OrderStatus.CANCELLED: MESSAGE_CANCELLED,
}


class OrderEvent(StrEnum):
    """What can happen to an order."""

    START = "start"  # a worker claimed it
    COMPLETE = "complete"  # the output is published
    FAIL = "fail"  # the processor failed, or the input is gone, or attempts ran out
    CANCEL = "cancel"  # the user cancelled it
    REQUEUE = "requeue"  # its worker was lost (lease expired) and attempts remain


#: (state, event) -> next state. The whole life cycle; nothing else is allowed.
TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {
    (OrderStatus.QUEUED, OrderEvent.START): OrderStatus.IN_PROGRESS,
    (OrderStatus.QUEUED, OrderEvent.FAIL): OrderStatus.FAILED,
    (OrderStatus.QUEUED, OrderEvent.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.IN_PROGRESS, OrderEvent.COMPLETE): OrderStatus.COMPLETED,
    (OrderStatus.IN_PROGRESS, OrderEvent.FAIL): OrderStatus.FAILED,
    (OrderStatus.IN_PROGRESS, OrderEvent.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.IN_PROGRESS, OrderEvent.REQUEUE): OrderStatus.QUEUED,
}


class IllegalTransition(Conflict):
    """An event that the order's current status does not allow (a conflict with the stored state).

    Attributes: ``order_status`` and ``event`` say what was attempted.
    """

    kind = "conflict.order_state"

    def __init__(self, order_status: OrderStatus, event: OrderEvent, *, order_id=None):
        self.order_status = OrderStatus(order_status)
        self.event = OrderEvent(event)
        which = f"production order {order_id}" if order_id is not None else "a production order"
        super().__init__(
            f"cannot {self.event.value} {which} in status {self.order_status.value}",
            target="Status",
        )


def can_transition(status: OrderStatus | str, event: OrderEvent | str) -> bool:
    """Whether ``event`` is allowed in ``status``."""
    return (OrderStatus(status), OrderEvent(event)) in TRANSITIONS


def transition(status: OrderStatus | str, event: OrderEvent | str, *, order_id=None) -> OrderStatus:
    """The status after ``event`` happens in ``status``; raises :class:`IllegalTransition`."""
    status, event = OrderStatus(status), OrderEvent(event)
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(status, event, order_id=order_id) from None
