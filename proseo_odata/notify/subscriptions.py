"""PRIP subscriptions: their life cycle, their ``FilterParam`` and notification matching.

* :func:`validate_filter_param` parses a ``FilterParam`` and binds it against the Product
  entity model; an error is an ``ODataError`` (400) naming the position.
* :func:`validate_notification_endpoint` checks a ``NotificationEndpoint``: an http(s) URL with a
  host and without user information (credentials go in ``NotificationEpUsername``/``-Password``).
* :func:`validate_subscription` checks a new subscription's request body (types, unknown
  properties, ``FilterParam``, ``NotificationEndpoint``, ``Priority`` 1..100) and raises one
  :class:`SubscriptionValidationError` (400) listing every problem.
* :func:`apply_action` is the subscription state machine (``Pause``, ``Resume``, ``Cancel``),
  one declarative table; an illegal change raises :class:`SubscriptionStateError` (409).
* :func:`on_product_published` is called by whoever publishes a product (ingest, the
  production engine) inside the publishing transaction: every ``running`` subscription of the
  product's mission whose filter matches the product, and whose owner may see it, gets a
  notification in the persisted outbox (delivered by :mod:`proseo_odata.notify.delivery`) and
  its ``LastNotificationDate`` set. The outbox row commits with the product, or not at all.

Matching evaluates the filter in Python (the query core's predicate compiler) on the product
object as published (with its attributes), so a subscription matches exactly the products
that the same text as ``$filter`` on ``GET Products`` would return.
"""
from __future__ import annotations

import functools
import logging
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Callable

from proseo_odata.model import (
    Checksum,
    Product,
    Role,
    Subscription,
    SubscriptionStatus,
    format_datetime,
    utcnow,
)
from proseo_odata.model.visibility import visible_classes
from proseo_odata.errors import Conflict, InvalidQuery, InvalidSubscription, ProseoError
from proseo_odata.notify.delivery import credentials_problems, endpoint_problem
from proseo_odata.odata.edm import PRIORITY_BOUNDS, SUBSCRIPTION, computed_names, is_control_member
from proseo_odata.odata.errors import ODataError
from proseo_odata.storage.errors import ConflictError, NotFoundError, log_failure

log = logging.getLogger(__name__)

__all__ = [
    "NOTIFICATION_KIND",
    "SubscriptionAction",
    "SubscriptionStateError",
    "SubscriptionValidationError",
    "apply_action",
    "compiled_filter",
    "notification_body",
    "on_product_published",
    "validate_filter_param",
    "validate_notification_endpoint",
    "validate_subscription",
]

#: ``OutboxMessage.kind`` of subscription notifications.
NOTIFICATION_KIND = "subscription"



class SubscriptionAction(StrEnum):
    """The bound actions of ``Subscriptions(<id>)`` (ICD ``OData.CSC.<Action>``)."""

    PAUSE = "Pause"
    RESUME = "Resume"
    CANCEL = "Cancel"


_S = SubscriptionStatus
_A = SubscriptionAction

#: (status, action) -> new status. Repeating the action that led to the current state is
#: allowed and changes nothing; anything not listed is an illegal state change.
TRANSITIONS: dict[tuple[SubscriptionStatus, SubscriptionAction], SubscriptionStatus] = {
    (_S.RUNNING, _A.PAUSE): _S.PAUSED,
    (_S.PAUSED, _A.PAUSE): _S.PAUSED,
    (_S.PAUSED, _A.RESUME): _S.RUNNING,
    (_S.RUNNING, _A.RESUME): _S.RUNNING,
    (_S.RUNNING, _A.CANCEL): _S.CANCELLED,
    (_S.PAUSED, _A.CANCEL): _S.CANCELLED,
    (_S.CANCELLED, _A.CANCEL): _S.CANCELLED,
}


class SubscriptionStateError(Conflict):
    """An action the subscription's status does not allow (pausing a cancelled one)."""

    kind = "conflict.subscription_state"

    def __init__(self, subscription: Subscription, action: SubscriptionAction):
        super().__init__(
            f"Subscription {subscription.id} is {subscription.status}: it cannot be "
            f"{'resumed' if action is _A.RESUME else action.value.lower() + 'd'}",
        )


