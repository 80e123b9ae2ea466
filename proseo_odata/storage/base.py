"""The storage contract: what every backend does, method by method.

A backend is a module exposing ``load_from_config(settings) -> StorageBase`` (Kinto style); the
.ini names it with ``proseo.storage.backend`` and :func:`proseo_odata.storage.load_storage`
resolves it. The shipped backend is :mod:`proseo_odata.storage.sqlalchemy` (SQLite and
PostgreSQL); :mod:`proseo_odata.storage.testing` is the contract suite any backend can run.

Transactions
------------
A storage object returned by ``load_from_config`` is *unbound*: each data method called on it
runs in a transaction of its own, committed when the method returns. For several calls in one
transaction use either

* ``with storage.transaction() as tx: ...`` — ``tx`` is a *bound* storage; the transaction
  commits when the block ends and rolls back if it raises (CLI, workers, tests); or
* ``storage.join(transaction_manager, read_only=...)`` — a bound storage whose transaction a
  ``transaction`` package manager commits or aborts (the web layer joins pyramid_tm's
  ``request.tm`` this way: the one hook it uses; it never sees the database's sessions); or
* ``storage.bind(handle)`` — a bound storage using a transaction someone else manages through a
  backend-specific ``handle`` (a SQLAlchemy ``Session`` for the shipped backend).

A bound storage never commits or rolls back by itself.

Objects
-------
Methods take and return the dataclasses of :mod:`proseo_odata.model`. Every object belongs to a
mission; ``get_*`` methods take the mission code and raise :class:`NotFoundError` for an object
of another mission, exactly as for a missing one (contract section 8). ``update_*`` methods
implement optimistic concurrency: the object's ``revision`` must equal the stored one, the
stored revision is then incremented, and the returned object carries it; a stale revision raises
:class:`ConflictError` and changes nothing (no lost update). ``get_*(..., for_update=True)``
additionally locks the row until the end of the transaction where the database supports it
(PostgreSQL ``SELECT ... FOR UPDATE``), so read-modify-write sequences inside one transaction
serialise instead of failing.

Protocols
---------
The contract is the sum of the protocols a backend can implement alone, each with its part of
the contract suite (:mod:`proseo_odata.storage.testing`): :class:`Store` (lifecycle,
transactions, missions: every part has them), :class:`CatalogueStore` (products, subscriptions),
:class:`UserStore` (users), :class:`OrderStore` (workflows, orders, the production queue) and
:class:`OutboxStore` (notifications). :class:`StorageBase` composes them: what the services and
workers use, and what ``load_from_config`` returns.

Queries
-------
``query_*`` methods take a :class:`Query` (the parsed system query options, never text) and
return a :class:`QueryResult`. See those classes for the paging rules.
"""
from __future__ import annotations

import contextlib
import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence

from proseo_odata.model import (
    Mission,
    OutboxMessage,
    Product,
    ProductionOrder,
    Subscription,
    User,
    VisibilityClass,
    Workflow,
)
from proseo_odata.secretbox import SecretBox

from proseo_odata.model.collections import DEFAULT_COLLECTION_RULE, CollectionRule

__all__ = [
    "CatalogueStore", "ClaimedNotification", "ENTITY_SETS", "OperationsStats", "OrderQueueStats", "OrderStore",
    "OutboxStore", "ProductEntry", "Query", "QueryResult", "StorageBase", "Store", "UserStore",
]

#: Entity set names a ``Query`` can address (the ``entity_set`` passed to the filter compiler).
ENTITY_SETS = ("Products", "Subscriptions", "Workflows", "ProductionOrders")

OrderBy = tuple[tuple[tuple[str, ...], bool], ...]


@dataclass(frozen=True)
class Query:
    """A query against one entity set, built from OData system query options.

    Attributes:
        filter: a *bound* filter AST (produced by :mod:`proseo_odata.odata`) or ``None``. The
            backend hands it to its filter compiler
            (``proseo_odata.storage.mapping.compile_filter`` for the SQLAlchemy backend).
        orderby: ``((path, descending), ...)`` where ``path`` is a tuple of property names, for
            example ``(("ContentDate", "Start"), True)``. The backend always appends ``Id``
            ascending (unless ``Id`` is already a key), so the order is total and stable.
        top: at most this many items (``None``: no limit; the web layer caps it).
        skip: skip this many items of the ordered result. Ignored when ``skiptoken`` is given.
        skiptoken: an opaque keyset token from a previous :attr:`QueryResult.next_skiptoken`;
            the page starts right after the row it encodes. A token only fits the ``orderby`` it
            was made for; any other token raises :class:`InvalidQueryError`.
        count: also count all items matching ``filter`` (ignoring paging).
        expand: navigation properties to load, e.g. ``frozenset({"Attributes"})``.
        now: the value of ``now()`` in ``filter`` (a timezone-aware datetime), so that the
            caller's own uses of it (a nested ``$expand`` option's) agree with the storage's;
            ``None``: the time the backend compiles the filter (once per call: the count and
            the page of one call have the same).
    """

    filter: Any = None
    orderby: OrderBy = ()
    top: int | None = None
    skip: int = 0
    skiptoken: str | None = None
    count: bool = False
    expand: frozenset[str] = field(default_factory=frozenset)
    now: datetime | None = None

    def __post_init__(self):
        object.__setattr__(self, "orderby", tuple((tuple(path), bool(desc)) for path, desc in self.orderby))
        object.__setattr__(self, "expand", frozenset(self.expand))
        if self.top is not None and self.top < 0:
            raise ValueError("top must not be negative")
        if self.skip < 0:
            raise ValueError("skip must not be negative")


