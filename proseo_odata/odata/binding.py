"""Binding: an AST (from the parser) resolved against an entity type into a typed bound tree.

``bind_filter(ast, entity_type)`` resolves every name (aliases such as ``CreationDate`` to their
canonical property), lambda variable and type cast, checks types, converts literals to the type
they meet and returns a tree of the frozen ``B*`` dataclasses below. The compilers
(:mod:`~proseo_odata.odata.sql`, :mod:`~proseo_odata.odata.predicate`) only see bound trees, so
they need no knowledge of OData's tolerances. The rules are documented in
``docs/query-semantics.md``; in short:

* A literal meeting a property is converted to the property's type: quoted date-times
  (``ContentDate/Start lt '2020-01-12T00:00:00.000000Z'``), quoted numbers
  (``OrderOutputSize eq '1024'``), plain strings and enum literals against enum properties
  (``Status eq 'completed'``, ``Status eq OData.CSC.JobStatus'completed'``), a date against a
  date-time (midnight UTC), numbers against strings (their text). A literal that cannot be
  converted raises :class:`~proseo_odata.odata.errors.ODataTypeError` (400); nothing silently
  matches nothing.
* A literal on the left is moved to the right (``'x' eq Name`` becomes ``Name eq 'x'``).
* Attribute lambdas: a cast on the collection (``Attributes/OData.CSC.IntegerAttribute/any``)
  restricts the items to that type; a cast on the variable (``att/OData.CSC.IntegerAttribute/
  Value``) selects the typed ``Value`` (``null`` for items of another type). When the two casts
  disagree, ``any`` takes an item of either type, its value compared as its own type (the
  ``or`` of one lambda per type); ``all`` the collection's type. Without any cast, ``Value``'s type is taken from what
  it is compared with, and a literal meets every type it converts to (a number: ``Integer``
  and ``DoubleAttribute``; a string: ``StringAttribute`` and the number, Boolean or date-time
  it spells; ``null``: all five; ``true``/``false``: ``BooleanAttribute``; a date-time:
  ``DateTimeOffsetAttribute``): the comparisons are joined with ``or`` (``eq null`` with
  ``and``; ``ne`` is ``not`` of the ``eq``s).
* A cast to an attribute type on an item that is not an attribute (ODIP ``WorkflowOptions``) is
  a type hint and ignored.
* Boolean expressions used as predicates (``Online``) mean ``Online eq true``.

Every bound expression has ``type`` (an EDM type) and ``nullable``. Predicates are
two-valued: compilers implement OData's null rules (a comparison with ``null`` is false, except
``eq null`` / ``ne null``), so ``not`` is the plain complement.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import decimal
import functools
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from . import ast as A
from . import edm
from .errors import ODataError, ODataLimitError, ODataNameError, ODataNotSupportedError, ODataTypeError
from .functions import INTERSECTS_NAMES, lookup as lookup_function
from .geo import format_wkt, parse_geography
from .regex import PatternError, compile_pattern

__all__ = [
    "Bound",
    "calls_now",
    "may_fail_on_data",
    "BLiteral",
    "BNull",
    "BProperty",
    "BCompare",
    "BAnd",
    "BOr",
    "BNot",
    "BIn",
    "BArith",
    "BNegate",
    "BCall",
    "BIntersects",
    "BLambda",
    "BOrderItem",
    "bind_filter",
    "bind_orderby",
    "bind_item_filter",
    "bind_item_orderby",
    "ITEM_VARIABLE",
    "walk",
    "parse_datetime_text",
]

_UTC = _dt.timezone.utc

#: Valid OData the binder does not implement: a 400 naming ``$filter``, as its other errors do
#: (``$orderby``'s binding names ``$orderby`` instead).
_not_supported = functools.partial(ODataNotSupportedError, target="$filter")


# --------------------------------------------------------------------------------------------
# bound nodes


class Bound:
    """Base of bound nodes. ``type`` is an EDM type, ``nullable`` whether it may be null."""

    __slots__ = ()

    @property
    def is_predicate(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class BLiteral(Bound):
    """A literal already converted to ``type`` (a Python value of that type, never ``None``)."""

    value: Any
    type: Any
    #: a date-time written with sub-millisecond digits: compared exactly (:func:`_millisecond_compare`)
    exact: bool = False

    nullable = False


@dataclass(frozen=True, slots=True)
class BNull(Bound):
    """``null``; ``type`` is the type of what it is compared with (or ``None``)."""

    type: Any = None

    nullable = True


@dataclass(frozen=True, slots=True)
class BProperty(Bound):
    """A primitive property value.

    ``path`` holds canonical property names from the entity (``('ContentDate', 'Start')``) or,
    when ``variable`` is set, from the lambda variable's item (``('Value',)``). ``cast`` is the
    qualified type name the item must have for the value to exist (typed attribute values:
    ``'OData.CSC.IntegerAttribute'``), else ``None``.
    """

    path: Tuple[str, ...]
    type: Any
    nullable: bool = True
    variable: Optional[str] = None
    cast: Optional[str] = None


@dataclass(frozen=True, slots=True)
class BCompare(Bound):
    """``left op right`` with ``op`` in eq ne gt ge lt le. A literal is never on the left
    unless both sides are literals."""

    op: str
    left: Bound
    right: Bound

    type = edm.BOOLEAN
    nullable = False

    is_predicate = True  # a class attribute (not a field): cheaper than a property


@dataclass(frozen=True, slots=True)
class BAnd(Bound):
    operands: Tuple[Bound, ...]

    type = edm.BOOLEAN
    nullable = False

    is_predicate = True  # a class attribute (not a field): cheaper than a property


@dataclass(frozen=True, slots=True)
class BOr(Bound):
    operands: Tuple[Bound, ...]

    type = edm.BOOLEAN
    nullable = False

    is_predicate = True  # a class attribute (not a field): cheaper than a property


@dataclass(frozen=True, slots=True)
class BNot(Bound):
    operand: Bound

    type = edm.BOOLEAN
    nullable = False

    is_predicate = True  # a class attribute (not a field): cheaper than a property


@dataclass(frozen=True, slots=True)
class BIn(Bound):
    """``operand in (items)``; items are :class:`BLiteral` / :class:`BNull` of the operand's type."""

    operand: Bound
    items: Tuple[Bound, ...]

    type = edm.BOOLEAN
    nullable = False

    is_predicate = True  # a class attribute (not a field): cheaper than a property


@dataclass(frozen=True, slots=True)
class BArith(Bound):
    """``left op right``, op in add sub mul div divby mod; ``type`` the result type."""

    op: str
    left: Bound
    right: Bound
    type: Any
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class BNegate(Bound):
    operand: Bound
    type: Any
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class BCall(Bound):
    """A call of a function of :data:`proseo_odata.odata.functions.FUNCTIONS` (canonical name)."""

    name: str
    args: Tuple[Bound, ...]
    type: Any
    nullable: bool = True

    @property
    def is_predicate(self) -> bool:
        return self.type is edm.BOOLEAN


@dataclass(frozen=True, slots=True)
class BIntersects(Bound):
    """``OData.CSC.Intersects``: the location property and the area as WKT (SRID 4326)."""

    location: BProperty
    wkt: str

    type = edm.BOOLEAN
    nullable = False

    is_predicate = True  # a class attribute (not a field): cheaper than a property

    @property
    def geometry(self):
        return parse_geography(self.wkt)[0]


@dataclass(frozen=True, slots=True)
class BLambda(Bound):
    """``collection/kind(variable: predicate)``.

    ``collection`` is the canonical path of a collection-valued property or navigation property
    (``('Attributes',)``), or of a single complex property when ``single`` (``any`` over one
    value). ``cast`` restricts the items to a derived type (``'OData.CSC.StringAttribute'``).
    ``predicate`` is ``None`` for ``any()`` ("not empty").
    """

    kind: str
    collection: Tuple[str, ...]
    cast: Optional[str]
    variable: Optional[str]
    predicate: Optional[Bound]
    single: bool = False

    type = edm.BOOLEAN
    nullable = False

    is_predicate = True  # a class attribute (not a field): cheaper than a property


@dataclass(frozen=True, slots=True)
class BOrderItem:
    expr: Bound
    descending: bool = False


def walk(node: Bound):
    """Yield ``node`` and every bound node below it (pre-order)."""
    yield node
    if isinstance(node, BCompare) or isinstance(node, BArith):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, (BAnd, BOr)):
        for operand in node.operands:
            yield from walk(operand)
    elif isinstance(node, (BNot, BNegate)):
        yield from walk(node.operand)
    elif isinstance(node, BIn):
        yield from walk(node.operand)
        for item in node.items:
            yield from walk(item)
    elif isinstance(node, BCall):
        for arg in node.args:
            yield from walk(arg)
    elif isinstance(node, BIntersects):
        yield from walk(node.location)
    elif isinstance(node, BLambda) and node.predicate is not None:
        yield from walk(node.predicate)


def calls_now(node: Bound) -> bool:
    """Whether the bound tree ``node`` calls ``now()``: its SQL then holds the time it was
    compiled at, and must not be kept for later requests."""
    return any(isinstance(n, BCall) and n.name == "now" for n in walk(node))


def may_fail_on_data(node: Bound) -> bool:
    """Whether evaluating the bound tree ``node`` in SQL can fail because of a row's values:
    arithmetic (PostgreSQL refuses an Int64 or Double result out of range, a date-time before
    year 1) or a ``matchesPattern`` whose pattern is not a literal (``matchesPattern('a', Name)``:
    a row whose values make no regular expression). A storage must then evaluate it only on rows
    the caller may see: a row the caller may not see would otherwise decide the answer (a 400,
    contract section 8; :class:`proseo_odata.odata.sql.SqlCompiler`'s ``guard``)."""
    return any(isinstance(n, (BArith, BNegate))
               or (isinstance(n, BCall) and n.name == "matchespattern" and not isinstance(n.args[1], BLiteral))
               for n in walk(node))


# --------------------------------------------------------------------------------------------
# literal conversion

_DATETIME_TEXT = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?"
    r"(Z|z|[+-]\d{2}:?\d{2})?)?\s*$"
)
_TIME_TEXT = re.compile(r"^\s*(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?\s*$")


