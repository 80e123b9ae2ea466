"""ODIP production orders (contract sections 4, 5 and 10).

==========================================================  ======  ==============================
path (``{set}`` is ``ProductionOrders`` or ``ProductionOrder``)  method  answer
==========================================================  ======  ==============================
``{root}/{set}/OData.CSC.Order`` (ICD),                     POST    create: ``201``, the order,
``{root}/ProductionOrder`` (user's documents),                      ``Location:
``{root}/ProductionOrders``                                         .../ProductionOrders(<id>)``
``{root}/ProductionOrders``                                 GET     query (contract section 6);
                                                                    ``$expand=Product`` inlines the
                                                                    output product (or ``null``)
``{root}/ProductionOrders/$count``                          GET     the count as ``text/plain``
``{root}/{set}({key})``                                     GET     one order
``{root}/{set}({key})/OData.CSC.Cancel``                    POST    cancel: ``200`` with the order
``{root}/{set}({key})/Product``                             GET     the output PRIP product
``{root}/{set}({key})/Product/$value``                      GET     its file (HEAD too)
``{root}/{set}({key})/{Property}``, ``.../$value``          GET     one property, its raw value
                                                                    (:mod:`~proseo_odata_web.properties`)
==========================================================  ======  ==============================

``{key}``: ``<guid>``, ``'<guid>'`` or ``Id=<guid>``.

Who sees what (contract section 8): the role ``ODIP_USER`` (or ``ORDER_MGR``) is needed; an
``ODIP_USER`` sees the orders they submitted, an ``ORDER_MGR`` every order of the mission; any
other order (another user's, another mission's) answers 404 as if absent.

The views only decode and serialise; the use cases are the core's
(:mod:`proseo_odata.orders.service`). A new order is checked in one call,
:func:`proseo_odata.orders.service.submit`, given the JSON-shape check of
:mod:`proseo_odata_web.odip.schemas`; it adds the core's meaning check
(:func:`~proseo_odata.orders.validation.validate_order`) and answers every problem of both together
in one 400. Then it looks the
input product up in the mission's catalogue (404 ``E7258``/``E7259`` when there is none),
estimates ``EstimatedDate`` and stores the order ``queued``. ``NotificationEpPassword`` is kept
for delivery only: answered as ``"********"``, never logged, not filterable.

The output product (``.../Product``, ``.../Product/$value``) answers 404 ``E7209`` unless the
principal may also read it in PRIP (:func:`proseo_odata_web.auth.can_read_product`: mission and
visibility class): an ``ORDER_MGR`` sees every order of the mission, but an ``INTERNAL`` output
only with ``PRODUCT_READER_ALL``.

Creation is idempotent when the client asks for it (:mod:`proseo_odata.orders.idempotency`): with
an ``Idempotency-Key`` header, or its own ``Id`` (a GUID) in the body, a repeated POST with the
same content answers ``201`` with the first order (and ``Idempotent-Replayed: true``) instead of
creating a second one; the same key or Id with other content is ``422`` (``E7220``).

Cancel is idempotent (contract section 5): a queued or running order becomes ``cancelled`` (the
running worker notices within a heartbeat and stops its processor); an order that has already
ended is answered ``200`` unchanged.
"""
from __future__ import annotations

import functools
from typing import Optional

from proseo_odata.model import Product, ProductionOrder, Role
from proseo_odata.odata import edm
from proseo_odata.errors import InvalidOrder
from proseo_odata.orders.idempotency import check_idempotency_key
from proseo_odata.orders.service import cancel, submit
from proseo_odata.query import value_options
from proseo_odata.secretbox import MASK
from proseo_odata.storage.errors import NotFoundError

from ..keys import load_or_404
from ..auth import can_read_product, product_visibilities, require_role
from ..odata_json import (
    context_url,
    entity_body,
    format_datetime,
    format_guid,
    json_response,
    parse_json_body,
    product_json,
    product_selection,
    select_properties,
    text_response,
)
from ..prip.products import product_assets
from ..properties import property_routes
from ..query import check_format, collection_body, collection_query, decoded_query_pairs, single_entity_options
from ..service import check_action_preconditions
from .errors import NoOutputProduct, OrderNotFound, parse_key
from .schemas import shape_problems
from .workflows import ODIP_ROLES




