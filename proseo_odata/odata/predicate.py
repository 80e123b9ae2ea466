"""Bound filter -> Python predicate: ``compile_predicate(bound)(obj) -> bool``.

This is the reference semantics of ``$filter`` (the SQL compiler must select exactly what this
selects; ``tests/odata/test_equivalence.py`` checks it) and what matches products against
subscriptions without a database round trip.

Objects are read through an :class:`Accessor`, so the same predicate works on plain dicts
(OData-JSON-shaped rows), on the domain dataclasses of :mod:`proseo_odata.model` (see
``proseo_odata.storage.mapping.DOMAIN_ACCESSOR``) or on an embedding application's objects.

Accessor protocol
-----------------
``get(obj, name) -> value``
    the value of the (canonical) EDM property or navigation property ``name`` of ``obj`` (an
    entity, a complex value or a collection item); ``None`` when absent. Collections are
    iterables of items; complex values are objects the accessor can read again.
``type_name(obj) -> str | None``
    the qualified type name of a collection item, used for casts
    (``'OData.CSC.IntegerAttribute'``).

:class:`DefaultAccessor` reads dict keys by EDM name and object attributes by EDM name or its
``snake_case`` form; it takes an item's type from ``'@odata.type'``, or from ``ValueType`` /
``value_type`` / ``type`` (``'Integer'`` -> ``OData.CSC.IntegerAttribute``).

Null semantics (OData URL conventions 5.1.1.1): a comparison with a null operand is false,
except ``eq`` (true when both are null) and ``ne`` (true when exactly one is null); functions of
null are null; a predicate function of null is false; ``not`` is the plain complement.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import enum
import operator
import re
import uuid
from collections.abc import Mapping
from typing import Any, Callable, Optional, Protocol

from . import edm
from .binding import ITEM_VARIABLE, BArith, BCall, BLiteral, BNegate, BNull, Bound, parse_datetime_text
from .errors import ODataTypeError
from .geo import intersects as geo_intersects, parse_geography
from .regex import PatternError, matches

__all__ = ["Accessor", "DefaultAccessor", "DEFAULT_ACCESSOR", "compile_predicate", "compile_value",
           "compile_item_predicate",
           "TRIM_CHARACTERS", "sort_key"]

_UTC = _dt.timezone.utc
#: Characters ``trim`` removes (the same set in SQL).
TRIM_CHARACTERS = " \t\n\r"


class Accessor(Protocol):
    def get(self, obj: Any, name: str) -> Any: ...

    def type_name(self, obj: Any) -> Optional[str]: ...


_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


class DefaultAccessor:
    """Reads mappings (dicts, SQLAlchemy's ``RowMapping``) by key and objects by attribute (EDM
    name, then snake_case)."""

    def __init__(self):
        self._snake = {}

    def get(self, obj, name):
        if obj is None:
            return None
        if isinstance(obj, dict):
            return obj.get(name)
        if isinstance(obj, Mapping):  # (after dict: the common case stays one isinstance)
            return obj.get(name)
        if hasattr(obj, name):
            return getattr(obj, name)
        snake = self._snake.get(name)
        if snake is None:
            snake = self._snake[name] = _SNAKE.sub("_", name).lower()
        return getattr(obj, snake, None)

    def type_name(self, obj):
        if isinstance(obj, Mapping):
            odata_type = obj.get("@odata.type")
            if odata_type:
                return odata_type.lstrip("#")
            value_type = obj.get("ValueType")
        else:
            value_type = getattr(obj, "value_type", None) or getattr(obj, "type", None)
        if value_type is None:
            return None
        if isinstance(value_type, enum.Enum):
            value_type = value_type.value
        return f"{edm.NAMESPACE}.{value_type}Attribute"


DEFAULT_ACCESSOR = DefaultAccessor()


# --------------------------------------------------------------------------------------------
# value normalisation (stored values come in several shapes)


def _as_datetime(value):
    if value is None or isinstance(value, _dt.datetime):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=_UTC)
        return value.astimezone(_UTC) if value is not None else None
    if isinstance(value, str):
        return parse_datetime_text(value)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_UTC)
    return value


def _as_uuid(value):
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _as_enum(value):
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _as_date(value):
    if isinstance(value, _dt.datetime):
        return _as_datetime(value).date()
    if isinstance(value, str):
        parsed = parse_datetime_text(value)
        return parsed.date() if parsed else None
    return value


def _normaliser(t) -> Optional[Callable[[Any], Any]]:
    kind = getattr(t, "kind", None)
    if kind == "datetime":
        return _as_datetime
    if kind == "guid":
        return _as_uuid
    if kind == "enum":
        return _as_enum
    if kind == "date":
        return _as_date
    if kind == "string":
        return _as_enum
    return None


# --------------------------------------------------------------------------------------------
# comparisons and arithmetic with null rules

_ORDER_OPS = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}


def _compare(op, a, b) -> bool:
    if a is None or b is None:
        if op == "eq":
            return a is None and b is None
        if op == "ne":
            return (a is None) != (b is None)
        return False
    if op == "eq":
        return a == b
    if op == "ne":
        return a != b
    return _ORDER_OPS[op](a, b)


def _int_div(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _int_mod(a, b):
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def _arith(op, a, b, result_type):
    if a is None or b is None:
        return None
    if (isinstance(a, decimal.Decimal) and isinstance(b, float)) or (isinstance(a, float) and isinstance(b, decimal.Decimal)):
        a, b = float(a), float(b)  # an Edm.Decimal value meets a double: doubles, as SQL computes them
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if b == 0:
        return None  # SQL: NULLIF(divisor, 0)
    if op == "mod":
        return _int_mod(a, b)
    if op == "div" and result_type.kind == "integer":
        return _int_div(a, b)
    return a / b


def fold_arith(op, a, b, result_type):
    """:func:`_arith` of two constants (literals, ``now()``, arithmetic of them), computed when
    the filter is compiled, as both compilers (SQL and Python) do: a result out of range is the
    client's 400 (``now() add duration'P9999999D'``: past year 9999; an integer outside
    Edm.Int64), not null on every row."""
    if a is None or b is None:
        return None
    try:
        return _int64(_arith(op, a, b, result_type), f"this '{op}'")
    except OverflowError:
        raise ODataTypeError(f"the value of this '{op}' is out of range") from None


def fold_negate(value):
    """The negation of a constant (``-duration'P1D'``, ``-(2 add 3)``), computed when the filter
    is compiled as :func:`fold_arith` is: out of range (``-(-9223372036854775807 sub 1)``) is
    the client's 400."""
    if value is None:
        return None
    try:
        return _int64(-value, "this negation")
    except OverflowError:  # -timedelta.min
        raise ODataTypeError("the value of this negation is out of range") from None


