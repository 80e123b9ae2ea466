"""PRIP subscriptions (contract sections 3 and 5), registered per prefix from :data:`ROUTES` by
:func:`proseo_odata_web.prip.add_prip_service`.

=====================================================  ======  ===============================
path                                                   method  answer
=====================================================  ======  ===============================
``{root}/Subscriptions``                               GET     the user's subscriptions (query
                                                               options as for Products)
``{root}/Subscriptions``                               POST    create: 201, body, ``Location``
``{root}/Subscriptions/$count``                        GET     their number as ``text/plain``
``{root}/Subscriptions({key})``                        GET     one subscription
``{root}/Subscriptions({key})/{Property}``             GET     one property, and with ``/$value``
                                                               its raw value
                                                               (:mod:`~proseo_odata_web.properties`)
``{root}/Subscriptions({key})/OData.CSC.Pause``        POST    200 with the subscription
``{root}/Subscriptions({key})/OData.CSC.Resume``       POST    200 with the subscription
``{root}/Subscriptions({key})/OData.CSC.Cancel``       POST    200 with the subscription; 409
                                                               for an illegal state change
=====================================================  ======  ===============================

``{key}`` is a GUID, bare or quoted (or ``Id=<guid>``). Subscriptions belong to the mission and
the user who created them: another user's subscription answers 404 as if absent. The role is
``PRIP_USER``. ``NotificationEpPassword`` is stored for delivery, returned only as a fixed mask,
never logged, and cannot be filtered or sorted on (the entity model says so).

The rules (the body's validation, the filter, the state machine) live in
:mod:`proseo_odata.notify.subscriptions`; this module decodes, authorises and serialises.
"""
from __future__ import annotations

import functools
import uuid


from proseo_odata.model import Role, Subscription, SubscriptionStatus
from proseo_odata.odata import edm
from proseo_odata.notify.subscriptions import (
    SubscriptionAction,
    apply_action,
    validate_subscription,
)
from proseo_odata.errors import InvalidSubscription, NotFound
from proseo_odata.secretbox import MASK

from .. import keys
from ..auth import require_role
from ..odata_json import (context_url, entity_body, format_datetime, format_guid, json_response,
                          parse_json_body, select_properties, text_response)
from ..properties import property_routes
from ..query import check_format, collection_body, collection_query, single_entity_options
from ..service import check_action_preconditions


class SubscriptionNotFound(NotFound):
    kind = "not_found.subscription"

    def __init__(self, subscription_id):
        super().__init__(f"No subscription found with UUID {subscription_id}")


def subscription_json(subscription: Subscription) -> dict:
    """The entity as OData JSON; the password is masked (or null when none is stored)."""
    return {
        "Id": format_guid(subscription.id),
        "Status": str(subscription.status),
        "FilterParam": subscription.filter_param,
        "StageOrder": subscription.stage_order,
        "Priority": subscription.priority,
        "SubmissionDate": format_datetime(subscription.submission_date),
        "LastNotificationDate": format_datetime(subscription.last_notification_date),
        "NotificationEndpoint": subscription.notification_endpoint,
        "NotificationEpUsername": subscription.notification_username,
        "NotificationEpPassword": MASK if subscription.notification_password else None,
    }


def _entity_response(request, subscription: Subscription, status: int = 200, select=None):
    return json_response(entity_body(request, "Subscriptions", subscription_json(subscription), select),
                         status=status)


def parse_key(text: str) -> uuid.UUID:
    """The id in ``Subscriptions(<key>)`` (:func:`proseo_odata_web.keys.parse_key`)."""
    return keys.parse_key(text, "subscription")


def own_subscription(request, principal, key: str, *, for_update: bool = False) -> Subscription:
    """The principal's subscription named by ``key``; 404 for a missing or foreign one."""
    return keys.load_or_404(
        functools.partial(request.storage.get_subscription, principal.mission, for_update=for_update),
        parse_key(key), SubscriptionNotFound, lambda subscription: subscription.owner == principal.name)


def _problem(target: str, message: str) -> InvalidSubscription:
    return InvalidSubscription(message, target=target)


def parse_new_subscription(body, mission: str, owner: str) -> Subscription:
    """A new running :class:`Subscription` from the POST body, checked by the core's
    :func:`~proseo_odata.notify.subscriptions.validate_subscription` (every problem in one 400)."""
    return Subscription(mission=mission, owner=owner, status=SubscriptionStatus.RUNNING,
                        **validate_subscription(body))


# -- views -----------------------------------------------------------------------------------------


def list_subscriptions(request):
    principal = require_role(request, Role.PRIP_USER)
    paged = collection_query(request, "Subscriptions")
    result = request.storage.query_subscriptions(principal.mission, paged.query, owner=principal.name)
    items = [select_properties(subscription_json(s), paged.select) for s in result.items]
    context = context_url(request, "Subscriptions", paged.select)
    return json_response(collection_body(request, context, items, result, paged))


def count_subscriptions(request):
    principal = require_role(request, Role.PRIP_USER)
    paged = collection_query(request, "Subscriptions", count_only=True)
    result = request.storage.query_subscriptions(principal.mission, paged.query, owner=principal.name)
    return text_response(str(result.count))


def create_subscription(request):
    principal = require_role(request, Role.PRIP_USER)
    check_format(request)
    body = parse_json_body(request, error=InvalidSubscription)
    subscription = request.storage.add_subscription(parse_new_subscription(body, principal.mission, principal.name))
    response = _entity_response(request, subscription, status=201)
    # The collection's URL plus the key; route_url would percent-encode the parentheses.
    response.headers["Location"] = f"{request.path_url.rstrip('/')}({subscription.id})"
    return response


def get_subscription(request):
    principal = require_role(request, Role.PRIP_USER)
    _expand, select = single_entity_options(request, "Subscriptions")
    return _entity_response(request, own_subscription(request, principal, request.matchdict["key"]), select=select)


def _action_view(action: SubscriptionAction):
    def view(request):
        principal = require_role(request, Role.PRIP_USER)
        check_format(request)
        subscription = own_subscription(request, principal, request.matchdict["key"], for_update=True)
        check_action_preconditions(request)
        before = subscription.status
        apply_action(subscription, action)
        if subscription.status != before:
            subscription = request.storage.update_subscription(subscription)
        return _entity_response(request, subscription)

    view.__name__ = f"subscription_{action.value.lower()}"
    return view


def _subscription_entity(request) -> tuple:
    """The subscription ``Subscriptions(<key>)`` answers, for its individual properties."""
    principal = require_role(request, Role.PRIP_USER)
    subscription = own_subscription(request, principal, request.matchdict["key"])
    return str(subscription.id), subscription_json(subscription)


ROUTES = (
    ("/Subscriptions", "subscriptions", {"GET": list_subscriptions, "POST": create_subscription}),
    ("/Subscriptions/$count", "subscriptions_count", {"GET": count_subscriptions}),
    ("/Subscriptions({key})", "subscription", {"GET": get_subscription}),
    *property_routes("Subscriptions", edm.SUBSCRIPTION, _subscription_entity, "subscription"),
) + tuple(
    (f"/Subscriptions({{key}})/OData.CSC.{action.value}", f"subscription_{action.value.lower()}",
     {"POST": _action_view(action)})
    for action in SubscriptionAction
)
