"""The request side of a query: decoding the query string for the core, and the collection body.

Decoding (contract 6, "URL decoding"): the raw ``QUERY_STRING`` is split on ``&`` and each name
and value percent-decoded exactly once as UTF-8 (:func:`urllib.parse.parse_qsl`: ``+`` is a
space, as in every form-encoded query; ``%2B`` is a plus, ``%26`` an ampersand inside a literal,
``%27`` a quote). The pairs go to the core's :func:`proseo_odata.query.build_query` (collections)
or :func:`proseo_odata.query.entity_options` (one entity), which read, check, parse, bind and
page them (paging: see that module).
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any, Optional
from urllib.parse import parse_qsl, quote

from proseo_odata.odata.errors import ODataQueryOptionError
from proseo_odata.odata.options import json_format_of
from proseo_odata.query import PAGING_OPTIONS, PagedQuery, Paging, build_query, entity_options, item_options
from proseo_odata.storage import QueryResult

from .odata_json import JSONText, object_text

__all__ = ["collection_query", "collection_body", "collection_text", "decoded_query_pairs", "item_select",
           "single_entity_options"]


def decoded_query_pairs(request) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs, percent-decoded once as UTF-8, in order."""
    pairs = request.environ.get("proseo.query_pairs")
    if pairs is None:
        # WSGI gives the raw bytes as a latin-1 str: bytes outside %xx escapes are UTF-8 too
        raw = request.environ.get("QUERY_STRING", "")
        try:
            raw = raw.encode("latin-1").decode("utf-8")
            pairs = parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict")
        except (UnicodeEncodeError, UnicodeDecodeError):
            raise ODataQueryOptionError("The query string is not valid UTF-8 after URL decoding") from None
        request.environ["proseo.query_pairs"] = pairs
    return pairs


