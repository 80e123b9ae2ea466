"""Reading deployment settings (plain ``dict``-like mappings of strings) in the core."""
from __future__ import annotations

from typing import Any

__all__ = ["as_bool"]

_TRUE = ("1", "true", "yes", "on")


def as_bool(value: Any, default: bool = False) -> bool:
    """A setting's truth value: a ``bool`` as is, ``None`` (not set) as ``default``, any other
    value true when its text is ``1``, ``true``, ``yes`` or ``on`` (any case, surrounding
    blanks ignored), false otherwise."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE
