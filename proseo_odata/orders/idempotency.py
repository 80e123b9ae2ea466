"""Idempotent order creation: a retried POST returns the first order, never a second one.

A client that did not see the answer to its POST (a timeout, a cut connection) cannot know
whether the order was created. It makes the retry safe in one of two ways:

- an ``Idempotency-Key`` header (any 1..255 printable ASCII characters, for example a UUID): the
  key is unique per mission and owner;
- its own ``Id`` (a GUID) in the body, which then becomes the order's id.

The first request creates the order and stores the key and a fingerprint of the request (its
client-set properties; the notification password only as "set or not", never its hash). A
request that repeats the key (or the Id) with the same content gets the stored order back
(:func:`proseo_odata.orders.service.submit` answers ``replayed=True``, through :func:`find_replay`) -- however its status has moved on since. The
same key (or Id) with different content is refused with :class:`IdempotencyConflict` (HTTP 422,
``E7220``); an Id that another user's (or mission's) order has is refused with ``ConflictError``
(409). Two concurrent requests with the same key: the database's unique key lets one insert, the
other then finds it (it waited for the first to commit) and replays it.

::

    order, replayed = proseo_odata.orders.service.submit(tx, body, mission="DEMO", owner="alice", idempotency_key=key)
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any, Mapping, Optional

from proseo_odata.model import ProductionOrder
from proseo_odata.errors import Conflict, InvalidOrder
from proseo_odata.orders.validation import INPUT_PROPERTIES
from proseo_odata.storage.errors import ConflictError, NotFoundError

__all__ = ["IdempotencyConflict", "check_idempotency_key", "client_order_id", "find_replay", "request_fingerprint"]

MAX_KEY_LENGTH = 255
_KEY = re.compile(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")
_SECRET_PROPERTIES = {"NotificationEpPassword"}


class IdempotencyConflict(Conflict):
    """The key (or Id) was used before for a different order (HTTP 422 in ODIP)."""

    kind = "conflict.idempotency"

    def __init__(self, message: str, *, target: str):
        super().__init__(message, target=target)


def check_idempotency_key(value: Optional[str]) -> Optional[str]:
    """The ``Idempotency-Key`` header's value, checked (an ``InvalidOrder`` when malformed); None when
    absent. Surrounding quotes (the IETF draft's structured-field string) are removed."""
    if value is None:
        return None
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_LENGTH or not _KEY.match(key):
        raise InvalidOrder(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters (for example a UUID)",
            target="Idempotency-Key",
        )
    return key


def client_order_id(body: Mapping[str, Any]) -> Optional[uuid.UUID]:
    """The client's own ``Id`` in the body (a GUID), None when absent or null; 400 when it is
    not a GUID (an ``InvalidOrder``)."""
    value = body.get("Id") if isinstance(body, Mapping) else None
    if value is None or value == "":
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidOrder("Id must be a GUID (the client's own order id) or be left out",
                           target="Id") from None


def request_fingerprint(body: Mapping[str, Any]) -> str:
    """SHA-256 over the client-set properties of an order body (canonical JSON); secrets count
    only as present or absent."""
    relevant = {}
    for name in sorted(INPUT_PROPERTIES | {"Id"}):
        if name in body:
            value = body[name]
            if name in _SECRET_PROPERTIES:
                value = value is not None and value != ""
            elif name == "Id" and value not in (None, ""):
                value = str(value).lower()
            relevant[name] = value
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(existing: ProductionOrder, fingerprint: str, *, owner: str, target: str) -> ProductionOrder:
    if existing.owner != owner:
        raise ConflictError(f"Id {existing.id} is already used by another production order", target="Id")
    if existing.request_hash != fingerprint:
        what = "Idempotency-Key" if target == "Idempotency-Key" else f"Id {existing.id}"
        raise IdempotencyConflict(
            f"{what} was already used for production order {existing.id} with different content; "
            "use a new key for a new order, or repeat the first request unchanged",
            target=target,
        )
    return existing


def find_replay(storage, mission: str, owner: str, fingerprint: str, *, key: Optional[str] = None,
                order_id: Optional[uuid.UUID] = None) -> Optional[ProductionOrder]:
    """The order an earlier request with the same ``key`` (else the same client ``order_id``)
    created, when its content (``fingerprint``) is the same; None when there is none (a new
    order). :class:`IdempotencyConflict` (other content) or ``ConflictError`` (another
    owner's Id) otherwise."""
    if key is not None:
        existing, target = storage.find_order_by_idempotency_key(mission, owner, key), "Idempotency-Key"
    elif order_id is not None:
        target = "Id"
        try:
            existing = storage.get_order(mission, order_id)
        except NotFoundError:
            existing = None
    else:
        return None
    return None if existing is None else _replay(existing, fingerprint, owner=owner, target=target)
