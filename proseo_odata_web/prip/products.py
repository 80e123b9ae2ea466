"""PRIP catalogue routes (contract section 5), registered per prefix from :data:`ROUTES` by
:func:`proseo_odata_web.prip.add_prip_service`.

Route table (``{root}`` is the prefix, ``{key}`` a GUID, bare or quoted, or ``Id=<guid>``):

=============================================  ==========  =========================================================
path                                           methods     view
=============================================  ==========  =========================================================
``{root}/`` and ``{root}``                     GET         service document
``{root}/$metadata``                           GET         CSDL XML (:mod:`proseo_odata.odata.csdl`)
``{root}/Products``                            GET         query (contract section 6)
``{root}/Products/$count``                     GET         the count as ``text/plain``
``{root}/Products({key})``                     GET         one product
``{root}/Products({key})/Attributes``          GET         that product's attributes
``{root}/Products({key})/Attributes({name})``  GET         one of them by its ``Name``: ``Attributes('cloudCover')``
``{root}/Products({key})/Attributes/$count``   GET         their number as ``text/plain``
``{root}/Products({key})/Assets``              GET         that product's assets: its quicklook, or none
``{root}/Products({key})/Assets({id})``        GET         one of them by its ``Id``
``{root}/Products({key})/Assets/$count``       GET         their number as ``text/plain``
``{root}/Products({key})/$value``              GET, HEAD   the file: :mod:`proseo_odata_web.download`
``{root}/Products({key})/Nodes...``            GET, HEAD   the folders and files in it: :mod:`.nodes`
``{root}/Products({key})/{Property}``          GET         one property (``Name``, ``ContentDate``, ...), and with
                                                           ``/$value`` its raw value: :mod:`~proseo_odata_web.properties`
=============================================  ==========  =========================================================

Other methods answer 405 (Cornice's fallback view), other paths 404 (the not-found view).
Every view is thin: authenticate, turn the query string into a storage ``Query``
(:func:`proseo_odata.query.build_query` through :mod:`proseo_odata_web.query`), call the
storage, serialise (:mod:`proseo_odata_web.odata_json`).
"""
from __future__ import annotations

import functools
import uuid
from json.encoder import encode_basestring
from typing import Callable

from proseo_odata.eviction import is_evicted
from proseo_odata.model import Asset, Product, Role
from proseo_odata.odata import edm
from proseo_odata.query import navigation_listing, value_options
from proseo_odata.errors import NotFound
from proseo_odata.storage import ProductEntry

from .. import keys
from ..auth import authenticate, can_read_product, product_visibilities, require_role
from ..odata_json import (
    JSONText, asset_json, attributes_json, context_url, json_response, listed_json, members_text, object_text,
    product_json, product_member_names, product_members, product_selection, product_text, select_properties,
    text_response,
)
from ..properties import property_routes
from ..service import metadata_view, service_document_view
from ..query import collection_query, collection_text, decoded_query_pairs, item_select, single_entity_options


class ProductNotFound(NotFound):
    """No visible product with that id in the user's mission (answered as if absent)."""

    def __init__(self, product_id):
        super().__init__(f"No product found with UUID {product_id}")


def parse_key(text: str) -> uuid.UUID:
    """The product id in ``Products(<key>)`` (:func:`proseo_odata_web.keys.parse_key`)."""
    return keys.parse_key(text, "product")


def _web(request):
    return request.registry.proseo


def visible_product(request, principal, key: str) -> Product:
    """The product named by ``key`` if the principal may read it, else 404 (as if absent)."""
    return keys.load_or_404(functools.partial(request.storage.get_product, principal.mission), parse_key(key),
                            ProductNotFound, functools.partial(can_read_product, principal))


# -- views -----------------------------------------------------------------------------------------


service_document = service_document_view(edm.PRIP_MODEL)
metadata = metadata_view(edm.PRIP_MODEL)


