"""Domain objects: missions, users, products, subscriptions, workflows, production orders.

Plain dataclasses, independent of storage and web. Conventions:

- Every date is a timezone-aware ``datetime`` in UTC; the constructors normalise aware values
  to UTC and reject naive ones (``TypeError``), so a missing zone is caught where it happens.
- Ids are ``uuid.UUID``; a new object gets a time-ordered one (version 7, :mod:`.ids`).
- Every object belongs to a mission (``mission`` holds the mission code).
- ``revision`` is the optimistic-concurrency counter the storage maintains: ``update_*`` of an
  object whose ``revision`` is no longer the stored one raises ``ConflictError``.
"""
from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from .enums import (
    AttributeType,
    OptionType,
    OrderStatus,
    ProductionType,
    Role,
    SubscriptionStatus,
    VisibilityClass,
)
from .ids import new_id
from .passwords import verify_password

UTC = timezone.utc

#: ``EvictionDate`` of a product that never leaves the archive (contract section 3).
NEVER = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime | None, what: str = "date") -> datetime | None:
    """Return ``value`` converted to UTC; ``None`` stays ``None``; naive values are rejected."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise TypeError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _normalise_dates(obj: Any, *names: str) -> None:
    for name in names:
        object.__setattr__(obj, name, as_utc(getattr(obj, name), name))


@dataclass(frozen=True)
class Mission:
    """A mission; every other object belongs to exactly one (code such as ``S2B``)."""

    code: str
    name: str = ""

    def __post_init__(self):
        if not self.code or not isinstance(self.code, str) or "\\" in self.code:
            raise ValueError(f"invalid mission code {self.code!r}")


#: What a new mission's code may be: it starts archive keys (``S2B/<product Id>/...``) and login
#: names (``S2B\\alice``, ``S2B-alice``), so no ``/``, ``.``, ``-``, blank or control character.
MISSION_CODE = re.compile(r"[A-Za-z0-9_]{1,64}\Z")

#: C0 and C1 control characters and DEL: never in a name that becomes a header, a file name or a
#: log line (user names, product Names, a download's file name).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_new_mission_code(code: str) -> None:
    """``ValueError`` for a code a new mission may not have (:data:`MISSION_CODE`). Missions
    stored before keep theirs: only adding a mission checks."""
    if not isinstance(code, str) or not MISSION_CODE.match(code):
        raise ValueError(f"invalid mission code {code!r}: 1 to 64 letters, digits or '_' (it starts archive "
                         "keys and login names)")


@dataclass
class User:
    """A user of one mission; logs in as ``MISSION\\name``."""

    mission: str
    name: str
    password_hash: str = field(repr=False)  # a secret: never in logs or reprs
    roles: frozenset[Role] = frozenset()

    def __post_init__(self):
        self.roles = frozenset(Role(role) for role in self.roles)
        if not self.name or "\\" in self.name:
            raise ValueError(f"invalid user name {self.name!r}")

    @property
    def qualified_name(self) -> str:
        return f"{self.mission}\\{self.name}"

    def check_password(self, password: str) -> bool:
        return verify_password(password, self.password_hash)

    def has_role(self, role: Role | str) -> bool:
        return Role(role) in self.roles


@dataclass(frozen=True)
class Checksum:
    """``OData.CSC.Checksum``: algorithm (``MD5``, ``SHA256``, ...), hex value, date."""

    algorithm: str
    value: str
    date: datetime | None = None

    def __post_init__(self):
        _normalise_dates(self, "date")


#: :attr:`Product.quicklook` of a product whose file was searched and has no quicklook (None:
#: not searched; ``proseo-odata archive quicklooks`` looks at those only, unless asked again).
NO_QUICKLOOK = ""


@dataclass(frozen=True)
class Asset:
    """``OData.CSC.Asset``: a file that comes with a product, read at ``download_link`` (the
    product's quicklook image: :meth:`quicklook`). Derived from the product, never stored."""

    id: uuid.UUID
    type: str
    download_link: str | None
    s3_path: str | None = None

    @classmethod
    def quicklook(cls, product_id: uuid.UUID, path: str, download_link: str) -> "Asset":
        """The ``QUICKLOOK`` asset of the product ``product_id`` whose quicklook is ``path``
        (:attr:`Product.quicklook`): its id is the same on every answer (a UUID of version 5
        from the two)."""
        return cls(uuid.uuid5(product_id, "QUICKLOOK/" + path), "QUICKLOOK", download_link)


_ATTRIBUTE_PYTHON_TYPES = {
    AttributeType.STRING: (str,),
    AttributeType.INTEGER: (int,),
    AttributeType.DOUBLE: (float, int),
    AttributeType.BOOLEAN: (bool,),
    AttributeType.DATETIMEOFFSET: (datetime,),
}


@dataclass(frozen=True)
class Attribute:
    """A typed product attribute (``OData.CSC.<Type>Attribute``).

    ``value`` has the Python type of ``type``: str, int (Int64 range), float, bool, aware datetime.
    """

    name: str
    type: AttributeType
    value: Any

    def __post_init__(self):
        object.__setattr__(self, "type", AttributeType(self.type))
        value = self.value
        expected = _ATTRIBUTE_PYTHON_TYPES[self.type]
        if value is None:
            raise ValueError(f"attribute {self.name!r} has no value")
        if isinstance(value, bool) and self.type is not AttributeType.BOOLEAN:
            raise TypeError(f"attribute {self.name!r}: a bool is not a {self.type} value")
        if not isinstance(value, expected):
            raise TypeError(
                f"attribute {self.name!r}: {type(value).__name__} is not a {self.type} value"
            )
        if self.type is AttributeType.INTEGER and not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"attribute {self.name!r}: {value} is outside the Int64 range")
        if self.type is AttributeType.DOUBLE:
            try:
                object.__setattr__(self, "value", float(value))
            except OverflowError:  # an integer past the Double range
                raise ValueError(f"attribute {self.name!r}: {value} is outside the Double range") from None
            if not math.isfinite(self.value):  # no JSON number: a listing holding it would be no JSON
                raise ValueError(f"attribute {self.name!r}: {self.value} is not stored (a Double must be finite)")
        if self.type is AttributeType.DATETIMEOFFSET:
            object.__setattr__(self, "value", as_utc(value, f"attribute {self.name}"))

    @classmethod
    def of(cls, name: str, value: Any) -> "Attribute":
        """An attribute whose type is inferred from the Python value."""
        if isinstance(value, bool):
            kind = AttributeType.BOOLEAN
        elif isinstance(value, int):
            kind = AttributeType.INTEGER
        elif isinstance(value, float):
            kind = AttributeType.DOUBLE
        elif isinstance(value, datetime):
            kind = AttributeType.DATETIMEOFFSET
        elif isinstance(value, str):
            kind = AttributeType.STRING
        else:
            raise TypeError(f"attribute {name!r}: no attribute type for {type(value).__name__}")
        return cls(name, kind, value)


