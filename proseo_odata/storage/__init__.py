"""Storage: the contract (:mod:`.base`: the protocols ``CatalogueStore``, ``UserStore``,
``OrderStore``, ``OutboxStore`` composed as ``StorageBase``), its errors, and :func:`load_storage`.

::

    from proseo_odata.storage import load_storage, Query
    storage = load_storage(settings)          # settings: the [app:main] mapping
    with storage.transaction() as tx:
        page = tx.query_products("DEMO", Query(top=10, count=True))
"""
from __future__ import annotations

import importlib
from typing import Mapping

from .base import (
    ENTITY_SETS,
    CatalogueStore,
    OrderStore,
    OutboxStore,
    Query,
    QueryResult,
    StorageBase,
    Store,
    UserStore,
    iter_pages,
)
from .errors import (
    ConflictError,
    DatabaseUnavailableError,
    InvalidQueryError,
    InvalidValueError,
    NotFoundError,
    SchemaNotReadyError,
    StorageError,
)

__all__ = [
    "ENTITY_SETS", "CatalogueStore", "ConflictError", "OrderStore", "OutboxStore", "Store", "UserStore", "DatabaseUnavailableError", "InvalidQueryError", "InvalidValueError",
    "NotFoundError", "Query", "QueryResult", "SchemaNotReadyError", "StorageBase", "StorageError", "iter_pages",
    "load_storage",
]

DEFAULT_BACKEND = "proseo_odata.storage.sqlalchemy"


def load_storage(settings: Mapping[str, str]) -> StorageBase:
    """Build the storage named by ``proseo.storage.backend`` (a dotted module name, default the
    SQLAlchemy backend) by calling that module's ``load_from_config(settings)``.

    Raises ``StorageError`` when the module cannot be imported, has no ``load_from_config``, or
    returns something that is not a :class:`StorageBase`.
    """
    name = (settings.get("proseo.storage.backend") or DEFAULT_BACKEND).strip()
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise StorageError(f"proseo.storage.backend: cannot import {name!r}: {exc}") from exc
    factory = getattr(module, "load_from_config", None)
    if not callable(factory):
        raise StorageError(f"proseo.storage.backend: module {name!r} has no load_from_config(settings)")
    storage = factory(settings)
    if not isinstance(storage, StorageBase):
        raise StorageError(
            f"proseo.storage.backend: {name}.load_from_config returned {type(storage).__name__}, "
            "not a StorageBase"
        )
    return storage