def product_assets(request, product) -> list:
    """A product's assets (``product``: a :class:`Product`, :class:`ProductEntry` or
    :class:`ProductText` with its ``Assets`` columns): the ``QUICKLOOK`` of its quicklook image
    (:attr:`~proseo_odata.model.Product.quicklook`), read at its ``Nodes`` URL in PRIP, or none
    (a file searched without one found, or not searched).
    None either when that URL would not answer the picture: the product may not be downloaded
    now (offline, or past its ``EvictionDate``: :func:`~proseo_odata.eviction.is_evicted`, as
    :func:`~proseo_odata.eviction.check_downloadable` decides for downloads),
    or the user may not read PRIP (an order's product read through ODIP by a user without the
    ``PRIP_USER`` role)."""
    quicklook = product.quicklook
    if not quicklook or product.name is None or not product.online or is_evicted(product.eviction_date):
        return []
    web = _web(request)
    root, service = web.mount_of_path(request.path_info)
    if service != "prip":
        if not authenticate(request).has_role(Role.PRIP_USER):
            return []
        root = web.prip_prefix.rstrip("/")
    base = f"{request.application_url}{root}/Products({product.id})"
    return [Asset.quicklook(product.id, quicklook,
                            keys.node_url(base, [product.name, *quicklook.split("/")]) + "/$value")]


def list_products(request):
    principal = require_role(request, Role.PRIP_USER)
    paged = collection_query(request, "Products").at()  # one now() for $filter and the nested options
    seed_aliases = _web(request).seed_aliases
    names = product_member_names(seed_aliases=seed_aliases, select=paged.select)
    result = request.storage.query_product_texts(
        principal.mission, paged.query, visibilities=product_visibilities(principal), members=names,
        render=functools.partial(_members_text, seed_aliases=seed_aliases, select=paged.select),
    )
    expand = paged.expand
    with_assets = "Assets" in expand
    items = [product_text(item.members, expand, item.attributes, seed_aliases,
                          product_assets(request, item) if with_assets else ()) for item in result.items]
    context = context_url(request, "Products", product_selection(paged.select, seed_aliases, expand))
    return json_response(collection_text(request, context, items, result, paged))


def _members_text(entry, *, seed_aliases, select) -> str:
    return members_text(product_members(entry, seed_aliases=seed_aliases, select=select))


def count_products(request):
    principal = require_role(request, Role.PRIP_USER)
    paged = collection_query(request, "Products", count_only=True)
    result = request.storage.query_products(
        principal.mission, paged.query, visibilities=product_visibilities(principal)
    )
    return text_response(str(result.count))


def get_product(request):
    principal = require_role(request, Role.PRIP_USER)
    expand, select = single_entity_options(request, "Products")
    expand = expand.at()
    product = visible_product(request, principal, request.matchdict["key"])
    seed_aliases = _web(request).seed_aliases
    members = product_members(ProductEntry.from_product(product), seed_aliases=seed_aliases, expand=expand,
                              select=select, assets=product_assets(request, product))
    context = encode_basestring(context_url(request, "Products/$entity", product_selection(select, seed_aliases, expand)))
    return json_response(JSONText(object_text({"@odata.context": context, **members})))


def _navigation(collection: str, stored: Callable[[object, Product], list]):
    """``Products(<key>)/<collection>``: the product's items listed by the request's options
    (:func:`proseo_odata.query.navigation_listing`: ``$filter``, ``$orderby``, ``$top``, ``$skip``,
    ``$count``, ``$select``), in memory: a product's items are few."""
    def view(request):
        principal = require_role(request, Role.PRIP_USER)
        seed_aliases = _web(request).seed_aliases
        listing = navigation_listing(decoded_query_pairs(request), collection, f"Products(...)/{collection}",
                                     seed_aliases=seed_aliases)
        product = visible_product(request, principal, request.matchdict["key"])
        items, count = listing.apply(stored(request, product))
        body = {"@odata.context": context_url(request, f"Products({product.id})/{collection}", listing.select)}
        if listing.count:
            body["@odata.count"] = count
        body["value"] = listed_json(collection, items, listing.select, seed_aliases)
        return json_response(body)

    view.__name__ = f"product_{collection.lower()}"
    return view


def product_attribute(request):
    """``Products(<key>)/Attributes('<Name>')`` (or ``Attributes(Name='<Name>')``): one attribute,
    at the URL full metadata gives as its ``@odata.id`` (:mod:`proseo_odata_web.json_format`)."""
    principal = require_role(request, Role.PRIP_USER)
    select = item_select(request, "Products(...)/Attributes(...)", edm.ATTRIBUTE_TYPES)
    product = visible_product(request, principal, request.matchdict["key"])
    name = keys.parse_name_key(request.matchdict["name"], "attribute")
    for attribute in attributes_json(product.attributes, _web(request).seed_aliases):
        if attribute["Name"] == name:
            context = context_url(request, f"Products({product.id})/Attributes/$entity", select)
            return json_response({"@odata.context": context, **select_properties(attribute, select, key="Name")})
    raise NotFound(f"Product {product.id} has no attribute {name!r}")


