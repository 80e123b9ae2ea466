"""Parse OData ``$filter`` and ``$orderby`` texts and primitive literals into the AST.

Public API::

    parse_filter(text)            -> ast.Expr
    parse_orderby(text)           -> tuple[ast.OrderItem, ...]
    parse_literal(text, edm_type) -> ast.Literal | ast.Null | ast.EnumLiteral

The grammar is ``grammars/odata.lark`` (package ``proseo_odata.grammars``), compiled once per
process into an LALR(1) parser with the contextual lexer and an inline transformer that builds
the AST while parsing. The parser object is immutable after construction and shared by all
threads. Every failure is an :class:`~proseo_odata.odata.errors.ODataError`; no Lark type leaves
this module.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import hashlib
import importlib.resources
import os
import re
import stat
import tempfile
import threading
import uuid
from typing import Optional, Tuple

from lark import Lark, Transformer
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .errors import ODataError, ODataLimitError, ODataSyntaxError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_LENGTH",
    "get_parser",
    "parse_aliases",
    "parse_filter",
    "parse_literal",
    "parse_orderby",
]

#: Longest accepted expression text, in characters (``max_length=`` overrides it per call).
DEFAULT_MAX_LENGTH = 64 * 1024
#: Deepest accepted nesting: parentheses/brackets, and depth of the resulting tree.
DEFAULT_MAX_DEPTH = 100

_START_RULES = ["filter", "orderby", "primitive_literal_entry"]


class _SemanticError(Exception):
    """Raised inside transformer callbacks; turned into ODataSyntaxError with the text."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


# ---------------------------------------------------------------------------------------------
# literal conversion (shared by the transformer and parse_literal)

_DATETIME_RE = re.compile(
    r"(-?\d{4,})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?([Zz]|[+ -]\d\d:\d\d)?\Z"
)
_DATE_RE = re.compile(r"(-?\d{4,})-(\d\d)-(\d\d)\Z")
_TIME_RE = re.compile(r"(\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?\Z")
_DURATION_RE = re.compile(
    r"(-)?P(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?\Z", re.IGNORECASE
)
_DURATION_YM_RE = re.compile(r"-?P(?:\d+Y)?(?:\d+M)?", re.IGNORECASE)
_WKT_RE = re.compile(
    r"\s*(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION|COLLECTION)"
    r"(?:\s+(?:Z|M|ZM))?\s*(\(.*\)|EMPTY)\s*\Z",
    re.IGNORECASE | re.DOTALL,
)
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_\-+/]*={0,2}\Z")


def _year(text: str, pos: int) -> int:
    year = int(text)
    if not 1 <= year <= 9999:
        raise _SemanticError(f"year {text} is outside the supported range 0001..9999", pos)
    return year


