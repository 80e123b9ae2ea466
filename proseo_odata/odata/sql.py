"""Bound filter -> SQLAlchemy boolean expression, over tables the caller maps.

``compile_filter_sql(bound, mapping)`` returns a ``ColumnElement`` to put in a ``WHERE``. It
never renders a literal into the SQL text: every literal is a bound parameter. The same
expression runs on SQLite and PostgreSQL; the few constructs that differ are SQLAlchemy
elements with a compilation per dialect (date parts, ``indexof``, case-sensitive ``contains``
on SQLite, ``OData.CSC.Intersects``).

Mapping protocol
----------------
The compiler asks a *mapping* (see :class:`EntityMapping` for the ready-made one) for:

``column(path) -> ColumnElement``
    the column (or expression) of a primitive property, ``path`` being canonical EDM names
    (``('ContentDate', 'Start')``).
``collection(path, cast) -> CollectionMapping``
    what a lambda ranges over: a child table correlated with the entity's row
    (:class:`ChildTable`, compiled to ``EXISTS``; ``all`` to ``NOT EXISTS (... AND NOT p)``)
    or a single complex value stored in the entity's own columns (:class:`ComplexColumns`).
``footprint(path) -> FootprintColumns``
    the columns holding a footprint for ``OData.CSC.Intersects``.
``shortcut(node, compiler) -> ColumnElement | None`` (optional)
    a cheaper equivalent for a lambda (an indexed column), or ``None``.

Raise :class:`~proseo_odata.odata.errors.ODataNotSupportedError` from a mapping for a property
that cannot be filtered.

SQLite
------
Call :func:`install_sqlite_functions` on the engine (or :func:`register_sqlite_functions` on
each new DB-API connection): it registers the exact geometric intersection (shapely),
Unicode-aware ``tolower``/``toupper`` and the date-time arithmetic SQLite lacks.
``matchesPattern`` is the registered ``proseo_odata_matches`` (RE2), not pysqlite's ``REGEXP``.

Date-times on SQLite are expected as ISO-8601 text ``YYYY-MM-DD?HH:MM:SS.ffffff`` in UTC (the
backend's ``UTCDateTime`` and SQLAlchemy's own ``DateTime`` both store that shape).
"""
from __future__ import annotations

import datetime as _dt
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators as _operators
from sqlalchemy.sql.expression import BooleanClauseList, ColumnClause, ColumnElement, False_, FunctionElement, True_
from sqlalchemy.types import TypeDecorator

from . import edm
from .binding import (BAnd, BArith, BCall, BCompare, BIn, BIntersects, BLambda, BLiteral, BNegate,
                      BNot, BNull, BOr, BOrderItem, BProperty, Bound, may_fail_on_data)
from .errors import ODataNotSupportedError, ODataTypeError
from .pgregex import to_postgresql
from .predicate import TRIM_CHARACTERS
from .regex import matches

__all__ = [
    "compile_filter_sql",
    "compile_orderby_sql",
    "SqlCompiler",
    "EntityMapping",
    "ChildTable",
    "ComplexColumns",
    "FootprintColumns",
    "area_bounds",
    "footprint_box",
    "CollectionMapping",
    "install_sqlite_functions",
    "register_sqlite_functions",
    "LIKE_ESCAPE",
]

#: Escape character of the LIKE patterns built for contains/startswith/endswith.
LIKE_ESCAPE = "!"
_UTC = _dt.timezone.utc


# --------------------------------------------------------------------------------------------
# mappings


@dataclass(frozen=True)
class FootprintColumns:
    """Where a footprint is stored: ``wkt`` (text, SRID 4326, longitude first) and, on
    PostgreSQL with PostGIS, ``geometry`` (``geometry(Geometry,4326)``). On PostgreSQL the
    geometry column is required (``ST_Intersects`` uses its GiST index).

    ``candidates`` (optional, for a database without a spatial index of its own, such as SQLite
    with an R*Tree of the footprints' extents): given an area's bounds ``(min_x, min_y, max_x,
    max_y)``, a condition true for at least every row whose footprint's bounding box meets them.
    The compiler puts it before the exact test, which then runs only on those rows. It must
    never leave out a row whose footprint intersects the area (a box rounded outwards is fine)."""

    wkt: Optional[ColumnElement] = None
    geometry: Optional[ColumnElement] = None
    candidates: Optional[Callable[[Tuple[float, float, float, float]], ColumnElement]] = None


class CollectionMapping:
    """Base of what :meth:`EntityMapping.collection` returns. ``single`` collections are one
    complex value in the entity's own row (no subquery)."""

    single = False

    def instance(self, cast: Optional[str] = None, nested: bool = False) -> "CollectionInstance":
        """One use of the collection in a lambda (``nested``: inside another lambda)."""
        raise NotImplementedError


class CollectionInstance:
    """One use of a collection in a lambda: its correlation ``conditions`` (``ChildTable``) and
    its members."""

    conditions: Sequence[ColumnElement] = ()

    def member(self, path: Tuple[str, ...], cast: Optional[str]) -> Tuple[ColumnElement, Optional[ColumnElement]]:
        """``(expression, guard)``: the member's value and the condition under which the item has
        it (``value_type = 'Integer'`` for ``OData.CSC.IntegerAttribute/Value``), or ``None``."""
        raise NotImplementedError


@dataclass(frozen=True)
class ChildTable(CollectionMapping):
    """A collection stored as rows of ``table`` pointing at the entity's row.

    ``key`` is ``(child column name, parent column)``: ``('product_id', products.c.id)``.
    ``columns`` maps member names to column names. For derived item types (typed attributes),
    ``type_column`` names the column holding the type and ``types`` maps a qualified type name
    to ``(stored type value, {member name: column name})``.
    """

    table: sa.Table
    key: Tuple[str, ColumnElement]
    columns: Mapping[str, str]
    type_column: Optional[str] = None
    types: Mapping[str, Tuple[str, Mapping[str, str]]] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "_instances", {})

    def instance(self, cast: Optional[str] = None, nested: bool = False) -> CollectionInstance:
        # The table itself, not an alias: sibling EXISTS subqueries may share it, and building
        # an alias per lambda costs more than the rest of the compile. An instance holds only
        # static SQL (correlation, type conditions, member columns), so one per cast is built
        # and reused (SQLAlchemy elements are immutable). A lambda inside another (``nested``)
        # takes an alias of its own: over the table itself its EXISTS would be correlated to
        # the enclosing one's row, not to the entity's.
        if nested:
            return _ChildTableInstance(self, self.table.alias(), cast)
        instance = self._instances.get(cast)
        if instance is None:
            instance = _ChildTableInstance(self, self.table, cast)
            self._instances[cast] = instance
        return instance