def product_asset(request):
    """``Products(<key>)/Assets(<Id>)``: one asset, at the URL full metadata gives as its
    ``@odata.id`` (:mod:`proseo_odata_web.json_format`)."""
    principal = require_role(request, Role.PRIP_USER)
    select = item_select(request, "Products(...)/Assets(...)", (edm.ASSET,))
    product = visible_product(request, principal, request.matchdict["key"])
    asset_id = keys.parse_key(request.matchdict["asset"], "asset")
    for asset in product_assets(request, product):
        if asset.id == asset_id:
            context = context_url(request, f"Products({product.id})/Assets/$entity", select)
            return json_response({"@odata.context": context, **select_properties(asset_json(asset), select)})
    raise NotFound(f"Product {product.id} has no asset {asset_id}")


def _navigation_count(collection: str, stored: Callable[[object, Product], list]):
    """``Products(<key>)/<collection>/$count``: the number of the product's items that
    ``$filter`` keeps (all without it) as ``text/plain``; the options that do not change a count
    read and ignored as on ``Products/$count``."""
    def view(request):
        principal = require_role(request, Role.PRIP_USER)
        listing = navigation_listing(decoded_query_pairs(request), collection, f"Products(...)/{collection}/$count",
                                     seed_aliases=_web(request).seed_aliases, count_only=True)
        product = visible_product(request, principal, request.matchdict["key"])
        return text_response(str(listing.apply(stored(request, product))[1]))

    view.__name__ = f"product_{collection.lower()}_count"
    return view


def _attributes(request, product: Product) -> list:
    return product.attributes


def product_value(request):
    """``$value``: who may download what is decided here; the HTTP file plumbing (ranges,
    digests, HEAD, redirects) is :func:`proseo_odata_web.download.product_file_response`."""
    from ..download import product_file_response

    principal = require_role(request, Role.PRIP_USER)
    value_options(decoded_query_pairs(request), "Products(...)/$value", "a product's file")
    product = visible_product(request, principal, request.matchdict["key"])
    return product_file_response(request, product, request.archive)


def _product_entity(request) -> tuple:
    """The product ``Products(<key>)`` answers, for its individual properties."""
    principal = require_role(request, Role.PRIP_USER)
    product = visible_product(request, principal, request.matchdict["key"])
    return str(product.id), product_json(product, seed_aliases=_web(request).seed_aliases)


# -- registration ----------------------------------------------------------------------------------

#: (suffix, route suffix name, {method: view}); HEAD follows GET (Cornice adds it).
ROUTES = (
    ("/", "service", {"GET": service_document}),
    ("", "service_noslash", {"GET": service_document}),
    ("/$metadata", "metadata", {"GET": metadata}),
    ("/Products", "products", {"GET": list_products}),
    ("/Products/$count", "products_count", {"GET": count_products}),
    ("/Products({key})", "product", {"GET": get_product}),
    ("/Products({key})/Attributes", "product_attributes", {"GET": _navigation("Attributes", _attributes)}),
    # a name may hold '/' (decoded from %2F before routing): the key is all up to the last ')',
    # and a key that is not a quoted name is a 400 (keys.parse_name_key), as other keys are
    ("/Products({key})/Attributes({name:.+})", "product_attribute", {"GET": product_attribute}),
    ("/Products({key})/Attributes/$count", "product_attributes_count",
     {"GET": _navigation_count("Attributes", _attributes)}),
    ("/Products({key})/Assets", "product_assets", {"GET": _navigation("Assets", product_assets)}),
    ("/Products({key})/Assets({asset})", "product_asset", {"GET": product_asset}),
    ("/Products({key})/Assets/$count", "product_assets_count", {"GET": _navigation_count("Assets", product_assets)}),
    # Downloads (contract section 7) - the view delegates to proseo_odata_web.download.
    ("/Products({key})/$value", "product_value", {"GET": product_value}),
    # Products(<key>)/Name, .../Name/$value: proseo_odata_web.properties
    *property_routes("Products", edm.PRODUCT, _product_entity, "product"),
)
