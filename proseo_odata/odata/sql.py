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
SQLAlchemy's pysqlite dialect registers ``REGEXP`` (``matchesPattern``) itself.

Date-times on SQLite are expected as ISO-8601 text ``YYYY-MM-DD?HH:MM:SS.ffffff`` in UTC (the
backend's ``UTCDateTime`` and SQLAlchemy's own ``DateTime`` both store that shape).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators as _operators
from sqlalchemy.sql import roles as _roles
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.elements import BinaryExpression as _BinaryExpression
from sqlalchemy.sql.elements import BindParameter as _BindParameter
from sqlalchemy.sql.elements import BooleanClauseList as _BooleanClauseList
from sqlalchemy.sql.elements import ClauseList as _ClauseList
from sqlalchemy.sql.elements import ColumnClause as _ColumnClause
from sqlalchemy.sql.elements import Grouping as _Grouping
from sqlalchemy.sql.elements import False_ as _False_
from sqlalchemy.sql.elements import True_ as _True_
from sqlalchemy.sql.elements import _anonymous_label
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.sql.selectable import Exists as _Exists
from sqlalchemy.types import TypeDecorator

from . import edm
from .binding import (BAnd, BArith, BCall, BCompare, BIn, BIntersects, BLambda, BLiteral, BNegate,
                      BNot, BNull, BOr, BOrderItem, BProperty, Bound)
from .errors import ODataNotSupportedError, ODataTypeError
from .predicate import TRIM_CHARACTERS