def order_json(order: ProductionOrder) -> dict:
    """An order as the OData entity (contract section 4); the password only as the mask."""
    content_date = None
    if order.input_content_start is not None or order.input_content_end is not None:
        content_date = {
            "Start": format_datetime(order.input_content_start),
            "End": format_datetime(order.input_content_end),
        }
    return {
        "Id": format_guid(order.id),
        "Status": order.status.value,
        "StatusMessage": order.status_message,
        "OrderOutputSize": int(order.order_output_size or 0),
        "SubmissionDate": format_datetime(order.submission_date),
        "EstimatedDate": format_datetime(order.estimated_date),
        "CompletedDate": format_datetime(order.completed_date),
        "EvictionDate": format_datetime(order.eviction_date),
        "Priority": order.priority,
        "InputProductReference": {"Reference": order.input_reference, "ContentDate": content_date},
        "WorkflowId": format_guid(order.workflow_id),
        "WorkflowName": order.workflow_name,
        "WorkflowOptions": [{"Name": name, "Value": str(value)} for name, value in order.workflow_options.items()],
        "NotificationEndpoint": order.notification_endpoint,
        "NotificationEpUsername": order.notification_username,
        "NotificationEpPassword": MASK if order.notification_password else None,
    }


def _entity_response(request, order: ProductionOrder, status: int = 200):
    return json_response(entity_body(request, "ProductionOrders", order_json(order)), status=status)


def readable_output(request, principal, order: ProductionOrder) -> Optional[Product]:
    """The order's output product if it is still in the catalogue and the principal may read it
    in PRIP (its visibility class), else None: seeing the order does not widen the catalogue
    (contract section 8)."""
    if order.output_product_id is None:
        return None
    try:
        product = request.storage.get_product(principal.mission, order.output_product_id)
    except NotFoundError:
        return None
    return product if can_read_product(principal, product) else None


def _expanded_product(request, principal, order: ProductionOrder) -> Optional[dict]:
    """``$expand=Product``: the output product inline (with its ``Collection`` and the other
    complex properties), ``null`` while there is none or the principal may not read it."""
    product = readable_output(request, principal, order)
    if product is None:
        return None
    return product_json(product, seed_aliases=request.registry.proseo.seed_aliases)


def _owner_filter(principal) -> Optional[str]:
    """None (the whole mission) for an ORDER_MGR, else the user's own name."""
    return None if principal.has_role(Role.ORDER_MGR) else principal.name


def visible_order(request, principal, key: str, *, for_update: bool = False) -> ProductionOrder:
    """The order named by ``key`` if the principal may see it, else 404 (as if absent)."""
    owner = _owner_filter(principal)
    return load_or_404(functools.partial(request.storage.get_order, principal.mission, for_update=for_update),
                       parse_key(key, "production order"), OrderNotFound,
                       lambda order: owner is None or order.owner == owner)


# -- views -----------------------------------------------------------------------------------------


def create_order(request):
    principal = require_role(request, *ODIP_ROLES)
    check_format(request)
    idempotency_key = check_idempotency_key(request.headers.get("Idempotency-Key"))
    body = parse_json_body(request, error=InvalidOrder)
    order, replayed = submit(
        request.storage,
        body,
        mission=principal.mission,
        owner=principal.name,
        idempotency_key=idempotency_key,
        check_shape=shape_problems,
        visibilities=product_visibilities(principal),
        workers=request.registry.proseo.core.worker_threads,
        default_run_seconds=request.registry.proseo.core.default_run_seconds,
    )
    # A replay answers like the first request did (201, Location), with the order as it is now.
    response = _entity_response(request, order, status=201)
    root, _service = request.registry.proseo.mount_of_path(request.path_info)  # a second mount's too
    response.headers["Location"] = f"{request.application_url}{root}/ProductionOrders({order.id})"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def list_orders(request):
    principal = require_role(request, *ODIP_ROLES)
    paged = collection_query(request, "ProductionOrders")
    result = request.storage.query_orders(principal.mission, paged.query, owner=_owner_filter(principal))
    items = []
    for order in result.items:
        item = select_properties(order_json(order), paged.select)
        if "Product" in paged.expand:
            item["Product"] = _expanded_product(request, principal, order)
        items.append(item)
    context = context_url(request, "ProductionOrders", paged.select)
    return json_response(collection_body(request, context, items, result, paged))