def convert_date(text: str, pos: int = 0) -> datetime.date:
    """``2012-09-03`` -> ``datetime.date``; raises ``_SemanticError`` on an impossible date."""
    m = _DATE_RE.match(text)
    if not m:
        raise _SemanticError(f"invalid date {text!r}", pos)
    try:
        return datetime.date(_year(m.group(1), pos), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise _SemanticError(f"invalid date {text!r}: {exc}", pos) from None


def _fraction(digits: Optional[str]) -> int:
    # Up to 12 digits are accepted; anything beyond microseconds is truncated (contract 6).
    if not digits:
        return 0
    return int((digits + "000000")[:6])


def sub_millisecond_digits(text: str) -> bool:
    """Whether the date-time ``text`` has more than three fraction digits (``.654000``: a
    literal compared exactly, not as its whole millisecond)."""
    m = _DATETIME_RE.match(text)
    return bool(m and m.group(7) and len(m.group(7)) > 3)


def convert_date_time_offset(text: str, pos: int = 0) -> datetime.datetime:
    """ISO-8601 date-time -> tz-aware UTC ``datetime`` (no zone means UTC; 0..12 fraction digits)."""
    m = _DATETIME_RE.match(text)
    if not m:
        raise _SemanticError(f"invalid date-time {text!r}", pos)
    year, month, day, hour, minute, second, frac, zone = m.groups()
    if frac is not None and len(frac) > 12:
        raise _SemanticError(f"invalid date-time {text!r}: more than 12 fractional digits", pos)
    sec = int(second or 0)
    micro = _fraction(frac)
    if sec == 60:  # leap second (ABNF second = 60 allowed): the last representable instant
        sec, micro = 59, 999999
    offset = datetime.timedelta(0)
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1  # "+", or a space: a raw "+" decoded as a form's space
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            raise _SemanticError(f"invalid time zone offset in {text!r}", pos)
        offset = sign * datetime.timedelta(hours=oh, minutes=om)
    try:
        value = datetime.datetime(
            _year(year, pos), int(month), int(day), int(hour), int(minute), sec, micro,
            tzinfo=datetime.timezone(offset),
        )
    except ValueError as exc:
        raise _SemanticError(f"invalid date-time {text!r}: {exc}", pos) from None
    try:
        return value.astimezone(datetime.timezone.utc)
    except OverflowError:
        raise _SemanticError(f"date-time {text!r} is out of range", pos) from None


def convert_time_of_day(text: str, pos: int = 0) -> datetime.time:
    """``11:22:33.4444444`` -> ``datetime.time`` (fraction truncated to microseconds)."""
    m = _TIME_RE.match(text)
    if not m:
        raise _SemanticError(f"invalid time of day {text!r}", pos)
    hour, minute, second, frac = m.groups()
    try:
        return datetime.time(int(hour), int(minute), int(second or 0), _fraction(frac))
    except ValueError as exc:
        raise _SemanticError(f"invalid time of day {text!r}: {exc}", pos) from None


def convert_duration(text: str, pos: int = 0) -> datetime.timedelta:
    """``P1DT2H``, ``-P6DT23H59M59.9999S`` -> ``datetime.timedelta`` (ABNF durationValue)."""
    m = _DURATION_RE.match(text)
    if not m or text.upper().rstrip("T").lstrip("-") in ("P", ""):
        ym = _DURATION_YM_RE.match(text)
        if ym and ym.end() > text.find("P") + 1 + (text.find("P") < 0):
            raise _SemanticError(
                f"invalid duration {text!r}: years and months are not allowed (days to seconds only)", pos
            )
        raise _SemanticError(f"invalid duration {text!r} (expected e.g. 'P1DT2H30M')", pos)
    neg, days, hours, minutes, seconds = m.groups()
    if not any((days, hours, minutes, seconds)):
        raise _SemanticError(f"invalid duration {text!r} (expected e.g. 'P1DT2H30M')", pos)
    sec = decimal.Decimal(seconds or 0)
    try:
        value = datetime.timedelta(
            days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
            seconds=int(sec), microseconds=int((sec % 1) * 1000000),
        )
    except OverflowError:
        raise _SemanticError(f"duration {text!r} is out of range", pos) from None
    return -value if neg else value


def _quoted_body(text: str) -> str:
    """The part between the first quote and the final quote, with '' unescaped."""
    return text[text.index("'") + 1 : -1].replace("''", "'")


def _convert_geo(text: str, edm_type: str, pos: int) -> ast.Literal:
    from .geo import split_srid  # here: geo imports shapely, which parsing needs only for geography

    srid, body = split_srid(_quoted_body(text))
    if not _WKT_RE.match(body):
        raise _SemanticError(
            f"invalid {edm_type[4:].lower()} literal: expected SRID=n; and WKT "
            f"(POINT, LINESTRING, POLYGON, MULTIPOINT, MULTILINESTRING, MULTIPOLYGON, GEOMETRYCOLLECTION)",
            pos,
        )
    if body.count("(") != body.count(")"):
        raise _SemanticError(f"invalid {edm_type[4:].lower()} literal: unbalanced parentheses", pos)
    return ast.Literal(body.strip(), edm_type, srid, pos=pos)


def _convert_binary(text: str, pos: int) -> bytes:
    body = _quoted_body(text)
    if not _BASE64URL_RE.match(body):
        raise _SemanticError("invalid binary literal: expected base64url text", pos)
    data = body.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _SemanticError("invalid binary literal: expected base64url text", pos) from None


# ---------------------------------------------------------------------------------------------
# the inline transformer: one callback per grammar rule (alias), building AST nodes


def _pos(item) -> int:
    if isinstance(item, ast.Node):
        return item.pos
    return item.start_pos  # a token (Lark's, or lark-cython's)


_LIST_ITEM_TYPES = (ast.Literal, ast.Null, ast.EnumLiteral, ast.ParameterAlias, ast.ListExpr, ast.ObjectExpr)


def _is_list_item(node) -> bool:
    # ABNF listItem: primitiveLiteral / parameterAlias / arrayOrObject / rootExpr.
    if isinstance(node, _LIST_ITEM_TYPES):
        return True
    if isinstance(node, ast.Negate):
        return _is_list_item(node.operand)
    return isinstance(node, ast.Path) and isinstance(node.steps[0], ast.Variable) and node.steps[0].name == "$root"


class _ASTBuilder(Transformer):
    """Builds AST nodes bottom-up while the LALR parser reduces. Stateless, so thread-safe."""

    __visit_tokens__ = False

    # entry points
    def filter(self, c):
        return c[0]

    def orderby(self, c):
        return tuple(c)

    def orderby_item(self, c):
        descending = len(c) == 2 and c[1].type == "DESC"
        return ast.OrderItem(c[0], descending, pos=_pos(c[0]))

    def primitive_literal_entry(self, c):
        return c[0]

    # operators
    def or_expr(self, c):
        return self._bool("or", c)

    def and_expr(self, c):
        return self._bool("and", c)

    @staticmethod
    def _bool(op, c):
        left, right = c[0], c[2]
        operands = []
        for side in (left, right):
            if type(side) is ast.BoolOp and side.op == op:
                operands.extend(side.operands)
            else:
                operands.append(side)
        return ast.BoolOp(op, tuple(operands), pos=left.pos)

    def not_expr(self, c):
        return ast.Not(c[1], pos=c[0].start_pos)

    def comparison_expr(self, c):
        return ast.Compare(c[1].value.lower(), c[0], c[2], pos=c[0].pos)

    def arith_expr(self, c):
        return ast.Arith(c[1].value.lower(), c[0], c[2], pos=c[0].pos)

    def negate_expr(self, c):
        operand = c[1]
        pos = c[0].start_pos
        if type(operand) is ast.Literal and operand.edm_type in (ast.EDM_INT64, ast.EDM_DECIMAL, ast.EDM_DOUBLE):
            return ast.Literal(-operand.value, operand.edm_type, pos=pos)
        return ast.Negate(operand, pos=pos)

    def has_expr(self, c):
        return ast.Has(c[0], c[2], pos=c[0].pos)

    def in_expr(self, c):
        return ast.In(c[0], c[2], pos=c[0].pos)

    def in_list(self, c):
        items = tuple(c)
        if len(items) > 1:
            for item in items:
                if not _is_list_item(item):
                    raise _SemanticError(
                        "a list after 'in' may hold only literals, parameter aliases and JSON values", item.pos
                    )
        return items

    def in_collection(self, c):
        return (c[0],)

    def in_array(self, c):
        return c[0].items

    def parameter_alias(self, c):
        return ast.ParameterAlias(c[0].value[1:], pos=c[0].start_pos)

    # paths
    def first_property(self, c):
        return ast.Member(c[0].value, pos=c[0].start_pos)

    def first_cast(self, c):
        cast, prop = c
        return ast.Path(
            (ast.Cast(cast.value, pos=cast.start_pos), ast.Member(prop.value, pos=prop.start_pos)),
            pos=cast.start_pos,
        )

    def type_name_arg(self, c):
        return ast.Path((ast.Cast(c[0].value, pos=c[0].start_pos),), pos=c[0].start_pos)

    def first_variable(self, c):
        return ast.Variable(c[0].value.lower(), pos=c[0].start_pos)

    def member_expr(self, c):
        step = c[0]
        if type(step) is ast.Path:
            return step
        return ast.Path((step,), pos=step.pos)

    def property_step(self, c):
        path, tok = c
        self._check_open(path, tok)
        return ast.Path(path.steps + (ast.Member(tok.value, pos=tok.start_pos),), pos=path.pos)

    def cast_step(self, c):
        path, tok = c
        self._check_open(path, tok)
        return ast.Path(path.steps + (ast.Cast(tok.value, pos=tok.start_pos),), pos=path.pos)

    def count_step(self, c):
        path, tok = c
        self._check_open(path, tok)
        return ast.Path(path.steps + (ast.Count(pos=tok.start_pos),), pos=path.pos)

    def function_step(self, c):
        path, tok, args = c
        self._check_open(path, tok)
        positional, named = args if args is not None else ((), ())
        step = ast.FunctionStep(tok.value, positional, named, pos=tok.start_pos)
        return ast.Path(path.steps + (step,), pos=path.pos)

    @staticmethod
    def _check_open(path, tok):
        if type(path.steps[-1]) is ast.Count:
            raise _SemanticError("nothing may follow '/$count' in a path", tok.start_pos)

    def lambda_variable_expr(self, c):
        return c[0]

    def any_expr(self, c):
        return self._lambda("any", c)

    def all_expr(self, c):
        return self._lambda("all", c)

    def _lambda(self, kind, c):
        path = c[0]
        self._check_open(path, c[1])
        if len(c) == 2:
            return ast.Lambda(path, kind, None, None, pos=path.pos)
        return ast.Lambda(path, kind, c[2].value, c[3], pos=path.pos)

    # function calls
    def call_args(self, c):
        positional = []
        named = []
        for arg in c:
            if type(arg) is tuple:
                named.append(arg)
            else:
                positional.append(arg)
        return tuple(positional), tuple(named)

    def named_arg(self, c):
        return (c[0].value, c[1])

    def method_call_expr(self, c):
        tok, args = c
        positional, named = args if args is not None else ((), ())
        name = tok.value
        lowered = name.lower()
        arity = ast.BUILTIN_FUNCTIONS.get(lowered)
        if arity is not None:
            if named:
                raise _SemanticError(f"function {lowered}() takes no named parameters", tok.start_pos)
            low, high = arity
            if not low <= len(positional) <= high:
                want = str(low) if low == high else f"{low} to {high}"
                raise _SemanticError(
                    f"function {lowered}() takes {want} argument{'s' if high != 1 else ''}, "
                    f"{len(positional)} given",
                    tok.start_pos,
                )
            return ast.Call(lowered, positional, (), pos=tok.start_pos)
        if tok.type == "ODATA_IDENTIFIER":
            raise _SemanticError(f"unknown function {name!r}", tok.start_pos)
        return ast.Call(name, positional, named, pos=tok.start_pos)

    # JSON
    def array_expr(self, c):
        items = tuple(x for x in c if x is not None)
        pos = items[0].pos - 1 if items else 0
        return ast.ListExpr(items, pos=pos)

    def json_string(self, c):
        tok = c[0]
        try:
            import json

            value = json.loads(tok.value)
        except ValueError:
            raise _SemanticError("invalid JSON string", tok.start_pos) from None
        return ast.Literal(value, ast.EDM_STRING, pos=tok.start_pos)

    def object_expr(self, c):
        members = tuple(x for x in c if x is not None)
        return ast.ObjectExpr(members, pos=0)

    def object_member(self, c):
        import json

        return (json.loads(c[0].value), c[1])

    # literals
    def string_literal(self, c):
        t = c[0]
        return ast.Literal(t.value[1:-1].replace("''", "'"), ast.EDM_STRING, pos=t.start_pos)

    def integer_literal(self, c):
        t = c[0]
        # Python refuses int() of more than 4,300 digits (a ValueError, which was a 500); far
        # fewer are out of the range of every numeric type (a double ends at 309 digits)
        if len(t.value.lstrip("+-").lstrip("0")) > 400:
            raise _SemanticError("a number of more than 400 digits is out of the range of every numeric type",
                                 t.start_pos)
        return ast.Literal(int(t.value), ast.EDM_INT64, pos=t.start_pos)

    def decimal_literal(self, c):
        t = c[0]
        return ast.Literal(decimal.Decimal(t.value), ast.EDM_DECIMAL, pos=t.start_pos)

    def double_literal(self, c):
        t = c[0]
        # "1e 20": a raw "+" in the URL arrives as a space, and nothing else can follow the "e"
        return ast.Literal(float(t.value.replace(" ", "+")), ast.EDM_DOUBLE, pos=t.start_pos)

    def true_literal(self, c):
        return ast.Literal(True, ast.EDM_BOOLEAN, pos=c[0].start_pos)

    def false_literal(self, c):
        return ast.Literal(False, ast.EDM_BOOLEAN, pos=c[0].start_pos)

    def null_literal(self, c):
        return ast.Null(pos=c[0].start_pos)

    def guid_literal(self, c):
        t = c[0]
        return ast.Literal(uuid.UUID(t.value), ast.EDM_GUID, pos=t.start_pos)

    def date_literal(self, c):
        t = c[0]
        return ast.Literal(convert_date(t.value, t.start_pos), ast.EDM_DATE, pos=t.start_pos)

    def date_time_offset_literal(self, c):
        t = c[0]
        return ast.Literal(convert_date_time_offset(t.value, t.start_pos), ast.EDM_DATETIMEOFFSET,
                           exact=sub_millisecond_digits(t.value), pos=t.start_pos)

    def time_of_day_literal(self, c):
        t = c[0]
        return ast.Literal(convert_time_of_day(t.value, t.start_pos), ast.EDM_TIMEOFDAY, pos=t.start_pos)

    def duration_literal(self, c):
        t = c[0]
        return ast.Literal(convert_duration(_quoted_body(t.value), t.start_pos), ast.EDM_DURATION, pos=t.start_pos)

    def binary_literal(self, c):
        t = c[0]
        return ast.Literal(_convert_binary(t.value, t.start_pos), ast.EDM_BINARY, pos=t.start_pos)

    def geography_literal(self, c):
        t = c[0]
        return _convert_geo(t.value, ast.EDM_GEOGRAPHY, t.start_pos)

    def geometry_literal(self, c):
        t = c[0]
        return _convert_geo(t.value, ast.EDM_GEOMETRY, t.start_pos)

    def enum_literal(self, c):
        t = c[0]
        quote = t.value.index("'")
        return ast.EnumLiteral(t.value[:quote], t.value[quote + 1 : -1].replace("''", "'"), pos=t.start_pos)


# ---------------------------------------------------------------------------------------------
# building the parser once


_PARSER_LOCK = threading.Lock()


def load_grammar() -> str:
    """The text of ``odata.lark`` from the installed package ``proseo_odata.grammars``."""
    return importlib.resources.files("proseo_odata.grammars").joinpath("odata.lark").read_text(encoding="utf-8")


def _cache_file(grammar: str) -> Optional[str]:
    """Where Lark may keep the analysed grammar: a file in a directory only this user can write.

    Lark's cache is a pickle, so it is only used from a directory created by (and private to) the
    current user. Keyed by the grammar's hash; Lark also checks the grammar, options and versions
    stored in the file, and rebuilds (and rewrites) when they differ or the file is unreadable.
    """
    try:
        uid = os.getuid()
        directory = os.path.join(tempfile.gettempdir(), f"proseo-odata-{uid}")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.lstat(directory)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
            return None
    except (AttributeError, OSError):  # no getuid (Windows), read-only temp dir, ...
        return None
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    return os.path.join(directory, f"odata-lark-{digest}.cache")


def _cython_plugins():
    """lark-cython's plugins when the optional ``fast`` extra is installed, else None."""
    try:
        import lark_cython
    except ImportError:
        return None
    return lark_cython.plugins


def build_parser(*, strict: bool = False, cython: Optional[bool] = None) -> Lark:
    """Compile a new parser from the grammar (tests use ``strict=True``); prefer :func:`get_parser`.

    The analysed grammar is cached on disk (see :func:`_cache_file`), which turns the ~0.5 s
    LALR table construction into a ~10 ms load in later processes; ``strict=True`` always
    builds from scratch, since its checks run only while building.

    ``cython``: use lark-cython's lexer and parser loop (the ``fast`` extra), which build the
    same trees; ``None`` (default) uses it when it is installed, ``False`` never.
    """
    grammar = load_grammar()
    cache = None if strict else _cache_file(grammar)
    plugins = _cython_plugins() if cython is not False else None
    if cython and plugins is None:
        raise ImportError("lark-cython is not installed (pip install 'proseo-odata[fast]')")
    extra = {"_plugins": plugins} if plugins is not None else {}
    return Lark(
        grammar,
        start=_START_RULES,
        parser="lalr",
        lexer="contextual",
        transformer=_ASTBuilder(),
        maybe_placeholders=True,
        strict=strict,
        cache=cache or False,
        **extra,
    )


def get_parser() -> Lark:
    """The process-wide parser, built on first use (thread-safe lazy singleton); it runs on
    lark-cython when that is installed (:func:`build_parser`)."""
    return _parser("default", build_parser)


def _reference_parser() -> Lark:
    """Lark's own (pure Python) parser: it reports the errors when the default one is lark-cython,
    whose exceptions do not carry Lark's expected-token information."""
    return _parser("reference", lambda: build_parser(cython=False))


_PARSERS: dict = {}


def _parser(name: str, build) -> Lark:
    parser = _PARSERS.get(name)
    if parser is None:
        with _PARSER_LOCK:
            parser = _PARSERS.get(name)
            if parser is None:
                parser = _PARSERS[name] = build()
    return parser


def _lark_parse(text: str, start: str):
    """``get_parser().parse(text, start)``; a text the lark-cython parser refuses is parsed again
    by Lark's own parser (same grammar and tables), which raises the error it describes."""
    parser = get_parser()
    try:
        return parser.parse(text, start=start)
    except UnexpectedInput:
        if _cython_plugins() is None:
            raise
    return _reference_parser().parse(text, start=start)


# ---------------------------------------------------------------------------------------------
# errors: Lark exceptions -> ODataSyntaxError

_DESCRIPTIONS = {
    "STRING": "a string literal",
    "JSON_STRING": "a JSON string",
    "ENUM": "an enumeration literal",
    "DURATION": "a duration literal",
    "BINARY": "a binary literal",
    "GEOGRAPHY": "a geography literal",
    "GEOMETRY": "a geometry literal",
    "DATE_TIME_OFFSET": "a date-time literal",
    "GUID": "a GUID literal",
    "DATE": "a date literal",
    "TIME_OF_DAY": "a time-of-day literal",
    "DOUBLE": "a number",
    "DECIMAL": "a number",
    "INTEGER": "a number",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "NULL": "'null'",
    "NOT": "'not'",
    "AND": "'and'",
    "OR": "'or'",
    "IN": "'in'",
    "HAS": "'has'",
    "ANY": "'any'",
    "ALL": "'all'",
    "ASC": "'asc'",
    "DESC": "'desc'",
    "COMPARISON_OP": "a comparison operator (eq, ne, gt, ge, lt, le)",
    "ADDITIVE_OP": "'add' or 'sub'",
    "MULTIPLICATIVE_OP": "'mul', 'div', 'divby' or 'mod'",
    "QUALIFIED_NAME": "a qualified name",
    "ODATA_IDENTIFIER": "a property name",
    "IMPLICIT_VARIABLE": "'$it'",
    "COUNT": "'$count'",
    "PARAMETER_ALIAS": "a parameter alias",
    "MINUS": "'-'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "SLASH": "'/'",
    "COLON": "':'",
    "EQUAL": "'='",
    "$END": "the end of the text",
}
_LITERAL_TERMINALS = frozenset(
    ["STRING", "ENUM", "DURATION", "BINARY", "GEOGRAPHY", "GEOMETRY", "DATE_TIME_OFFSET", "GUID", "DATE",
     "TIME_OF_DAY", "DOUBLE", "DECIMAL", "INTEGER", "TRUE", "FALSE", "NULL"]
)


def _describe_expected(names) -> list:
    names = set(names)
    if len(names & _LITERAL_TERMINALS) > 4:
        # an operand position: summarise instead of listing twenty literal kinds
        names -= _LITERAL_TERMINALS | {"QUALIFIED_NAME", "ODATA_IDENTIFIER", "IMPLICIT_VARIABLE", "MINUS", "NOT",
                                       "PARAMETER_ALIAS", "LPAR", "LSQB", "LBRACE"}
        names.add("__EXPR__")
    operators = {"AND", "OR", "COMPARISON_OP", "ADDITIVE_OP", "MULTIPLICATIVE_OP", "IN", "HAS", "ASC", "DESC"}
    if {"AND", "COMPARISON_OP"} <= names:
        # after a complete operand: one entry instead of nine operator kinds
        names = (names - operators) | {"__OPERATOR__"}
    out = set()
    for n in names:
        if n == "__OPERATOR__":
            out.add("an operator")
            continue
        if n == "__EXPR__":
            out.add("an expression")
        elif n in _DESCRIPTIONS:
            out.add(_DESCRIPTIONS[n])
    return sorted(out)


_STRING_AT = re.compile(r"'(?:[^']|'')*'")


def _found(text: str, pos: int) -> str:
    if pos >= len(text):
        return "the end of the text"
    m = re.match(r"'(?:[^']|'')*'|[\w.$@]+|\S", text[pos:])
    snippet = m.group(0) if m else text[pos]
    if len(snippet) > 30:
        snippet = snippet[:27] + "..."
    return repr(snippet)


def _syntax_error(text: str, pos: int, expected, what: str, target: str, detail: str = "") -> ODataSyntaxError:
    described = _describe_expected(expected)
    if detail:
        message = f"Invalid {what}: {detail} at column {pos + 1}"
    elif described:
        listed = described[0] if len(described) == 1 else ", ".join(described[:-1]) + " or " + described[-1]
        message = f"Invalid {what}: expected {listed} at column {pos + 1}, found {_found(text, pos)}"
    else:
        message = f"Invalid {what}: unexpected {_found(text, pos)} at column {pos + 1}"
    return ODataSyntaxError(message, text=text, position=pos, expected=described, target=target)


def _translate(exc: Exception, text: str, what: str, target: str) -> ODataError:
    if isinstance(exc, VisitError):
        exc = exc.orig_exc
    if isinstance(exc, ODataError):
        return exc
    if isinstance(exc, _SemanticError):
        return _syntax_error(text, exc.pos, (), what, target, detail=exc.message)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        pos = len(text) if token.type == "$END" else (token.start_pos or 0)
        return _syntax_error(text, pos, exc.expected, what, target)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        detail = ""
        if text.startswith("'", pos) and not _STRING_AT.match(text, pos):
            detail = "unterminated string literal (a quote inside a string is written '')"
        return _syntax_error(text, pos, exc.allowed or (), what, target, detail=detail)
    if isinstance(exc, UnexpectedEOF):
        return _syntax_error(text, len(text), exc.expected, what, target)
    if isinstance(exc, UnexpectedInput):
        return _syntax_error(text, getattr(exc, "pos_in_stream", 0) or 0, (), what, target)
    return _syntax_error(text, 0, (), what, target, detail=str(exc) or type(exc).__name__)


# ---------------------------------------------------------------------------------------------
# limits

_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")


_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def _check_limits(text: str, max_length: int, max_depth: int, what: str, target: str) -> None:
    if not isinstance(text, str):
        raise ODataSyntaxError(f"Invalid {what}: expected text, got {type(text).__name__}", target=target)
    if len(text) > max_length:
        raise ODataLimitError(
            f"Invalid {what}: the text is {len(text)} characters long; at most {max_length} are allowed",
            text=text[: max_length + 1], position=max_length, target=target,
        )
    bad = _NOT_TEXT.search(text)
    if bad is not None:
        # no database takes a NUL (PostgreSQL's text cannot hold one: a driver error) and a lone
        # surrogate is no UTF-8 at all (UnicodeEncodeError wherever it went)
        raise ODataSyntaxError(
            f"Invalid {what}: a NUL character or a lone surrogate at column {bad.start() + 1}",
            text=text.encode("utf-8", "backslashreplace").decode("utf-8"), position=bad.start(), target=target,
        )
    if text.count("(") + text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    in_string = False
    for i, ch in enumerate(text):
        if ch == "'":
            in_string = not in_string  # '' toggles twice: still right
        elif in_string:
            continue
        elif ch in _OPENERS:
            depth += 1
            if depth > max_depth:
                raise ODataLimitError(
                    f"Invalid {what}: parentheses nested more than {max_depth} levels deep",
                    text=text, position=i, target=target,
                )
        elif ch in _CLOSERS:
            depth -= 1


_CHILD_FIELDS = {}
_OPERATOR_RE = re.compile(r"(?<!\w)(?:not|and|or|eq|ne|gt|ge|lt|le|in|has|add|sub|mul|div|divby|mod)(?!\w)", re.I)


def _tree_depth_exceeds(root, max_depth: int) -> Optional[int]:
    """Position of the first node deeper than ``max_depth`` (iterative walk), else None."""
    stack = [(root, 1)]
    fields_of = _CHILD_FIELDS
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return node.pos
        cls = type(node)
        names = fields_of.get(cls)
        if names is None:
            names = fields_of[cls] = tuple(f for f in cls.__dataclass_fields__ if f != "pos")
        for name in names:
            value = getattr(node, name)
            if isinstance(value, ast.Node):
                stack.append((value, depth + 1))
            elif type(value) is tuple:
                for item in value:
                    if isinstance(item, ast.Node):
                        stack.append((item, depth + 1))
                    elif type(item) is tuple:
                        for sub in item:
                            if isinstance(sub, ast.Node):
                                stack.append((sub, depth + 1))
    return None


def _parse(text, start, what, target, max_length, max_depth):
    _check_limits(text, max_length, max_depth, what, target)
    if not text.strip():
        raise ODataSyntaxError(f"Invalid {what}: the text is empty", text=text, position=0,
                               expected=["an expression"], target=target)
    try:
        result = _lark_parse(text, start)
    except (LarkError, _SemanticError) as exc:
        raise _translate(exc, text, what, target) from None
    except RecursionError:
        raise ODataLimitError(f"Invalid {what}: nested too deeply", text=text, position=0,
                              target=target) from None
    # Every level of the tree needs an opening bracket, a '-', or an operator keyword, so when
    # there are few of those the tree cannot be too deep and the walk is skipped.
    shallow = (
        len(text) <= max_depth
        or text.count("(") + text.count("[") + text.count("{") + text.count("-") + len(_OPERATOR_RE.findall(text))
        <= max_depth
    )
    if not shallow:
        roots = result if type(result) is tuple else (result,)
        for root in roots:
            pos = _tree_depth_exceeds(root, max_depth)
            if pos is not None:
                raise ODataLimitError(
                    f"Invalid {what}: expression nested more than {max_depth} levels deep",
                    text=text, position=pos, target=target,
                )
    return result


# ---------------------------------------------------------------------------------------------
# public API


def parse_filter(
    text: str,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
    target: str = "$filter",
) -> ast.Expr:
    """Parse a ``$filter`` expression (ABNF ``boolCommonExpr``) into an AST.

    ``text`` is the option value after URL decoding. Keywords, operators and built-in function
    names are case-insensitive. The result is not yet checked against an entity model (that is
    binding's job): ``Price add 2`` parses although it is not Boolean.

    Raises :class:`ODataSyntaxError` (with ``position`` and ``expected``) when the text does not
    follow the grammar, and :class:`ODataLimitError` when it is longer than ``max_length``
    characters or nested deeper than ``max_depth``.

    >>> parse_filter("contains(Name,'_AUX_') and Online eq true")  # doctest: +ELLIPSIS
    BoolOp(op='and', operands=(Call(name='contains', ...), Compare(op='eq', ...)))
    """
    return _parse(text, "filter", "query condition", target, max_length, max_depth)


def parse_aliases(aliases) -> dict:
    """The parameter aliases of a request, ``(('@p', 'value text'), ...)``, parsed as the binder
    takes them: ``{'p': expression}``."""
    return {name.lstrip("@"): parse_filter(text) for name, text in aliases}


def parse_orderby(
    text: str,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
    target: str = "$orderby",
) -> Tuple[ast.OrderItem, ...]:
    """Parse a ``$orderby`` value (ABNF ``orderby``) into a tuple of :class:`~ast.OrderItem`.

    ``"PublicationDate desc, Name"`` gives two items, the first descending. ``asc``/``desc`` are
    case-insensitive. At most :data:`MAX_ORDERBY_ITEMS` items (SQLite refuses an ORDER BY of
    2,000 terms, and each item is carried in every ``$skiptoken``). Errors as for
    :func:`parse_filter`.
    """
    items = _parse(text, "orderby", "ordering", target, max_length, max_depth)
    if len(items) > MAX_ORDERBY_ITEMS:
        raise ODataLimitError(f"Invalid ordering: {len(items)} items; at most {MAX_ORDERBY_ITEMS} are allowed",
                              text=text, position=0, target=target)
    return items


#: The most ``$orderby`` items a query may have (no entity has nearly as many sortable properties).
MAX_ORDERBY_ITEMS = 32


_LITERAL_KINDS = {
    ast.EDM_INT64: (ast.EDM_INT64,),
    "Edm.Int32": (ast.EDM_INT64,),
    "Edm.Int16": (ast.EDM_INT64,),
    "Edm.Byte": (ast.EDM_INT64,),
    "Edm.SByte": (ast.EDM_INT64,),
    ast.EDM_DECIMAL: (ast.EDM_DECIMAL, ast.EDM_INT64, ast.EDM_DOUBLE),
    ast.EDM_DOUBLE: (ast.EDM_DOUBLE, ast.EDM_DECIMAL, ast.EDM_INT64),
    "Edm.Single": (ast.EDM_DOUBLE, ast.EDM_DECIMAL, ast.EDM_INT64),
}


def parse_literal(text: str, edm_type: Optional[str] = None, *, target: Optional[str] = None):
    """Parse one primitive literal (ABNF ``primitiveLiteral``) into a ``Literal``/``Null``/``EnumLiteral``.

    Without ``edm_type`` the text is read exactly as in a ``$filter`` (``'abc'``, ``42``,
    ``2020-01-01T00:00:00Z``, ``duration'P1D'``, ...).

    With ``edm_type`` the text is converted to that type: this is how the binder turns a quoted
    value into the type of the property it is compared with (``'2020-01-12T00:00:00.000000Z'``
    against a date-time, ``'1024'`` against an integer). The unquoted payload forms are accepted
    too (``P1DT2H`` for a duration, ``3.14`` for a double). Integers convert to decimals and
    doubles; the result's ``edm_type`` is the requested one for the number, date, time, duration,
    GUID, Boolean and string types. Raises :class:`ODataSyntaxError` when the text is no valid
    literal of that type.
    """
    what = "literal" if edm_type is None else f"{edm_type} literal"
    if edm_type is None:
        return _parse(text, "primitive_literal_entry", what, target, DEFAULT_MAX_LENGTH, DEFAULT_MAX_DEPTH)
    if not isinstance(text, str):
        raise ODataSyntaxError(f"Invalid {what}: expected text", target=target)
    raw = text
    if len(raw) >= 2 and raw[0] == "'" and raw[-1] == "'" and edm_type != ast.EDM_STRING:
        raw = raw[1:-1].replace("''", "'")
    try:
        return _convert_typed(raw, edm_type)
    except _SemanticError as exc:
        raise _syntax_error(text, 0, (), what, target, detail=exc.message) from None


def _convert_typed(raw: str, edm_type: str):
    if edm_type == ast.EDM_STRING:
        if len(raw) >= 2 and raw[0] == "'" and raw[-1] == "'" and "'" not in raw[1:-1].replace("''", ""):
            return ast.Literal(raw[1:-1].replace("''", "'"), ast.EDM_STRING)
        return ast.Literal(raw, ast.EDM_STRING)
    if edm_type == ast.EDM_BOOLEAN:
        lowered = raw.lower()
        if lowered in ("true", "false"):
            return ast.Literal(lowered == "true", ast.EDM_BOOLEAN)
        raise _SemanticError(f"{raw!r} is not a Boolean (true or false)", 0)
    if edm_type == ast.EDM_DATETIMEOFFSET:
        return ast.Literal(convert_date_time_offset(raw), ast.EDM_DATETIMEOFFSET, exact=sub_millisecond_digits(raw))
    if edm_type == ast.EDM_DATE:
        return ast.Literal(convert_date(raw), ast.EDM_DATE)
    if edm_type == ast.EDM_TIMEOFDAY:
        return ast.Literal(convert_time_of_day(raw), ast.EDM_TIMEOFDAY)
    if edm_type == ast.EDM_DURATION:
        if raw.lower().startswith("duration'"):
            raw = _quoted_body(raw)
        return ast.Literal(convert_duration(raw), ast.EDM_DURATION)
    if edm_type == ast.EDM_GUID:
        if re.fullmatch(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}", raw):
            return ast.Literal(uuid.UUID(raw), ast.EDM_GUID)
        raise _SemanticError(f"{raw!r} is not a GUID", 0)
    kinds = _LITERAL_KINDS.get(edm_type)
    if kinds is not None:
        try:
            node = _lark_parse(raw.strip(), "primitive_literal_entry")
        except (LarkError, _SemanticError):
            node = None
        if type(node) is ast.Literal and node.edm_type in kinds:
            value = node.value
            if edm_type == ast.EDM_DECIMAL:
                value = decimal.Decimal(value) if node.edm_type != ast.EDM_DOUBLE else value
                result_type = ast.EDM_DECIMAL if node.edm_type != ast.EDM_DOUBLE else ast.EDM_DOUBLE
            elif edm_type in (ast.EDM_DOUBLE, "Edm.Single"):
                value, result_type = float(value), ast.EDM_DOUBLE
            else:
                result_type = ast.EDM_INT64
            return ast.Literal(value, result_type)
        raise _SemanticError(f"{raw!r} is not a valid {edm_type[4:]} value", 0)
    if edm_type in (ast.EDM_GEOGRAPHY, ast.EDM_GEOMETRY):
        prefix = edm_type[4:].lower()
        quoted = raw if raw.lower().startswith(prefix + "'") else f"{prefix}'{raw}'"
        return _convert_geo(quoted, edm_type, 0)
    if edm_type == ast.EDM_BINARY:
        quoted = raw if raw.lower().startswith("binary'") else f"binary'{raw}'"
        return ast.Literal(_convert_binary(quoted, 0), ast.EDM_BINARY)
    raise _SemanticError(f"unknown literal type {edm_type!r}", 0)