@dataclass
class QueryResult:
    """One page of a query.

    Attributes:
        items: the domain objects of this page, in order.
        count: the number of all matching items when ``Query.count`` was set, else ``None``. A
            backend may count exactly up to a documented bound only and estimate above it: the
            SQLAlchemy backend on PostgreSQL answers the planner's estimate, at least
            ``proseo.count.exact_limit + 1`` and at least the rows this page shows to exist
            (:mod:`proseo_odata.storage.counts`).
        next_skiptoken: token for the next page when more items exist after this page (only
            when ``Query.top`` limited the page), else ``None``. Every page but the last is full.
        next_skip: the absolute offset of the next page (same condition as ``next_skiptoken``):
            a query with ``skip=next_skip`` and no token returns exactly the same rows as one
            with ``skiptoken=next_skiptoken``.
    """

    items: list
    count: int | None = None
    next_skiptoken: str | None = None
    next_skip: int | None = None


class ProductEntry(NamedTuple):
    """A product as a response answers it (:meth:`CatalogueStore.query_product_entries`): the
    values of its JSON and nothing else -- no visibility, archive key or revision, no domain
    checks -- so a page of 100 needs no :class:`~proseo_odata.model.Product` objects.

    ``footprint`` is the stored WKT; ``footprint_literal`` and ``footprint_geojson`` its
    ``Footprint`` literal and ``GeoFootprint`` GeoJSON text as written with the product (None:
    not rendered, the serialiser renders ``footprint``). ``checksums`` are
    :class:`~proseo_odata.model.Checksum`-shaped (``algorithm``, ``value``, ``date``) ordered by
    algorithm; ``attributes`` the product's :class:`~proseo_odata.model.Attribute` objects
    ordered by name when ``"Attributes"`` was expanded, else None; ``quicklook`` the product's
    (:attr:`~proseo_odata.model.Product.quicklook`)."""

    id: uuid.UUID
    name: str
    content_type: str
    content_length: int
    origin_date: datetime | None
    publication_date: datetime
    modification_date: datetime
    eviction_date: datetime
    online: bool
    content_start: datetime | None
    content_end: datetime | None
    production_type: str
    footprint: str | None
    footprint_literal: str | None
    footprint_geojson: str | None
    collection: str | None
    checksums: Sequence
    attributes: Sequence | None = None
    quicklook: str | None = None

    @classmethod
    def from_product(cls, product: Product) -> "ProductEntry":
        """The entry of a loaded (or just written) product: its stored footprint renderings
        while ``footprint`` is still the WKT they were made from."""
        rendered = product.rendered_footprint
        literal = geojson = None
        if rendered is not None and rendered[0] == product.footprint:
            literal, geojson = rendered[1], rendered[2]
        return cls(
            product.id, product.name, product.content_type, product.content_length, product.origin_date,
            product.publication_date, product.modification_date, product.eviction_date, bool(product.online),
            product.content_start, product.content_end, str(product.production_type), product.footprint,
            literal, geojson, product.collection, product.checksums, product.attributes, product.quicklook,
        )


class QuicklookSearch(NamedTuple):
    """What a search of a product's file for its quicklook found, for
    :meth:`CatalogueStore.record_quicklooks`: ``quicklook``, its path or
    :data:`~proseo_odata.model.NO_QUICKLOOK`; ``seen``, the product's
    :attr:`~proseo_odata.model.Product.quicklook` when the search began (None: not searched;
    ``NO_QUICKLOOK`` when searched again)."""

    product_id: uuid.UUID
    archive_key: str
    quicklook: str
    seen: str | None = None


class ProductFile(NamedTuple):
    """A product as its file is checked or searched (:meth:`CatalogueStore.query_product_files`):
    the file's key, what the catalogue records of its bytes, and what a search of it for a
    quicklook found (:attr:`~proseo_odata.model.Product.quicklook`). ``checksums``:
    ``(algorithm, value)`` pairs ordered by algorithm, or None when they were not asked for."""

    id: uuid.UUID
    name: str
    archive_key: str | None
    content_length: int | None
    checksums: Sequence | None = None
    quicklook: str | None = None

    @classmethod
    def from_product(cls, product: Product, checksums: bool = True) -> "ProductFile":
        pairs = sorted((c.algorithm, c.value) for c in product.checksums) if checksums else None
        return cls(product.id, product.name, product.archive_key, product.content_length, pairs, product.quicklook)


class ProductText(NamedTuple):
    """A product of :meth:`CatalogueStore.query_product_texts`: ``members``, the JSON text of
    its members (no braces), its attributes (loaded when expanded, else None), and what its
    assets are made of when ``Assets`` is expanded: its ``Id``, ``Name``, quicklook
    (:attr:`~proseo_odata.model.Product.quicklook`), ``Online`` and ``EvictionDate`` (else
    None: a backend may leave them out then)."""

    members: str
    attributes: Sequence | None = None
    id: uuid.UUID | None = None
    name: str | None = None
    quicklook: str | None = None
    online: bool | None = None
    eviction_date: datetime | None = None


