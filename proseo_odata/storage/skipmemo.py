"""Deep ``$skip`` as cheap as a keyset page (issue 12 item 3).

Clients such as eodag rebuild every page URL from ``$skip`` and drop ``$skiptoken``, so page
5,000 would be an ``OFFSET`` that reads and throws away every row before it. When the storage
serves a ``$skip=N`` page it remembers the sort-key values of the page's last row under
``(scope, N + rows returned)``, where the scope is everything that decides which rows the query
sees and in which order: the entity set, the caller's restrictions (mission, visibility classes,
owner, ...), the bound ``$filter`` (the normalised tree, with aliases substituted) and the
``$orderby``. A later ``$skip`` equal to ``N + rows`` in the same scope then starts right after
that row (the ``$skiptoken`` keyset seek) instead of skipping rows. Any other ``$skip`` starts
from the nearest remembered position below it in the same scope and skips only the difference
(``OFFSET`` of the rows in between), or is a plain ``OFFSET`` when there is none.

Several server processes (gunicorn's workers) each have their own memo, and a client that opens
a new connection per page (eodag does) reaches either of them. The nearest position below is
what keeps such a walk cheap: a process that did not serve the previous page has served one a
few pages back, so its ``OFFSET`` is a few pages' rows, not the whole depth.

Staleness: the storage puts the catalogue version of the mission (``catalogue_versions``, bumped
in the transaction of every product write, read by the page statement itself, so in the page's
snapshot) into the scope of Products pages and uses the memo for no other entity set, so a
position stored before a write, by any process, is never used after it: a ``$skip`` page holds
the rows at that offset (contract section 6). A seek picked under an older version than the
page's snapshot turned out to have is dropped (:meth:`SkipMemo.drop_hit`) and the page read by
``OFFSET`` (``SQLAlchemyStorage._memo_page``). Entries also expire ``ttl`` seconds after they were made. The memo is bounded (least
recently used entries go first), per storage object, and safe to share between threads.
"""
from __future__ import annotations

import bisect
import time
from typing import Any, Callable, Hashable, Optional

from proseo_odata.lru import ExpiringLRU

__all__ = ["DEFAULT_SIZE", "DEFAULT_TTL", "SkipMemo"]

#: Entries kept (``proseo.storage.skip_memo.size``).
DEFAULT_SIZE = 4096
#: Seconds an entry is used (``proseo.storage.skip_memo.ttl``; 0 turns the memo off).
DEFAULT_TTL = 300.0


class SkipMemo:
    """A bounded, expiring map ``(scope, skip) -> sort-key values of the row before ``skip``,
    searchable for the nearest ``skip`` at or below a given one (:meth:`floor`)."""

    def __init__(self, size: int = DEFAULT_SIZE, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic):
        if size < 0 or ttl < 0:
            raise ValueError("skip memo size and ttl must be >= 0")
        self.size = size
        self.ttl = ttl
        #: ``(scope, skip) -> values``; every entry that leaves it leaves :attr:`_skips` too
        self._entries = ExpiringLRU(size, clock, on_remove=self._unindex)
        #: scope -> the sorted ``skip`` values of its entries (for :meth:`floor`)
        self._skips: dict = {}
        self._lock = self._entries.lock
        #: ``$skip`` pages served as a keyset seek (for tests and monitoring).
        self.hits = 0
        #: of them, seeks from a position below the ``$skip`` (an ``OFFSET`` of the difference)
        self.near_hits = 0
        #: seeks found but dropped (:meth:`drop_hit`): the page turned out to be of another
        #: catalogue version than the position, and was read again by ``OFFSET``
        self.stale = 0

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
        """The values remembered under ``key`` exactly (a key from :meth:`key`), or None."""
        if key is None or not self.enabled:
            return None
        with self._lock:
            values = self._entries.get(key)
            if values is not None:
                self.hits += 1
            return values

    def floor(self, scope: tuple, skip: int) -> Optional[tuple[int, Any]]:
        """``(position, values)`` of the entry of ``scope`` with the greatest position at or below
        ``skip``, or None: the caller seeks after ``values`` and skips ``skip - position`` rows."""
        if not self.enabled or self.key(scope, skip) is None:
            return None
        with self._lock:
            skips = self._skips.get(scope, [])
            i = bisect.bisect_right(skips, skip)
            while i > 0:
                i -= 1
                position = skips[i]
                values = self._entries.get((scope, position))  # an expired entry leaves skips: look lower
                if values is not None:
                    self.hits += 1
                    self.near_hits += position != skip
                    return position, values
            return None

    def drop_hit(self, scope: tuple, skip: int, position: int) -> None:
        """A position that :meth:`floor` gave for ``skip`` was not used after all: it is counted
        as :attr:`stale` instead of as a hit, and forgotten."""
        with self._lock:
            self.hits -= 1
            self.near_hits -= position != skip
            self.stale += 1
            self._entries.pop((scope, position))

    def put(self, key: Hashable, values) -> None:
        if key is None or not self.enabled:
            return
        with self._lock:
            if key not in self._entries:
                scope, skip = key
                bisect.insort(self._skips.setdefault(scope, []), skip)
            self._entries.put(key, tuple(values), self._entries.clock() + self.ttl)

    def _unindex(self, key) -> None:
        scope, skip = key
        skips = self._skips[scope]
        del skips[bisect.bisect_left(skips, skip)]
        if not skips:
            del self._skips[scope]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
