"""The names of a product's quicklook image (:attr:`~proseo_odata.model.Product.quicklook`):
patterns of :mod:`fnmatch`, matched against a file's name in lower case. The built-in ones
(:data:`QUICKLOOK_NAMES`), or the process's: ``proseo.quicklook.names``, applied by
:func:`proseo_odata.config.configure` as the date-time fraction digits are.
"""
from __future__ import annotations

import fnmatch
from typing import Iterable, Optional

__all__ = ["QUICKLOOK_NAMES", "is_quicklook_name", "quicklook_names", "set_quicklook_names"]

#: A Sentinel-1 SAFE's ``preview/quick-look.png``, the ``quicklook.png`` (``.jpg``, ``.tif``) of
#: the demo and of ``proseo_odata.production.processors.image``, and ``<name>-ql.jpg`` /
#: ``<name>_ql.jpg``.
QUICKLOOK_NAMES = ("quick-look.png", "quick-look.jpg", "quicklook.png", "quicklook.jpg", "quicklook.jpeg",
                   "quicklook.tif", "quicklook.tiff", "*-ql.jpg", "*_ql.jpg", "*-ql.png", "*_ql.png")

_names: tuple = QUICKLOOK_NAMES


def quicklook_names() -> tuple:
    """The patterns in effect in this process."""
    return _names


def set_quicklook_names(names: Iterable[str]) -> None:
    """Make ``names`` (patterns, in lower case) the process's; ``()``: no file is a quicklook."""
    global _names
    _names = tuple(names)


def is_quicklook_name(name: str, names: Optional[Iterable[str]] = None) -> bool:
    """Whether a file called ``name`` is a quicklook by ``names`` (the process's when None)."""
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in (_names if names is None else names))
