"""System query options: ``$filter``, ``$orderby``, ``$top``, ``$skip``, ``$count``, ``$expand``,
``$select``, ``$format``, ``$skiptoken``, ``$search`` (contract section 6).

:func:`parse_query_options` takes the query parameters of a request (already URL-decoded once)
and returns one immutable :class:`QueryOptions`. Names are accepted with or without ``$``
(OData 4.01) and in any letter case; repeated ``$expand`` parameters are merged; any other
option given twice is an error; parameters that are not options (no ``$`` and not an option
name) are ignored, except ``@name`` parameter aliases, which are collected.

``$expand`` is read to the full ABNF (nested options, ``/$ref``, ``/$count``, ``$levels``), so a
malformed value is a syntax error; ``/$ref``, ``/$count`` and paths of several segments are then
refused (:func:`parse_expand`): what comes back is navigation or complex property names of one
segment, each with its nested options or none (which of those a service serves is
:func:`proseo_odata.query.build_query`'s to say).
The services' entry point, :func:`proseo_odata.query.build_query`, starts here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Tuple, Union

from . import ast
from .errors import ODataError, ODataNotSupportedError, ODataQueryOptionError, ODataSyntaxError
from .parser import parse_filter, parse_orderby

__all__ = ["ExpandItem", "QueryOptions", "parse_expand", "parse_query_options", "parse_select",
           "METADATA_LEVELS", "json_format_of", "json_format_parameters", "media_parameters"]

_OPTIONS = ("filter", "orderby", "top", "skip", "count", "expand", "select", "format", "skiptoken", "search")
_NESTED_ONLY = ("levels",)
_NOT_SUPPORTED = ("apply", "compute", "index", "schemaversion", "deltatoken", "id")

# ABNF expandRefOption / expandCountOption: which nested options $ref and $count allow.
_REF_OPTIONS = frozenset(["filter", "search", "orderby", "skip", "top", "count"])
_COUNT_OPTIONS = frozenset(["filter", "search"])

_IDENT = r"[A-Za-z_]\w*"
_SEGMENT_RE = re.compile(rf"(?:{_IDENT}(?:\.{_IDENT})*(?:\.\*)?|\*|\$value|@{_IDENT}(?:\.{_IDENT})*)\Z")
_LEVELS_RE = re.compile(r"(?:[1-9]\d*|max)\Z", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ExpandItem:
    """One served ``$expand`` item: a navigation or complex property name, or ``*``.

    Attributes:
        path: the name as a one-element tuple, e.g. ``('Attributes',)``, ``('*',)``.
        options: its nested options (``Attributes($filter=Name eq 'cloudCover';$top=1)``) as
            :class:`QueryOptions`, or ``None`` when it has none.
    """

    path: Tuple[str, ...]
    options: Optional["QueryOptions"] = None

    @property
    def name(self) -> str:
        """The path joined with ``/`` (``'Attributes'``)."""
        return "/".join(self.path)


@dataclass(frozen=True, slots=True)
class QueryOptions:
    """The system query options of one request (or of one nested ``$expand`` item).

    Attributes:
        filter: the parsed ``$filter`` expression, or ``None``.
        orderby: tuple of :class:`~proseo_odata.odata.ast.OrderItem` (empty when absent).
        top, skip: non-negative integers or ``None``.
        count: ``True``/``False`` from ``$count``, ``None`` when absent.
        expand: tuple of :class:`ExpandItem` (repeated ``$expand`` parameters merged in order).
        select: tuple of paths, each a tuple of names (``(('Name',), ('ContentDate', 'Start'))``,
            ``(('*',),)``); empty when absent.
        format: ``'json'`` or ``None`` (any other ``$format`` is rejected).
        skiptoken: the opaque ``$skiptoken`` text or ``None``.
        search: the ``$search`` text or ``None`` (kept, not interpreted).
        levels: ``$levels`` of a nested expand: an int, ``'max'`` or ``None``.
        aliases: ``(('@p', 'value text'), ...)`` parameter aliases, unparsed.
        filter_text, orderby_text: the ``$filter`` and ``$orderby`` values as sent (``None`` when
            absent); with ``parse_expressions=False`` only these are set, not ``filter`` and
            ``orderby`` (the caller parses them, for instance through a cache).
    """

    filter: Optional[ast.Expr] = None
    orderby: Tuple[ast.OrderItem, ...] = ()
    top: Optional[int] = None
    skip: Optional[int] = None
    count: Optional[bool] = None
    expand: Tuple[ExpandItem, ...] = ()
    select: Tuple[Tuple[str, ...], ...] = ()
    format: Optional[str] = None
    skiptoken: Optional[str] = None
    search: Optional[str] = None
    levels: Union[int, str, None] = None
    aliases: Tuple[Tuple[str, str], ...] = field(default=())
    filter_text: Optional[str] = field(default=None, compare=False)
    orderby_text: Optional[str] = field(default=None, compare=False)

    def alias(self, name: str) -> Optional[str]:
        """The text of parameter alias ``name`` (with or without ``@``), or ``None``."""
        key = name if name.startswith("@") else "@" + name
        for k, v in self.aliases:
            if k == key:
                return v
        return None


def _pairs(params) -> Iterable[Tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError):
            raise ODataQueryOptionError(f"query parameters must be (name, value) pairs, got {item!r}") from None
        if isinstance(value, (list, tuple)):
            for v in value:
                yield str(key), v
        else:
            yield str(key), value


def _option_name(key: str, nested: bool) -> Optional[str]:
    """The canonical option name for ``key``, ``None`` for a parameter that is no option."""
    has_dollar = key.startswith("$")
    name = key[1:].lower() if has_dollar else key.lower()
    if name in _OPTIONS or (nested and name in _NESTED_ONLY):
        return name
    if has_dollar or nested:
        if name in _NOT_SUPPORTED:
            raise ODataNotSupportedError(f"the system query option {key} is not supported", target=key)
        raise ODataQueryOptionError(f"unknown system query option {key!r}", target=key)
    return None


def _non_negative_int(value: str, target: str) -> int:
    if not re.fullmatch(r"\d{1,18}", value or ""):
        if re.fullmatch(r"\d+", value or ""):
            raise ODataQueryOptionError(f"{target} is too large: at most 18 digits, got {len(value)}", target=target)
        raise ODataQueryOptionError(f"{target} must be a non-negative integer, got {value!r}", target=target)
    return int(value)


_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def parse_query_options(params, *, nested: bool = False, parse_expressions: bool = True) -> QueryOptions:
    """Read the system query options from the query parameters of a request.

    ``params`` is a mapping (values may be lists for repeated parameters) or an iterable of
    ``(name, value)`` pairs, with values already URL-decoded once. ``nested=True`` reads the
    options inside ``$expand=Item(...)``, where ``$levels`` is also allowed and every parameter
    must be an option. ``parse_expressions=False`` leaves ``$filter`` and ``$orderby`` unparsed
    (``filter_text``/``orderby_text``).

    Raises :class:`ODataSyntaxError` for a malformed ``$filter``/``$orderby`` (``target`` names
    the option), :class:`ODataQueryOptionError` for a bad value, an unknown ``$`` option or a
    duplicate option, :class:`ODataNotSupportedError` for ``$apply``, ``$compute`` and the like.

    >>> parse_query_options({"$top": "10", "filter": "Online eq true", "$COUNT": "True"}).count
    True
    """
    if params is None:
        return QueryOptions()
    values = {}
    expand = []
    aliases = []
    for key, value in _pairs(params):
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ODataQueryOptionError(f"the value of {key} must be text", target=key)
        if key.startswith("@"):
            if any(key == given for given, _ in aliases):  # which one would the filter mean?
                raise ODataQueryOptionError(f"the parameter alias {key} is given more than once", target=key)
            aliases.append((key, value))
            continue
        name = _option_name(key, nested)
        if name is None:
            continue
        target = "$" + name
        if name == "expand":
            expand.extend(_read_expand(value) if nested else parse_expand(value))
            continue
        if name in values:
            raise ODataQueryOptionError(f"the query option {target} is given more than once", target=target)
        values[name] = (value, target)

    kwargs = {"expand": tuple(expand), "aliases": tuple(aliases)}
    for name, (value, target) in values.items():
        if name == "filter":
            kwargs["filter_text"] = value
            if parse_expressions:
                kwargs["filter"] = parse_filter(value, target=target)
        elif name == "orderby":
            kwargs["orderby_text"] = value
            if parse_expressions:
                kwargs["orderby"] = parse_orderby(value, target=target)
        elif name in ("top", "skip"):
            kwargs[name] = _non_negative_int(value, target)
        elif name == "count":
            flag = _BOOLEANS.get(value.strip().lower())
            if flag is None:
                raise ODataQueryOptionError(f"$count must be true or false, got {value!r}", target=target)
            kwargs["count"] = flag
        elif name == "select":
            kwargs["select"] = parse_select(value)
        elif name == "format":
            json_format_of(value)
            kwargs["format"] = "json"
        elif name == "skiptoken":
            if not value:
                raise ODataQueryOptionError("$skiptoken must not be empty", target=target)
            kwargs["skiptoken"] = value
        elif name == "search":
            kwargs["search"] = _search(value)
        elif name == "levels":
            if not _LEVELS_RE.match(value):
                raise ODataQueryOptionError(f"$levels must be a positive integer or max, got {value!r}", target=target)
            kwargs["levels"] = "max" if value.lower() == "max" else int(value)
    return QueryOptions(**kwargs)


def json_format_of(value: str) -> Tuple[str, bool]:
    """``(metadata, ieee754)`` that a ``$format`` value asks for (:func:`json_format_parameters`):
    ``json`` or ``application/json``, with the JSON format parameters; anything else, or a
    parameter with a value it cannot have, is an :class:`ODataQueryOptionError`."""
    media, _, parameters = value.partition(";")
    if media.strip().lower() not in ("json", "application/json"):
        raise ODataQueryOptionError(f"$format {value!r} is not supported; use json", target="$format")
    try:
        return json_format_parameters(media_parameters(parameters))
    except ValueError as exc:
        raise ODataQueryOptionError(f"$format {value!r}: {exc}", target="$format") from None


#: The values of the ``odata.metadata`` format parameter (OData JSON Format 4.01, 3.1).
METADATA_LEVELS = ("minimal", "full", "none")


def media_parameters(text: str) -> list[tuple[str, str]]:
    """The ``name=value`` parameters of a media type after its first ``;``
    (``odata.metadata=full;IEEE754Compatible=true``), in order; a value may be quoted."""
    pairs = []
    for part in text.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            pairs.append((name.strip(), value.strip().strip('"')))
    return pairs


def json_format_parameters(parameters: Iterable[Tuple[str, str]]) -> Tuple[str, bool]:
    """``(metadata, ieee754)`` that the parameters of a JSON media type ask for (OData JSON
    Format 4.01, 3.1 and 3.2): the ``odata.metadata`` level (``minimal`` when absent) and whether
    ``IEEE754Compatible=true`` is given. Names and values are case-insensitive, the ``odata.``
    prefix optional (4.01 drops it); other parameters (``charset``, ``odata.streaming``, ``q``)
    do not matter. ``ValueError`` for one of the two with a value it cannot have."""
    metadata, ieee754 = "minimal", False
    for name, value in parameters:
        key = name.lower()
        key = key[len("odata."):] if key.startswith("odata.") else key
        lowered = value.lower()
        if key == "metadata":
            if lowered not in METADATA_LEVELS:
                raise ValueError(f"odata.metadata must be minimal, full or none, not {value!r}")
            metadata = lowered
        elif key == "ieee754compatible":
            if lowered not in ("true", "false"):
                raise ValueError(f"IEEE754Compatible must be true or false, not {value!r}")
            ieee754 = lowered == "true"
    return metadata, ieee754


def _search(value: str) -> str:
    if not value.strip():
        raise ODataQueryOptionError("$search must not be empty", target="$search")
    depth = 0
    in_quotes = None
    for ch in value:
        if in_quotes:
            if ch == in_quotes:
                in_quotes = None
            continue
        if ch in "'\"":
            in_quotes = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                break
    if depth or in_quotes:
        raise ODataQueryOptionError(f"$search has unbalanced parentheses or quotes: {value!r}", target="$search")
    return value


def _split_top_level(text: str, separator: str, target: str):
    """Split at ``separator`` outside quotes and parentheses; checks that brackets balance."""
    parts = []
    depth = 0
    start = 0
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None  # '' re-opens at once: still right
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ODataSyntaxError(f"Invalid {target}: unexpected ')' at column {i + 1}",
                                       text=text, position=i, expected=[], target=target)
        elif ch == separator and depth == 0:
            parts.append((start, text[start:i]))
            start = i + 1
    if depth or quote:
        raise ODataSyntaxError(f"Invalid {target}: unbalanced parentheses or quotes",
                               text=text, position=len(text), expected=["')'"], target=target)
    parts.append((start, text[start:]))
    return parts


def _path(text: str, offset: int, whole: str, target: str) -> Tuple[str, ...]:
    segments = tuple(text.split("/"))
    pos = offset
    for seg in segments:
        if not _SEGMENT_RE.match(seg):
            raise ODataSyntaxError(
                f"Invalid {target}: expected a property name, '*' or a qualified name at column {pos + 1}",
                text=whole, position=pos, expected=["a property name"], target=target,
            )
        pos += len(seg) + 1
    return segments


def parse_expand(text: str) -> Tuple[ExpandItem, ...]:
    """Parse a ``$expand`` value (ABNF ``expand``) into :class:`ExpandItem` objects.

    The whole ABNF is read (``"Attributes,Items($filter=Qty gt 1;$top=2),Customer/$ref"``;
    nested options with :func:`parse_query_options`, ``nested=True``), so a malformed value
    raises :class:`ODataSyntaxError` or :class:`ODataQueryOptionError`. The services expand
    names, each with its nested options (which ones they serve is
    :func:`proseo_odata.query.build_query`'s to say): ``/$ref``, ``/$count`` and paths of several
    segments raise :class:`ODataNotSupportedError` (target ``$expand``).
    """
    items = []
    for path, options, ref, count in _read_expand(text):
        if ref or count or len(path) != 1:
            name = "/".join(path) + ("/$ref" if ref else "/$count" if count else "") + ("(...)" if options else "")
            raise ODataNotSupportedError(f"$expand={name}: only navigation names, with their options, are served",
                                         target="$expand")
        items.append(ExpandItem(path, options))
    return tuple(items)


def _read_expand(text: str):
    """The items of a ``$expand`` value as ``(path, nested options or None, ref, count)``."""
    target = "$expand"
    items = []
    for offset, part in _split_top_level(text, ",", target):
        stripped = part.strip()
        if not stripped:
            raise ODataSyntaxError(f"Invalid {target}: empty item at column {offset + 1}",
                                   text=text, position=offset, expected=["a property name"], target=target)
        offset += len(part) - len(part.lstrip())
        options = None
        paren = stripped.find("(")
        path_text = stripped
        if paren >= 0:
            if not stripped.endswith(")"):
                raise ODataSyntaxError(f"Invalid {target}: expected ')' at column {offset + len(stripped) + 1}",
                                       text=text, position=offset + len(stripped), expected=["')'"], target=target)
            path_text = stripped[:paren]
            inner = stripped[paren + 1 : -1]
            pairs = []
            for sub_offset, opt in _split_top_level(inner, ";", target):
                if "=" not in opt:
                    raise ODataQueryOptionError(f"expected name=value in the options of {path_text!r}, got {opt!r}",
                                                target=target)
                key, value = opt.split("=", 1)
                pairs.append((key.strip(), value))
            try:
                options = parse_query_options(pairs, nested=True)
            except ODataError as exc:  # the option is in $expand's value: the client's error is there
                exc.target = target
                raise
        ref = count = False
        last = path_text.rsplit("/", 1)
        if len(last) == 2 and last[1].lower() in ("$ref", "$count"):
            ref, count = last[1].lower() == "$ref", last[1].lower() == "$count"
            path_text = last[0]
        segments = _path(path_text, offset, text, target)
        if options is not None and (ref or count):
            allowed = _REF_OPTIONS if ref else _COUNT_OPTIONS
            used = _used_options(options)
            bad = sorted(used - allowed)
            if bad:
                raise ODataQueryOptionError(
                    f"{'/$ref' if ref else '/$count'} in $expand allows no ${bad[0]} option", target=target
                )
        items.append((segments, options, ref, count))
    return tuple(items)


def _used_options(options: QueryOptions) -> set:
    used = set()
    for name in ("filter", "top", "skip", "count", "format", "skiptoken", "search", "levels"):
        if getattr(options, name) is not None:
            used.add(name)
    for name in ("orderby", "expand", "select"):
        if getattr(options, name):
            used.add(name)
    return used


def parse_select(text: str) -> Tuple[Tuple[str, ...], ...]:
    """Parse a ``$select`` value (ABNF ``select``) into a tuple of paths.

    ``"Name,ContentDate/Start"`` -> ``(('Name',), ('ContentDate', 'Start'))``; ``*`` and
    ``Namespace.*`` are kept as written. Nested options in ``$select`` (OData 4.01) are not
    supported and raise :class:`ODataNotSupportedError`.
    """
    target = "$select"
    paths = []
    for offset, part in _split_top_level(text, ",", target):
        stripped = part.strip()
        if "(" in stripped:
            raise ODataNotSupportedError("options or parameters inside $select are not supported", target=target)
        if not stripped:
            raise ODataSyntaxError(f"Invalid {target}: empty item at column {offset + 1}",
                                   text=text, position=offset, expected=["a property name"], target=target)
        paths.append(_path(stripped, offset + len(part) - len(part.lstrip()), text, target))
    return tuple(paths)
