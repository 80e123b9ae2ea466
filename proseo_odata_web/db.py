"""Per-request database session and storage (Warehouse style).

``request.dbsession`` is a reified request property: a SQLAlchemy ``Session`` from the storage's
``session_factory``, registered with zope.sqlalchemy against ``request.tm``; pyramid_tm commits
it when the view returns and aborts it when the view raises (or an exception view answered).
``request.storage`` is the registry's storage bound to that session (``storage.bind``), so every
storage call of one request runs in one transaction. ``request.archive`` is the registry's
product archive.

The storage itself (engine, connection pool) is created once at start-up by ``main()`` and kept
as ``registry.storage``.
"""
from __future__ import annotations

import zope.sqlalchemy


def _dbsession(request):
    session = request.registry.storage.session_factory()
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