@dataclass
class OrderQueueStats:
    """What :meth:`StorageBase.order_queue_stats` reports for an order about to be queued.

    Attributes:
        ahead: orders that run before it: ``queued`` ones with a priority >= its own (of every
            mission: one worker pool serves them all) plus those ``in_progress``.
        run_seconds: turnaround times (``completed_date - submission_date``, seconds, never
            negative) of the workflow's most recently completed orders, newest first.
    """

    ahead: int
    run_seconds: list[float] = field(default_factory=list)


@dataclass
class OperationsStats:
    """What :meth:`StorageBase.operations_stats` reports for monitoring (all missions).

    Attributes:
        orders_by_status: number of production orders per status value.
        oldest_queued_at: submission date of the oldest ``queued`` order (None: none queued).
        outbox_pending: undelivered messages that will be attempted (again).
        outbox_retrying: those of them that failed at least once.
        outbox_given_up: undelivered messages given up (``next_attempt_at`` None).
        oldest_pending_at: creation date of the oldest pending message (None: none).
    """

    orders_by_status: dict[str, int] = field(default_factory=dict)
    oldest_queued_at: datetime | None = None
    outbox_pending: int = 0
    outbox_retrying: int = 0
    outbox_given_up: int = 0
    oldest_pending_at: datetime | None = None


@dataclass
class ClaimedNotification(OutboxMessage):
    """An outbox message as :meth:`StorageBase.claim_due_notifications` hands it out.

    ``claim_token`` is the random token stored on the message at claim time. Only the holder of
    the current token can record the outcome (``mark_notification_delivered`` /
    ``record_notification_failure``); a claimer whose lease expired and whose message was
    claimed again holds a stale token, and its writes change nothing.
    """

    claim_token: str = ""


class Store:
    """What every part of the contract has: lifecycle, transactions and the missions
    everything belongs to. Every method raises ``NotImplementedError`` here."""

    #: Seals and opens notification passwords (:mod:`proseo_odata.secretbox`). Backends that
    #: keep them encrypted at rest store ``secrets.to_column(value)`` and return
    #: ``SealedSecret`` objects for ``notification_password`` / ``password``; the dispatcher
    #: calls ``secrets.open(value)`` just before a POST (a plain ``str`` is taken as open).
    #: This default has no key; the SQLAlchemy backend's comes from ``proseo.secrets.*``.
    secrets: SecretBox = SecretBox()

    # -- lifecycle -------------------------------------------------------------------------

    def initialize_schema(self) -> None:
        """Create the schema, or upgrade it to the newest version. Idempotent."""
        raise NotImplementedError

    def check_schema(self) -> None:
        """Raise ``SchemaNotReadyError`` when the schema is missing or older than the code
        (``DatabaseUnavailableError`` when the database cannot be reached to tell). Servers and
        commands call it before they use the storage. The default accepts any database."""

    def close(self) -> None:
        """Release connections. The object must not be used afterwards."""
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager["StorageBase"]:
        """A context manager yielding a storage bound to one new transaction.

        Commits when the block ends normally, rolls back when it raises (the exception
        propagates). Must not be nested on a bound storage.
        """
        raise NotImplementedError

    def bind(self, handle: Any) -> "StorageBase":
        """A storage running every method in the externally managed transaction ``handle``
        (backend-specific: a ``sqlalchemy.orm.Session`` for the SQLAlchemy backend); the caller
        commits it."""
        raise NotImplementedError

    def join(self, transaction_manager: Any, *, read_only: bool = False) -> "StorageBase":
        """A storage bound to a new transaction that joins ``transaction_manager`` (a manager of
        the ``transaction`` package, such as pyramid_tm's ``request.tm``): it commits when the
        manager's current transaction commits and rolls back when that aborts; the backend takes
        part as a data manager (``transaction_manager.get().join(...)``).

        ``read_only`` promises that the work only reads (the web layer's GET and HEAD requests),
        so the backend may take a cheaper transaction (the SQLAlchemy backend's SQLite
        transactions then begin DEFERRED: no wait for the write lock). A read-only request that
        must write uses its own :meth:`transaction`. This is the hook the web layer joins each
        writing request's transaction with."""
        raise NotImplementedError

    def read_only(self) -> "tuple[StorageBase, Callable[[], None]]":
        """``(storage, release)``: a storage bound to new work that only reads, outside any
        transaction manager, and the callable that ends that work and gives back what it holds
        (nothing is written; call it once, after an error too). The web layer's GET and HEAD
        requests read through it, releasing when the request finishes, without a transaction
        manager's begin, join and two-phase commit around them.

        This default runs the work in a :meth:`transaction` that ``release`` ends; a backend
        may take something cheaper (the SQLAlchemy backend: a pooled connection of its read
        engine, in autocommit on PostgreSQL, a DEFERRED read transaction on SQLite)."""
        context = self.transaction()
        storage = context.__enter__()
        return storage, lambda: context.__exit__(None, None, None)

    # -- missions --------------------------------------------------------------------------

    def add_mission(self, mission: Mission) -> Mission:
        """Store a new mission. ``ConflictError`` if the code exists."""
        raise NotImplementedError

    def get_mission(self, code: str) -> Mission:
        """The mission with this code. ``NotFoundError`` if none."""
        raise NotImplementedError

    def list_missions(self) -> list[Mission]:
        """All missions, ordered by code."""
        raise NotImplementedError

    def update_mission(self, mission: Mission) -> Mission:
        """Replace the stored mission's name. ``NotFoundError`` if the code does not exist."""
        raise NotImplementedError

    def delete_mission(self, code: str) -> None:
        """Delete a mission. ``NotFoundError`` if missing; ``ConflictError`` while anything
        (users, products, workflows, orders, subscriptions) still belongs to it."""
        raise NotImplementedError


