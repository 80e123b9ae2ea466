"""Which product visibility classes a user may read (contract section 8).

One rule, used by the web layer (:func:`proseo_odata_web.auth.product_visibilities`, the PRIP
catalogue and downloads, ODIP input and output products) and by subscription matching
(:mod:`proseo_odata.notify.subscriptions`: a subscription notifies only products its owner may
read):

=============  ==============================================================
class          readable with
=============  ==============================================================
``PUBLIC``     any user (no role needed)
``RESTRICTED`` ``PRODUCT_READER_RESTRICTED`` or ``PRODUCT_READER_ALL``
``INTERNAL``   ``PRODUCT_READER_ALL``
=============  ==============================================================
"""
from __future__ import annotations

from typing import Iterable

from .enums import Role, VisibilityClass

__all__ = ["can_read_visibility", "visible_classes"]


def visible_classes(roles: Iterable[Role | str]) -> tuple[VisibilityClass, ...]:
    """The visibility classes a holder of ``roles`` may read, ``PUBLIC`` first."""
    held = {str(role) for role in roles}  # role names; a name that is no Role grants nothing
    classes = [VisibilityClass.PUBLIC]
    if Role.PRODUCT_READER_RESTRICTED in held or Role.PRODUCT_READER_ALL in held:
        classes.append(VisibilityClass.RESTRICTED)
    if Role.PRODUCT_READER_ALL in held:
        classes.append(VisibilityClass.INTERNAL)
    return tuple(classes)


def can_read_visibility(roles: Iterable[Role | str], visibility: VisibilityClass | str) -> bool:
    """True when a holder of ``roles`` may read a product of class ``visibility``."""
    return VisibilityClass(visibility) in visible_classes(roles)
