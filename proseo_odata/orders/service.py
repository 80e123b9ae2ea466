"""The order use cases: submit, cancel, estimate (contract sections 4, 5 and 10).

This is the floor above storage, production and notify: the web layer (ODIP views), the
command line and tests call these functions, which call down into the domain rules
(:mod:`proseo_odata.model.statemachine`, :mod:`proseo_odata.orders.validation`), the catalogue
(:func:`proseo_odata.production.inputs.find_input_product`) and the outbox; nothing below
imports this module. ::

    from proseo_odata.orders.service import cancel, submit, submit_order

    order, replayed = submit(tx, body, mission="DEMO", owner="alice", idempotency_key=key)
    order = submit_order(tx, body, mission="DEMO", owner="demo")   # no idempotency: always a new order
    order = cancel(tx, order)                                      # idempotent (an ended order unchanged)

``tx`` is a storage bound to the caller's transaction (``storage.bind(session)`` in the web
layer, ``storage.transaction()`` elsewhere): the order change and its notification (outbox) are
committed together.
"""
from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from proseo_odata.model import ProductionOrder, VisibilityClass, Workflow, utcnow
from proseo_odata.model.statemachine import (
    MESSAGE_CANCELLED,
    IllegalTransition,
    OrderEvent,
    can_transition,
    transition,
)
from proseo_odata.errors import InvalidOrder
from proseo_odata.orders.idempotency import client_order_id, find_replay, request_fingerprint
from proseo_odata.orders.validation import ValidatedOrder, validate_order
from proseo_odata.production.inputs import find_input_product_id
from proseo_odata.storage.errors import ConflictError

__all__ = ["CANCEL_ATTEMPTS", "cancel", "cancel_order", "estimate_completion", "submit", "submit_order"]

log = logging.getLogger(__name__)

#: Cancel attempts when a worker changes the order between the look and the write.
CANCEL_ATTEMPTS = 2

#: A JSON-shape check of an order body (the web layer's colander schema): every problem found.
ShapeCheck = Callable[[Any], Iterable[InvalidOrder]]


# -- EstimatedDate ---------------------------------------------------------------------------


def estimate_completion(
    storage,
    workflow: Workflow,
    priority: int,
    *,
    now: Optional[datetime] = None,
    workers: int = 1,
    default_run_seconds: float = 60.0,
    history: int = 20,
) -> datetime:
    """An honest EstimatedDate for a new order of ``workflow`` with ``priority``.

    Orders ahead of it: those queued with a priority >= its own (they run first or are older)
    plus those running. Run time: the lower quartile of the turnaround times (completion minus
    submission) of the workflow's last ``history`` completed orders, which approximates the
    processing time without queue waiting (``default_run_seconds`` before there is history).
    Estimate: ``now + run_time * ceil((ahead + 1) / workers)``.
    """
    now = now or utcnow()
    stats = storage.order_queue_stats(workflow.id, priority, history=history)
    samples = sorted(stats.run_seconds)
    run_seconds = samples[len(samples) // 4] if samples else default_run_seconds
    run_seconds = max(run_seconds, 1.0)
    rounds = math.ceil((stats.ahead + 1) / max(1, workers))
    return now + timedelta(seconds=run_seconds * rounds)


# -- submit ------------------------------------------------------------------------------------


def _enabled_workflows(storage, mission: str) -> list[Workflow]:
    """The workflows an order may name: the mission's enabled ones, from the storage's
    short-lived cache (``cached=True``: a workflow disabled, changed or added by another process
    is seen within ``proseo.storage.workflow_cache.ttl`` seconds; by this one, at once)."""
    return storage.list_workflows(mission, enabled_only=True, cached=True)


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
    default_run_seconds: float = 60.0,
) -> ProductionOrder:
    """Validate ``body``, find its input product, estimate its completion, store it ``queued``.

    Raises :class:`~proseo_odata.orders.validation.OrderValidationError` (400) or
    :class:`~proseo_odata.production.inputs.InputProductNotFound` (404). ``workers`` is how many
    orders run at once and ``default_run_seconds`` the run time before the workflow has history
    (both for the estimate: :class:`proseo_odata.config.CoreSettings`). ``idempotency_key``/``request_hash`` are stored with
    the order (:func:`submit` sets them; see :mod:`proseo_odata.orders.idempotency`).
    """
    now = now or utcnow()
    validated: ValidatedOrder = validate_order(body, _enabled_workflows(storage, mission), mission=mission)
    workflow = validated.workflow
    input_product_id = find_input_product_id(
        storage,
        mission,
        workflow.input_product_type,
        reference=validated.input_reference,
        start=validated.input_content_start,
        end=validated.input_content_end,
        visibilities=visibilities,
    )
    estimated = estimate_completion(storage, workflow, validated.priority, now=now, workers=workers,
                                    default_run_seconds=default_run_seconds)
    order = validated.to_order(mission=mission, owner=owner, submission_date=now, estimated_date=estimated, order_id=order_id)
    order.input_product_id = input_product_id
    order.idempotency_key = idempotency_key
    order.request_hash = request_hash
    return storage.add_order(order)