class UserStore(Store):
    """The users of each mission (authentication looks them up)."""

    # -- users -----------------------------------------------------------------------------

    def add_user(self, user: User) -> User:
        """Store a new user. ``NotFoundError`` for an unknown mission, ``ConflictError`` if
        ``mission\\name`` exists. ``password_hash`` is stored as given (hash it first)."""
        raise NotImplementedError

    def get_user(self, mission: str, name: str, *, cached: bool = False) -> User:
        """The user ``mission\\name``. ``NotFoundError`` if none.

        ``cached``: the answer may come from a short-lived cache of this storage object (a few
        seconds old at most; the SQLAlchemy backend's ``proseo.storage.user_cache.ttl``), which
        its own writes of the user invalidate. Authentication asks this way."""
        raise NotImplementedError

    def list_users(self, mission: str | None = None) -> list[User]:
        """Users of one mission (or of all), ordered by mission and name."""
        raise NotImplementedError

    def update_user(self, user: User) -> User:
        """Replace the stored password hash and roles. ``NotFoundError`` if missing."""
        raise NotImplementedError

    def delete_user(self, mission: str, name: str) -> None:
        """Delete a user. ``NotFoundError`` if missing."""
        raise NotImplementedError


class CatalogueStore(Store):
    """The product catalogue (PRIP): products, their queries, and subscriptions to them."""

    #: How a product's ``Collection/Name`` is derived (:mod:`proseo_odata.model.collections`,
    #: from the ``proseo.collection.*`` settings). A backend sets :attr:`Product.collection
    #: <proseo_odata.model.Product.collection>` with it on every product it adds, updates or
    #: loads, and its filter compiler gives ``Collection/Name`` the same meaning.
    collections: CollectionRule = DEFAULT_COLLECTION_RULE

    #: How many batches a bulk ingest (:func:`proseo_odata.ingest.ingest_manifest`) writes at
    #: once, each by :meth:`add_products` in a transaction of its own. More than one only for a
    #: backend whose concurrent writers do not wait for each other (the ingest never gives two
    #: batches in flight the same Name or Id) and whose database works beside the writing
    #: process (PostgreSQL's server processes; not SQLite, whose writes take one lock and run
    #: in the writing process). Batches with products whose publication dates are stamped
    #: wait for each other all the same (publication dates in the order of commits).
    bulk_writers: int = 1

    # -- products --------------------------------------------------------------------------

    def add_product(self, product: Product) -> Product:
        """Store a new product with its checksums and attributes, all or nothing.

        ``ConflictError`` if the mission already has a product with this ``name`` or the id
        exists; ``NotFoundError`` for an unknown mission. ``product_type`` is synchronised with
        the ``productType`` attribute first. Returns the stored product (``revision`` 1).

        A product with ``stamp_publication`` gets its ``publication_date`` (and its
        ``modification_date`` and checksum dates, those equal to it) set in the transaction that
        stores it, to a moment after every product stored by a transaction that committed before
        this one's and before every product of a transaction that commits after it, in the same
        mission: publication dates in the order of commits (a backend that cannot order them
        dates them with the moment it stores them).
        """
        raise NotImplementedError

    def add_products(self, products: Sequence[Product]) -> list[Product]:
        """Store many new products at once (bulk ingest); returns those stored, in order.

        A product whose ``name`` its mission already has, or whose ``id`` is taken (also by an
        earlier product of the same call), is skipped: not stored, not returned, no error. Any
        other problem (``NotFoundError`` for an unknown mission, ``InvalidValueError``, a
        database error) raises and, inside a transaction, leaves it to the caller to roll back.
        Each stored product gets ``revision`` 1, ``product_type`` synchronised and its
        publication date stamped (``stamp_publication``) as in :meth:`add_product`; stamped
        products of one call get increasing dates, in their order.

        This default calls :meth:`add_product` for each product (skipping on
        ``ConflictError``, which leaves the transaction usable), so every backend supports it;
        backends override it with a faster statement-per-table path.
        """
        from .errors import ConflictError

        stored = []
        for product in products:
            try:
                stored.append(self.add_product(product))
            except ConflictError:
                continue
        return stored

    def archive_keys_in_use(self, keys: Sequence[str]) -> set[str]:
        """The subset of the archive ``keys`` that a product of any mission names as its
        ``archive_key`` (maintenance: :mod:`proseo_odata.orphans`). Optional:
        ``NotImplementedError`` when the backend cannot tell."""
        raise NotImplementedError

    def existing_product_names(self, mission: str, names: Sequence[str]) -> set[str]:
        """The subset of ``names`` that products of ``mission`` already have (one look-up for
        a whole batch: bulk ingest skips those before copying any file). The default asks
        :meth:`get_product_by_name` for each name."""
        from .errors import NotFoundError

        found = set()
        for name in set(names):
            try:
                self.get_product_by_name(mission, name)
            except NotFoundError:
                continue
            found.add(name)
        return found

    def refresh_statistics(self, added: int) -> bool:
        """After a bulk load stored ``added`` products: bring the database's planner statistics
        up to date at once when the load is a large share of the catalogue, so that the
        queries (and a re-run's Name look-ups) that follow are planned for the rows there now,
        not for the catalogue before it (or none). True when they were refreshed. This default
        does nothing (a backend without statistics, or that keeps them itself)."""
        return False

    def get_product(self, mission: str, product_id: uuid.UUID, *, for_update: bool = False) -> Product:
        """The product with this id in this mission, with checksums and attributes.
        ``NotFoundError`` if none."""
        raise NotImplementedError

    def get_product_by_name(self, mission: str, name: str) -> Product:
        """The product with this exact ``Name`` in this mission. ``NotFoundError`` if none."""
        raise NotImplementedError

    def find_product(
        self,
        mission: str,
        *,
        product_type: str | None = None,
        name: str | None = None,
        covering: tuple[datetime, datetime] | None = None,
        visibilities: Sequence[VisibilityClass] | None = None,
    ) -> Product | None:
        """The input-product lookup of ODIP (contract section 10): among the mission's products
        of ``product_type`` (if given), with ``name`` (if given), whose ``content_start <=
        covering[0]`` and ``content_end >= covering[1]`` (if given), restricted to
        ``visibilities`` (if given), the newest by ``publication_date`` (then by id); None if
        there is none."""
        raise NotImplementedError

    def find_product_id(self, mission: str, **criteria) -> uuid.UUID | None:
        """The id of :meth:`find_product`'s answer for the same ``criteria`` (None if there is
        none). Order submission needs only the id; a backend may find it without loading the
        product's checksums and attributes."""
        product = self.find_product(mission, **criteria)
        return None if product is None else product.id

    def query_products(
        self, mission: str, query: Query, *, visibilities: Sequence[VisibilityClass] | None = None
    ) -> QueryResult:
        """Products of a mission matching ``query``; only those whose ``visibility`` is in
        ``visibilities`` when given (the web layer maps the user's roles to classes).

        Checksums are always loaded; attributes only when ``"Attributes"`` is in
        ``query.expand`` (otherwise ``attributes`` is an empty list). Order-by paths: ``Id``,
        ``Name``, ``ContentType``, ``ContentLength``, ``OriginDate``, ``PublicationDate``,
        ``CreationDate``, ``ModificationDate``, ``EvictionDate``, ``Online``,
        ``ContentDate/Start``, ``ContentDate/End``, ``ProductionType``.
        """
        raise NotImplementedError

    def query_product_entries(
        self, mission: str, query: Query, *, visibilities: Sequence[VisibilityClass] | None = None
    ) -> QueryResult:
        """:meth:`query_products` with :class:`ProductEntry` items: the same rows, order,
        count and paging (tokens interchangeable), each product only as its response needs it
        (``attributes`` only when ``"Attributes"`` is in ``query.expand``, else None). This
        default converts :meth:`query_products`' products; a backend may read the entries
        directly (the SQLAlchemy backend: one statement per page on PostgreSQL)."""
        result = self.query_products(mission, query, visibilities=visibilities)
        expand = "Attributes" in query.expand
        result.items = [
            ProductEntry.from_product(p) if expand else ProductEntry.from_product(p)._replace(attributes=None)
            for p in result.items
        ]
        return result

    def query_product_files(self, mission: str, query: Query, *, checksums: bool = False) -> QueryResult:
        """:meth:`query_products` (every visibility class) with :class:`ProductFile` items: the
        same rows, order and paging, each product only as far as its file goes (maintenance:
        :mod:`proseo_odata.fixity`, :mod:`proseo_odata.quicklooks`); ``checksums`` loads the
        recorded checksums too. This
        default converts :meth:`query_products`' products; a backend may read the few columns
        directly (the SQLAlchemy backend does)."""
        result = self.query_products(mission, dataclasses.replace(query, expand=frozenset()))
        result.items = [ProductFile.from_product(p, checksums) for p in result.items]
        return result

    def query_product_texts(
        self,
        mission: str,
        query: Query,
        *,
        visibilities: Sequence[VisibilityClass] | None = None,
        members: Sequence[str],
        render: Callable[[ProductEntry], str],
    ) -> QueryResult:
        """:meth:`query_product_entries` with :class:`ProductText` items: each product's JSON
        members ``members`` (OData names of a Product, in order, as the web layer writes them:
        ``"Id": "...", "Name": ...`` without braces) as one text, and its attributes when
        ``"Attributes"`` is in ``query.expand``. This default writes each entry with ``render``
        (the web layer's serialiser of those members); a backend may have the database write
        them (the SQLAlchemy backend on PostgreSQL), falling back to ``render`` for a product
        it cannot write the same way."""
        result = self.query_product_entries(mission, query, visibilities=visibilities)
        result.items = [ProductText(render(entry), entry.attributes, entry.id, entry.name, entry.quicklook,
                                    entry.online, entry.eviction_date) for entry in result.items]
        return result

    def update_product(self, product: Product) -> Product:
        """Replace the stored product (all fields, checksums and attributes) if
        ``product.revision`` is current; returns it with the new revision. ``ConflictError`` on
        a stale revision or a Name taken by another product; ``NotFoundError`` if missing.
        ``modification_date`` is stored as given (set it when metadata changes)."""
        raise NotImplementedError

    def delete_product(self, mission: str, product_id: uuid.UUID) -> None:
        """Delete a product with its checksums and attributes (not its archived file).
        ``NotFoundError`` if missing."""
        raise NotImplementedError

    def record_quicklooks(self, mission: str, searches: Sequence[QuicklookSearch]) -> list[bool]:
        """Record what searches of products' files found (``proseo-odata archive quicklooks``, a
        page of products at a time): each :class:`QuicklookSearch`'s ``quicklook`` if its product
        still has that file and the quicklook the search began from (``seen``). A path found
        raises the product's revision; nothing else of it changes (a backend need not raise it
        for ``NO_QUICKLOOK``, which changes nothing a client sees). Returns, for each search,
        whether it was written (False: the product has another quicklook or file, or is gone).
        This default reads each product and writes it whole (:meth:`update_product`); a backend
        may update the one column, several products a transaction (the SQLAlchemy backend does)."""
        from .errors import ConflictError, NotFoundError

        written = []
        for search in searches:
            try:
                product = self.get_product(mission, search.product_id)
                if product.quicklook != search.seen or product.archive_key != search.archive_key:
                    written.append(False)
                    continue
                product.quicklook = search.quicklook
                self.update_product(product)
            except (ConflictError, NotFoundError):
                written.append(False)
            else:
                written.append(True)
        return written

    # -- subscriptions ---------------------------------------------------------------------

    def add_subscription(self, subscription: Subscription) -> Subscription:
        """Store a new subscription. ``NotFoundError`` for an unknown mission."""
        raise NotImplementedError

    def get_subscription(
        self, mission: str, subscription_id: uuid.UUID, *, for_update: bool = False
    ) -> Subscription:
        """One subscription of the mission. ``NotFoundError`` if none."""
        raise NotImplementedError

    def query_subscriptions(self, mission: str, query: Query, *, owner: str | None = None) -> QueryResult:
        """Subscriptions of the mission (of one owner when given). Order-by paths: ``Id``,
        ``Status``, ``Priority``, ``SubmissionDate``, ``LastNotificationDate``, ``StageOrder``,
        ``FilterParam``, ``NotificationEndpoint``."""
        raise NotImplementedError

    def list_running_subscriptions(self, mission: str | None = None) -> list[Subscription]:
        """Subscriptions in status ``running`` (of one mission or all), by submission date."""
        raise NotImplementedError

    def update_subscription(self, subscription: Subscription) -> Subscription:
        """Replace a subscription (optimistic ``revision`` check as for products)."""
        raise NotImplementedError

    def delete_subscription(self, mission: str, subscription_id: uuid.UUID) -> None:
        """Delete a subscription. ``NotFoundError`` if missing."""
        raise NotImplementedError


