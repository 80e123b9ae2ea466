"""The entity key of ``Set(<key>)`` in PRIP and ODIP paths (contract section 5).

A key is a GUID, bare (``Products(2b17...)``), quoted (``Products('2b17...')``) or named
(``Products(Id=2b17...)``). :func:`parse_key` is the one parser of every route with a key:
products, subscriptions, workflows and production orders; each passes what it names. A bad key
is an invalid query (``E7721`` in PRIP, ``E7221`` in ODIP: :data:`proseo_odata_web.errors.ERROR_TABLE`).
"""
from __future__ import annotations

import re
import uuid

from proseo_odata.odata.errors import ODataError

__all__ = ["EXAMPLE_KEY", "parse_key"]

EXAMPLE_KEY = "2b17b57d-fff4-4645-b539-91f305c83b91"

_KEY = re.compile(
    r"^(?:Id=)?(?P<quote>'?)(?P<id>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})(?P=quote)$"
)


def parse_key(text: str, what: str) -> uuid.UUID:
    """The GUID in ``Set(<key>)``; an :class:`ODataError` (an invalid query, target ``Id``) naming
    ``what`` (``"product"``, ``"production order"``, ...) otherwise."""
    match = _KEY.match(text.strip())
    if match is None:
        raise ODataError(
            f"Invalid {what} key {text!r}: expected a UUID such as {EXAMPLE_KEY}",
            target="Id",
        )
    return uuid.UUID(match.group("id"))