def apply_action(subscription: Subscription, action: SubscriptionAction | str) -> Subscription:
    """Set the subscription's status after ``action`` (in place; returns it). Raises
    :class:`SubscriptionStateError` for a transition not in :data:`TRANSITIONS`."""
    action = SubscriptionAction(action)
    new_status = TRANSITIONS.get((subscription.status, action))
    if new_status is None:
        raise SubscriptionStateError(subscription, action)
    subscription.status = new_status
    return subscription


# -- the filter ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _bound_filter(text: str):
    from proseo_odata.odata import edm
    from proseo_odata.odata.binding import bind_filter
    from proseo_odata.odata.parser import parse_filter

    return bind_filter(parse_filter(text, target="FilterParam"), edm.PRODUCT, model=edm.PRIP_MODEL)


def validate_filter_param(text) -> str:
    """Check a ``FilterParam``: it must parse and bind against the Product model, and compile
    (:func:`compiled_filter`: arithmetic of constants out of range, ``now() add
    duration'P9999999D'``, is refused here as ``GET Products`` refuses it, not stored to match
    nothing).

    Returns the text unchanged; raises an ``ODataError`` (an invalid query, target ``FilterParam``) naming the
    position of the first problem."""
    if not isinstance(text, str) or not text.strip():
        raise ODataError("FilterParam must be a non-empty $filter expression over Products",
                         target="FilterParam")
    try:
        compiled_filter(text)
    except ODataError as exc:
        exc.target = "FilterParam"
        raise
    return text


def validate_notification_endpoint(text) -> str:
    """Check a ``NotificationEndpoint`` (:func:`~proseo_odata.notify.delivery.endpoint_problem`:
    an ``http``/``https`` URL with a host and no user information).

    Returns the text stripped; raises an ``InvalidSubscription`` (target ``NotificationEndpoint``)
    whose message never repeats the text (it may hold a password)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidSubscription("NotificationEndpoint is required: an http(s) URL",
                         target="NotificationEndpoint")
    problem = endpoint_problem(text.strip())
    if problem:
        raise InvalidSubscription(problem, target="NotificationEndpoint")
    return text.strip()


class ProductAccessor:
    """Reads the Product entity model's properties from :class:`proseo_odata.model.Product`
    objects for the query core's predicate compiler (names the dataclass spells differently)."""

    def __init__(self):
        from proseo_odata.odata.predicate import DefaultAccessor

        self._default = DefaultAccessor()

    def get(self, obj, name):
        if isinstance(obj, Product):
            if name in ("Checksum", "Checksums"):
                return obj.checksums
            if name == "ContentDate":
                if obj.content_start is None and obj.content_end is None:
                    return None
                return {"Start": obj.content_start, "End": obj.content_end}
            if name == "CreationDate":
                return obj.publication_date
            if name == "GeoFootprint":
                return obj.footprint
            if name == "Collection":
                return {"Name": obj.collection}
            if name == "Assets":
                return []
        elif isinstance(obj, Checksum) and name == "ChecksumDate":
            return obj.date
        return self._default.get(obj, name)

    def type_name(self, obj):
        return self._default.type_name(obj)


_ACCESSOR = None


def _accessor() -> ProductAccessor:
    global _ACCESSOR
    if _ACCESSOR is None:
        _ACCESSOR = ProductAccessor()
    return _ACCESSOR


@functools.lru_cache(maxsize=1024)
def _cached_predicate(text: str) -> Callable[[Product], bool]:
    from proseo_odata.odata.predicate import compile_predicate

    return compile_predicate(_bound_filter(text), _accessor())


def compiled_filter(text: str, now: datetime | None = None) -> Callable[[Product], bool]:
    """The Python predicate of a ``FilterParam`` over :class:`Product` objects.

    Parsing and binding happen once per distinct text, and so does compiling, except for a
    filter using ``now()``: that one is compiled with the given ``now`` each time (the query
    core fixes ``now()`` at compilation)."""
    if "now" in text.lower():
        from proseo_odata.odata.predicate import compile_predicate

        return compile_predicate(_bound_filter(text), _accessor(), now=now)
    return _cached_predicate(text)


# -- notifications ------------------------------------------------------------------------------


