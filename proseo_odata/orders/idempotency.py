"""Idempotent order creation: a retried POST returns the first order, never a second one.

A client that did not see the answer to its POST (a timeout, a cut connection) cannot know
whether the order was created. It makes the retry safe in one of two ways:

- an ``Idempotency-Key`` header (any 1..255 printable ASCII characters, for example a UUID): the
  key is unique per mission and owner;
- its own ``Id`` (a GUID) in the body, which then becomes the order's id.

The first request creates the order and stores the key and a fingerprint of the request (its
client-set properties; the notification password only as "set or not", never its hash). A
request that repeats the key (or the Id) with the same content gets the stored order back
(:func:`submit_or_replay` answers ``replayed=True``) -- however its status has moved on since. The
same key (or Id) with different content is refused with :class:`IdempotencyConflict` (HTTP 422,
``E7220``); an Id that another user's (or mission's) order has is refused with ``ConflictError``
(409). Two concurrent requests with the same key: the database's unique key lets one insert, the
other then finds it (it waited for the first to commit) and replays it.

::

    order, replayed = submit_or_replay(tx, body, mission="DEMO", owner="alice", idempotency_key=key)
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

__all__ = ["IdempotencyConflict", "check_idempotency_key", "client_order_id",
           "request_fingerprint", "submit_or_replay"]

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


def _existing(storage, mission: str, owner: str, key: Optional[str], order_id: Optional[uuid.UUID]):
    if key is not None:
        return storage.find_order_by_idempotency_key(mission, owner, key), "Idempotency-Key"
    if order_id is not None:
        try:
            return storage.get_order(mission, order_id), "Id"
        except NotFoundError:
            return None, "Id"
    return None, ""


def submit_or_replay(storage, body: Mapping[str, Any], *, mission: str, owner: str,
                     idempotency_key: Optional[str] = None, **submit_options) -> tuple[ProductionOrder, bool]:
    """Create the order of ``body`` (:func:`proseo_odata.orders.service.submit_order`) unless
    the same request created it before; returns ``(order, replayed)``."""
    from proseo_odata.orders.service import submit_order

    order_id = client_order_id(body)
    fingerprint = request_fingerprint(body)
    existing, target = _existing(storage, mission, owner, idempotency_key, order_id)
    if existing is not None:
        return _replay(existing, fingerprint, owner=owner, target=target), True
    try:
        order = submit_order(storage, body, mission=mission, owner=owner, order_id=order_id,
                             idempotency_key=idempotency_key, request_hash=fingerprint, **submit_options)
    except ConflictError:
        if idempotency_key is None and order_id is None:
            raise
        # A concurrent request with the same key or Id committed first (or the Id is another
        # mission's order): replay it, or refuse.
        existing, target = _existing(storage, mission, owner, idempotency_key, order_id)
        if existing is None:
            if order_id is not None and idempotency_key is None:
                raise ConflictError(f"Id {order_id} is already used by another production order", target="Id") from None
            raise
        return _replay(existing, fingerprint, owner=owner, target=target), True
    return order, False