def count_orders(request):
    principal = require_role(request, *ODIP_ROLES)
    paged = collection_query(request, "ProductionOrders", count_only=True)
    result = request.storage.query_orders(principal.mission, paged.query, owner=_owner_filter(principal))
    return text_response(str(result.count))


def get_order(request):
    principal = require_role(request, *ODIP_ROLES)
    expand, select = single_entity_options(request, "ProductionOrders")
    order = visible_order(request, principal, request.matchdict["key"])
    body = entity_body(request, "ProductionOrders", order_json(order), select)
    if "Product" in expand:
        body["Product"] = _expanded_product(request, principal, order)
    return json_response(body)


def cancel_view(request):
    """Idempotent cancel (contract section 5, :func:`proseo_odata.orders.service.cancel`)."""
    principal = require_role(request, *ODIP_ROLES)
    check_format(request)
    order = visible_order(request, principal, request.matchdict["key"], for_update=True)
    check_action_preconditions(request)
    return _entity_response(request, cancel(request.storage, order))


def _order_entity(request) -> tuple:
    """The order ``ProductionOrders(<key>)`` answers, for its individual properties."""
    order = visible_order(request, require_role(request, *ODIP_ROLES), request.matchdict["key"])
    return str(order.id), order_json(order)


def _output_product(request):
    principal = require_role(request, *ODIP_ROLES)
    order = visible_order(request, principal, request.matchdict["key"])
    if order.output_product_id is None:
        raise NoOutputProduct(order)
    product = readable_output(request, principal, order)
    if product is None:
        raise NoOutputProduct(
            order,
            f"The output product of production order {order.id} is not in the catalogue, or not one you may read",
        )
    return order, product


def _order_set(request) -> str:
    """The entity set the request's path names the order by (both name the orders)."""
    return "ProductionOrder" if "/ProductionOrder(" in request.path_info else "ProductionOrders"


def order_product(request):
    # a PRIP Product
    expand, select = single_entity_options(request, "Products", f"{_order_set(request)}(...)/Product")
    expand = expand.at()
    order, product = _output_product(request)
    # The Product navigation has no entity set in ODIP's model (no binding, no containment): the
    # context names its type (OData 4.01 Part 1, "Context URL": {context-url}#{type-name}{select-list})
    seed_aliases = request.registry.proseo.seed_aliases
    body = {"@odata.context": context_url(request, "OData.CSC.Product", product_selection(select, seed_aliases, expand))}
    assets = product_assets(request, product)
    body.update(product_json(product, seed_aliases=seed_aliases, expand=expand, select=select, assets=assets))
    return json_response(body)


def order_product_value(request):
    """The output file, through :func:`proseo_odata_web.download.product_file_response`
    (ranges, digests, HEAD); whoever may see the order and read the product in PRIP (its
    visibility class) may download it."""
    from ..download import product_file_response

    value_options(decoded_query_pairs(request), f"{_order_set(request)}(...)/Product/$value", "a product's file")
    _order, product = _output_product(request)
    return product_file_response(request, product, request.archive)


ROUTES = (
    ("/ProductionOrder/OData.CSC.Order", "order_action", {"POST": create_order}),
    # The action is bound to the entity type, so $metadata offers it under both set names.
    ("/ProductionOrders/OData.CSC.Order", "orders_action", {"POST": create_order}),
    ("/ProductionOrder", "order_create", {"POST": create_order}),
    ("/ProductionOrders", "orders", {"GET": list_orders, "POST": create_order}),
    ("/ProductionOrders/$count", "orders_count", {"GET": count_orders}),
) + tuple(
    route
    for entity_set in ("ProductionOrders", "ProductionOrder")
    for route in (
        (f"/{entity_set}({{key}})", f"{entity_set}.order", {"GET": get_order}),
        (f"/{entity_set}({{key}})/OData.CSC.Cancel", f"{entity_set}.cancel", {"POST": cancel_view}),
        (f"/{entity_set}({{key}})/Product", f"{entity_set}.product", {"GET": order_product}),
        (f"/{entity_set}({{key}})/Product/$value", f"{entity_set}.product_value", {"GET": order_product_value}),
        *property_routes(entity_set, edm.PRODUCTION_ORDER, _order_entity, entity_set, canonical="ProductionOrders"),
    )
)
