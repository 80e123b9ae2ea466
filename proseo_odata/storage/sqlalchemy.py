"""The SQLAlchemy storage backend: SQLite (development) and PostgreSQL 15 (production).

Settings: ``proseo.storage.url`` (SQLAlchemy URL, e.g. ``sqlite:///var/proseo.sqlite`` or
``postgresql+psycopg://user:pw@host/db``), ``proseo.storage.echo`` (log SQL),
``proseo.storage.pool_size`` and ``proseo.storage.max_overflow`` (PostgreSQL connection pool),
``proseo.storage.connect_timeout`` (10), ``proseo.storage.statement_timeout`` (30) and
``proseo.storage.pool_timeout`` (10): PostgreSQL waits in seconds, see :func:`create_engine`.
``proseo.storage.skip_memo.size`` (4096) and ``proseo.storage.skip_memo.ttl`` (300 s; 0 turns
it off): the ``$skip`` memo that serves a client's next ``$skip`` page as a keyset seek
(:mod:`proseo_odata.storage.skipmemo`).
``proseo.storage.user_cache.ttl`` and ``proseo.storage.workflow_cache.ttl`` (5 s; 0 turns them
off): how long a user (authentication) and a mission's enabled workflows (order submission) are
answered from memory (:mod:`proseo_odata.storage.readcache`).
``proseo.storage.pool_ping_idle`` (2 s): a pooled PostgreSQL connection idle longer than this is
pinged at checkout (see :func:`create_engine`).
``proseo.count.exact_limit`` (100000; 0 or ``none``: always exact): on PostgreSQL, counts above
it are the planner's estimate (:mod:`proseo_odata.storage.counts`).

Transactions: the web layer joins each writing request's transaction manager with
``storage.join(request.tm)`` (a session committed or rolled back by the manager,
:class:`_SessionDataManager`) and reads GET and HEAD requests through ``storage.read_only()``
(a read-engine connection the request releases); CLI and workers use ``with
storage.transaction() as tx``. See :mod:`proseo_odata.storage.base`.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import json
import logging
import math
import operator
import os
import secrets
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import AssertionPool, StaticPool

from proseo_odata.config import DEFAULT_COUNT_EXACT_LIMIT, as_bool, count_exact_limit, number_setting
from proseo_odata.lru import ExpiringLRU
from proseo_odata.model import (
    Attribute,
    AttributeType,
    Checksum,
    NO_QUICKLOOK,
    Mission,
    OrderStatus,
    OutboxMessage,
    Product,
    ProductionOrder,
    Subscription,
    ProductionType,
    User,
    VisibilityClass,
    Workflow,
    WorkflowOption,
    as_utc,
    check_new_mission_code,
    utcnow,
)
from proseo_odata.model.collections import DEFAULT_COLLECTION_RULE, CollectionRule
from proseo_odata.model.entities import endpoint_receiver
from proseo_odata.model import times
from proseo_odata.odata.binding import calls_now, may_fail_on_data
from proseo_odata.odata.sql import area_bounds, footprint_box, register_sqlite_functions
from proseo_odata.secretbox import SecretBox, SecretsError
from proseo_odata.model.statemachine import (
    MESSAGE_IN_PROGRESS,
    OrderEvent,
    transition,
)

from proseo_odata.odata import geo
from .mapping import promoted_values, render_footprint
from .product_json import members_text
from .base import ClaimedNotification, OperationsStats, OrderQueueStats, ProductEntry, ProductFile, ProductText, Query, QueryResult, StorageBase
from .errors import (
    ConflictError,
    DatabaseUnavailableError,
    InvalidQueryError,
    InvalidValueError,
    NotFoundError,
    SchemaNotReadyError,
    StorageError,
    describe,
    driver_detail,
    driver_errors,
    nul_refusal,
    query_refusal,
    refusal,
    refusals,
    translate,
)
from .counts import count_rows
from .order_signal import OrderSignal, mark_order_queued, order_notify_expression
from .types import UTCDateTime
from .watchdog import UNWATCHED_OPTION
from .skipmemo import DEFAULT_SIZE as SKIP_MEMO_SIZE, DEFAULT_TTL as SKIP_MEMO_TTL, SkipMemo
from .readcache import DEFAULT_TTL as READ_CACHE_TTL, ReadCache, invalidate_at_end
from .schema import (
    SchemaTables,
    catalogue_versions,
    missions,
    order_options,
    orders,
    outbox,
    product_attributes,
    product_checksums,
    product_extent_keys,
    product_extents,
    products,
    subscriptions,
    users,
    workflows,
)

log = logging.getLogger(__name__)

MIGRATIONS = "proseo_odata:storage/migrations"

# --- $orderby paths per entity set (contract sections 3 and 4) -------------------------------
# The columns come from the filter mapping (storage/mapping.py, ``EntityMapping.columns``), so
# one table says which column a property is. $orderby accepts fewer paths than $filter, and one
# alias more; the two tables below are exactly those differences.

#: Mapping paths that $filter accepts but $orderby does not.
_NOT_SORTABLE: dict[str, frozenset[str]] = {
    "Products": frozenset({"Collection/Name"}),  # derived per row (model/collections.py), not a column
    "Subscriptions": frozenset({"NotificationEpUsername"}),
    "Workflows": frozenset(),
    "ProductionOrders": frozenset({
        "NotificationEndpoint", "NotificationEpUsername",
        "InputProductReference/ContentDate/Start", "InputProductReference/ContentDate/End",
    }),
}

#: $orderby aliases (alias path -> mapping path); the binder resolves them too, the storage
#: API takes them directly.
_ORDERBY_ALIASES: dict[str, dict[str, str]] = {
    "Products": {"CreationDate": "PublicationDate"},
}


def orderby_columns(entity_set: str, tables) -> dict[tuple[str, ...], sa.Column]:
    """The sortable paths of ``entity_set`` (tuples of property names) and their columns over
    ``tables`` (a :class:`~.schema.SchemaTables`)."""
    from .mapping import entity_mapping  # imported here: the mapping imports this package's schema

    mapped = entity_mapping(entity_set, tables).columns
    excluded = _NOT_SORTABLE[entity_set]
    columns = {tuple(name.split("/")): column for name, column in mapped.items() if name not in excluded}
    for alias, target in _ORDERBY_ALIASES.get(entity_set, {}).items():
        columns[tuple(alias.split("/"))] = mapped[target]
    return columns


MAIN_TABLES = {
    "Products": products,
    "Subscriptions": subscriptions,
    "Workflows": workflows,
    "ProductionOrders": orders,
}

# --- keyset tokens ------------------------------------------------------------------------


def _encode_key_value(value):
    if isinstance(value, datetime):
        return {"t": as_utc(value).isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    return value


def _decode_key_value(value):
    if isinstance(value, dict):
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "u" in value:
            return uuid.UUID(value["u"])
        raise ValueError("unknown key value")
    return value


def _orderby_signature(entity_set, keys):
    return [entity_set] + [["/".join(path), desc] for path, desc, _ in keys]


def encode_skiptoken(entity_set, keys, row, offset: int) -> str:
    document = {
        "s": _orderby_signature(entity_set, keys),
        "k": [_encode_key_value(row._mapping[column]) for _, _, column in keys],
        "n": offset,
    }
    raw = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_skiptoken(entity_set, keys, token: str) -> tuple[list, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw)
        values = [_decode_key_value(v) for v in document["k"]]
        offset = int(document["n"])
        signature = document["s"]
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        # A forged token: bad base64/JSON/UTF-8 (ValueError), JSON nested too deeply (RecursionError),
        # "n": 1e999 (OverflowError), a key value of the wrong JSON type (TypeError, AttributeError).
        raise InvalidQueryError("Invalid $skiptoken: not a token issued by this service", target="$skiptoken") from exc
    if signature != _orderby_signature(entity_set, keys) or len(values) != len(keys) or offset < 0:
        raise InvalidQueryError(
            "Invalid $skiptoken: it belongs to a query with another $orderby", target="$skiptoken"
        )
    for (_, _, column), value in zip(keys, values):
        if not _fits(column, value):
            raise InvalidQueryError("Invalid $skiptoken: not a token issued by this service", target="$skiptoken")
    return values, offset


def _fits(column, value) -> bool:
    """Whether a decoded key value has the Python type of its column (tokens can be forged)."""
    if value is None:
        return column.nullable
    try:
        expected = column.type.python_type
    except NotImplementedError:
        return False
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    return isinstance(value, expected)


def _sort_keys(entity_set, orderby, tables):
    columns = orderby_columns(entity_set, tables)
    keys = []
    for path, desc in orderby:
        column = columns.get(tuple(path))
        if column is None:
            raise InvalidQueryError(
                f"Cannot order {entity_set} by {'/'.join(path)}; sortable properties: "
                + ", ".join(sorted("/".join(p) for p in columns)),
                target="$orderby",
            )
        keys.append((tuple(path), desc, column))
    id_column = MAIN_TABLES[entity_set].c.id
    if not any(column is id_column for _, _, column in keys):
        keys.append((("Id",), False, id_column))
    return keys


def _order_clauses(keys):
    # NULL sorts as the largest value (PostgreSQL's native order, so its indexes serve it).
    clauses = []
    for _, desc, column in keys:
        if desc:
            clauses.append(column.desc().nulls_first() if column.nullable else column.desc())
        else:
            clauses.append(column.asc().nulls_last() if column.nullable else column.asc())
    return clauses


def _seek_parameters(seek) -> dict:
    """The bound values of a seek's sort-key values (:func:`_after_clause`): ``proseo_seek_<i>``
    for each value that is not NULL (a NULL value changes the clause itself)."""
    return {f"proseo_seek_{i}": value for i, value in enumerate(seek) if value is not None}


def _seek_value(keys, i: int):
    """The bound parameter of the ``i``-th sort-key value of a seek (:func:`_seek_parameters`)."""
    return sa.bindparam(f"proseo_seek_{i}", type_=keys[i][2].type)


def _after_clause(keys, values):
    """Rows strictly after the row whose sort-key values are ``values`` (lexicographic). The
    values that are not NULL are bound parameters (:func:`_seek_parameters`): the clause depends
    only on which values are NULL, so a seek statement is built once per shape."""
    bound_values = [None if value is None else _seek_value(keys, i) for i, value in enumerate(values)]
    if len({desc for _, desc, _ in keys}) == 1 and not any(column.nullable for _, _, column in keys):
        left = sa.tuple_(*[column for _, _, column in keys])
        right = sa.tuple_(*bound_values)
        return left < right if keys[0][1] else left > right
    alternatives = []
    equal_so_far = []
    for (_, desc, column), value in zip(keys, bound_values):
        if value is None:
            greater = column.is_not(None) if desc else sa.false()
            equal = column.is_(None)
        else:
            if desc:
                greater = column < value
            else:
                greater = sa.or_(column > value, column.is_(None)) if column.nullable else column > value
            equal = column == value
        alternatives.append(sa.and_(*equal_so_far, greater))
        equal_so_far.append(equal)
    # The same rows, plus a bound on the first key that the OR above implies: it is an index
    # condition, so a deep page starts at the last row instead of scanning every row before it.
    (_, desc, column), value = keys[0], bound_values[0]
    if value is None:
        bound = None if desc else column.is_(None)  # ascending: only NULLs follow a NULL
    elif desc:
        bound = column <= value
    else:
        bound = None if column.nullable else column >= value  # NULLs (last) also follow
    return sa.or_(*alternatives) if bound is None else sa.and_(bound, sa.or_(*alternatives))


def _page_rows(session: Session, statement, keys, seek, top: int | None, offset: bool,
               parameters: Mapping, derived: Callable[[str, Callable[[], Any]], Any]) -> list:
    """The rows of a page ``statement`` (ordered, limited to ``top + 1``; its named bound
    ``parameters``, with the seek's: :func:`_seek_parameters`). ``seek``: the sort-key values it
    starts after (a ``$skiptoken`` or the ``$skip`` memo), None for none; ``offset``: whether it
    also has an OFFSET; ``derived(name, build)``: the statement ``build()`` makes from
    ``statement``, kept with it (:meth:`SQLAlchemyStorage._page_statement`).

    A seek on an ascending nullable first key (``ContentDate/Start asc``, the order eodag and
    CDSETool ask for) gets no index bound from :func:`_after_clause`, since NULLs follow every
    value; PostgreSQL then walks the index from its start, filtering every row before the page
    (80,000 rows, 175 ms at 100,000 products). So the page is first read among the rows whose
    first key is not NULL, with ``first >= value``, an index range; only a page that runs out of
    them is completed with the NULL rows (which follow all of them), or, when its OFFSET skipped
    past all of them, read by the whole order."""
    _, desc, column = keys[0]
    if seek is None or desc or not column.nullable or seek[0] is None or top is None:
        return _execute_query(session, statement, parameters, rows=True)
    ranged = derived("not_null", lambda: statement.where(column >= _seek_value(keys, 0)))
    rows = _execute_query(session, ranged, parameters, rows=True)
    if len(rows) > top:
        return rows
    if rows or not offset:
        nulls = derived("nulls", lambda: statement.where(column.is_(None)).offset(None).limit(_NULL_LIMIT))
        return rows + _execute_query(session, nulls, {**parameters, "proseo_null_limit": top + 1 - len(rows)}, rows=True)
    return _execute_query(session, statement, parameters, rows=True)


#: A page's column giving the catalogue version of the mission bound as ``proseo_catalogue`` (0
#: without a row) in the page statement's own snapshot (:meth:`SQLAlchemyStorage._run_query`).
_CATALOGUE_VERSION = sa.select(catalogue_versions.c.version).where(
    catalogue_versions.c.mission == sa.bindparam("proseo_catalogue")).scalar_subquery().label("catalogue_version")
#: PostgreSQL: the publication dates of ``span`` + 1 µs products stamped in the mission bound
#: as ``stamped``, reserved in one statement: the last one, ``GREATEST(clock_timestamp(), the
#: last date stamped + 1 µs) + span``, is kept in its row and returned (in the round trip that
#: read the clock alone before) (:meth:`SQLAlchemyStorage._publishing`).
_RESERVE_PUBLICATION_DATES = (
    sa.update(catalogue_versions)
    .where(catalogue_versions.c.mission == sa.bindparam("stamped"))
    .values(published_until=sa.func.greatest(
        sa.func.clock_timestamp(type_=sa.DateTime(timezone=True)),
        catalogue_versions.c.published_until + sa.literal(timedelta(microseconds=1), sa.Interval()),
        type_=sa.DateTime(timezone=True)) + sa.bindparam("span", type_=sa.Interval()))
    .returning(catalogue_versions.c.published_until)
)
#: Other databases: the last publication date stamped in each mission bound as ``missions``,
#: and the statement that keeps a mission's (``stamped``) new one (``until``).
_PUBLISHED_UNTIL = sa.select(catalogue_versions.c.mission, catalogue_versions.c.published_until).where(
    catalogue_versions.c.mission.in_(sa.bindparam("missions", expanding=True)))
_KEEP_PUBLISHED_UNTIL = sa.update(catalogue_versions).where(
    catalogue_versions.c.mission == sa.bindparam("stamped")).values(published_until=sa.bindparam("until"))
#: The type of ``products.footprint_geom`` (``geometry`` with PostGIS; :attr:`SQLAlchemyStorage.tables`).
_FOOTPRINT_GEOM_TYPE = (
    sa.select(sa.column("udt_name"))
    .select_from(sa.table("columns", sa.column("udt_name"), sa.column("table_name"), sa.column("column_name"),
                          schema="information_schema"))
    .where(sa.column("table_name") == "products", sa.column("column_name") == "footprint_geom")
)
#: A page's LIMIT and OFFSET, bound (``proseo_limit``, ``proseo_offset``): one statement for
#: every page size and offset (:meth:`SQLAlchemyStorage._page_statement`).
_LIMIT = sa.bindparam("proseo_limit", type_=sa.Integer)
_OFFSET = sa.bindparam("proseo_offset", type_=sa.Integer)
#: The LIMIT of the NULL rows completing a seek page (:func:`_page_rows`).
_NULL_LIMIT = sa.bindparam("proseo_null_limit", type_=sa.Integer)
#: The conditions of a Products page, bound (``proseo_mission``, and ``proseo_visibility`` for
#: one visibility class, ``proseo_visibilities`` for several: :func:`_visible_condition`).
_PRODUCTS_OF_MISSION = products.c.mission == sa.bindparam("proseo_mission")
_PRODUCTS_VISIBLE_ONE = products.c.visibility == sa.bindparam("proseo_visibility")
_PRODUCTS_VISIBLE = products.c.visibility.in_(sa.bindparam("proseo_visibilities", expanding=True))
_PRODUCTS_VISIBLE_ANY = products.c.visibility == sa.any_(
    sa.bindparam("proseo_visibilities", type_=sa.ARRAY(products.c.visibility.type)))

#: PostgreSQL's look-up of the Names a mission has among many (``existing_product_names``).
_WANTED_NAMES = sa.func.unnest(sa.bindparam("names", type_=sa.ARRAY(products.c.name.type))).table_valued(
    "name").render_derived(name="wanted")
#: Its transaction's setting (:meth:`SQLAlchemyStorage._existing_names`): ``set_config`` with
#: ``is_local`` is ``SET LOCAL``; it answers the setting's value before (a scalar sub-select, read
#: before the outer select list sets it).
_BITMAP_SCANS = sa.select(
    sa.select(sa.func.current_setting("enable_bitmapscan")).scalar_subquery(),
    sa.func.set_config("enable_bitmapscan", sa.bindparam("value"), True))
_EXISTING_NAMES = sa.select(products.c.name).join_from(
    _WANTED_NAMES, products,
    sa.and_(products.c.mission == sa.bindparam("mission"), products.c.name == _WANTED_NAMES.c.name))
#: PostgreSQL: which of many archive keys products name (``archive_keys_in_use``): one array
#: parameter, so a chunk of 10,000 keys is one scan of ``products`` (``archive_key`` has no index).
_KEYS_IN_USE = sa.select(products.c.archive_key).where(
    products.c.archive_key == sa.any_(sa.bindparam("keys", type_=sa.ARRAY(products.c.archive_key.type))))
#: Keys per such scan.
_KEYS_IN_USE_CHUNK = 10_000


def _record_quicklook(unsearched: bool, found: bool):
    """The ``UPDATE`` of :meth:`SQLAlchemyStorage.record_quicklooks` for one product: of a
    product never searched (else one whose quicklook is ``b_seen``), a path found (its revision
    up) or none. (Bind names other than the columns': an UPDATE reserves those for its SET.)"""
    p = products.c
    seen = p.quicklook.is_(None) if unsearched else p.quicklook == sa.bindparam("b_seen")
    return (sa.update(products)
            .where(p.mission == sa.bindparam("b_mission"), p.id == sa.bindparam("b_id"),
                   p.archive_key == sa.bindparam("b_key"), seen)
            .values(quicklook=sa.bindparam("b_found"), **({"revision": p.revision + 1} if found else {})))


_RECORD_QUICKLOOK = {(unsearched, found): _record_quicklook(unsearched, found)
                     for unsearched in (True, False) for found in (True, False)}
#: Products whose quicklooks :meth:`SQLAlchemyStorage.record_quicklooks` writes in one transaction.
QUICKLOOK_CHUNK = 50


def _visible_condition(dialect: str, visibilities: list[str]) -> tuple:
    """``(condition, parameters)``: products of one of the ``visibilities``. One class (a PUBLIC
    user's) is an equality; several are ``IN`` on SQLite and ``= ANY(array)`` on PostgreSQL
    (what PostgreSQL makes of an ``IN`` list itself): SQLAlchemy renders an expanding ``IN``'s
    parameters again on every execution (~0.1 ms a request). PostgreSQL does not simplify a
    one-element array to an equality, and its plans then filter the visibility on the rows of
    ``ix_products_mission_visibility`` instead of seeking it in the index: hence the equality."""
    if len(visibilities) == 1:
        return _PRODUCTS_VISIBLE_ONE, {"proseo_visibility": visibilities[0]}
    return (_PRODUCTS_VISIBLE_ANY if dialect == "postgresql" else _PRODUCTS_VISIBLE), {"proseo_visibilities": visibilities}


#: The conditions of the other entity sets' pages, bound (``proseo_mission``, ``proseo_owner``).
_BOUND_CONDITIONS = {
    name: {
        "mission": table.c.mission == sa.bindparam("proseo_mission"),
        "owner": table.c.owner == sa.bindparam("proseo_owner") if "owner" in table.c else None,
    }
    for name, table in (("Subscriptions", subscriptions), ("Workflows", workflows), ("ProductionOrders", orders))
}
_ENABLED_WORKFLOWS = workflows.c.enabled.is_(True)


def _bound_conditions(entity_set: str, mission: str, *, owner: str | None = None,
                      enabled_only: bool = False) -> tuple[list, dict]:
    """``(conditions, parameters)`` of a page of ``entity_set`` in ``mission`` (of ``owner``, of
    enabled workflows only): the same condition objects for every request, so the page statement
    is built once (:meth:`SQLAlchemyStorage._page_statement`)."""
    bound = _BOUND_CONDITIONS[entity_set]
    conditions, parameters = [bound["mission"]], {"proseo_mission": mission}
    if owner is not None:
        conditions.append(bound["owner"])
        parameters["proseo_owner"] = owner
    if enabled_only:
        conditions.append(_ENABLED_WORKFLOWS)
    return conditions, parameters


#: Page statements kept per storage (:meth:`SQLAlchemyStorage._page_statement`), the least
#: recently used leaving first; and members-text columns (:meth:`SQLAlchemyStorage._members_text`).
PAGE_STATEMENTS = 512
MEMBERS_TEXTS = 256
#: SQLite: areas whose choice of the R*Tree look-up is remembered
#: (:meth:`SQLAlchemyStorage._few_extent_candidates`), and for how many seconds.
EXTENT_CHOICES = 256
EXTENT_CHOICE_SECONDS = 60.0

# Statements read on every request for a product, built once (bound parameters): building a
# statement and its SQLAlchemy cache key costs about as much CPU as running it.
_PRODUCT = sa.select(products).where(products.c.id == sa.bindparam("proseo_id"), _PRODUCTS_OF_MISSION)
_PRODUCT_FOR_UPDATE = _PRODUCT.with_for_update()
_CHECKSUMS_OF_PRODUCTS = (
    sa.select(product_checksums).where(product_checksums.c.product_id.in_(sa.bindparam("proseo_ids", expanding=True)))
    .order_by(product_checksums.c.product_id, product_checksums.c.algorithm)
)
#: A page of ProductFile's checksums: the values alone (no dates to convert).
_CHECKSUM_VALUES_OF_PRODUCTS = (
    sa.select(product_checksums.c.product_id, product_checksums.c.algorithm, product_checksums.c.value)
    .where(product_checksums.c.product_id.in_(sa.bindparam("proseo_ids", expanding=True)))
    .order_by(product_checksums.c.product_id, product_checksums.c.algorithm)
)
_ATTRIBUTES_OF_PRODUCTS = (
    sa.select(product_attributes).where(product_attributes.c.product_id.in_(sa.bindparam("proseo_ids", expanding=True)))
    .order_by(product_attributes.c.product_id, product_attributes.c.name)
)


def _page_version(rows: list, column) -> "int | None":
    """The catalogue version the page ``rows`` were read under (their ``column``), or None when
    there are no rows or they come from statements of different snapshots (:func:`_page_rows`
    may complete a page with a second statement; versions only grow, so the first and the last
    row agree exactly when every row does)."""
    if not rows:
        return None
    first, last = rows[0]._mapping[column] or 0, rows[-1]._mapping[column] or 0
    return first if first == last else None


# --- row <-> domain conversion ----------------------------------------------------------------


def _row_tuple(columns: list[str]) -> Callable[[Mapping], tuple]:
    """A function giving a row dict's values for ``columns`` as a tuple, in that order."""
    if len(columns) == 1:
        return lambda row: (row[columns[0]],)
    return operator.itemgetter(*columns)


#: Attribute type -> (its ``value_type`` text, the column that holds its value).
_ATTRIBUTE_COLUMNS = {
    AttributeType.STRING: ("String", "string_value"),
    AttributeType.INTEGER: ("Integer", "int_value"),
    AttributeType.DOUBLE: ("Double", "double_value"),
    AttributeType.BOOLEAN: ("Boolean", "bool_value"),
    AttributeType.DATETIMEOFFSET: ("DateTimeOffset", "datetime_value"),
}


#: The columns of a ``product_attributes`` row, in :func:`_attribute_tuple`'s order.
_ATTRIBUTE_ROW_COLUMNS = ("product_id", "name", "value_type", "string_value", "int_value", "double_value",
                          "bool_value", "datetime_value")
#: Attribute type -> (its ``value_type`` text, the NULLs before its value column, the NULLs after).
_ATTRIBUTE_VALUE_AT = {
    kind: (value_type,
           (None,) * (_ATTRIBUTE_ROW_COLUMNS.index(column) - _ATTRIBUTE_ROW_COLUMNS.index("string_value")),
           (None,) * (len(_ATTRIBUTE_ROW_COLUMNS) - 1 - _ATTRIBUTE_ROW_COLUMNS.index(column)))
    for kind, (value_type, column) in _ATTRIBUTE_COLUMNS.items()
}


def _attribute_tuple(product_id, attribute: Attribute) -> tuple:
    """The ``product_attributes`` row of ``attribute`` in :data:`_ATTRIBUTE_ROW_COLUMNS` order:
    its value in its type's column, the other value columns NULL."""
    value_type, before, after = _ATTRIBUTE_VALUE_AT[attribute.type]
    return (product_id, attribute.name, value_type, *before, attribute.value, *after)


@functools.lru_cache(maxsize=8)
def _ewkb_dumper(oid: int):
    """A psycopg binary dumper for the ``geometry`` type of oid ``oid`` (one per database):
    the value is the geometry's EWKB (:func:`~proseo_odata.odata.geo.ewkb`), sent as it is,
    which is the binary form PostGIS reads (``geometry_recv``). Registered by oid only, on the
    cursor of a binary ``COPY`` (:meth:`SQLAlchemyStorage._insert_tuples`)."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    return type("EWKBDumper", (Dumper,), {"format": Format.BINARY, "oid": oid, "dump": lambda self, obj: obj})


def _attribute_row(product_id, attribute: Attribute) -> dict:
    return dict(zip(_ATTRIBUTE_ROW_COLUMNS, _attribute_tuple(product_id, attribute)))


#: The columns of a ``product_checksums`` row, in :func:`_checksum_tuple`'s order.
_CHECKSUM_ROW_COLUMNS = ("product_id", "algorithm", "value", "checksum_date")


def _checksum_tuple(product_id, checksum) -> tuple:
    return (product_id, checksum.algorithm, checksum.value, checksum.date)


def _attribute_from_row(row) -> Attribute:
    kind = AttributeType(row.value_type)
    value = {
        AttributeType.STRING: row.string_value,
        AttributeType.INTEGER: row.int_value,
        AttributeType.DOUBLE: row.double_value,
        AttributeType.BOOLEAN: row.bool_value,
        AttributeType.DATETIMEOFFSET: row.datetime_value,
    }[kind]
    if kind is AttributeType.BOOLEAN:
        value = bool(value)
    elif kind is AttributeType.DOUBLE and value is not None and not math.isfinite(value):
        # stored before non-finite Doubles were refused: read as it is (Attribute() refuses it)
        attribute = object.__new__(Attribute)
        attribute.__dict__.update(name=row.name, type=kind, value=value)
        return attribute
    return Attribute(row.name, kind, value)


def _product_values(product: Product) -> dict:
    return {
        "id": product.id,
        "mission": product.mission,
        "name": product.name,
        "content_type": product.content_type,
        "content_length": product.content_length,
        "origin_date": product.origin_date,
        "publication_date": product.publication_date,
        "modification_date": product.modification_date,
        "eviction_date": product.eviction_date,
        "online": product.online,
        "content_start": product.content_start,
        "content_end": product.content_end,
        "production_type": str(product.production_type),
        "footprint": product.footprint,
        "visibility": str(product.visibility),
        "archive_key": product.archive_key,
        "product_type": product.product_type,
        "quicklook": product.quicklook,
        # computed once here, not per response (migration 0006), or earlier (bulk ingest)
        **dict(zip(("footprint_literal", "footprint_geojson"), _footprint_renderings(product))),
        **promoted_values(product.attributes),
    }


#: PostgreSQL's estimate of a table's rows (-1: never analysed), which the planner reads, and
#: whether this role may ``ANALYZE`` it (its owner's or the database owner's member, or a
#: superuser: anyone else gets a warning and nothing done).
_STATISTICS_STATE = sa.text(
    "SELECT c.reltuples, pg_has_role(c.relowner, 'MEMBER') OR pg_has_role(d.datdba, 'MEMBER')"
    " FROM pg_class c, pg_database d WHERE c.oid = to_regclass(:name) AND d.datname = current_database()")
#: :meth:`SQLAlchemyStorage.refresh_statistics` waits this long for its lock, then leaves it.
_ANALYZE_LOCK_TIMEOUT = sa.text("SET LOCAL lock_timeout = '2s'")
#: :meth:`SQLAlchemyStorage.refresh_statistics`' statement (the tables of ``schema.py``).
_ANALYZE_PRODUCT_TABLES = sa.text("ANALYZE products, product_attributes, product_checksums")
#: SQLite: the rows of ``products`` its statistics count (None: never analysed). ``stat`` starts
#: with the table's row count for every index of the table.
_SQLITE_STATISTICS_STATE = sa.text(
    "SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = 'products'")
_SQLITE_HAS_STATISTICS = sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
#: SQLite: the R*Tree of footprint extents (migration 0012) is there.
_SQLITE_EXTENTS = sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'product_extents'")
#: SQLite: a new product's key, then its box under it (:meth:`SQLAlchemyStorage._index_extents`).
_NEW_EXTENT_KEYS = sa.insert(product_extent_keys)
_NEW_EXTENTS = sa.insert(product_extents).from_select(
    ["key", "min_x", "max_x", "min_y", "max_y"],
    sa.select(product_extent_keys.c.key, *(sa.bindparam(name, type_=sa.Double()) for name in ("min_x", "max_x", "min_y", "max_y")))
    .where(product_extent_keys.c.product_id == sa.bindparam("product_id", type_=sa.Uuid())))
#: SQLite: each index sampled, not read whole (about 10 ms at 100,000 products, flat above).
_SQLITE_ANALYSIS_LIMIT = sa.text("PRAGMA analysis_limit = 1000")
_SQLITE_ANALYZE = [sa.text(f"ANALYZE {table}") for table in ("products", "product_attributes", "product_checksums")]
_SQLITE_PRODUCT_ROWS = sa.select(sa.func.count()).select_from(products)


def _new_product_rows(batch: Iterable[Product]) -> Iterator[dict]:
    """The ``products`` row of each product of ``batch`` as a new product (revision 1)."""
    for product in batch:
        values = _product_values(product)
        values["revision"] = 1
        yield values


def _footprint_renderings(product: Product) -> tuple:
    """The product's (``Footprint`` literal, GeoJSON text): its ``rendered_footprint`` while
    that belongs to its ``footprint``, else :func:`render_footprint`."""
    rendered = product.rendered_footprint
    if rendered is not None and rendered[0] == product.footprint and rendered[1] is not None:
        return rendered[1], rendered[2]
    return render_footprint(product.footprint)


#: Product fields the loader does not take from the row, with their defaults (derived values).
#: (A field added to Product and missing here fails the contract suite's round trips.)
_PRODUCT_DERIVED = {"collection": None, "rendered_footprint": None, "stamp_publication": False}


def _product_from_row(row, checksums, attributes) -> Product:
    """The product of a ``products`` row, built without ``Product.__post_init__``'s checks and
    conversions of every date (the loader's values are already aware UTC datetimes, checksums
    come ordered by algorithm and attributes by name): ~40% of the page's Python time at 100
    products. The productType attribute/column agreement is made as the constructor does."""
    product = object.__new__(Product)
    product.__dict__.update(
        _PRODUCT_DERIVED,
        id=row.id,
        mission=row.mission,
        name=row.name,
        content_type=row.content_type,
        content_length=row.content_length,
        origin_date=row.origin_date,
        publication_date=row.publication_date,
        modification_date=row.modification_date,
        eviction_date=row.eviction_date,
        online=bool(row.online),
        checksums=sorted(checksums, key=operator.attrgetter("algorithm")) if len(checksums) > 1 else checksums,
        content_start=row.content_start,
        content_end=row.content_end,
        production_type=ProductionType(row.production_type),
        footprint=row.footprint,
        attributes=attributes,
        visibility=VisibilityClass(row.visibility),
        archive_key=row.archive_key,
        product_type=row.product_type,
        revision=row.revision,
        quicklook=row.quicklook,
    )
    if row.footprint_literal is not None:
        product.rendered_footprint = (row.footprint, row.footprint_literal, row.footprint_geojson)
    product.sync_product_type()
    return product


#: The ``products`` columns of a :class:`ProductEntry`, in its field order (its ``quicklook``
#: follows them in the page statement: :meth:`SQLAlchemyStorage._entry_columns`).
_ENTRY_COLUMNS = (
    "id", "name", "content_type", "content_length", "origin_date", "publication_date", "modification_date",
    "eviction_date", "online", "content_start", "content_end", "production_type", "footprint",
    "footprint_literal", "footprint_geojson",
)


#: What a page of :class:`ProductText` selects beside the id and the text when ``Assets`` is
#: expanded (what the web layer makes a product's assets of), in its field order.
_ASSET_COLUMNS = [products.c.name, products.c.quicklook, products.c.online, products.c.eviction_date]

#: What a page of :class:`ProductFile` selects (one list: the page statement is built once).
_FILE_COLUMNS = [products.c.id, products.c.name, products.c.archive_key, products.c.content_length,
                 products.c.quicklook]


def _json_datetime(text):
    """A date-time of a JSON aggregate: PostgreSQL writes ``timestamptz`` as ISO 8601 with the
    session's offset (``+00:00``)."""
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is timezone.utc else as_utc(value)


def _checksums_from_json(value) -> list:
    """The checksums of :meth:`SQLAlchemyStorage._entry_columns`' JSON array (psycopg returns
    it parsed; none: NULL), ordered by algorithm, built as the loaded values they are, without
    ``Checksum``'s checks."""
    if not value:
        return []
    checksums = []
    for algorithm, text, date in value:
        checksum = object.__new__(Checksum)
        checksum.__dict__.update(algorithm=algorithm, value=text, date=_json_datetime(date))
        checksums.append(checksum)
    if len(checksums) > 1:
        checksums.sort(key=operator.attrgetter("algorithm"))
    return checksums


def _subscription_values(s: Subscription) -> dict:
    return {
        "id": s.id,
        "mission": s.mission,
        "owner": s.owner,
        "status": str(s.status),
        "filter_param": s.filter_param,
        "stage_order": s.stage_order,
        "priority": s.priority,
        "submission_date": s.submission_date,
        "last_notification_date": s.last_notification_date,
        "notification_endpoint": s.notification_endpoint,
        "notification_username": s.notification_username,
        "notification_password": s.notification_password,  # sealed by the storage (_seal_values)
    }


def _subscription_from_row(row) -> Subscription:
    return Subscription(
        id=row.id,
        mission=row.mission,
        owner=row.owner,
        status=row.status,
        filter_param=row.filter_param,
        stage_order=bool(row.stage_order),
        priority=row.priority,
        submission_date=row.submission_date,
        last_notification_date=row.last_notification_date,
        notification_endpoint=row.notification_endpoint,
        notification_username=row.notification_username,
        notification_password=SecretBox.from_column(row.notification_password),
        revision=row.revision,
    )


def _option_to_json(option: WorkflowOption) -> dict:
    return {
        "name": option.name,
        "type": str(option.type),
        "description": option.description,
        "default": option.default,
        "allowed_values": list(option.allowed_values),
    }


def _workflow_values(w: Workflow) -> dict:
    return {
        "id": w.id,
        "mission": w.mission,
        "name": w.name,
        "description": w.description,
        "input_product_type": w.input_product_type,
        "output_product_type": w.output_product_type,
        "workflow_version": w.workflow_version,
        "options": [_option_to_json(o) for o in w.options],
        "processor": w.processor,
        "processor_config": w.processor_config,
        "enabled": w.enabled,
    }


def _workflow_from_row(row) -> Workflow:
    return Workflow(
        id=row.id,
        mission=row.mission,
        name=row.name,
        description=row.description,
        input_product_type=row.input_product_type,
        output_product_type=row.output_product_type,
        workflow_version=row.workflow_version,
        options=[WorkflowOption(**o) for o in row.options],
        processor=row.processor,
        processor_config=row.processor_config,
        enabled=bool(row.enabled),
        revision=row.revision,
    )


_ORDER_FIELDS = (
    "id", "mission", "owner", "status_message", "order_output_size", "submission_date",
    "estimated_date", "completed_date", "eviction_date", "priority", "input_reference",
    "input_content_start", "input_content_end", "workflow_id", "workflow_name",
    "notification_endpoint", "notification_username", "notification_password", "attempts",
    "worker_id", "lease_expires_at", "input_product_id", "output_product_id", "idempotency_key", "request_hash",
)


def _order_values(o: ProductionOrder) -> dict:
    values = {name: getattr(o, name) for name in _ORDER_FIELDS}
    values["status"] = str(o.status)
    values["production_type"] = str(o.production_type) if o.production_type is not None else None
    return values


def _order_from_row(row, options: dict) -> ProductionOrder:
    values = {name: getattr(row, name) for name in _ORDER_FIELDS}
    values["notification_password"] = SecretBox.from_column(values["notification_password"])
    return ProductionOrder(
        **values,
        status=row.status,
        production_type=row.production_type,
        workflow_options=options,
        revision=row.revision,
    )


def _outbox_from_row(row) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        kind=row.kind,
        mission=row.mission,
        endpoint=row.endpoint,
        username=row.username,
        password=SecretBox.from_column(row.password),
        payload=row.payload,
        created_at=row.created_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
    )


def _as_datetime(value):
    """An aggregate (min/max) of a ``UTCDateTime`` column: SQLite returns the stored text."""
    if value is None or isinstance(value, datetime):
        return as_utc(value) if value is not None else None
    from .types import UTCDateTime

    return UTCDateTime().process_result_value(value, None)


# --- engine ---------------------------------------------------------------------------------


#: Execution option marking an engine (and the sessions and connections made from it) as
#: read-only: on SQLite its transactions begin DEFERRED instead of IMMEDIATE. Writing through
#: such a connection still works, but may fail at once with "database is locked" under
#: concurrent writers; so use it only for work that never writes.
READ_ONLY_OPTION = "proseo_read_only"

#: SQLite: how long a transaction waits for the write lock before "database is locked" (seconds).
SQLITE_BUSY_TIMEOUT = 30.0
#: SQLite: how long ``refresh_statistics``' ``ANALYZE`` waits for it (PostgreSQL's lock_timeout: 2 s).
SQLITE_ANALYZE_LOCK_WAIT = 2.0

#: Defaults of the PostgreSQL waits (seconds); see :func:`create_engine`.
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_STATEMENT_TIMEOUT = 30
DEFAULT_POOL_TIMEOUT = 10
#: Seconds a pooled PostgreSQL connection may have been idle and still be used without a ping.
DEFAULT_POOL_PING_IDLE = 2.0


def _find_product_statement(id_only: bool, mission, *, product_type=None, name=None, covering=None,
                            visibilities=None) -> tuple[sa.Select, dict]:
    """The statement of ``find_product`` (``find_product_id``: ``id_only``) for these criteria
    and its parameters. The statement has bound parameters only, so each shape is built once
    (:func:`_find_product_shape`): building it and its cache key was a fifth of an order
    submission's Python time (issue 12 item 6)."""
    parameters = {"mission": mission}
    if product_type is not None:
        parameters["product_type"] = product_type
    if name is not None:
        parameters["name"] = name
    if covering is not None:
        parameters["start"], parameters["end"] = covering
    if visibilities is not None:
        parameters["visibilities"] = [str(v) for v in visibilities]
    return _find_product_shape(id_only, frozenset(parameters)), parameters


@functools.lru_cache(maxsize=64)
def _find_product_shape(id_only: bool, given: frozenset) -> sa.Select:
    conditions = [products.c.mission == sa.bindparam("mission")]
    if "product_type" in given:
        conditions.append(products.c.product_type == sa.bindparam("product_type"))
    if "name" in given:
        conditions.append(products.c.name == sa.bindparam("name"))
    if "start" in given:
        conditions += [products.c.content_start <= sa.bindparam("start", type_=products.c.content_start.type),
                       products.c.content_end >= sa.bindparam("end", type_=products.c.content_end.type)]
    if "visibilities" in given:
        conditions.append(products.c.visibility.in_(sa.bindparam("visibilities", expanding=True)))
    return (
        sa.select(products.c.id if id_only else products).where(*conditions)
        .order_by(products.c.publication_date.desc(), products.c.id.desc()).limit(1)
    )


@functools.lru_cache(maxsize=1)
def _order_queue_statement() -> sa.Select:
    """``order_queue_stats``' one round trip (on every submission's path), built once (bound
    parameters ``workflow_id``, ``priority``, ``history``): the count of orders ahead, LEFT
    JOINed with the workflow's last ``history`` completed orders (none: one row of NULLs)."""
    o = orders
    ahead = (
        sa.select(sa.func.count().label("ahead")).select_from(o).where(
            sa.or_(
                sa.and_(o.c.status == OrderStatus.QUEUED.value, o.c.priority >= sa.bindparam("priority")),
                o.c.status == OrderStatus.IN_PROGRESS.value,
            )
        ).subquery("ahead")
    )
    recent = (
        sa.select(o.c.submission_date, o.c.completed_date)
        .where(
            o.c.workflow_id == sa.bindparam("workflow_id"),
            o.c.status == OrderStatus.COMPLETED.value,
            o.c.completed_date.is_not(None),
        )
        .order_by(o.c.completed_date.desc(), o.c.id.desc())
        .limit(sa.bindparam("history", type_=sa.Integer))
    ).subquery("recent")
    return sa.select(ahead.c.ahead, recent.c.submission_date, recent.c.completed_date).select_from(
        ahead.outerjoin(recent, sa.true()))


def _sqlite_connect(dbapi_connection, _record) -> None:
    """A new SQLite connection of :func:`create_engine`'s: SQLAlchemy, not pysqlite, emits
    ``BEGIN`` (so SAVEPOINTs and rollbacks work: pysqlite's own transaction handling lets the
    outermost ``RELEASE`` commit), foreign keys on, WAL for a file (an in-memory database keeps
    its ``memory`` journal), and the functions the ``$filter`` SQL compiler needs (Intersects,
    Unicode case, date arithmetic). The busy timeout is pysqlite's ``timeout`` connect
    argument."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
    register_sqlite_functions(dbapi_connection)


def _sqlite_begin(connection) -> None:
    """SQLAlchemy's documented pysqlite recipe, with IMMEDIATE: a transaction that may write
    takes the write lock at BEGIN, waiting up to the busy timeout for it. A deferred transaction
    that read first and then writes is refused at once ("database is locked") whenever another
    writer holds or has just released the lock; the busy timeout never applies to that upgrade.
    Read-only sessions (read_session_factory, the web layer's GET/HEAD requests) begin DEFERRED:
    in WAL mode they read a snapshot and neither wait for nor block writers."""
    if connection.get_execution_options().get(READ_ONLY_OPTION):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_engine_configured(engine: sa.Engine) -> bool:
    """Whether ``engine`` (SQLite) was made by :func:`create_engine`: without its ``connect``
    and ``begin`` listeners a rolled-back transaction's savepoints stay committed and the
    ``$filter`` functions are missing."""
    return event.contains(engine, "connect", _sqlite_connect) and event.contains(engine, "begin", _sqlite_begin)


def create_engine(url: str, *, echo: bool = False, pool_size: int = 5, max_overflow: int = 10,
                  busy_timeout: float = SQLITE_BUSY_TIMEOUT, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                  statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT,
                  pool_timeout: float = DEFAULT_POOL_TIMEOUT,
                  pool_ping_idle: float = DEFAULT_POOL_PING_IDLE) -> sa.Engine:
    """An engine configured for this backend (SQLite pragmas and transactions, UTC sessions).

    SQLite (a file): WAL journal (readers never block the writer), ``BEGIN IMMEDIATE`` for every
    transaction not marked :data:`READ_ONLY_OPTION`, and ``busy_timeout`` seconds of waiting for
    the write lock. A missing database driver (psycopg) is a ``StorageError`` naming the extra.

    Every engine has ``hide_parameters=True``: an error's text names the statement but never
    its bound values (which can be a notification password). On PostgreSQL every wait is
    bounded so that a frozen or locked database turns into an error (a 503 in the web layer, a
    retry in the workers) instead of a stalled request: ``connect_timeout`` (seconds, libpq's,
    for a server that does not answer), ``statement_timeout`` (seconds, the server cancels a
    statement running or waiting for a lock longer; 0 = no limit) and ``pool_timeout``
    (seconds waiting for a free pooled connection). With a ``statement_timeout``, a client-side
    deadline of ``statement_timeout`` + 5 s also covers a server that does not answer at all
    (:mod:`proseo_odata.storage.watchdog`), and its checkout ping replaces ``pool_pre_ping``: a
    connection idle in the pool for more than ``pool_ping_idle`` seconds is pinged before use
    (replaced when it does not answer), one returned more recently is not (the ping was a
    round trip on every request, issue 12 item 6). The pool hands out the most recently returned
    connection first (LIFO), so under load the same few stay busy and the rest may idle out. A
    connection that the server dropped within the last ``pool_ping_idle`` seconds fails its
    request's first statement instead (a 503 that the client may retry; SQLAlchemy then
    replaces every connection of the pool that is older than the failure).
    """
    try:
        parsed = sa.engine.make_url(url)
    except (ValueError, sa.exc.ArgumentError):  # (the text is not repeated: it may hold a password)
        raise StorageError("the database URL (proseo.storage.url) cannot be read: it should look like "
                           "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE") from None
    if parsed.get_backend_name() == "sqlite":
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": busy_timeout}}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
        engine = sa.create_engine(parsed, echo=echo, hide_parameters=True, **kwargs)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.host and "@" in parsed.host:
            # user:p@ss@host: the URL ends its password at the first '@', and the rest of it
            # would be a host name that the driver's error repeats (it is not said here either)
            raise StorageError("the database URL (proseo.storage.url) has an '@' after its password's end: a "
                               "password holding '@' is written %40 in the URL (%%40 in an .ini file)")
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # force_custom_plan: psycopg prepares a statement after 5 runs, and PostgreSQL may then
        # reuse a generic plan, chosen without the bound values (a productType, a visibility
        # list, a LIKE prefix): fast or 10x slow by luck (bench/README.md, issue 12 item 2).
        options = "-c timezone=UTC -c plan_cache_mode=force_custom_plan"
        if statement_timeout and float(statement_timeout) > 0:
            options += f" -c statement_timeout={int(float(statement_timeout) * 1000)}"
        connect_args: dict[str, Any] = {"options": options}
        if connect_timeout and float(connect_timeout) > 0:
            connect_args["connect_timeout"] = max(1, math.ceil(float(connect_timeout)))  # libpq: whole seconds
        watched = bool(statement_timeout and float(statement_timeout) > 0)
        try:
            engine = sa.create_engine(
                parsed,
                echo=echo,
                hide_parameters=True,
                pool_pre_ping=not watched,  # the watchdog's checkout ping replaces it
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_timeout=float(pool_timeout),
                pool_use_lifo=True,
                connect_args=connect_args,
            )
        except ImportError as exc:
            raise StorageError(
                f"the PostgreSQL driver is not installed ({exc.name or exc}): "
                "pip install 'proseo-odata[postgresql]'"
            ) from None
        if watched:
            # A frozen server (SIGSTOP, a hung host) never answers, so the server-side timeout
            # cannot fire: the client gives up statement_timeout + a grace period later.
            from . import watchdog

            watchdog.install(engine, float(statement_timeout) + watchdog.GRACE_SECONDS, ping_idle=float(pool_ping_idle))
        return engine
    try:
        return sa.create_engine(parsed, echo=echo, hide_parameters=True)
    except sa.exc.NoSuchModuleError:
        raise StorageError(f"the database URL (proseo.storage.url) names {parsed.drivername!r}, a database "
                           "SQLAlchemy does not know (sqlite or postgresql)") from None
    except ImportError as exc:
        raise StorageError(f"the database driver for {parsed.drivername} is not installed ({exc.name or exc})") from None


def sqlite_file(engine: sa.Engine) -> "str | None":
    """The database file of a SQLite engine (None: not SQLite, or in memory)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.database.startswith("file:"):
        return None
    return url.database


def _execute_query(session: Session, statement, parameters: Mapping | None = None, *, rows: bool = False):
    """Run a query built from a client's options (with the values of its named bound
    ``parameters``); ``rows``: fetch them all here (SQLite evaluates a row's filter when it is
    fetched, so a function that raises on a later row raises there). A statement the database
    refuses because of the client's expression (too big, nested too deeply, a data exception on
    the stored rows: :func:`proseo_odata.storage.errors.query_refusal`) is the client's invalid
    query, not a failure of the database."""
    try:
        result = session.execute(statement, parameters)
        return result.all() if rows else result
    except OverflowError:  # SQLite binds 64-bit integers only (the binder keeps literals in range)
        raise InvalidQueryError("A number in $filter is out of range for the database", target="$filter") from None
    except RecursionError:  # SQLAlchemy's compiler, on functions nested about 90 deep (the parser allows 100)
        raise InvalidQueryError("The query is too complex for the database (nested too deeply): simplify $filter",
                                target="$filter") from None
    except sa.exc.DBAPIError as exc:
        refused = query_refusal(exc)
        if refused is None:
            raise
        raise refused from exc


#: SQLite page cache (KiB) of a connection while it writes a bulk batch (``add_products``).
SQLITE_BULK_CACHE_KIB = 128 * 1024


def _driver_error_event(context) -> "DatabaseUnavailableError | InvalidValueError | None":
    """The engine's ``handle_error`` hook: every statement, commit, rollback and connect of the
    backend's engines passes its driver error through the storage's choke point
    (:func:`proseo_odata.storage.errors.translate`): a transient one leaves as
    ``DatabaseUnavailableError`` (after SQLAlchemy's own clean-up: rollback, invalidation); a
    text parameter holding NUL as ``InvalidValueError`` (:func:`~proseo_odata.storage.errors.nul_refusal`)."""
    exc = context.sqlalchemy_exception or context.original_exception
    return translate(exc) or nul_refusal(exc)


@functools.lru_cache(maxsize=1)
def _migration_scripts():
    """The code's Alembic migrations (read once per process: they do not change while it runs)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return ScriptDirectory.from_config(config)


def _unknown_revision(current: str) -> Optional[SchemaNotReadyError]:
    """The one-line error of a schema at a revision these migrations do not know (a newer
    release made it: Alembic itself would end in a ``CommandError`` traceback); None when known."""
    from alembic.util import CommandError

    scripts = _migration_scripts()
    try:
        if scripts.get_revision(current) is not None:
            return None
    except CommandError:
        pass
    return SchemaNotReadyError(
        f"the database schema is at revision {current}, unknown to this version of proseo-odata "
        f"(newest: {scripts.get_current_head()}): install the version that created it")


class _SessionDataManager:
    """A session as a data manager of a ``transaction`` manager (pyramid_tm's ``request.tm``):
    the manager's commit commits the session, its abort rolls it back; the session is closed
    either way. The data-manager protocol of the ``transaction`` package (``IDataManager``),
    implemented here so that the core imports neither it nor zope: one resource, so the session
    commits in ``tpc_vote`` (a failure there aborts the whole transaction) and closes in
    ``tpc_finish``. Driver errors of the commit pass the engine's choke point
    (:func:`_driver_error_event`) like any other statement's."""

    def __init__(self, session: Session, transaction_manager):
        self.session = session
        self.transaction_manager = transaction_manager

    def sortKey(self) -> str:  # noqa: N802 - the protocol's name
        return f"~proseo_odata.storage:{id(self.session)}"  # after other resources, as zope.sqlalchemy

    def tpc_begin(self, txn) -> None:
        self.session.flush()

    def commit(self, txn) -> None:
        pass

    def tpc_vote(self, txn) -> None:
        self.session.commit()

    def tpc_finish(self, txn) -> None:
        self.session.close()

    def abort(self, txn) -> None:
        self.session.close()  # closing rolls back what the session began

    tpc_abort = abort


class _ConnectionDataManager(_SessionDataManager):
    """A read-only join's ``sqlalchemy.Connection`` as the data manager (:meth:`SQLAlchemyStorage.join`):
    nothing to flush; its commit ends a SQLite read transaction (on PostgreSQL the connection is
    in autocommit), its close returns it to the pool."""

    def tpc_begin(self, txn) -> None:
        pass


class _PageStatement:
    """A page statement (:meth:`SQLAlchemyStorage._page_statement`), the bound ``$filter`` tree
    it was compiled from (kept alive: its identity is in the statement's cache key), and the
    statements :func:`_page_rows` derives from it, each built once (:meth:`derived`)."""

    __slots__ = ("statement", "filter", "_derived")

    def __init__(self, statement, bound_filter):
        self.statement = statement
        self.filter = bound_filter
        self._derived: dict[str, Any] = {}

    def derived(self, name: str, build: Callable[[], Any]):
        statement = self._derived.get(name)
        if statement is None:  # two threads may both build it: the same statement, one kept
            statement = self._derived.setdefault(name, build())
        return statement


class SQLAlchemyStorage(StorageBase):
    """:class:`StorageBase` on SQLAlchemy Core. Construct with :meth:`from_url` or
    :func:`load_from_config`; ``bind``/``transaction`` return bound copies sharing the engine."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        collections: CollectionRule = DEFAULT_COLLECTION_RULE,
        secrets: SecretBox | None = None,
        skip_memo: SkipMemo | None = None,
        user_cache: ReadCache | None = None,
        workflow_cache: ReadCache | None = None,
        count_exact_limit: int | None = DEFAULT_COUNT_EXACT_LIMIT,
        _session: Session | None = None,
        _root: "SQLAlchemyStorage | None" = None,
    ):
        if _root is None and engine.dialect.name == "sqlite" and not sqlite_engine_configured(engine):
            # A plain sa.create_engine("sqlite:///..."): pysqlite's own transaction handling
            # would commit a rolled-back product's savepoint at its RELEASE.
            raise StorageError(
                "a SQLite engine for the storage must come from "
                "proseo_odata.storage.sqlalchemy.create_engine(url) (or use "
                "SQLAlchemyStorage.from_url): a plain SQLAlchemy engine lets pysqlite commit "
                "what a rollback should undo, and lacks the $filter functions")
        self.engine = engine
        self._session = _session
        self._root = _root or self
        self.collections = collections if _root is None else _root.collections
        if _root is None:
            self.session_factory = sessionmaker(bind=engine, expire_on_commit=False)
            #: Sessions for work that never writes (the web layer's GET and HEAD requests): on
            #: SQLite they begin DEFERRED, so they do not wait for the write lock; on PostgreSQL
            #: they run in autocommit (no BEGIN/COMMIT round trips; each statement its own
            #: snapshot, as READ COMMITTED gives a transaction's statements too).
            read_options: dict[str, Any] = {READ_ONLY_OPTION: True}
            if engine.dialect.name == "postgresql":
                read_options["isolation_level"] = "AUTOCOMMIT"
            #: The engine of :attr:`read_session_factory` and of read-only joins (:meth:`join`).
            self.read_engine = engine.execution_options(**read_options)
            self.read_session_factory = sessionmaker(bind=self.read_engine, expire_on_commit=False)
            self._tables: SchemaTables | None = None
            #: SQLite: the R*Tree of footprint extents is there (migration 0012; None: not looked yet)
            self._extents: bool | None = None
            if not event.contains(engine, "handle_error", _driver_error_event):
                event.listen(engine, "handle_error", _driver_error_event)
            #: Statements the engine ran without error (approximate under threads): how a server
            #: tells a database that is back from a request its caches answered.
            self.statements_run = 0
            self._statement_counter = self._count_statement  # one object: listened to, then removed
            event.listen(engine, "after_cursor_execute", self._statement_counter)
            self._tables_lock = threading.Lock()
            #: Seals notification passwords before they are written (proseo_odata.secretbox).
            self.secrets = secrets if secrets is not None else SecretBox()
            self._order_signal: OrderSignal | None = None
            #: Missions seen to exist (:meth:`_require_known_mission`).
            self._known_missions: set[str] = set()
            #: (table, columns) -> their type oids and geometry's, for binary COPY (:meth:`_copy_types`).
            self._copy_type_oids: dict[tuple, tuple[list[int], int | None]] = {}
            #: Keyset positions of ``$skip`` pages served (:mod:`proseo_odata.storage.skipmemo`).
            self.skip_memo = skip_memo if skip_memo is not None else SkipMemo()
            #: mission -> the catalogue version its last ``$skip`` page was read under: the memo
            #: scope a position is looked up in (:meth:`_memo_page`).
            self._catalogue_seen: dict[str, int] = {}
            #: Page statements by shape (:meth:`_page_statement`), at most :data:`PAGE_STATEMENTS`.
            #: An entry holds the column and condition objects whose ids are in its key, so no
            #: other object can have those ids while it is kept.
            self._page_statements = ExpiringLRU(PAGE_STATEMENTS)
            #: Users by (mission, name) and enabled workflows by mission, for a few seconds
            #: (:mod:`proseo_odata.storage.readcache`): ``get_user``/``list_workflows`` with
            #: ``cached=True`` (authentication, order submission).
            self.user_cache = user_cache if user_cache is not None else ReadCache()
            self.workflow_cache = workflow_cache if workflow_cache is not None else ReadCache()
            #: Counts above this are PostgreSQL's estimate (:mod:`proseo_odata.storage.counts`);
            #: None: always exact. SQLite always counts exactly.
            self.count_exact_limit = count_exact_limit if engine.dialect.name == "postgresql" else None
            #: The select list of a page of product entries (:meth:`_entry_columns`).
            self._entry_columns_built: list | None = None
            #: The members-text column of a page per (members, fraction digits, mission
            #: default collection) (:meth:`_members_text`), at most :data:`MEMBERS_TEXTS`.
            self._members_texts = ExpiringLRU(MEMBERS_TEXTS)
            #: SQLite: (area text, limit) -> whether its box meets few footprints' boxes
            #: (:meth:`_few_extent_candidates`), at most :data:`EXTENT_CHOICES`.
            self._extent_choices = ExpiringLRU(EXTENT_CHOICES)
            #: PostgreSQL: the database's text order was looked at (:meth:`_warn_text_order`).
            self._text_order_looked = False
            #: SQLite: products stored one at a time since the statistics were last looked at,
            #: the count at which they are looked at next (None: :attr:`STATISTICS_CHECK_EVERY`),
            #: and the thread looking at them (:meth:`_product_added`).
            self._grown = 0
            self._grown_next_check: float | None = None
            self._statistics_thread: threading.Thread | None = None
            #: SQLite: (the rows the statistics estimate, the exact rows) of ``products`` at
            #: this process's last ``ANALYZE``.
            self._analysed_rows: tuple[int, int] | None = None
            self._closed = False
        else:
            self.session_factory = _root.session_factory
            self.read_session_factory = _root.read_session_factory
            self.read_engine = _root.read_engine
            self.secrets = _root.secrets
            self.skip_memo = _root.skip_memo
            self.user_cache = _root.user_cache
            self.workflow_cache = _root.workflow_cache
            self.count_exact_limit = _root.count_exact_limit

    @classmethod
    def from_url(cls, url: str, *, collections: CollectionRule = DEFAULT_COLLECTION_RULE,
                 secrets: SecretBox | None = None, skip_memo: SkipMemo | None = None,
                 count_exact_limit: int | None = DEFAULT_COUNT_EXACT_LIMIT,
                 user_cache: ReadCache | None = None, workflow_cache: ReadCache | None = None,
                 **engine_options) -> "SQLAlchemyStorage":
        return cls(create_engine(url, **engine_options), collections=collections, secrets=secrets,
                   skip_memo=skip_memo, count_exact_limit=count_exact_limit, user_cache=user_cache,
                   workflow_cache=workflow_cache)

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def initialize_schema(self) -> None:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        config = Config()
        config.set_main_option("script_location", MIGRATIONS)
        path = sqlite_file(self.engine)
        if path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # Migrations (a backfill or an index build on a large catalogue) may run for minutes:
        # neither the server's statement_timeout nor the client's deadline applies to them.
        with self.engine.execution_options(**{UNWATCHED_OPTION: True}).begin() as connection:
            if self.dialect == "postgresql":
                connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            config.attributes["connection"] = connection
            config.attributes["secrets"] = self.secrets  # migration 0004 seals stored passwords
            current = MigrationContext.configure(connection).get_current_revision()
            unknown = _unknown_revision(current) if current is not None else None
            if unknown is not None:  # made by a newer release
                raise unknown
            command.upgrade(config, "head")
        if sqlite_file(self.engine) is not None:  # (in memory the one connection is the database)
            # another pooled connection keeps the old schema for PRAGMAs such as foreign_key_list
            # (statements re-read a changed schema; those PRAGMAs do not): none is kept
            self.engine.dispose()
        self._root._tables = self._root._extents = None
        self._root._page_statements.clear()  # their compiled filters were made for the old tables
        self._root._extent_choices.clear()
        if self.dialect == "sqlite":
            with self._db() as s:
                self._index_missing_extents(s)
        self._warn_text_order()

    def _warn_text_order(self) -> None:
        """PostgreSQL: log a warning when the database orders text by a locale's rules (its
        collation is not ``C``/``POSIX``, or its provider is ICU). ``$orderby=Name`` and text
        comparisons (``Name gt 'x'``) then follow that locale, not code points as on SQLite and
        in subscriptions' matching (docs/configuration.md, ``proseo.storage.url``). Once per
        storage: ``check_schema`` also serves the readiness probe."""
        root = self._root
        if self.dialect != "postgresql" or root._text_order_looked:
            return
        root._text_order_looked = True
        with self.read_engine.connect() as connection:
            row = connection.execute(
                sa.text("SELECT * FROM pg_database WHERE datname = current_database()")).mappings().first()
        if row is None:
            return
        collation, provider = row.get("datcollate"), row.get("datlocprovider")  # (provider: PostgreSQL 15+)
        # code-point order: libc's C, POSIX and C.UTF-8, or PostgreSQL 17's builtin provider
        if provider == "b" or (collation in ("C", "POSIX", "C.UTF-8", "C.utf8") and provider in (None, "c")):
            return
        log.warning(
            "the PostgreSQL database orders text by %s: $orderby on text properties and text comparisons "
            "(Name gt 'x') follow it, not code-point order as SQLite and subscriptions do; create the database "
            "with LC_COLLATE 'C' and the libc provider (docs/configuration.md, proseo.storage.url)",
            "ICU" if provider == "i" else f"the collation {collation!r}")

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: not initialised)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.execution_options(**{READ_ONLY_OPTION: True}).connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def schema_head() -> str:
        """The newest revision of the code's migrations."""
        return _migration_scripts().get_current_head()

    def _count_statement(self, *_args) -> None:
        self.statements_run += 1

    def check_schema(self) -> None:
        """See :meth:`StorageBase.check_schema`: compares the Alembic revision with the head."""
        run_initdb = "run `proseo-odata -c CONFIG.ini initdb`"
        path = sqlite_file(self.engine)
        if path is not None and not os.path.isfile(path):
            # Not even connecting: SQLite would create an empty file (or fail on a missing folder).
            raise SchemaNotReadyError(f"the database {path} does not exist yet: {run_initdb} first")
        try:
            with driver_errors():
                current = self.schema_revision()
        except (DatabaseUnavailableError, sa.exc.DBAPIError) as exc:
            # the driver's reason too (a wrong password, no such database): this message is for
            # the operator (command line, start-up log); clients get a fixed 503 text
            detail = driver_detail(exc)
            reason = describe(exc) + (f": {detail}" if detail else "")
            if path is not None:
                raise SchemaNotReadyError(f"cannot open the database {path}: {reason}") from None
            raise DatabaseUnavailableError(f"cannot reach the database: {reason}", reason=describe(exc)) from None
        if current is None:
            raise SchemaNotReadyError(f"the database has no proseo-odata schema: {run_initdb} first")
        head = _migration_scripts().get_current_head()
        if current == head:
            self._warn_text_order()
            return
        unknown = _unknown_revision(current)
        if unknown is not None:
            raise unknown
        raise SchemaNotReadyError(
            f"the database schema is at revision {current}, this version needs {head}: {run_initdb} to upgrade it"
        )

    def close(self) -> None:
        if self._root is self:
            self._closed = True  # a look at the statistics (SQLite) starts no ANALYZE now
            thread = self._statistics_thread
            if thread is not None:  # its reads, or its ANALYZE: a few ms, or the lock's wait
                thread.join(SQLITE_ANALYZE_LOCK_WAIT + 10)
            if self._order_signal is not None:
                self._order_signal.close()
            if event.contains(self.engine, "after_cursor_execute", self._statement_counter):
                event.remove(self.engine, "after_cursor_execute", self._statement_counter)
            self.engine.dispose()

    @property
    def order_signal(self) -> OrderSignal:
        """Woken when a transaction that queued an order commits (in this process; on
        PostgreSQL in every process, through ``LISTEN``/``NOTIFY``): the workers' wake-up
        (:mod:`proseo_odata.storage.order_signal`)."""
        root = self._root
        if root._order_signal is None:
            with root._tables_lock:
                if root._order_signal is None:
                    root._order_signal = OrderSignal(self.engine if self.dialect == "postgresql" else None)
        return root._order_signal

    def _order_queued(self, s: Session) -> None:
        mark_order_queued(s, self.order_signal)

    @contextlib.contextmanager
    def transaction(self) -> Iterator["SQLAlchemyStorage"]:
        if self._session is not None:
            raise StorageError("transaction() on a storage already bound to a transaction")
        session = self.session_factory()
        try:
            with driver_errors(), session.begin():
                yield self.bind(session)
        finally:
            session.close()

    def bind(self, handle: Session) -> "SQLAlchemyStorage":
        """A storage running in the ``sqlalchemy.orm.Session`` ``handle`` (the caller commits);
        for work that only reads, a ``sqlalchemy.Connection`` serves as well (:meth:`join`)."""
        return SQLAlchemyStorage(self.engine, _session=handle, _root=self._root)

    def join(self, transaction_manager, *, read_only: bool = False) -> "SQLAlchemyStorage":
        """See :meth:`StorageBase.join`: a new session joined to the manager's current
        transaction as a data manager. ``read_only``: a connection of :attr:`read_engine`
        instead (on SQLite it begins DEFERRED and reads a WAL snapshot without the write lock;
        on PostgreSQL it is in autocommit): reads need nothing of a session, whose machinery
        (begin, flush, commit, close) cost ~0.1 ms of a small request's ~0.9 ms of CPU."""
        if self._session is not None:
            raise StorageError("join() on a storage already bound to a transaction")
        if read_only:
            storage, _ = self.read_only()
            transaction_manager.get().join(_ConnectionDataManager(storage._session, transaction_manager))
            return storage
        session = self.session_factory()
        transaction_manager.get().join(_SessionDataManager(session, transaction_manager))
        return self.bind(session)

    def read_only(self) -> "tuple[SQLAlchemyStorage, Callable[[], None]]":
        """See :meth:`StorageBase.read_only`: a pooled connection of :attr:`read_engine` (in
        autocommit on PostgreSQL: each statement its own snapshot, no ``BEGIN``/``COMMIT``
        round trips; on SQLite a DEFERRED transaction reading one WAL snapshot); ``release``
        closes it, which ends SQLite's read transaction and returns it to the pool."""
        if self._session is not None:
            raise StorageError("read_only() on a storage already bound to a transaction")
        with driver_errors():  # no pooled connection in time: unavailable, as any driver error
            connection = self.read_engine.connect()
        return self.bind(connection), connection.close

    def _sealed(self, values: dict, column: str) -> dict:
        """``values`` with the secret ``column`` in its stored form (see proseo_odata.secretbox)."""
        if column in values:
            values[column] = self.secrets.to_column(values[column])
        return values

    @contextlib.contextmanager
    def _db(self) -> Iterator[Session]:
        if self._session is not None:
            with driver_errors():
                yield self._session
        else:
            with self.transaction() as bound:
                yield bound._session

    @property
    def tables(self) -> SchemaTables:
        """The schema and the database's abilities, for filter compilers."""
        root = self._root
        if root._tables is None:
            with root._tables_lock:
                if root._tables is None:
                    postgis = False
                    if self.dialect == "postgresql":
                        # In the bound work when there is one (:meth:`_db`): a second connection
                        # taken while its own is held waits for a free pool slot, forever with a
                        # pool of one, and under a burst of first requests on a full pool.
                        with self._db() as s:
                            postgis = s.execute(_FOOTPRINT_GEOM_TYPE).scalar() == "geometry"
                    root._tables = SchemaTables(dialect=self.dialect, postgis=postgis, collections=root.collections)
        return root._tables

    #: SQLite: an ``OData.CSC.Intersects`` area whose box meets the boxes of at least this many
    #: footprints is not looked up in the R*Tree of extents (migration 0012) but tested on the
    #: rows the rest of the filter and the page's order give, as without it. The look-up reads
    #: every candidate before the first row (about 2.5 µs each: an area around a regional
    #: catalogue's every product would make a page of a million products take seconds), while
    #: an area that many products meet fills a page after a few of the rows in order.
    EXTENT_CANDIDATES_LIMIT = 20_000

    def _filter_clause(self, entity_set: str, bound_filter, extents: bool = False, guard=None, now=None):
        """The bound filter compiled; ``extents``: its areas are looked up in SQLite's R*Tree of
        footprint extents (when the database has one); ``guard``: see :meth:`_guarded_filter`;
        ``now``: the value of ``now()`` (:attr:`Query.now`; None: the time it is compiled)."""
        if bound_filter is None:
            return None
        from . import mapping  # imported here: the mapping imports this package's schema

        tables = self.tables
        if extents:
            tables = dataclasses.replace(tables, extents=True)
        return mapping.compile_filter(entity_set, bound_filter, tables, guard=guard, now=now)

    def _guarded_filter(self, entity_set: str, bound_filter, extents: bool, conditions: Sequence, now=None):
        """:meth:`_filter_clause` for a page or count restricted by ``conditions`` (the caller's
        mission, visibility classes, owner). Arithmetic and a ``matchesPattern`` whose pattern is
        computed from the row (:func:`~proseo_odata.odata.binding.may_fail_on_data`) fail on some
        rows' values (a 400: an Int64 or Double out of range, no regular expression), and the
        databases evaluate a statement's conditions in the order they like: PostgreSQL by
        estimated cost, where a regular expression costs no more than ``mission = ...`` and went
        first, and a lambda's condition ran over the whole attributes table (a hashed subplan).
        A row the caller may not see then failed the request, and comparisons in front of the
        failing part read its values out. Such a part is compiled as ``CASE WHEN conditions THEN
        part ELSE false END`` (a CASE evaluates a branch only when its condition holds; in a
        lambda's subquery the conditions correlate it with the product, which also keeps it from
        being hashed), so it is evaluated only on rows the caller may see. Every other filter
        compiles as it is."""
        guard = sa.and_(*conditions) if conditions and may_fail_on_data(bound_filter) else None
        return self._filter_clause(entity_set, bound_filter, extents, guard, now)

    def _few_extent_candidates(self, session: Session, bound_filter) -> bool:
        """SQLite: whether the filter has ``OData.CSC.Intersects`` areas, the database the R*Tree
        of footprint extents, and each area meets the boxes of fewer than
        :attr:`EXTENT_CANDIDATES_LIMIT` footprints (counted up to it, in the R*Tree). An area's
        answer is remembered for :data:`EXTENT_CHOICE_SECONDS`: counting costs up to a few ms
        (2-4 ms for the whole plane at 100,000 products), and the answer only chooses between
        two plans with the same rows, so one a little behind the catalogue's growth costs time,
        never a wrong answer."""
        from proseo_odata.odata.binding import BIntersects, walk

        from . import mapping

        if self.dialect != "sqlite" or bound_filter is None:
            return False
        areas = [node.wkt for node in walk(bound_filter) if isinstance(node, BIntersects)]
        if not areas:
            return False
        if not self._has_extents(session):
            return False
        limit = self.EXTENT_CANDIDATES_LIMIT
        choices = self._root._extent_choices
        for area in areas:
            few = choices.get((area, limit))
            if few is None:
                boxes = (sa.select(sa.literal(1)).select_from(product_extents)
                         .where(*mapping.extents_meeting(area_bounds(area))).limit(limit).subquery())
                few = session.execute(sa.select(sa.func.count()).select_from(boxes)).scalar() < limit
                choices.put((area, limit), few, choices.clock() + EXTENT_CHOICE_SECONDS)
            if not few:
                return False
        return True

    @staticmethod
    def _lock(statement, for_update: bool):
        return statement.with_for_update() if for_update else statement

    def _insert(self, session: Session, table: sa.Table, values, what: str):
        """INSERT inside a savepoint so a constraint violation leaves the transaction usable."""
        with refusals(conflict=f"{what} already exists", invalid=f"{what}: a value does not fit the database"):
            with session.begin_nested():
                session.execute(sa.insert(table), values if isinstance(values, list) else [values])

    def _require_mission(self, session: Session, code: str) -> None:
        if session.execute(sa.select(missions.c.code).where(missions.c.code == code)).first() is None:
            raise NotFoundError(f"No mission {code!r}")

    def _require_known_mission(self, session: Session, code: str) -> None:
        """:meth:`_require_mission`, remembered once seen (a mission is deleted only when
        nothing refers to it any more; a write that then fails on the foreign key asks again)."""
        known = self._root._known_missions
        if code not in known:
            self._require_mission(session, code)
            known.add(code)

    def _update_revisioned(self, session, table, obj, values: dict, what: str, unique_what: str | None = None):
        statement = (
            sa.update(table)
            .where(table.c.id == obj.id, table.c.mission == obj.mission, table.c.revision == obj.revision)
            .values(**values, revision=obj.revision + 1)
        )
        with refusals(conflict=f"{unique_what or what} already exists",
                      invalid=f"{what} {obj.id}: a value does not fit the database"):
            with session.begin_nested():
                result = session.execute(statement)
        if result.rowcount == 1:
            return obj.revision + 1
        exists = session.execute(
            sa.select(table.c.revision).where(table.c.id == obj.id, table.c.mission == obj.mission)
        ).first()
        if exists is None:
            raise NotFoundError(f"No {what} with id {obj.id}")
        raise ConflictError(
            f"{what} {obj.id} was changed by someone else (revision {exists.revision}, "
            f"not {obj.revision}); reload and retry"
        )

    def _catalogue_changed(self, session: Session, changed: Iterable[str]) -> None:
        """Bump the catalogue version of the ``changed`` missions in ``session``'s transaction
        (one UPSERT; the row is made by the first write of a mission): positions the ``$skip``
        memo remembered under the old version are no longer used (:meth:`_run_query`). Every
        write of ``products``, ``product_checksums`` or ``product_attributes`` calls it."""
        codes = sorted(set(changed))  # one lock order
        for mission in codes:  # until a page reads the new version, no position is looked up
            self._root._catalogue_seen.pop(mission, None)
        statement = self._dialect_insert(catalogue_versions).values(
            [{"mission": mission, "version": 1} for mission in codes]
        )
        session.execute(statement.on_conflict_do_update(
            index_elements=[catalogue_versions.c.mission], set_={"version": catalogue_versions.c.version + 1}
        ))

    def _execute_one(self, session, statement, what: str) -> None:
        if session.execute(statement).rowcount == 0:
            raise NotFoundError(f"No {what}")

    def _run_query(
        self,
        session: Session,
        entity_set: str,
        query: Query,
        conditions: list,
        load: Callable[[Session, list], list],
        scope: tuple = (),
        columns: Sequence | None = None,
        catalogue: str | None = None,
        parameters: Mapping | None = None,
    ) -> QueryResult:
        """One page of ``query`` on ``entity_set`` restricted by ``conditions``; ``scope`` is a
        hashable value of what ``conditions`` restrict (mission, visibility classes, owner...):
        with the filter and order it keys the ``$skip`` memo
        (:mod:`proseo_odata.storage.skipmemo`). The page selects ``columns`` (default: the
        whole row), with the sort-key columns the paging needs added when missing.
        ``parameters``: the values of the named bound parameters of ``conditions``, when they
        have them instead of literal values; the same ``conditions`` and ``columns`` objects then
        make the same statement, which is built once (:meth:`_page_statement`).

        The memo is used only with ``catalogue``, the mission whose products the query reads.
        Its catalogue version (``catalogue_versions``, bumped by every product write) is part of
        the memo scope, so a position remembered before a write (by this process or another) is
        never used after it. The version is read by the page statement itself (a scalar
        sub-select column, :data:`_CATALOGUE_VERSION`): one snapshot with the page's rows even
        under READ COMMITTED, and no round trip of its own. The position a ``$skip`` page seeks
        from is picked under the version this process saw last (:meth:`_memo_page`); a page whose
        own version differs is read again by ``OFFSET``, and a position is stored only under the
        version of the snapshot its page was read in. Other entity sets page by OFFSET."""
        table = MAIN_TABLES[entity_set]
        keys = _sort_keys(entity_set, query.orderby, self.tables)
        values = dict(parameters or {})
        count = None
        exact = True
        # SQLite: whether the filter's areas are looked up in the R*Tree of extents, decided per
        # request (the catalogue changes; a cached page statement is kept for each answer)
        extents = self._few_extent_candidates(session, query.filter)
        # the compiled $filter, once per request and only when needed (a cached page has it)
        filter_clause = functools.cache(lambda: self._guarded_filter(entity_set, query.filter, extents, conditions,
                                                                          query.now))
        if query.count:
            clause = filter_clause()
            count, exact = count_rows(session, lambda s, statement: _execute_query(s, statement, values), table,
                                      conditions if clause is None else [*conditions, clause], self.count_exact_limit)
        if query.top == 0:
            # $top=0 asks only for the count (or nothing): no rows, no next page. The filter is
            # still compiled, so one the database cannot run is refused here as on any page.
            filter_clause()
            return QueryResult(items=[], count=count, next_skiptoken=None, next_skip=None)
        memo = self.skip_memo
        version = None
        if (memo.enabled and catalogue is not None and query.skiptoken is None
                and (query.skip or query.top is not None)
                # a filter calling now() selects other rows at another time: a position
                # remembered for it would be another moment's
                and (query.filter is None or not calls_now(query.filter))):
            version = _CATALOGUE_VERSION
            values["proseo_catalogue"] = catalogue
        if query.top is not None:
            values["proseo_limit"] = query.top + 1
        shape = None
        if parameters is not None:
            shape = (entity_set, None if columns is None else tuple(map(id, columns)), tuple(map(id, conditions)),
                     tuple(query.orderby), version is not None, query.top is None,
                     None if query.filter is None else id(query.filter), extents)

        def page(seek, skip: int) -> list:
            """The page's rows, after the sort-key values ``seek`` (None: from the start) and
            ``skip`` rows more."""
            values["proseo_offset"] = skip
            if seek is not None:
                values.update(_seek_parameters(seek))
            statement = self._page_statement(shape, query.filter, filter_clause, table, columns, conditions, keys,
                                             version, seek, skip, query.top)
            return _page_rows(session, statement.statement, keys, seek, query.top, bool(skip), values,
                              statement.derived)

        offset = query.skip
        memo_scope = seen = None
        if query.skiptoken is not None:
            seek, offset = decode_skiptoken(entity_set, keys, query.skiptoken)
            rows = page(seek, 0)
        elif version is not None:
            memo_scope = (entity_set, scope, query.filter, tuple(query.orderby))
            rows, seen = self._memo_page(session, page, memo_scope, query.skip, catalogue, version)
        else:
            rows = page(None, query.skip)
        next_token = next_skip = None
        if query.top is not None and len(rows) > query.top:
            rows = rows[: query.top]
            next_skip = offset + len(rows)
            last = rows[-1]
            next_token = encode_skiptoken(entity_set, keys, last, next_skip)
            if seen is not None:  # only $skip pages: a forged $skiptoken's offset is no position
                memo.put(memo.key((*memo_scope, seen), next_skip), [last._mapping[column] for _, _, column in keys])
        if not exact:  # an estimate is at least the rows this page shows to exist
            count = max(count, offset + len(rows) + (next_skip is not None))
        return QueryResult(items=load(session, rows), count=count, next_skiptoken=next_token, next_skip=next_skip)

    def _page_statement(self, shape, bound_filter, filter_clause: Callable[[], Any], table, columns, conditions,
                        keys, version, seek, skip: int, top: int | None) -> "_PageStatement":
        """The statement of a page (see :meth:`_run_query`). Every value in it is a bound
        parameter: the mission, visibility classes, LIMIT and OFFSET, the seek's sort-key values
        (:func:`_after_clause`), and the literals of the compiled ``$filter``, which are the
        filter's own. So a page whose ``shape`` is known (entity set, the identities of
        ``columns``, ``conditions`` and of the bound ``$filter`` tree, order, version column,
        ``$top`` or not), with the same NULLs in its seek and an OFFSET or not, comes from
        :attr:`_page_statements`: its filter compiled once, the statement built once and its
        SQLAlchemy cache key computed once. Building a filtered page statement and its cache key
        costs ~0.3-0.5 ms, a third of a page's Python time (issue 12 item 4). A bound tree is the
        same object for the same filter text while :data:`proseo_odata.odata.cache.default_cache`
        keeps it (the cached statement keeps it alive, so its identity is never another tree's):
        every page of a client paging through one query after the first, and every poll of a
        query repeated, skip the filter's compilation for the page (a ``$count`` still compiles
        it for its count statement). A filter calling ``now()`` (its value is fixed when it is
        compiled) is compiled per request. A schema upgrade (:meth:`initialize_schema`) empties
        the cache: compiled filters depend on the schema's abilities (:attr:`tables`)."""
        key = None
        if shape is not None:
            key = (*shape, None if seek is None else tuple(value is None for value in seek), bool(skip))
            entry = self._root._page_statements.get(key)
            if entry is not None:
                return entry
        if columns is None:
            selected = [table]
        else:  # the key columns themselves (rows give the skiptoken's values by column)
            selected = [*columns, *(column for _, _, column in keys if not any(column is c for c in columns))]
        if version is not None:
            selected.append(version)
        statement = sa.select(*selected).where(*conditions).order_by(*_order_clauses(keys))
        clause = filter_clause()  # ``bound_filter`` compiled
        if clause is not None:
            statement = statement.where(clause)
        if seek is not None:
            statement = statement.where(_after_clause(keys, seek))
        if skip:
            statement = statement.offset(_OFFSET)
        if top is not None:
            statement = statement.limit(_LIMIT)
        if seek is None and skip and columns is not None:
            # An OFFSET produces every row it skips, and the page's correlated sub-selects
            # (checksums, collection) would run for each of them (a jump to $skip=90000: 1.4 s
            # instead of 0.15 s): the page's ids first, its columns for those ids only.
            ids = statement.with_only_columns(table.c.id).subquery()
            statement = (sa.select(*selected).join_from(table, ids, table.c.id == ids.c.id)
                         .order_by(*_order_clauses(keys)))
        entry = _PageStatement(statement, bound_filter)
        if key is not None and (bound_filter is None or not calls_now(bound_filter)):
            # it holds the columns, conditions and filter whose ids are in the key
            self._root._page_statements.put(key, entry, math.inf)
        return entry

    def _memo_page(self, session: Session, page: Callable, memo_scope: tuple, skip: int, catalogue: str,
                   version) -> tuple[list, "int | None"]:
        """``(rows, version)``: the rows of a ``$skip`` page (``page(seek, skip)`` of
        :meth:`_run_query`, whose statement selects the ``version`` column) and the catalogue
        version of the snapshot they were read in, or None when that is not one version (the
        page's position is then not remembered).

        The seek position comes from the memo under the version this process saw last for
        ``catalogue``; it describes the page's snapshot only when the page reads that same
        version. When it reads another one (a product write committed since, by any process),
        the page is read again by ``OFFSET``. A seek that found no rows has no version to
        compare: the version is then read after the page, and since versions only grow, the
        page's snapshot had the one the seek was picked under exactly when that read still
        finds it."""
        memo = self.skip_memo
        known = self._root._catalogue_seen
        guess = known.get(catalogue)
        found = memo.floor((*memo_scope, guess), skip) if skip and guess is not None else None
        if found is None:
            rows = page(None, skip)
            seen = _page_version(rows, version)
        else:
            position, seek = found
            rows = page(seek, skip - position)
            if rows:
                seen = _page_version(rows, version)
            else:
                statement = sa.select(catalogue_versions.c.version).where(catalogue_versions.c.mission == catalogue)
                seen = session.execute(statement).scalar() or 0
            if seen != guess:  # the position belongs to another snapshot: the page by OFFSET
                memo.drop_hit((*memo_scope, guess), skip, position)
                rows = page(None, skip)
                seen = _page_version(rows, version)
        if seen is not None:
            known[catalogue] = seen
        return rows, seen

    # -- missions ----------------------------------------------------------------------------

    def add_mission(self, mission: Mission) -> Mission:
        check_new_mission_code(mission.code)
        with self._db() as s:
            self._insert(s, missions, {"code": mission.code, "name": mission.name}, f"Mission {mission.code!r}")
        return mission

    def get_mission(self, code: str) -> Mission:
        with self._db() as s:
            row = s.execute(sa.select(missions).where(missions.c.code == code)).first()
        if row is None:
            raise NotFoundError(f"No mission {code!r}")
        return Mission(row.code, row.name)

    def list_missions(self) -> list[Mission]:
        with self._db() as s:
            rows = s.execute(sa.select(missions).order_by(missions.c.code)).all()
        return [Mission(r.code, r.name) for r in rows]

    def update_mission(self, mission: Mission) -> Mission:
        with self._db() as s:
            result = s.execute(sa.update(missions).where(missions.c.code == mission.code).values(name=mission.name))
            if result.rowcount == 0:
                raise NotFoundError(f"No mission {mission.code!r}")
        return mission

    def delete_mission(self, code: str) -> None:
        with self._db() as s:
            for table in (users, products, workflows, orders, subscriptions):
                if s.execute(sa.select(table.c.mission).where(table.c.mission == code).limit(1)).first():
                    raise ConflictError(f"Mission {code!r} still has {table.name}")
            s.execute(sa.delete(catalogue_versions).where(catalogue_versions.c.mission == code))
            self._execute_one(s, sa.delete(missions).where(missions.c.code == code), f"mission {code!r}")
        self._root._known_missions.discard(code)

    # -- users -------------------------------------------------------------------------------

    @staticmethod
    def _user_from_row(row) -> User:
        return User(row.mission, row.name, row.password_hash, frozenset(row.roles))

    def add_user(self, user: User) -> User:
        with self._db() as s:
            self._require_mission(s, user.mission)
            self._insert(
                s,
                users,
                {"mission": user.mission, "name": user.name, "password_hash": user.password_hash,
                 "roles": sorted(str(r) for r in user.roles)},
                f"User {user.qualified_name!r}",
            )
            invalidate_at_end(s, self.user_cache, (user.mission, user.name))
        return user

    def get_user(self, mission: str, name: str, *, cached: bool = False) -> User:
        if cached:
            return dataclasses.replace(self.user_cache.get((mission, name), lambda: self.get_user(mission, name)))
        with self._db() as s:
            row = s.execute(sa.select(users).where(users.c.mission == mission, users.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"No user {mission}\\{name}")
        return self._user_from_row(row)

    def list_users(self, mission: str | None = None) -> list[User]:
        statement = sa.select(users).order_by(users.c.mission, users.c.name)
        if mission is not None:
            statement = statement.where(users.c.mission == mission)
        with self._db() as s:
            return [self._user_from_row(r) for r in s.execute(statement).all()]

    def update_user(self, user: User) -> User:
        with self._db() as s:
            result = s.execute(
                sa.update(users)
                .where(users.c.mission == user.mission, users.c.name == user.name)
                .values(password_hash=user.password_hash, roles=sorted(str(r) for r in user.roles))
            )
            invalidate_at_end(s, self.user_cache, (user.mission, user.name))
            if result.rowcount == 0:
                raise NotFoundError(f"No user {user.qualified_name}")
        return user

    def delete_user(self, mission: str, name: str) -> None:
        with self._db() as s:
            invalidate_at_end(s, self.user_cache, (mission, name))
            self._execute_one(s, sa.delete(users).where(users.c.mission == mission, users.c.name == name), f"user {mission}\\{name}")

    # -- products ----------------------------------------------------------------------------

    def _product_row_values(self, product: Product) -> dict:
        values = _product_values(product)
        if product.footprint is not None and self.tables.postgis:
            values["footprint_geom"] = sa.func.ST_GeomFromText(product.footprint, 4326)
        else:
            values["footprint_geom"] = None
        return values

    def _write_product_children(self, s: Session, product: Product) -> None:
        if product.checksums:
            s.execute(
                sa.insert(product_checksums),
                [{"product_id": product.id, "algorithm": c.algorithm, "value": c.value, "checksum_date": c.date}
                 for c in product.checksums],
            )
        if product.attributes:
            names = [a.name for a in product.attributes]
            if len(set(names)) != len(names):
                raise ConflictError(f"Product {product.name!r} has two attributes with the same name")
            s.execute(sa.insert(product_attributes), [_attribute_row(product.id, a) for a in product.attributes])

    def _load_products(self, s: Session, rows, with_attributes: bool = True) -> list[Product]:
        ids = [row.id for row in rows]
        checksums: dict[uuid.UUID, list] = {i: [] for i in ids}
        attributes: dict[uuid.UUID, list] = {i: [] for i in ids}
        collection_values: dict[uuid.UUID, str] = {}
        if ids and not with_attributes:  # with them, Product.collection comes from the loaded attributes
            collection_values = self._collection_values(s, ids)
        if ids:
            self._load_checksums(s, checksums)
            if with_attributes:
                self._load_attributes(s, attributes)
        loaded = [_product_from_row(row, checksums[row.id], attributes[row.id]) for row in rows]
        for product in loaded:
            if with_attributes:
                product.collection = self.collections.of_product(product)
            else:
                product.collection = self.collections.of(product.mission, collection_values.get(product.id))
        return loaded

    def _collection_values(self, s: Session, ids: list) -> dict:
        """product id -> the value of its collection attribute (String), for those that have one."""
        a = product_attributes.c
        return dict(s.execute(
            sa.select(a.product_id, a.string_value)
            .where(a.product_id.in_(ids), a.name == self.collections.attribute, a.value_type == "String")
        ).all())

    @staticmethod
    def _load_checksums(s: Session, checksums: dict) -> None:
        """Append the checksums of the products whose ids key ``checksums`` (lists), by algorithm."""
        for c in s.execute(_CHECKSUMS_OF_PRODUCTS, {"proseo_ids": list(checksums)}):
            checksums[c.product_id].append(Checksum(c.algorithm, c.value, c.checksum_date))

    @staticmethod
    def _load_attributes(s: Session, attributes: dict) -> None:
        """Append the attributes of the products whose ids key ``attributes`` (lists), by name."""
        for a in s.execute(_ATTRIBUTES_OF_PRODUCTS, {"proseo_ids": list(attributes)}):
            attributes[a.product_id].append(_attribute_from_row(a))

    def _entry_columns(self) -> list:
        """What a page of :class:`ProductEntry` selects: the response's columns and, on
        PostgreSQL, the product's checksums as one JSON array (``[[algorithm, value, date],
        ...]``) and the value of its collection attribute as correlated sub-selects of the page
        statement (one statement per page instead of three; PostgreSQL evaluates them for the
        page's rows only, after a sort). SQLite would evaluate them for every row it sorts, so
        there :meth:`_load_entries` reads both by the page's ids (in process: no round trips).
        Built once per storage (dialect and collection rule are fixed)."""
        root = self._root
        if root._entry_columns_built is None:
            root._entry_columns_built = self._build_entry_columns()
        return root._entry_columns_built

    def _build_entry_columns(self) -> list:
        columns = [products.c[name] for name in (*_ENTRY_COLUMNS, "quicklook")]
        if self.dialect != "postgresql":
            return columns
        # psycopg returns timestamptz as datetimes in the session's zone, UTC (create_engine),
        # with tzinfo datetime.timezone.utc: no UTCDateTime conversion per value (~600 a page).
        columns = [sa.type_coerce(column, sa.DateTime(timezone=True)).label(column.name)
                   if isinstance(column.type, UTCDateTime) else column for column in columns]
        c, a = product_checksums.c, product_attributes.c
        checksums = sa.func.json_agg(sa.func.json_build_array(c.algorithm, c.value, c.checksum_date))
        return [
            *columns,
            sa.select(checksums).where(c.product_id == products.c.id).scalar_subquery().label("checksums_json"),
            sa.select(a.string_value)
            .where(a.product_id == products.c.id, a.name == self.collections.attribute, a.value_type == "String")
            .scalar_subquery().label("collection_value"),
        ]

    def _load_entries(self, s: Session, mission: str, rows, with_attributes: bool) -> list[ProductEntry]:
        ids = [row.id for row in rows]
        attributes = None
        if with_attributes:
            attributes = {i: [] for i in ids}
            if ids:
                self._load_attributes(s, attributes)
        of_collection = self.collections.of
        width = len(_ENTRY_COLUMNS)
        if self.dialect == "postgresql":  # the page statement's sub-selects
            return [ProductEntry(*row[:width], of_collection(mission, row.collection_value),
                                 _checksums_from_json(row.checksums_json),
                                 None if attributes is None else attributes[row.id], row[width]) for row in rows]
        checksums: dict[uuid.UUID, list] = {i: [] for i in ids}
        collection_values: dict = {}
        if ids:
            self._load_checksums(s, checksums)
            collection_values = self._collection_values(s, ids)
        return [ProductEntry(*row[:width], of_collection(mission, collection_values.get(row.id)), checksums[row.id],
                             None if attributes is None else attributes[row.id], row[width]) for row in rows]

    def add_product(self, product: Product) -> Product:
        product.sync_product_type()
        product.collection = self.collections.of_product(product)
        with self._db() as s:
            self._require_mission(s, product.mission)
            bumped = self._publishing(s, [product])
            values = {**self._product_row_values(product), "revision": 1}
            with refusals(
                conflict=f"Product {product.name!r} already exists in mission {product.mission} "
                f"(or its id {product.id} is taken)",
                invalid=f"Product {product.name!r}: a value does not fit the database",
            ):
                with s.begin_nested():
                    s.execute(sa.insert(products).values(**values))
                    self._index_extents(s, [values])
                    self._write_product_children(s, product)
            if not bumped:
                self._catalogue_changed(s, [product.mission])
        if self.dialect == "sqlite":
            self._product_added()
        product.revision = 1
        return product

    def _publishing(self, s: Session, batch: Sequence[Product]) -> bool:
        """Begin storing ``batch``, new products, in ``s``'s transaction when some of them ask
        for their publication date to be stamped (``stamp_publication``): bump the catalogue
        versions of their missions (:meth:`_catalogue_changed`) first, then stamp those
        products' publication dates (and the modification and checksum dates equal to them)
        with successive microseconds from the moment after. Whether it bumped the versions
        (otherwise the caller does, once it has stored a product).

        Every writer of products bumps those rows, and holds them until its transaction ends
        (PostgreSQL: row locks; SQLite: the database's write lock, held since ``BEGIN
        IMMEDIATE``), so from that moment until this transaction has committed, and its rows
        are visible, no other transaction publishes in these missions: publication dates in the
        order of commits (:meth:`StorageBase.add_product`). The moment is the database
        server's clock on PostgreSQL (one clock for every process) and this machine's on SQLite
        (one machine); on other databases this machine's, without that argument (their locks
        are not the ones shown here). In each mission it is never before a microsecond after
        the last date stamped there (``catalogue_versions.published_until``, kept here),
        whatever the clock says. A transaction run again stamps again."""
        stamped = [product for product in batch if product.stamp_publication]
        if not stamped:
            return False
        self._catalogue_changed(s, (product.mission for product in batch))
        # In each mission, not before its last date stamped: the clock may have been stepped
        # back, and this transaction's rows may follow a long batch's successive microseconds
        counts = Counter(product.mission for product in stamped)
        if self.dialect == "postgresql":
            following = {}
            for mission, count in sorted(counts.items()):  # (one mission, almost always)
                span = timedelta(microseconds=count - 1)
                last = s.execute(_RESERVE_PUBLICATION_DATES, {"stamped": mission, "span": span}).scalar_one()
                following[mission] = last.astimezone(timezone.utc) - span
        else:
            moment = utcnow()
            lasts = dict(s.execute(_PUBLISHED_UNTIL, {"missions": sorted(counts)}).all())
            following = {mission: moment if last is None else max(moment, last + timedelta(microseconds=1))
                         for mission, last in lasts.items()}
            for mission, first in following.items():
                s.execute(_KEEP_PUBLISHED_UNTIL, {"stamped": mission,
                                                  "until": first + timedelta(microseconds=counts[mission] - 1)})
        for product in stamped:
            old = product.publication_date
            new = following[product.mission]
            following[product.mission] = new + timedelta(microseconds=1)
            if product.modification_date == old:
                product.modification_date = new
            if any(checksum.date == old for checksum in product.checksums):  # dated with the publication
                product.checksums = [Checksum(c.algorithm, c.value, new) if c.date == old else c for c in product.checksums]
            product.publication_date = new
        return True

    #: Names per ``IN (...)`` look-up on SQLite (well under its bound-parameter limit).
    _LOOKUP_CHUNK = 500

    @property
    def bulk_writers(self) -> int:
        """Two on PostgreSQL (see :attr:`StorageBase.bulk_writers`): while the server stores one
        batch's rows the ingest sends the next batch's, instead of the server waiting for the
        writing thread between batches (6,087-6,225 against 5,905-5,944 products/s at 300,000,
        bench/README.md "Bulk ingest"); one elsewhere. Batches of products whose publication
        dates are stamped (:meth:`_publishing`) are written one after the other all the same."""
        return 2 if self.dialect == "postgresql" else 1

    def existing_product_names(self, mission: str, names: Sequence[str]) -> set[str]:
        unique = list(dict.fromkeys(names))
        found: set[str] = set()
        if self.dialect == "postgresql":
            # One array parameter joined to the unique index, all names at once: an ``IN``
            # list of 500 names took PostgreSQL 3-5 ms to plan (an estimate per name) and
            # 1.5-2.3 ms to run at 1,000,000 products, this 0.1-0.3 and 1.4.
            if unique:
                found.update(self._existing_names(mission, unique))
            return found
        # Unbound, a read-only session: on SQLite it does not wait for the write lock, so bulk
        # ingest can look up the next batch while the current one is being written.
        session = self._session or self.read_session_factory()
        try:
            with driver_errors():
                for i in range(0, len(unique), self._LOOKUP_CHUNK):
                    chunk = unique[i:i + self._LOOKUP_CHUNK]
                    found.update(session.execute(
                        sa.select(products.c.name).where(products.c.mission == mission, products.c.name.in_(chunk))
                    ).scalars())
        finally:
            if session is not self._session:
                session.close()
        return found

    def archive_keys_in_use(self, keys: Sequence[str]) -> set[str]:
        """See :meth:`StorageBase.archive_keys_in_use`. A key the service made names its
        product's Id (``<MISSION>/<Id>/...``): those products are read by their primary key
        first; only the keys not found so (few: the orphans) are looked for in every product's
        ``archive_key``, which has no index (a scan of the table per chunk of keys: 10,000 keys
        on PostgreSQL, :data:`_KEYS_IN_USE`)."""
        unique = list(dict.fromkeys(keys))
        ids = []
        for key in unique:
            parts = key.split("/", 2)
            if len(parts) == 3:
                try:
                    ids.append(uuid.UUID(parts[1]))
                except ValueError:
                    pass
        used: set[str] = set()
        wanted = set(unique)
        chunk = self._LOOKUP_CHUNK
        # Unbound, a read-only session (as existing_product_names): no write lock on SQLite.
        session = self._session or self.read_session_factory()
        try:
            with driver_errors():
                ids = list(dict.fromkeys(ids))
                for i in range(0, len(ids), chunk):
                    named = session.execute(
                        sa.select(products.c.archive_key).where(products.c.id.in_(ids[i:i + chunk]))).scalars()
                    used.update(key for key in named if key in wanted)
                rest = [key for key in unique if key not in used]
                if self.dialect == "postgresql":
                    for i in range(0, len(rest), _KEYS_IN_USE_CHUNK):
                        used.update(session.execute(_KEYS_IN_USE, {"keys": rest[i:i + _KEYS_IN_USE_CHUNK]}).scalars())
                else:
                    for i in range(0, len(rest), chunk):
                        used.update(session.execute(sa.select(products.c.archive_key).where(
                            products.c.archive_key.in_(rest[i:i + chunk]))).scalars())
        finally:
            if session is not self._session:
                session.close()
        return used

    def _existing_names(self, mission: str, names: list[str]) -> Iterable[str]:
        """PostgreSQL: :data:`_EXISTING_NAMES`, without bitmap scans. pg_trgm's index on the
        Name serves ``=`` too, and while that GIN index has never been vacuumed (a catalogue
        loading from empty) the planner costs its probes as nearly free: it chose a probe of
        the trigram index per name, each walking the posting lists of trigrams every Name
        shares and the pending list, and a look-up of 5,000 names ran into the 30 s statement
        timeout at 20,000-85,000 products, stopping the ingest. A GIN index is read only by
        bitmap scans; without them the unique index on (mission, Name) or a hash join serves
        the look-up, whatever the statistics say. The setting is local to the transaction; in
        a bound one (the caller's) it is put back as it was after the look-up."""
        with self._db() as s:
            before = s.execute(_BITMAP_SCANS, {"value": "off"}).scalar()
            found = s.execute(_EXISTING_NAMES, {"mission": mission, "names": names}).scalars().all()
            if self._session is not None and before != "off":
                s.execute(_BITMAP_SCANS, {"value": before})
            return found

    #: :meth:`refresh_statistics` runs ``ANALYZE`` when a load added at least this share of the
    #: products there are now (PostgreSQL's autovacuum does the same at 10%, but up to
    #: ``autovacuum_naptime`` later: a minute by default, in which a catalogue loaded from empty
    #: is planned as if it had no rows, e.g. a Name look-up scanning every name of the mission).
    REFRESH_STATISTICS_SHARE = 0.1

    #: SQLite: no ``ANALYZE`` of a catalogue smaller than this. A few rows plan well without
    #: statistics, and statistics of a few rows would mislead the plans of a catalogue grown
    #: past them before the next refresh.
    SQLITE_STATISTICS_MIN_ROWS = 1000

    def refresh_statistics(self, added: int) -> bool:
        """See :meth:`StorageBase.refresh_statistics`: on PostgreSQL ``ANALYZE`` of the product
        tables when ``added`` is at least :attr:`REFRESH_STATISTICS_SHARE` of the products the
        statistics will then count (their estimate before the load, ``pg_class.reltuples``,
        plus ``added``; a table never analysed counts as empty). ``ANALYZE`` samples a fixed
        number of rows (1.5-2.4 s at 1,000,000 products) and does not block reads or
        writes. On SQLite, which has no autovacuum and no statistics until ``ANALYZE`` runs,
        the same rule with the rows its statistics count (``sqlite_stat1``, see
        :meth:`_refresh_sqlite_statistics`; never analysed: due), for a catalogue of at least
        :attr:`SQLITE_STATISTICS_MIN_ROWS`, and ``ANALYZE`` of the
        three tables under ``PRAGMA analysis_limit = 1000`` (each index sampled: about 10 ms).
        Without statistics SQLite plans by the shape of the condition alone and prefers the
        mission's equality index to a range: a week of ``ContentDate`` took 123 ms instead of
        13 at 100,000 products. On SQLite the products stored one at a time are brought under
        the same rule by :meth:`_product_added`.

        Best effort: the load is committed already, and autovacuum refreshes the statistics
        later anyway. So a role that may not ``ANALYZE`` the tables (not their owner's), a lock
        not had within 2 s (PostgreSQL: another ``ANALYZE``, a ``VACUUM``, a migration; SQLite:
        the write lock, :data:`SQLITE_ANALYZE_LOCK_WAIT`) or a database error logs a warning and
        answers False instead of raising."""
        if added <= 0 or self.dialect not in ("postgresql", "sqlite"):
            return False
        if self.dialect == "sqlite":
            return self._refresh_sqlite_statistics(added)
        try:
            with self.engine.connect() as connection:
                state = connection.execute(_STATISTICS_STATE, {"name": products.name}).one_or_none()
                if state is None:
                    return False
                before, allowed = state
                if added < self.REFRESH_STATISTICS_SHARE * (max(before, 0) + added):
                    return False
                if not allowed:
                    log.warning("the planner statistics were not refreshed after loading %d products: this "
                                "database role may not ANALYZE the product tables (autovacuum will)", added)
                    return False
                connection.execute(_ANALYZE_LOCK_TIMEOUT)
                connection.execute(_ANALYZE_PRODUCT_TABLES)
                connection.commit()
        except (StorageError, sa.exc.SQLAlchemyError) as exc:  # the engine's errors come as StorageError
            log.warning("the planner statistics were not refreshed after loading %d products (%s); "
                        "autovacuum will", added, describe(exc))
            return False
        return True

    def _refresh_sqlite_statistics(self, added: int | None) -> bool:
        """SQLite's half of :meth:`refresh_statistics` (``added``: the products a bulk load
        stored; None: :meth:`_product_added`'s look, which sets the rows there are against the
        rows the statistics count). The rows the statistics count are SQLite's estimate
        (``analysis_limit`` samples: 12-17% off at 50,000-120,000 products) unless they are
        still the ones this process's last ``ANALYZE`` made, whose exact count it keeps.
        ``ANALYZE`` waits 2 s at most for the write lock, as on PostgreSQL; a look that did
        not get it (a caller's transaction still open, another writer) logs at INFO and is
        tried again at the next look."""
        import sqlite3

        root = self._root
        try:
            # whether it is due, read without the write lock (the read engine begins DEFERRED)
            with self.read_engine.connect() as connection:
                counted = None
                if connection.execute(_SQLITE_HAS_STATISTICS).first() is not None:
                    counted = connection.execute(_SQLITE_STATISTICS_STATE).scalar()
                rows = connection.execute(_SQLITE_PRODUCT_ROWS).scalar()
            if counted is not None and root._analysed_rows is not None and root._analysed_rows[0] == counted:
                counted = root._analysed_rows[1]  # the statistics this process made: their exact rows
            with root._tables_lock:  # the next look of _product_added: after 2% more, at least 100
                root._grown_next_check = max(self.STATISTICS_CHECK_EVERY, (counted or rows) // 50)
            if rows < self.SQLITE_STATISTICS_MIN_ROWS:
                return False
            if counted is not None:  # never analysed: due
                new = rows - counted if added is None else added
                if new < self.REFRESH_STATISTICS_SHARE * (counted + new):
                    return False
            with self.engine.connect() as connection:
                driver = connection.connection.driver_connection
                waited = driver.execute("PRAGMA busy_timeout").fetchone()[0]
                driver.execute(f"PRAGMA busy_timeout = {int(SQLITE_ANALYZE_LOCK_WAIT * 1000)}")
                try:
                    if added is None and root._closed:
                        return False
                    exact = connection.execute(_SQLITE_PRODUCT_ROWS).scalar()  # BEGIN IMMEDIATE first
                    connection.execute(_SQLITE_ANALYSIS_LIMIT)
                    for statement in _SQLITE_ANALYZE:
                        connection.execute(statement)
                    estimated = connection.execute(_SQLITE_STATISTICS_STATE).scalar()
                    connection.commit()
                finally:
                    driver.execute(f"PRAGMA busy_timeout = {waited}")
            root._analysed_rows = (estimated, exact)
        except (StorageError, sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
            if added is None:
                log.info("the planner statistics were not refreshed after products stored one at a time "
                         "(%s); the next look tries again", describe(exc))
            else:
                log.warning("the planner statistics were not refreshed after loading %d products (%s)",
                            added, describe(exc))
            return False
        if added is None:
            log.info("the planner statistics were refreshed: %d products, %s before", exact,
                     "none analysed" if counted is None else f"{counted} analysed")
        return True

    #: SQLite: the products stored one at a time (``add_product``: production orders, the web
    #: layer) are looked at after this many a process stores, and then after every 2% of the
    #: catalogue more, at least this many.
    STATISTICS_CHECK_EVERY = 100

    def _product_added(self) -> None:
        """SQLite, which has no autovacuum: ``add_product`` stored a product. When it is time
        (see :attr:`STATISTICS_CHECK_EVERY`), a thread of its own looks whether the products
        there are now make :meth:`refresh_statistics`' rule due against the ones the
        statistics count, whoever stored them (this process, another, a bulk load), and runs
        ``ANALYZE`` then: the caller's transaction is not held up, and ``ANALYZE`` waits for
        the write lock as any writer (after the caller's commit; 2 s at most). One such thread
        at a time; a product whose transaction rolls back only brings the look forward. None
        for a database in memory or a pool of one connection, which the thread would share with
        the caller's transaction. Without it a catalogue grown by production orders kept the
        statistics of its last bulk load (or none) for ever."""
        root = self._root
        with root._tables_lock:
            root._grown += 1
            running = root._statistics_thread
            due = root._grown_next_check or root.STATISTICS_CHECK_EVERY  # (the root's: a setting of its own)
            if root._grown < due or (running is not None and running.is_alive()):
                return  # (a thread object not alive: one that a fork did not copy)
            if sqlite_file(self.engine) is None or isinstance(self.engine.pool, (StaticPool, AssertionPool)):
                root._grown_next_check = math.inf
                return
            root._grown = 0
            thread = root._statistics_thread = threading.Thread(
                target=root._look_at_statistics, name="proseo-odata-statistics", daemon=True)
            try:  # under the lock: is_alive() is true before another product looks
                thread.start()
            except RuntimeError as exc:  # no thread to be had: the product is stored, the look waits
                log.warning("the planner statistics were not looked at (%s)", exc)
                root._statistics_thread = None

    def _look_at_statistics(self) -> None:
        try:
            self._refresh_sqlite_statistics(None)
        finally:
            with self._tables_lock:
                if self._statistics_thread is threading.current_thread():
                    self._statistics_thread = None

    def add_products(self, items: Sequence[Product]) -> list[Product]:
        """See :meth:`StorageBase.add_products`. A Name or Id taken (before, concurrently, or
        earlier in the same call) is skipped, so a race never fails the batch. The rows go to
        the driver as tuples, in one statement per table, every value a bound parameter or COPY
        data (SQLAlchemy's per-row parameter processing was the largest cost of bulk ingest):

        * PostgreSQL (psycopg): the product rows by ``COPY`` into ``products``, or, when one of
          them is taken, through a temporary table and ``INSERT ... SELECT ... ON CONFLICT DO
          NOTHING RETURNING id`` (:meth:`_copy_new_products`); the checksum and attribute rows
          of the products stored by ``COPY`` (:meth:`_insert_tuples`). Each row is made while
          ``COPY`` sends the ones before it.
        * SQLite: the transaction holds the write lock (``BEGIN IMMEDIATE``), so one look-up
          finds the batch's taken Names and Ids and one executemany ``INSERT`` per table writes
          the rest (:meth:`_insert_many`, :meth:`_insert_tuples`).
        * Other databases: SQLAlchemy's multi-row ``INSERT ... ON CONFLICT DO NOTHING
          RETURNING id``.
        """
        batch: list[Product] = []
        names: set[tuple[str, str]] = set()
        ids: set[uuid.UUID] = set()
        for product in items:
            key = (product.mission, product.name)
            if key in names or product.id in ids:
                continue  # the first of two with the same Name or Id wins, as in the database
            names.add(key)
            ids.add(product.id)
            product.sync_product_type()
            product.collection = self.collections.of_product(product)  # as add_product does
            attribute_names = [a.name for a in product.attributes]
            if len(set(attribute_names)) != len(attribute_names):
                raise InvalidValueError(f"Product {product.name!r} has two attributes with the same name")
            batch.append(product)
        if not batch:
            return []
        with self._db() as s, self._bulk_cache(s):
            for mission in {p.mission for p in batch}:
                self._require_mission(s, mission)
            bumped = self._publishing(s, batch)
            with refusals(conflict=f"{len(batch)} products: a checksum or attribute row conflicts",
                          invalid=f"{len(batch)} products: a value does not fit the database"):
                with s.begin_nested():
                    inserted = self._insert_new_products(s, batch)
                    stored = [p for p in batch if p.id in inserted]
                    # Made as they are sent (COPY on PostgreSQL: psycopg's errors, unwrapped); the
                    # child rows (a dozen a product, no geometry) in COPY's binary format
                    if any(p.checksums for p in stored):
                        self._insert_tuples(s, product_checksums, _CHECKSUM_ROW_COLUMNS, (
                            _checksum_tuple(p.id, c) for p in stored for c in p.checksums), binary=True)
                    if any(p.attributes for p in stored):
                        self._insert_tuples(s, product_attributes, _ATTRIBUTE_ROW_COLUMNS, (
                            _attribute_tuple(p.id, a) for p in stored for a in p.attributes), binary=True)
            if stored and not bumped:  # once per batch
                self._catalogue_changed(s, (p.mission for p in stored))
        for product in stored:
            product.revision = 1
        return stored

    def _insert_new_products(self, s: Session, batch: list[Product]) -> set:
        """Insert the products of ``batch`` whose Name and Id are free; the ids of the rows
        inserted."""
        postgis = self.tables.postgis
        if self.engine.dialect.driver == "psycopg":
            return self._copy_new_products(s, batch)
        rows = list(_new_product_rows(batch))
        if self.dialect == "sqlite":
            taken_names = {(m, n) for m, n in self._taken(s, products.c.mission, products.c.name,
                                                           {(p.mission, p.name) for p in batch})}
            taken_ids = set(self._taken(s, None, products.c.id, {p.id for p in batch}))
            fresh = [row for product, row in zip(batch, rows)
                     if product.id not in taken_ids and (product.mission, product.name) not in taken_names]
            if fresh:
                self._insert_many(s, products, fresh)
                self._index_extents(s, fresh)
            return {row["id"] for row in fresh}
        for row, product in zip(rows, batch):
            row["geom_wkt"] = product.footprint if postgis else None
        geometry = (sa.func.ST_GeomFromText(sa.bindparam("geom_wkt", type_=sa.Text), 4326) if postgis
                    else sa.bindparam("geom_wkt", type_=sa.Text))
        statement = (
            self._dialect_insert(products).values(footprint_geom=geometry).on_conflict_do_nothing()
            .returning(products.c.id)
        )
        return set(s.execute(statement, rows).scalars())

    def _index_extents(self, s: Session, rows: list[dict]) -> int:
        """SQLite: the R*Tree rows of the products just inserted (``rows``: their column values,
        ``id`` and ``footprint``), in the same transaction: each product with a readable
        footprint gets a key in ``product_extent_keys`` and its box
        (:func:`~proseo_odata.odata.sql.footprint_box`) in ``product_extents`` (migration
        0012, whose triggers keep them after updates and deletes). Two statements for all rows,
        no trigger: a trigger on ``INSERT`` would make SQLite journal every page each product
        row touches. The number of products given a box."""
        if self.dialect != "sqlite" or not self._has_extents(s):
            return 0
        boxes = [(row["id"], box) for row in rows if (box := footprint_box(row.get("footprint"))) is not None]
        if boxes:
            s.execute(_NEW_EXTENT_KEYS, [{"product_id": id_} for id_, _ in boxes])
            s.execute(_NEW_EXTENTS, [{"product_id": id_, "min_x": box[0], "max_x": box[1], "min_y": box[2], "max_y": box[3]}
                                     for id_, box in boxes])
        return len(boxes)

    def _index_missing_extents(self, s: Session) -> int:
        """SQLite: give the products with a footprint and no key in the R*Tree of extents their
        rows (:meth:`_index_extents`), and say how many were written: products inserted by
        another program or by a version before migration 0012 while it ran. Part of
        :meth:`initialize_schema` (``initdb``): one pass over the products' ids."""
        if not self._has_extents(s):
            return 0
        rows = s.execute(sa.select(products.c.id, products.c.footprint).where(
            products.c.footprint.is_not(None),
            products.c.id.not_in(sa.select(product_extent_keys.c.product_id)))).all()
        added = self._index_extents(s, [{"id": id_, "footprint": footprint} for id_, footprint in rows])
        if added:
            log.warning("%d products had no box in the spatial index of footprints (written by another program?); "
                        "added", added)
        return added

    def _has_extents(self, s: Session) -> bool:
        """SQLite: the R*Tree of footprint extents is there (migration 0012, on a SQLite with the
        ``rtree`` module); looked up once, in the caller's session (a second one could wait for it)."""
        root = self._root
        if root._extents is None:
            root._extents = s.execute(_SQLITE_EXTENTS).first() is not None
        return root._extents

    def _taken(self, s: Session, mission_column, column, keys: set) -> list:
        """Which of ``keys`` (values of ``column``, or ``(mission, value)`` pairs with
        ``mission_column``) the products table already has, in chunks of ``_LOOKUP_CHUNK``."""
        found = []
        by_mission: dict = {}
        for key in keys:
            mission, value = key if mission_column is not None else (None, key)
            by_mission.setdefault(mission, []).append(value)
        for mission, values in by_mission.items():
            for i in range(0, len(values), self._LOOKUP_CHUNK):
                statement = sa.select(column).where(column.in_(values[i:i + self._LOOKUP_CHUNK]))
                if mission_column is not None:
                    statement = statement.where(mission_column == mission)
                found.extend(key if mission_column is None else (mission, key) for key in s.execute(statement).scalars())
        return found

    def _copy_new_products(self, s: Session, batch: list[Product]) -> set:
        """PostgreSQL: the ids of the products of ``batch`` inserted. Their rows go by binary
        ``COPY`` straight into ``products``, each made as it is sent (the footprint geometry as
        its extended WKB, :func:`~proseo_odata.odata.geo.ewkb`: the geometry
        ``ST_GeomFromText`` makes of the WKT, without the server parsing text; about 5 µs less
        server CPU and 6 µs less of this process's per product than text with EWKT,
        bench/README.md "Bulk ingest"); the usual case, since a bulk
        ingest looks the batch's Names up first. When a row's Name or Id is taken (a concurrent
        writer, an Id stored under another Name) that ``COPY`` fails as a whole: its savepoint
        is rolled back and :meth:`_stage_new_products` inserts the rows whose Name and Id are
        free. The staging makes the server write and read a temporary table and check ``ON
        CONFLICT`` per row (about a tenth more of its CPU per product at 100,000 products), so
        it is only the fallback."""
        postgis = self.tables.postgis
        columns = list(next(_new_product_rows(batch[:1])))
        values = _row_tuple(columns)

        def direct():
            for row in _new_product_rows(batch):
                footprint = row["footprint"]
                if not postgis:
                    yield values(row)
                    continue
                try:
                    geometry = None if footprint is None else geo.ewkb(footprint)
                except ValueError:  # as PostGIS refuses it: the batch is written one by one
                    raise InvalidValueError(f"product {row['id']}: its footprint is not WKT") from None
                yield *values(row), geometry

        try:
            with s.begin_nested():
                self._insert_tuples(s, products, [*columns, "footprint_geom"] if postgis else columns, direct(),
                                    binary=True)
        except Exception as exc:
            if refusal(exc) is not ConflictError:
                raise
            return self._stage_new_products(s, list(_new_product_rows(batch)), columns)
        return {product.id for product in batch}

    def _stage_new_products(self, s: Session, rows: list[dict], columns: list[str]) -> set:
        """PostgreSQL: ``rows`` by ``COPY`` into a temporary table (created and dropped in this
        transaction), then ``INSERT INTO products ... SELECT ... ON CONFLICT DO NOTHING
        RETURNING id`` from it; the footprint geometry made by ``ST_GeomFromText`` as for a
        single product. The ids of the rows inserted."""
        stage = sa.Table("ingest_products_stage", sa.MetaData(),
                         *(sa.Column(name, products.c[name].type) for name in columns),
                         prefixes=["TEMPORARY"], postgresql_on_commit="DROP")
        s.execute(sa.schema.CreateTable(stage))
        self._insert_many(s, stage, rows, columns)
        selected = [stage.c[name] for name in columns]
        geometry = (sa.func.ST_GeomFromText(stage.c.footprint, 4326) if self.tables.postgis
                    else sa.null())
        statement = (
            self._dialect_insert(products)
            .from_select([*columns, "footprint_geom"], sa.select(*selected, geometry))
            .on_conflict_do_nothing().returning(products.c.id)
        )
        inserted = set(s.execute(statement).scalars())
        s.execute(sa.schema.DropTable(stage))
        return inserted

    @contextlib.contextmanager
    def _bulk_cache(self, s: Session) -> Iterator[None]:
        """SQLite: the session's connection with a page cache of :data:`SQLITE_BULK_CACHE_KIB`
        for the block, its previous cache size restored afterwards (the connection goes back to
        the pool and serves other requests). Bulk inserts touch every index of the attribute
        table at random product ids: with SQLite's default 2 MiB page cache most of that is
        re-read from the OS."""
        if self.dialect != "sqlite":
            yield
            return
        connection = s.connection()
        previous = int(connection.exec_driver_sql("PRAGMA cache_size").scalar())
        connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")
        try:
            yield
        finally:
            connection.exec_driver_sql(f"PRAGMA cache_size={previous}")

    def _insert_many(self, s: Session, table: sa.Table, rows: list[dict], columns: list[str] | None = None) -> None:
        """Insert ``rows`` (dicts with the same keys; ``columns``: the keys written, default
        all) into ``table`` in the session's transaction: :meth:`_insert_tuples` on PostgreSQL
        (psycopg) and SQLite, ``session.execute(insert(table), rows)`` elsewhere. Without
        ``columns`` the keys go in the table's column order (SQLite's statement takes them so:
        no reordering there)."""
        if columns is None:
            keys = list(rows[0])
            columns = [column.name for column in table.columns if column.name in rows[0]]
            columns += [key for key in keys if key not in columns]  # not a column: the statement refuses it
        if self.engine.dialect.driver != "psycopg" and self.dialect != "sqlite":
            s.execute(sa.insert(table), rows)
            return
        self._insert_tuples(s, table, columns, map(_row_tuple(columns), rows))

    def _insert_tuples(self, s: Session, table: sa.Table, columns, tuples: Iterable[tuple], *,
                       binary: bool = False) -> None:
        """Insert ``tuples`` (each row's values in ``columns`` order; any iterable, read once)
        into ``table`` in the session's transaction, handing the driver the tuples:

        * PostgreSQL (psycopg): ``COPY ... FROM STDIN`` (psycopg's copy API, every value sent as
          data, never as SQL text; about 3x less CPU than executemany). The rows are read as
          they are sent: the server stores the first ones while the next ones are made, so a
          generator's work overlaps the server's. With ``binary`` in COPY's binary format, the
          columns' types asked of the server once (:meth:`_copy_types`): a third less server
          CPU per row than the text format (no text to parse into uuid, numbers, timestamps)
          and under half the client's (bench/README.md, "Bulk ingest"); the values must then
          be of their column's Python type (a UUID for a uuid, not its text);
        * SQLite: one executemany of the ``INSERT`` SQLAlchemy compiles for these columns,
          each value through its column type's bind processor (the same conversion as
          ``session.execute(insert(table), rows)``, without SQLAlchemy's per-row parameter
          dictionaries, which cost more than SQLite's own work);
        * elsewhere: ``session.execute(insert(table), rows)`` with the tuples as dicts.
        """
        columns = list(columns)
        if self.engine.dialect.driver == "psycopg":
            import psycopg
            from psycopg import sql

            statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
                sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(" (FORMAT BINARY)" if binary else ""))
            driver_connection = s.connection().connection.driver_connection
            types, geometry = self._copy_types(driver_connection, table.name, columns) if binary else (None, None)
            with driver_connection.cursor() as cursor:
                if geometry is not None:
                    # (this cursor's own adapters: a PostGIS geometry column takes EWKB bytes)
                    cursor.adapters.register_dumper(None, _ewkb_dumper(geometry))
                with cursor.copy(statement) as copy:
                    if types is not None:
                        copy.set_types(types)
                    try:
                        for row in tuples:
                            copy.write_row(row)
                    except OverflowError as exc:
                        # a number beyond its column's binary type (bigint): refused as the
                        # server refuses it in text, a data error
                        raise psycopg.errors.NumericValueOutOfRange(str(exc)) from exc
            return
        if self.dialect != "sqlite":
            s.execute(sa.insert(table), [dict(zip(columns, row)) for row in tuples])
            return
        connection = s.connection()
        compiled = sa.insert(table).compile(dialect=connection.dialect, column_keys=columns)
        order = list(compiled.positiontup)  # the statement's parameter order
        parameters = list(tuples)
        if order != columns:
            reorder = _row_tuple([columns.index(name) for name in order])
            parameters = [reorder(row) for row in parameters]
        processors = [(i, processor) for i, processor in enumerate(
            table.c[name].type.bind_processor(connection.dialect) for name in order) if processor is not None]
        if processors:
            for n, raw in enumerate(parameters):
                converted = list(raw)
                for i, processor in processors:
                    if converted[i] is not None:
                        converted[i] = processor(converted[i])
                parameters[n] = tuple(converted)
        connection.exec_driver_sql(compiled.string, parameters)

    def _copy_types(self, driver_connection, table: str, columns: Sequence[str]) -> tuple[list[int], int | None]:
        """The type oids of ``table``'s ``columns``, in their order, for a binary ``COPY``, and
        the oid of PostGIS's ``geometry`` when one of them has that type (None otherwise; its
        values go as EWKB, :func:`_ewkb_dumper`). Asked of the server once per table and
        columns: the schema is the migrations'."""
        key = (table, tuple(columns))
        cache = self._root._copy_type_oids
        if key not in cache:
            with driver_connection.cursor() as cursor:
                found = {name: (int(oid), type_name) for name, oid, type_name in cursor.execute(
                    "SELECT a.attname, a.atttypid, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
                    " WHERE a.attrelid = %s::regclass AND a.attname = ANY(%s) AND NOT a.attisdropped",
                    (table, list(columns))).fetchall()}
            geometry = [oid for oid, type_name in found.values() if type_name == "geometry"]
            cache[key] = ([found[name][0] for name in columns], geometry[0] if geometry else None)
        return cache[key]

    def get_product(self, mission: str, product_id: uuid.UUID, *, for_update: bool = False) -> Product:
        with self._db() as s:
            statement = _PRODUCT_FOR_UPDATE if for_update else _PRODUCT
            row = s.execute(statement, {"proseo_id": product_id, "proseo_mission": mission}).first()
            if row is None:
                raise NotFoundError(f"No product found with UUID {product_id}")
            return self._load_products(s, [row])[0]

    def get_product_by_name(self, mission: str, name: str) -> Product:
        with self._db() as s:
            row = s.execute(sa.select(products).where(products.c.mission == mission, products.c.name == name)).first()
            if row is None:
                raise NotFoundError(f"No product found with name {name!r}")
            return self._load_products(s, [row])[0]

    def find_product(self, mission, **criteria):
        statement, parameters = _find_product_statement(False, mission, **criteria)
        with self._db() as s:
            row = s.execute(statement, parameters).first()
            return None if row is None else self._load_products(s, [row])[0]

    def find_product_id(self, mission, **criteria):
        statement, parameters = _find_product_statement(True, mission, **criteria)
        with self._db() as s:
            return s.execute(statement, parameters).scalar()

    def query_products(self, mission, query, *, visibilities=None):
        with_attributes = "Attributes" in query.expand
        return self._query_products(
            mission, query, visibilities, lambda session, rows: self._load_products(session, rows, with_attributes)
        )

    def query_product_entries(self, mission, query, *, visibilities=None):
        """See :meth:`StorageBase.query_product_entries`: only the columns of the response, no
        ``Product`` objects; on PostgreSQL one statement per page (:meth:`_entry_columns`;
        attributes, when expanded, a second one)."""
        if self.dialect not in ("postgresql", "sqlite"):
            return super().query_product_entries(mission, query, visibilities=visibilities)
        with_attributes = "Attributes" in query.expand
        return self._query_products(
            mission, query, visibilities,
            lambda session, rows: self._load_entries(session, mission, rows, with_attributes),
            columns=self._entry_columns(),
        )

    def query_product_files(self, mission, query, *, checksums=False):
        """See :meth:`StorageBase.query_product_files`: the page statement selects the five
        columns of :data:`_FILE_COLUMNS` (no ``Product`` objects); the checksums' algorithms and
        values, when asked for, by the page's ids."""
        def load(session, rows):
            if not checksums:
                return [ProductFile(*row[:4], None, row[4]) for row in rows]
            found: dict[uuid.UUID, list] = {row.id: [] for row in rows}
            if found:
                for product_id, algorithm, value in session.execute(_CHECKSUM_VALUES_OF_PRODUCTS,
                                                                     {"proseo_ids": list(found)}):
                    found[product_id].append((algorithm, value))
            return [ProductFile(*row[:4], found[row.id], row[4]) for row in rows]

        return self._query_products(mission, query, None, load, columns=_FILE_COLUMNS)

    def query_product_texts(self, mission, query, *, visibilities=None, members, render):
        """See :meth:`StorageBase.query_product_texts`: on PostgreSQL the page statement selects
        each product's members text (:mod:`proseo_odata.storage.product_json`) and its id, no
        other column; a product whose text is NULL there (a footprint without stored
        renderings) is read as an entry and written by ``render``."""
        if self.dialect != "postgresql":
            return super().query_product_texts(mission, query, visibilities=visibilities, members=members,
                                               render=render)
        with_attributes = "Attributes" in query.expand
        with_assets = "Assets" in query.expand

        def load(session, rows):
            attributes = {row[0]: [] for row in rows} if with_attributes else None
            if attributes:
                self._load_attributes(session, attributes)
            # (id, members text) of each row, by position: a Row's attributes by name cost ~2 us each
            pairs = [(row[0], row[1]) for row in rows]
            assets = {row[0]: (row[0], *row[2:6]) for row in rows} if with_assets else {}
            unwritten = [id_ for id_, text in pairs if text is None]
            written = {}
            if unwritten:
                entries = session.execute(sa.select(*self._entry_columns()).where(products.c.id.in_(unwritten))).all()
                written = {entry.id: render(entry) for entry in self._load_entries(session, mission, entries, False)}
            # A product deleted after the page was read (a read-only request's statements are
            # each their own snapshot) has no entry: it leaves the page.
            return [ProductText(written[id_] if text is None else text, None if attributes is None else attributes[id_],
                                *assets.get(id_, ()))
                    for id_, text in pairs if text is not None or id_ in written]

        columns = [products.c.id, self._members_text(mission, tuple(members))]
        if with_assets:
            columns += _ASSET_COLUMNS
        return self._query_products(mission, query, visibilities, load, columns=columns)  # rows: (id, text, ...)

    def _members_text(self, mission: str, members: tuple):
        collections = self.collections
        key = (members, times.fraction_digits(), collections.default_of(mission))
        cache = self._root._members_texts
        column = cache.get(key)
        if column is None:
            column = members_text(members, products, product_checksums, product_attributes,
                                  collection_attribute=collections.attribute, default_collection=key[2],
                                  digits=key[1]).label("members_text")
            cache.put(key, column, math.inf)
        return column

    def _query_products(self, mission, query, visibilities, load, columns=None):
        conditions = [_PRODUCTS_OF_MISSION]
        parameters = {"proseo_mission": mission}
        classes = None
        if visibilities is not None:
            classes = [str(VisibilityClass(v)) for v in visibilities]
            condition, values = _visible_condition(self.dialect, classes)
            conditions.append(condition)
            parameters.update(values)
        with self._db() as s:
            return self._run_query(
                s, "Products", query, conditions, load,
                scope=(mission, None if classes is None else frozenset(classes)),
                columns=columns, catalogue=mission, parameters=parameters,
            )

    def update_product(self, product: Product) -> Product:
        product.sync_product_type()
        product.collection = self.collections.of_product(product)
        with self._db() as s:
            values = self._product_row_values(product)
            del values["id"], values["mission"]
            # The version row before the product's (as delete_product): writers that change
            # several existing products in one transaction (eviction) take the locks in one order.
            self._catalogue_changed(s, [product.mission])
            revision = self._update_revisioned(
                s, products, product, values, "Product", unique_what=f"Product {product.name!r}"
            )
            s.execute(sa.delete(product_checksums).where(product_checksums.c.product_id == product.id))
            s.execute(sa.delete(product_attributes).where(product_attributes.c.product_id == product.id))
            self._write_product_children(s, product)
        product.revision = revision
        return product

    def record_quicklooks(self, mission, searches) -> list[bool]:
        """See :meth:`StorageBase.record_quicklooks`: a transaction per :data:`QUICKLOOK_CHUNK`
        products, one ``UPDATE`` of the column per product while it has the quicklook ``seen``
        and still names the file searched, after the mission's catalogue version (once a
        transaction: pages with ``$expand=Assets`` change, and the version row first is the lock
        order of every write of several products; the mission's other writers wait for it, so
        for at most a chunk's updates). A path found raises the product's revision (for the
        writers that hold it read); ``NO_QUICKLOOK`` does not (a writer holding the product read
        may then write it back unsearched: it is searched again, nothing is lost)."""
        written = []
        for start in range(0, len(searches), QUICKLOOK_CHUNK):
            with self._db() as s:
                self._catalogue_changed(s, [mission])
                for search in searches[start:start + QUICKLOOK_CHUNK]:
                    parameters = {"b_mission": mission, "b_id": search.product_id, "b_key": search.archive_key,
                                  "b_found": search.quicklook, "b_seen": search.seen}
                    done = s.execute(_RECORD_QUICKLOOK[search.seen is None, search.quicklook != NO_QUICKLOOK], parameters)
                    written.append(done.rowcount == 1)
        return written

    def delete_product(self, mission, product_id) -> None:
        with self._db() as s:
            exists = s.execute(
                sa.select(products.c.id).where(products.c.id == product_id, products.c.mission == mission)
            ).first()
            if exists is None:
                raise NotFoundError(f"No product found with UUID {product_id}")
            # The version row first, then the product's rows: two evictors deleting several
            # products each would otherwise lock product -> version -> product and deadlock.
            self._catalogue_changed(s, [mission])
            # Children first: they have no foreign key (migration 0009), this is their only delete.
            s.execute(sa.delete(product_checksums).where(product_checksums.c.product_id == product_id))
            s.execute(sa.delete(product_attributes).where(product_attributes.c.product_id == product_id))
            s.execute(sa.delete(products).where(products.c.id == product_id))

    # -- subscriptions -----------------------------------------------------------------------

    def add_subscription(self, subscription: Subscription) -> Subscription:
        with self._db() as s:
            self._require_mission(s, subscription.mission)
            self._insert(s, subscriptions, {**self._sealed(_subscription_values(subscription), "notification_password"), "revision": 1},
                         f"Subscription {subscription.id}")
        subscription.revision = 1
        return subscription

    def get_subscription(self, mission, subscription_id, *, for_update=False) -> Subscription:
        statement = sa.select(subscriptions).where(
            subscriptions.c.id == subscription_id, subscriptions.c.mission == mission
        )
        with self._db() as s:
            row = s.execute(self._lock(statement, for_update)).first()
        if row is None:
            raise NotFoundError(f"No subscription found with UUID {subscription_id}")
        return _subscription_from_row(row)

    def query_subscriptions(self, mission, query, *, owner=None):
        conditions, parameters = _bound_conditions("Subscriptions", mission, owner=owner)
        with self._db() as s:
            return self._run_query(
                s, "Subscriptions", query, conditions, lambda _s, rows: [_subscription_from_row(r) for r in rows],
                scope=(mission, owner), parameters=parameters,
            )

    def list_running_subscriptions(self, mission=None) -> list[Subscription]:
        statement = (
            sa.select(subscriptions).where(subscriptions.c.status == "running")
            .order_by(subscriptions.c.submission_date, subscriptions.c.id)
        )
        if mission is not None:
            statement = statement.where(subscriptions.c.mission == mission)
        with self._db() as s:
            return [_subscription_from_row(r) for r in s.execute(statement).all()]

    def update_subscription(self, subscription: Subscription) -> Subscription:
        values = self._sealed(_subscription_values(subscription), "notification_password")
        del values["id"], values["mission"]
        with self._db() as s:
            subscription.revision = self._update_revisioned(s, subscriptions, subscription, values, "Subscription")
        return subscription

    def delete_subscription(self, mission, subscription_id) -> None:
        with self._db() as s:
            self._execute_one(
                s,
                sa.delete(subscriptions).where(subscriptions.c.id == subscription_id, subscriptions.c.mission == mission),
                f"subscription {subscription_id}",
            )

    # -- workflows ---------------------------------------------------------------------------

    def add_workflow(self, workflow: Workflow) -> Workflow:
        with self._db() as s:
            invalidate_at_end(s, self.workflow_cache)
            self._require_mission(s, workflow.mission)
            self._insert(s, workflows, {**_workflow_values(workflow), "revision": 1},
                         f"Workflow {workflow.name!r} of mission {workflow.mission}")
        workflow.revision = 1
        return workflow

    def get_workflow(self, mission, workflow_id) -> Workflow:
        with self._db() as s:
            row = s.execute(
                sa.select(workflows).where(workflows.c.id == workflow_id, workflows.c.mission == mission)
            ).first()
        if row is None:
            raise NotFoundError(f"No workflow found with UUID {workflow_id}", kind="not_found.workflow")
        return _workflow_from_row(row)

    def get_workflow_by_name(self, mission, name) -> Workflow:
        with self._db() as s:
            row = s.execute(
                sa.select(workflows).where(workflows.c.name == name, workflows.c.mission == mission)
            ).first()
        if row is None:
            raise NotFoundError(f"No workflow found with name {name!r}", kind="not_found.workflow")
        return _workflow_from_row(row)

    def list_workflows(self, mission, *, enabled_only=False, cached=False) -> list[Workflow]:
        if cached:
            rows = self.workflow_cache.get((mission, bool(enabled_only)),
                                           lambda: tuple(self.list_workflows(mission, enabled_only=enabled_only)))
            return [dataclasses.replace(w) for w in rows]
        statement = sa.select(workflows).where(workflows.c.mission == mission).order_by(workflows.c.name)
        if enabled_only:
            statement = statement.where(workflows.c.enabled.is_(True))
        with self._db() as s:
            return [_workflow_from_row(r) for r in s.execute(statement).all()]

    def query_workflows(self, mission, query, *, enabled_only=False):
        conditions, parameters = _bound_conditions("Workflows", mission, enabled_only=enabled_only)
        with self._db() as s:
            return self._run_query(s, "Workflows", query, conditions, lambda _s, rows: [_workflow_from_row(r) for r in rows],
                                   scope=(mission, bool(enabled_only)), parameters=parameters)

    def update_workflow(self, workflow: Workflow) -> Workflow:
        values = _workflow_values(workflow)
        del values["id"], values["mission"]
        with self._db() as s:
            invalidate_at_end(s, self.workflow_cache)
            workflow.revision = self._update_revisioned(
                s, workflows, workflow, values, "Workflow", unique_what=f"Workflow {workflow.name!r}"
            )
        return workflow

    def upsert_workflow(self, workflow: Workflow) -> Workflow:
        with self._db() as s:
            invalidate_at_end(s, self.workflow_cache)
            same_name = sa.select(workflows).where(
                workflows.c.mission == workflow.mission, workflows.c.name == workflow.name
            ).with_for_update()
            row = s.execute(same_name).first()
            if row is None:
                self._require_mission(s, workflow.mission)
                try:
                    self._insert(s, workflows, {**_workflow_values(workflow), "revision": 1},
                                 f"Workflow {workflow.name!r} of mission {workflow.mission}")
                    workflow.revision = 1
                    return workflow
                except ConflictError:
                    # Another process inserted it since the select (two server processes
                    # starting together sync the same file): update that one. No such row:
                    # the id belongs to another workflow, the conflict stands.
                    row = s.execute(same_name).first()
                    if row is None:
                        raise
            workflow.id = row.id
            values = _workflow_values(workflow)
            del values["id"], values["mission"]
            if all(getattr(row, name) == value for name, value in values.items()):
                workflow.revision = row.revision  # unchanged: same revision, same ETag
                return workflow
            s.execute(sa.update(workflows).where(workflows.c.id == row.id).values(**values, revision=row.revision + 1))
            workflow.revision = row.revision + 1
            return workflow

    def delete_workflow(self, mission, workflow_id) -> None:
        with self._db() as s:
            invalidate_at_end(s, self.workflow_cache)
            self._execute_one(
                s, sa.delete(workflows).where(workflows.c.id == workflow_id, workflows.c.mission == mission),
                f"workflow {workflow_id}",
            )

    # -- production orders -------------------------------------------------------------------

    def _load_orders(self, s: Session, rows) -> list[ProductionOrder]:
        ids = [row.id for row in rows]
        options: dict[uuid.UUID, dict] = {i: {} for i in ids}
        if ids:
            for o in s.execute(
                sa.select(order_options).where(order_options.c.order_id.in_(ids)).order_by(order_options.c.name)
            ):
                options[o.order_id][o.name] = o.value
        return [_order_from_row(row, options[row.id]) for row in rows]

    def _write_order_options(self, s: Session, order: ProductionOrder) -> None:
        if order.workflow_options:
            s.execute(
                sa.insert(order_options),
                [{"order_id": order.id, "name": k, "value": str(v)} for k, v in order.workflow_options.items()],
            )

    def _dialect_insert(self, table: sa.Table):
        """``INSERT`` with ``ON CONFLICT`` support (PostgreSQL's or SQLite's)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    def _order_insert(self, notify: bool):
        """``add_order``'s statement, built once per engine (the values come as parameters)."""
        root = self._root
        key = "_order_insert_statement_notify" if notify else "_order_insert_statement"
        statement = root.__dict__.get(key)
        if statement is None:
            statement = (
                self._dialect_insert(orders).on_conflict_do_nothing()
                .returning(orders.c.id, *([order_notify_expression()] if notify else []))
            )
            setattr(root, key, statement)
        return statement

    def add_order(self, order: ProductionOrder) -> ProductionOrder:
        # A submission's round trips are its cost (issue 12): the mission check is cached, a
        # taken Id or idempotency key is ON CONFLICT DO NOTHING instead of a SAVEPOINT around
        # a failing INSERT (the transaction stays usable either way), and on PostgreSQL the
        # workers' NOTIFY rides on the INSERT's RETURNING.
        queued = order.status is OrderStatus.QUEUED
        notify = queued and self.dialect == "postgresql"
        statement = self._order_insert(notify)
        values = {**self._sealed(_order_values(order), "notification_password"), "revision": 1}
        with self._db() as s:
            self._require_known_mission(s, order.mission)
            with refusals(conflict=f"Production order {order.id} already exists",
                          invalid="Production order: a value does not fit the database"):
                try:
                    if s.execute(statement, values).first() is None:
                        raise ConflictError(f"Production order {order.id} already exists")
                    self._write_order_options(s, order)
                except Exception as exc:
                    if refusal(exc) is ConflictError:
                        self._root._known_missions.discard(order.mission)  # perhaps deleted since it was seen
                    raise
            if queued:
                mark_order_queued(s, self.order_signal, notified=notify)
        order.revision = 1
        return order

    def find_order_by_idempotency_key(self, mission, owner, key):
        statement = sa.select(orders).where(
            orders.c.mission == mission, orders.c.owner == owner, orders.c.idempotency_key == key
        )
        with self._db() as s:
            row = s.execute(statement).first()
            return self._load_orders(s, [row])[0] if row is not None else None

    def get_order(self, mission, order_id, *, for_update=False) -> ProductionOrder:
        statement = sa.select(orders).where(orders.c.id == order_id, orders.c.mission == mission)
        with self._db() as s:
            row = s.execute(self._lock(statement, for_update)).first()
            if row is None:
                raise NotFoundError(f"No production order found with UUID {order_id}", kind="not_found.order")
            return self._load_orders(s, [row])[0]

    def query_orders(self, mission, query, *, owner=None):
        conditions, parameters = _bound_conditions("ProductionOrders", mission, owner=owner)
        with self._db() as s:
            return self._run_query(s, "ProductionOrders", query, conditions, self._load_orders, scope=(mission, owner),
                                   parameters=parameters)

    def update_order(self, order: ProductionOrder) -> ProductionOrder:
        values = self._sealed(_order_values(order), "notification_password")
        del values["id"], values["mission"]
        with self._db() as s:
            revision = self._update_revisioned(s, orders, order, values, "Production order")
            s.execute(sa.delete(order_options).where(order_options.c.order_id == order.id))
            self._write_order_options(s, order)
            if order.status is OrderStatus.QUEUED:
                self._order_queued(s)
        order.revision = revision
        return order

    def delete_order(self, mission, order_id) -> None:
        with self._db() as s:
            exists = s.execute(sa.select(orders.c.id).where(orders.c.id == order_id, orders.c.mission == mission)).first()
            if exists is None:
                raise NotFoundError(f"No production order found with UUID {order_id}", kind="not_found.order")
            s.execute(sa.delete(order_options).where(order_options.c.order_id == order_id))
            s.execute(sa.delete(orders).where(orders.c.id == order_id))

    # -- the production queue ----------------------------------------------------------------

    #: The queue's order: highest priority, then oldest submission, then id (index
    #: (status, priority, submission_date) serves it).
    _QUEUE_ORDER = (orders.c.priority.desc(), orders.c.submission_date.asc(), orders.c.id.asc())

    def claim_next_order(self, worker_id, lease_seconds, now=None):
        now = as_utc(now) if now is not None else utcnow()
        queued = orders.c.status == OrderStatus.QUEUED.value
        values = {
            "status": transition(OrderStatus.QUEUED, OrderEvent.START).value,
            "status_message": MESSAGE_IN_PROGRESS,
            "worker_id": worker_id,
            "lease_expires_at": now + timedelta(seconds=lease_seconds),
            "revision": orders.c.revision + 1,
        }
        nxt = sa.select(orders.c.id).where(queued).order_by(*self._QUEUE_ORDER).limit(1)
        with self._db() as s:
            if self.dialect == "postgresql":
                # Lock the next order, skipping any another claimer has locked, then take it.
                order_id = s.execute(nxt.with_for_update(skip_locked=True)).scalar()
                if order_id is None:
                    return None
                s.execute(sa.update(orders).where(orders.c.id == order_id).values(**values))
            else:
                # One guarded statement: SQLite takes the write lock before the UPDATE reads, so
                # two workers never get the same order; ``status = 'queued'`` makes that explicit.
                order_id = s.execute(
                    sa.update(orders).where(orders.c.id == nxt.scalar_subquery(), queued)
                    .values(**values).returning(orders.c.id)
                ).scalar()
                if order_id is None:
                    return None
            row = s.execute(sa.select(orders).where(orders.c.id == order_id)).one()
            return self._load_orders(s, [row])[0]

    def renew_order_lease(self, order_id, worker_id, lease_seconds, now=None) -> bool:
        now = as_utc(now) if now is not None else utcnow()
        with self._db() as s:
            result = s.execute(
                sa.update(orders)
                .where(
                    orders.c.id == order_id,
                    orders.c.worker_id == worker_id,
                    orders.c.status == OrderStatus.IN_PROGRESS.value,
                )
                .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
            )
            return result.rowcount == 1

    @staticmethod
    def _lease_expired(now):
        return sa.and_(orders.c.status == OrderStatus.IN_PROGRESS.value, orders.c.lease_expires_at < now)

    def expired_orders(self, now) -> list[ProductionOrder]:
        statement = (sa.select(orders).where(self._lease_expired(as_utc(now)))
                     .order_by(orders.c.lease_expires_at, orders.c.id))
        if self.dialect == "postgresql":
            statement = statement.with_for_update(skip_locked=True)  # another recoverer's are its own
        with self._db() as s:
            return self._load_orders(s, s.execute(statement).all())

    def release_expired_order(self, order: ProductionOrder, now) -> bool:
        with self._db() as s:
            result = s.execute(
                sa.update(orders)
                .where(orders.c.id == order.id, orders.c.revision == order.revision,
                       self._lease_expired(as_utc(now)))
                .values(
                    status=order.status.value, status_message=order.status_message, attempts=order.attempts,
                    worker_id=None, lease_expires_at=None, completed_date=order.completed_date,
                    revision=order.revision + 1,
                )
            )
            if result.rowcount != 1:
                return False  # a heartbeat, a cancel or another recoverer came first
            if order.status is OrderStatus.QUEUED:
                self._order_queued(s)
        order.worker_id = order.lease_expires_at = None
        order.revision += 1
        return True

    def order_queue_stats(self, workflow_id, priority, *, history=20) -> OrderQueueStats:
        with self._db() as s:
            rows = s.execute(_order_queue_statement(), {"workflow_id": workflow_id, "priority": priority,
                                                        "history": history}).all()
        return OrderQueueStats(
            ahead=rows[0].ahead,
            run_seconds=[max(0.0, (r.completed_date - r.submission_date).total_seconds())
                         for r in rows if r.completed_date is not None],
        )

    # -- notification outbox -----------------------------------------------------------------

    def enqueue_notification(self, kind, endpoint, username, password, payload, *, mission=None, now=None):
        now = as_utc(now) if now is not None else utcnow()
        values = {
            "kind": kind, "mission": mission, "endpoint": endpoint, "username": username,
            "password": password, "payload": payload, "created_at": now, "attempts": 0,
            "next_attempt_at": now, "delivered_at": None, "last_error": None,
        }
        stored = self._sealed({**values, "receiver": endpoint_receiver(endpoint)}, "password")
        with self._db() as s:
            message_id = s.execute(sa.insert(outbox).values(**stored).returning(outbox.c.id)).scalar_one()
        return OutboxMessage(id=message_id, **{**values, "password": SecretBox.from_column(stored["password"])})

    def enqueue_notifications(self, messages: Sequence[dict], *, now=None) -> int:
        """Many outbox messages in one executemany ``INSERT`` (bulk ingest's subscription
        notifications), in the caller's transaction; each dict holds ``enqueue_notification``'s
        arguments (``kind``, ``endpoint``, ``username``, ``password``, ``payload``, ``mission``).
        Returns how many were enqueued."""
        if not messages:
            return 0
        now = as_utc(now) if now is not None else utcnow()
        rows = [
            self._sealed({**message, "receiver": endpoint_receiver(message["endpoint"]), "created_at": now,
                          "attempts": 0, "next_attempt_at": now, "delivered_at": None, "last_error": None}, "password")
            for message in messages
        ]
        with self._db() as s:
            s.execute(sa.insert(outbox), rows)
        return len(rows)

    def claim_due_notifications(self, now, limit, *, lease=timedelta(seconds=60), exclude_receivers=()):
        now = as_utc(now)
        token = secrets.token_urlsafe(24)
        due = (outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at <= now)
        if exclude_receivers:
            # a message written without its receiver (before migration 0013) is not excluded
            due = (*due, sa.or_(outbox.c.receiver.is_(None), outbox.c.receiver.not_in(sorted(set(exclude_receivers)))))
        chosen = sa.select(outbox.c.id).where(*due).order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit)
        with self._db() as s:
            if self.dialect == "postgresql":
                # Lock the chosen rows, skipping those another claimer holds, then take them.
                ids = s.execute(chosen.with_for_update(skip_locked=True)).scalars().all()
                if ids:
                    s.execute(sa.update(outbox).where(outbox.c.id.in_(ids)).values(claim_token=token))
            else:
                # One guarded statement: SQLite takes the write lock before the UPDATE reads, so
                # two claimers never get the same message (and no read precedes the write).
                ids = s.execute(
                    sa.update(outbox).where(outbox.c.id.in_(chosen.scalar_subquery()), *due)
                    .values(claim_token=token).returning(outbox.c.id)
                ).scalars().all()
            if not ids:
                return []
            rows = s.execute(
                sa.select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.next_attempt_at, outbox.c.id)
            ).all()
            until = now + lease
            s.execute(sa.update(outbox).where(outbox.c.id.in_(ids)).values(next_attempt_at=until))
        messages = [ClaimedNotification(**vars(_outbox_from_row(r))) for r in rows]
        for message in messages:
            message.next_attempt_at = until
            message.claim_token = token
        return messages

    def _record_claimed(self, s: Session, message_id, claim_token, values: dict) -> bool:
        """Write the outcome of a claimed message if ``claim_token`` still holds the claim."""
        result = s.execute(
            sa.update(outbox)
            .where(outbox.c.id == message_id, outbox.c.claim_token == claim_token, outbox.c.delivered_at.is_(None))
            .values(**values, claim_token=None)
        )
        if result.rowcount == 1:
            return True
        if s.execute(sa.select(outbox.c.id).where(outbox.c.id == message_id)).first() is None:
            raise NotFoundError(f"No notification {message_id}")
        return False

    def renew_notification_claims(self, claims, until) -> int:
        by_token: dict[str, list[int]] = {}
        for message_id, token in claims.items():
            by_token.setdefault(token, []).append(message_id)
        renewed = 0
        with self._db() as s:
            for token, ids in sorted(by_token.items()):
                renewed += s.execute(
                    sa.update(outbox)
                    .where(outbox.c.id.in_(sorted(ids)), outbox.c.claim_token == token, outbox.c.delivered_at.is_(None))
                    .values(next_attempt_at=as_utc(until))
                ).rowcount
        return renewed

    def mark_notification_delivered(self, message_id, *, claim_token, now=None) -> bool:
        now = as_utc(now) if now is not None else utcnow()
        with self._db() as s:
            return self._record_claimed(s, message_id, claim_token, {"delivered_at": now, "next_attempt_at": None})

    def record_notification_failure(self, message_id, next_attempt_at, error, *, claim_token) -> bool:
        with self._db() as s:
            return self._record_claimed(
                s, message_id, claim_token,
                {
                    "attempts": outbox.c.attempts + 1,
                    "next_attempt_at": as_utc(next_attempt_at) if next_attempt_at is not None else None,
                    "last_error": error,
                },
            )

    def get_notification(self, message_id) -> OutboxMessage:
        with self._db() as s:
            row = s.execute(sa.select(outbox).where(outbox.c.id == message_id)).first()
        if row is None:
            raise NotFoundError(f"No notification {message_id}")
        return _outbox_from_row(row)

    def list_notifications(self, *, undelivered_only=False) -> list[OutboxMessage]:
        statement = sa.select(outbox).order_by(outbox.c.id)
        if undelivered_only:
            statement = statement.where(outbox.c.delivered_at.is_(None))
        with self._db() as s:
            return [_outbox_from_row(r) for r in s.execute(statement).all()]

    def operations_stats(self) -> OperationsStats:
        pending = sa.and_(outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at.is_not(None))
        with self._db() as s:
            by_status = {status: count for status, count in s.execute(
                sa.select(orders.c.status, sa.func.count()).group_by(orders.c.status)
            ).all()}
            oldest_queued = s.execute(
                sa.select(sa.func.min(orders.c.submission_date)).where(orders.c.status == OrderStatus.QUEUED.value)
            ).scalar()
            row = s.execute(
                sa.select(
                    sa.func.count().filter(pending),
                    sa.func.count().filter(sa.and_(pending, outbox.c.attempts > 0)),
                    sa.func.count().filter(sa.and_(outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at.is_(None))),
                    sa.func.min(outbox.c.created_at).filter(pending),
                ).select_from(outbox)
            ).one()
        return OperationsStats(
            orders_by_status=by_status,
            oldest_queued_at=_as_datetime(oldest_queued),
            outbox_pending=row[0], outbox_retrying=row[1], outbox_given_up=row[2],
            oldest_pending_at=_as_datetime(row[3]),
        )

    # -- secrets at rest ---------------------------------------------------------------------

    #: Every column holding a sealed secret (see proseo_odata.secretbox).
    _SECRET_COLUMNS = (
        (orders, orders.c.notification_password),
        (subscriptions, subscriptions.c.notification_password),
        (outbox, outbox.c.password),
    )

    def reseal_secrets(self, *, batch_size: int = 500) -> tuple[int, int]:
        """Seal every stored secret again with the first configured key (key rotation; and
        ``plain:`` values once a key is configured). Returns (resealed, unreadable): values that
        no configured key opens are left as they are and counted. Each batch is its own
        transaction, so the command may be interrupted and run again."""
        resealed = unreadable = 0
        for table, column in self._SECRET_COLUMNS:
            last = None
            while True:
                statement = sa.select(table.c.id, column).where(column.is_not(None)).order_by(table.c.id).limit(batch_size)
                if last is not None:
                    statement = statement.where(table.c.id > last)
                with self.transaction() as tx:
                    s = tx._session
                    rows = s.execute(statement).all()
                    for key, stored in rows:
                        try:
                            new = self.secrets.to_column(self.secrets.reseal(SecretBox.from_column(stored)))
                        except SecretsError:
                            unreadable += 1
                            continue
                        s.execute(sa.update(table).where(table.c.id == key, column == stored).values({column.name: new}))
                        resealed += 1
                if len(rows) < batch_size:
                    break
                last = rows[-1][0]
        return resealed, unreadable


def load_from_config(settings: Mapping[str, str]) -> SQLAlchemyStorage:
    """Build the backend from ``proseo.storage.*`` settings (see the module docstring)."""
    url = settings.get("proseo.storage.url")
    if not url:
        raise StorageError("setting proseo.storage.url is required (a SQLAlchemy database URL)")
    try:
        collections = CollectionRule.from_settings(settings)
        exact_limit = count_exact_limit(settings)
    except ValueError as exc:
        raise StorageError(str(exc)) from None
    return SQLAlchemyStorage.from_url(
        url,
        collections=collections,
        secrets=SecretBox.from_settings(settings),
        echo=as_bool(settings.get("proseo.storage.echo"), key="proseo.storage.echo"),
        pool_size=_count(settings, "proseo.storage.pool_size", 5),
        max_overflow=_count(settings, "proseo.storage.max_overflow", 10),
        connect_timeout=_seconds(settings, "proseo.storage.connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        statement_timeout=_seconds(settings, "proseo.storage.statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
        pool_timeout=_seconds(settings, "proseo.storage.pool_timeout", DEFAULT_POOL_TIMEOUT),
        skip_memo=SkipMemo(
            size=_count(settings, "proseo.storage.skip_memo.size", SKIP_MEMO_SIZE),
            ttl=_seconds(settings, "proseo.storage.skip_memo.ttl", SKIP_MEMO_TTL),
        ),
        user_cache=ReadCache(ttl=_seconds(settings, "proseo.storage.user_cache.ttl", READ_CACHE_TTL)),
        workflow_cache=ReadCache(ttl=_seconds(settings, "proseo.storage.workflow_cache.ttl", READ_CACHE_TTL)),
        pool_ping_idle=_seconds(settings, "proseo.storage.pool_ping_idle", DEFAULT_POOL_PING_IDLE),
        count_exact_limit=exact_limit,
    )


def _count(settings: Mapping[str, str], name: str, default: int) -> int:
    try:
        return number_setting(settings, name, default, int, ok=lambda n: n >= 0, needs="a whole number, at least 0")
    except ValueError as exc:
        raise StorageError(str(exc)) from None


def _seconds(settings: Mapping[str, str], name: str, default: float) -> float:
    try:
        return number_setting(settings, name, default, ok=lambda n: n >= 0, needs="a number of seconds, at least 0")
    except ValueError as exc:
        raise StorageError(str(exc)) from None
