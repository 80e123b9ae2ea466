"""Compiled-filter cache: ``(entity type, model, filter text, aliases) -> bound tree`` (and SQL expression).

Real clients repeat the same few filters (a monitoring collector polls the same query every
minute), so parsing and binding once per distinct text pays. :class:`FilterCache` is a
thread-safe LRU; errors are not cached (a bad filter costs its parse every time, as it should).

The SQL expression is cached too when that is safe: per mapping object, and only for filters
without ``now()`` (whose value is a parameter fixed at compile time). SQLAlchemy expressions
are immutable once built, so sharing them between threads is safe.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional, Tuple

from . import edm
from .binding import BOrderItem, Bound, bind_filter, bind_orderby, calls_now
from .parser import parse_aliases, parse_filter, parse_orderby

__all__ = ["FilterCache", "default_cache"]


class FilterCache:
    """A thread-safe LRU of bound filters (and, where safe, compiled SQL expressions)."""

    def __init__(self, maxsize: int = 1024):
        self.maxsize = maxsize
        self._entries: "OrderedDict[Hashable, Any]" = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _get(self, key):
        with self._lock:
            try:
                value = self._entries[key]
            except KeyError:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def _put(self, key, value):
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def bound_filter(self, text: str, entity_type: edm.EntityType, *,
                     model: Optional[edm.EntityModel] = None, aliases: Tuple[Tuple[str, str], ...] = (),
                     target: str = "$filter") -> Bound:
        """``bind_filter(parse_filter(text), entity_type)``, cached. Raises what they raise.

        ``aliases`` are the request's parameter aliases ``(('@p', 'value text'), ...)``: each
        value is parsed as an expression and the key includes them, so the same text with other
        alias values is another entry. The bound tree holds no time: ``now()`` stays a call node
        (evaluated when the tree is compiled), so every bound tree can be cached.
        """
        # The key holds the entity type and the model themselves (both compare by identity): the
        # same type in another model binds other derived and enumeration types.
        key = ("bound", entity_type, model, text, aliases, target)
        value = self._get(key)
        if value is None:
            value = bind_filter(parse_filter(text, target=target), entity_type, model=model, aliases=parse_aliases(aliases))
            self._put(key, value)
        return value

    def bound_orderby(self, text: str, entity_type: edm.EntityType, *,
                      model: Optional[edm.EntityModel] = None) -> Tuple[BOrderItem, ...]:
        """``bind_orderby(parse_orderby(text), entity_type)``, cached. Raises what they raise."""
        key = ("orderby", entity_type, model, text)
        value = self._get(key)
        if value is None:
            value = bind_orderby(parse_orderby(text), entity_type, model=model)
            self._put(key, value)
        return value

    def sql_filter(self, text: str, entity_type: edm.EntityType, mapping_key: Hashable,
                   compile_sql: Callable[[Bound], Any], *, model: Optional[edm.EntityModel] = None):
        """The SQL expression of ``text``: ``compile_sql(bound)`` cached under ``mapping_key``
        (for instance ``(entity_set, id(tables))``), unless the filter uses ``now()``."""
        key = ("sql", entity_type, model, mapping_key, text)
        value = self._get(key)
        if value is not None:
            return value
        bound = self.bound_filter(text, entity_type, model=model)
        expression = compile_sql(bound)
        # a now() call has "now" in its text: the tree is only walked for texts that have it
        if "now" not in text.lower() or not calls_now(bound):
            self._put(key, expression)
        return expression

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)


#: The process-wide cache: :func:`proseo_odata.query.build_query` (every service request) uses
#: it, and so may embedding applications.
default_cache = FilterCache()
