"""The domain model: enums with ESA's literal values and plain dataclasses.

Import from here: ``from proseo_odata.model import Product, OrderStatus, hash_password``.
"""
from .entities import (
    INT64_MAX,
    INT64_MIN,
    NEVER,
    NO_QUICKLOOK,
    PRODUCT_TYPE_ATTRIBUTE,
    UTC,
    Asset,
    Attribute,
    Checksum,
    Mission,
    OutboxMessage,
    Product,
    ProductionOrder,
    Subscription,
    User,
    Workflow,
    WorkflowOption,
    as_utc,
    check_new_mission_code,
    utcnow,
)
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
from .passwords import hash_password, verify_password
from .times import format_basic, format_datetime, parse_datetime

__all__ = [
    "INT64_MAX", "INT64_MIN", "NEVER", "NO_QUICKLOOK", "PRODUCT_TYPE_ATTRIBUTE", "UTC",
    "Asset", "Attribute", "AttributeType", "Checksum", "Mission", "OptionType", "OrderStatus",
    "OutboxMessage", "Product", "ProductionOrder", "ProductionType", "Role", "Subscription",
    "SubscriptionStatus", "User", "VisibilityClass", "Workflow", "WorkflowOption",
    "as_utc", "check_new_mission_code", "format_basic", "format_datetime", "hash_password", "new_id", "parse_datetime", "utcnow",
    "verify_password",
]