class OrderStore(Store):
    """On-demand production (ODIP): workflows, production orders and the production queue.

    The queue's policy for orders whose worker was lost (requeue or fail) is not the
    backend's: :mod:`proseo_odata.production.queue` runs it on :meth:`expired_orders` and
    :meth:`release_expired_order`, the same for every backend."""

    # -- workflows -------------------------------------------------------------------------

    def add_workflow(self, workflow: Workflow) -> Workflow:
        """Store a new workflow. ``ConflictError`` if the mission has one with this name."""
        raise NotImplementedError

    def get_workflow(self, mission: str, workflow_id: uuid.UUID) -> Workflow:
        """One workflow of the mission. ``NotFoundError`` if none."""
        raise NotImplementedError

    def get_workflow_by_name(self, mission: str, name: str) -> Workflow:
        """The mission's workflow with this name. ``NotFoundError`` if none."""
        raise NotImplementedError

    def list_workflows(self, mission: str, *, enabled_only: bool = False, cached: bool = False) -> list[Workflow]:
        """Workflows of a mission by name. ``cached``: as for :meth:`get_user` (the SQLAlchemy
        backend's ``proseo.storage.workflow_cache.ttl``); order submission asks this way."""
        raise NotImplementedError

    def query_workflows(self, mission: str, query: Query, *, enabled_only: bool = False) -> QueryResult:
        """Workflows of the mission matching ``query``. Order-by paths: ``Id``, ``Name``,
        ``Description``, ``InputProductType``, ``OutputProductType``, ``WorkflowVersion``."""
        raise NotImplementedError

    def update_workflow(self, workflow: Workflow) -> Workflow:
        """Replace a workflow (optimistic ``revision`` check)."""
        raise NotImplementedError

    def upsert_workflow(self, workflow: Workflow) -> Workflow:
        """Insert the workflow, or, when the mission has one with the same name, replace that
        one's fields while keeping its id (configured workflows are synced this way; the
        ``revision`` of the argument is ignored). Returns the stored workflow."""
        raise NotImplementedError

    def delete_workflow(self, mission: str, workflow_id: uuid.UUID) -> None:
        """Delete a workflow. ``NotFoundError`` if missing."""
        raise NotImplementedError

    # -- production orders -----------------------------------------------------------------

    def add_order(self, order: ProductionOrder) -> ProductionOrder:
        """Store a new production order. ``NotFoundError`` for an unknown mission."""
        raise NotImplementedError

    def get_order(self, mission: str, order_id: uuid.UUID, *, for_update: bool = False) -> ProductionOrder:
        """One order of the mission. ``NotFoundError`` if none."""
        raise NotImplementedError

    def find_order_by_idempotency_key(self, mission: str, owner: str, key: str) -> ProductionOrder | None:
        """The order ``owner`` created in ``mission`` with ``Idempotency-Key`` ``key``, or None.
        ``add_order`` of a second order with the same (mission, owner, key) raises
        ``ConflictError`` (a unique key in the database, so concurrent requests cannot both
        create one)."""
        raise NotImplementedError

    def query_orders(self, mission: str, query: Query, *, owner: str | None = None) -> QueryResult:
        """Orders of the mission (of one owner when given: ODIP_USER without ORDER_MGR).
        Order-by paths: ``Id``, ``Status``, ``StatusMessage``, ``Priority``, ``SubmissionDate``,
        ``EstimatedDate``, ``CompletedDate``, ``EvictionDate``, ``OrderOutputSize``,
        ``WorkflowId``, ``WorkflowName``, ``InputProductReference/Reference``."""
        raise NotImplementedError

    def update_order(self, order: ProductionOrder) -> ProductionOrder:
        """Replace an order (optimistic ``revision`` check). State-machine rules are the
        caller's (``proseo_odata.orders``); storage only stores."""
        raise NotImplementedError

    def delete_order(self, mission: str, order_id: uuid.UUID) -> None:
        """Delete an order. ``NotFoundError`` if missing."""
        raise NotImplementedError

    # -- the production queue ----------------------------------------------------------------
    #
    # Workers in any number of threads and processes share one queue: the orders in status
    # ``queued``. These methods keep its rules in one transaction each (or in the caller's, on a
    # bound storage), so that every backend can run production orders.

    def claim_next_order(
        self, worker_id: str, lease_seconds: float, now: datetime | None = None
    ) -> ProductionOrder | None:
        """Claim the next queued order for ``worker_id``; None when nothing is queued.

        The next order is the ``queued`` one (of any mission) with the highest ``priority``,
        then the oldest ``submission_date``, then the smallest id. It becomes ``in_progress``
        with ``status_message`` "request is under processing", ``worker_id`` and
        ``lease_expires_at = now + lease_seconds``; its ``revision`` is incremented (a state
        change, so stale copies cannot overwrite it). Concurrent claimers never get the same
        order (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite: one guarded
        ``UPDATE``). Returns the order as stored."""
        raise NotImplementedError

    def renew_order_lease(
        self, order_id: uuid.UUID, worker_id: str, lease_seconds: float, now: datetime | None = None
    ) -> bool:
        """Extend a running order's lease to ``now + lease_seconds`` (the worker's heartbeat).

        Only while the order is ``in_progress`` *and* held by ``worker_id``; returns False and
        changes nothing otherwise (the user cancelled it, its lease expired and it was requeued or
        claimed by another worker, it ended or was deleted): the worker must then stop. Does not
        change ``revision``."""
        raise NotImplementedError

    def expired_orders(self, now: datetime) -> list[ProductionOrder]:
        """The orders whose worker was lost: ``in_progress`` with ``lease_expires_at < now``,
        oldest lease first (then by id). On a bound storage a backend that can locks them for the
        caller's transaction and leaves out those another transaction holds (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``). What becomes of them is the production's policy
        (:func:`proseo_odata.production.queue.requeue_expired`), not the backend's."""
        raise NotImplementedError

    def release_expired_order(self, order: ProductionOrder, now: datetime) -> bool:
        """Store ``order`` (its ``status``, ``status_message``, ``attempts`` and
        ``completed_date``, as the caller decided: requeued or failed) without ``worker_id`` and
        lease, only while the stored order is still ``in_progress`` with a lease expired before
        ``now`` and the same ``revision``; the revision is incremented (on ``order`` too, whose
        ``worker_id`` and ``lease_expires_at`` become None). False, changing nothing, when a
        heartbeat, a cancel or another recoverer came first."""
        raise NotImplementedError

    def order_queue_stats(self, workflow_id: uuid.UUID, priority: int, *, history: int = 20) -> OrderQueueStats:
        """What an ``EstimatedDate`` needs for a new order of ``workflow_id`` with ``priority``:
        the orders ahead of it and the turnaround times of the workflow's last ``history``
        completed orders (see :class:`OrderQueueStats`)."""
        raise NotImplementedError


