"""The ``Collection`` of a product, as the Copernicus Data Space catalogue has it (contract section 3).

CDSE clients select products by collection (CDSETool sends ``Collection/Name eq 'SENTINEL-2'``
on every search). A product's collection is not stored: it follows from configuration, the same
way for the SQL filter, the Python predicate of subscriptions and the JSON a product is
answered with:

1. the value of the product's string attribute named by ``proseo.collection.attribute``
   (default ``platformShortName``, whose values on Sentinel products are ``SENTINEL-1``,
   ``SENTINEL-2``, ...), else
2. the default of the product's mission from ``proseo.collection.default`` (``MISSION=NAME``
   pairs separated by blanks, commas or new lines; ``*=NAME`` for every other mission), else
3. none (``null``; ``Collection/Name eq ...`` does not select the product).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional

__all__ = ["CollectionRule", "DEFAULT_COLLECTION_RULE", "COLLECTION_ATTRIBUTE"]

#: The attribute a product's collection is read from unless configured otherwise.
COLLECTION_ATTRIBUTE = "platformShortName"


@dataclass(frozen=True)
class CollectionRule:
    """Which collection a product belongs to (see the module docstring). Hashable."""

    attribute: str = COLLECTION_ATTRIBUTE
    #: ``((mission, collection), ...)`` in configuration order.
    defaults: tuple = ()
    #: the collection of a product of any other mission without the attribute (``*=NAME``)
    fallback: Optional[str] = None

    def default_of(self, mission: str) -> Optional[str]:
        """The configured collection of ``mission``'s products that lack the attribute."""
        for code, name in self.defaults:
            if code == mission:
                return name
        return self.fallback

    def of(self, mission: str, attribute_value) -> Optional[str]:
        """The collection of a product of ``mission`` whose attribute has ``attribute_value``
        (None: the product has no such string attribute)."""
        if attribute_value is not None:
            return str(attribute_value)
        return self.default_of(mission)

    def of_product(self, product) -> Optional[str]:
        """The collection of a :class:`~proseo_odata.model.Product` carrying its attributes."""
        from .enums import AttributeType

        attribute = product.attribute(self.attribute)
        value = None
        if attribute is not None and AttributeType(attribute.type) is AttributeType.STRING:
            value = attribute.value
        return self.of(product.mission, value)

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> "CollectionRule":
        """The rule of ``proseo.collection.attribute`` and ``proseo.collection.default``;
        ``ValueError`` naming the setting for a malformed value."""
        attribute = str(settings.get("proseo.collection.attribute") or COLLECTION_ATTRIBUTE).strip()
        if not attribute:
            raise ValueError("proseo.collection.attribute must name an attribute")
        defaults, fallback = [], None
        text = str(settings.get("proseo.collection.default") or "")
        for item in re.sub(r"\s*=\s*", "=", text).replace(",", " ").split():
            mission, sep, name = item.partition("=")
            mission, name = mission.strip(), name.strip()
            if not sep or not mission or not name:
                raise ValueError(
                    f"proseo.collection.default: {item!r} is not MISSION=COLLECTION (for example S2B=SENTINEL-2)"
                )
            if mission == "*":
                fallback = name
            else:
                defaults.append((mission, name))
        return cls(attribute=attribute, defaults=tuple(defaults), fallback=fallback)


DEFAULT_COLLECTION_RULE = CollectionRule()
