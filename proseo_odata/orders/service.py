"""Order operations shared by the web layer, the command line and the engine.

::

    from proseo_odata.orders.service import submit_order, cancel_order

    order = submit_order(tx, body, mission="DEMO", owner="demo")   # 400/404 as ODataError
    order = cancel_order(tx, "DEMO", order_id)                     # IllegalTransition (409) if ended

``tx`` is a storage bound to the caller's transaction (``storage.bind(session)`` in the web
layer, ``storage.transaction()`` elsewhere): the order change and its notification (outbox) are
committed together.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

from proseo_odata.model import OrderStatus, Product, ProductionOrder, VisibilityClass, utcnow
from proseo_odata.errors import NotFound
from proseo_odata.orders.statemachine import MESSAGE_CANCELLED, OrderEvent, transition
from proseo_odata.orders.validation import ValidatedOrder, validate_order

__all__ = ["InputProductNotFound", "cancel_order", "find_input_product", "submit_order"]


class InputProductNotFound(NotFound):
    """No input product matches the order's ``InputProductReference``: none by that name, or
    (``by_content_date``) none covering its ContentDate."""

    kind = "not_found.input_product"

    def __init__(self, message: str, *, by_content_date: bool = False):
        super().__init__(message, target="InputProductReference",
                         kind="not_found.input_product.content_date" if by_content_date else None)


def find_input_product(
    storage,
    mission: str,
    product_type: str,
    *,
    reference: Optional[str] = None,
    start: Optional[datetime] = None,
    end: Optional[datetime] = None,
    visibilities: Optional[Sequence[VisibilityClass]] = None,
) -> Product:
    """The input product of an order (contract section 10).

    Among the mission's products of ``product_type``: the one named ``reference``; when there is
    no reference (or no product of that name) and a period is given, the newest product whose
    ContentDate covers ``start``..``end``. Raises :class:`InputProductNotFound`.
    """
    if reference:
        product = storage.find_product(mission, product_type=product_type, name=reference, visibilities=visibilities)
        if product is not None:
            return product
        if start is None or end is None:
            raise InputProductNotFound(
                f"No input product named {reference!r} of type {product_type} found in mission {mission}",
            )
    if start is not None and end is not None:
        product = storage.find_product(
            mission, product_type=product_type, covering=(start, end), visibilities=visibilities
        )
        if product is not None:
            return product
        named = f"named {reference!r} or " if reference else ""
        raise InputProductNotFound(
            f"No input product {named}of type {product_type} covering {start.isoformat()} to "
            f"{end.isoformat()} found in mission {mission}",
            by_content_date=True,
        )
    raise InputProductNotFound("The order names no input product")


def submit_order(
    storage,
    body: Mapping[str, Any],
    *,
    mission: str,
    owner: str,
    now: Optional[datetime] = None,
    visibilities: Optional[Sequence[VisibilityClass]] = None,
    workers: int = 1,
    order_id: Optional[uuid.UUID] = None,
    idempotency_key: Optional[str] = None,
    request_hash: Optional[str] = None,
) -> ProductionOrder:
    """Validate ``body``, find its input product, estimate its completion, store it ``queued``.

    Raises :class:`~proseo_odata.orders.validation.OrderValidationError` (400) or
    :class:`InputProductNotFound` (404). ``workers`` is how many orders run at once (for the
    estimate). ``idempotency_key``/``request_hash`` are stored with the order (see
    :mod:`proseo_odata.orders.idempotency`, whose ``submit_or_replay`` makes retries safe).
    """
    from proseo_odata.production.engine import estimate_completion

    now = now or utcnow()
    validated: ValidatedOrder = validate_order(body, storage.list_workflows(mission, enabled_only=True), mission=mission)
    workflow = validated.workflow
    product = find_input_product(
        storage,
        mission,
        workflow.input_product_type,
        reference=validated.input_reference,
        start=validated.input_content_start,
        end=validated.input_content_end,
        visibilities=visibilities,
    )
    estimated = estimate_completion(storage, workflow, validated.priority, now=now, workers=workers)
    order = validated.to_order(mission=mission, owner=owner, submission_date=now, estimated_date=estimated, order_id=order_id)
    order.input_product_id = product.id
    order.idempotency_key = idempotency_key
    order.request_hash = request_hash
    return storage.add_order(order)


def cancel_order(storage, mission: str, order_id: uuid.UUID, *, now: Optional[datetime] = None) -> ProductionOrder:
    """Cancel a queued or running order; its worker notices and stops its processor.

    Raises :class:`~proseo_odata.orders.statemachine.IllegalTransition` (409) for an order that
    has already ended (the web layer answers that with the order unchanged, contract section 5)
    and ``NotFoundError`` for an unknown order.
    """
    from proseo_odata.notify.delivery import enqueue_order_notification

    now = now or utcnow()
    order = storage.get_order(mission, order_id, for_update=True)
    order.status = transition(order.status, OrderEvent.CANCEL, order_id=order.id)
    order.status_message = MESSAGE_CANCELLED
    order.completed_date = now
    order.lease_expires_at = None
    order = storage.update_order(order)
    enqueue_order_notification(storage, order, None, now=now)
    return order


def is_finished(order: ProductionOrder) -> bool:
    return OrderStatus(order.status).is_terminal
