"""Per-request storage and archive (Warehouse style).

``request.storage`` is a reified request property, created at its first use:

- for a request that may write (every method but GET and HEAD), the registry's storage joined to
  the request's transaction manager (``request.tm``, pyramid_tm) through the storage contract's
  hook :meth:`~proseo_odata.storage.base.StorageBase.join`, so every storage call of the request
  runs in one transaction that pyramid_tm commits when the view returns and aborts when the view
  raises (or an exception view answered);
- for GET and HEAD, which never write, the storage contract's
  :meth:`~proseo_odata.storage.base.StorageBase.read_only`: on PostgreSQL a pooled connection in
  autocommit (no ``BEGIN``/``COMMIT`` round trips: a one-product page is one round trip), on
  SQLite a DEFERRED transaction reading a WAL snapshot without taking the write lock (every other
  request's transaction begins IMMEDIATE: it waits for the write lock up to the busy timeout
  instead of failing when it would upgrade from reader to writer). It is released by a finished
  callback, when the response has been made (before a download's body is sent), after an error
  too. pyramid_tm is not activated for these requests (``tm.activate_hook``): its begin, join and
  two-phase commit were ~0.05 ms of the ~1.4 ms of CPU of a page of 100 products. A GET view that
  must write uses its own ``storage.transaction()``.

The web layer never sees the database's sessions. ``request.archive`` is the registry's product
archive. Storage and archive are created once at start-up by ``main()`` and kept as
``registry.storage`` and ``registry.archive``.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

#: Methods whose requests only read the database.
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


def writes(request) -> bool:
    """pyramid_tm's ``tm.activate_hook``: a transaction for the requests that may write."""
    return request.method not in READ_ONLY_METHODS


def _storage(request):
    storage = request.registry.storage
    if request.method in READ_ONLY_METHODS:
        bound, release = storage.read_only()
        request.add_finished_callback(lambda _request: _release(release))
        return bound
    return storage.join(request.tm)


def _release(release) -> None:
    # The response is made: a connection that cannot be given back (the database went away)
    # is the pool's to replace, not a reason to turn the answer into an error.
    try:
        release()
    except Exception:  # noqa: BLE001
        log.exception("releasing a read-only request's storage failed")


def _archive(request):
    return request.registry.archive


def includeme(config):
    config.registry.settings.setdefault("tm.activate_hook", writes)
    config.include("pyramid_tm")
    config.add_request_method(_storage, "storage", reify=True)
    config.add_request_method(_archive, "archive", reify=True)
