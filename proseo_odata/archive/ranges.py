"""HTTP byte ranges (RFC 9110, section 14), independent of any web framework.

The download view asks :func:`parse_range` what to serve for a ``Range`` header and a file
size. Only what the contract needs is modelled: one range of the ``bytes`` unit.

* ``bytes=A-B``  bytes A..B inclusive; B past the end is clamped to the last byte.
* ``bytes=N-``   from N to the end (resumed downloads).
* ``bytes=-N``   the last N bytes; N larger than the file means the whole file.

What is *not* a single satisfiable range:

* no header, another unit, a syntax error, or several ranges -> :data:`IGNORE`: the server
  answers the whole file with ``200`` (RFC 9110 14.2 allows ignoring ``Range``; we never
  build ``multipart/byteranges``);
* a well-formed single range that starts at or beyond the end of the file (or ``bytes=-0``, or
  any range of an empty file) -> :data:`UNSATISFIABLE`: ``416`` with ``Content-Range: bytes */size``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from proseo_odata.errors import RangeNotSatisfiable

__all__ = ["ByteRange", "IGNORE", "UNSATISFIABLE", "RangeNotSatisfiableError", "parse_range"]

_SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
#: Offsets of more digits than this exceed any file (and Python's int() refuses > 4300 digits).
_MAX_DIGITS = 30
_HUGE = 10**_MAX_DIGITS


def _offset(digits: str) -> int:
    """A byte offset from its decimal digits; absurdly long numbers become one huge value."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else _HUGE


def _less(a: str, b: str) -> bool:
    """``int(a) < int(b)`` for decimal digit strings of any length."""
    a, b = a.lstrip("0"), b.lstrip("0")
    return (len(a), a) < (len(b), b)


@dataclass(frozen=True)
class ByteRange:
    """A satisfiable range: ``start`` and ``end`` are inclusive byte offsets."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """The ``Content-Range`` header value of a ``206`` answer."""
        return f"bytes {self.start}-{self.end}/{size}"


class _Outcome:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


IGNORE = _Outcome("IGNORE")
UNSATISFIABLE = _Outcome("UNSATISFIABLE")


def parse_range(header: str | None, size: int):
    """Return a :class:`ByteRange`, :data:`IGNORE` or :data:`UNSATISFIABLE`.

    ``header`` is the raw ``Range`` header value (``None`` when absent), ``size`` the file
    size in bytes.
    """
    if header is None or not header.strip():
        return IGNORE
    if "," in header:
        return IGNORE  # several ranges: answer the whole representation
    match = _SINGLE.match(header)
    if not match:
        return IGNORE
    first, last = match.groups()
    if not first and not last:
        return IGNORE
    if not first:  # suffix range: the last N bytes
        suffix = _offset(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return ByteRange(max(0, size - suffix), size - 1)
    start = _offset(first)
    if last:
        if _less(last, first):
            return IGNORE  # syntactically invalid range spec (RFC 9110 14.1.1)
        end = _offset(last)
    else:
        end = size - 1
    if start >= size:
        return UNSATISFIABLE
    return ByteRange(start, min(end, size - 1))


class RangeNotSatisfiableError(RangeNotSatisfiable):
    """No byte of the requested range exists (the web layer answers 416 with
    ``Content-Range: bytes */<size>``)."""

    def __init__(self, header: str, size: int):
        super().__init__(
            f"Range {header.strip()!r} cannot be satisfied: the file has {size} bytes",
            target="Range",
            size=size,
        )
