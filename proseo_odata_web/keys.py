"""The entity key of ``Set(<key>)`` in PRIP and ODIP paths (contract section 5).

A key is a GUID, bare (``Products(2b17...)``), quoted (``Products('2b17...')``) or named
(``Products(Id=2b17...)``). :func:`parse_key` is the one parser of every route with a key:
products, subscriptions, workflows and production orders; each passes what it names. A bad key
is an invalid query (``E7721`` in PRIP, ``E7221`` in ODIP: :data:`proseo_odata_web.errors.ERROR_TABLE`).
:func:`load_or_404` is the one "load the entity of that key, or answer 404" of those routes.
"""
from __future__ import annotations

import re
import uuid
from typing import Callable, Optional, TypeVar
from urllib.parse import quote

from proseo_odata.odata.errors import ODataError
from proseo_odata.errors import NotFound

__all__ = ["EXAMPLE_KEY", "load_or_404", "node_url", "parse_key", "parse_name_key", "name_key", "path_segment"]

T = TypeVar("T")

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


#: An ``Edm.String`` key: ``'<text>'`` (a quote doubled inside), or named: ``Name='<text>'``.
_NAME_KEY = re.compile(r"^(?:Name=)?'((?:[^']|'')*)'$", re.DOTALL)
#: What a string key keeps unencoded in a URL (RFC 3986 ``pchar`` but ``%``).
_PCHAR = "!$&'()*+,;=:@-._~"


def parse_name_key(text: str, what: str) -> str:
    """The text of a string key (an attribute's ``Name``: ``Attributes('cloudCover')``), its
    doubled quotes made single; an :class:`ODataError` (target ``Name``) naming ``what`` otherwise."""
    match = _NAME_KEY.match(text.strip())
    if match is None:
        raise ODataError(f"Invalid {what} key {text!r}: expected a quoted name such as 'cloudCover'", target="Name")
    return match.group(1).replace("''", "'")


def path_segment(text: str) -> str:
    """``text`` in a URL path segment: what a segment cannot hold (RFC 3986 ``pchar`` but ``%``)
    percent-encoded."""
    return quote(text, safe=_PCHAR)


def name_key(name: str) -> str:
    """``'<name>'`` as a URL path writes a string key (quotes doubled, what a path segment
    cannot hold percent-encoded): the inverse of :func:`parse_name_key` after URL decoding."""
    return "'" + path_segment(name.replace("'", "''")) + "'"


def node_url(base: str, names) -> str:
    """The URL of a product's node (``Products(<Id>)/Nodes(<name>)/Nodes(...)``) from the
    product's ``base`` URL and the node's names from the root: each name bare, as CDSE writes
    them, unless it would read as a quoted key (``'...`` or ``Name='...``)."""
    return base + "".join(f"/Nodes({_node_segment(name)})" for name in names)


def _node_segment(name: str) -> str:
    return name_key(name) if name.startswith(("'", "Name='")) else path_segment(name)


def load_or_404(load: Callable[[uuid.UUID], T], entity_id: uuid.UUID, not_found: Callable[[uuid.UUID], Exception],
                visible: Optional[Callable[[T], bool]] = None) -> T:
    """``load(entity_id)`` (a storage getter bound to the mission), when it exists and
    ``visible`` (if given) accepts it; otherwise ``not_found(entity_id)`` is raised: an entity
    the principal may not see is answered exactly as an absent one (contract section 8)."""
    try:
        entity = load(entity_id)
    except NotFound:
        raise not_found(entity_id) from None
    if visible is not None and not visible(entity):
        raise not_found(entity_id)
    return entity
