"""The OData query language: AST, errors, parser and system query options.

Public entry points (also re-exported from :mod:`proseo_odata`):

- :func:`parse_filter` (text -> AST expression), :func:`parse_orderby` (text -> OrderItems),
  :func:`parse_query_options` (query parameters -> :class:`QueryOptions`);
- the AST node classes of :mod:`proseo_odata.odata.ast`;
- the exceptions of :mod:`proseo_odata.odata.errors`, rooted at :class:`ODataError`.
"""
from .ast import *  # noqa: F401,F403
from .ast import __all__ as _ast_all
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all

__all__ = list(_ast_all) + list(_errors_all)