def parse_datetime_text(text: str) -> Optional[_dt.datetime]:
    """An ISO-8601 date-time in any form clients send (``Z``, ``+hh:mm``, no zone = UTC, 0-12
    fractional digits as the unquoted literal, ``T`` or ``t`` or a space, a bare date = midnight UTC) as an aware UTC datetime; ``None`` if not."""
    match = _DATETIME_TEXT.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        tz = _UTC
        if zone and zone not in "Zz":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tz = _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        value = _dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")), tzinfo=tz,
        )
        return value.astimezone(_UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00 is before year 1 in UTC
        return None


def _parse_time_text(text: str) -> Optional[_dt.time]:
    match = _TIME_TEXT.match(text)
    if not match:
        return None
    hour, minute, second, fraction = match.groups()
    try:
        return _dt.time(int(hour), int(minute), int(second or 0), int((fraction or "0")[:6].ljust(6, "0")))
    except ValueError:
        return None


_DURATION_TEXT = re.compile(
    r"^\s*(-)?P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?\s*$"
)


def _parse_duration_text(text: str) -> Optional[_dt.timedelta]:
    match = _DURATION_TEXT.match(text)
    if not match or text.strip().rstrip("T").endswith("P"):
        return None
    sign, days, hours, minutes, seconds = match.groups()
    try:
        value = _dt.timedelta(days=float(days or 0), hours=float(hours or 0), minutes=float(minutes or 0),
                              seconds=float(seconds or 0))
    except OverflowError:  # 'P99999999999D': beyond timedelta's 999,999,999 days
        raise ODataTypeError("a duration out of range (at most 999,999,999 days)") from None
    return -value if sign else value


_INT_RANGES = {
    edm.INT32.name: (-(2**31), 2**31 - 1),
    edm.INT64.name: (-(2**63), 2**63 - 1),
}

def _integer_literal(value: int, target, node, fail) -> "BLiteral":
    """An integer literal meeting a numeric ``target``: out of the target's range is an error
    for an integer target (as for ``Priority eq 99999999999``); a Double target takes it as a
    double. Either way no integer beyond Int64 reaches a database (SQLite cannot bind one)."""
    low, high = _INT_RANGES.get(target.name, _INT_RANGES[edm.INT64.name])
    if low <= value <= high:
        return BLiteral(value, edm.INT64)
    if target.kind == "integer":
        raise ODataTypeError(f"the number {_literal_text(node)} at position {node.pos} is out of range for {target.name}",
                             position=node.pos)
    try:
        return BLiteral(float(value), edm.DOUBLE)
    except OverflowError:
        raise fail() from None


_LITERAL_TYPES = {
    A.EDM_STRING: edm.STRING,
    A.EDM_INT64: edm.INT64,
    A.EDM_DECIMAL: edm.DOUBLE,
    A.EDM_DOUBLE: edm.DOUBLE,
    A.EDM_BOOLEAN: edm.BOOLEAN,
    A.EDM_GUID: edm.GUID,
    A.EDM_DATE: edm.DATE,
    A.EDM_DATETIMEOFFSET: edm.DATETIMEOFFSET,
    A.EDM_TIMEOFDAY: edm.TIMEOFDAY,
    A.EDM_DURATION: edm.DURATION,
    A.EDM_BINARY: edm.BINARY,
    A.EDM_GEOGRAPHY: edm.GEOGRAPHY,
    A.EDM_GEOMETRY: edm.GEOMETRY,
}


def _describe(t) -> str:
    if t is None:
        return "null"
    return getattr(t, "qualified_name", None) or getattr(t, "name", str(t))


def _literal_text(node) -> str:
    """A literal as OData writes it (in messages): ``'text'``, ``NaN``, ``duration'P1DT2H'``,
    ``binary'AAA='``, ``2021-01-01T00:00:00Z``, not Python's repr."""
    if isinstance(node, A.EnumLiteral):
        return f"{node.type_name}'{node.value}'"
    if not isinstance(node, A.Literal):
        return "null"
    value, edm_type = node.value, node.edm_type
    if edm_type == A.EDM_STRING:
        return "'" + value.replace("'", "''") + "'"
    if edm_type == A.EDM_BOOLEAN:
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("INF" if value > 0 else "-INF")
    if edm_type == A.EDM_DURATION:
        sign, total = ("-", -value) if value < _dt.timedelta(0) else ("", value)
        hours, rest = divmod(total.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        fraction = f".{total.microseconds:06d}".rstrip("0") if total.microseconds else ""
        time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") \
            + (f"{seconds}{fraction}S" if seconds or fraction else "")
        days = f"{total.days}D" if total.days else ""
        return f"duration'{sign}P{days}{'T' + time if time or not days else ''}{'' if time or days else '0S'}'"
    if edm_type == A.EDM_BINARY:
        return "binary'" + base64.urlsafe_b64encode(value).decode("ascii") + "'"
    if edm_type in (A.EDM_GEOGRAPHY, A.EDM_GEOMETRY):
        return f"{edm_type[4:].lower()}'SRID={node.srid};{value}'" if node.srid else f"{edm_type[4:].lower()}'{value}'"
    if isinstance(value, _dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------------------------
# look-ups, cached: the EDM types and models are immutable, and a client's filter names the
# same few members and types again and again. Only successful look-ups are kept (a name a
# client made up is not), and each table is emptied when it grows past _LOOKUP_LIMIT entries.

_LOOKUP_LIMIT = 4096
_members: Dict[Tuple[Any, str], Any] = {}
_types: Dict[Tuple[Any, str], Any] = {}
_models: Dict[Any, Any] = {}
_paths: Dict[Any, Any] = {}
_collections: Dict[Any, Any] = {}


def _remember(table: dict, key, value) -> None:
    if len(table) >= _LOOKUP_LIMIT:
        table.clear()
    table[key] = value


def _find_member(structured: edm.StructuredType, name: str):
    """``structured.find_member(name)``, cached."""
    key = (structured, name)
    member = _members.get(key)
    if member is None:
        member = structured.find_member(name)
        if member is not None:
            if len(_members) >= _LOOKUP_LIMIT:
                _members.clear()
            _members[key] = member
    return member


#: The seed documents' attribute keys (contract section 3) as paths of the typed form, for
#: lambdas over ``Attributes``: ``a/Id`` is ``a/Name``, ``a/StringValue`` is
#: ``a/OData.CSC.StringAttribute/Value``, and so on.
_SEED_ATTRIBUTE_KEYS = {
    "id": ("Name",),
    "stringvalue": ("StringAttribute", "Value"),
    "integervalue": ("IntegerAttribute", "Value"),
    "doublevalue": ("DoubleAttribute", "Value"),
    "booleanvalue": ("BooleanAttribute", "Value"),
    "datevalue": ("DateTimeOffsetAttribute", "Value"),
}


_MILLISECOND = _dt.timedelta(milliseconds=1)


def _millisecond_compare(op: str, left: Bound, right: Bound) -> Bound:
    """``left op right``, where a date-time literal without sub-millisecond digits compared to a
    date-time expression denotes its whole millisecond [T, T + 1 ms) (contract section 2): the
    services emit three fraction digits, truncating stored microseconds, so a value pasted back
    must still select its entity. ``eq T`` is ``ge T and lt T+1ms``, ``le T`` is ``lt T+1ms``,
    ``gt T`` is ``ge T+1ms``, ``ne T`` is ``not`` that ``eq`` (so an entity is never both
    ``eq T`` and ``ne T``; a null one is ``ne T`` as before, predicates being two-valued);
    ``ge`` and ``lt`` are unchanged (they already agree with the interval). ``in (...)`` is
    ``eq`` to any item (:meth:`_Binder._bind_In`). The Python predicate and the SQL compiler see
    the same bound tree."""
    if op == "ne":
        equal = _millisecond_compare("eq", left, right)
        return BCompare(op, left, right) if isinstance(equal, BCompare) and equal.op == "eq" else BNot(equal)
    if op not in ("eq", "le", "gt") or not isinstance(right, BLiteral) or isinstance(left, BLiteral):
        return BCompare(op, left, right)
    value = right.value
    if (not isinstance(value, _dt.datetime) or right.exact or value.microsecond % 1000
            or getattr(left, "type", None) is not edm.DATETIMEOFFSET):
        return BCompare(op, left, right)
    try:
        end = BLiteral(value + _MILLISECOND, right.type)
    except OverflowError:  # 9999-12-31T23:59:59.999: nothing lies above its millisecond
        return BCompare("ge" if op == "eq" else op, left, right)
    if op == "eq":
        return BAnd((BCompare("ge", left, right), BCompare("lt", left, end)))
    return BCompare("lt" if op == "le" else "ge", left, end)


def _seed_attribute_steps(steps: list) -> list:
    """``steps`` (after an attribute lambda variable) with a leading seed-document key replaced
    by its typed-form path; other steps unchanged."""
    first = steps[0]
    if not isinstance(first, A.Member):
        return steps
    typed = _SEED_ATTRIBUTE_KEYS.get(first.name.lower())
    if typed is None:
        return steps
    if len(typed) == 1:
        return [A.Member(typed[0], pos=first.pos)] + steps[1:]
    return [A.Cast(f"{edm.NAMESPACE}.{typed[0]}", pos=first.pos), A.Member(typed[1], pos=first.pos)] + steps[1:]


def _find_type(model: edm.EntityModel, name: str):
    """``model.find_type(name)``, cached."""
    key = (model, name)
    found = _types.get(key)
    if found is None:
        found = model.find_type(name)
        if found is not None:
            if len(_types) >= _LOOKUP_LIMIT:
                _types.clear()
            _types[key] = found
    return found


# --------------------------------------------------------------------------------------------
# the binder


@dataclass(frozen=True)
class _Var:
    """A lambda variable in scope."""

    name: str
    item_type: Any  # StructuredType (cast applied) or a primitive type
    outer_cast: Optional[edm.StructuredType]


_LITERAL_NODES = (A.Literal, A.Null, A.EnumLiteral)
_FLIP = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}

# hint kind -> typed attribute (the "no cast" rule)
_ATTRIBUTE_BY_KIND = {
    "string": "StringAttribute",
    "integer": "IntegerAttribute",
    "double": "DoubleAttribute",
    "boolean": "BooleanAttribute",
    "datetime": "DateTimeOffsetAttribute",
    "date": "DateTimeOffsetAttribute",
}


#: literal type -> the typed attribute Values an untyped Value compared with it may be
#: (:meth:`_Binder._untyped_kinds`; the first is the one the hint gave alone before)
_UNTYPED_ALL = (edm.STRING, edm.INT64, edm.DOUBLE, edm.BOOLEAN, edm.DATETIMEOFFSET)
_UNTYPED_KINDS = {
    A.EDM_INT64: (edm.INT64, edm.DOUBLE),
    A.EDM_DECIMAL: (edm.DOUBLE, edm.INT64),
    A.EDM_DOUBLE: (edm.DOUBLE, edm.INT64),
    A.EDM_STRING: _UNTYPED_ALL,
}


#: The most nodes the parameter aliases of one expression may expand to (each reference counts
#: its alias's nodes again): about what a 64 KiB filter text holds.
MAX_ALIAS_NODES = 20_000
#: The most nodes the lambdas of mismatched attribute casts may bind again (each type after the
#: collection's binds the predicate once more, nested lambdas within each: rule 3 of
#: docs/query-semantics.md); the same budget as the aliases'.
MAX_CAST_NODES = 20_000
#: The deepest that aliases nested in aliases may go, their own trees' depths added up: the
#: parser's depth limit (each text alone may reach it).
MAX_ALIAS_DEPTH = 100
#: The most ``substring`` calls with a computed start or length that may be nested in each
#: other's arguments: SQL repeats such an argument (its clamps to the databases' range), so each
#: level triples the statement's text (12 levels made 12 MB of SQL of a 300-character filter;
#: 6 make about 90 KB). Side by side they cost no more than other calls.
MAX_NESTED_SUBSTRINGS = 6


def _is_literal_node(node: A.Node) -> bool:
    """A literal, or a negated one (``-1``), as a function argument is written."""
    while isinstance(node, A.Negate):
        node = node.operand
    return isinstance(node, (A.Literal, A.Null))


def _tree_shape(root: A.Node) -> Tuple[int, int]:
    """``(nodes, depth)`` of an expression tree (iteratively)."""
    nodes, deepest, stack = 0, 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children())
    return nodes, deepest


class _Binder:
    def __init__(self, entity_type: edm.EntityType, model: edm.EntityModel,
                 aliases: Optional[Mapping[str, A.Expr]] = None, *, option: str = "$filter"):
        self.entity_type = entity_type
        self.model = model
        self.aliases = dict(aliases or {})
        self._resolving: set = set()  # aliases being resolved (an alias may not refer to itself)
        #: what the aliases expanded so far cost (:meth:`_expand_alias`): nodes in all, and the
        #: depth of the aliases being resolved, one inside the other
        self._alias_nodes = 0
        self._alias_depth = 0
        #: the predicate nodes bound again for mismatched attribute casts (:data:`MAX_CAST_NODES`)
        self._cast_nodes = 0
        #: the casts written on each cast lambda variable (by ``id`` of its ``_Var``) as its
        #: paths are bound: what :meth:`_other_casts` reads
        self._variable_casts: Dict[int, list] = {}
        self._alias_shapes: Dict[str, Tuple[int, int]] = {}
        #: function arguments bound so far (:meth:`_argument_expr`)
        self._arguments: Dict[tuple, tuple] = {}
        #: ``substring`` calls with a computed start or length being bound, one inside the other
        self._substrings = 0
        #: the system query option being bound ($filter or $orderby), for messages and targets
        self.option = option

    # -- entry points -----------------------------------------------------------------------

    def predicate(self, node: A.Expr, scope: Dict[str, _Var]) -> Bound:
        bound = self.expr(node, scope)
        return self._as_predicate(bound, node)

    def _as_predicate(self, bound: Bound, node) -> Bound:
        if bound.is_predicate:
            return bound
        if isinstance(bound, BLiteral) and bound.type is edm.BOOLEAN:
            return bound
        if getattr(bound, "type", None) is edm.BOOLEAN and not isinstance(bound, BNull):
            return BCompare("eq", bound, BLiteral(True, edm.BOOLEAN))
        raise ODataTypeError(
            f"expected a Boolean expression at position {node.pos}, got {_describe(getattr(bound, 'type', None))}",
            position=node.pos,
        )

    # -- dispatch ---------------------------------------------------------------------------

    def expr(self, node: A.Expr, scope: Dict[str, _Var], hint=None) -> Bound:
        method = _BIND_METHODS.get(type(node))
        if method is not None:
            return method(self, node, scope, hint)
        if isinstance(node, A.ParameterAlias):
            if node.name not in self.aliases:
                raise ODataNameError(f"parameter alias '@{node.name}' has no value", name=node.name,
                                     position=node.pos)
            if node.name in self._resolving:
                raise ODataNameError(f"parameter alias '@{node.name}' refers to itself", name=node.name,
                                     position=node.pos)
            return self._expand_alias(node, scope, hint)
        method = getattr(self, "_bind_" + type(node).__name__, None)
        if method is None:
            raise _not_supported(f"{type(node).__name__} expressions are not supported in $filter",
                                 target="$filter")
        return method(node, scope, hint)

    def _expand_alias(self, node: A.ParameterAlias, scope, hint) -> Bound:
        """The alias's value bound in its place. Each reference binds the value again, so an
        alias of aliases (``@a=@b or @b``, ``@b=@c or @c``, ...) doubles the tree at each step:
        the nodes of every expansion count against :data:`MAX_ALIAS_NODES`, and aliases inside
        aliases may not nest deeper than :data:`MAX_ALIAS_DEPTH` levels of their own trees in
        all (Python's recursion limit), whatever each alias's text length and depth."""
        depth = self._charge_alias(node)
        if self._alias_depth + depth > MAX_ALIAS_DEPTH:
            raise ODataLimitError(f"Invalid {self.option}: parameter aliases nested in each other more than "
                                  f"{MAX_ALIAS_DEPTH} levels deep", position=node.pos, target=self.option)
        self._resolving.add(node.name)
        self._alias_depth += depth
        try:
            return self.expr(self.aliases[node.name], scope, hint)
        finally:
            self._alias_depth -= depth
            self._resolving.discard(node.name)

    @staticmethod
    def _counted(current, step: A.Member) -> bool:
        """Whether ``step`` (followed by ``/$count``) names a collection of ``current``: its
        count is what is not supported (an unknown name keeps its own message)."""
        member = _find_member(current, step.name) if isinstance(current, edm.StructuredType) else None
        return member is not None and bool(getattr(member, "collection", False))

    def _charge_alias(self, node: A.ParameterAlias) -> int:
        """Count one expansion of the alias ``node`` (its tree's nodes) against
        :data:`MAX_ALIAS_NODES`; its tree's depth."""
        shape = self._alias_shapes.get(node.name)
        if shape is None:
            shape = self._alias_shapes[node.name] = _tree_shape(self.aliases[node.name])
        nodes, depth = shape
        self._alias_nodes += nodes
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise ODataLimitError(f"Invalid {self.option}: the parameter aliases expand to more than "
                                  f"{MAX_ALIAS_NODES:,} nodes", position=node.pos, target=self.option)
        return depth

    # -- literals ---------------------------------------------------------------------------

    def _bind_Literal(self, node: A.Literal, scope, hint=None) -> Bound:
        t = _LITERAL_TYPES.get(node.edm_type)
        if t is None:
            raise _not_supported(f"literals of type {node.edm_type} are not supported")
        if t.kind == "geo":
            raise ODataTypeError(f"a geography literal can only be used in OData.CSC.Intersects "
                                 f"(position {node.pos})", position=node.pos)
        if hint is not None and not isinstance(hint, edm.StructuredType):
            return self.coerce(node, hint)
        value = node.value
        if isinstance(value, decimal.Decimal):
            value = float(value)
        return BLiteral(value, t)

    def _bind_Null(self, node, scope, hint=None) -> Bound:
        return BNull(hint if hint is not None and not isinstance(hint, edm.StructuredType) else None)

    def _bind_EnumLiteral(self, node: A.EnumLiteral, scope, hint=None) -> Bound:
        enum = _find_type(self.model, node.type_name)
        if not isinstance(enum, edm.EnumType):
            raise ODataNameError(f"unknown enumeration type '{node.type_name}' at position {node.pos}",
                                 name=node.type_name, position=node.pos)
        member = enum.member(node.value)
        if member is None:
            raise ODataTypeError(
                f"'{node.value}' is not a value of {enum.qualified_name} (position {node.pos}); "
                f"values: {', '.join(enum.members)}", position=node.pos)
        if isinstance(hint, edm.EnumType) and hint is not enum:
            raise ODataTypeError(f"{enum.qualified_name}'{node.value}' cannot be compared with "
                                 f"{hint.qualified_name} (position {node.pos})", position=node.pos)
        return BLiteral(member, enum)

    def coerce(self, node, target) -> Bound:
        """Convert the literal ``node`` (Literal, EnumLiteral, Null) to ``target``."""
        if isinstance(node, A.Null):
            return BNull(target)
        if isinstance(node, A.EnumLiteral):
            bound = self._bind_EnumLiteral(node, {}, target)
            if isinstance(target, edm.PrimitiveType) and target.kind == "string":
                return BLiteral(bound.value, edm.STRING)
            if not isinstance(target, edm.EnumType):
                raise ODataTypeError(f"{_literal_text(node)} cannot be compared with {_describe(target)} "
                                     f"(position {node.pos})", position=node.pos)
            return bound
        value, source = node.value, node.edm_type
        kind = target.kind
        def fail():  # built only when raised (most literals fit)
            return ODataTypeError(
                f"the literal {_literal_text(node)} at position {node.pos} does not fit type {_describe(target)}",
                position=node.pos)

        if isinstance(value, decimal.Decimal):
            value = float(value)
        if kind == "string":
            if source == A.EDM_STRING:
                return BLiteral(value, edm.STRING)
            if source in (A.EDM_INT64, A.EDM_DECIMAL) or source == A.EDM_DOUBLE:
                return BLiteral(str(node.value), edm.STRING)
            if source == A.EDM_BOOLEAN:
                return BLiteral("true" if value else "false", edm.STRING)
            if source == A.EDM_GUID:
                return BLiteral(str(value), edm.STRING)
            raise fail()
        if kind == "enum":
            if source == A.EDM_STRING:
                member = target.member(value)
                if member is None:
                    raise ODataTypeError(
                        f"'{value}' is not a value of {target.qualified_name} (position {node.pos}); "
                        f"values: {', '.join(target.members)}", position=node.pos)
                return BLiteral(member, target)
            raise fail()
        if kind in ("integer", "double"):
            if source == A.EDM_INT64:
                return _integer_literal(value, target, node, fail)
            if source in (A.EDM_DECIMAL, A.EDM_DOUBLE):
                # INF and -INF compare as IEEE 754 and every database does (the stored numbers
                # are finite); NaN does not: PostgreSQL orders it above every number
                if value != value:
                    raise fail()
                return BLiteral(value, edm.DOUBLE)
            if source == A.EDM_STRING:  # quoted numbers: OrderOutputSize eq '1024'
                text = value.strip()
                try:
                    number = int(text)
                except ValueError:
                    pass
                else:
                    return _integer_literal(number, target, node, fail)
                try:
                    number = float(decimal.Decimal(text))
                except (decimal.InvalidOperation, ValueError):
                    raise fail() from None
                if number != number or number in (float("inf"), float("-inf")):
                    raise fail()
                return BLiteral(number, edm.DOUBLE)
            raise fail()
        if kind == "boolean":
            if source == A.EDM_BOOLEAN:
                return BLiteral(value, edm.BOOLEAN)
            if source == A.EDM_STRING and value.strip().lower() in ("true", "false"):
                return BLiteral(value.strip().lower() == "true", edm.BOOLEAN)
            raise fail()
        if kind == "datetime":
            if source == A.EDM_DATETIMEOFFSET:
                return BLiteral(value.astimezone(_UTC), edm.DATETIMEOFFSET, node.exact)
            if source == A.EDM_DATE:
                return BLiteral(_dt.datetime(value.year, value.month, value.day, tzinfo=_UTC), edm.DATETIMEOFFSET)
            if source == A.EDM_STRING:  # ContentDate/Start lt '2020-01-12T00:00:00.000000Z'
                parsed = parse_datetime_text(value)
                if parsed is None:
                    raise fail()
                fraction = _DATETIME_TEXT.match(value).group(7)
                return BLiteral(parsed, edm.DATETIMEOFFSET, bool(fraction and len(fraction) > 3))
            raise fail()
        if kind == "date":
            if source == A.EDM_DATE:
                return BLiteral(value, edm.DATE)
            if source == A.EDM_STRING:
                parsed = parse_datetime_text(value)
                if parsed is None or len(value.strip()) != 10:
                    raise fail()
                return BLiteral(parsed.date(), edm.DATE)
            raise fail()
        if kind == "time":
            if source == A.EDM_TIMEOFDAY:
                return BLiteral(value, edm.TIMEOFDAY)
            if source == A.EDM_STRING:
                parsed = _parse_time_text(value)
                if parsed is None:
                    raise fail()
                return BLiteral(parsed, edm.TIMEOFDAY)
            raise fail()
        if kind == "duration":
            if source == A.EDM_DURATION:
                return BLiteral(value, edm.DURATION)
            if source == A.EDM_STRING:
                parsed = _parse_duration_text(value)
                if parsed is None:
                    raise fail()
                return BLiteral(parsed, edm.DURATION)
            raise fail()
        if kind == "binary":
            if source == A.EDM_BINARY:
                return BLiteral(value, target)
            raise fail()
        if kind == "guid":
            if source == A.EDM_GUID:
                return BLiteral(value, edm.GUID)
            if source == A.EDM_STRING:
                try:
                    return BLiteral(uuid.UUID(value.strip()), edm.GUID)
                except ValueError:
                    raise fail() from None
            raise fail()
        raise fail()

    # -- paths ------------------------------------------------------------------------------

    def _bind_Path(self, node: A.Path, scope, hint=None) -> Bound:
        # A path's binding depends on its names, the entity type and model, the lambda variable
        # it may start with and (for an untyped attribute Value) the hint's kind; not on
        # positions, which only appear in errors. Successful bindings are memoised.
        parts = []
        for step in node.steps:
            cls = type(step)
            if cls is A.Member:
                parts.append(step.name)
            elif cls is A.Cast:
                parts.append((step.type_name,))
            else:
                return self._bind_path(node, scope, hint)
        first = node.steps[0]
        var = scope.get(first.name) if type(first) is A.Member else None
        if var is not None and var.outer_cast is not None and len(parts) > 1:  # a/<cast>/Value, a/IntegerValue
            cast = parts[1][0] if type(parts[1]) is tuple else _SEED_ATTRIBUTE_KEYS.get(parts[1].lower(), ("",))[0]
            if cast:
                self._variable_casts.setdefault(id(var), []).append(cast)
        key = (self.entity_type, self.model, var, getattr(hint, "kind", None), tuple(parts))
        bound = _paths.get(key)
        if bound is None:
            bound = self._bind_path(node, scope, hint)
            _remember(_paths, key, bound)
        return bound

    def _bind_path(self, node: A.Path, scope, hint=None) -> Bound:
        steps = list(node.steps)
        variable = None
        outer_cast = None
        first = steps[0]
        if isinstance(first, A.Variable):
            if first.name != "$it":
                raise _not_supported(f"{first.name} is not supported in $filter")
            steps.pop(0)
            current = self.entity_type
        elif isinstance(first, A.Member) and first.name in scope:
            var = scope[first.name]
            variable, current, outer_cast = var.name, var.item_type, var.outer_cast
            steps.pop(0)
        else:
            current = self.entity_type
        if not steps:
            if variable is not None and not isinstance(current, edm.StructuredType):
                return BProperty((), current, True, variable)  # a lambda over primitive values
            raise ODataTypeError(f"the path at position {node.pos} does not name a value", position=node.pos)
        if variable is not None and isinstance(current, edm.StructuredType) and current.is_derived_from(edm.ATTRIBUTE):
            steps = _seed_attribute_steps(steps)

        names = []
        cast_name = None  # set when a cast on the variable narrows its items
        nullable = False
        for index, step in enumerate(steps):
            last = index == len(steps) - 1
            if isinstance(step, A.Count) or (not last and isinstance(steps[index + 1], A.Count)
                                             and isinstance(step, A.Member) and self._counted(current, step)):
                counted = step if isinstance(step, A.Count) else steps[index + 1]
                raise _not_supported(f"$count in {self.option} paths is not supported (position {counted.pos})",
                                     target=self.option)
            if isinstance(step, A.Cast):
                target = _find_type(self.model, step.type_name)
                if target is None:
                    raise ODataNameError(f"unknown type '{step.type_name}' at position {step.pos}",
                                         name=step.type_name, position=step.pos)
                if not isinstance(current, edm.StructuredType):
                    raise ODataTypeError(f"cannot cast {_describe(current)} to {step.type_name} "
                                         f"(position {step.pos})", position=step.pos)
                if isinstance(target, edm.StructuredType) and target.is_derived_from(current):
                    if target is not current:
                        current = target
                        if variable is not None and not names:
                            cast_name = target.qualified_name
                    continue
                if isinstance(target, edm.StructuredType) and current.is_derived_from(target):
                    continue  # an up-cast is a no-op
                if (variable is not None and isinstance(target, edm.StructuredType)
                        and target.is_derived_from(edm.ATTRIBUTE) and not current.is_derived_from(edm.ATTRIBUTE)):
                    continue  # attribute casts on option items: a type hint (ODIP WorkflowOptions)
                if isinstance(target, edm.StructuredType) and variable is not None and outer_cast is not None \
                        and current is outer_cast and target.is_derived_from(edm.ATTRIBUTE):
                    continue
                raise ODataTypeError(f"cannot cast {_describe(current)} to {step.type_name} "
                                     f"(position {step.pos})", position=step.pos)
            # a member
            if not isinstance(current, edm.StructuredType):
                raise ODataTypeError(f"{_describe(current)} has no member '{step.name}' (position {step.pos})",
                                     position=step.pos)
            member = _find_member(current, step.name)
            if member is None and current.abstract and step.name.lower() == "value":
                # untyped attribute Value: the type comes from what it meets
                kind = getattr(hint, "kind", None) or "string"
                derived = _find_type(self.model, f"{edm.NAMESPACE}.{_ATTRIBUTE_BY_KIND.get(kind, 'StringAttribute')}")
                current = derived
                cast_name = derived.qualified_name
                member = _find_member(derived, "Value")
            if member is None:
                where = "the lambda variable" if variable and variable != ITEM_VARIABLE else current.name
                raise ODataNameError(f"unknown property '{step.name}' of {where} at position {step.pos}",
                                     name=step.name, position=step.pos)
            if isinstance(member, edm.NavigationProperty):
                if not member.collection:
                    raise _not_supported(f"navigation property '{member.name}' cannot be used in {self.option} "
                                         f"(position {step.pos})", target=self.option)
                raise ODataTypeError(f"navigation property '{member.name}' can only be used with any/all "
                                     f"(position {step.pos})", position=step.pos)
            if not member.filterable:
                raise ODataError(f"property '{member.name}' cannot be used in {self.option} (position {step.pos})",
                                 target=self.option)
            if member.geo_only:
                raise ODataTypeError(f"'{member.name}' can only be used in OData.CSC.Intersects "
                                     f"(position {step.pos})", position=step.pos)
            if member.collection:
                raise ODataTypeError(f"collection '{member.name}' can only be used with any/all "
                                     f"(position {step.pos})", position=step.pos)
            names.append(member.alias_of or member.name)
            nullable = nullable or member.nullable
            current = member.type
            if current is edm.TIME_RANGE and last and variable is not None:
                # ESA's on-demand requests: InputProductReference/any(att:att/ContentDate gt <date>)
                # compares the period; it means its Start (docs/query-semantics.md).
                names.append("Start")
                current = edm.DATETIMEOFFSET
                continue
            if isinstance(current, edm.StructuredType) and last:
                raise ODataTypeError(f"'{'/'.join(names)}' is a structured value; name one of its "
                                     f"properties (position {node.pos})", position=node.pos)
        return BProperty(tuple(names), current, nullable or cast_name is not None, variable,
                         cast_name if variable is not None else None)

    # -- lambdas ----------------------------------------------------------------------------

    def _bind_Lambda(self, node: A.Lambda, scope, hint=None) -> Bound:
        steps = list(node.collection.steps)
        if isinstance(steps[0], A.Variable) and steps[0].name == "$it":
            steps.pop(0)
        if steps and isinstance(steps[0], A.Member) and steps[0].name in scope:
            raise _not_supported(f"nested lambdas over a lambda variable are not supported "
                                 f"(position {node.pos})")
        # the collection's resolution depends on its names only (memoised when it succeeds)
        parts = []
        for step in steps:
            cls = type(step)
            if cls is A.Member:
                parts.append(step.name)
            elif cls is A.Cast:
                parts.append((step.type_name,))
            else:
                parts = None
                break
        key = (self.entity_type, self.model, tuple(parts)) if parts is not None else None
        resolved = _collections.get(key) if key is not None else None
        if resolved is None:
            resolved = self._lambda_collection(node, steps)
            if key is not None:
                _remember(_collections, key, resolved)
        names, cast, item_type, single = resolved
        if node.predicate is None:
            if node.kind != "any":
                raise ODataTypeError("all() needs a predicate", position=node.pos)
            return BLambda("any", names, cast.qualified_name if cast else None, None, None, single)
        variable = _Var(node.variable, item_type, cast)

        def over(var: _Var) -> BLambda:
            # a scope of its own: bound function arguments are remembered by the scope's identity
            return BLambda(node.kind, names, var.outer_cast.qualified_name if var.outer_cast else None, node.variable,
                           self.predicate(node.predicate, {**scope, node.variable: var}), single)

        if node.kind != "any" or cast is None:
            return over(variable)
        refusal = None
        try:
            first = over(variable)
        except ODataTypeError as exc:  # (the casts after the error were not met: look for them in the text)
            first, refusal, others = None, exc, self._other_casts(node, cast)
        else:
            others = self._other_casts(node, cast, self._variable_casts.pop(id(variable), ()))
        if not others:
            if first is None:
                raise refusal
            return first
        # Mismatched casts (docs/query-semantics.md, rule 3): an item of either type may match,
        # its value compared as its own type; a type for which the predicate does not bind takes
        # no item (none binds: the first one's error). CDSE's users cast the collection to String
        # and the value to Integer (Attributes/OData.CSC.StringAttribute/any(a: ... and
        # a/OData.CSC.IntegerAttribute/Value eq 15)), eodag's cop_dataspace provider the other way round.
        self._cast_nodes += _tree_shape(node.predicate)[0] * len(others)
        if self._cast_nodes > MAX_CAST_NODES:
            raise ODataLimitError(f"Invalid {self.option}: the lambdas of mismatched attribute casts expand to more "
                                  f"than {MAX_CAST_NODES:,} nodes", position=node.pos, target=self.option)
        alternatives = [first] if first is not None else []
        for item in others:
            try:
                alternatives.append(over(_Var(node.variable, item, item)))
            except ODataTypeError as exc:
                refusal = refusal or exc
        if not alternatives:
            raise refusal
        return alternatives[0] if len(alternatives) == 1 else BOr(tuple(alternatives))

    def _other_casts(self, node: A.Lambda, cast: edm.StructuredType, written: Optional[Sequence[str]] = None) -> list:
        """The attribute types other than the collection's ``cast`` that the lambda's predicate
        casts its variable to (``a/OData.CSC.IntegerAttribute/Value``, a seed key
        ``a/IntegerValue``), in the order met; none for items that are no attributes.
        ``written``: the casts its paths were bound with (a seed key's type name unqualified),
        else the predicate's text is searched."""
        if not cast.is_derived_from(edm.ATTRIBUTE):
            return []
        if written is not None:
            found = []
            for name in written:
                target = _find_type(self.model, name if "." in name else f"{edm.NAMESPACE}.{name}")
                if (isinstance(target, edm.StructuredType) and target is not cast and not target.abstract
                        and target.is_derived_from(edm.ATTRIBUTE) and target not in found):
                    found.append(target)
            return found
        found: list = []
        stack, aliases = [node.predicate], set()
        while stack:
            current = stack.pop()
            if isinstance(current, A.ParameterAlias):  # its value is read in its place
                if current.name in self.aliases and current.name not in aliases:
                    aliases.add(current.name)
                    stack.append(self.aliases[current.name])
                continue
            if isinstance(current, A.Lambda) and current.variable == node.variable:
                stack.append(current.collection)  # inside, a variable of the same name is another one
                continue
            steps = current.steps if isinstance(current, A.Path) else ()
            if len(steps) > 1 and isinstance(steps[0], A.Member) and steps[0].name == node.variable:
                step = _seed_attribute_steps(list(steps[1:]))[0]
                target = _find_type(self.model, step.type_name) if isinstance(step, A.Cast) else None
                if (isinstance(target, edm.StructuredType) and target is not cast and not target.abstract
                        and target.is_derived_from(edm.ATTRIBUTE) and target not in found):
                    found.append(target)
            stack.extend(reversed(current.children()))
        return found

    def _lambda_collection(self, node: A.Lambda, steps):
        """``(canonical names, cast type or None, item type, single)`` of a lambda's collection."""
        current = self.entity_type
        names = []
        cast = None
        item_type = None
        single = False
        for index, step in enumerate(steps):
            if isinstance(step, A.Cast):
                if item_type is None:
                    raise ODataTypeError(f"cast {step.type_name} before a collection (position {step.pos})",
                                         position=step.pos)
                target = _find_type(self.model, step.type_name)
                if target is None:
                    raise ODataNameError(f"unknown type '{step.type_name}' at position {step.pos}",
                                         name=step.type_name, position=step.pos)
                if isinstance(target, edm.StructuredType) and target.is_derived_from(item_type):
                    if target is not item_type:
                        cast = target
                    item_type = target
                    continue
                if (isinstance(target, edm.StructuredType) and target.is_derived_from(edm.ATTRIBUTE)
                        and isinstance(item_type, edm.StructuredType) and not item_type.is_derived_from(edm.ATTRIBUTE)):
                    continue  # type hint on non-attribute items
                raise ODataTypeError(f"cannot cast the items of '{'/'.join(names)}' to {step.type_name} "
                                     f"(position {step.pos})", position=step.pos)
            if not isinstance(step, A.Member):
                raise ODataTypeError(f"unexpected step in a lambda collection path (position {step.pos})",
                                     position=step.pos)
            if item_type is not None:
                raise _not_supported(f"paths below a collection are not supported (position {step.pos})")
            if not isinstance(current, edm.StructuredType):
                raise ODataTypeError(f"{_describe(current)} has no member '{step.name}'", position=step.pos)
            member = _find_member(current, step.name)
            if member is None:
                raise ODataNameError(f"unknown property '{step.name}' of {current.name} at position {step.pos}",
                                     name=step.name, position=step.pos)
            if not member.filterable:
                raise ODataError(f"property '{member.name}' cannot be used in {self.option} (position {step.pos})",
                                 target=self.option)
            names.append(getattr(member, "alias_of", None) or member.name)
            if isinstance(member, edm.NavigationProperty):
                if not member.collection:
                    raise _not_supported(f"lambdas over single navigation '{member.name}' are not supported")
                item_type = self.model.navigation_target(member)
            elif member.collection:
                item_type = member.type
            elif isinstance(member.type, edm.ComplexType):
                if index == len(steps) - 1:
                    item_type = member.type
                    single = True  # InputProductReference/any(att: att/Reference eq 'x')
                else:
                    current = member.type
            else:
                raise ODataTypeError(f"'{member.name}' is not a collection (position {step.pos})",
                                     position=step.pos)
        if item_type is None:
            raise ODataTypeError(f"the path before {node.kind} at position {node.pos} is not a collection",
                                 position=node.pos)
        return tuple(names), cast, item_type, single

    # -- logic ------------------------------------------------------------------------------

    def _bind_BoolOp(self, node: A.BoolOp, scope, hint=None) -> Bound:
        operands = []
        cls = BAnd if node.op == "and" else BOr
        for operand in node.operands:
            bound = self.predicate(operand, scope)
            if isinstance(bound, cls):
                operands.extend(bound.operands)
            else:
                operands.append(bound)
        return cls(tuple(operands))

    def _bind_Not(self, node: A.Not, scope, hint=None) -> Bound:
        return BNot(self.predicate(node.operand, scope))

    # -- comparisons ------------------------------------------------------------------------

    @staticmethod
    def _is_literal(node) -> bool:
        return isinstance(node, _LITERAL_NODES)

    def _natural_type(self, node):
        if isinstance(node, A.Literal):
            return _LITERAL_TYPES.get(node.edm_type)
        if isinstance(node, A.EnumLiteral):
            return _find_type(self.model, node.type_name)
        return None

    def _pair(self, left_node, right_node, scope) -> Tuple[Bound, Bound]:
        """Bind two operands that meet; literals take the other side's type."""
        left_lit, right_lit = isinstance(left_node, _LITERAL_NODES), isinstance(right_node, _LITERAL_NODES)
        if left_lit and not right_lit:
            right = self.expr(right_node, scope, self._natural_type(left_node))
            return self.coerce(left_node, right.type) if right.type is not None else self.expr(left_node, scope), right
        if right_lit and not left_lit:
            left = self.expr(left_node, scope, self._natural_type(right_node))
            return left, self.coerce(right_node, left.type) if left.type is not None else self.expr(right_node, scope)
        if left_lit and right_lit:
            left = self.expr(left_node, scope)
            right = self.expr(right_node, scope)
            if isinstance(left, BNull) and right.type is not None:
                left = BNull(right.type)
            if isinstance(right, BNull) and left.type is not None:
                right = BNull(left.type)
            return left, right
        left = self.expr(left_node, scope)
        right = self.expr(right_node, scope, left.type)
        return left, right

    def _check_comparable(self, op: str, left: Bound, right: Bound, pos: int) -> None:
        lt, rt = left.type, right.type
        if lt is None or rt is None:
            return
        ok = (lt.is_numeric and rt.is_numeric) or (lt.kind == rt.kind and lt.kind not in ("complex", "entity"))
        if ok and lt.kind == "enum" and lt is not rt:
            ok = False
        if not ok:
            raise ODataTypeError(f"cannot compare {_describe(lt)} with {_describe(rt)} (position {pos})",
                                 position=pos)
        if op not in ("eq", "ne") and lt.kind in ("boolean", "enum", "guid", "geo", "binary"):
            raise ODataTypeError(f"'{op}' is not defined for {_describe(lt)} (position {pos}); use eq or ne",
                                 position=pos)

    def _bind_Compare(self, node: A.Compare, scope, hint=None) -> Bound:
        untyped = self._untyped_value_compare(node.op, node.left, node.right, scope, node.pos)
        if untyped is not None:
            return untyped
        self._check_option_value(node.op, node.left, node.right, scope, node.pos)
        left, right = self._pair(node.left, node.right, scope)
        self._check_comparable(node.op, left, right, node.pos)
        op = node.op
        if isinstance(left, (BLiteral, BNull)) and not isinstance(right, (BLiteral, BNull)):
            left, right, op = right, left, _FLIP[op]
        return _millisecond_compare(op, left, right)

    def _bind_In(self, node: A.In, scope, hint=None) -> Bound:
        node = dataclasses.replace(node, items=self._in_items(node.items, scope))
        if not all(self._is_literal(item) for item in node.items):
            raise _not_supported(f"'in' needs a list of literals (position {node.pos})", target=self.option)
        if node.items and self._is_untyped_value(node.operand, scope):
            # x in (a, b) is x eq a or x eq b (OData), each by the "no cast" rule; a list of
            # items that each meet one type stays an IN (the product_type shortcut reads it)
            joined = [self._untyped_value_compare("eq", node.operand, item, scope, node.pos) for item in node.items]
            if any(j is not None for j in joined):
                return BOr(tuple(j if j is not None else
                                 self._bind_Compare(A.Compare("eq", node.operand, item, pos=node.pos), scope)
                                 for j, item in zip(joined, node.items)))
        natural = self._natural_type(node.items[0]) if node.items else None
        operand = self.expr(node.operand, scope, natural)
        if operand.type is None:
            raise ODataTypeError(f"'in' needs a typed operand (position {node.pos})", position=node.pos)
        items = tuple(self.coerce(item, operand.type) for item in node.items)
        for item in items:
            self._check_comparable("eq", operand, item, node.pos)
        equals = [_millisecond_compare("eq", operand, item) for item in items]
        if any(not (isinstance(equal, BCompare) and equal.op == "eq") for equal in equals):  # a whole millisecond
            return BOr(tuple(equals))
        return BIn(operand, items)

    def _in_items(self, items, scope) -> tuple:
        """The items of an ``in`` list with each parameter alias replaced by its value
        (``ContentLength in (@a, 1451)``), and a list given as one alias, ``in @l`` with
        ``@l=[1450,1451]`` (a JSON array, OData 4.01 Part 2, 5.1.1.1.12), as its items."""
        resolved = []
        for item in items:
            value, seen = item, set()
            while isinstance(value, A.ParameterAlias):  # (an alias of an alias: each expansion counts)
                if value.name not in self.aliases:
                    raise ODataNameError(f"parameter alias '@{value.name}' has no value", name=value.name,
                                         position=value.pos)
                if value.name in seen:
                    raise ODataNameError(f"parameter alias '@{value.name}' refers to itself", name=value.name,
                                         position=value.pos)
                seen.add(value.name)
                self._charge_alias(value)
                value = self.aliases[value.name]
            if isinstance(value, A.ListExpr) and len(items) == 1:
                resolved.extend(value.items)
            else:
                resolved.append(value)
        return tuple(resolved)

    def _check_option_value(self, op: str, left_node, right_node, scope, pos) -> None:
        """ODIP ``WorkflowOptions`` values are text as the order gave them (rule 6 of
        docs/query-semantics.md). A comparison that would order a number as text is refused
        (contract section 6: converted or a 400, never a wrong answer): ``gt``/``ge``/``lt``/``le``
        with a number (a parameter alias's too), or under an Integer or Double attribute cast
        (``'7' gt '10'`` as text). ``eq``/``ne``/``in`` with a number compare its text as
        written (``7``, ``0.5``)."""
        written = op
        left_node, right_node = self._alias_value(left_node), self._alias_value(right_node)
        if self._is_literal(left_node):
            left_node, right_node, op = right_node, left_node, _FLIP[op]
        if op not in ("gt", "ge", "lt", "le") or not (
                self._is_option_value(left_node, scope) and self._is_literal(right_node)):
            return
        number = isinstance(right_node, A.Literal) and right_node.edm_type in (A.EDM_INT64, A.EDM_DECIMAL, A.EDM_DOUBLE)
        numeric_cast = any(type(step) is A.Cast and step.type_name.rsplit(".", 1)[-1] in ("IntegerAttribute", "DoubleAttribute")
                           for step in left_node.steps)
        if number or numeric_cast:
            raise ODataTypeError(
                f"WorkflowOptions values are text: '{written}' would compare them as text, not as numbers "
                f"(position {pos}); compare an option's Value with eq, ne or in", position=pos)

    def _alias_value(self, node):
        """The expression a parameter alias stands for (``node`` itself otherwise)."""
        for _ in range(8):  # (an alias of an alias; one that refers to itself is bound's error)
            if not isinstance(node, A.ParameterAlias) or node.name not in self.aliases:
                break
            node = self.aliases[node.name]
        return node

    @staticmethod
    def _value_item_type(node, scope, *, casts: bool):
        """The item type of the lambda variable whose ``Value`` ``node`` is (``a/Value``; with
        ``casts``, ``a/<casts>/Value`` too), else None."""
        if type(node) is not A.Path or len(node.steps) < 2 or (not casts and len(node.steps) != 2):
            return None
        first, last = node.steps[0], node.steps[-1]
        if type(first) is not A.Member or type(last) is not A.Member or last.name.lower() != "value":
            return None
        variable = scope.get(first.name)
        return variable.item_type if variable is not None else None

    def _is_option_value(self, node, scope) -> bool:
        """``att/Value`` (any casts between) of a lambda variable over ODIP ``WorkflowOptions``."""
        return self._value_item_type(node, scope, casts=True) is edm.ORDER_OPTION

    def _is_untyped_value(self, node, scope) -> bool:
        """``a/Value`` of a lambda variable over attributes without a cast (rule 4 of
        docs/query-semantics.md): its type comes from what it meets."""
        item = self._value_item_type(node, scope, casts=False)
        return isinstance(item, edm.StructuredType) and item.abstract and _find_member(item, "Value") is None

    @staticmethod
    def _untyped_kinds(literal) -> tuple:
        """The typed attribute Values (as hints) an untyped ``Value`` compared with ``literal``
        may be: a number is an Integer or a Double attribute's; a string a String attribute's,
        or, converted, a number's, a Boolean's or a date-time's (those it converts to); null any
        of them. One kind: the hint of :meth:`_bind_path` alone, as before."""
        if isinstance(literal, A.Null):
            return _UNTYPED_ALL
        if isinstance(literal, A.Literal):
            return _UNTYPED_KINDS.get(literal.edm_type, ())
        return ()

    def _untyped_value_compare(self, op: str, left_node, right_node, scope, pos) -> Optional[Bound]:
        """An untyped attribute ``Value`` compared with a literal that more than one attribute
        type can hold: the comparison with each typed Value the literal converts to, joined so
        that no item of another type is silently left out (contract section 6): ``eq``, ``gt``...
        any of them; ``ne`` none of the ``eq``; ``eq null`` no value of any type, ``ne null`` a
        value of some type. None: not such a comparison (bound as before)."""
        if self._is_literal(left_node) and self._is_untyped_value(right_node, scope):
            op, left_node, right_node = _FLIP[op], right_node, left_node
        elif not (self._is_literal(right_node) and self._is_untyped_value(left_node, scope)):
            return None
        kinds = self._untyped_kinds(right_node)
        if len(kinds) < 2:
            return None
        null = isinstance(right_node, A.Null)
        if null and op not in ("eq", "ne"):
            return None
        parts = []
        for kind in kinds:
            left = self.expr(left_node, scope, kind)
            try:
                right = self.coerce(right_node, left.type)
                self._check_comparable(op, left, right, pos)
            except ODataTypeError:
                continue  # the literal does not convert to this type: no item of it matches
            parts.append(BCompare(op, left, right) if null else _millisecond_compare("eq" if op == "ne" else op, left, right))
        if null:  # (null converts to every type)
            return (BAnd if op == "eq" else BOr)(tuple(parts))
        if len(parts) < 2:
            return None  # one type (a string that spells nothing else): the hint's binding, as before
        return BNot(BOr(tuple(parts))) if op == "ne" else BOr(tuple(parts))

    def _bind_Has(self, node: A.Has, scope, hint=None) -> Bound:
        operand = self.expr(node.operand, scope)
        if not isinstance(operand.type, edm.EnumType):
            raise ODataTypeError(f"'has' needs an enumeration on its left (position {node.pos})", position=node.pos)
        if not self._is_literal(node.flag):
            raise ODataTypeError(f"'has' needs an enumeration literal (position {node.flag.pos})",
                                 position=node.flag.pos)
        flag = self.coerce(node.flag, operand.type)
        # our enumerations are not flag enumerations: 'has' is equality
        return BCompare("eq", operand, flag)

    # -- arithmetic -------------------------------------------------------------------------

    def _bind_Arith(self, node: A.Arith, scope, hint=None) -> Bound:
        left, right = self._arith_pair(node, scope)
        lt, rt = left.type, right.type
        op = node.op
        pos = node.pos
        nullable = left.nullable or right.nullable
        if lt is None or rt is None:
            raise ODataTypeError(f"arithmetic with null (position {pos})", position=pos)
        if lt.is_numeric and rt.is_numeric:
            if op in ("div", "divby", "mod") and isinstance(right, BLiteral) and right.value == 0:
                raise ODataTypeError(f"division by zero (position {pos})", position=pos)
            if op == "mod" and not (lt.kind == rt.kind == "integer"):
                raise ODataTypeError(f"'mod' needs integer operands (position {pos})", position=pos)
            if op == "divby":
                result = edm.DOUBLE
            else:
                result = edm.INT64 if lt.kind == rt.kind == "integer" else edm.DOUBLE
            if op in ("div", "divby", "mod"):
                nullable = True  # a zero divisor gives null
            return BArith(op, left, right, result, nullable)
        if op in ("add", "sub"):
            if lt.kind == "datetime" and rt.kind == "duration":
                return BArith(op, left, right, edm.DATETIMEOFFSET, nullable)
            if op == "add" and lt.kind == "duration" and rt.kind == "datetime":
                return BArith(op, right, left, edm.DATETIMEOFFSET, nullable)
            if op == "sub" and lt.kind == "datetime" and rt.kind == "datetime":
                return BArith(op, left, right, edm.DURATION, nullable)
            if lt.kind == rt.kind == "duration":
                return BArith(op, left, right, edm.DURATION, nullable)
        raise ODataTypeError(f"operator '{op}' is not defined for {_describe(lt)} and {_describe(rt)} "
                             f"(position {pos})", position=pos)

    def _arith_pair(self, node: A.Arith, scope) -> Tuple[Bound, Bound]:
        left_lit, right_lit = self._is_literal(node.left), self._is_literal(node.right)
        if left_lit and not right_lit:
            right = self.expr(node.right, scope, self._natural_type(node.left))
            return self._arith_literal(node.left, right.type), right
        if right_lit and not left_lit:
            left = self.expr(node.left, scope, self._natural_type(node.right))
            return left, self._arith_literal(node.right, left.type)
        return self.expr(node.left, scope), self.expr(node.right, scope)

    def _arith_literal(self, node, other_type) -> Bound:
        if isinstance(node, A.Null):
            return BNull(other_type)
        if not isinstance(node, A.Literal):  # an enumeration member: bound as itself, refused by the operator
            return self.expr(node, {})
        if other_type is not None and other_type.is_numeric:
            return self.coerce(node, edm.DOUBLE if node.edm_type != A.EDM_INT64 else edm.INT64) \
                if node.edm_type in (A.EDM_STRING, A.EDM_INT64, A.EDM_DECIMAL, A.EDM_DOUBLE) else self.expr(node, {})
        if other_type is not None and other_type.kind in ("datetime", "duration") and node.edm_type == A.EDM_STRING:
            text = node.value
            target = edm.DURATION if _parse_duration_text(text) is not None else edm.DATETIMEOFFSET
            return self.coerce(node, target)
        return self.expr(node, {})

    def _bind_Negate(self, node: A.Negate, scope, hint=None) -> Bound:
        operand = self.expr(node.operand, scope, hint)
        if operand.type is None or not (operand.type.is_numeric or operand.type.kind == "duration"):
            raise ODataTypeError(f"cannot negate {_describe(operand.type)} (position {node.pos})", position=node.pos)
        return BNegate(operand, operand.type, operand.nullable)

    # -- functions --------------------------------------------------------------------------

    def _bind_Call(self, node: A.Call, scope, hint=None) -> Bound:
        if node.name.lower() in INTERSECTS_NAMES:
            return self._bind_intersects(node, scope)
        signature = lookup_function(node.name)
        if signature is None and node.name.lower() in A.BUILTIN_FUNCTIONS:  # OData's, not implemented here
            raise _not_supported(f"the function '{node.name}' is not supported (position {node.pos}); "
                                 f"$metadata lists those that are (FilterFunctions)", target=self.option)
        if signature is None:
            raise ODataNameError(f"unknown function '{node.name}' at position {node.pos}", name=node.name,
                                 position=node.pos)
        if node.named_args:
            raise ODataTypeError(f"function '{node.name}' takes no named parameters (position {node.pos})",
                                 position=node.pos)
        overloads = [o for o in signature.overloads if len(o) == len(node.args)]
        if not overloads:
            raise ODataTypeError(
                f"function '{signature.name}' takes {' or '.join(map(str, signature.arities))} arguments, "
                f"got {len(node.args)} (position {node.pos})", position=node.pos)
        computed = signature.name == "substring" and not all(_is_literal_node(arg) for arg in node.args[1:])
        if computed:
            if self._substrings >= MAX_NESTED_SUBSTRINGS:
                raise ODataLimitError(f"Invalid {self.option}: substring calls with a computed start or length "
                                      f"nested more than {MAX_NESTED_SUBSTRINGS} deep", position=node.pos,
                                      target=self.option)
            self._substrings += 1
        try:
            return self._bind_overloads(node, scope, signature, overloads)
        finally:
            if computed:
                self._substrings -= 1

    def _bind_overloads(self, node: A.Call, scope, signature, overloads) -> Bound:
        last_error = None
        for kinds in overloads:
            try:
                args = tuple(self._bind_argument(arg, kind, scope, signature.name)
                             for arg, kind in zip(node.args, kinds))
            except ODataTypeError as exc:
                last_error = exc
                continue
            nullable = any(arg.nullable for arg in args)
            if signature.name == "now":
                nullable = False
            if signature.returns is edm.BOOLEAN:
                nullable = False  # predicates are two-valued (null arguments give false)
            if signature.name == "matchespattern":
                _check_pattern(args[1], node.args[1])
            return BCall(signature.name, args, signature.returns, nullable)
        raise last_error

    _KIND_TYPES = {"string": edm.STRING, "integer": edm.INT64, "datetime": edm.DATETIMEOFFSET,
                   "date": edm.DATE, "time": edm.TIMEOFDAY}

    def _bind_argument(self, node, kind: str, scope, function: str) -> Bound:
        target = self._KIND_TYPES[kind]
        if self._is_literal(node):
            if isinstance(node, A.Null):
                return BNull(target)
            if kind in ("datetime", "date", "time") and isinstance(node, A.Literal) \
                    and node.edm_type != _type_to_literal(target):
                raise ODataTypeError(f"function '{function}' needs {target.name} here (position {node.pos})",
                                     position=node.pos)
            bound = self.coerce(node, target)
            if bound.type.kind != target.kind:  # substring(Name, 1.5): a number, but not a whole one
                raise ODataTypeError(f"function '{function}' needs {target.name} here, got {_literal_text(node)} "
                                     f"(position {node.pos})", position=node.pos)
            return bound
        bound = self._argument_expr(node, scope, target)
        t = bound.type
        if t is None or t.kind != kind:
            raise ODataTypeError(
                f"function '{function}' needs {target.name} here, got {_describe(t)} (position {node.pos})",
                position=node.pos)
        return bound

    def _argument_expr(self, node, scope, target) -> Bound:
        """``self.expr(node, scope, target)``, once per node, scope and target: a function with
        overloads of one arity (``year`` of a DateTimeOffset or a Date) binds its argument again
        for each, and calls nested in each other multiplied that (``year(year(...(Name)))``:
        2**18 bindings for 18 levels, 7 s). The outcome, a bound tree or the error, is kept with
        the node and the scope (so that their ids are not reused while it is kept)."""
        key = (id(node), id(scope), target)
        kept = self._arguments.get(key)
        if kept is None:
            try:
                outcome = self.expr(node, scope, target)
            except ODataError as exc:
                outcome = exc
            kept = self._arguments[key] = (node, scope, outcome)
        outcome = kept[2]
        if isinstance(outcome, ODataError):
            raise outcome
        return outcome

    def _bind_intersects(self, node: A.Call, scope) -> Bound:
        location_node = None
        area_node = None
        if node.args:
            if len(node.args) != 2 or node.named_args:
                raise ODataTypeError(f"{node.name} needs a location and an area (position {node.pos})",
                                     position=node.pos)
            location_node, area_node = node.args
        else:
            for key, value in node.named_args:
                lowered = key.lower()
                member = None if lowered in ("area", "location", "geo") else self.entity_type.find_member(key)
                if member is not None and getattr(member, "geo_only", False):
                    given = ("location", "area")  # Footprint=<area>: both
                elif lowered in ("area", "location", "geo"):
                    given = ("area",) if lowered == "area" else ("location",)
                else:
                    raise ODataNameError(f"unknown parameter '{key}' of {node.name} (position {node.pos})",
                                         name=key, position=node.pos)
                if any((area_node if name == "area" else location_node) is not None for name in given):
                    raise ODataTypeError(f"{node.name} is given its {' and '.join(given)} twice (position {value.pos})",
                                         position=value.pos)
                if member is not None:
                    location_node = A.Path((A.Member(member.name, pos=value.pos),), pos=value.pos)
                if "area" in given:
                    area_node = value
                else:
                    location_node = value
        if area_node is None:
            raise ODataTypeError(f"{node.name} needs an area (position {node.pos})", position=node.pos)
        location_node, area_node = self._alias_value(location_node), self._alias_value(area_node)
        if isinstance(location_node, A.Literal) and not isinstance(area_node, A.Literal):
            location_node, area_node = area_node, location_node
        location = self._geo_location(location_node, node)
        if not isinstance(area_node, A.Literal) or area_node.edm_type not in (
                A.EDM_GEOGRAPHY, A.EDM_GEOMETRY, A.EDM_STRING):
            raise ODataTypeError(f"the area of {node.name} must be a geography literal (position {area_node.pos})",
                                 position=area_node.pos)
        geometry, _srid = parse_geography(area_node.value, area_node.srid)
        return BIntersects(location, format_wkt(geometry))

    def _geo_location(self, location_node, node) -> BProperty:
        if location_node is None:
            for prop in self.entity_type.all_properties():
                if prop.geo_only and not prop.alias_of:
                    return BProperty((prop.name,), prop.type, True)
            raise ODataNameError(f"{self.entity_type.name} has no footprint for {node.name} (position {node.pos})",
                                 name=node.name, position=node.pos)
        if not isinstance(location_node, A.Path) or len(location_node.steps) != 1 \
                or not isinstance(location_node.steps[0], A.Member):
            raise ODataTypeError(f"the location of {node.name} must be a footprint property (position "
                                 f"{location_node.pos})", position=location_node.pos)
        name = location_node.steps[0].name
        member = self.entity_type.find_member(name)
        if member is None:
            raise ODataNameError(f"unknown property '{name}' at position {location_node.pos}", name=name,
                                 position=location_node.pos)
        if not getattr(member, "geo_only", False):
            raise ODataTypeError(f"'{member.name}' is not a footprint (position {location_node.pos})",
                                 position=location_node.pos)
        return BProperty((member.name,), member.type, True)

    def _bind_ListExpr(self, node, scope, hint=None):
        raise _not_supported(f"a list is only allowed after 'in' (position {node.pos})")


_BIND_METHODS = {getattr(A, name[len("_bind_"):]): getattr(_Binder, name) for name in dir(_Binder)
                 if name.startswith("_bind_") and isinstance(getattr(A, name[len("_bind_"):], None), type)
                 and not issubclass(getattr(A, name[len("_bind_"):]), A.ParameterAlias)}


def _type_to_literal(t) -> str:
    return {edm.DATETIMEOFFSET: A.EDM_DATETIMEOFFSET, edm.DATE: A.EDM_DATE,
            edm.TIMEOFDAY: A.EDM_TIMEOFDAY}.get(t, "")


def _model_of(entity_type: edm.EntityType, model: Optional[edm.EntityModel]) -> edm.EntityModel:
    if model is not None:
        return model
    found = _models.get(entity_type)
    if found is None:
        found = _find_model(entity_type)
        if len(_models) >= _LOOKUP_LIMIT:
            _models.clear()
        _models[entity_type] = found
    return found


def _find_model(entity_type: edm.EntityType) -> edm.EntityModel:
    for candidate in (edm.PRIP_MODEL, edm.ODIP_MODEL):
        if any(s.entity_type is entity_type for s in candidate.entity_sets):
            return candidate
    # a model made of the entity type alone (embedding applications)
    types = [entity_type]
    return edm.EntityModel(entity_type.name, (edm.EntitySet(entity_type.name, entity_type),), tuple(types))


def bind_filter(node: A.Expr, entity_type: edm.EntityType, *, model: Optional[edm.EntityModel] = None,
                aliases: Optional[Mapping[str, A.Expr]] = None) -> Bound:
    """Bind a parsed ``$filter`` expression to ``entity_type``; returns a bound predicate.

    ``model`` is the entity model the type belongs to (found automatically for the PRIP and
    ODIP types); it resolves casts and enumeration type names. ``aliases`` maps parameter alias
    names (without ``@``) to parsed expressions. Raises :class:`ODataError` subclasses naming
    the offending name or literal and its position.
    """
    binder = _Binder(entity_type, _model_of(entity_type, model), aliases)
    return binder.predicate(node, {})


#: The variable that :func:`bind_item_filter` and :func:`bind_item_orderby` read an item through
#: (not an OData identifier, so no name of a request's can meet it).
ITEM_VARIABLE = "$item"


def _through_item(node, it_is_item: bool = False):
    """``node`` with every path read from :data:`ITEM_VARIABLE`: a nested option's expression
    as the body of a lambda over the items. ``$it`` is the item itself with ``it_is_item`` (on
    the collection's own URL), else refused (nested in ``$expand`` it is the entity the
    collection belongs to: OData 4.01 Part 2, 5.1.1.12.4)."""
    if isinstance(node, A.Path):
        first = node.steps[0]
        if isinstance(first, A.Variable):
            if it_is_item and first.name == "$it":
                return dataclasses.replace(node, steps=(A.Member(ITEM_VARIABLE, pos=node.pos), *node.steps[1:]))
            where = "a filter of a collection's items" if it_is_item else "the options of an expanded collection"
            raise _not_supported(f"{first.name} is not supported in {where} (position {node.pos})",
                                 target="$filter")
        return dataclasses.replace(node, steps=(A.Member(ITEM_VARIABLE, pos=node.pos), *node.steps))
    if isinstance(node, A.Lambda):
        return dataclasses.replace(node, collection=_through_item(node.collection, it_is_item))
    if isinstance(node, tuple):
        return tuple(_through_item(item, it_is_item) for item in node)
    if not isinstance(node, A.Node):
        return node
    changes = {}
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, (A.Node, tuple)):
            changed = _through_item(value, it_is_item)
            if changed is not value:
                changes[field.name] = changed
    return dataclasses.replace(node, **changes) if changes else node