__all__ = [
    "compile_filter_sql",
    "compile_orderby_sql",
    "SqlCompiler",
    "EntityMapping",
    "ChildTable",
    "ComplexColumns",
    "FootprintColumns",
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
    geometry column is required (``ST_Intersects`` uses its GiST index)."""

    wkt: Optional[ColumnElement] = None
    geometry: Optional[ColumnElement] = None


class CollectionMapping:
    """Base of what :meth:`EntityMapping.collection` returns. ``single`` collections are one
    complex value in the entity's own row (no subquery)."""

    single = False

    def instance(self) -> "CollectionInstance":
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

    def instance(self, cast: Optional[str] = None) -> CollectionInstance:
        # The table itself, not an alias: sibling EXISTS subqueries may share it (lambdas do
        # not nest), and building an alias per lambda costs more than the rest of the compile.
        # An instance holds only static SQL (correlation, type conditions, member columns), so
        # one per cast is built and reused (SQLAlchemy elements are immutable).
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

    def instance(self, cast: Optional[str] = None) -> CollectionInstance:
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

    def collection(self, path: Tuple[str, ...], cast: Optional[str]) -> CollectionInstance:
        name = "/".join(path)
        try:
            mapping = self.collections[name]
        except KeyError:
            raise ODataNotSupportedError(f"'{name}' cannot be filtered", target="$filter") from None
        return mapping.instance(cast)

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


class _DatePart(FunctionElement):
    """``year(x)`` ... ``second(x)`` as an integer; ``x`` a UTC date-time, date or time."""

    inherit_cache = True
    type = sa.Integer()
    name = "odata_date_part"

    def __init__(self, part: str, kind: str, expr):
        self.part = part
        self.kind = kind
        super().__init__(expr)

    def _gen_cache_key(self, anon_map, bindparams):  # part and kind are part of the statement
        return (type(self), self.part, self.kind) + tuple(
            c._gen_cache_key(anon_map, bindparams) for c in self.clauses)


_STRFTIME = {"year": "%Y", "month": "%m", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S"}


@compiles(_DatePart, "sqlite")
def _date_part_sqlite(element, compiler, **kw):
    (expr,) = list(element.clauses)
    return f"CAST(strftime('{_STRFTIME[element.part]}', {compiler.process(expr, **kw)}) AS INTEGER)"


@compiles(_DatePart)
def _date_part_default(element, compiler, **kw):
    (expr,) = list(element.clauses)
    inner = compiler.process(expr, **kw)
    if element.kind == "datetime":
        inner = f"({inner} AT TIME ZONE 'UTC')"
    return f"CAST(FLOOR(EXTRACT({element.part.upper()} FROM {inner})) AS INTEGER)"


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


class _CaseMap(FunctionElement):
    """Unicode ``tolower``/``toupper`` (SQLite's own lower/upper only fold ASCII)."""

    inherit_cache = True
    type = sa.String()
    name = "odata_casemap"

    def __init__(self, upper: bool, expr):
        self.upper = upper
        super().__init__(expr)

    def _gen_cache_key(self, anon_map, bindparams):
        return (type(self), self.upper) + tuple(c._gen_cache_key(anon_map, bindparams) for c in self.clauses)


@compiles(_CaseMap, "sqlite")
def _casemap_sqlite(element, compiler, **kw):
    (expr,) = list(element.clauses)
    name = "proseo_odata_upper" if element.upper else "proseo_odata_lower"
    return f"{name}({compiler.process(expr, **kw)})"


@compiles(_CaseMap)
def _casemap_default(element, compiler, **kw):
    (expr,) = list(element.clauses)
    name = "upper" if element.upper else "lower"
    return f'{name}({compiler.process(expr, **kw)} COLLATE "und-x-icu")'


class _Flagged(FunctionElement):
    """A function element with constant attributes (``flags``) that are part of its SQL."""

    inherit_cache = True
    flags: Tuple = ()

    def __init__(self, *clauses):
        if _FAST_FUNCTIONS and all(isinstance(c, ColumnElement) and not c._propagate_attrs for c in clauses):
            _set_function_arguments(self, clauses)
        else:
            super().__init__(*clauses)

    def _gen_cache_key(self, anon_map, bindparams):
        return (type(self), self.flags) + tuple(c._gen_cache_key(anon_map, bindparams) for c in self.clauses)


_COMMA_IS_BOOLEAN = _operators.is_boolean(_operators.comma_op)


def _set_function_arguments(element, clauses) -> None:
    """What ``FunctionElement.__init__(*clauses)`` sets, for arguments that are already plain
    column elements (its coercions return them unchanged), without the coercion layer (9 us ->
    2 us). Checked against ``FunctionElement.__init__`` at import (``_FAST_FUNCTIONS``)."""
    arguments = _ClauseList.__new__(_ClauseList)
    arguments.operator = _operators.comma_op
    arguments.group = True
    arguments.group_contents = True
    arguments._text_converter_role = _roles.WhereHavingRole
    arguments.clauses = [c.self_group(against=_operators.comma_op) for c in clauses]
    arguments._is_implicitly_boolean = _COMMA_IS_BOOLEAN
    element._has_args = True
    element.clause_expr = _Grouping(arguments)


_FAST_FUNCTIONS = False  # set below, once the elements exist


class _StringMatch(_Flagged):
    """contains/startswith/endswith: ``x LIKE pattern ESCAPE '!'`` (``%``, ``_`` and ``!`` of
    the argument escaped); on SQLite, whose LIKE ignores ASCII case, also an exact
    case-sensitive check. Clauses: ``(x, argument, pattern)``."""

    type = sa.Boolean()
    name = "odata_string_match"

    def __init__(self, kind: str, expr, arg, pattern):
        self.flags = (kind,)
        super().__init__(expr, arg, pattern)


def _like_sql(x, pattern):
    return f"{x} LIKE {pattern} ESCAPE '{LIKE_ESCAPE}'"


@compiles(_StringMatch)
def _string_match_default(element, compiler, **kw):
    x, _arg, pattern = (compiler.process(c, **kw) for c in element.clauses)
    return _like_sql(x, pattern)


@compiles(_StringMatch, "sqlite")
def _string_match_sqlite(element, compiler, **kw):
    x, y, pattern = (compiler.process(c, **kw) for c in element.clauses)
    kind = element.flags[0]
    if kind == "contains":
        exact = f"instr({x}, {y}) > 0"
    elif kind == "startswith":
        exact = f"substr({x}, 1, length({y})) = {y}"
    else:
        exact = f"substr({x}, length({x}) - length({y}) + 1) = {y}"
    return f"({_like_sql(x, pattern)} AND {exact})"


class _Intersects(_Flagged):
    """Exact intersection of a stored footprint with a WKT area (SRID 4326).

    Clauses ``(wkt column, geometry column, area)``; a missing column is ``NULL`` and flagged."""

    type = sa.Boolean()
    name = "odata_intersects"

    def __init__(self, wkt_column, geometry_column, area):
        self.flags = (wkt_column is not None, geometry_column is not None)
        super().__init__(wkt_column if wkt_column is not None else sa.null(),
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


def _check_function_arguments() -> bool:
    """``_set_function_arguments`` builds what ``FunctionElement.__init__`` builds."""
    from sqlalchemy.dialects import postgresql, sqlite

    try:
        table = sa.Table("t", sa.MetaData(), sa.Column("a", sa.String), sa.Column("g", sa.String))
        args = (table.c.a, sa.literal("x", sa.String()), sa.literal("%x%", sa.String()))
        samples = [(_StringMatch("contains", *args), args), (_Intersects(table.c.a, None, args[1]), None)]
        for element, arguments in samples:
            if arguments is None:
                arguments = (table.c.a, sa.null(), args[1])
            built, built_list = dict(element.__dict__), dict(element.clause_expr.element.__dict__)
            reference = type(element).__new__(type(element))
            reference.flags = element.flags
            FunctionElement.__init__(reference, *arguments)
            if sorted(reference.__dict__) != sorted(built):
                return False
            reference_list = reference.clause_expr.element.__dict__
            if sorted(reference_list) != sorted(built_list):
                return False
            if any(reference_list[k] != built_list[k] for k in
                   ("operator", "group", "group_contents", "_text_converter_role", "_is_implicitly_boolean")):
                return False
            if [type(c) for c in reference_list["clauses"]] != [type(c) for c in built_list["clauses"]]:
                return False
            if reference._generate_cache_key() != element._generate_cache_key():
                return False
            for dialect in (postgresql.dialect(), sqlite.dialect()):
                if str(reference.compile(dialect=dialect)) != str(element.compile(dialect=dialect)):
                    return False
        return True
    except Exception:  # noqa: BLE001 - a SQLAlchemy that works differently: use its constructor
        return False


_FAST_FUNCTIONS = True
_FAST_FUNCTIONS = _check_function_arguments()


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
    """``datetime add/sub duration`` and ``datetime sub datetime`` (op ``diff``)."""

    name = "odata_datetime_arith"

    def __init__(self, op: str, left, right, type_):
        self.flags = (op,)
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


# --------------------------------------------------------------------------------------------
# SQLite functions


def _sqlite_intersects(stored, area):
    from .geo import to_geometry

    try:
        geometry = to_geometry(stored)
        if geometry is None:
            return 0
        return 1 if geometry.intersects(to_geometry(area)) else 0
    except Exception:  # noqa: BLE001 - a broken stored footprint never matches
        return 0


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
    return result.strftime(f"%Y-%m-%d{separator}%H:%M:%S.%f")


def _sqlite_dt_diff(a, b):
    if a is None or b is None:
        return None
    try:
        return (_parse_stored(a)[0] - _parse_stored(b)[0]).total_seconds()
    except ValueError:
        return None


def _none_or(fn):
    return lambda value: None if value is None else fn(value)


def register_sqlite_functions(dbapi_connection) -> None:
    """Register the SQL functions the compiler uses on SQLite on one DB-API connection."""
    create = dbapi_connection.create_function
    create("proseo_odata_intersects", 2, _sqlite_intersects, deterministic=True)
    create("proseo_odata_lower", 1, _none_or(str.lower), deterministic=True)
    create("proseo_odata_upper", 1, _none_or(str.upper), deterministic=True)
    create("proseo_odata_dt_add", 2, _sqlite_dt_add, deterministic=True)
    create("proseo_odata_dt_diff", 2, _sqlite_dt_diff, deterministic=True)


def install_sqlite_functions(engine: sa.Engine) -> sa.Engine:
    """Register :func:`register_sqlite_functions` on every new connection of a SQLite
    ``engine`` (call before the first query); a no-op for other databases. Returns ``engine``."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda dbapi_connection, _record: register_sqlite_functions(dbapi_connection))
    return engine


# --------------------------------------------------------------------------------------------
# the compiler
#
# Speed: building elements through SQLAlchemy's operator API (``col == value``, ``sa.and_``,
# ``sa.not_``) passes every operand through its coercion layer, 5-10 us per node, which was
# most of the cost of compiling a client filter. The ``_sql_*`` helpers below build the same
# elements through the constructors that API ends in. ``_sql_compare`` checks, once per
# (column type class, operator, value class), that its element equals the operator API's
# (classes, operators, parameter type, rendered SQL) and otherwise keeps using the operator
# API, so a SQLAlchemy upgrade can make the compiler slower but not change its SQL; the
# boolean helpers fall back to ``sa.and_``/``sa.or_``/``sa.not_`` for anything but plain
# boolean elements. Every literal is still a bound parameter. Static parts (``IS NOT NULL``
# tests of mapped columns, ``col = true``, a child table's correlation and type conditions)
# are built once per mapping. tests/odata/test_sql_fast.py compares the output with the
# operator API's on a corpus of filters.

_BOOLEAN = sqltypes.BOOLEANTYPE
_STRING = sa.String()
_STAR = sa.literal_column("*")
_SELECT_STAR = sa.select(_STAR)  # generative: .where() returns a new statement
_TRUE, _FALSE = sa.true(), sa.false()

# op -> (operator, its negation, the ColumnOperators method)
_COMPARISONS = {
    "eq": (_operators.eq, _operators.ne, "__eq__"),
    "ne": (_operators.ne, _operators.eq, "__ne__"),
    "gt": (_operators.gt, _operators.le, "__gt__"),
    "ge": (_operators.ge, _operators.lt, "__ge__"),
    "lt": (_operators.lt, _operators.ge, "__lt__"),
    "le": (_operators.le, _operators.gt, "__le__"),
}
_SQL_OPS = {op: method for op, (_o, _n, method) in _COMPARISONS.items()}
_IMPLICITLY_BOOLEAN = {operator: _operators.is_boolean(operator) for operator, _n, _m in _COMPARISONS.values()}
_FAST_VALUE_TYPES = frozenset({str, int, float, _dt.datetime, _dt.date, _dt.time, _dt.timedelta})
_compare_verdicts: Dict[Tuple[type, str, type], bool] = {}


_bind_bodies: Dict[str, str] = {}


def _column_bind(column, operator, value):
    """``column._bind_param(operator, value)`` (a unique parameter named after the column), its
    attributes set directly: BindParameter's constructor spends half its time on generic cases."""
    return _new_bind(column.key, value, column.type.coerce_compared_value(operator, value))


def _new_bind(name, value, type_):
    """``BindParameter(name, value, type_=type_, unique=True)`` (``type_`` an instance)."""
    bind = _BindParameter.__new__(_BindParameter)
    body = _bind_bodies.get(name)
    if body is None:  # the sanitised name, as the constructor derives it
        body = _anonymous_label.safe_construct_with_key(0, name, sanitize_key=True)[1][2:]
        _bind_bodies[name] = body
    key = f"{id(bind)} {body}"
    label = _anonymous_label(f"%({key})s")
    bind.key = label
    bind._anon_map_key = key
    bind._identifying_key = label
    bind._orig_key = name
    bind.unique = True
    bind.value = value
    bind.callable = None
    bind.isoutparam = False
    bind.required = False
    bind.expanding = False
    bind.expand_op = None
    bind.literal_execute = False
    bind.type = type_
    return bind


def _build_compare(column, operator, negate, value, fast_bind=True):
    if fast_bind and _FAST_BINDS:
        bind = _column_bind(column, operator, value)
    else:
        bind = column._bind_param(operator, value)
    if bind.type._isnull and not column.type._isnull:  # what the coercion's post-step does
        bind = bind._with_binary_element_type(column.type)
    if fast_bind and _FAST_BINDS:
        # BinaryExpression(column, bind, operator, type_=BOOLEAN, negate=negate, modifiers={}):
        # a column and a parameter need no grouping against a comparison operator
        binary = _BinaryExpression.__new__(_BinaryExpression)
        binary._orig = (column.__hash__(), bind.__hash__())
        binary._propagate_attrs = column._propagate_attrs or bind._propagate_attrs
        binary.left = column
        binary.right = bind
        binary.operator = operator
        binary.type = _BOOLEAN
        binary.negate = negate
        binary._is_implicitly_boolean = _IMPLICITLY_BOOLEAN[operator]
        binary.modifiers = {}
        return binary
    return _BinaryExpression(column, bind, operator, type_=_BOOLEAN, negate=negate, modifiers={})


_ID_DEPENDENT = frozenset({"key", "_anon_map_key", "_identifying_key"})


def _same_bind(a, b) -> bool:
    """Two unique parameters equal but for their identity-derived names."""
    if type(a) is not type(b) or sorted(a.__dict__) != sorted(b.__dict__):
        return False
    for name, value in a.__dict__.items():
        if name in _ID_DEPENDENT:
            if value.replace(str(id(a)), "#") != b.__dict__[name].replace(str(id(b)), "#"):
                return False
        elif name == "type":
            if not (value is b.type or (type(value) is type(b.type) and repr(value) == repr(b.type))):
                return False
        elif value != b.__dict__[name] or type(value) is not type(b.__dict__[name]):
            return False
    return True


def _same_comparison(reference, built) -> bool:
    try:
        a, b = reference, built
        return (type(a) is type(b) is _BinaryExpression and a.operator is b.operator
                and a.negate is b.negate and a.left is b.left and type(a.right) is type(b.right) is _BindParameter
                and sorted(a.__dict__) == sorted(b.__dict__) and _same_bind(a.right, b.right)
                and a.modifiers == b.modifiers and a.type is b.type and a._orig[0] == b._orig[0]
                and a._propagate_attrs == b._propagate_attrs
                and a._is_implicitly_boolean == b._is_implicitly_boolean and str(a) == str(b))
    except Exception:  # noqa: BLE001 - anything unexpected: use the operator API
        return False


def _sql_compare(expr, op: str, value):
    """``expr <op> value`` (``value`` a plain Python value, bound as a parameter): the element
    ``getattr(expr, _SQL_OPS[op])(value)`` returns, built directly when that is verified equal."""
    operator, negate, method = _COMPARISONS[op]
    if isinstance(expr, _ColumnClause) and type(value) in _FAST_VALUE_TYPES:
        key = (type(expr.type), op, type(value))
        verdict = _compare_verdicts.get(key)
        if verdict:
            return _build_compare(expr, operator, negate, value)
        if verdict is None:
            reference = getattr(expr, method)(value)
            _compare_verdicts[key] = _same_comparison(reference, _build_compare(expr, operator, negate, value))
            return reference
    return getattr(expr, method)(value)


def _plain_boolean(clause) -> bool:
    return isinstance(clause, ColumnElement) and not isinstance(clause, (_True_, _False_)) \
        and type(clause.type) is sqltypes.Boolean


#: Longest AND/OR chain rendered flat. SQLite parses ``a AND b AND c ...`` into a tree as deep
#: as the chain and refuses trees deeper than 1000 ("Expression tree is too large"), so longer
#: chains are rendered as parenthesised groups of at most this many terms (same meaning).
MAX_FLAT_JUNCTION = 32


def _sql_junction(operator, clauses):
    """``sa.and_(*clauses)`` / ``sa.or_(*clauses)``; a chain longer than
    :data:`MAX_FLAT_JUNCTION` as nested parenthesised groups (depth ~ log of its length)."""
    junction = _sql_flat_junction(operator, clauses)
    while type(junction) is _BooleanClauseList and len(junction.clauses) > MAX_FLAT_JUNCTION:
        items = list(junction.clauses)
        groups = [
            _Grouping(_BooleanClauseList._construct_raw(operator, items[i:i + MAX_FLAT_JUNCTION]))
            for i in range(0, len(items), MAX_FLAT_JUNCTION)
        ]
        junction = _BooleanClauseList._construct_raw(operator, groups)
    return junction


def _sql_flat_junction(operator, clauses):
    """``sa.and_(*clauses)`` / ``sa.or_(*clauses)`` of two or more boolean elements, without
    the coercion layer (same grouping and flattening)."""
    if not _FAST or len(clauses) < 2:
        return (sa.and_ if operator is _operators.and_ else sa.or_)(*clauses)
    flattened = []
    for clause in clauses:
        cls = type(clause)
        if cls is _BinaryExpression and clause.operator in _UNGROUPED and clause.type is _BOOLEAN:
            flattened.append(clause)  # a comparison: binds tighter than AND and OR
            continue
        if cls is _BooleanClauseList and clause.operator is operator:
            flattened.extend(clause.clauses)
            continue
        if not _plain_boolean(clause):
            return (sa.and_ if operator is _operators.and_ else sa.or_)(*clauses)
        grouped = clause.self_group(against=operator)
        if getattr(grouped, "operator", None) is operator:
            flattened.extend(grouped._flattened_operator_clauses)
        else:
            flattened.append(grouped)
    return _BooleanClauseList._construct_raw(operator, flattened)


# comparison operators that never need parentheses inside AND / OR (SQLAlchemy's precedence)
_UNGROUPED = frozenset(
    op for op in (_operators.eq, _operators.ne, _operators.gt, _operators.ge, _operators.lt, _operators.le,
                  _operators.is_, _operators.is_not, _operators.in_op, _operators.not_in_op)
    if not _operators.is_precedent(op, _operators.and_) and not _operators.is_precedent(op, _operators.or_))


def _sql_and(*clauses):
    return clauses[0] if len(clauses) == 1 else _sql_junction(_operators.and_, clauses)


def _sql_or(*clauses):
    return clauses[0] if len(clauses) == 1 else _sql_junction(_operators.or_, clauses)


def _sql_not(clause):
    """``sa.not_(clause)`` for a boolean element."""
    if _FAST and _plain_boolean(clause) and not hasattr(clause, "negation_clause"):
        return clause._negate()
    return sa.not_(clause)


def _sql_exists(*criteria):
    """``sa.exists().where(*criteria)``."""
    if not _FAST:
        return sa.exists().where(*criteria)
    # one WHERE criterion (their conjunction) instead of several: the same SQL
    return _Exists(_select_star_where(_sql_and(*criteria)))


def _select_star_where(criterion):
    """``sa.select(literal_column('*')).where(criterion)`` for a plain boolean ``criterion``
    (the coercion returns it unchanged): a copy of a prepared statement with the criterion set."""
    if not (_FAST_SELECT and _plain_boolean(criterion) and not criterion._propagate_attrs):
        return _SELECT_STAR.where(criterion)
    select = _SELECT_STAR._generate()
    select._where_criteria = (criterion,)
    return select


_FAST_SELECT = False  # checked below


def _sql_string(value):
    """``sa.literal(value, sa.String())``."""
    if not _FAST:
        return sa.literal(value, sa.String())
    if _FAST_BINDS:
        return _new_bind("param", value, _STRING)
    return _BindParameter(None, value, type_=_STRING, unique=True)


_FAST = True


def _self_check() -> bool:
    """The fast helpers give the operator API's SQL on a sample (else they are not used)."""
    try:
        table = sa.Table("t", sa.MetaData(), sa.Column("a", sa.String), sa.Column("b", sa.Integer),
                         sa.Column("c", sa.Boolean))
        x, y, z = table.c.a == "x", table.c.b > 1, table.c.c.is_not(None)
        pairs = [
            (_sql_and(x, y, sa.or_(x, y), sa.and_(y, z)), sa.and_(x, y, sa.or_(x, y), sa.and_(y, z))),
            (_sql_or(x, sa.and_(y, z), sa.or_(x, z)), sa.or_(x, sa.and_(y, z), sa.or_(x, z))),
            (_sql_not(x), sa.not_(x)), (_sql_not(sa.and_(x, y)), sa.not_(sa.and_(x, y))),
            (_sql_not(sa.exists().where(x)), sa.not_(sa.exists().where(x))),
            (_sql_exists(x, _sql_and(y, z)), sa.exists().where(x, sa.and_(y, z))),
            (_sql_and(_sql_or(x, y), z), sa.and_(sa.or_(x, y), z)),
        ]
        return all(type(a) is type(b) and str(a) == str(b) for a, b in pairs)
    except Exception:  # noqa: BLE001
        return False


_FAST = _self_check()  # False: a SQLAlchemy that works differently; the operator API is used


def _check_binds() -> bool:
    """``_column_bind`` builds what ``_bind_param`` builds (names aside), for a few types."""
    try:
        table = sa.Table("t", sa.MetaData(), sa.Column("a b%", sa.String), sa.Column("n", sa.BigInteger),
                         sa.Column("d", sa.DateTime(timezone=True)), sa.Column("f", sa.Float))
        samples = [(table.c["a b%"], "x"), (table.c["a b%"], "été"), (table.c.n, 2**40), (table.c.n, 1.5),
                   (table.c.d, _dt.datetime(2020, 1, 1, tzinfo=_UTC)), (table.c.f, 2.5)]
        return (all(_same_bind(column._bind_param(_operators.lt, value), _column_bind(column, _operators.lt, value))
                    for column, value in samples)
                and all(_same_bind(sa.literal(value, _STRING), _new_bind("param", value, _STRING))
                        for value in ("x", "été", "")))
    except Exception:  # noqa: BLE001
        return False


_FAST_BINDS = _check_binds()


def _check_select() -> bool:
    try:
        table = sa.Table("t", sa.MetaData(), sa.Column("a", sa.String))
        criterion = _sql_and(table.c.a == "x", table.c.a.is_not(None))
        built, reference = _select_star_where(criterion), _SELECT_STAR.where(criterion)
        return (sorted(built.__dict__) == sorted(reference.__dict__)
                and all(built.__dict__[k] is reference.__dict__[k] or built.__dict__[k] == reference.__dict__[k]
                        for k in built.__dict__ if k != "_where_criteria")
                and built._where_criteria == (criterion,) == reference._where_criteria
                and str(built) == str(reference) and not _SELECT_STAR._where_criteria)
    except Exception:  # noqa: BLE001
        return False


_FAST_SELECT = True
_FAST_SELECT = _check_select()


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
        return sa.literal(value, getattr(other.expr, "type", None))
    return sa.literal(value)


_STATIC_LIMIT = 4096
_LIKE_PATTERNS = {"contains": "%{}%", "startswith": "{}%", "endswith": "%{}"}


class SqlCompiler:
    """Compiles bound trees against one mapping. ``now`` is the value of ``now()``."""

    def __init__(self, mapping, now: Optional[_dt.datetime] = None):
        self.mapping = mapping
        self._now = now
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
        if not isinstance(expr, _ColumnClause):
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
                if isinstance(expr, _ColumnClause):
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
            return _and(notnull, xe.regexp_match(y.expr))
        if y.literal:
            arg = _sql_string(y.expr)
            pattern = _sql_string(_LIKE_PATTERNS[node.name].format(_escape_like(y.expr)))
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
        return _and(notnull, _StringMatch(node.name, xe, arg, pattern))

    def _p_BIntersects(self, node):
        columns = self.mapping.footprint(node.location.path)
        area = _sql_string(node.wkt)
        notnull = self._notnull(columns.geometry if columns.geometry is not None else columns.wkt)
        return _sql_and(notnull, _Intersects(columns.wkt, columns.geometry, area))

    def _p_BLambda(self, node):
        shortcut = getattr(self.mapping, "shortcut", None)
        if shortcut is not None:
            replacement = shortcut(node, self)
            if replacement is not None:
                return replacement
        instance = self.mapping.collection(node.collection, node.cast)
        if getattr(instance, "single", False) or isinstance(instance, _ComplexInstance):
            if node.predicate is None:
                return sa.true()
            self.scopes[node.variable] = (instance, node.cast)
            try:
                return self.predicate(node.predicate)
            finally:
                del self.scopes[node.variable]
        conditions = list(instance.conditions)
        if node.predicate is None:
            return _sql_exists(*conditions)
        self.scopes[node.variable] = (instance, node.cast)
        try:
            predicate = self.predicate(node.predicate)
        finally:
            del self.scopes[node.variable]
        # A constant predicate (any(a:false), all(a:true), all(a:1 eq 1)): SQLAlchemy folds
        # "correlation AND false" to false, which left EXISTS (SELECT * WHERE 0 = 1) without a
        # FROM, an SQL error on SQLite and PostgreSQL. Decide it here instead.
        if isinstance(predicate, (_True_, _False_)):
            holds = isinstance(predicate, _True_)
            if node.kind == "any":
                return _sql_exists(*conditions) if holds else sa.false()
            return sa.true() if holds else _sql_not(_sql_exists(*conditions))
        if node.kind == "any":
            return _sql_exists(*conditions, predicate)
        return _sql_not(_sql_exists(*conditions, _sql_not(predicate)))

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
                    if isinstance(expr, _ColumnClause):
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
            from .predicate import _arith

            try:
                result = _arith(node.op, left.expr, right.expr, node.type)
            except OverflowError:  # now() add duration'P9999999D': past year 9999
                raise ODataTypeError(f"the value of this '{node.op}' is out of range") from None
            if isinstance(result, int) and not isinstance(result, bool) and not -(2**63) <= result < 2**63:
                raise ODataTypeError(f"the value of this '{node.op}' is out of range for Edm.Int64")
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
                return _Val(_DateTimeArith("diff", le, re_, _Duration()), notnull)
            return _Val(_DateTimeArith(op, le, re_, le.type), notnull)
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
        expr = inner.expr if not inner.literal else sa.literal(inner.expr)
        return _Val(-expr, inner.notnull)

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
            elif not start.literal:  # Int32: PostgreSQL has no substr(text, bigint)
                start_expr = sa.cast(sa.case((exprs[1] < 0, 1), else_=exprs[1] + 1), sa.Integer())
            if len(args) == 2:
                return _Val(sa.func.substr(x, start_expr, type_=sa.String()), notnull)
            length = (sa.cast(exprs[2], sa.Integer()) if not args[2].literal
                      else sa.literal(min(args[2].expr, 2**31 - 1)))
            result = sa.func.substr(x, start_expr, length, type_=sa.String())
            if args[2].literal:
                if args[2].expr < 0:
                    return _Val(None, literal=True, is_null=True)
                return _Val(result, notnull)
            return _Val(result, _and(notnull, length >= 0))
        if name in ("tolower", "toupper"):
            return _Val(_CaseMap(name == "toupper", x), notnull)
        if name == "trim":
            return _Val(_Trim(x, sa.literal(TRIM_CHARACTERS, sa.String())), notnull)
        if name == "concat":
            return _Val(x.concat(exprs[1]), notnull)
        if name in ("year", "month", "day", "hour", "minute", "second"):
            return _Val(_DatePart(name, node.args[0].type.kind, x), notnull)
        if name == "date":
            return _Val(_DateOf(x), notnull)
        if name == "time":
            return _Val(_TimeOf(x), notnull)
        raise ODataNotSupportedError(f"function '{name}' is not supported in SQL")



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


def compile_filter_sql(bound: Bound, mapping, *, now: Optional[_dt.datetime] = None) -> ColumnElement:
    """A bound ``$filter`` as a SQLAlchemy boolean expression over ``mapping``'s tables."""
    return SqlCompiler(mapping, now).predicate(bound)


def compile_orderby_sql(items: Sequence[BOrderItem], mapping, *, now: Optional[_dt.datetime] = None) -> list:
    """Bound ``$orderby`` items as ``ORDER BY`` clauses (nulls first ascending, last descending,
    on both databases, as :func:`proseo_odata.odata.predicate.sort_key`)."""
    compiler = SqlCompiler(mapping, now)
    clauses = []
    for item in items:
        value = compiler.value(item.expr)
        expr = value.expr if not value.literal else sa.literal(value.expr)
        clauses.append(expr.desc().nulls_last() if item.descending else expr.asc().nulls_first())
    return clauses