class _ChildTableInstance(CollectionInstance):
    def __init__(self, mapping: ChildTable, alias, cast):
        self.mapping = mapping
        self.alias = alias
        child, parent = mapping.key
        conditions = [alias.c[child] == parent]
        if cast is not None:
            conditions.append(self._type_condition(cast))
        self.conditions = conditions
        self._members: Dict[Tuple[Tuple[str, ...], Optional[str]], Tuple[ColumnElement, Optional[ColumnElement]]] = {}

    def _type_condition(self, cast):
        if self.mapping.type_column is None or cast not in self.mapping.types:
            raise ODataNotSupportedError(f"cannot filter items of type {cast} here")
        stored, _ = self.mapping.types[cast]
        return self.alias.c[self.mapping.type_column] == stored

    def member(self, path, cast):
        key = (path, cast)
        found = self._members.get(key)
        if found is None:
            found = self._members[key] = self._member(path, cast)
        return found

    def _member(self, path, cast):
        name = "/".join(path)
        if cast is not None and cast in self.mapping.types:
            stored, columns = self.mapping.types[cast]
            if name in columns:
                return self.alias.c[columns[name]], self.alias.c[self.mapping.type_column] == stored
        if name in self.mapping.columns:
            return self.alias.c[self.mapping.columns[name]], None
        raise ODataNotSupportedError(f"'{name}' of these items cannot be filtered")


@dataclass(frozen=True)
class ComplexColumns(CollectionMapping):
    """A single complex value stored in the entity's columns: ``{member path: column}``."""

    columns: Mapping[str, ColumnElement]
    single = True

    def instance(self, cast: Optional[str] = None, nested: bool = False) -> CollectionInstance:
        return _ComplexInstance(self)


class _ComplexInstance(CollectionInstance):
    conditions = ()

    def __init__(self, mapping):
        self.mapping = mapping

    def member(self, path, cast):
        name = "/".join(path)
        if name not in self.mapping.columns:
            raise ODataNotSupportedError(f"'{name}' cannot be filtered")
        return self.mapping.columns[name], None


class EntityMapping:
    """A ready-made mapping: ``columns`` maps ``'/'``-joined property paths to columns,
    ``collections`` collection paths to :class:`CollectionMapping`, ``footprints`` footprint
    property names to :class:`FootprintColumns`; ``shortcut`` an optional lambda shortcut."""

    def __init__(self, columns: Mapping[str, ColumnElement],
                 collections: Optional[Mapping[str, CollectionMapping]] = None,
                 footprints: Optional[Mapping[str, FootprintColumns]] = None,
                 shortcut: Optional[Callable[[BLambda, "SqlCompiler"], Optional[ColumnElement]]] = None):
        self.columns = dict(columns)
        self.collections = dict(collections or {})
        self.footprints = dict(footprints or {})
        self._shortcut = shortcut
        #: static SQL the compiler derives from this mapping's columns (``IS NOT NULL`` tests,
        #: ``col = true``), built once; see :meth:`SqlCompiler.static`
        self.sql_cache: Dict[Any, Any] = {}

    def column(self, path: Tuple[str, ...]) -> ColumnElement:
        name = "/".join(path)
        try:
            return self.columns[name]
        except KeyError:
            raise ODataNotSupportedError(f"property '{name}' cannot be filtered", target="$filter") from None

    def collection(self, path: Tuple[str, ...], cast: Optional[str], nested: bool = False) -> CollectionInstance:
        name = "/".join(path)
        try:
            mapping = self.collections[name]
        except KeyError:
            raise ODataNotSupportedError(f"'{name}' cannot be filtered", target="$filter") from None
        return mapping.instance(cast, nested)

    def footprint(self, path: Tuple[str, ...]) -> FootprintColumns:
        name = "/".join(path)
        try:
            return self.footprints[name]
        except KeyError:
            raise ODataNotSupportedError(f"'{name}' cannot be used in OData.CSC.Intersects here",
                                         target="$filter") from None

    def shortcut(self, node: BLambda, compiler: "SqlCompiler") -> Optional[ColumnElement]:
        return self._shortcut(node, compiler) if self._shortcut else None


# --------------------------------------------------------------------------------------------
# dialect-specific elements


class _Flagged(FunctionElement):
    """A function element with constant attributes (``flags``) that are part of its SQL.

    Each combination of flags is a subclass of its own, made by :meth:`variant`, so SQLAlchemy's
    statement cache tells them apart by their class (``inherit_cache``, its documented way for
    custom constructs) and the elements carry no state beyond their arguments."""

    inherit_cache = True
    flags: Tuple = ()

    @classmethod
    def variant(cls, *flags):
        key = (cls, flags)
        found = _VARIANTS.get(key)
        if found is None:
            found = _VARIANTS.setdefault(key, type(cls.__name__, (cls,), {"flags": flags, "inherit_cache": True}))
        return found


_VARIANTS: Dict[Tuple[type, Tuple], type] = {}


class _DatePart(_Flagged):
    """``year(x)`` ... ``second(x)`` as an integer; ``x`` a UTC date-time, date or time.
    Flags: ``(part, kind)``, kind being the EDM kind of ``x``."""

    type = sa.Integer()
    name = "odata_date_part"


_STRFTIME = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S"}


@compiles(_DatePart, "sqlite")
def _date_part_sqlite(element, compiler, **kw):
    (expr,) = list(element.clauses)
    inner = compiler.process(expr, **kw)
    if element.flags[1] == "datetime":
        # whole seconds: strftime rounds a fraction to milliseconds, and 9999-12-31T23:59:59.9995
        # rounded past year 9999 gave null (second() is whole seconds anyway)
        inner = f"substr({inner}, 1, 19)"
    return f"CAST(strftime('{_STRFTIME[element.flags[0]]}', {inner}) AS INTEGER)"


@compiles(_DatePart)
def _date_part_default(element, compiler, **kw):
    (expr,) = list(element.clauses)
    inner = compiler.process(expr, **kw)
    part, kind = element.flags
    if kind == "datetime":
        inner = f"({inner} AT TIME ZONE 'UTC')"
    return f"CAST(FLOOR(EXTRACT({part.upper()} FROM {inner})) AS INTEGER)"


class _DateOf(FunctionElement):
    inherit_cache = True
    type = sa.Date()
    name = "odata_date"


@compiles(_DateOf, "sqlite")
def _date_of_sqlite(element, compiler, **kw):
    (expr,) = list(element.clauses)
    return f"substr({compiler.process(expr, **kw)}, 1, 10)"


@compiles(_DateOf)
def _date_of_default(element, compiler, **kw):
    (expr,) = list(element.clauses)
    return f"CAST(({compiler.process(expr, **kw)} AT TIME ZONE 'UTC') AS DATE)"


class _TimeOf(FunctionElement):
    inherit_cache = True
    type = sa.Time()
    name = "odata_time"


@compiles(_TimeOf, "sqlite")
def _time_of_sqlite(element, compiler, **kw):
    (expr,) = list(element.clauses)
    return f"substr({compiler.process(expr, **kw)}, 12, 15)"


