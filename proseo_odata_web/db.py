"""Per-request storage and archive (Warehouse style).

``request.storage`` is a reified request property: the registry's storage joined to the
request's transaction manager (``request.tm``, pyramid_tm) through the storage contract's hook
:meth:`~proseo_odata.storage.base.StorageBase.join`, so every storage call of one request runs in
one transaction that pyramid_tm commits when the view returns and aborts when the view raises (or
an exception view answered). The web layer never sees the database's sessions.

GET and HEAD requests never write, so they join ``read_only``: on SQLite such a transaction
begins DEFERRED and reads a WAL snapshot without taking the write lock, while every other
request's transaction begins IMMEDIATE (waits for the write lock up to the busy timeout instead
of failing when it would upgrade from reader to writer); on PostgreSQL a read-only session runs
in autocommit (no ``BEGIN``/``COMMIT`` round trips: a one-product page is one round trip). A GET
view that must write uses its own ``storage.transaction()``.

``request.archive`` is the registry's product archive. Storage and archive are created once at
start-up by ``main()`` and kept as ``registry.storage`` and ``registry.archive``.
"""
from __future__ import annotations


#: Methods whose requests only read the database.
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


def _storage(request):
    return request.registry.storage.join(request.tm, read_only=request.method in READ_ONLY_METHODS)


def _archive(request):
    return request.registry.archive


def includeme(config):
    config.include("pyramid_tm")
    config.add_request_method(_storage, "storage", reify=True)
    config.add_request_method(_archive, "archive", reify=True)