def notification_body(subscription: Subscription, product: Product, now: datetime) -> dict:
    """The JSON the service POSTs to the subscription's endpoint (contract section 3)."""
    return {
        "@odata.context": "$metadata#Notification/$entity",
        "ProductId": str(product.id),
        "ProductName": product.name,
        "SubscriptionId": str(subscription.id),
        "NotificationDate": format_datetime(now),
    }


def _owner_may_see(storage, subscription: Subscription, product: Product, users: dict) -> bool:
    key = (subscription.mission, subscription.owner)
    if key not in users:
        try:
            users[key] = storage.get_user(*key)
        except NotFoundError:
            users[key] = None
    user = users[key]
    return user is not None and user.has_role(Role.PRIP_USER) and product.visibility in visible_classes(user.roles)


def matches(subscription: Subscription, product: Product, now: datetime | None = None) -> bool:
    """True when ``product`` satisfies the subscription's ``FilterParam``. A filter that no
    longer compiles (the model changed since it was accepted) or fails on this product matches
    nothing and is logged with the subscription's id."""
    try:
        predicate = compiled_filter(subscription.filter_param, now)
    except Exception as exc:  # noqa: BLE001 - one bad filter must not stop the others
        log.warning("subscription %s: FilterParam no longer valid (%s); skipped", subscription.id,
                    getattr(exc, "message", exc))
        return False
    try:
        return bool(predicate(product))
    except Exception as exc:  # noqa: BLE001 - one bad filter must not stop the others
        log.warning("subscription %s: FilterParam failed on product %s (%s); skipped", subscription.id,
                    product.id, getattr(exc, "message", exc))
        return False


def on_product_published(storage, product: Product, *, now: datetime | None = None) -> list[uuid.UUID]:
    """Enqueue a notification for every running subscription matching the newly published
    ``product``; return the ids of the notified subscriptions.

    ``storage`` should be bound to the publishing transaction (``with storage.transaction() as
    tx: tx.add_product(p); on_product_published(tx, p)``), so the notifications exist exactly
    when the product does. ``product`` must carry its attributes.

    Publishing never fails because of a subscription: each one is evaluated on its own (owner,
    visibility, ``FilterParam``); one whose evaluation raises is logged with its id and skipped,
    and every other subscription still gets its notification. Only a failure of the database
    itself (enqueueing into the outbox) propagates, failing the transaction it is part of.
    """
    now = now or utcnow()
    notified: list[uuid.UUID] = []
    users: dict = {}
    for subscription in storage.list_running_subscriptions(product.mission):
        try:
            wanted = (
                bool(subscription.notification_endpoint)
                and _owner_may_see(storage, subscription, product, users)
                and matches(subscription, product, now)
            )
            body = notification_body(subscription, product, now) if wanted else None
        except Exception as exc:  # noqa: BLE001 - a subscription never fails a publication
            log_failure(log, "subscription %s: evaluating it for product %s failed; skipped", exc,
                        subscription.id, product.id, level=logging.ERROR)
            continue
        if not wanted:
            continue
        storage.enqueue_notification(
            NOTIFICATION_KIND,
            subscription.notification_endpoint,
            subscription.notification_username,
            subscription.notification_password,
            body,
            mission=product.mission,
            now=now,
        )
        notified.append(subscription.id)
        touch_subscription(storage, subscription, now)
    return notified


def touch_subscription(storage, subscription: Subscription, now: datetime) -> None:
    """Set ``LastNotificationDate``; a concurrent publisher updating the same subscription wins
    (its date is as recent), and a subscription deleted meanwhile is left alone: the
    notification itself is enqueued either way."""
    subscription.last_notification_date = now
    try:
        storage.update_subscription(subscription)
    except NotFoundError:
        log.info("subscription %s deleted concurrently; LastNotificationDate not set", subscription.id)
    except ConflictError:
        log.info("subscription %s changed concurrently; LastNotificationDate left to the other writer",
                 subscription.id)


# -- validation of a new subscription (the POST Subscriptions body) ------------------------------

#: The priority of a subscription that gives none.
DEFAULT_SUBSCRIPTION_PRIORITY = 1
#: Properties a client sets, with their JSON types.
SUBSCRIPTION_INPUT_PROPERTIES = {
    "FilterParam": str,
    "StageOrder": bool,
    "Priority": int,
    "NotificationEndpoint": str,
    "NotificationEpUsername": str,
    "NotificationEpPassword": str,
}
#: Properties the service sets; accepted in a body (clients echo entities) and ignored: the
#: ``Core.Computed`` ones of $metadata, and the key.
SUBSCRIPTION_SERVER_PROPERTIES = {"Id", *computed_names(SUBSCRIPTION)}

