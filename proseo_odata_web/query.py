"""From a request's query string to a storage ``Query``, and from a ``QueryResult`` to the
collection body (contract section 6).

Decoding (contract 6, "URL decoding"): the raw ``QUERY_STRING`` is split on ``&`` and each name
and value percent-decoded exactly once (``+`` is a space, as in every form-encoded query;
``%2B`` is a plus, ``%26`` an ampersand inside a literal, ``%27`` a quote). The decoded pairs go
to the core's :func:`proseo_odata.odata.options.parse_query_options`, which accepts option names
with or without ``$`` in any case, merges repeated ``$expand`` and checks every value. The filter
and order-by are then bound to the entity model (:mod:`proseo_odata.odata.binding`); the storage
compiles the bound filter to SQL.

Paging (``proseo.paging``, contract section 6): ``$top`` is capped at ``proseo.page_size.max``;
without ``$top`` a page holds ``proseo.page_size.default`` items. When more items follow the page,
the body carries ``@odata.nextLink``: the same URL with ``$skiptoken`` (keyset, cheap for deep
pages) and the absolute offset as ``%24skip=<n>``.

* ``cdse`` (default), as the Copernicus Data Space catalogue pages: ``$top`` is the page size.
  Every page but the last carries the link, also when the client gave ``$top``; the link keeps
  ``$top`` (capped) as the page size, so eodag and CDSETool, which ask ``$top=N`` and follow
  or rebuild the link, get every result.
* ``strict``: OData's ``$top`` caps the total. The link carries ``$top`` reduced to what remains
  of the client's ``$top``, and there is no link once it is used up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote, unquote_to_bytes

from proseo_odata.odata import edm
from proseo_odata.odata.errors import ODataError, ODataNotSupportedError, ODataQueryOptionError
from proseo_odata.storage import Query, QueryResult

#: Navigation properties served inline per entity set when expanded. ``$expand`` accepts every
#: name ``$metadata`` declares for the entity type (issue 9 item 3): these navigation
#: properties, and complex properties, which are always inline (accepted and ignored).
#: ``Assets`` expands to [] (none are stored); ``Product`` is an order's output product.
SERVED_NAVIGATION = {
    "Products": ("Attributes", "Assets"),
    "ProductionOrders": ("Product",),
}

_PAGING_OPTIONS = {"$skip", "$skiptoken", "$top", "skip", "skiptoken", "top"}


def decoded_query_pairs(request) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, percent-decoded once, in order."""
    raw = request.environ.get("QUERY_STRING", "")
    # WSGI gives the raw bytes as a latin-1 str; decode them (and %xx escapes) as UTF-8.
    raw_bytes = raw.encode("latin-1", "replace")
    decoded = []
    for part in raw_bytes.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        name = unquote_to_bytes(name.replace(b"+", b" "))
        value = unquote_to_bytes(value.replace(b"+", b" "))
        try:
            decoded.append((name.decode("utf-8"), value.decode("utf-8")))
        except UnicodeDecodeError:
            raise ODataQueryOptionError(
                f"Query option {name.decode('latin-1')!r} is not valid UTF-8 after URL decoding",
                target=name.decode("latin-1"),
            ) from None
    return decoded


def parse_request_options(request):
    """The request's system query options as the core's ``QueryOptions`` (cached per request)."""
    cached = request.environ.get("proseo.query_options")
    if cached is not None:
        return cached
    from proseo_odata.odata.options import parse_query_options

    options = parse_query_options(decoded_query_pairs(request))  # also rejects $format other than json
    request.environ["proseo.query_options"] = options
    return options


@dataclass(frozen=True)
class PagedQuery:
    """The storage query plus what the response needs to page and shape the items."""

    query: Query
    expand: frozenset
    select: Optional[tuple]
    requested_top: Optional[int]
    skip: int
    #: ``proseo.paging`` (``cdse`` or ``strict``).
    paging: str = "cdse"


def _check_names(names, allowed, option: str, entity_set: str):
    for name in names:
        if name not in allowed:
            raise ODataQueryOptionError(f"{option}: {entity_set} has no property {name!r}", target=option)


def _expand_name(entity_type, name: str, entity_set: str) -> Optional[str]:
    """The declared navigation property ``name`` denotes (any letter case), None for a complex
    property (always inline), else the 400 naming what the entity set declares."""
    from proseo_odata.odata.edm import ComplexType, NavigationProperty

    member = entity_type.find_member(name)
    if isinstance(member, NavigationProperty):
        return member.name
    if member is not None and isinstance(member.type, ComplexType):
        return None
    declared = [n.name for n in entity_type.all_navigation()] + [
        p.name for p in entity_type.all_properties() if isinstance(p.type, ComplexType) and p.alias_of is None
    ]
    raise ODataQueryOptionError(
        f"$expand: {entity_set} has no navigation or complex property {name!r}"
        + (f" (it has {', '.join(declared)})" if declared else ""),
        target="$expand",
    )