def _int64(result, what: str):
    """``result``, or the 400 of an integer outside Edm.Int64 (``what`` computed it)."""
    if isinstance(result, int) and not isinstance(result, bool) and not -(2**63) <= result < 2**63:
        raise ODataTypeError(f"the value of {what} is out of range for Edm.Int64")
    return result


#: :meth:`_Compiler._constant` of a node whose value depends on the row
_VARIES = object()


def _row_arith(op, a, b, result_type):
    """:func:`_arith` on a row's values: a date-time past year 9999 or before year 1 is null, as
    SQL gives it (a subscription's filter of EvictionDate add duration'P1D' stopped matching)."""
    try:
        return _arith(op, a, b, result_type)
    except OverflowError:
        return None


_NO_LENGTH = object()


def _substring(s, start, length=_NO_LENGTH):
    if s is None or start is None or length is None:  # substring(s, i, null) is null, as in SQL
        return None
    start = max(start, 0)
    if length is _NO_LENGTH:
        return s[start:]
    if length < 0:
        return None
    return s[start:start + length]


def _part(name):
    def extract(value):
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_datetime_text(value)
            if value is None:
                return None
        return getattr(value, name)

    return extract


def _time_of(value):
    if value is None:
        return None
    return _as_datetime(value).time()


def _date_of(value):
    if value is None:
        return None
    return _as_datetime(value).date()


def _none_safe(fn):
    def call(*args):
        if any(a is None for a in args):
            return None
        return fn(*args)

    return call


def _predicate_safe(fn):
    def call(*args):
        if any(a is None for a in args):
            return False
        return bool(fn(*args))

    return call


def _matches(s, pattern):
    try:
        return matches(s, pattern)
    except PatternError as exc:
        raise ODataTypeError(f"invalid regular expression {pattern!r}: {exc}") from None