@compiles(_TimeOf)
def _time_of_default(element, compiler, **kw):
    (expr,) = list(element.clauses)
    return f"CAST(({compiler.process(expr, **kw)} AT TIME ZONE 'UTC') AS TIME)"


class _IndexOf(FunctionElement):
    inherit_cache = True
    type = sa.Integer()
    name = "odata_indexof"


@compiles(_IndexOf, "sqlite")
def _indexof_sqlite(element, compiler, **kw):
    s, t = list(element.clauses)
    return f"(instr({compiler.process(s, **kw)}, {compiler.process(t, **kw)}) - 1)"


@compiles(_IndexOf)
def _indexof_default(element, compiler, **kw):
    s, t = list(element.clauses)
    return f"(strpos({compiler.process(s, **kw)}, {compiler.process(t, **kw)}) - 1)"


class _CaseMap(_Flagged):
    """Unicode ``tolower``/``toupper`` (SQLite's own lower/upper only fold ASCII). Flags:
    ``(upper,)``."""

    type = sa.String()
    name = "odata_casemap"


@compiles(_CaseMap, "sqlite")
def _casemap_sqlite(element, compiler, **kw):
    (expr,) = list(element.clauses)
    name = "proseo_odata_upper" if element.flags[0] else "proseo_odata_lower"
    return f"{name}({compiler.process(expr, **kw)})"


@compiles(_CaseMap)
def _casemap_default(element, compiler, **kw):
    (expr,) = list(element.clauses)
    name = "upper" if element.flags[0] else "lower"
    # ICU for the case mapping; the result compared and ordered by code point as everywhere
    # else ("C"): it would keep ICU's collation, so tolower(Name) lt 'z' was linguistic.
    return f'{name}({compiler.process(expr, **kw)} COLLATE "und-x-icu") COLLATE "C"'


class _StringMatch(_Flagged):
    """contains/startswith/endswith: ``x LIKE pattern ESCAPE '!'`` (``%``, ``_`` and ``!`` of
    the argument escaped); on SQLite, whose LIKE ignores ASCII case, also an exact
    case-sensitive check and, for a literal prefix, a range of ``x`` (an index serves it; SQLite
    uses LIKE for no index, its LIKE ignoring case). Clauses: ``(x, argument, pattern)``, and
    for that range the prefix's upper bound (:func:`_prefix_upper_bound`); flags: ``(kind,)``."""

    type = sa.types.NullType()  # not Boolean: on SQLite a Boolean one is compared with 1, which hides its terms from the planner
    name = "odata_string_match"


def _like_sql(x, pattern):
    return f"{x} LIKE {pattern} ESCAPE '{LIKE_ESCAPE}'"


@compiles(_StringMatch)
def _string_match_default(element, compiler, **kw):
    x, _arg, pattern = (compiler.process(c, **kw) for c in list(element.clauses)[:3])  # (no range: see sqlite's)
    # parenthesised: LIKE and IN are of one precedence in PostgreSQL, and do not chain
    # (startswith(Name,'S2') in (true,false))
    return f"({_like_sql(x, pattern)})"


@compiles(_StringMatch, "sqlite")
def _string_match_sqlite(element, compiler, **kw):
    x, y, pattern, *upper = (compiler.process(c, **kw) for c in element.clauses)
    kind = element.flags[0]
    if kind == "contains":
        exact = f"instr({x}, {y}) > 0"
    elif kind == "startswith":
        exact = f"substr({x}, 1, length({y})) = {y}"
        if upper:  # a literal prefix: also a range of the column, which an index on it serves
            # (BINARY: the code point order the bound is made for, whatever the column's collation)
            exact += f" AND {x} COLLATE BINARY >= {y} AND {x} COLLATE BINARY < {upper[0]}"
    else:
        exact = f"substr({x}, length({x}) - length({y}) + 1) = {y}"
    return f"({_like_sql(x, pattern)} AND {exact})"