def entity_options(request, options, entity_set: str = "Products", model=edm.PRIP_MODEL):
    """``(expand, select)`` of a request, validated against the entity set.

    ``expand``: a frozenset of the declared navigation names to serve inline (see
    :data:`SERVED_NAVIGATION`); complex property names are accepted and dropped (they are always
    inline); nested expand options, ``$ref`` and ``$count`` are not served. ``select``: a tuple
    of property names, or None for all properties.
    """
    entity_type = model.entity_set(entity_set).entity_type
    expand = set()
    for item in options.expand:
        if item.options is not None or item.ref or item.count or len(item.path) != 1:
            raise ODataNotSupportedError(f"$expand={item.name}: only plain navigation names are served",
                                         target="$expand")
        if item.path[0] == "*":
            expand.update(n.name for n in entity_type.all_navigation())
            continue
        name = _expand_name(entity_type, item.path[0], entity_set)
        if name is not None:
            expand.add(name)
    expand &= set(SERVED_NAVIGATION.get(entity_set, ()))
    select = None
    if options.select and ("*",) not in options.select:
        names = {p.name for p in entity_type.all_properties()}
        select = []
        for path in options.select:
            if len(path) != 1:
                raise ODataNotSupportedError(f"$select={'/'.join(path)}: only top-level properties are served",
                                             target="$select")
            select.append(path[0])
        _check_names(select, names, "$select", entity_set)
        select = tuple(select)
    if options.search is not None:
        raise ODataNotSupportedError("$search is not supported; use $filter", target="$search")
    return frozenset(expand), select


def _aliases(options) -> dict:
    from proseo_odata.odata.parser import parse_filter

    return {name.lstrip("@"): parse_filter(text) for name, text in options.aliases}


def _orderby_paths(items) -> tuple:
    """Bound order-by items as the storage's ``((path, descending), ...)``."""
    from proseo_odata.odata.binding import BProperty

    paths = []
    for item in items:
        if not isinstance(item.expr, BProperty) or item.expr.variable is not None:
            raise ODataQueryOptionError(
                "$orderby accepts property paths only (for example ContentDate/Start desc)", target="$orderby"
            )
        paths.append((tuple(item.expr.path), item.descending))
    return tuple(paths)


def build_query(request, options, entity_set: str, model=edm.PRIP_MODEL, *, count_only: bool = False) -> PagedQuery:
    """Bind the options to ``entity_set`` and size the page (see the module docstring)."""
    from proseo_odata.odata.binding import bind_filter, bind_orderby

    web = request.registry.proseo
    expand, select = entity_options(request, options, entity_set, model)
    entity_type = model.entity_set(entity_set).entity_type
    bound_filter = None
    if options.filter is not None:
        bound_filter = bind_filter(options.filter, entity_type, model=model, aliases=_aliases(options))
    orderby = ()
    if options.orderby:
        try:
            items = bind_orderby(options.orderby, entity_type, model=model)
        except ODataError as exc:
            if exc.target in (None, "$filter"):  # the binder's default target is $filter
                exc.target = "$orderby"
            raise
        orderby = _orderby_paths(items)
    skip = options.skip or 0
    top = options.top
    if count_only:
        query = Query(filter=bound_filter, top=0, count=True)
        return PagedQuery(query, frozenset(), None, None, 0, web.paging)
    page = web.page_size_default if top is None else min(top, web.page_size_max)
    query = Query(
        filter=bound_filter,
        orderby=orderby,
        top=page,
        skip=skip,
        skiptoken=options.skiptoken,
        count=bool(options.count),
        expand=frozenset(name for name in expand if name == "Attributes"),  # what the storage loads
    )
    return PagedQuery(query, expand, select, top, skip, web.paging)


def products_query(request, options, *, count_only: bool = False) -> PagedQuery:
    return build_query(request, options, "Products", edm.PRIP_MODEL, count_only=count_only)


def next_link(request, paged: PagedQuery, result: QueryResult, returned: int) -> Optional[str]:
    """``@odata.nextLink`` for the page just returned, or None when it is the last one."""
    if result.next_skiptoken is None and result.next_skip is None:
        return None
    page_top = None
    if paged.requested_top is not None:
        if paged.paging == "strict":
            page_top = paged.requested_top - returned  # what remains of the client's total
            if page_top <= 0:
                return None
        else:
            page_top = paged.query.top  # the page size, as capped
    next_skip = result.next_skip if result.next_skip is not None else paged.skip + returned
    kept = [
        (name, value) for name, value in decoded_query_pairs(request) if name.lower() not in _PAGING_OPTIONS
    ]
    if page_top is not None:
        kept.append(("$top", str(page_top)))
    if result.next_skiptoken is not None:
        kept.append(("$skiptoken", result.next_skiptoken))
    kept.append(("$skip", str(next_skip)))
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in kept)
    return f"{request.path_url}?{query}"


def collection_body(request, context: str, items: list, result: QueryResult, paged: PagedQuery) -> dict:
    """``{"@odata.context", ["@odata.count"], "value", ["@odata.nextLink"]}``."""
    body: dict[str, Any] = {"@odata.context": context}
    if paged.query.count:
        body["@odata.count"] = result.count
    body["value"] = items
    link = next_link(request, paged, result, len(items))
    if link:
        body["@odata.nextLink"] = link
    return body