PRODUCT_TYPE_ATTRIBUTE = "productType"


@dataclass
class Product:
    """A PRIP product (contract section 3).

    ``product_type`` mirrors the ``productType`` attribute (kept as an indexed column); the
    constructor fills whichever of the two is missing and rejects a disagreement.
    ``footprint`` is WKT (longitude first, SRID 4326) or None. ``archive_key`` is the file's key
    in the archive (None: no file).
    """

    mission: str
    name: str
    id: uuid.UUID = field(default_factory=new_id)
    content_type: str = "application/octet-stream"
    content_length: int = 0
    origin_date: datetime | None = None
    publication_date: datetime = field(default_factory=utcnow)
    modification_date: datetime = field(default_factory=utcnow)
    eviction_date: datetime = NEVER
    online: bool = True
    checksums: list[Checksum] = field(default_factory=list)
    content_start: datetime | None = None
    content_end: datetime | None = None
    production_type: ProductionType = ProductionType.SYSTEMATIC_PRODUCTION
    footprint: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    visibility: VisibilityClass = VisibilityClass.PUBLIC
    archive_key: str | None = None
    product_type: str | None = None
    revision: int = 0
    #: The product's quicklook image: the path of a file among its ``Nodes``, its names below the
    #: root joined by ``/`` (:func:`proseo_odata.nodes.find_quicklook`, found when the file is
    #: archived); served as its ``QUICKLOOK`` asset. :data:`NO_QUICKLOOK` (``""``): its file was
    #: searched and has none; None: not searched (stored before schema revision 0015, registered
    #: by reference unread, or the file could not be read). No asset in either case.
    quicklook: str | None = None
    #: ``Collection/Name`` (:mod:`proseo_odata.model.collections`): derived, never stored; the
    #: storage fills it in when it loads or adds a product.
    collection: str | None = field(default=None, compare=False)
    #: (footprint WKT, ``Footprint`` literal, ``GeoFootprint`` GeoJSON text) as the storage wrote
    #: them with the product (never per response); used only while ``footprint`` is that WKT.
    rendered_footprint: tuple | None = field(default=None, compare=False, repr=False)
    #: True: ``publication_date`` is the storage's to set when it stores the product (and
    #: ``modification_date`` with it while the two are equal), in the order in which the
    #: products become visible: a client that harvests the catalogue by ``PublicationDate``
    #: never misses a product whose transaction committed after it looked, with a date before
    #: those it saw (docs/prip.md, "Harvesting by PublicationDate"). Never stored.
    stamp_publication: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self):
        if not self.name:
            raise ValueError("a product needs a Name")
        self.production_type = ProductionType(self.production_type)
        self.visibility = VisibilityClass(self.visibility)
        _normalise_dates(
            self, "origin_date", "publication_date", "modification_date", "eviction_date",
            "content_start", "content_end",
        )
        self.checksums = sorted(self.checksums, key=lambda c: c.algorithm)
        self.attributes = list(self.attributes)
        self.sync_product_type()

    def sync_product_type(self) -> None:
        """Make ``product_type`` and the ``productType`` attribute agree (called on write too)."""
        attribute = self.attribute(PRODUCT_TYPE_ATTRIBUTE)
        if attribute is not None:
            if self.product_type is not None and self.product_type != str(attribute.value):
                raise ValueError(
                    f"product_type {self.product_type!r} disagrees with the productType "
                    f"attribute {attribute.value!r}"
                )
            self.product_type = str(attribute.value)
        elif self.product_type is not None:
            self.attributes.append(Attribute(PRODUCT_TYPE_ATTRIBUTE, AttributeType.STRING, self.product_type))
        # One canonical order (by name; checksums by algorithm) so stored and loaded objects compare equal.
        self.attributes.sort(key=lambda a: a.name)

    def attribute(self, name: str) -> Attribute | None:
        """The attribute called ``name``, or None."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        return None

    def checksum(self, algorithm: str) -> str | None:
        """The checksum value for ``algorithm`` (case-insensitive), or None."""
        for checksum in self.checksums:
            if checksum.algorithm.upper() == algorithm.upper():
                return checksum.value
        return None


@dataclass
class Subscription:
    """A PRIP subscription (contract section 3). ``notification_password`` is never returned."""

    mission: str
    owner: str
    filter_param: str
    id: uuid.UUID = field(default_factory=new_id)
    status: SubscriptionStatus = SubscriptionStatus.RUNNING
    stage_order: bool = False
    priority: int = 1
    submission_date: datetime = field(default_factory=utcnow)
    last_notification_date: datetime | None = None
    notification_endpoint: str | None = None
    notification_username: str | None = None
    notification_password: str | None = field(default=None, repr=False)  # never in reprs
    revision: int = 0

    def __post_init__(self):
        self.status = SubscriptionStatus(self.status)
        _normalise_dates(self, "submission_date", "last_notification_date")


@dataclass(frozen=True)
class WorkflowOption:
    """An option of a workflow (contract section 4): ``allowed_values`` empty means any value."""

    name: str
    type: OptionType = OptionType.STRING
    description: str = ""
    default: str | None = None
    allowed_values: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "type", OptionType(self.type))
        object.__setattr__(self, "allowed_values", tuple(self.allowed_values))


@dataclass
class Workflow:
    """An ODIP workflow (contract section 4).

    ``processor`` is the dotted name of the processor to run and ``processor_config`` its
    configuration; ``enabled`` false hides it from new orders.
    """

    mission: str
    name: str
    input_product_type: str
    output_product_type: str
    processor: str
    id: uuid.UUID = field(default_factory=new_id)
    description: str = ""
    workflow_version: str = "1.0"
    options: list[WorkflowOption] = field(default_factory=list)
    processor_config: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    revision: int = 0

    def __post_init__(self):
        self.options = list(self.options)
        self.processor_config = dict(self.processor_config)

    def option(self, name: str) -> WorkflowOption | None:
        for option in self.options:
            if option.name == name:
                return option
        return None


@dataclass
class ProductionOrder:
    """An ODIP production order (contract sections 4 and 10) plus the engine's own fields.

    ``workflow_options`` maps option names to their values (strings, as returned on the wire).
    ``input_reference`` is ``InputProductReference/Reference`` (a product name) and
    ``input_content_start``/``input_content_end`` its ``ContentDate``. ``attempts``,
    ``worker_id`` and ``lease_expires_at`` belong to the production engine;
    ``notification_password`` is kept for delivery only and never returned.
    """

    mission: str
    owner: str
    workflow_id: uuid.UUID
    workflow_name: str
    id: uuid.UUID = field(default_factory=new_id)
    status: OrderStatus = OrderStatus.QUEUED
    status_message: str = "request is queued for processing"
    order_output_size: int = 0
    submission_date: datetime = field(default_factory=utcnow)
    estimated_date: datetime | None = None
    completed_date: datetime | None = None
    eviction_date: datetime | None = None
    priority: int = 50
    input_reference: str | None = None
    input_content_start: datetime | None = None
    input_content_end: datetime | None = None
    workflow_options: dict[str, str] = field(default_factory=dict)
    production_type: ProductionType | None = None
    notification_endpoint: str | None = None
    notification_username: str | None = None
    notification_password: str | None = field(default=None, repr=False)  # never in reprs
    attempts: int = 0
    worker_id: str | None = None
    lease_expires_at: datetime | None = None
    input_product_id: uuid.UUID | None = None
    output_product_id: uuid.UUID | None = None
    revision: int = 0
    #: the client's ``Idempotency-Key`` (unique per mission and owner) and the fingerprint of the
    #: request that created the order (:func:`proseo_odata.orders.idempotency.request_fingerprint`)
    idempotency_key: str | None = None
    request_hash: str | None = None

    def __post_init__(self):
        self.status = OrderStatus(self.status)
        if self.production_type is not None:
            self.production_type = ProductionType(self.production_type)
        self.workflow_options = dict(self.workflow_options)
        _normalise_dates(
            self, "submission_date", "estimated_date", "completed_date", "eviction_date",
            "input_content_start", "input_content_end", "lease_expires_at",
        )


@dataclass
class OutboxMessage:
    """A notification waiting in the outbox (delivered by ``proseo_odata.notify``).

    ``kind`` says what it is about (for example ``"order"`` or ``"subscription"``); ``payload``
    is the JSON body; ``username``/``password`` are the endpoint's Basic credentials.
    ``delivered_at`` is set on success; ``next_attempt_at`` None means given up.
    """

    id: int
    kind: str
    endpoint: str
    payload: dict[str, Any]
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in reprs
    mission: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None

    def __post_init__(self):
        _normalise_dates(self, "created_at", "next_attempt_at", "delivered_at")

    @property
    def receiver(self) -> str:
        """The server the message goes to (:func:`endpoint_receiver`): what delivery lanes are
        counted by, so that one receiver behind many URLs holds no more lanes than one URL."""
        return endpoint_receiver(self.endpoint)


def endpoint_receiver(endpoint: str) -> str:
    """``scheme://host:port`` of an http(s) notification endpoint, lower-case and with the
    scheme's port when none is given (``https://Hub.example/a/1`` and ``https://hub.example:443/b``
    are one receiver); any other text (``mailto:``, an endpoint stored before it was checked) is
    its own receiver."""
    try:
        parts = urlsplit(endpoint)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return endpoint
    if scheme not in ("http", "https") or not host:
        return endpoint
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")  # https://bücher.example is https://xn--bcher-kva.example
        except UnicodeError:
            pass
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port or (443 if scheme == 'https' else 80)}"
