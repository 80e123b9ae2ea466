"""The services' one way from a request's query options to the storage ``Query``.

:func:`build_query` takes the decoded query parameters of a collection request (``$filter``,
``$orderby``, ``$top``, ``$skip``, ``$skiptoken``, ``$count``, ``$expand``, ``$select``,
``$format``, ``$search``, ``@alias`` parameters), reads them
(:func:`proseo_odata.odata.options.parse_query_options`), parses and binds ``$filter`` and
``$orderby`` to the entity set's type through the process-wide
:class:`~proseo_odata.odata.cache.FilterCache` (an LRU keyed by entity type, text and alias
values: client filters repeat), resolves ``$orderby`` to storage paths and ``$expand``/``$select``
against the entity model, sizes the page (:class:`Paging`) and returns a :class:`PagedQuery`
whose ``query`` is what ``StorageBase.query_*`` runs. Every client error is an
:class:`~proseo_odata.odata.errors.ODataError` whose ``target`` names the option.
:func:`entity_options` does the same for a single-entity request (``$expand``/``$select``).

Paging (contract section 6, ``proseo.paging``): ``$top`` is capped at ``Paging.max``; without
``$top`` a page holds ``Paging.default`` items. :meth:`PagedQuery.next_page` says which options the
``@odata.nextLink`` carries: ``$skiptoken`` (keyset, cheap for deep pages), the absolute offset as
``$skip`` and ``$top``:

* ``cdse`` (default), as the Copernicus Data Space catalogue pages: ``$top`` is the page size.
  Every page but the last has a next link, also when the client gave ``$top``; the link keeps
  ``$top`` (capped) as the page size, so eodag and CDSETool, which ask ``$top=N`` and follow or
  rebuild the link, get every result.
* ``strict``: OData's ``$top`` caps the total. The link carries ``$top`` reduced to what remains
  of the client's ``$top``, and there is none once it is used up.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from proseo_odata.odata import edm
from proseo_odata.odata.binding import ITEM_VARIABLE, BProperty, bind_item_filter, bind_item_orderby, calls_now
from proseo_odata.odata.cache import FilterCache, default_cache
from proseo_odata.odata.errors import ODataError, ODataNotSupportedError, ODataQueryOptionError
from proseo_odata.odata.options import QueryOptions, parse_query_options
from proseo_odata.odata.parser import parse_aliases
from proseo_odata.odata.predicate import compile_item_predicate, sort_key
from proseo_odata.storage.base import Query, QueryResult
from proseo_odata.storage.mapping import DOMAIN_ACCESSOR

__all__ = ["PAGING_OPTIONS", "SERVED_NAVIGATION", "PagedQuery", "Paging", "build_query", "entity_options",
           "item_options", "value_options", "property_count_options", "COUNT_IGNORES", "Expanded", "ItemListing",
           "item_listing", "navigation_listing", "listings_of", "ITEM_TYPES"]

#: Navigation properties served inline per entity set when expanded. ``$expand`` accepts every
#: name ``$metadata`` declares for the entity type (issue 9 item 3): these navigation
#: properties, and complex properties, which are always inline (accepted and ignored).
#: ``Assets`` are a product's quicklook (its ``Product.quicklook``, made into an asset by the
#: web layer); ``Product`` is an order's output product.
SERVED_NAVIGATION = {
    "Products": ("Attributes", "Assets"),
    "ProductionOrders": ("Product",),
}
#: What the storage loads of :data:`SERVED_NAVIGATION` (the rest the view fills in; ``Assets``:
#: what they are made of, :class:`proseo_odata.storage.ProductText`).
_STORED_NAVIGATION = frozenset({"Attributes", "Assets"})
def _item_types(model: edm.EntityModel, entity_set: str) -> dict[str, tuple]:
    """Of ``entity_set``'s served collection-valued navigation properties: the type their items'
    options are bound to, and the types whose properties ``$select`` may name (its derived types,
    or itself: an attribute's typed forms)."""
    entity_type = _lookup(entity_set, model)[1]
    types = {}
    for navigation in entity_type.all_navigation():
        if navigation.collection and navigation.name in SERVED_NAVIGATION[entity_set]:
            target = navigation.target
            derived = tuple(t for t in model.types if isinstance(t, edm.StructuredType) and t is not target
                            and t.is_derived_from(target))
            types[navigation.name] = (target, derived or (target,))
    return types


#: A product's collections served with options of their own (nested in ``$expand``, or on their
#: URL: ``Products(<Id>)/Attributes?$filter=...``), ``Attributes`` and ``Assets``: the type their
#: options are bound to, and the types whose properties ``$select`` may name (from the model).
ITEM_TYPES: dict[str, tuple] = {}  # filled once _lookup is defined, below


@dataclass(frozen=True)
class ItemListing:
    """The options of one collection served whole (a product's ``Attributes``): nested in
    ``$expand`` (``$expand=Attributes($filter=Name eq 'cloudCover';$select=Name,Value)``) or on
    the collection's URL. :meth:`apply` lists the items as the options ask, in memory: the
    items of one product are few. ``$filter`` means what it means in a lambda over the items
    (:func:`proseo_odata.odata.binding.bind_item_filter`), ``$orderby`` sorts with OData's order
    of nulls, ``$count`` counts the items ``$filter`` keeps."""

    #: the bound ``$filter`` and ``$orderby`` items, compiled by :meth:`at`
    filter: Any = None
    orderby: tuple = ()
    top: Optional[int] = None
    skip: int = 0
    count: bool = False
    #: ``$select``'s property names, or None for all
    select: Optional[tuple] = None
    #: the option an error of :meth:`apply` names (``$expand`` for nested options); None: its own
    target: Optional[str] = None
    #: whether ``filter`` or ``orderby`` calls ``now()`` and is not compiled for one time yet (:meth:`at`)
    calls_now: bool = False
    #: ``filter`` and ``orderby`` compiled (:meth:`at`)
    predicate: Optional[Callable[[Any], bool]] = field(default=None, compare=False, repr=False)
    order: Optional[Callable] = field(default=None, compare=False, repr=False)
    ready: bool = field(default=False, compare=False, repr=False)

    def at(self, now: Optional[_dt.datetime] = None) -> "ItemListing":
        """This listing with ``$filter`` and ``$orderby`` compiled, ``now()`` being ``now`` (the
        time of the call by default); itself when they are compiled already and do not call
        ``now()``. A listing kept for many requests is made ready at each one
        (:meth:`Expanded.at`): its ``now()`` is the request's, the same for every product of a
        page."""
        if self.ready and not self.calls_now:
            return self
        option = "$filter"
        try:  # a 400 of the compilers (constant arithmetic out of range) names the option
            predicate = None if self.filter is None else compile_item_predicate(self.filter, DOMAIN_ACCESSOR, now=now)
            option = "$orderby"
            order = sort_key(self.orderby, DOMAIN_ACCESSOR, variable=ITEM_VARIABLE, now=now) if self.orderby else None
        except ODataError as exc:
            exc.target = self.target or option
            raise
        # compiled for one time: no longer depends on when it is applied
        return dataclasses.replace(self, ready=True, calls_now=False, predicate=predicate, order=order)

    def apply(self, items: Iterable) -> tuple[list, int]:
        """``(the items listed, how many the filter keeps)`` of ``items`` (domain objects, as
        :data:`proseo_odata.storage.mapping.DOMAIN_ACCESSOR` reads them). An error of the filter
        or the order (a pattern ``matchesPattern`` cannot read) names :attr:`target`."""
        ready = self.at()  # itself when compiled already and not calling now()
        try:
            kept = [item for item in items if ready.predicate(item)] if ready.predicate is not None else list(items)
            if ready.order is not None:
                kept.sort(key=ready.order)
        except ODataError as exc:
            if self.target is not None:
                exc.target = self.target
            raise
        end = None if self.top is None else self.skip + self.top
        return kept[self.skip:end], len(kept)


#: Listing with no option: every item in stored order.
_EVERY_ITEM = ItemListing(ready=True)


class Expanded(frozenset):
    """The names of the navigation properties to serve inline (a frozenset, which it compares
    and hashes as: what the storage loads does not depend on the options), and the
    :class:`ItemListing` of each that has options of its own (:meth:`listing`)."""

    __slots__ = ("listings",)

    def __new__(cls, names: Iterable[str] = (), listings: Optional[Mapping[str, ItemListing]] = None):
        expanded = super().__new__(cls, names)
        expanded.listings = dict(listings or {})
        return expanded

    def listing(self, name: str) -> ItemListing:
        """How the items of ``name`` are listed (every item, in stored order, without options)."""
        return self.listings.get(name, _EVERY_ITEM)

    def at(self, now: Optional[_dt.datetime] = None) -> "Expanded":
        """These names with each listing ready for one request (:meth:`ItemListing.at`, one
        ``now`` for all); itself when none calls ``now()``."""
        if not any(listing.calls_now for listing in self.listings.values()):
            return self
        now = now or _dt.datetime.now(_dt.timezone.utc)
        return Expanded(self, {name: listing.at(now) for name, listing in self.listings.items()})


def listings_of(expand: Iterable[str]) -> Mapping[str, ItemListing]:
    """The listings of ``expand`` (an :class:`Expanded`); none for a plain set of names."""
    return getattr(expand, "listings", None) or {}


def item_listing(options: QueryOptions, collection: str, where: str, *, seed_aliases: bool = True,
                 aliases: Sequence = (), model: Optional[edm.EntityModel] = None, nested: bool = True
                 ) -> ItemListing:
    """The :class:`ItemListing` of ``options`` (parsed, with ``$filter`` and ``$orderby`` as
    expressions) for the items of ``collection`` (a name of :data:`ITEM_TYPES`): ``nested`` in
    ``$expand`` (its errors then name ``$expand``, and ``$it``, the product there, is refused),
    or on the collection's URL (``$it`` is the item). A bad option is a 400
    (:class:`~proseo_odata.odata.errors.ODataError`), as everywhere; ``$search``,
    ``$skiptoken``, ``$levels``, a nested ``$expand`` (the items have no navigation) and, nested,
    ``$format`` are refused. ``aliases``: the parameter aliases, ``(('@p', 'value text'), ...)``
    (the request's, then those given inside the parentheses). ``where`` names the collection in
    the messages."""
    item_type, types = ITEM_TYPES[collection]
    model = model or edm.PRIP_MODEL
    for name, given in (("$search", options.search), ("$skiptoken", options.skiptoken),
                        ("$levels", options.levels), ("$expand", options.expand or None),
                        ("$format", options.format if nested else None)):
        if given is not None:
            raise ODataNotSupportedError(f"{name} is not supported on {where}", target=name)
    values = parse_aliases(aliases) if options.filter is not None or options.orderby else {}
    bound = None
    if options.filter is not None:
        bound = bind_item_filter(options.filter, item_type, model=model, aliases=values, it_is_item=not nested)
    orderby = ()
    if options.orderby:
        orderby = bind_item_orderby(options.orderby, item_type, model=model, aliases=values, it_is_item=not nested)
    names = {p.name for t in types for p in t.all_properties() if seed_aliases or not p.seed_only}
    calling_now = (bound is not None and calls_now(bound)) or any(calls_now(item.expr) for item in orderby)
    listing = ItemListing(bound, orderby, options.top, options.skip or 0, bool(options.count),
                          _selected(where, names, options), "$expand" if nested else None, calling_now)
    return listing if calling_now else listing.at()


#: Option names (lower case, with and without ``$``) that a next link replaces.
PAGING_OPTIONS = frozenset({"$skip", "$skiptoken", "$top", "skip", "skiptoken", "top"})

_MODELS = (edm.PRIP_MODEL, edm.ODIP_MODEL)


@dataclass(frozen=True)
class Paging:
    """Page sizes and paging mode (``proseo.page_size.default``, ``proseo.page_size.max``,
    ``proseo.paging``)."""

    default: int = 100
    max: int = 1000
    mode: str = "cdse"

    def __post_init__(self):
        if self.mode not in ("cdse", "strict"):
            raise ValueError(f"paging mode must be cdse or strict, not {self.mode!r}")


@dataclass(frozen=True)
class PagedQuery:
    """The storage query plus what the response needs to page and shape the items."""

    query: Query
    #: navigation properties to serve inline (:data:`SERVED_NAVIGATION`), and how to list the
    #: items of each (:class:`Expanded`)
    expand: frozenset
    #: the property names to return, or None for all
    select: Optional[tuple]
    requested_top: Optional[int]
    skip: int
    paging: str = "cdse"
    #: whether the storage's ``$filter`` calls ``now()``
    filter_calls_now: bool = False

    def at(self, now: Optional[_dt.datetime] = None) -> "PagedQuery":
        """This query ready for one request, ``now()`` being one time in its ``$filter`` (which
        the storage compiles: :attr:`Query.now`) and in the nested options of its ``$expand``
        (:meth:`Expanded.at`): ``now`` (the time of the call by default). So a product that
        ``Attributes/any(a: a/Value gt now())`` selects shows the attributes that
        ``$expand=Attributes($filter=Value gt now())`` finds by the same time. Itself when
        neither calls ``now()``."""
        expand_now = any(listing.calls_now for listing in listings_of(self.expand).values())
        if not self.filter_calls_now and not expand_now:
            return self
        now = now or _dt.datetime.now(_dt.timezone.utc)
        return dataclasses.replace(
            self, query=dataclasses.replace(self.query, now=now) if self.filter_calls_now else self.query,
            expand=self.expand.at(now) if expand_now else self.expand)

    def next_page(self, result: QueryResult, returned: int) -> Optional[tuple]:
        """The paging options of the next page as ``((name, value), ...)`` (``$top`` when the
        client gave one, ``$skiptoken`` when the storage made one, ``$skip``), or None when the
        page just returned (``returned`` items of ``result``) is the last one."""
        if result.next_skiptoken is None and result.next_skip is None:
            return None
        options = []
        if self.requested_top is not None:
            if self.paging == "strict":
                page_top = self.requested_top - returned  # what remains of the client's total
                if page_top <= 0:
                    return None
            else:
                page_top = self.query.top  # the page size, as capped
            options.append(("$top", str(page_top)))
        if result.next_skiptoken is not None:
            options.append(("$skiptoken", result.next_skiptoken))
        next_skip = result.next_skip if result.next_skip is not None else self.skip + returned
        options.append(("$skip", str(next_skip)))
        return tuple(options)


def _lookup(entity_set: str, model: Optional[edm.EntityModel]) -> tuple:
    """``(model, entity type)`` of ``entity_set`` in ``model``, or in the PRIP or ODIP model."""
    for candidate in (model,) if model is not None else _MODELS:
        for declared in candidate.entity_sets:
            if declared.name == entity_set:
                return candidate, declared.entity_type
    raise KeyError(entity_set)


ITEM_TYPES.update(_item_types(edm.PRIP_MODEL, "Products"))


def build_query(entity_set: str, params, paging: Paging = Paging(), *, model: Optional[edm.EntityModel] = None,
                count_only: bool = False, cache: FilterCache = default_cache, seed_aliases: bool = True) -> PagedQuery:
    """The storage query of a collection request on ``entity_set`` (see the module docstring).

    ``params``: the decoded query parameters, a mapping or ``(name, value)`` pairs. ``model``:
    the entity model (found for the PRIP and ODIP sets). ``count_only``: for ``/$count``, a
    query that only counts. ``seed_aliases``: whether the seed documents' keys are written (and
    so may be named by a nested ``$select``: ``Attributes($select=StringValue)``).
    """
    options = parse_query_options(params, parse_expressions=False)
    model, entity_type = _lookup(entity_set, model)
    expand, select = _shape(entity_set, entity_type, options, model, seed_aliases)
    bound_filter = None
    if options.filter_text is not None:
        bound_filter = cache.bound_filter(options.filter_text, entity_type, model=model, aliases=options.aliases)
    filter_calls_now = bound_filter is not None and calls_now(bound_filter)
    orderby = ()
    if options.orderby_text is not None:
        orderby = _orderby_paths(cache.bound_orderby(options.orderby_text, entity_type, model=model))
    if count_only:
        return PagedQuery(Query(filter=bound_filter, top=0, count=True), frozenset(), None, None, 0, paging.mode,
                          filter_calls_now)
    skip = options.skip or 0
    top = options.top
    query = Query(
        filter=bound_filter,
        orderby=orderby,
        top=paging.default if top is None else min(top, paging.max),
        skip=skip,
        skiptoken=options.skiptoken,
        count=bool(options.count),
        expand=expand & _STORED_NAVIGATION,
    )
    return PagedQuery(query, expand, select, top, skip, paging.mode, filter_calls_now)


def entity_options(entity_set: str, params, *, model: Optional[edm.EntityModel] = None,
                   seed_aliases: bool = True, where: Optional[str] = None) -> tuple:
    """``(expand, select)`` of a single-entity request on ``entity_set``: the options are read
    and checked as for a collection, ``expand`` is the frozenset of navigation names to serve
    inline and ``select`` a tuple of property names or None for all. An option that narrows,
    orders or pages a collection (``$filter``, ``$top``, ...) is refused (400), not ignored: the
    client would take the entity for one that passed its filter (Olingo, prosEO's Java server,
    refuses them too); ``where`` names the entity in that message (``Products(...)``)."""
    options = parse_query_options(params)
    given = _given_options(options, _LISTING)
    if given:
        raise ODataNotSupportedError(f"{given[0]} is not supported on {where or entity_set + '(...)'}, one entity",
                                     target=given[0])
    model, entity_type = _lookup(entity_set, model)
    return _shape(entity_set, entity_type, options, model, seed_aliases)


def _check_item_expand(options: QueryOptions, item_type: edm.StructuredType, where: str) -> None:
    """``$expand`` of items without navigation (an attribute, a checksum): ``*`` or a complex
    property (always inline), without options of its own; else a 400."""
    for item in options.expand:
        if item.path[0] != "*":
            _expand_name(item_type, item.path[0], where)
        if item.options is not None:
            raise ODataNotSupportedError(f"$expand={item.path[0]}(...) is not supported on {where}", target="$expand")


def _given_options(options: QueryOptions, names: Sequence[str]) -> list[str]:
    """Which of the system query options ``names`` ``options`` holds (``$count=false`` and an
    empty ``$orderby`` are none)."""
    values = {"$filter": options.filter, "$orderby": options.orderby or None, "$top": options.top,
              "$skip": options.skip, "$skiptoken": options.skiptoken, "$search": options.search,
              "$count": options.count or None, "$expand": options.expand or None, "$select": options.select or None}
    return [name for name in names if values[name] is not None]


#: The options that narrow, order or page a collection.
_LISTING = ("$filter", "$orderby", "$top", "$skip", "$skiptoken", "$search", "$count")


def navigation_listing(params, collection: str, where: str, *, seed_aliases: bool = True,
                       count_only: bool = False) -> ItemListing:
    """The :class:`ItemListing` of a request for a product's ``collection`` (a name of
    :data:`ITEM_TYPES`) on its own URL (``Products(<Id>)/Attributes?$filter=...&$orderby=Name``):
    its options read and checked as everywhere (a bad one is a 400 naming it); ``$expand`` may
    name only ``*`` or a complex property (the items have no navigation; complex properties are
    always inline). ``count_only``: for ``.../Attributes/$count``, where ``$filter`` counts and the
    options that do not change a count (:data:`COUNT_IGNORES`) are read, checked as everywhere
    (a name the items do not have is a 400, as on ``Products/$count``) and ignored."""
    options = parse_query_options(params)
    item_type = ITEM_TYPES[collection][0]
    _check_item_expand(options, item_type, where)
    listing = item_listing(dataclasses.replace(options, expand=(), skiptoken=None if count_only else options.skiptoken),
                           collection, where, seed_aliases=seed_aliases, aliases=options.aliases, nested=False)
    if count_only:  # what $filter keeps, all of it
        listing = dataclasses.replace(listing, orderby=(), order=None, top=None, skip=0)
    return listing


def item_options(params, where: str, types: Sequence[edm.StructuredType], *,
                 seed_aliases: bool = True) -> Optional[tuple[str, ...]]:
    """``$select``'s property names (None for all) of a request for one item of a product's
    collection (``Attributes('<Name>')``), of ``types`` (an attribute's typed forms). The options
    are read and checked as everywhere; one that would narrow, order or page a list (``$count=true``
    too) is refused (400), not ignored, as on every entity read by key (:func:`entity_options`);
    so is a nested option in ``$expand``, and a ``$select`` or ``$expand`` of a name the types do
    not declare (the seed documents' keys only with ``seed_aliases``, as ``$metadata`` declares
    them). ``where`` names the item in the message."""
    options = parse_query_options(params)
    given = _given_options(options, _LISTING)
    if given:
        raise ODataNotSupportedError(f"{given[0]} is not supported on {where}, one entity", target=given[0])
    _check_item_expand(options, types[0], where)
    names = {p.name for t in types for p in t.all_properties() if seed_aliases or not p.seed_only}
    return _selected(where, names, options)


#: The options that do not change a count (OData 4.01 Part 1, 11.2.10: ``/$count`` is not
#: affected by them): accepted and ignored by ``Products/$count``, ``.../Attributes/$count`` and
#: ``.../Checksum/$count`` (there read and checked as everywhere: a malformed one, or a name the
#: entities or items do not have, is a 400).
COUNT_IGNORES = ("$top", "$skip", "$orderby", "$skiptoken", "$count", "$expand", "$select")


def property_count_options(params, item_type: edm.ComplexType, where: str, *, seed_aliases: bool = True) -> None:
    """Check the options of the ``/$count`` of a collection-valued property's values
    (``Products(<Id>)/Checksum/$count``), items of ``item_type``: ``$filter`` and ``$search``
    refused (nothing narrows such a count), the options that do not change a count
    (:data:`COUNT_IGNORES`) read and checked as on ``Products/$count`` (``$orderby`` bound to the
    items, the names in ``$select`` and ``$expand`` theirs, else a 400) and ignored."""
    options = value_options(params, where, "a count of all of them", COUNT_IGNORES)
    if options.orderby:
        bind_item_orderby(options.orderby, item_type, aliases=parse_aliases(options.aliases), it_is_item=True)
    _check_item_expand(options, item_type, where)
    _selected(where, {p.name for p in item_type.all_properties() if seed_aliases or not p.seed_only}, options)


def value_options(params, where: str, what: str, ignored: Sequence[str] = ()) -> QueryOptions:
    """Check the options of a request for a value: one property of an entity
    (``Products(<id>)/Name``), its raw value (``.../Name/$value``), the number of a navigation's
    entities (``.../Attributes/$count``, ``ignored``: :data:`COUNT_IGNORES`): read and checked
    as everywhere, and each but ``$format`` and those ``ignored`` refused (400): none of them
    applies, and one ignored would be taken as applied. ``where`` and ``what`` (``"a property's
    value"``) name the value in the message. Returns the options read."""
    options = parse_query_options(params)
    given = _given_options(options, [name for name in (*_LISTING, "$expand", "$select") if name not in ignored])
    if given:
        raise ODataNotSupportedError(f"{given[0]} is not supported on {where}, {what}", target=given[0])
    return options


def _shape(entity_set: str, entity_type: edm.EntityType, options: QueryOptions, model,
           seed_aliases: bool = True) -> tuple:
    """``(expand, select)`` checked against the entity type (``expand`` an :class:`Expanded`:
    each collection of :data:`ITEM_TYPES` may have its options); ``$search`` is refused."""
    if options.search is not None:
        raise ODataNotSupportedError("$search is not supported; use $filter", target="$search")
    expand = set()
    listings = {}
    for item in options.expand:  # parse_expand serves names of one segment
        if item.path[0] == "*":
            if item.options is not None:
                raise ODataNotSupportedError("$expand=*(...): options are served on a named collection only",
                                             target="$expand")
            expand.update(n.name for n in entity_type.all_navigation())
            continue
        name = _expand_name(entity_type, item.path[0], entity_set)
        if name is not None:
            expand.add(name)
        if item.options is None:
            continue
        if entity_set != "Products" or name not in ITEM_TYPES:
            raise ODataNotSupportedError(f"$expand={item.path[0]}(...): options are served on "
                                         f"{' and '.join(ITEM_TYPES)} of a product only", target="$expand")
        if name in listings:
            raise ODataQueryOptionError(f"$expand names {name} twice with options", target="$expand")
        try:
            listings[name] = item_listing(item.options, name, f"$expand={name}", seed_aliases=seed_aliases,
                                          aliases=options.aliases + item.options.aliases, model=model)
        except ODataError as exc:  # its options are in $expand's value
            exc.target = "$expand"
            raise
    expand &= set(SERVED_NAVIGATION.get(entity_set, ()))
    return (Expanded(expand, listings),
            _selected(entity_set, {p.name for p in entity_type.all_properties()}, options,
                      [n.name for n in entity_type.all_navigation()]))


def _selected(where: str, names: set[str], options: QueryOptions,
              navigation: Sequence[str] = ()) -> Optional[tuple[str, ...]]:
    """``$select``'s property names, each one of ``names`` (else 400) as declared: a name in
    another letter case is the one it matches, as in ``$filter`` (when only one does); None for
    all. ``navigation``: the navigation properties, which ``$expand`` serves (their message)."""
    if not options.select or ("*",) in options.select:
        return None
    select = []
    for path in options.select:
        if len(path) != 1:
            raise ODataNotSupportedError(f"$select={'/'.join(path)}: only top-level properties are served",
                                         target="$select")
        name = path[0]
        if name not in names:
            matches = [declared for declared in names if declared.lower() == name.lower()]
            if len(matches) != 1:
                if name.lower() in {n.lower() for n in navigation}:
                    raise ODataQueryOptionError(f"$select: {name} is a navigation property of {where}; "
                                                f"$expand={name} serves it inline", target="$select")
                raise ODataQueryOptionError(f"$select: {where} has no property {name!r}", target="$select")
            name = matches[0]
        select.append(name)
    return tuple(select)


def _expand_name(entity_type: edm.EntityType, name: str, entity_set: str) -> Optional[str]:
    """The declared navigation property ``name`` denotes (any letter case), None for a complex
    property (always inline), else the 400 naming what the entity set declares."""
    member = entity_type.find_member(name)
    if isinstance(member, edm.NavigationProperty):
        return member.name
    if member is not None and isinstance(member.type, edm.ComplexType):
        return None
    declared = [n.name for n in entity_type.all_navigation()] + [
        p.name for p in entity_type.all_properties() if isinstance(p.type, edm.ComplexType) and p.alias_of is None
    ]
    raise ODataQueryOptionError(
        f"$expand: {entity_set} has no navigation or complex property {name!r}"
        + (f" (it has {', '.join(declared)})" if declared else ""),
        target="$expand",
    )


def _orderby_paths(items) -> tuple:
    """Bound order-by items as the storage's ``((path, descending), ...)``."""
    paths = []
    for item in items:
        if not isinstance(item.expr, BProperty) or item.expr.variable is not None:
            raise ODataQueryOptionError(
                "$orderby accepts property paths only (for example ContentDate/Start desc)", target="$orderby"
            )
        paths.append((tuple(item.expr.path), item.descending))
    return tuple(paths)
