"""The abstract syntax tree of OData query expressions.

Every node is an immutable, slotted dataclass. Each carries ``pos``: the 0-based character offset
of the node's first character in the text that was parsed (the decoded ``$filter`` value). ``pos``
is excluded from equality and hashing, so two trees with the same structure compare equal however
they were spelled::

    >>> from proseo_odata.odata import parse_filter
    >>> parse_filter("Name eq 'a'") == parse_filter("Name  EQ  'a'")
    True

Node overview (the OData ABNF rule each comes from is named in the class docstring):

=================  ============================================================================
``Literal``        a primitive literal: ``value`` (a Python value) and ``edm_type`` (``Edm.*``)
``Null``           the ``null`` literal
``EnumLiteral``    ``OData.CSC.ProductionType'on-demand:default'``
``Path``           a member path: a tuple of steps ``Member``, ``Cast``, ``Count``, ``Variable``,
                   ``FunctionStep``
``Lambda``         ``<path>/any(v: <predicate>)``, ``<path>/all(...)``, ``<path>/any()``
``Compare``        ``eq ne gt ge lt le``
``BoolOp``         ``and`` / ``or`` with two or more operands (chains are flattened)
``Not``            ``not <expr>``
``In``             ``<expr> in (<item>, ...)`` (or ``in <path>`` / ``in @alias``)
``Has``            ``<expr> has <enum>``
``Arith``          ``add sub mul div divby mod``
``Negate``         unary minus on a non-literal (``-Price``); ``-5`` is ``Literal(-5)``
``Call``           function call: built-ins lower-cased (``contains``), qualified names as written
``ListExpr``       a JSON array ``[1, 2, 3]`` (lists after ``in`` are kept in ``In.items``)
``ObjectExpr``     a JSON object ``{"a": 1}``
``ParameterAlias`` ``@p``
``OrderItem``      one ``$orderby`` item: ``expr`` and ``descending``
=================  ============================================================================

``node.children()`` lists a node's direct children (generic walks). The trees are compiled after
binding (:mod:`proseo_odata.odata.binding`), each compiler with its own dispatch table.
"""
from __future__ import annotations

import datetime
import decimal
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, Optional, Tuple, Union

__all__ = [
    "EDM_BINARY",
    "EDM_BOOLEAN",
    "EDM_DATE",
    "EDM_DATETIMEOFFSET",
    "EDM_DECIMAL",
    "EDM_DOUBLE",
    "EDM_DURATION",
    "EDM_GEOGRAPHY",
    "EDM_GEOMETRY",
    "EDM_GUID",
    "EDM_INT64",
    "EDM_STRING",
    "EDM_TIMEOFDAY",
    "Arith",
    "BoolOp",
    "Call",
    "Cast",
    "Compare",
    "Count",
    "EnumLiteral",
    "Expr",
    "Has",
    "In",
    "Lambda",
    "ListExpr",
    "Literal",
    "Member",
    "Negate",
    "Node",
    "Not",
    "Null",
    "OrderItem",
    "ParameterAlias",
    "Path",
    "Step",
    "Variable",
    "FunctionStep",
    "ObjectExpr",
    "COMPARISON_OPERATORS",
    "ARITHMETIC_OPERATORS",
    "BUILTIN_FUNCTIONS",
    "PYTHON_TYPES",
]

# The ``edm_type`` values a Literal can have.
EDM_STRING = "Edm.String"
EDM_INT64 = "Edm.Int64"  #: every integer literal; the binder narrows it to the property's type
EDM_DECIMAL = "Edm.Decimal"
EDM_DOUBLE = "Edm.Double"  #: literals with an exponent, ``INF``, ``-INF``, ``NaN``
EDM_BOOLEAN = "Edm.Boolean"
EDM_GUID = "Edm.Guid"
EDM_DATE = "Edm.Date"
EDM_DATETIMEOFFSET = "Edm.DateTimeOffset"
EDM_TIMEOFDAY = "Edm.TimeOfDay"
EDM_DURATION = "Edm.Duration"
EDM_BINARY = "Edm.Binary"
EDM_GEOGRAPHY = "Edm.Geography"
EDM_GEOMETRY = "Edm.Geometry"

#: Comparison operators of ``Compare.op`` (OData ``eqExpr`` ... ``leExpr``).
COMPARISON_OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le")
#: Arithmetic operators of ``Arith.op`` (``addExpr`` ... ``modExpr``).
ARITHMETIC_OPERATORS = ("add", "sub", "mul", "div", "divby", "mod")