def _used_aliases(nodes, aliases: Mapping[str, A.Expr]) -> Dict[str, A.Expr]:
    """The aliases ``nodes`` use, and those the values of these use (each once: a cycle is the
    binder's to refuse)."""
    used: Dict[str, A.Expr] = {}
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, A.ParameterAlias):
            if node.name in aliases and node.name not in used:
                used[node.name] = aliases[node.name]
                pending.append(aliases[node.name])
            continue
        pending.extend(node.children())
    return used


def _item_binder(nodes, item_type, model, aliases, it_is_item: bool, option: str = "$filter") -> "_Binder":
    """The binder of an item's expressions ``nodes``: the value of a parameter alias they use is
    read through the item too (``Attributes?$filter=Name eq @n&@n=Name`` compares the attribute's
    Name with itself); an alias they do not use is left alone (the outer ``$filter``'s may read
    the product: ``@p=$it/Name``)."""
    aliases = {name: _through_item(value, it_is_item) for name, value in _used_aliases(nodes, aliases or {}).items()}
    return _Binder(item_type, _model_of(item_type, model), aliases, option=option)


def _item_scope(item_type: edm.StructuredType) -> Dict[str, _Var]:
    return {ITEM_VARIABLE: _Var(ITEM_VARIABLE, item_type, None)}