_FUNCTIONS = {
    "contains": _predicate_safe(lambda s, t: t in s),
    "startswith": _predicate_safe(lambda s, t: s.startswith(t)),
    "endswith": _predicate_safe(lambda s, t: s.endswith(t)),
    "matchespattern": _predicate_safe(_matches),
    "length": _none_safe(len),
    "indexof": _none_safe(lambda s, t: s.find(t)),
    "substring": _substring,
    "tolower": _none_safe(str.lower),
    "toupper": _none_safe(str.upper),
    "trim": _none_safe(lambda s: s.strip(TRIM_CHARACTERS)),
    "concat": _none_safe(operator.add),
    "year": _part("year"),
    "month": _part("month"),
    "day": _part("day"),
    "hour": _part("hour"),
    "minute": _part("minute"),
    "second": _part("second"),
    "date": _date_of,
    "time": _time_of,
}


# --------------------------------------------------------------------------------------------
# the compiler


class _Compiler:
    def __init__(self, accessor: Accessor, now: _dt.datetime):
        self.accessor = accessor
        self.now = now
        self.casts = {}  # lambda variable -> its collection's cast

    def value(self, node: Bound) -> Callable:
        method = getattr(self, "_v_" + type(node).__name__)
        return method(node)

    def predicate(self, node: Bound) -> Callable:
        if isinstance(node, BLiteral):
            constant = bool(node.value)
            return lambda root, env: constant
        fn = self.value(node)
        return fn

    # values

    def _v_BLiteral(self, node):
        value = node.value
        return lambda root, env: value

    def _v_BNull(self, node):
        return lambda root, env: None

    def _v_BProperty(self, node):
        get = self.accessor.get
        path = node.path
        normalise = _normaliser(node.type)
        type_name = self.accessor.type_name
        cast = node.cast
        variable = node.variable

        def read(root, env):
            obj = root if variable is None else env[variable]
            if cast is not None and type_name(obj) != cast:
                return None
            for name in path:
                obj = get(obj, name)
                if obj is None:
                    return None
            return normalise(obj) if normalise is not None else obj

        return read

    def _v_BCompare(self, node):
        left, right, op = self.value(node.left), self.value(node.right), node.op
        return lambda root, env: _compare(op, left(root, env), right(root, env))

    def _v_BAnd(self, node):
        parts = [self.predicate(o) for o in node.operands]
        return lambda root, env: all(p(root, env) for p in parts)

    def _v_BOr(self, node):
        parts = [self.predicate(o) for o in node.operands]
        return lambda root, env: any(p(root, env) for p in parts)

    def _v_BNot(self, node):
        inner = self.predicate(node.operand)
        return lambda root, env: not inner(root, env)

    def _v_BIn(self, node):
        operand = self.value(node.operand)
        items = [item.value if isinstance(item, BLiteral) else None for item in node.items]

        def test(root, env):
            value = operand(root, env)
            return any(_compare("eq", value, item) for item in items)

        return test

    def _v_BArith(self, node):
        constant = self._constant(node)
        if constant is not _VARIES:  # folded now, as the SQL compiler folds it (fold_arith)
            return lambda root, env: constant
        left, right, op, result = self.value(node.left), self.value(node.right), node.op, node.type
        return lambda root, env: _row_arith(op, left(root, env), right(root, env), result)

    def _constant(self, node):
        """The value of ``node`` when it is a constant: a literal, null, ``now()``, or
        arithmetic or a negation of constants (:func:`fold_arith`, :func:`fold_negate`);
        :data:`_VARIES` otherwise."""
        if isinstance(node, BLiteral):
            return node.value
        if isinstance(node, BNull):
            return None
        if isinstance(node, BCall) and node.name == "now":
            return self.now
        if isinstance(node, BArith):
            left, right = self._constant(node.left), self._constant(node.right)
            if left is _VARIES or right is _VARIES:
                return _VARIES
            return fold_arith(node.op, left, right, node.type)
        if isinstance(node, BNegate):
            operand = self._constant(node.operand)
            return _VARIES if operand is _VARIES else fold_negate(operand)
        return _VARIES

    def _v_BNegate(self, node):
        constant = self._constant(node)
        if constant is not _VARIES:  # folded now, as the SQL compiler folds it (fold_negate)
            return lambda root, env: constant
        inner = self.value(node.operand)

        def negate(root, env):
            value = inner(root, env)
            return None if value is None else -value

        return negate

    def _v_BCall(self, node):
        if node.name == "now":
            now = self.now
            return lambda root, env: now
        fn = _FUNCTIONS[node.name]
        args = [self.value(a) for a in node.args]
        return lambda root, env: fn(*(a(root, env) for a in args))

    def _v_BIntersects(self, node):
        area = parse_geography(node.wkt)[0]
        get = self.accessor.get
        names = [node.location.path[0]] + (["Footprint"] if node.location.path[0] != "Footprint" else [])

        def test(root, env):
            stored = None
            for name in names:
                stored = get(root, name)
                if stored is not None:
                    break
            try:
                return geo_intersects(stored, area)
            except Exception:  # noqa: BLE001 - an unreadable stored footprint matches nothing
                return False

        return test

    def _v_BLambda(self, node):
        get = self.accessor.get
        type_name = self.accessor.type_name
        path, cast, single, variable = node.collection, node.cast, node.single, node.variable
        predicate = self.predicate(node.predicate) if node.predicate is not None else None
        kind = node.kind

        def items(root):
            obj = root
            for name in path:
                obj = get(obj, name)
                if obj is None:
                    return []
            if single:
                return [obj]
            values = list(obj)
            if cast is not None:
                values = [v for v in values if type_name(v) == cast]
            return values

        def test(root, env):
            values = items(root)
            if predicate is None:
                return bool(values)
            inner = dict(env)
            results = []
            for item in values:
                inner[variable] = item
                results.append(predicate(root, inner))
                if kind == "any" and results[-1]:
                    return True
                if kind == "all" and not results[-1]:
                    return False
            return kind == "all"

        return test