#: Canonical (lower-case) names of the built-in functions the parser knows, with their arity
#: range ``(min, max)``. Unqualified names not in this table are rejected by the parser; qualified
#: names (``OData.CSC.Intersects``) are passed through for the binder to resolve.
BUILTIN_FUNCTIONS = {
    # string and collection functions (methodCallExpr)
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "length": (1, 1),
    "indexof": (2, 2),
    "substring": (2, 3),
    "tolower": (1, 1),
    "toupper": (1, 1),
    "trim": (1, 1),
    "concat": (2, 2),
    "matchespattern": (2, 2),
    "hassubset": (2, 2),
    "hassubsequence": (2, 2),
    # date and time
    "year": (1, 1),
    "month": (1, 1),
    "day": (1, 1),
    "hour": (1, 1),
    "minute": (1, 1),
    "second": (1, 1),
    "fractionalseconds": (1, 1),
    "totalseconds": (1, 1),
    "date": (1, 1),
    "time": (1, 1),
    "totaloffsetminutes": (1, 1),
    "now": (0, 0),
    "mindatetime": (0, 0),
    "maxdatetime": (0, 0),
    # arithmetic
    "round": (1, 1),
    "floor": (1, 1),
    "ceiling": (1, 1),
    # geo
    "geo.distance": (2, 2),
    "geo.length": (1, 1),
    "geo.intersects": (2, 2),
    # type functions
    "isof": (1, 2),
    "cast": (1, 2),
    # conditional (OData 4.01 case(cond:value, ...)) is not supported
}


@dataclass(frozen=True, slots=True)
class Node:
    """Base class of every AST node.

    ``pos`` is the 0-based offset of the node's first character in the parsed text. It is a
    keyword-only field, excluded from comparison, hashing and ``repr``.
    """

    pos: int = field(default=0, compare=False, kw_only=True, repr=False)

    def children(self) -> Tuple["Node", ...]:
        """The direct child nodes, in source order (for generic walks)."""
        out = []
        for f in fields(self):
            if f.name == "pos":
                continue
            value = getattr(self, f.name)
            if isinstance(value, Node):
                out.append(value)
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, Node):
                        out.append(item)
                    elif isinstance(item, tuple):  # Call.named_args pairs
                        out.extend(x for x in item if isinstance(x, Node))
        return tuple(out)


class Expr(Node):
    """Marker base of nodes that are expressions (everything but ``Step`` and ``OrderItem``).

    Not a dataclass itself; ``isinstance(x, Expr)`` tells expressions from path steps.
    """

    __slots__ = ()


# --------------------------------------------------------------------------------------------
# literals (primitiveLiteral, enum, null)


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    """A primitive literal (ABNF ``primitiveLiteral``).

    ``edm_type`` and the Python type of ``value``:

    ======================  =========================================================
    ``Edm.String``          ``str`` (``''`` already unescaped to ``'``; ``%``/``_`` kept)
    ``Edm.Int64``           ``int`` (every integer literal, whatever its size)
    ``Edm.Decimal``         ``decimal.Decimal`` (``1.5``, ``-0.25``)
    ``Edm.Double``          ``float`` (``1e5``, ``1.5E-3``, ``INF``, ``-INF``, ``NaN``)
    ``Edm.Boolean``         ``bool``
    ``Edm.Guid``            ``uuid.UUID``
    ``Edm.Date``            ``datetime.date``
    ``Edm.DateTimeOffset``  ``datetime.datetime``, tz-aware, normalised to UTC; fractions
                            beyond microseconds are truncated; no zone means UTC
    ``Edm.TimeOfDay``       ``datetime.time`` (naive)
    ``Edm.Duration``        ``datetime.timedelta`` (``duration'P1DT2H'``, days to seconds)
    ``Edm.Binary``          ``bytes`` (``binary'T0RhdGE'``, base64url)
    ``Edm.Geography``       ``str``: the WKT text without the ``SRID=n;`` prefix; ``srid``
    ``Edm.Geometry``        holds the SRID (``None`` when the literal had no prefix)
    ======================  =========================================================

    Dates inside quotes (``'2020-01-12T00:00:00Z'``) stay ``Edm.String`` literals; the binder
    converts them when they meet a date-time property.
    """

    value: Any
    edm_type: str
    srid: Optional[int] = None
    #: a date-time literal written with sub-millisecond digits (more than three fraction
    #: digits, zeros too: ``.654000``), which compares exactly; one with three or fewer denotes
    #: its whole millisecond (docs/query-semantics.md, "Dates, times, durations")
    exact: bool = False