def _prefix_upper_bound(prefix: str) -> Optional[str]:
    """The least text above every text that starts with ``prefix``, in code point order (SQLite's
    BINARY collation compares UTF-8 bytes, which order as code points): ``prefix`` with its last
    character that is not U+10FFFF raised by one and what follows it dropped; None when there is
    none (an empty prefix, or one of U+10FFFF only)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    following = ord(stripped[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # no text holds a lone surrogate: the next character is U+E000
        following = 0xE000
    return stripped[:-1] + chr(following)


class _Matches(FunctionElement):
    """``matchesPattern(x, pattern)``: on SQLite the registered ``proseo_odata_matches`` (RE2,
    :mod:`proseo_odata.odata.regex`: linear in the text whatever the pattern; SQLAlchemy's own
    ``REGEXP`` there is Python's ``re``, which a pattern can make backtrack for ever while holding
    the interpreter's lock); elsewhere SQLAlchemy's ``regexp_match`` (PostgreSQL ``~``), a
    literal pattern bound as :class:`_RE2Pattern`. Clauses ``(x, pattern)``."""

    inherit_cache = True
    type = sa.Boolean()
    name = "odata_matches"


class _RE2Pattern(TypeDecorator):
    """A literal ``matchesPattern`` pattern (RE2's syntax): PostgreSQL is sent
    :func:`~proseo_odata.odata.pgregex.to_postgresql`'s translation, which matches the same texts
    with PostgreSQL's own regular expressions; every other database the pattern as written."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and dialect.name == "postgresql":
            return to_postgresql(value)
        return value


_RE2_PATTERN = _RE2Pattern()


@compiles(_Matches, "sqlite")
def _matches_sqlite(element, compiler, **kw):
    x, pattern = (compiler.process(c, **kw) for c in element.clauses)
    return f"(proseo_odata_matches({x}, {pattern}) = 1)"


@compiles(_Matches)
def _matches_default(element, compiler, **kw):
    x, pattern = element.clauses
    return compiler.process(x.regexp_match(pattern), **kw)


class _Intersects(_Flagged):
    """Exact intersection of a stored footprint with a WKT area (SRID 4326).

    Clauses ``(wkt column, geometry column, area)``; a missing column is ``NULL``, and the flags
    ``(has wkt, has geometry)`` say which are there."""

    type = sa.Boolean()
    name = "odata_intersects"


def _intersects(wkt_column, geometry_column, area):
    variant = _Intersects.variant(wkt_column is not None, geometry_column is not None)
    return variant(wkt_column if wkt_column is not None else sa.null(),
                   geometry_column if geometry_column is not None else sa.null(), area)


@compiles(_Intersects, "sqlite")
def _intersects_sqlite(element, compiler, **kw):
    wkt, _geom, area = element.clauses
    if not element.flags[0]:
        raise ODataNotSupportedError("OData.CSC.Intersects needs the footprint's WKT column on SQLite")
    return f"(proseo_odata_intersects({compiler.process(wkt, **kw)}, {compiler.process(area, **kw)}) = 1)"


@compiles(_Intersects)
def _intersects_default(element, compiler, **kw):
    wkt, geom, area = element.clauses
    area_sql = f"ST_GeomFromText({compiler.process(area, **kw)}, 4326)"
    if element.flags[1]:
        return f"ST_Intersects({compiler.process(geom, **kw)}, {area_sql})"
    return f"ST_Intersects(ST_GeomFromText({compiler.process(wkt, **kw)}, 4326), {area_sql})"


class _Duration(TypeDecorator):
    """A duration parameter: ``interval`` on PostgreSQL, seconds (float) on SQLite."""

    impl = sa.Interval
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Float())
        return dialect.type_descriptor(sa.Interval())

    def process_bind_param(self, value, dialect):
        if value is not None and dialect.name == "sqlite":
            return value.total_seconds()
        return value

    def process_result_value(self, value, dialect):
        if value is not None and dialect.name == "sqlite":
            return _dt.timedelta(seconds=value)
        return value


class _DateTimeArith(_Flagged):
    """``datetime add/sub duration`` and ``datetime sub datetime``; flags: ``(op,)``, op being
    ``add``, ``sub`` or ``diff``."""

    name = "odata_datetime_arith"

    def __init__(self, left, right, type_):
        self.type = type_
        super().__init__(left, right)


@compiles(_DateTimeArith, "sqlite")
def _dt_arith_sqlite(element, compiler, **kw):
    left, right = (compiler.process(c, **kw) for c in element.clauses)
    op = element.flags[0]
    if op == "diff":
        return f"proseo_odata_dt_diff({left}, {right})"
    sign = "-" if op == "sub" else ""
    return f"proseo_odata_dt_add({left}, {sign}({right}))"


@compiles(_DateTimeArith)
def _dt_arith_default(element, compiler, **kw):
    left, right = (compiler.process(c, **kw) for c in element.clauses)
    op = "+" if element.flags[0] == "add" else "-"
    return f"({left} {op} {right})"


class _DateTimeInRange(FunctionElement):
    """A date-time result within years 1..9999, the range every evaluator holds (never null):
    on SQLite ``proseo_odata_dt_add`` gives null outside it; elsewhere a range test."""

    inherit_cache = True
    type = sa.Boolean()
    name = "odata_datetime_in_range"


@compiles(_DateTimeInRange, "sqlite")
def _in_range_sqlite(element, compiler, **kw):
    (expr,) = list(element.clauses)
    return f"({compiler.process(expr, **kw)} IS NOT NULL)"


@compiles(_DateTimeInRange)
def _in_range_default(element, compiler, **kw):
    (expr,) = list(element.clauses)
    inner = compiler.process(expr, **kw)
    return (f"(COALESCE({inner} >= TIMESTAMPTZ '0001-01-01 00:00:00+00' "
            f"AND {inner} < TIMESTAMPTZ '10000-01-01 00:00:00+00', false))")


# --------------------------------------------------------------------------------------------
# SQLite functions


#: Each thread's parsed areas of ``OData.CSC.Intersects`` (one query's area is compared with every
#: stored footprint: parsing it once per row was half of the function's time). Per thread: a
#: query runs its SQLite functions in the thread that runs the query.
_areas = threading.local()


def _area_geometry(area):
    from .geo import to_geometry

    cache = getattr(_areas, "cache", None)
    if cache is None or len(cache) > 64:
        cache = _areas.cache = {}
    geometry = cache.get(area)
    if geometry is None:
        geometry = cache[area] = to_geometry(area)
    return geometry


def area_bounds(area: str) -> Tuple[float, float, float, float]:
    """``(min_x, min_y, max_x, max_y)`` of an ``OData.CSC.Intersects`` area (its WKT, as bound),
    read once per thread (the storage's choice of a spatial look-up and the compiler share it)."""
    return _area_geometry(area).bounds


def _stored_geometry(stored):
    """A stored footprint's geometry, or None for none. What the storage writes (plain WKT of an
    accepted type with plain decimal numbers, ``POLYGON((10 40,14 40,...))``) is read by GEOS
    alone; any other text (``SRID=...;``, ``geography'...'``, an embedder's) goes through
    :func:`~proseo_odata.odata.geo.to_geometry` and its checks (type, empty, finite)."""
    if stored is None:
        return None
    if isinstance(stored, str) and _PLAIN_WKT.fullmatch(stored) and not _LONG_DIGITS.search(stored):
        import shapely

        return shapely.from_wkt(stored)
    from .geo import to_geometry

    return to_geometry(stored)


#: Plain WKT of an accepted type with plain decimal numbers: no NaN, infinity, exponent, EMPTY or
#: other geometry type can match. With :data:`_LONG_DIGITS` not found in it, GEOS reads every
#: number as the same finite double the literal parser would (no run of over 40 digits: no
#: overflow to infinity, no underflow to 0).
_PLAIN_WKT = re.compile(r"(?:MULTI)?(?:POINT|LINESTRING|POLYGON) ?\([-0-9., ()]*\)")
_LONG_DIGITS = re.compile(r"\d{41}")


def _sqlite_intersects(stored, area):
    try:
        geometry = _stored_geometry(stored)
        if geometry is None:
            return 0
        return 1 if geometry.intersects(_area_geometry(area)) else 0
    except Exception:  # noqa: BLE001 - a broken stored footprint never matches
        return 0


#: Each thread's last footprint read by :func:`_sqlite_extent` (a trigger asks for its four bounds
#: in turn): ``(text, bounds or None)``.
_extents = threading.local()


def footprint_box(stored) -> Optional[Tuple[float, float, float, float]]:
    """A stored footprint's bounding box for an R*Tree (SQLite's ``rtree`` module) of
    extents, in its column order ``(min x, max x, min y, max y)``; None for no footprint, and
    for one that :func:`_sqlite_intersects` cannot read either (it never matches).

    The R*Tree keeps single-precision numbers and rounds a box outwards, except where single
    precision has no normal number: a bound beyond its largest (about 3.4e38) or nearer 0 than
    its smallest (about 1.2e-38) would be stored as infinity or 0 and could shrink the box, so it
    is given as minus or plus infinity (the box then extends without end on that side)."""
    try:
        geometry = _stored_geometry(stored)
        if geometry is None or geometry.is_empty:
            return None
        min_x, min_y, max_x, max_y = geometry.bounds
    except Exception:  # noqa: BLE001 - as _sqlite_intersects: a broken footprint never matches
        return None
    return (_single(min_x, -math.inf), _single(max_x, math.inf), _single(min_y, -math.inf), _single(max_y, math.inf))


def _single(bound, infinity):
    """``bound``, or ``infinity`` where single precision has no normal number for it."""
    return bound if bound == 0 or _SINGLE_NORMAL_MIN <= abs(bound) <= _SINGLE_MAX else infinity


def _sqlite_extent(stored, index):
    """``proseo_odata_extent(footprint, index)``: one bound of :func:`footprint_box`, ``index``
    0-3 (NULL for none)."""
    last = getattr(_extents, "last", None)
    if last is not None and last[0] == stored:
        box = last[1]
    else:
        box = footprint_box(stored)
        _extents.last = (stored, box)
    if box is None or index not in (0, 1, 2, 3):
        return None
    return box[index]


#: The smallest normal and the largest finite single-precision number (the R*Tree's).
_SINGLE_NORMAL_MIN, _SINGLE_MAX = 1.1754943508222875e-38, 3.4028234663852886e38


def _parse_stored(text):
    if text is None:
        return None, None
    value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(_UTC).replace(tzinfo=None)
    return value, text[10:11] if len(text) > 10 else "T"


def _sqlite_dt_add(text, seconds):
    if text is None or seconds is None:
        return None
    try:
        value, separator = _parse_stored(text)
        result = value + _dt.timedelta(seconds=seconds)
    except (ValueError, OverflowError):
        return None
    # (not strftime's %Y: glibc does not pad a year before 1000, and the text is compared as text)
    return f"{result.year:04d}-{result:%m-%d}{separator}{result:%H:%M:%S.%f}"


def _sqlite_dt_diff(a, b):
    if a is None or b is None:
        return None
    try:
        return (_parse_stored(a)[0] - _parse_stored(b)[0]).total_seconds()
    except ValueError:
        return None


def _sqlite_matches(text, pattern):
    """``matchesPattern`` on SQLite: 1 or 0, None for a null argument. A pattern RE2 cannot
    compile (one computed in the filter; a literal one is refused at bind time) raises, which
    SQLite reports as "user-defined function raised exception": the client's error
    (:func:`proseo_odata.storage.errors.query_refusal`)."""
    if text is None or pattern is None:
        return None
    return 1 if matches(text, pattern) else 0


def _none_or(fn):
    return lambda value: None if value is None else fn(value)


def register_sqlite_functions(dbapi_connection) -> None:
    """Register the SQL functions the compiler uses on SQLite on one DB-API connection."""
    create = dbapi_connection.create_function
    create("proseo_odata_intersects", 2, _sqlite_intersects, deterministic=True)
    create("proseo_odata_extent", 2, _sqlite_extent, deterministic=True)
    create("proseo_odata_lower", 1, _none_or(str.lower), deterministic=True)
    create("proseo_odata_upper", 1, _none_or(str.upper), deterministic=True)
    create("proseo_odata_dt_add", 2, _sqlite_dt_add, deterministic=True)
    create("proseo_odata_dt_diff", 2, _sqlite_dt_diff, deterministic=True)
    create("proseo_odata_matches", 2, _sqlite_matches, deterministic=True)


def install_sqlite_functions(engine: sa.Engine) -> sa.Engine:
    """Register :func:`register_sqlite_functions` on every new connection of a SQLite
    ``engine`` (call before the first query); a no-op for other databases. Returns ``engine``."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda dbapi_connection, _record: register_sqlite_functions(dbapi_connection))
    return engine


# --------------------------------------------------------------------------------------------
# the compiler
#
# Elements are built through SQLAlchemy's public expression API only (operators, ``sa.and_``,
# ``sa.or_``, ``sa.not_``, ``sa.exists``, ``sa.literal``). Every literal is a bound parameter, so
# the SQL text of a filter depends only on its shape: SQLAlchemy's statement cache compiles each
# shape once and binds the values at execution. Static parts (``IS NOT NULL`` tests of mapped
# columns, ``col = true``, a child table's correlation and type conditions) are built once per
# mapping.

_STRING = sa.String()

# op -> the ColumnOperators method
_SQL_OPS = {"eq": "__eq__", "ne": "__ne__", "gt": "__gt__", "ge": "__ge__", "lt": "__lt__", "le": "__le__"}


def _sql_compare(expr, op: str, value):
    """``expr <op> value`` (``value`` a plain Python value, bound as a parameter)."""
    return getattr(expr, _SQL_OPS[op])(value)


#: Longest AND/OR chain rendered flat. SQLite parses ``a AND b AND c ...`` into a tree as deep
#: as the chain and refuses trees deeper than 1000 ("Expression tree is too large"), so longer
#: chains are rendered as parenthesised groups of at most this many terms (same meaning).
MAX_FLAT_JUNCTION = 32


def _sql_junction(operator, clauses):
    """``sa.and_(*clauses)`` / ``sa.or_(*clauses)``; a chain longer than
    :data:`MAX_FLAT_JUNCTION` as nested parenthesised groups (depth ~ log of its length)."""
    combine = sa.and_ if operator is _operators.and_ else sa.or_
    junction = combine(*clauses)
    while isinstance(junction, BooleanClauseList) and len(junction.clauses) > MAX_FLAT_JUNCTION:
        items = list(junction.clauses)
        junction = combine(*(_Parenthesized(combine(*items[i:i + MAX_FLAT_JUNCTION]))
                             for i in range(0, len(items), MAX_FLAT_JUNCTION)))
    return junction


class _Parenthesized(FunctionElement):
    """``(clause)``: a boolean group that ``sa.and_``/``sa.or_`` keep as one term (they flatten
    their own groups back into the chain)."""

    inherit_cache = True
    type = sa.Boolean()
    name = "odata_group"


@compiles(_Parenthesized)
def _parenthesized(element, compiler, **kw):
    (clause,) = list(element.clauses)
    return f"({compiler.process(clause, **kw)})"


def _sql_and(*clauses):
    return clauses[0] if len(clauses) == 1 else _sql_junction(_operators.and_, clauses)


def _sql_or(*clauses):
    return clauses[0] if len(clauses) == 1 else _sql_junction(_operators.or_, clauses)


def _sql_not(clause):
    return sa.not_(clause)


def _sql_exists(*criteria):
    """``EXISTS (SELECT * WHERE <criteria>)``, correlated by SQLAlchemy to the enclosing query."""
    return sa.exists().where(*criteria)


def _sql_string(value):
    return sa.literal(value, _STRING)


class _Val:
    """A compiled value: the expression and the condition under which it is not null
    (``None``: never null). ``literal``: ``expr`` is a raw Python value (bound when it meets an
    expression)."""

    __slots__ = ("expr", "notnull", "literal", "is_null")

    def __init__(self, expr, notnull=None, literal=False, is_null=False):
        self.expr = expr
        self.notnull = notnull
        self.literal = literal
        self.is_null = is_null


def _and(*conditions):
    parts = [c for c in conditions if c is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else _sql_junction(_operators.and_, parts)


def _escape_like(text: str) -> str:
    return (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_"))


def _typed_literal(value, edm_type, other: _Val):
    """A literal operand of arithmetic as a bound parameter of a fitting SQL type: numbers by
    their own type (never the other operand's: ``ContentLength div 2.5`` must stay 2.5), date-times
    by the other operand's column type (so SQLite gets the stored text format)."""
    kind = getattr(edm_type, "kind", None)
    if kind == "integer":
        return sa.literal(value, sa.BigInteger())
    if kind == "double":
        return sa.literal(value, sa.Float())
    if kind == "datetime" and not other.literal:
        return sa.literal(value, _datetime_type_of(other.expr))
    return sa.literal(value)


def _datetime_type_of(expr):
    """The column type of the date-times in ``expr``: its own, or, for a difference of
    date-times (a duration: ``2021-06-01T00:00:00Z add (now() sub EvictionDate)``), that of the
    date-times it subtracts (a date-time literal bound as an interval was a database error)."""
    type_ = getattr(expr, "type", None)
    if not isinstance(type_, _Duration):
        return type_
    for clause in getattr(expr, "clauses", ()):
        found = _datetime_type_of(clause)
        if found is not None and not isinstance(found, (_Duration, sa.types.NullType)):
            return found
    return None


_STATIC_LIMIT = 4096
_LIKE_PATTERNS = {"contains": "%{}%", "startswith": "{}%", "endswith": "%{}"}


class SqlCompiler:
    """Compiles bound trees against one mapping. ``now`` is the value of ``now()``. ``option``
    names the query option compiled, for errors. ``guard``: a condition on the mapping's main
    table (the caller's restrictions) under which alone a comparison, ``in`` or function call
    that can fail on a row's values (:func:`proseo_odata.odata.binding.may_fail_on_data`:
    arithmetic, a computed ``matchesPattern``) is evaluated: ``CASE WHEN guard THEN ... ELSE
    false END``. The database evaluates a statement's conditions in the order it likes
    (PostgreSQL by estimated cost; a lambda's subquery over the whole child table, hashed),
    so it could fail on a row the caller may not see. In a lambda the guard correlates the
    subquery with the entity's row."""

    def __init__(self, mapping, now: Optional[_dt.datetime] = None, *, option: str = "$filter",
                 guard: Optional[ColumnElement] = None):
        self.mapping = mapping
        self._now = now
        self.option = option
        self.guard = guard
        self.scopes: Dict[str, Tuple[CollectionInstance, Optional[str]]] = {}
        cache = getattr(mapping, "sql_cache", None)
        self._static = cache if isinstance(cache, dict) else {}

    @property
    def now(self) -> _dt.datetime:
        """The value of ``now()``: the ``now`` given, else the time of its first use."""
        if self._now is None:
            self._now = _dt.datetime.now(_UTC)
        return self._now

    @now.setter
    def now(self, value: _dt.datetime) -> None:
        self._now = value

    def static(self, key, build):
        """``build()``, built once per mapping under ``key`` (for SQL without varying values)."""
        try:
            return self._static[key]
        except KeyError:
            value = build()
            self._remember(key, value)
            return value

    def _notnull(self, expr):
        """``expr IS NOT NULL``, built once per mapped column."""
        if not isinstance(expr, ColumnClause):
            return expr.is_not(None)
        key = ("notnull", id(expr))
        found = self._static.get(key)
        if found is None or found[0] is not expr:
            found = (expr, expr.is_not(None))
            self._remember(key, found)
        return found[1]

    def _remember(self, key, value) -> None:
        if len(self._static) >= _STATIC_LIMIT:  # a mapping that makes new columns each time
            self._static.clear()
        self._static[key] = value

    # -- predicates -------------------------------------------------------------------------

    def predicate(self, node: Bound) -> ColumnElement:
        method = _PREDICATE_METHODS.get(type(node))
        if method is not None:
            if self.guard is not None and type(node) in _GUARDED_PREDICATES and may_fail_on_data(node):
                return sa.case((self.guard, method(self, node)), else_=sa.false())
            return method(self, node)
        if isinstance(node, BLiteral):
            return sa.true() if node.value else sa.false()
        method = getattr(self, "_p_" + type(node).__name__, None)
        if method is None:
            raise ODataNotSupportedError(f"{type(node).__name__} is not a predicate")
        return method(node)

    def _p_BLiteral(self, node):
        return sa.true() if node.value else sa.false()

    def _p_BAnd(self, node):
        predicate = self.predicate
        return _sql_junction(_operators.and_, [predicate(o) for o in node.operands])

    def _p_BOr(self, node):
        predicate = self.predicate
        return _sql_junction(_operators.or_, [predicate(o) for o in node.operands])

    def _p_BNot(self, node):
        return _sql_not(self.predicate(node.operand))

    def _p_BCompare(self, node):
        return self.compare(node.op, self.value(node.left), self.value(node.right))

    def compare(self, op: str, left: _Val, right: _Val) -> ColumnElement:
        """OData comparison with two-valued null semantics."""
        if left.literal and right.literal:
            from .predicate import _compare

            return sa.true() if _compare(op, None if left.is_null else left.expr,
                                         None if right.is_null else right.expr) else sa.false()
        if left.literal and not right.literal:
            from .binding import _FLIP

            left, right, op = right, left, _FLIP[op]
        if right.is_null or left.is_null:
            other = left if right.is_null else right
            if op == "eq":
                return _sql_not(other.notnull) if other.notnull is not None else sa.false()
            if op == "ne":
                return other.notnull if other.notnull is not None else sa.true()
            return sa.false()
        if right.literal:
            value = right.expr
            if value is True or value is False:  # col = true: no parameter, built once
                expr = left.expr
                if isinstance(expr, ColumnClause):
                    core = self.static(("bool", id(expr), op, value),
                                       lambda: (expr, getattr(expr, _SQL_OPS[op])(value)))
                    core = core[1] if core[0] is expr else getattr(expr, _SQL_OPS[op])(value)
                else:
                    core = getattr(expr, _SQL_OPS[op])(value)
            else:
                core = _sql_compare(left.expr, op, value)
        else:
            core = getattr(left.expr, _SQL_OPS[op])(right.expr)
        ln, rn = left.notnull, right.notnull
        if op == "ne":
            if ln is None and rn is None:
                return core
            if rn is None:
                return _sql_or(_sql_not(ln), core)
            if ln is None:
                return _sql_or(_sql_not(rn), core)
            return _sql_or(_sql_and(ln, rn, core), _sql_and(ln, _sql_not(rn)), _sql_and(_sql_not(ln), rn))
        if op == "eq" and ln is not None and rn is not None:
            return _sql_or(_sql_and(ln, rn, core), _sql_and(_sql_not(ln), _sql_not(rn)))
        return _and(ln, rn, core)

    def _p_BIn(self, node):
        operand = self.value(node.operand)
        values = [item.value for item in node.items if isinstance(item, BLiteral)]
        has_null = any(isinstance(item, BNull) for item in node.items)
        if operand.is_null:  # null in (..., null): null eq null, as the predicate has it
            return sa.true() if has_null else sa.false()
        parts = []
        if values:
            expr = operand.expr if not operand.literal else sa.literal(operand.expr)
            parts.append(_and(operand.notnull, expr.in_(values)))
        if has_null and operand.notnull is not None:
            parts.append(_sql_not(operand.notnull))
        if not parts:
            return sa.false()
        return parts[0] if len(parts) == 1 else _sql_or(*parts)

    def _p_BCall(self, node):
        args = [self.value(a) for a in node.args]
        notnull = _and(*(a.notnull for a in args))
        x, y = args[0], args[1]
        if any(a.is_null for a in args):
            return sa.false()
        xe = x.expr if not x.literal else sa.literal(x.expr, _STRING)
        if node.name == "matchespattern":
            return _and(notnull, _Matches(xe, sa.literal(y.expr, _RE2_PATTERN) if y.literal else y.expr))
        bounds = ()
        if y.literal:
            arg = _sql_string(y.expr)
            pattern = _sql_string(_LIKE_PATTERNS[node.name].format(_escape_like(y.expr)))
            upper = _prefix_upper_bound(y.expr) if node.name == "startswith" else None
            bounds = () if upper is None else (_sql_string(upper),)
        else:
            arg = y.expr
            escaped = sa.func.replace(sa.func.replace(sa.func.replace(
                arg, LIKE_ESCAPE, LIKE_ESCAPE * 2), "%", LIKE_ESCAPE + "%"), "_", LIKE_ESCAPE + "_")
            if node.name == "contains":
                pattern = sa.literal("%").concat(escaped).concat("%")
            elif node.name == "startswith":
                pattern = escaped.concat("%")
            else:
                pattern = sa.literal("%").concat(escaped)
        return _and(notnull, _StringMatch.variant(node.name)(xe, arg, pattern, *bounds))

    def _p_BIntersects(self, node):
        columns = self.mapping.footprint(node.location.path)
        area = _sql_string(node.wkt)
        notnull = self._notnull(columns.geometry if columns.geometry is not None else columns.wkt)
        exact = _intersects(columns.wkt, columns.geometry, area)
        if columns.candidates is not None:  # (a bound area is never empty: its bounds are numbers)
            return _sql_and(notnull, columns.candidates(area_bounds(node.wkt)), exact)
        return _sql_and(notnull, exact)

    def _p_BLambda(self, node):
        shortcut = getattr(self.mapping, "shortcut", None)
        if shortcut is not None:
            replacement = shortcut(node, self)
            if replacement is not None:
                return replacement
        nested = bool(self.scopes)
        instance = self.mapping.collection(node.collection, node.cast, nested)
        if getattr(instance, "single", False) or isinstance(instance, _ComplexInstance):
            if node.predicate is None:
                return sa.true()
            return self._in_scope(node, instance)
        conditions = list(instance.conditions)
        exists = _sql_exists
        if nested:  # SQLAlchemy correlates to the enclosing EXISTS only: the entity's row is further out
            def exists(*criteria):
                return _sql_exists(*criteria).correlate_except(instance.alias)
        if node.predicate is None:
            return exists(*conditions)
        predicate = self._in_scope(node, instance)
        # A constant predicate (any(a:false), all(a:true), all(a:1 eq 1)): SQLAlchemy folds
        # "correlation AND false" to false, which left EXISTS (SELECT * WHERE 0 = 1) without a
        # FROM, an SQL error on SQLite and PostgreSQL. Decide it here instead.
        if isinstance(predicate, (True_, False_)):
            holds = isinstance(predicate, True_)
            if node.kind == "any":
                return exists(*conditions) if holds else sa.false()
            return sa.true() if holds else _sql_not(exists(*conditions))
        if node.kind == "any":
            return exists(*conditions, predicate)
        return _sql_not(exists(*conditions, _sql_not(predicate)))

    def _in_scope(self, node, instance):
        """The lambda's predicate, its variable naming ``instance``; a variable of an enclosing
        lambda with the same name (``Attributes/any(a: Attributes/any(a: ...) and a/Name ...)``)
        is hidden inside and named again after, as the Python predicate scopes it."""
        outer = self.scopes.get(node.variable)
        self.scopes[node.variable] = (instance, node.cast)
        try:
            return self.predicate(node.predicate)
        finally:
            if outer is None:
                del self.scopes[node.variable]
            else:
                self.scopes[node.variable] = outer

    def _p_BProperty(self, node):  # a Boolean value used as a predicate
        return self.compare("eq", self.value(node), _Val(True, literal=True))

    # -- values -----------------------------------------------------------------------------

    def value(self, node: Bound) -> _Val:
        method = _VALUE_METHODS.get(type(node))
        if method is not None:
            return method(self, node)
        method = getattr(self, "_v_" + type(node).__name__, None)
        if method is None:
            if node.is_predicate:
                return _Val(self.predicate(node))
            raise ODataNotSupportedError(f"{type(node).__name__} cannot be used as a value")
        return method(node)

    def _v_BLiteral(self, node):
        return _Val(node.value, None, True)

    def _v_BNull(self, node):
        return _Val(None, literal=True, is_null=True)

    def _v_BProperty(self, node):
        if node.variable is not None:
            instance, lambda_cast = self.scopes[node.variable]
            expr, guard = instance.member(node.path, node.cast or lambda_cast)
        else:
            expr, guard = self.mapping.column(node.path), None
        if node.nullable:
            if guard is None:
                notnull = self._notnull(expr)
            else:  # static too: built once per (guard, column)
                key = ("guarded", id(guard), id(expr))
                found = self._static.get(key)
                if found is None or found[0] is not guard or found[1] is not expr:
                    found = (guard, expr, _sql_and(guard, self._notnull(expr)))
                    if isinstance(expr, ColumnClause):
                        self._remember(key, found)
                notnull = found[2]
        else:
            notnull = guard
        return _Val(expr, notnull)

    def _v_BArith(self, node):
        left, right = self.value(node.left), self.value(node.right)
        if left.is_null or right.is_null:
            return _Val(None, literal=True, is_null=True)
        if left.literal and right.literal:  # constant (e.g. now() sub duration'P1D'): fold it
            from .predicate import fold_arith

            result = fold_arith(node.op, left.expr, right.expr, node.type)  # out of range: a 400
            return _Val(result, literal=True, is_null=result is None)
        le = left.expr if not left.literal else _typed_literal(left.expr, node.left.type, right)
        re_ = right.expr if not right.literal else _typed_literal(right.expr, node.right.type, left)
        if node.right.type is edm.DURATION and right.literal:
            re_ = sa.bindparam(None, right.expr, type_=_Duration())
        if node.left.type is edm.DURATION and left.literal:
            le = sa.bindparam(None, left.expr, type_=_Duration())
        notnull = _and(left.notnull, right.notnull)
        op = node.op
        if node.type.kind in ("datetime", "duration") and node.left.type.kind == "datetime":
            if node.right.type.kind == "datetime":
                return _Val(_DateTimeArith.variant("diff")(le, re_, _Duration()), notnull)
            element = _DateTimeArith.variant(op)(le, re_, le.type)
            # a result outside years 1..9999 is null, as on SQLite and in Python (PostgreSQL's
            # timestamps go on), and the guard says so: not (... gt ...) stays the complement
            return _Val(element, _and(notnull, _DateTimeInRange(element)))
        if node.type.kind == "duration":
            raise ODataNotSupportedError("arithmetic on durations alone is not supported")
        if op in ("add", "sub", "mul"):
            symbol = {"add": "+", "sub": "-", "mul": "*"}[op]
            result_type = sa.BigInteger() if node.type.kind == "integer" else sa.Float()
            return _Val(le.op(symbol, return_type=result_type)(re_), notnull)
        divisor = sa.func.nullif(re_, 0)
        notnull = _and(notnull, re_ != 0)
        if op == "mod":
            return _Val(le.op("%", return_type=sa.BigInteger())(divisor), notnull)
        if node.type.kind == "integer":
            return _Val(le.op("/", return_type=sa.BigInteger())(divisor), notnull)
        return _Val(sa.cast(le, sa.Float()).op("/", return_type=sa.Float())(divisor), notnull)

    def _v_BNegate(self, node):
        inner = self.value(node.operand)
        if inner.literal:  # constant (-duration'P1D', -(2 add 3)): fold it, as arithmetic of constants
            from .predicate import fold_negate

            result = fold_negate(inner.expr)  # out of range: a 400
            return _Val(result, literal=True, is_null=result is None)
        if node.type.kind == "duration":  # SQL's interval types have no negation: 0 - the duration
            zero = sa.literal(_dt.timedelta(0), _Duration())
            return _Val(sa.type_coerce(zero - inner.expr, _Duration()), inner.notnull)
        return _Val(-inner.expr, inner.notnull)

    def _v_BCall(self, node):
        name = node.name
        if node.is_predicate:
            return _Val(self._p_BCall(node))
        if name == "now":
            return _Val(self.now, literal=True)
        args = [self.value(a) for a in node.args]
        if any(a.is_null for a in args):
            return _Val(None, literal=True, is_null=True)
        exprs = [a.expr if not a.literal else sa.literal(a.expr) for a in args]
        notnull = _and(*(a.notnull for a in args))
        x = exprs[0]
        if name == "length":
            return _Val(sa.func.length(x, type_=sa.Integer()), notnull)
        if name == "indexof":
            return _Val(_IndexOf(x, exprs[1]), notnull)
        if name == "substring":
            start = args[1]
            # literals beyond any string length are clamped to Int32 (PostgreSQL's substr takes
            # integers; 2**63 - 1 + 1 could not even be bound)
            start_expr = min(start.expr, 2**31 - 2) + 1 if start.literal else exprs[1] + 1
            if start.literal and start.expr < 0:
                start_expr = 1
            elif not start.literal:  # Int32: PostgreSQL has no substr(text, bigint), SQLite's wraps
                start_expr = sa.cast(sa.case((exprs[1] < 0, 1), (exprs[1] > 2**31 - 2, 2**31 - 1),
                                             else_=exprs[1] + 1), sa.Integer())
            if len(args) == 2:
                return _Val(sa.func.substr(x, start_expr, type_=sa.String()), notnull)
            length = (sa.cast(sa.case((exprs[2] > 2**31 - 1, 2**31 - 1), else_=exprs[2]), sa.Integer())
                      if not args[2].literal else sa.literal(min(args[2].expr, 2**31 - 1)))
            result = sa.func.substr(x, start_expr, length, type_=sa.String())
            if args[2].literal:
                if args[2].expr < 0:
                    return _Val(None, literal=True, is_null=True)
                return _Val(result, notnull)
            return _Val(result, _and(notnull, length >= 0))
        if name in ("tolower", "toupper"):
            return _Val(_CaseMap.variant(name == "toupper")(x), notnull)
        if name == "trim":
            return _Val(_Trim(x, sa.literal(TRIM_CHARACTERS, sa.String())), notnull)
        if name == "concat":
            return _Val(x.concat(exprs[1]), notnull)
        if name in ("year", "month", "day", "hour", "minute", "second"):
            return _Val(_DatePart.variant(name, node.args[0].type.kind)(x), notnull)
        if name == "date":
            return _Val(_DateOf(x), notnull)
        if name == "time":
            return _Val(_TimeOf(x), notnull)
        raise ODataNotSupportedError(f"function '{name}' is not supported in SQL")



#: The predicates that :class:`SqlCompiler`'s ``guard`` wraps when they can fail on a row's data
#: (the others are their operands' junctions, lambdas, or cannot fail).
_GUARDED_PREDICATES = frozenset({BCompare, BIn, BCall})

_PREDICATE_METHODS = {cls: getattr(SqlCompiler, "_p_" + cls.__name__)
                      for cls in (BAnd, BOr, BNot, BCompare, BIn, BCall, BIntersects, BLambda, BProperty, BLiteral)}
_VALUE_METHODS = {cls: getattr(SqlCompiler, "_v_" + cls.__name__)
                  for cls in (BLiteral, BNull, BProperty, BArith, BNegate, BCall)}

class _Trim(FunctionElement):
    inherit_cache = True
    type = sa.String()
    name = "odata_trim"


@compiles(_Trim, "sqlite")
def _trim_sqlite(element, compiler, **kw):
    x, chars = list(element.clauses)
    return f"trim({compiler.process(x, **kw)}, {compiler.process(chars, **kw)})"


@compiles(_Trim)
def _trim_default(element, compiler, **kw):
    x, chars = list(element.clauses)
    return f"btrim({compiler.process(x, **kw)}, {compiler.process(chars, **kw)})"


def compile_filter_sql(bound: Bound, mapping, *, now: Optional[_dt.datetime] = None,
                       guard: Optional[ColumnElement] = None) -> ColumnElement:
    """A bound ``$filter`` as a SQLAlchemy boolean expression over ``mapping``'s tables
    (``guard``: :class:`SqlCompiler`)."""
    return SqlCompiler(mapping, now, guard=guard).predicate(bound)


def compile_orderby_sql(items: Sequence[BOrderItem], mapping, *, now: Optional[_dt.datetime] = None) -> list:
    """Bound ``$orderby`` items as ``ORDER BY`` clauses with OData's order for nulls (first
    ascending, last descending, on both databases, as :func:`proseo_odata.odata.predicate.sort_key`;
    the storage's own keyset pages sort a null as the largest value instead: docs/storage.md)."""
    compiler = SqlCompiler(mapping, now, option="$orderby")
    clauses = []
    for item in items:
        value = compiler.value(item.expr)
        expr = value.expr if not value.literal else sa.literal(value.expr)
        if value.notnull is not None and not isinstance(item.expr, BProperty):
            # an expression null by OData's rules (a date past 9999, substring with a negative
            # length) sorts as null, and is not evaluated where the database would refuse it
            expr = sa.case((value.notnull, expr))
        clauses.append(expr.desc().nulls_last() if item.descending else expr.asc().nulls_first())
    return clauses