class OutboxStore(Store):
    """The notification outbox: messages written in the transaction of the change that caused
    them, claimed and delivered by the dispatcher."""

    # -- notification outbox ---------------------------------------------------------------

    def enqueue_notification(
        self,
        kind: str,
        endpoint: str,
        username: str | None,
        password: str | None,
        payload: dict,
        *,
        mission: str | None = None,
        now: datetime | None = None,
    ) -> OutboxMessage:
        """Add a message to the outbox, due immediately (``next_attempt_at = now``). It is
        written in the caller's transaction, so it exists exactly when the change that caused it
        is committed."""
        raise NotImplementedError

    def claim_due_notifications(
        self,
        now: datetime,
        limit: int,
        *,
        lease: timedelta = timedelta(seconds=60),
        exclude_receivers: Sequence[str] = (),
    ) -> list[ClaimedNotification]:
        """Claim up to ``limit`` undelivered messages with ``next_attempt_at <= now``, oldest due
        first, for one deliverer; messages whose ``receiver`` (:attr:`OutboxMessage.receiver`,
        the endpoint's ``scheme://host:port``) is one of ``exclude_receivers`` are left alone
        (the dispatcher's receivers that have all their delivery slots busy, so that a slow
        receiver's backlog, behind however many URLs, never stands in front of other receivers'
        messages).

        Claiming writes a new random ``claim_token`` (one per call, returned on every message)
        and moves ``next_attempt_at`` to ``now + lease``, so that no other deliverer claims them
        meanwhile; concurrent claimers get disjoint messages (rows locked by another transaction
        are skipped on PostgreSQL; SQLite serialises the claiming statement). A deliverer that
        dies leaves its messages to be claimed again after ``lease``; one that is merely slower
        than its lease loses them to the next claimer, and its token becomes stale. The lease
        must therefore cover the work done on a claim (the dispatcher claims one message at a
        time with a lease of at least twice its HTTP timeout plus slack)."""
        raise NotImplementedError

    def renew_notification_claims(self, claims: Mapping[int, str], until: datetime) -> int:
        """Move ``next_attempt_at`` of claimed messages to ``until``: the deliverer is still at
        work on them (a receiver that answers slowly, each read within the timeout, for longer
        than the lease). ``claims`` maps message ids to their claim tokens; a message claimed
        again since (another token) or recorded is left alone. Returns how many were renewed."""
        raise NotImplementedError

    def mark_notification_delivered(
        self, message_id: int, *, claim_token: str, now: datetime | None = None
    ) -> bool:
        """Record a successful delivery (``delivered_at``); the message is never claimed again.

        Only when ``claim_token`` is the message's current claim token: returns True then, and
        the token is cleared. Returns False and changes nothing when the claim is no longer
        this caller's (it was claimed again after the lease expired, or its outcome is already
        recorded). ``NotFoundError`` for an unknown message."""
        raise NotImplementedError

    def record_notification_failure(
        self, message_id: int, next_attempt_at: datetime | None, error: str, *, claim_token: str
    ) -> bool:
        """Record a failed attempt: ``attempts`` + 1, ``last_error``, and the next attempt time;
        ``None`` gives up (the message stays, undelivered, for inspection).

        The same claim rule as :meth:`mark_notification_delivered`: True when recorded, False
        (nothing changed) for a stale ``claim_token``; ``NotFoundError`` for an unknown
        message."""
        raise NotImplementedError

    def get_notification(self, message_id: int) -> OutboxMessage:
        """One outbox message. ``NotFoundError`` if none."""
        raise NotImplementedError

    def list_notifications(self, *, undelivered_only: bool = False) -> list[OutboxMessage]:
        """Outbox messages by id (for inspection and tests)."""
        raise NotImplementedError