@dataclass(frozen=True, slots=True)
class Null(Expr):
    """The ``null`` literal (ABNF ``nullValue``), in any letter case."""


@dataclass(frozen=True, slots=True)
class EnumLiteral(Expr):
    """An enumeration literal (ABNF ``enum``): ``OData.CSC.ProductionType'on-demand:default'``.

    ``type_name`` is the qualified type name as written; ``value`` the text between the quotes,
    unparsed (it may be a flag list such as ``'Red,Blue'`` or a number).
    """

    type_name: str
    value: str


@dataclass(frozen=True, slots=True)
class ParameterAlias(Expr):
    """A parameter alias ``@p`` (ABNF ``parameterAlias``); ``name`` excludes the ``@``.

    The value comes from a query parameter of the same name; the binder resolves it.
    """

    name: str


# --------------------------------------------------------------------------------------------
# paths (memberExpr, firstMemberExpr)


@dataclass(frozen=True, slots=True)
class Member(Node):
    """A path step naming a property, navigation property or lambda variable.

    A simple identifier (ABNF ``odataIdentifier``), e.g. ``Name`` or ``att``. Inside a lambda
    predicate the first ``Member`` of a path may name the lambda variable; the binder, which
    knows the scopes, decides.
    """

    name: str


@dataclass(frozen=True, slots=True)
class Cast(Node):
    """A type-cast path step (ABNF ``qualifiedEntityTypeName`` / ``qualifiedComplexTypeName``).

    ``OData.CSC.StringAttribute`` in ``att/OData.CSC.StringAttribute/Value``. Kept distinct from
    ``Member`` so that a cast is never mistaken for a property. ``type_name`` is as written.
    A path may start with a cast (a cast of the current instance, ``Model.Manager/Budget``).
    """

    type_name: str


@dataclass(frozen=True, slots=True)
class Count(Node):
    """The ``$count`` path step of a collection (``Items/$count gt 2``); always the last step."""


@dataclass(frozen=True, slots=True)
class Variable(Node):
    """An implicit variable as the first step of a path: ``$it``, ``$this`` or ``$root``.

    ``name`` is lower-cased and includes the ``$``.
    """

    name: str


@dataclass(frozen=True, slots=True)
class FunctionStep(Node):
    """A bound function call as a path step (ABNF ``boundFunctionExpr``).

    ``Products/Model.BestProduct()/Name`` has the step ``FunctionStep('Model.BestProduct')``.
    ``name`` is as written; ``args`` / ``named_args`` as in :class:`Call`. The PRIP/ODIP models
    define no bound functions, so the binder rejects these; the parser keeps them for conformance.
    """

    name: str
    args: Tuple["Expr", ...] = ()
    named_args: Tuple[Tuple[str, "Expr"], ...] = ()


#: A step of a :class:`Path`.
Step = Union[Member, Cast, Count, Variable, FunctionStep]


@dataclass(frozen=True, slots=True)
class Path(Expr):
    """A member path (ABNF ``memberExpr`` after ``firstMemberExpr``): ``ContentDate/Start``.

    ``steps`` is a non-empty tuple of :data:`Step` nodes, e.g.
    ``att/OData.CSC.StringAttribute/Value`` is
    ``Path((Member('att'), Cast('OData.CSC.StringAttribute'), Member('Value')))``.
    """

    steps: Tuple[Step, ...]

    @property
    def names(self) -> Tuple[str, ...]:
        """The steps as plain strings (type names for casts, ``$count`` for counts)."""
        out = []
        for s in self.steps:
            if isinstance(s, Member):
                out.append(s.name)
            elif isinstance(s, Cast):
                out.append(s.type_name)
            elif isinstance(s, Variable):
                out.append(s.name)
            elif isinstance(s, FunctionStep):
                out.append(s.name + "()")
            else:
                out.append("$count")
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Lambda(Expr):
    """A lambda over a collection (ABNF ``anyExpr`` / ``allExpr``).

    ``Attributes/OData.CSC.StringAttribute/any(att: att/Name eq 'x')`` is
    ``Lambda(collection=Path((Member('Attributes'), Cast('OData.CSC.StringAttribute'))),
    kind='any', variable='att', predicate=Compare(...))``.

    ``kind`` is ``'any'`` or ``'all'`` (lower-cased). ``any()`` without arguments has
    ``variable=None`` and ``predicate=None`` ("the collection is not empty").
    """

    collection: Path
    kind: str
    variable: Optional[str]
    predicate: Optional[Expr]


