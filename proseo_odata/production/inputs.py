"""The input product of a production order (contract section 10), found in the mission's catalogue.

Used when an order is submitted (:mod:`proseo_odata.orders.service`) and again when a worker runs
it (:mod:`proseo_odata.production.engine`): both import it from here, downward.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Callable, Optional, Sequence

from proseo_odata.model import Product, VisibilityClass
from proseo_odata.errors import NotFound

__all__ = ["InputProductNotFound", "find_input_product", "find_input_product_id"]


class InputProductNotFound(NotFound):
    """No input product matches the order's ``InputProductReference``: none by that name, or
    (``by_content_date``) none covering its ContentDate."""

    kind = "not_found.input_product"

    def __init__(self, message: str, *, by_content_date: bool = False):
        super().__init__(message, target="InputProductReference",
                         kind="not_found.input_product.content_date" if by_content_date else None)


def find_input_product(
    storage,
    mission: str,
    product_type: str,
    *,
    reference: Optional[str] = None,
    start: Optional[datetime] = None,
    end: Optional[datetime] = None,
    visibilities: Optional[Sequence[VisibilityClass]] = None,
) -> Product:
    """The input product of an order (contract section 10).

    Among the mission's products of ``product_type``: the one named ``reference``; when there is
    no reference (or no product of that name) and a period is given, the newest product whose
    ContentDate covers ``start``..``end``. Raises :class:`InputProductNotFound`.
    """
    return _find_input(storage.find_product, mission, product_type, reference=reference, start=start, end=end,
                       visibilities=visibilities)


def find_input_product_id(storage, mission: str, product_type: str, **criteria) -> uuid.UUID:
    """The id of :func:`find_input_product`'s answer (the same keywords, rules and errors),
    without loading the product's checksums and attributes: what a submission stores (issue 12
    item 6)."""
    return _find_input(storage.find_product_id, mission, product_type, **criteria)


def _find_input(find: Callable[..., Any], mission, product_type, *, reference=None, start=None, end=None,
                visibilities=None):
    """:func:`find_input_product` with the storage's look-up ``find`` (``find_product`` or
    ``find_product_id``): its answer, or :class:`InputProductNotFound`."""
    if reference:
        found = find(mission, product_type=product_type, name=reference, visibilities=visibilities)
        if found is not None:
            return found
        if start is None or end is None:
            raise InputProductNotFound(
                f"No input product named {reference!r} of type {product_type} found in mission {mission}",
            )
    if start is not None and end is not None:
        found = find(mission, product_type=product_type, covering=(start, end), visibilities=visibilities)
        if found is not None:
            return found
        named = f"named {reference!r} or " if reference else ""
        raise InputProductNotFound(
            f"No input product {named}of type {product_type} covering {start.isoformat()} to "
            f"{end.isoformat()} found in mission {mission}",
            by_content_date=True,
        )
    raise InputProductNotFound("The order names no input product")