def bind_item_filter(node: A.Expr, item_type: edm.StructuredType, *, model: Optional[edm.EntityModel] = None,
                     aliases: Optional[Mapping[str, A.Expr]] = None, it_is_item: bool = False) -> Bound:
    """Bind a parsed ``$filter`` of the items of a collection of ``item_type``, as nested in
    ``$expand`` (``Products?$expand=Attributes($filter=Name eq 'cloudCover')``) or on the
    collection's own URL (``Products(<Id>)/Attributes?$filter=...``, ``it_is_item``: ``$it`` is
    the item there): as the predicate of a lambda over them (``Attributes/any(a: a/Name eq
    'cloudCover')``), every path read from :data:`ITEM_VARIABLE`, the parameter aliases' too, so
    that it means what it means there (an attribute's ``Value`` without a cast, a cast on it).
    Compile it with :func:`proseo_odata.odata.predicate.compile_item_predicate`."""
    binder = _item_binder([node], item_type, model, aliases, it_is_item)
    return binder.predicate(_through_item(node, it_is_item), _item_scope(item_type))


def bind_item_orderby(items, item_type: edm.StructuredType, *, model: Optional[edm.EntityModel] = None,
                      aliases: Optional[Mapping[str, A.Expr]] = None, it_is_item: bool = False
                      ) -> Tuple[BOrderItem, ...]:
    """:func:`bind_orderby` for the items of a collection of ``item_type`` (as
    :func:`bind_item_filter`): an attribute's ``Value`` must be cast to one of its typed forms
    (``OData.CSC.DoubleAttribute/Value``), since their values do not compare with one another.
    Sort with :func:`proseo_odata.odata.predicate.sort_key` and ``variable=ITEM_VARIABLE``."""
    model = _model_of(item_type, model)
    used = _used_aliases([item.expr for item in items], aliases or {})
    for item in items:
        for path in _paths_of(item.expr, used):
            names = [step for step in path.steps if isinstance(step, (A.Member, A.Cast))]
            if names and isinstance(names[-1], A.Member) and names[-1].name.lower() == "value" \
                    and item_type.find_member("Value") is None:  # declared by the derived types only
                cast = _find_type(model, names[-2].type_name) if len(names) > 1 and isinstance(names[-2], A.Cast) \
                    else None
                if not isinstance(cast, edm.StructuredType) or cast.abstract:
                    raise ODataTypeError(f"$orderby on an attribute's Value needs its type, for example "
                                         f"OData.CSC.DoubleAttribute/Value (position {path.pos})",
                                         position=path.pos, target="$orderby")
    try:
        binder = _item_binder([item.expr for item in items], item_type, model, aliases, it_is_item, "$orderby")
        return _bind_orderby([dataclasses.replace(item, expr=_through_item(item.expr, it_is_item)) for item in items],
                             item_type, model, scope=_item_scope(item_type), binder=binder)
    except ODataError as exc:
        if exc.target in (None, "$filter"):
            exc.target = "$orderby"
        raise


