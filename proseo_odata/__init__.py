"""proseo-odata: the framework-agnostic core of the PRIP and ODIP services.

The OData query language front end is re-exported here: ``parse_filter``, ``parse_orderby``,
``parse_literal``, ``parse_query_options`` (with ``QueryOptions`` and ``ExpandItem``) and the
error tree rooted at ``ODataError``. See docs/odata.md.
"""
from .odata.errors import (
    ODataError,
    ODataLimitError,
    ODataNameError,
    ODataNotSupportedError,
    ODataQueryOptionError,
    ODataSyntaxError,
    ODataTypeError,
)
from .odata.options import ExpandItem, QueryOptions, parse_expand, parse_query_options, parse_select
from .odata.parser import parse_filter, parse_literal, parse_orderby

__all__ = [
    "ExpandItem",
    "ODataError",
    "ODataLimitError",
    "ODataNameError",
    "ODataNotSupportedError",
    "ODataQueryOptionError",
    "ODataSyntaxError",
    "ODataTypeError",
    "QueryOptions",
    "parse_expand",
    "parse_filter",
    "parse_literal",
    "parse_orderby",
    "parse_query_options",
    "parse_select",
]
