"""The OData query language: AST, errors, parser and system query options.

Public entry points (also re-exported from :mod:`proseo_odata`):

- :func:`parse_filter` (text -> AST expression), :func:`parse_orderby` (text -> OrderItems),
  :func:`parse_literal` (one literal, optionally converted to an EDM type),
  :func:`parse_query_options` (query parameters -> :class:`QueryOptions`),
  :func:`parse_expand`, :func:`parse_select`;
- the AST node classes of :mod:`proseo_odata.odata.ast`;
- the exceptions of :mod:`proseo_odata.odata.errors`, rooted at :class:`ODataError`.

See docs/odata.md.
"""
from .ast import *  # noqa: F401,F403
from .ast import __all__ as _ast_all
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .options import ExpandItem, QueryOptions, parse_expand, parse_query_options, parse_select
from .parser import DEFAULT_MAX_DEPTH, DEFAULT_MAX_LENGTH, parse_filter, parse_literal, parse_orderby

__all__ = list(_ast_all) + list(_errors_all) + [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_LENGTH",
    "ExpandItem",
    "QueryOptions",
    "parse_expand",
    "parse_filter",
    "parse_literal",
    "parse_orderby",
    "parse_query_options",
    "parse_select",
]