# --------------------------------------------------------------------------------------------
# operators


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    """A comparison (ABNF ``eqExpr`` ... ``leExpr``); ``op`` in :data:`COMPARISON_OPERATORS`."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    """``and`` / ``or`` (ABNF ``andExpr`` / ``orExpr``); ``op`` is ``'and'`` or ``'or'``.

    ``operands`` has at least two items. Chains of the same operator are flattened:
    ``a and b and c`` is one ``BoolOp('and', (a, b, c))``; ``a or b and c`` is
    ``BoolOp('or', (a, BoolOp('and', (b, c))))`` (``and`` binds tighter).
    """

    op: str
    operands: Tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not(Expr):
    """Logical negation (ABNF ``notExpr``)."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class In(Expr):
    """Membership (ABNF ``inExpr``): ``Name in ('a', 'b')``.

    ``items`` holds the list items, or a single ``Path`` / ``ParameterAlias`` when the right side
    is a collection-valued path or alias (``Name in Names``).
    """

    operand: Expr
    items: Tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Has(Expr):
    """Enumeration flag test (ABNF ``hasExpr``): ``Style has Sales.Pattern'Yellow'``.

    ``flag`` is usually an :class:`EnumLiteral`; any expression is kept for the binder to check.
    """

    operand: Expr
    flag: Expr


@dataclass(frozen=True, slots=True)
class Arith(Expr):
    """Arithmetic (ABNF ``addExpr`` ... ``modExpr``); ``op`` in :data:`ARITHMETIC_OPERATORS`."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Negate(Expr):
    """Unary minus (ABNF ``negateExpr``) on a non-literal: ``-Price``.

    A minus directly in front of a number is part of the literal (``Literal(-5, 'Edm.Int64')``).
    """

    operand: Expr


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """A function call (ABNF ``methodCallExpr`` / ``functionExpr``).

    ``name`` is the canonical lower-case name for built-in functions (``contains``,
    ``matchespattern``, ``geo.intersects``) and the qualified name as written otherwise
    (``OData.CSC.Intersects``). ``args`` are positional arguments. ``named_args`` holds
    ``(name, expr)`` pairs of a qualified function's named parameters, in the order written:
    ``OData.CSC.Intersects(location=Footprint,area=geography'...')`` is
    ``Call('OData.CSC.Intersects', (), (('location', Path(...)), ('area', Literal(...))))``.
    """

    name: str
    args: Tuple[Expr, ...] = ()
    named_args: Tuple[Tuple[str, Expr], ...] = ()

    def named(self, name: str) -> Optional[Expr]:
        """The named argument ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        for key, value in self.named_args:
            if key.lower() == lowered:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ListExpr(Expr):
    """A JSON array (ABNF ``arrayOrObject``): ``["Milk", "Cheese"]``, ``[1, 2 add 3]``.

    Bare parenthesised lists are only allowed after ``in`` (ABNF ``listExpr``), where their items
    go straight into :attr:`In.items`; ``Name in ["a","b"]`` does the same.
    """

    items: Tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ObjectExpr(Expr):
    """A JSON object (ABNF ``complexInUri``): ``{"Street": "Main", "City": City}``.

    ``members`` holds ``(name, expr)`` pairs in the order written; JSON strings are
    ``Literal(..., 'Edm.String')`` and JSON arrays :class:`ListExpr`.
    """

    members: Tuple[Tuple[str, Expr], ...]


# --------------------------------------------------------------------------------------------
# $orderby


@dataclass(frozen=True, slots=True)
class OrderItem(Node):
    """One ``$orderby`` item (ABNF ``orderbyItem``): an expression and its direction."""

    expr: Expr
    descending: bool = False


#: The Python type of ``Literal.value`` for each ``edm_type``.
PYTHON_TYPES = {
    EDM_STRING: str,
    EDM_INT64: int,
    EDM_DECIMAL: decimal.Decimal,
    EDM_DOUBLE: float,
    EDM_BOOLEAN: bool,
    EDM_GUID: uuid.UUID,
    EDM_DATE: datetime.date,
    EDM_DATETIMEOFFSET: datetime.datetime,
    EDM_TIMEOFDAY: datetime.time,
    EDM_DURATION: datetime.timedelta,
    EDM_BINARY: bytes,
    EDM_GEOGRAPHY: str,
    EDM_GEOMETRY: str,
}