#: The pieces of a ``Prefer`` header (RFC 7240): quoted strings whole, the separators apart.
_PREFER_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[^",;]+|[,;]')


def _preferences(text: str):
    """``(name, value)`` of each preference of a ``Prefer`` header, in order: the part before its
    parameters, split at its ``=``, the value unquoted (commas and semicolons inside quoted
    strings belong to them). Linear in the header's length."""
    head, in_parameters = [], False
    for token in [*_PREFER_TOKENS.findall(text), ","]:
        if token == ",":
            name, _, value = "".join(head).partition("=")
            if name.strip():
                yield name.strip().lower(), value.strip().strip('"')
            head, in_parameters = [], False
        elif token == ";":
            in_parameters = True
        elif not in_parameters:
            head.append(token)


def preferred_page_size(request) -> Optional[int]:
    """The page size a ``Prefer: odata.maxpagesize=<n>`` asks for (OData 4.01 Part 1, 8.2.8.3;
    ``maxpagesize`` without the prefix too; the first one counts, RFC 7240 2), capped at
    ``proseo.page_size.max``; None without one, or with one that is not a positive integer (a
    preference the service cannot read is not applied, as any preference may not be)."""
    for name, value in _preferences(request.headers.get("Prefer", "")):
        if name in ("odata.maxpagesize", "maxpagesize"):
            digits = value.lstrip("0")
            if not (value.isascii() and value.isdigit()) or not digits:
                return None
            size = request.registry.proseo.page_size_max
            return size if len(digits) > 9 else min(int(digits), size)  # (no int() of 5,000 digits)
    return None


def _paging(request, page_size: Optional[int] = None) -> Paging:
    """The paging settings; ``page_size``: a client's preferred page size, which is then both the
    page size without ``$top`` and the largest one with it."""
    web = request.registry.proseo
    if page_size is None:
        return Paging(web.page_size_default, web.page_size_max, web.paging)
    return Paging(page_size, page_size, web.paging)


def _preference_applied(size: int):
    def callback(request, response) -> None:
        if response.status_int < 300:
            response.headers["Preference-Applied"] = f"odata.maxpagesize={size}"
    return callback


def collection_query(request, entity_set: str, *, count_only: bool = False) -> PagedQuery:
    """:func:`proseo_odata.query.build_query` for this request's query string. Query strings up
    to :data:`_KEPT_CACHED_LENGTH` characters are read once per entity set and paging
    (:func:`_built_query`): a client paging through a query and a poll send the same ones again,
    and a :class:`PagedQuery` holds no time (a view pins one ``now()`` for a request with
    :meth:`proseo_odata.query.PagedQuery.at`; without it the storage takes the time it compiles
    the filter) and is never changed. A query string that fails is read again each time."""
    pairs = decoded_query_pairs(request)  # checked (valid UTF-8) on every request; kept for next_link
    page_size = None if count_only else preferred_page_size(request)
    if page_size is not None and request.registry.proseo.paging == "cdse" and any(
            name.lower() in ("$top", "top") for name, _ in pairs):
        page_size = None  # in cdse mode $top is the page size: every page but the last stays full
    if page_size is not None:  # Prefer: odata.maxpagesize, answered Preference-Applied
        request.add_response_callback(_preference_applied(page_size))
    paging = _paging(request, page_size)
    seed_aliases = request.registry.proseo.seed_aliases
    if len(request.query_string) > _KEPT_CACHED_LENGTH:
        return build_query(entity_set, pairs, paging, count_only=count_only, seed_aliases=seed_aliases)
    return _built_query(entity_set, tuple(pairs), paging, count_only, seed_aliases)


@functools.lru_cache(maxsize=1024)
def _built_query(entity_set: str, pairs: tuple, paging: Paging, count_only: bool, seed_aliases: bool) -> PagedQuery:
    """``build_query`` of these decoded pairs, kept for the 1,024 most recent (at most ~2 MiB of
    keys): ~0.03 ms of a page's ~1.3 ms of CPU (bench.profile_page --layers)."""
    return build_query(entity_set, pairs, paging, count_only=count_only, seed_aliases=seed_aliases)


def format_option(request) -> Optional[str]:
    """The value of the request's ``$format`` (or ``format``, in any case), None without one; a
    400 when it is given twice, as every option (:func:`proseo_odata.odata.options.parse_query_options`)."""
    values = [value for name, value in decoded_query_pairs(request) if name.lower() in ("$format", "format")]
    if len(values) > 1:
        raise ODataQueryOptionError("the query option $format is given more than once", target="$format")
    return values[0] if values else None


def check_format(request) -> None:
    """The ``$format`` of a request whose view reads no other query option (the service
    document, a POST that creates an entity or runs an action), read as everywhere
    (:func:`proseo_odata.odata.options.json_format_of`): a 400 for one its answer cannot have,
    before the view acts."""
    value = format_option(request)
    if value is not None:
        json_format_of(value)


def item_select(request, where: str, types) -> Optional[tuple[str, ...]]:
    """``$select`` of a request for one item of a product's collection (``Attributes('<Name>')``),
    of ``types`` (:func:`proseo_odata.query.item_options`: 400 for a bad option, as everywhere,
    and for one that would narrow, order or page a list)."""
    return item_options(decoded_query_pairs(request), where, types, seed_aliases=request.registry.proseo.seed_aliases)


def single_entity_options(request, entity_set: str, where: Optional[str] = None) -> tuple:
    """:func:`proseo_odata.query.entity_options` (``(expand, select)``) for this request."""
    return entity_options(entity_set, decoded_query_pairs(request), seed_aliases=request.registry.proseo.seed_aliases,
                          where=where)


def next_link(request, paged: PagedQuery, result: QueryResult, returned: int) -> Optional[str]:
    """``@odata.nextLink`` for the page just returned, or None when it is the last one: the same
    URL with the paging options of :meth:`PagedQuery.next_page`."""
    paging = paged.next_page(result, returned)
    if paging is None:
        return None
    pairs = tuple(decoded_query_pairs(request))
    kept = _kept_options(pairs) if len(request.query_string) <= _KEPT_CACHED_LENGTH else _kept_options.__wrapped__(pairs)
    return f"{request.path_url}?{'&'.join([*kept, *_quoted(paging)])}"


#: Query strings up to this length are read (:func:`_built_query`) and have their next links'
#: options quoted (:func:`_kept_options`) once, 1,024 of each kept; longer ones each time.
_KEPT_CACHED_LENGTH = 2048


def _quoted(pairs) -> list[str]:
    return [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs]


@functools.lru_cache(maxsize=1024)
def _kept_options(pairs: tuple) -> tuple[str, ...]:
    """The next link's options but the paging ones, quoted: the same for every page of a
    query (a client paging, a poll), so each query's are quoted once."""
    return tuple(_quoted((name, value) for name, value in pairs if name.lower() not in PAGING_OPTIONS))


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


def collection_text(request, context: str, items: list[str], result: QueryResult, paged: PagedQuery) -> JSONText:
    """:func:`collection_body` as JSON text, for ``items`` written as JSON text already (a page
    of products: :func:`proseo_odata_web.odata_json.product_text`)."""
    body = collection_body(request, context, items, result, paged)
    return JSONText(object_text({
        name: "[" + ", ".join(value) + "]" if name == "value" else json.dumps(value, ensure_ascii=False)
        for name, value in body.items()
    }))