_JSON_TYPE_NAMES = {str: "a string", bool: "a Boolean", int: "an integer"}


class SubscriptionValidationError(InvalidSubscription):
    """A Subscription body that fails validation: every problem at once in ``details``.
    With one problem, its message and target are the error's own."""

    def __init__(self, problems: list[ProseoError]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            message, target = self.problems[0].message, self.problems[0].target
        else:
            message = f"Invalid Subscription, {len(self.problems)} problems: " + "; ".join(
                p.message for p in self.problems)
            target = "body"
        super().__init__(message, target=target, details=self.problems)


def _body_problem(target: str, message: str) -> InvalidSubscription:
    return InvalidSubscription(message, target=target)


def validate_subscription(body) -> dict:
    """Check a new subscription's request body (the decoded JSON) and return the fields of a
    :class:`~proseo_odata.model.Subscription`: ``filter_param``, ``stage_order``, ``priority``,
    ``notification_endpoint``, ``notification_username``, ``notification_password``.

    Rules: an object; no unknown properties (annotations, advertised operations and the server's
    properties, which a client echoing an entity it read sends, are ignored:
    :func:`~proseo_odata.odata.edm.is_control_member`); JSON types as in
    :data:`SUBSCRIPTION_INPUT_PROPERTIES` (``null`` counts as absent); ``FilterParam`` required
    and valid (:func:`validate_filter_param`); ``NotificationEndpoint`` required, an http(s) URL
    (:func:`validate_notification_endpoint`); ``Priority`` 1..100, default
    :data:`DEFAULT_SUBSCRIPTION_PRIORITY`. Every problem is collected and raised as one
    :class:`SubscriptionValidationError`; messages name properties and never repeat values (the
    body may hold a password)."""
    if not isinstance(body, dict):
        raise SubscriptionValidationError(
            [_body_problem("body", "The request body must be a JSON object describing a Subscription")])
    problems: list[ProseoError] = []
    values = {}
    for name, value in body.items():
        if not isinstance(name, str) or is_control_member(name) or name in SUBSCRIPTION_SERVER_PROPERTIES:
            continue
        kind = SUBSCRIPTION_INPUT_PROPERTIES.get(name)
        if kind is None:
            problems.append(_body_problem(name, f"Unknown property {name!r} of a Subscription"))
            continue
        if value is None:
            continue
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            problems.append(_body_problem(name, f"{name} must be {_JSON_TYPE_NAMES[kind]}"))
            continue
        values[name] = value
    if "FilterParam" not in values:
        if "FilterParam" not in {p.target for p in problems}:
            problems.append(_body_problem("FilterParam", "FilterParam is required: a $filter expression over Products"))
    else:
        try:
            validate_filter_param(values["FilterParam"])
        except ODataError as exc:
            message = exc.message if exc.message.startswith("FilterParam") else f"FilterParam: {exc.message}"
            problems.append(InvalidQuery(message, target="FilterParam"))
    endpoint = values.get("NotificationEndpoint")
    if "NotificationEndpoint" not in {p.target for p in problems}:
        try:
            endpoint = validate_notification_endpoint(endpoint)
        except InvalidSubscription as exc:
            problems.append(exc)
    for target, reason in credentials_problems(values.get("NotificationEpUsername"),
                                               values.get("NotificationEpPassword")):
        problems.append(_body_problem(target, reason))
    priority = values.get("Priority", DEFAULT_SUBSCRIPTION_PRIORITY)
    low, high = PRIORITY_BOUNDS
    if not low <= priority <= high:
        problems.append(_body_problem("Priority", f"Priority must be an integer from {low} to {high}"))
    if problems:
        raise SubscriptionValidationError(problems)
    return {
        "filter_param": values["FilterParam"],
        "stage_order": values.get("StageOrder", False),
        "priority": priority,
        "notification_endpoint": endpoint,
        "notification_username": values.get("NotificationEpUsername"),
        "notification_password": values.get("NotificationEpPassword"),
    }
