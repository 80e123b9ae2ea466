"""Enumerations of the domain, holding ESA's literal values (PRIP ICD, prosEO).

Every enum is a ``StrEnum``: a member compares equal to its literal (``OrderStatus.QUEUED ==
"queued"``), ``str(member)`` is the literal, and ``Enum(literal)`` parses it.
"""
from enum import StrEnum


class ProductionType(StrEnum):
    """``OData.CSC.ProductionType`` (contract section 3)."""

    SYSTEMATIC_PRODUCTION = "systematic_production"
    ON_DEMAND_DEFAULT = "on-demand:default"
    ON_DEMAND_NON_DEFAULT = "on-demand:non-default"


class OrderStatus(StrEnum):
    """``OData.CSC.JobStatus`` of a production order (contract section 4)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED)


class SubscriptionStatus(StrEnum):
    """Status of a PRIP subscription (contract section 3)."""

    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class AttributeType(StrEnum):
    """``ValueType`` of an ``OData.CSC.Attribute`` (contract section 3)."""

    STRING = "String"
    INTEGER = "Integer"
    DOUBLE = "Double"
    BOOLEAN = "Boolean"
    DATETIMEOFFSET = "DateTimeOffset"


class Role(StrEnum):
    """prosEO role names (contract section 8)."""

    PRIP_USER = "PRIP_USER"
    ODIP_USER = "ODIP_USER"
    ORDER_MGR = "ORDER_MGR"
    PRODUCT_READER_RESTRICTED = "PRODUCT_READER_RESTRICTED"
    PRODUCT_READER_ALL = "PRODUCT_READER_ALL"


class VisibilityClass(StrEnum):
    """Product visibility classes; RESTRICTED and INTERNAL need a reader role (contract section 8)."""

    PUBLIC = "PUBLIC"
    RESTRICTED = "RESTRICTED"
    INTERNAL = "INTERNAL"


class OptionType(StrEnum):
    """Type of a workflow option (contract section 4; ``Number``/``DateNumber`` from prosEO)."""

    STRING = "String"
    INTEGER = "Integer"
    DOUBLE = "Double"
    BOOLEAN = "Boolean"
    DATETIMEOFFSET = "DateTimeOffset"
    NUMBER = "Number"
    DATENUMBER = "DateNumber"