def submit(storage, body: Any, *, mission: str, owner: str, idempotency_key: Optional[str] = None,
           check_shape: Optional[ShapeCheck] = None, **submit_options) -> tuple[ProductionOrder, bool]:
    """Submit the order of ``body`` unless the same request created it before; returns
    ``(order, replayed)``.

    One validation path: ``check_shape`` (the JSON-shape check of the caller's decoding, e.g.
    the ODIP colander schema) and :func:`~proseo_odata.orders.validation.validate_order` (the
    meaning) answer together in ONE :class:`~proseo_odata.orders.validation.OrderValidationError`
    with every problem of both. A body of the wrong shape is refused before anything is looked up
    or stored; a replay (:mod:`proseo_odata.orders.idempotency`: ``Idempotency-Key`` or the
    client's own ``Id``) answers the stored order however its workflow has changed since.
    ``submit_options`` go to :func:`submit_order` (``visibilities``, ``workers``,
    ``default_run_seconds``, ``now``).
    """
    shape = list(check_shape(body)) if check_shape is not None else []
    if shape:
        validate_order(body, _enabled_workflows(storage, mission), mission=mission, shape_problems=shape)
    order_id = client_order_id(body)
    fingerprint = request_fingerprint(body)
    replay = find_replay(storage, mission, owner, fingerprint, key=idempotency_key, order_id=order_id, body=body)
    if replay is not None:
        return replay, True
    try:
        order = submit_order(storage, body, mission=mission, owner=owner, order_id=order_id,
                             idempotency_key=idempotency_key, request_hash=fingerprint, **submit_options)
    except ConflictError:
        if idempotency_key is None and order_id is None:
            raise
        # A concurrent request with the same key or Id committed first (or the Id is another
        # mission's order): replay it, or refuse.
        replay = find_replay(storage, mission, owner, fingerprint, key=idempotency_key, order_id=order_id, body=body)
        if replay is None and order_id is not None and idempotency_key is not None:
            # a new key, and the Id of an existing order: the same order asked for again (a
            # client that made a new key for its retry) is a replay too
            replay = find_replay(storage, mission, owner, fingerprint, order_id=order_id, body=body)
        if replay is None:
            if order_id is not None:
                raise ConflictError(f"Id {order_id} is already used by another production order", target="Id") from None
            raise
        return replay, True
    return order, False


# -- cancel ------------------------------------------------------------------------------------


def cancel_order(storage, mission: str, order_id: uuid.UUID, *, now: Optional[datetime] = None) -> ProductionOrder:
    """Cancel a queued or running order; its worker notices and stops its processor.

    Raises :class:`~proseo_odata.model.statemachine.IllegalTransition` (409) for an order that
    has already ended (:func:`cancel` answers that with the order unchanged, contract section 5)
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


def cancel(storage, order: ProductionOrder, *, now: Optional[datetime] = None,
           attempts: int = CANCEL_ATTEMPTS) -> ProductionOrder:
    """Idempotent cancel (contract section 5) of ``order`` (looked at ``for_update``): a queued
    or running order becomes ``cancelled``; one that has already ended is returned unchanged.

    ``for_update`` locks the row on PostgreSQL but not on SQLite, where a worker may complete the
    order (or renew its lease) between the look and the write: the stale write then raises
    ``ConflictError``. The order is looked at again: one that has ended meanwhile is returned as
    it is now, one still cancellable is cancelled once more (``attempts`` in all, then the
    ``ConflictError`` stands).
    """
    for attempt in range(1, attempts + 1):
        if not can_transition(order.status, OrderEvent.CANCEL):
            break  # already ended: unchanged (contract section 5)
        try:
            return cancel_order(storage, order.mission, order.id, now=now)
        except IllegalTransition:
            pass  # it ended between the look and the cancel: answer it as it is now
        except ConflictError:
            if attempt == attempts:
                raise
            log.info("cancel of production order %s raced a concurrent change; looking again", order.id)
        order = storage.get_order(order.mission, order.id, for_update=True)
    return order