def _paths_of(node: A.Node, aliases: Mapping[str, A.Expr], seen=frozenset()):
    """The paths in ``node``, those in the values of the aliases it uses too."""
    if isinstance(node, A.Path):
        yield node
    if isinstance(node, A.ParameterAlias) and node.name in aliases and node.name not in seen:
        yield from _paths_of(aliases[node.name], aliases, seen | {node.name})
    for child in node.children():
        yield from _paths_of(child, aliases, seen)


def bind_orderby(items, entity_type: edm.EntityType, *, model: Optional[edm.EntityModel] = None
                 ) -> Tuple[BOrderItem, ...]:
    """Bind parsed ``$orderby`` items (:class:`~proseo_odata.odata.ast.OrderItem`) to ``entity_type``.

    Each expression must be a primitive value of a sortable property (or a function of them).
    Errors name ``$orderby`` as their target.
    """
    try:
        return _bind_orderby(items, entity_type, model)
    except ODataError as exc:
        if exc.target in (None, "$filter"):  # the binder's errors default to $filter
            exc.target = "$orderby"
        raise


def _bind_orderby(items, entity_type, model, scope=None, binder=None):
    binder = binder or _Binder(entity_type, _model_of(entity_type, model), option="$orderby")
    out = []
    for item in items:
        bound = binder.expr(item.expr, scope or {})
        if isinstance(bound, (BLiteral, BNull)) or bound.type is None:
            raise ODataTypeError(f"cannot order by a constant (position {item.expr.pos})",
                                 position=item.expr.pos, target="$orderby")
        for sub in walk(bound):
            if isinstance(sub, BProperty):
                prop = _find_property(entity_type, sub.path)
                if prop is not None and not prop.sortable:
                    raise ODataError(f"cannot order by '{'/'.join(sub.path)}'", target="$orderby")
        if isinstance(bound, BLambda):
            raise ODataTypeError("cannot order by a lambda", target="$orderby")
        out.append(BOrderItem(bound, item.descending))
    return tuple(out)


def _find_property(type_: edm.StructuredType, path):
    prop = None
    current = type_
    for name in path:
        if not isinstance(current, edm.StructuredType):
            return None
        prop = current.find_member(name)
        if prop is None or isinstance(prop, edm.NavigationProperty):
            return None
        current = prop.type
    return prop


def _check_pattern(pattern: Bound, node) -> None:
    """``matchesPattern``'s pattern, when a literal, must be a regular expression RE2 compiles
    (:mod:`proseo_odata.odata.regex`, which the SQLite and Python evaluations use, on every
    backend): a bad one is the client's error at bind time, not a failure at evaluation."""
    if isinstance(pattern, BLiteral) and isinstance(pattern.value, str):
        try:
            compile_pattern(pattern.value)
        except PatternError as exc:
            position = getattr(node, "pos", None)
            where = f" (position {position})" if position is not None else ""
            raise ODataTypeError(
                f"matchesPattern: {pattern.value!r} is not a valid regular expression (RE2 syntax: no "
                f"backreferences or look-around): {exc}{where}",
                position=position,
            ) from None