class StorageBase(CatalogueStore, UserStore, OrderStore, OutboxStore):
    """Contract of a whole storage backend: every protocol above (what the services and the
    workers use). A backend of one protocol alone subclasses that one and runs its part of the
    contract suite (:mod:`proseo_odata.storage.testing`)."""

    def operations_stats(self) -> OperationsStats:
        """Order queue and outbox figures for monitoring (``/metrics``), in one transaction of
        a few aggregate queries. Optional: a backend without it has no queue/outbox gauges."""
        raise NotImplementedError


#: ``Query.orderby`` of a whole read in ``Id`` order, a keyset page at a time (export, fixity).
BY_ID = ((("Id",), False),)


def iter_pages(query_method, *args, query: Query, **kwargs) -> Iterator[QueryResult]:
    """Follow ``next_skiptoken`` from ``query`` on: yields every page of a ``query_*`` call,
    each with the first page's ``now()`` (:attr:`Query.now`, pinned when not given): a filter
    calling it selects by one instant across the pages."""
    if query.now is None:
        query = dataclasses.replace(query, now=datetime.now(timezone.utc))
    while True:
        page = query_method(*args, query, **kwargs)
        yield page
        if page.next_skiptoken is None:
            return
        query = dataclasses.replace(query, skip=0, skiptoken=page.next_skiptoken, count=False)