def compile_predicate(bound: Bound, accessor: Optional[Accessor] = None, *,
                      now: Optional[_dt.datetime] = None) -> Callable[[Any], bool]:
    """Compile a bound filter to ``fn(obj) -> bool``.

    ``accessor`` reads properties (default :data:`DEFAULT_ACCESSOR`); ``now`` is the value of
    ``now()`` (default: the time of compilation, as in SQL where it is a bound parameter).
    """
    compiler = _Compiler(accessor or DEFAULT_ACCESSOR, now or _dt.datetime.now(_UTC))
    fn = compiler.predicate(bound)

    def predicate(obj) -> bool:
        return bool(fn(obj, {}))

    return predicate


def compile_value(bound: Bound, accessor: Optional[Accessor] = None, *,
                  now: Optional[_dt.datetime] = None, variable: Optional[str] = None) -> Callable[[Any], Any]:
    """Compile a bound (non-predicate) expression to ``fn(obj) -> value`` (``None`` for null).
    ``variable``: the expression reads ``obj`` through that lambda variable (an item's
    expression: :func:`proseo_odata.odata.binding.bind_item_orderby`)."""
    compiler = _Compiler(accessor or DEFAULT_ACCESSOR, now or _dt.datetime.now(_UTC))
    fn = compiler.value(bound)
    if variable is not None:
        return lambda obj: fn(None, {variable: obj})
    return lambda obj: fn(obj, {})


def compile_item_predicate(bound: Bound, accessor: Optional[Accessor] = None, *,
                           now: Optional[_dt.datetime] = None) -> Callable[[Any], bool]:
    """Compile a filter of a collection's items (:func:`proseo_odata.odata.binding.bind_item_filter`)
    to ``fn(item) -> bool``: the predicate of a lambda, applied to one item."""
    compiler = _Compiler(accessor or DEFAULT_ACCESSOR, now or _dt.datetime.now(_UTC))
    fn = compiler.predicate(bound)
    return lambda item: bool(fn(None, {ITEM_VARIABLE: item}))


def sort_key(items, accessor: Optional[Accessor] = None, *, variable: Optional[str] = None,
             now: Optional[_dt.datetime] = None):
    """A ``key=`` function sorting objects by bound ``$orderby`` items with OData's order for
    nulls (before every value ascending, after them descending; OData 4.0 Part 1, 11.2.5.2), as
    :func:`proseo_odata.odata.sql.compile_orderby_sql` does in SQL. (The catalogue's own keyset
    pages sort a null as the largest value, PostgreSQL's native order: docs/storage.md.)
    ``variable``: as :func:`compile_value`'s (the items of :func:`proseo_odata.odata.binding.bind_item_orderby`);
    ``now``: the value of ``now()`` (default: the time of this call)."""
    getters = [(compile_value(item.expr, accessor, variable=variable, now=now), item.descending) for item in items]

    class _Key:
        __slots__ = ("values",)

        def __init__(self, obj):
            self.values = [g(obj) for g, _ in getters]

        def __lt__(self, other):
            for (a, b, (_, desc)) in zip(self.values, other.values, getters):
                if a == b:
                    continue
                if a is None:
                    return not desc
                if b is None:
                    return desc
                return (a > b) if desc else (a < b)
            return False

    return _Key
