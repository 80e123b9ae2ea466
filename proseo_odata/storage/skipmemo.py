"""Deep ``$skip`` as cheap as a keyset page (issue 12 item 3).

Clients such as eodag rebuild every page URL from ``$skip`` and drop ``$skiptoken``, so page
5,000 would be an ``OFFSET`` that reads and throws away every row before it. When the storage
serves a ``$skip=N`` page it remembers the sort-key values of the page's last row under
``(scope, N + rows returned)``, where the scope is everything that decides which rows the query
sees and in which order: the entity set, the caller's restrictions (mission, visibility classes,
owner, ...), the bound ``$filter`` (the normalised tree, with aliases substituted) and the
``$orderby``. A later ``$skip`` equal to ``N + rows`` in the same scope then starts right after
that row (the ``$skiptoken`` keyset seek) instead of skipping rows. Any other ``$skip`` is an
``OFFSET``.

Staleness: a ``$skip`` served from the memo returns the rows after the remembered row, which is
what a client paging through a growing catalogue wants (no duplicates, no gaps), not the rows at
that absolute offset now. Entries expire ``ttl`` seconds after they were made, so a client coming
back later gets ``OFFSET`` semantics again. The memo is bounded (least recently used entries go
first), per storage object, and safe to share between threads.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional

__all__ = ["DEFAULT_SIZE", "DEFAULT_TTL", "SkipMemo"]

#: Entries kept (``proseo.storage.skip_memo.size``).
DEFAULT_SIZE = 4096
#: Seconds an entry is used (``proseo.storage.skip_memo.ttl``; 0 turns the memo off).
DEFAULT_TTL = 300.0


class SkipMemo:
    """A bounded, expiring map ``(scope, skip) -> sort-key values of the row before ``skip``."""

    def __init__(self, size: int = DEFAULT_SIZE, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic):
        if size < 0 or ttl < 0:
            raise ValueError("skip memo size and ttl must be >= 0")
        self.size = size
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        #: ``$skip`` pages served as a keyset seek (for tests and monitoring).
        self.hits = 0

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.ttl > 0

    @staticmethod
    def key(scope: tuple, skip: int) -> Optional[tuple]:
        """The entry key, or None when a part of the scope cannot be hashed (not memoised)."""
        key = (scope, skip)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def get(self, key: Hashable) -> Optional[Any]:
        if key is None or not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            values, expires = entry
            if self._clock() >= expires:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return values

    def put(self, key: Hashable, values) -> None:
        if key is None or not self.enabled:
            return
        with self._lock:
            self._entries[key] = (tuple(values), self._clock() + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
