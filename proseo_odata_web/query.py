"""From a request's query string to a storage ``Query``, and from a ``QueryResult`` to the
collection body (contract section 6).

Decoding (contract 6, "URL decoding"): the raw ``QUERY_STRING`` is split on ``&`` and each name
and value percent-decoded exactly once (``+`` is a space, as in every form-encoded query;
``%2B`` is a plus, ``%26`` an ampersand inside a literal, ``%27`` a quote). The decoded pairs go
to the core's :func:`proseo_odata.odata.options.parse_query_options`, which accepts option names
with or without ``$`` in any case, merges repeated ``$expand`` and checks every value. The filter
and order-by are then bound to the entity model (:mod:`proseo_odata.odata.binding`); the storage
compiles the bound filter to SQL.

Paging: ``$top`` is capped at ``proseo.page_size.max``; without ``$top`` a page holds
``proseo.page_size.default`` items. When more items follow the page (and the client's ``$top``,
if any, is not used up) the body carries ``@odata.nextLink``: the same URL with ``$skiptoken``
(keyset, cheap for deep pages) and the absolute offset as ``%24skip=<n>``, and ``$top`` reduced
to what remains of the client's ``$top``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import parse_qsl, quote

from proseo_odata.odata import edm
from proseo_odata.odata.errors import ODataQueryOptionError
from proseo_odata.storage import Query, QueryResult

#: Navigation properties ``$expand`` accepts per entity set; ``Assets`` expands to [] (none stored).
EXPANDABLE = {"Products": ("Attributes", "Assets")}

_PAGING_OPTIONS = {"$skip", "$skiptoken", "$top", "skip", "skiptoken", "top"}


def decoded_query_pairs(request) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, percent-decoded once, in order."""
    raw = request.environ.get("QUERY_STRING", "")
    # WSGI gives the raw bytes as a latin-1 str; decode them (and %xx escapes) as UTF-8.
    raw_bytes = raw.encode("latin-1", "replace")
    pairs = parse_qsl(raw_bytes, keep_blank_values=True)
    decoded = []
    for name, value in pairs:
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

    options = parse_query_options(decoded_query_pairs(request))
    fmt = getattr(options, "format", None)
    if fmt is not None and not _is_json_format(fmt):
        raise ODataQueryOptionError(f"Unsupported $format {fmt!r}: only json is served", target="$format")
    request.environ["proseo.query_options"] = options
    return options


def _is_json_format(value: str) -> bool:
    text = value.strip().lower()
    return text == "json" or text.split(";")[0].strip() == "application/json"


@dataclass(frozen=True)
class PagedQuery:
    """The storage query plus what the response needs to page and shape the items."""

    query: Query
    expand: frozenset
    select: Optional[tuple]
    requested_top: Optional[int]
    skip: int


def _check_names(names, allowed, option: str, entity_set: str):
    for name in names:
        if name not in allowed:
            raise ODataQueryOptionError(
                f"{option}: {entity_set} has no navigation property {name!r}"
                if option == "$expand"
                else f"{option}: {entity_set} has no property {name!r}",
                target=option,
            )


def entity_options(request, options, entity_set: str = "Products", model=edm.PRIP_MODEL):
    """``(expand, select)`` of a request, validated against the entity set."""
    entity_type = model.entity_set(entity_set).entity_type
    expand = tuple(getattr(options, "expand", None) or ())
    _check_names(expand, EXPANDABLE.get(entity_set, ()), "$expand", entity_set)
    select = getattr(options, "select", None)
    if select is not None:
        select = tuple(select)
        if "*" in select:
            select = None
        else:
            names = {p.name for p in entity_type.all_properties()}
            _check_names(select, names, "$select", entity_set)
    return frozenset(expand), select


def build_query(request, options, entity_set: str, model=edm.PRIP_MODEL, *, count_only: bool = False) -> PagedQuery:
    """Bind the options to ``entity_set`` and size the page (see the module docstring)."""
    from proseo_odata.odata.binding import bind_filter, bind_orderby

    web = request.registry.proseo
    expand, select = entity_options(request, options, entity_set, model)
    bound_filter = None
    if getattr(options, "filter", None) is not None:
        bound_filter = bind_filter(options.filter, model, entity_set)
    orderby = ()
    if getattr(options, "orderby", None):
        orderby = bind_orderby(options.orderby, model, entity_set)
    skip = getattr(options, "skip", None) or 0
    top = getattr(options, "top", None)
    if count_only:
        query = Query(filter=bound_filter, top=0, count=True)
        return PagedQuery(query, frozenset(), None, None, 0)
    page = web.page_size_default if top is None else min(top, web.page_size_max)
    query = Query(
        filter=bound_filter,
        orderby=orderby,
        top=page,
        skip=skip,
        skiptoken=getattr(options, "skiptoken", None),
        count=bool(getattr(options, "count", False)),
        expand=frozenset(name for name in expand if name != "Assets"),
    )
    return PagedQuery(query, expand, select, top, skip)


def products_query(request, options, *, count_only: bool = False) -> PagedQuery:
    return build_query(request, options, "Products", edm.PRIP_MODEL, count_only=count_only)


def next_link(request, paged: PagedQuery, result: QueryResult, returned: int) -> Optional[str]:
    """``@odata.nextLink`` for the page just returned, or None when it is the last one."""
    if result.next_skiptoken is None and result.next_skip is None:
        return None
    remaining = None
    if paged.requested_top is not None:
        remaining = paged.requested_top - returned
        if remaining <= 0:
            return None
    next_skip = result.next_skip if result.next_skip is not None else paged.skip + returned
    kept = [
        (name, value) for name, value in decoded_query_pairs(request) if name.lower() not in _PAGING_OPTIONS
    ]
    if remaining is not None:
        kept.append(("$top", str(remaining)))
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
