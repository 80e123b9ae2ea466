"""A bounded, thread-safe map whose entries expire: the one structure behind the process-local
caches (the storage's read caches and ``$skip`` memo, the web layer's memo of checked passwords
and bearer tokens)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable, Optional

__all__ = ["ExpiringLRU"]


class ExpiringLRU:
    """``key -> value``, each entry living until its own expiry time on ``clock``; when more
    than ``size`` entries are kept the least recently used leaves first (``size`` 0: nothing is
    kept). ``on_remove(key)`` is called, under the lock, for every entry that leaves (expired,
    evicted, popped or cleared), so an owner can keep an index of the keys."""

    def __init__(self, size: int, clock: Callable[[], float] = time.monotonic,
                 on_remove: Optional[Callable[[Hashable], None]] = None):
        if size < 0:
            raise ValueError("size must be >= 0")
        self.size = size
        self.clock = clock
        self._on_remove = on_remove
        self._entries: "OrderedDict[Hashable, tuple[Any, float]]" = OrderedDict()
        #: Reentrant: an owner may hold it around several calls (a check and a put as one step).
        self.lock = threading.RLock()

    def get(self, key: Hashable) -> Optional[Any]:
        """The value of ``key``, or None when absent or expired (an expired entry is removed);
        a found entry becomes the most recently used."""
        with self.lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= self.clock():
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: Any, expires: float) -> None:
        """Keep ``value`` under ``key`` until ``expires`` (on ``clock``)."""
        if self.size <= 0:
            return
        with self.lock:
            self._entries[key] = (value, expires)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._remove(next(iter(self._entries)))

    def pop(self, key: Hashable) -> None:
        with self.lock:
            if key in self._entries:
                self._remove(key)

    def clear(self) -> None:
        with self.lock:
            for key in list(self._entries):
                self._remove(key)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def _remove(self, key: Hashable) -> None:
        del self._entries[key]
        if self._on_remove is not None:
            self._on_remove(key)
