"""Storage: the contract (:mod:`.base`: the protocols ``CatalogueStore``, ``UserStore``,
``OrderStore``, ``OutboxStore`` composed as ``StorageBase``), its errors, and :func:`load_storage`.

::

    from proseo_odata.storage import load_storage, Query
    storage = load_storage(settings)          # settings: the [app:main] mapping
    with storage.transaction() as tx:
        page = tx.query_products("DEMO", Query(top=10, count=True))
"""
from __future__ import annotations

import logging
from typing import Mapping

from proseo_odata.config import load_backend

from .base import (
    BY_ID,
    ENTITY_SETS,
    CatalogueStore,
    OrderStore,
    OutboxStore,
    ProductEntry,
    ProductFile,
    ProductText,
    Query,
    QueryResult,
    QuicklookSearch,
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
    "BY_ID", "ENTITY_SETS", "CatalogueStore", "ConflictError", "OrderStore", "OutboxStore", "Store", "UserStore", "DatabaseUnavailableError", "InvalidQueryError", "InvalidValueError",
    "NotFoundError", "ProductEntry", "ProductFile", "ProductText", "Query", "QueryResult", "QuicklookSearch", "SchemaNotReadyError", "StorageBase", "StorageError", "iter_pages",
    "load_storage", "open_storage",
]

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "proseo_odata.storage.sqlalchemy"


def load_storage(settings: Mapping[str, str]) -> StorageBase:
    """Build the storage named by ``proseo.storage.backend`` (a dotted module name, default the
    SQLAlchemy backend) by calling that module's ``load_from_config(settings)``.

    Raises ``StorageError`` when the module cannot be imported, has no ``load_from_config``, or
    returns something that is not a :class:`StorageBase`.
    """
    name, storage = load_backend(settings, "proseo.storage.backend", DEFAULT_BACKEND, error=StorageError)
    if not isinstance(storage, StorageBase):
        raise StorageError(
            f"proseo.storage.backend: {name}.load_from_config returned {type(storage).__name__}, "
            "not a StorageBase"
        )
    return storage


def open_storage(settings: Mapping[str, str], *, check_schema: bool = True, unavailable_ok: bool = False) -> StorageBase:
    """:func:`load_storage`, then (with ``check_schema``) ``storage.check_schema()``: a missing,
    older or newer schema raises ``SchemaNotReadyError`` and the storage is closed. An
    unreachable database raises ``DatabaseUnavailableError`` too, unless ``unavailable_ok``
    (a server that starts anyway and answers 503 until it is back): then it is logged once.
    The web application, the command line and ``proseo-odata worker`` open their storage here."""
    storage = load_storage(settings)
    if not check_schema:
        return storage
    try:
        storage.check_schema()
    except DatabaseUnavailableError as exc:
        if not unavailable_ok:
            storage.close()
            raise
        log.warning("%s; starting anyway (requests that need it are answered 503)", exc)
    except BaseException:
        storage.close()
        raise
    return storage
