"""Per-request database session and storage (Warehouse style).

``request.dbsession`` is a reified request property: a SQLAlchemy ``Session`` from the storage's
``session_factory``, registered with zope.sqlalchemy against ``request.tm``; pyramid_tm commits
it when the view returns and aborts it when the view raises (or an exception view answered).
``request.storage`` is the registry's storage bound to that session (``storage.bind``), so every
storage call of one request runs in one transaction. ``request.archive`` is the registry's
product archive.

GET and HEAD requests never write, so their session comes from the storage's
``read_session_factory`` when it has one: on SQLite such a transaction begins DEFERRED and reads
a WAL snapshot without taking the write lock, while every other request's transaction begins
IMMEDIATE (waits for the write lock up to the busy timeout instead of failing when it would
upgrade from reader to writer). A GET view that must write uses its own
``storage.transaction()``.

The storage itself (engine, connection pool) is created once at start-up by ``main()`` and kept
as ``registry.storage``.
"""
from __future__ import annotations

import zope.sqlalchemy


#: Methods whose requests only read the database.
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


def _dbsession(request):
    storage = request.registry.storage
    factory = storage.session_factory
    if request.method in READ_ONLY_METHODS:
        factory = getattr(storage, "read_session_factory", factory)
    session = factory()
    # initial_state "changed": the storage writes with Core statements (session.execute), which
    # zope.sqlalchemy does not notice; with the default "active" state it would roll them back.
    zope.sqlalchemy.register(session, transaction_manager=request.tm, initial_state="changed")
    return session


def _storage(request):
    return request.registry.storage.bind(request.dbsession)


def _archive(request):
    return request.registry.archive


def includeme(config):
    config.include("pyramid_tm")
    config.add_request_method(_dbsession, "dbsession", reify=True)
    config.add_request_method(_storage, "storage", reify=True)
    config.add_request_method(_archive, "archive", reify=True)
