"""Idempotent order creation: a retried POST returns the first order, never a second one.

A client that did not see the answer to its POST (a timeout, a cut connection) cannot know
whether the order was created. It makes the retry safe in one of two ways:

- an ``Idempotency-Key`` header (any 1..255 printable ASCII characters, for example a UUID): the
  key is unique per mission and owner;
- its own ``Id`` (a GUID) in the body, which then becomes the order's id.

The first request creates the order and stores the key and a fingerprint of the request (its
client-set properties; the notification password only as "set or not", never its hash). A
request that repeats the key (or the Id) with the same content (the same fingerprint, or a body
that asks for exactly the stored order: an echo of its JSON, values spelled otherwise) gets the
stored order back
(:func:`proseo_odata.orders.service.submit` answers ``replayed=True``, through :func:`find_replay`) -- however its status has moved on since. The
same key (or Id) with different content is refused with :class:`IdempotencyConflict` (HTTP 422,
``E7220``); an Id that another user's (or mission's) order has is refused with ``ConflictError``
(409). Two concurrent requests with the same key: the database's unique key lets one insert, the
other then finds it (it waited for the first to commit) and replays it.

::

    order, replayed = proseo_odata.orders.service.submit(tx, body, mission="DEMO", owner="alice", idempotency_key=key)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import uuid
from typing import Any, Mapping, Optional

from proseo_odata.model import ProductionOrder
from proseo_odata.errors import Conflict, InvalidOrder
from proseo_odata.orders.validation import INPUT_PROPERTIES, validate_order
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
    text = str(value)
    try:
        inner = text[1:-1] if text.startswith("{") and text.endswith("}") else text
        if "{" in inner or "}" in inner:  # uuid.UUID strips any braces at either end, one by one
            raise ValueError(text)
        return uuid.UUID(text)
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


def _describes(storage, existing: ProductionOrder, body: Any) -> bool:
    """True when ``body``, checked against the workflow of ``existing`` (enabled or not now), asks
    for exactly that order: the same workflow, priority, input, options (defaults filled in),
    endpoint and user name, a password given or not as before, and no other ``Id``. So a client
    that echoes the order's JSON, or spells a value otherwise (``"Priority": 50`` left out before,
    ``"Value": 3`` for ``"3"``, ``WorkflowOptions: []``), gets the order back."""
    if not isinstance(body, Mapping):
        return False
    try:
        if client_order_id(body) not in (None, existing.id):
            return False
        workflow = dataclasses.replace(storage.get_workflow(existing.mission, existing.workflow_id), enabled=True)
        asked = validate_order(body, [workflow], mission=existing.mission)
    except (InvalidOrder, NotFoundError):
        return False
    return (
        (asked.priority, asked.input_reference, asked.input_content_start, asked.input_content_end,
         asked.workflow_options, asked.notification_endpoint, asked.notification_username)
        == (existing.priority, existing.input_reference, existing.input_content_start, existing.input_content_end,
            existing.workflow_options, existing.notification_endpoint, existing.notification_username)
        and bool(asked.notification_password) == bool(existing.notification_password)
    )


def _replay(existing: ProductionOrder, fingerprint: str, *, owner: str, target: str, storage=None,
            body: Any = None) -> ProductionOrder:
    if existing.owner != owner:
        raise ConflictError(f"Id {existing.id} is already used by another production order", target="Id")
    if existing.request_hash != fingerprint and not (storage is not None and _describes(storage, existing, body)):
        what = "Idempotency-Key" if target == "Idempotency-Key" else f"Id {existing.id}"
        raise IdempotencyConflict(
            f"{what} was already used for production order {existing.id} with different content; "
            "use a new key for a new order, or repeat the first request unchanged",
            target=target,
        )
    return existing


def find_replay(storage, mission: str, owner: str, fingerprint: str, *, key: Optional[str] = None,
                order_id: Optional[uuid.UUID] = None, body: Any = None) -> Optional[ProductionOrder]:
    """The order an earlier request with the same ``key`` (else the same client ``order_id``)
    created, when its content is the same (``fingerprint``, or ``body`` describes that order:
    :func:`_describes`); None when there is none (a new order). :class:`IdempotencyConflict`
    (other content) or ``ConflictError`` (another owner's Id) otherwise."""
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
    return None if existing is None else _replay(existing, fingerprint, owner=owner, target=target, storage=storage,
                                                 body=body)
