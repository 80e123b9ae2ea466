"""Short-lived caches of rows read on every request and changed rarely (issue 12 item 6).

Every authenticated request looks its user up, and every order submission the mission's
enabled workflows. Each look-up is a database round trip, which on a small machine costs more
CPU than the rest of the request's work (bench/README.md, "Orders"). The SQLAlchemy storage
keeps those rows in a :class:`ReadCache` per storage object (that is, per process) for a few
seconds:

* a write through the same storage (``update_user``, ``delete_user``, ``update_workflow``, ...)
  drops the entries it changes at once and again when its transaction ends
  (:func:`invalidate_at_end`: a request that read the old row while the write was not yet
  committed cannot leave it in the cache);
* a change made by another process (the ``proseo-odata`` command line, another server
  process) is seen when the entry expires: at most ``ttl`` seconds later. That is the
  documented bound (docs/configuration.md, ``proseo.storage.user_cache.ttl`` and
  ``proseo.storage.workflow_cache.ttl``); ``ttl = 0`` turns a cache off.

Only what is found is cached (a missing user is asked again every time, so a new user can log
in at once). The cache is bounded (least recently used entries go first) and safe to share
between threads; a load that raced an invalidation is returned but not kept.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Hashable, Optional

from sqlalchemy import event
from sqlalchemy.orm import Session

from proseo_odata.lru import ExpiringLRU

__all__ = ["DEFAULT_SIZE", "DEFAULT_TTL", "ReadCache", "invalidate_at_end"]

#: Entries kept per cache.
DEFAULT_SIZE = 1024
#: Seconds an entry is used (how long another process's change may go unseen).
DEFAULT_TTL = 5.0

_PENDING = "proseo_readcache_invalidate"


class ReadCache:
    """A bounded map ``key -> value`` whose entries expire ``ttl`` seconds after they were loaded."""

    def __init__(self, ttl: float = DEFAULT_TTL, size: int = DEFAULT_SIZE,
                 clock: Callable[[], float] = time.monotonic):
        if size < 0 or ttl < 0:
            raise ValueError("read cache size and ttl must be >= 0")
        self.ttl = ttl
        self.size = size
        self._entries = ExpiringLRU(size, clock)
        #: bumped by every invalidation: a load that started before one is not kept
        self._generation = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.ttl > 0

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The cached value of ``key``, or ``load()`` (kept until it expires). What ``load``
        raises propagates and nothing is kept."""
        if not self.enabled:
            return load()
        entries = self._entries
        with entries.lock:
            entry = entries.get(key)
            if entry is not None:
                self.hits += 1
                return entry[0]
            self.misses += 1
            generation = self._generation
        value = load()
        with entries.lock:
            if generation == self._generation:
                entries.put(key, (value,), entries.clock() + self.ttl)  # a tuple: None is a value too
        return value

    def invalidate(self, key: Optional[Hashable] = None) -> None:
        """Drop ``key`` (every entry when None)."""
        with self._entries.lock:
            self._generation += 1
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key)

    def __len__(self) -> int:
        return len(self._entries)


def invalidate_at_end(session: Session, cache: ReadCache, key: Optional[Hashable] = None) -> None:
    """Drop ``key`` from ``cache`` now and again when ``session``'s transaction ends (committed
    or not): between the write and its commit another request may read the old row."""
    cache.invalidate(key)
    session.info.setdefault(_PENDING, []).append((cache, key))


@event.listens_for(Session, "after_transaction_end")
def _invalidate_after_end(session: Session, transaction) -> None:
    if transaction.parent is not None:
        return  # a SAVEPOINT or a subtransaction: the outer transaction has not ended yet
    for cache, key in session.info.pop(_PENDING, ()):
        cache.invalidate(key)
