"""Entity models (a small EDM vocabulary) and the PRIP and ODIP models, declared once.

The same declarations drive the binder (which names exist, their types, what may be filtered
and sorted) and ``$metadata`` (:mod:`proseo_odata.odata.csdl`). Nothing here knows about storage.

Vocabulary
==========

:class:`PrimitiveType`
    ``Edm.String``, ``Edm.Int64`` ...; ``kind`` groups them for type checking (``string``,
    ``integer``, ``double``, ``boolean``, ``datetime``, ``date``, ``time``, ``duration``,
    ``guid``, ``geo``, ``binary``).
:class:`EnumType`
    a named enumeration. ``csdl_as_string=True`` renders properties of this type as
    ``Edm.String`` in ``$metadata`` (``OData.CSC.ProductionType``: its values such as
    ``on-demand:default`` are not CSDL identifiers, contract section 3) while filters still accept
    the enum-literal syntax.
:class:`ComplexType`, :class:`EntityType`
    structured types with :class:`Property` and :class:`NavigationProperty` members; an entity
    type may derive from another (``OData.CSC.StringAttribute`` from ``OData.CSC.Attribute``) so
    that casts resolve.
:class:`EntitySet`, :class:`EntityModel`
    the service: its entity sets and every type they reach.
:class:`Capabilities`
    what each entity set allows (insert, update, delete, read, count, top/skip, expand,
    search); ``$metadata`` states it as ``Org.OData.Capabilities.V1`` annotations. Filter and
    sort restrictions are not declared here: they follow from the properties' ``filterable``
    and ``sortable`` flags.
:class:`Parameter`, :class:`Operation`
    the actions and functions of the service (``OData.CSC.Order``, ``OData.CSC.Cancel``,
    ``OData.CSC.Intersects`` ...), declared in ``$metadata`` with their parameters.

Types are compared by identity (``eq=False``): an entity type is a declaration, not a value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterator, Optional, Tuple, Union

__all__ = [
    "PrimitiveType",
    "EnumType",
    "ComplexType",
    "EntityType",
    "StructuredType",
    "Property",
    "NavigationProperty",
    "EntitySet",
    "EntityModel",
    "Capabilities",
    "Parameter",
    "Operation",
    "EdmType",
    "STRING",
    "INT32",
    "INT64",
    "DOUBLE",
    "DECIMAL",
    "BOOLEAN",
    "GUID",
    "DATE",
    "DATETIMEOFFSET",
    "TIMEOFDAY",
    "DURATION",
    "GEOGRAPHY",
    "GEOMETRY",
    "BINARY",
    "PRIMITIVE_TYPES",
    "NAMESPACE",
    "ATTRIBUTE_VALUE_TYPES",
    "PRIP_MODEL",
    "ODIP_MODEL",
    "PRODUCT",
    "ATTRIBUTE",
    "SUBSCRIPTION",
    "WORKFLOW",
    "PRODUCTION_ORDER",
    "PRODUCTION_TYPE",
    "JOB_STATUS",
    "SUBSCRIPTION_STATUS",
    "READ_ONLY",
    "INTERSECTS_FUNCTION",
    "SUBSCRIPTION_ACTIONS",
    "ORDER_ACTION",
    "CANCEL_ORDER_ACTION",
    "is_control_member",
]

NAMESPACE = "OData.CSC"


_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_QUALIFIED = rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})+"
_CONTROL_MEMBER = re.compile(rf"(?:{_IDENTIFIER})?@{_QUALIFIED}(?:#{_IDENTIFIER})?|#{_QUALIFIED}")


def is_control_member(name: str) -> bool:
    """True for a member of an OData JSON object that is not a property, as OData JSON Format
    4.01 writes it (4.5, 11.5.5, 18-20): an instance annotation (``@odata.context``,
    ``@Namespace.Term#qualifier``), a property's annotation (``Id@odata.type``) or an advertised
    operation (``#OData.CSC.Cancel``): what a client that echoes an entity it read, in any
    metadata format, sends back. Not a bind (``Product@odata.bind``: a request, not an echo), nor
    anything malformed (``Prio@rity``, ``#Priority``): those are unknown properties."""
    return _CONTROL_MEMBER.fullmatch(name) is not None and not name.endswith("@odata.bind")


def computed_names(type_: "StructuredType") -> frozenset:
    """The names of ``type_``'s properties the service sets (``computed``): what a body that
    creates such an entity may echo and the service ignores."""
    return frozenset(prop.name for prop in type_.properties if prop.computed)


@dataclass(frozen=True, eq=False)
class PrimitiveType:
    """An ``Edm.*`` primitive type; ``kind`` is its family for type checking."""

    name: str
    kind: str

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("integer", "double")

    def __repr__(self) -> str:
        return self.name


STRING = PrimitiveType("Edm.String", "string")
INT32 = PrimitiveType("Edm.Int32", "integer")
INT64 = PrimitiveType("Edm.Int64", "integer")
DOUBLE = PrimitiveType("Edm.Double", "double")
DECIMAL = PrimitiveType("Edm.Decimal", "double")
BOOLEAN = PrimitiveType("Edm.Boolean", "boolean")
GUID = PrimitiveType("Edm.Guid", "guid")
DATE = PrimitiveType("Edm.Date", "date")
DATETIMEOFFSET = PrimitiveType("Edm.DateTimeOffset", "datetime")
TIMEOFDAY = PrimitiveType("Edm.TimeOfDay", "time")
DURATION = PrimitiveType("Edm.Duration", "duration")
GEOGRAPHY = PrimitiveType("Edm.Geography", "geo")
GEOMETRY = PrimitiveType("Edm.Geometry", "geo")
BINARY = PrimitiveType("Edm.Binary", "binary")

#: Every primitive type by its ``Edm.*`` name.
PRIMITIVE_TYPES: Dict[str, PrimitiveType] = {
    t.name: t
    for t in (STRING, INT32, INT64, DOUBLE, DECIMAL, BOOLEAN, GUID, DATE, DATETIMEOFFSET,
              TIMEOFDAY, DURATION, GEOGRAPHY, GEOMETRY, BINARY)
}


@dataclass(frozen=True, eq=False)
class EnumType:
    """A named enumeration: ``members`` are the literal values, in declaration order."""

    name: str
    members: Tuple[str, ...]
    namespace: str = NAMESPACE
    csdl_as_string: bool = False
    kind: str = field(default="enum", init=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def is_numeric(self) -> bool:
        return False

    def member(self, text: str) -> Optional[str]:
        """The member spelled ``text`` (exact, else case-insensitive), or ``None``."""
        if text in self.members:
            return text
        lowered = text.lower()
        for member in self.members:
            if member.lower() == lowered:
                return member
        return None

    def __repr__(self) -> str:
        return self.qualified_name


@dataclass(frozen=True, eq=False)
class Property:
    """A structural property.

    ``type`` is a :class:`PrimitiveType`, :class:`EnumType` or :class:`ComplexType`;
    ``collection`` makes it ``Collection(type)``. ``alias_of`` names the canonical property this
    one is another name for (``CreationDate`` is ``PublicationDate``): the binder resolves an
    alias to its canonical property, so compilers and mappings only see canonical names.
    ``seed_key`` marks a property that is no alias but is written only with the seed documents'
    keys on (an attribute's ``ContentType``). ``filterable=False`` properties are rejected in
    ``$filter`` (secrets); ``sortable=False`` in ``$orderby``. ``geo_only`` marks a property only
    usable as the location of ``OData.CSC.Intersects``. ``computed`` marks a non-key property of an
    entity clients create that the service sets (``Core.Computed`` in ``$metadata``): a created
    entity's body may echo it, and it is ignored there (:func:`computed_names`). ``bounds`` are the
    smallest and largest values the service accepts (``Validation.Minimum``/``Maximum``).
    """

    name: str
    type: "EdmType"
    nullable: bool = True
    collection: bool = False
    filterable: bool = True
    sortable: bool = True
    alias_of: Optional[str] = None
    geo_only: bool = False
    description: str = ""
    #: written only with the seed documents' keys (``proseo.seed_aliases``), as aliases are
    seed_key: bool = False
    computed: bool = False
    bounds: Optional[Tuple[int, int]] = None

    @property
    def seed_only(self) -> bool:
        """Written, and declared in ``$metadata``, only with the seed documents' keys on."""
        return bool(self.alias_of) or self.seed_key


@dataclass(frozen=True, eq=False)
class NavigationProperty:
    """A navigation property to ``target`` (an :class:`EntityType` or its qualified name)."""

    name: str
    target: Union["EntityType", str]
    collection: bool = False
    nullable: bool = True
    filterable: bool = True
    contains_target: bool = False


@dataclass(frozen=True, eq=False)
class StructuredType:
    """Common part of complex and entity types."""

    name: str
    properties: Tuple[Property, ...] = ()
    base: Optional["StructuredType"] = None
    abstract: bool = False
    namespace: str = NAMESPACE

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    kind = "structured"

    @property
    def is_numeric(self) -> bool:
        return False

    def all_properties(self) -> Tuple[Property, ...]:
        inherited = self.base.all_properties() if self.base is not None else ()
        return inherited + self.properties

    def all_navigation(self) -> Tuple[NavigationProperty, ...]:
        return ()

    def find_member(self, name: str):
        """The property or navigation property called ``name`` (exact, else unique
        case-insensitive match), or ``None``."""
        members = list(self.all_properties()) + list(self.all_navigation())
        for member in members:
            if member.name == name:
                return member
        lowered = name.lower()
        matches = [m for m in members if m.name.lower() == lowered]
        return matches[0] if len(matches) == 1 else None

    def is_derived_from(self, other: "StructuredType") -> bool:
        current: Optional[StructuredType] = self
        while current is not None:
            if current is other:
                return True
            current = current.base
        return False

    def __repr__(self) -> str:
        return self.qualified_name


@dataclass(frozen=True, eq=False, repr=False)
class ComplexType(StructuredType):
    """A complex type (``OData.CSC.TimeRange``)."""

    kind = "complex"


@dataclass(frozen=True, eq=False, repr=False)
class EntityType(StructuredType):
    """An entity type; ``key`` names its key properties; ``has_stream`` a media entity."""

    key: Tuple[str, ...] = ()
    navigation: Tuple[NavigationProperty, ...] = ()
    has_stream: bool = False

    kind = "entity"

    def all_navigation(self) -> Tuple[NavigationProperty, ...]:
        inherited = self.base.all_navigation() if isinstance(self.base, EntityType) else ()
        return inherited + self.navigation


EdmType = Union[PrimitiveType, EnumType, ComplexType, EntityType]


@dataclass(frozen=True)
class Capabilities:
    """What clients may do with an entity set (``Org.OData.Capabilities.V1`` in ``$metadata``).

    ``readable``: ``GET <set>`` answers the collection; ``readable_by_key``: ``GET <set>(<key>)``
    answers one entity. ``insertable``: ``POST <set>`` creates an entity; ``updatable`` and
    ``deletable``: ``PATCH``/``PUT`` and ``DELETE`` of an entity. ``countable``: ``$count=true``
    and ``<set>/$count``; ``top_supported``, ``skip_supported``: ``$top``, ``$skip``;
    ``expandable``: ``$expand`` (of every navigation property but ``non_expandable``);
    ``searchable``: ``$search``. ``navigation_readonly`` names navigation properties that are
    listed in memory by options of their own (``Products(<id>)/Attributes?$filter=...``, and
    nested in ``$expand``: :class:`proseo_odata.query.ItemListing`; ``$search`` is not served),
    with no insert, and no key but for those in ``navigation_by_key``
    (``Attributes('cloudCover')``: ``IndexableByKey``). ``description`` becomes ``Core.Description`` (and an OpenAPI tag
    description).
    """

    readable: bool = True
    readable_by_key: bool = True
    insertable: bool = False
    updatable: bool = False
    deletable: bool = False
    countable: bool = True
    top_supported: bool = True
    skip_supported: bool = True
    expandable: bool = True
    non_expandable: Tuple[str, ...] = ()
    searchable: bool = False
    navigation_readonly: Tuple[str, ...] = ()
    navigation_by_key: Tuple[str, ...] = ()
    description: str = ""


#: A query-only entity set (the default :class:`Capabilities`).
READ_ONLY = Capabilities()


@dataclass(frozen=True, eq=False)
class EntitySet:
    """An entity set of the container, with what it allows (:class:`Capabilities`)."""

    name: str
    entity_type: EntityType
    capabilities: Capabilities = READ_ONLY

    @property
    def in_service_document(self) -> bool:
        """Listed in the service document: only sets whose collection can be read
        (``IncludeInServiceDocument`` in ``$metadata``)."""
        return self.capabilities.readable


@dataclass(frozen=True, eq=False)
class Parameter:
    """A parameter (or the return type) of an :class:`Operation`.

    ``optional`` parameters may be left out (``Core.OptionalParameter`` in ``$metadata``), then
    ``default`` (a literal, or ``None`` for "the service decides") applies; ``bounds`` as for a
    :class:`Property`."""

    name: str
    type: "EdmType"
    nullable: bool = True
    collection: bool = False
    optional: bool = False
    default: Optional[str] = None
    bounds: Optional[Tuple[int, int]] = None


@dataclass(frozen=True, eq=False)
class Operation:
    """An action (``kind="Action"``, invoked with ``POST``) or function (``kind="Function"``).

    ``binding`` is the binding parameter of a bound operation (its type is the entity type,
    ``collection=True`` to bind to the entity set: ``POST ProductionOrder/OData.CSC.Order``), or
    ``None`` for an unbound one. An unbound function without a function import
    (``OData.CSC.Intersects``) is only usable inside ``$filter``. ``returns`` is a
    :class:`Parameter` whose name is ignored.
    """

    name: str
    kind: str
    binding: Optional[Parameter] = None
    parameters: Tuple[Parameter, ...] = ()
    returns: Optional[Parameter] = None
    description: str = ""
    namespace: str = NAMESPACE

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True, eq=False)
class EntityModel:
    """A service's model: entity sets and every named type (entity, complex, enum).

    ``types`` must list every named type that ``$metadata`` declares, base types before derived
    ones. ``name`` identifies the model (``"PRIP"``/``"ODIP"``) in caches and logs.
    ``operations`` are its actions and functions; ``description`` describes the service
    (``Core.Description`` of the container). A service never supports ``$batch``.
    """

    name: str
    entity_sets: Tuple[EntitySet, ...]
    types: Tuple[Union[EnumType, ComplexType, EntityType], ...]
    namespace: str = NAMESPACE
    container: str = "Container"
    operations: Tuple[Operation, ...] = ()
    description: str = ""

    def find_type(self, qualified_name: str):
        """The named type (``OData.CSC.StringAttribute``, or an ``Edm.*`` primitive), or ``None``.

        The namespace prefix is matched case-insensitively; an unqualified name is accepted.
        """
        if qualified_name in PRIMITIVE_TYPES:
            return PRIMITIVE_TYPES[qualified_name]
        lowered = qualified_name.lower()
        for t in self.types:
            if t.qualified_name.lower() == lowered or t.name.lower() == lowered:
                return t
        return None

    def entity_set(self, name: str) -> EntitySet:
        for entity_set in self.entity_sets:
            if entity_set.name == name:
                return entity_set
        raise KeyError(name)

    def derived_types(self, base: StructuredType) -> Tuple[StructuredType, ...]:
        return tuple(t for t in self.types if isinstance(t, StructuredType) and t is not base
                     and t.is_derived_from(base))

    def navigation_target(self, nav: NavigationProperty) -> EntityType:
        if isinstance(nav.target, EntityType):
            return nav.target
        found = self.find_type(nav.target)
        if not isinstance(found, EntityType):
            raise KeyError(nav.target)
        return found

    def iter_types(self) -> Iterator[Union[EnumType, ComplexType, EntityType]]:
        return iter(self.types)


# --------------------------------------------------------------------------------------------
# Enumerations (values as in proseo_odata.model.enums; contract sections 3 and 4)

PRODUCTION_TYPE = EnumType(
    "ProductionType",
    ("systematic_production", "on-demand:default", "on-demand:non-default"),
    csdl_as_string=True,
)
JOB_STATUS = EnumType("JobStatus", ("queued", "in_progress", "completed", "failed", "cancelled"))
#: A subscription's and an order's ``Priority``: from 1 to 100 (contract sections 4 and 10).
PRIORITY_BOUNDS = (1, 100)
_ENDPOINT_DESCRIPTION = "The http(s) URL the service POSTs its notifications to"
_PASSWORD_DESCRIPTION = "Written, never read: answered as ******** (null when none was given)"

SUBSCRIPTION_STATUS = EnumType("SubscriptionStatus", ("running", "paused", "cancelled"))

# --------------------------------------------------------------------------------------------
# PRIP (contract section 3)

TIME_RANGE = ComplexType(
    "TimeRange",
    (
        Property("Start", DATETIMEOFFSET),
        Property("End", DATETIMEOFFSET),
    ),
)
CHECKSUM = ComplexType(
    "Checksum",
    (
        Property("Algorithm", STRING),
        Property("Value", STRING),
        Property("ChecksumDate", DATETIMEOFFSET),
    ),
)

#: ``OData.CSC.Collection``: the Copernicus Data Space's product collection (``SENTINEL-2``);
#: derived from configuration, see :mod:`proseo_odata.model.collections`.
COLLECTION = ComplexType("Collection", (Property("Name", STRING),))

#: ``OData.CSC.Attribute`` (key ``Name``) and its five typed forms (contract section 3).
#: The seed documents' keys (``proseo.seed_aliases``: ``Id``, ``ContentType``, ``ContentLength``
#: and, on each typed form, ``StringValue``...) are declared as aliases: ``$metadata`` lists them
#: when the service writes them, so strict clients read them (the type is not open).
ATTRIBUTE = EntityType(
    "Attribute",
    (
        Property("Name", STRING, nullable=False),
        Property("ValueType", STRING),
        Property("Id", STRING, nullable=False, alias_of="Name"),
        Property("ContentType", STRING, filterable=False, sortable=False, seed_key=True,
                 description="text/plain (written with the seed documents' keys)"),
        Property("ContentLength", INT64, filterable=False, sortable=False, seed_key=True,
                 description="bytes of the value's text in UTF-8 (written with the seed documents' keys)"),
    ),
    abstract=True,
    key=("Name",),
)

#: Value type of each typed attribute entity type, by its short ``ValueType`` name.
ATTRIBUTE_VALUE_TYPES: Dict[str, PrimitiveType] = {
    "String": STRING,
    "Integer": INT64,
    "Double": DOUBLE,
    "Boolean": BOOLEAN,
    "DateTimeOffset": DATETIMEOFFSET,
}

#: The seed documents' key of each typed form's value (declared as an alias of ``Value``).
SEED_VALUE_KEYS = {"String": "StringValue", "Integer": "IntegerValue", "Double": "DoubleValue",
                   "Boolean": "BooleanValue", "DateTimeOffset": "DateValue"}

STRING_ATTRIBUTE, INTEGER_ATTRIBUTE, DOUBLE_ATTRIBUTE, BOOLEAN_ATTRIBUTE, DATETIME_ATTRIBUTE = (
    EntityType(f"{short}Attribute", (Property("Value", value_type),
                                     Property(SEED_VALUE_KEYS[short], value_type, alias_of="Value")), base=ATTRIBUTE)
    for short, value_type in ATTRIBUTE_VALUE_TYPES.items()
)
ATTRIBUTE_TYPES = (STRING_ATTRIBUTE, INTEGER_ATTRIBUTE, DOUBLE_ATTRIBUTE, BOOLEAN_ATTRIBUTE,
                   DATETIME_ATTRIBUTE)

ASSET = EntityType(
    "Asset",
    (
        Property("Id", GUID, nullable=False),
        Property("Type", STRING),
        Property("DownloadLink", STRING),
        Property("S3Path", STRING),
    ),
    key=("Id",),
)

PRODUCT = EntityType(
    "Product",
    (
        Property("Id", GUID, nullable=False),
        Property("Name", STRING, nullable=False),
        Property("ContentType", STRING, nullable=False),
        Property("ContentLength", INT64, nullable=False),
        Property("OriginDate", DATETIMEOFFSET),
        Property("PublicationDate", DATETIMEOFFSET, nullable=False),
        Property("CreationDate", DATETIMEOFFSET, nullable=False, alias_of="PublicationDate"),
        Property("ModificationDate", DATETIMEOFFSET),
        Property("EvictionDate", DATETIMEOFFSET),
        Property("Online", BOOLEAN, nullable=False),
        Property("Checksum", CHECKSUM, collection=True),
        Property("Checksums", CHECKSUM, collection=True, alias_of="Checksum"),
        Property("ContentDate", TIME_RANGE),
        Property("ProductionType", PRODUCTION_TYPE),
        Property("Footprint", STRING, sortable=False, geo_only=True),
        Property("GeoFootprint", GEOGRAPHY, sortable=False, geo_only=True),
        Property("Collection", COLLECTION, sortable=False),
    ),
    key=("Id",),
    navigation=(
        NavigationProperty("Attributes", ATTRIBUTE, collection=True),
        NavigationProperty("Assets", ASSET, collection=True, filterable=False),
    ),
    has_stream=True,
)

SUBSCRIPTION = EntityType(
    "Subscription",
    (
        Property("Id", GUID, nullable=False),
        Property("Status", SUBSCRIPTION_STATUS, nullable=False, computed=True),
        Property("FilterParam", STRING, description="The $filter over Products a new product must match"),
        Property("StageOrder", BOOLEAN),
        Property("Priority", INT32, bounds=PRIORITY_BOUNDS),
        Property("SubmissionDate", DATETIMEOFFSET, computed=True),
        Property("LastNotificationDate", DATETIMEOFFSET, computed=True),
        Property("NotificationEndpoint", STRING, description=_ENDPOINT_DESCRIPTION),
        Property("NotificationEpUsername", STRING, sortable=False),
        Property("NotificationEpPassword", STRING, filterable=False, sortable=False,
                 description=_PASSWORD_DESCRIPTION),
    ),
    key=("Id",),
)

#: ``OData.CSC.Intersects`` (contract section 6): usable in ``$filter`` only, so unbound and
#: without a function import; ``location`` defaults to the product's ``Footprint``.
INTERSECTS_FUNCTION = Operation(
    "Intersects",
    "Function",
    parameters=(  # (Core.OptionalParameter: every optional parameter after the required ones)
        Parameter("area", GEOGRAPHY, nullable=False),
        Parameter("location", GEOGRAPHY, optional=True, default="Footprint"),
    ),
    returns=Parameter("", BOOLEAN, nullable=False),
    description="In $filter: true when the product's footprint intersects the area "
                "(geography'SRID=4326;POLYGON((lon lat,...))'), exactly",
)

#: ``POST Subscriptions(<id>)/OData.CSC.Pause|Resume|Cancel``: 200 with the subscription.
SUBSCRIPTION_ACTIONS = tuple(
    Operation(
        name,
        "Action",
        binding=Parameter("Subscription", SUBSCRIPTION, nullable=False),
        returns=Parameter("", SUBSCRIPTION, nullable=False),
        description=description,
    )
    for name, description in (
        ("Pause", "Pause a running subscription (no notifications until resumed)"),
        ("Resume", "Resume a paused subscription"),
        ("Cancel", "Cancel the subscription for good"),
    )
)

PRIP_MODEL = EntityModel(
    "PRIP",
    (
        EntitySet("Products", PRODUCT, Capabilities(
            navigation_readonly=("Attributes", "Assets"), navigation_by_key=("Attributes", "Assets"),
            description="The product catalogue; GET Products(<Id>)/$value downloads a product's file")),
        EntitySet("Subscriptions", SUBSCRIPTION, Capabilities(
            insertable=True,
            description="Subscriptions: a POST creates one, its actions pause, resume and cancel it")),
    ),
    (PRODUCTION_TYPE, SUBSCRIPTION_STATUS, TIME_RANGE, CHECKSUM, COLLECTION, ATTRIBUTE, *ATTRIBUTE_TYPES,
     ASSET, PRODUCT, SUBSCRIPTION),
    operations=(INTERSECTS_FUNCTION, *SUBSCRIPTION_ACTIONS),
    description="PRIP: Production Interface Delivery Point (product catalogue and subscriptions)",
)

# --------------------------------------------------------------------------------------------
# ODIP (contract section 4)

WORKFLOW_OPTION = ComplexType(
    "WorkflowOption",
    (
        Property("Name", STRING, nullable=False),
        Property("Description", STRING),
        Property("Type", STRING),
        Property("Default", STRING),
        Property("Value", STRING, collection=True),
    ),
)
ORDER_OPTION = ComplexType(
    "WorkflowOptionValue",
    (
        Property("Name", STRING, nullable=False),
        Property("Value", STRING),
    ),
)
INPUT_PRODUCT_REFERENCE = ComplexType(
    "InputProductReference",
    (
        Property("Reference", STRING),
        Property("ContentDate", TIME_RANGE, sortable=False),
    ),
)

WORKFLOW = EntityType(
    "Workflow",
    (
        Property("Id", GUID, nullable=False),
        Property("Name", STRING, nullable=False),
        Property("Description", STRING),
        Property("InputProductType", STRING),
        Property("OutputProductType", STRING),
        Property("WorkflowVersion", STRING),
        Property("WorkflowOptions", WORKFLOW_OPTION, collection=True, filterable=False),
    ),
    key=("Id",),
)

PRODUCTION_ORDER = EntityType(
    "ProductionOrder",
    (
        Property("Id", GUID, nullable=False),
        Property("Status", JOB_STATUS, nullable=False, computed=True),
        Property("StatusMessage", STRING, computed=True),
        Property("OrderOutputSize", INT64, computed=True),
        Property("SubmissionDate", DATETIMEOFFSET, computed=True),
        Property("EstimatedDate", DATETIMEOFFSET, computed=True),
        Property("CompletedDate", DATETIMEOFFSET, computed=True),
        Property("EvictionDate", DATETIMEOFFSET, computed=True),
        Property("Priority", INT32, bounds=PRIORITY_BOUNDS),
        Property("InputProductReference", INPUT_PRODUCT_REFERENCE),
        Property("WorkflowId", GUID),
        Property("WorkflowName", STRING),
        Property("WorkflowOptions", ORDER_OPTION, collection=True),
        Property("NotificationEndpoint", STRING, sortable=False, description=_ENDPOINT_DESCRIPTION),
        Property("NotificationEpUsername", STRING, sortable=False),
        Property("NotificationEpPassword", STRING, filterable=False, sortable=False,
                 description=_PASSWORD_DESCRIPTION),
    ),
    key=("Id",),
    navigation=(NavigationProperty("Product", "OData.CSC.Product", filterable=False),),
)

#: ``POST ProductionOrder/OData.CSC.Order`` (ICD): create an order (201 with the order); the
#: parameters are the properties a client sets (contract section 10).
ORDER_ACTION = Operation(
    "Order",
    "Action",
    binding=Parameter("ProductionOrder", PRODUCTION_ORDER, nullable=False, collection=True),
    parameters=(
        Parameter("Priority", INT32, optional=True, default="50", bounds=PRIORITY_BOUNDS),
        Parameter("InputProductReference", INPUT_PRODUCT_REFERENCE, nullable=False),
        # WorkflowId or WorkflowName (or both, agreeing); options left out take their default.
        Parameter("WorkflowId", GUID, optional=True),
        Parameter("WorkflowName", STRING, optional=True),
        Parameter("WorkflowOptions", ORDER_OPTION, collection=True, optional=True),
        Parameter("NotificationEndpoint", STRING, optional=True),
        Parameter("NotificationEpUsername", STRING, optional=True),
        Parameter("NotificationEpPassword", STRING, optional=True),
    ),
    returns=Parameter("", PRODUCTION_ORDER, nullable=False),
    description="Create a production order of a workflow for an input product",
)

#: ``POST ProductionOrder(<id>)/OData.CSC.Cancel``: idempotent, 200 with the order.
CANCEL_ORDER_ACTION = Operation(
    "Cancel",
    "Action",
    binding=Parameter("ProductionOrder", PRODUCTION_ORDER, nullable=False),
    returns=Parameter("", PRODUCTION_ORDER, nullable=False),
    description="Cancel a queued or running order; an order that has ended is answered unchanged",
)

_ORDER_SET_DESCRIPTION = ("Production orders: a POST creates one, OData.CSC.Cancel cancels one; "
                          "ProductionOrder and ProductionOrders are two names of the same orders")

ODIP_MODEL = EntityModel(
    "ODIP",
    (
        EntitySet("Workflows", WORKFLOW, Capabilities(
            description="The workflows orders can run (read only)")),
        EntitySet("ProductionOrders", PRODUCTION_ORDER, Capabilities(
            insertable=True, description=_ORDER_SET_DESCRIPTION)),
        # The ICD's and the user's documents' name: creation, one order by key, its actions.
        EntitySet("ProductionOrder", PRODUCTION_ORDER, Capabilities(
            readable=False, insertable=True, countable=False, top_supported=False,
            skip_supported=False, description=_ORDER_SET_DESCRIPTION)),
    ),
    (PRODUCTION_TYPE, JOB_STATUS, TIME_RANGE, CHECKSUM, COLLECTION, ATTRIBUTE, *ATTRIBUTE_TYPES, ASSET,
     PRODUCT, WORKFLOW_OPTION, ORDER_OPTION, INPUT_PRODUCT_REFERENCE, WORKFLOW,
     PRODUCTION_ORDER),
    operations=(ORDER_ACTION, CANCEL_ORDER_ACTION),
    description="ODIP: On-Demand Interface Delivery Point (workflows and production orders)",
)
