"""The exception tree of the OData query language core.

Every error a client can cause by what it sends in a query derives from :class:`ODataError`, an
:class:`proseo_odata.errors.InvalidQuery` (kind ``"invalid_input.query"``): it says what is wrong
with the query and where, and carries no HTTP status or prosEO code. The web layer answers it
from its error table (400 with ``E7721`` in PRIP, ``E7221`` in ODIP), the OData error body
``{"error": {"code": ..., "message": ..., "target": ...}}`` and the ``Warning`` header
(contract section 9).

::

    ODataError                      an invalid query
    ├── ODataSyntaxError            the text does not follow the grammar (position, expected)
    │   └── ODataLimitError         too long / nested too deeply (rejected before parsing)
    ├── ODataQueryOptionError       a bad system query option ($top=-1, $format=xml, twice $skip)
    ├── ODataNameError              an unknown property, type, function or lambda variable
    ├── ODataTypeError              operands or arguments of the wrong type
    └── ODataNotSupportedError      valid OData this service does not implement
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

from proseo_odata.errors import InvalidQuery, ProseoError

__all__ = [
    "ODataError",
    "ODataLimitError",
    "ODataNameError",
    "ODataNotSupportedError",
    "ODataQueryOptionError",
    "ODataSyntaxError",
    "ODataTypeError",
]


class ODataError(InvalidQuery):
    """Root of every error a client can cause in the OData core.

    Attributes:
        message: a sentence for the client.
        target: what the error is about, e.g. ``'$filter'``, ``'$top'`` (or ``None``).
        details: a tuple of further errors (e.g. several problems at once).
    """

    def __init__(
        self,
        message: str,
        *,
        target: Optional[str] = None,
        details: Iterable[ProseoError] = (),
        kind: Optional[str] = None,
    ) -> None:
        super().__init__(message, target=target, details=details, kind=kind)


class ODataSyntaxError(ODataError):
    """The query text does not follow the OData grammar.

    Attributes (besides those of :class:`ODataError`):
        text: the text that was parsed (the decoded option value).
        position: 0-based offset of the offending character in ``text``.
        expected: sorted list of readable descriptions of what could have come there, such as
            ``"')'"``, ``"a string literal"``, ``"an operator"``; empty when unknown.
        column: ``position + 1`` (what the message shows).

    ``str(err)`` is the message followed by the text and a caret under the position::

        Invalid query condition: expected ')' at column 17
          contains(Name,'a' eq true
                          ^
    """

    def __init__(
        self,
        message: str,
        *,
        text: str = "",
        position: int = 0,
        expected: Sequence[str] = (),
        target: Optional[str] = "$filter",
    ) -> None:
        super().__init__(message, target=target)
        self.text = text
        self.position = max(0, min(position, len(text)))
        self.expected = sorted(set(expected))

    @property
    def column(self) -> int:
        """1-based column of the error (``position + 1``)."""
        return self.position + 1

    def caret(self, width: int = 80) -> str:
        """Two lines: (an excerpt of) the text and a caret under the error position."""
        text = self.text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        pos = self.position
        start = 0
        if len(text) > width:
            start = max(0, pos - width // 2)
            end = min(len(text), start + width)
            prefix = "..." if start else ""
            suffix = "..." if end < len(text) else ""
            line = prefix + text[start:end] + suffix
            pos = pos - start + len(prefix)
        else:
            line = text
        return f"  {line}\n  {' ' * pos}^"

    def __str__(self) -> str:
        if not self.text and not self.position:
            return self.message
        return f"{self.message}\n{self.caret()}"


class ODataLimitError(ODataSyntaxError):
    """The text is longer or nested more deeply than the configured limits allow.

    Raised before parsing, so a hostile query costs only one linear scan. ``position`` points at
    the place the limit was crossed.
    """


class ODataQueryOptionError(ODataError):
    """A system query option is malformed or not allowed.

    For example ``$top=-1``, ``$count=maybe``, ``$format=xml``, or ``$skip`` given twice.
    ``target`` names the option (``'$top'``).
    """


class ODataNameError(ODataError):
    """A name in the query does not resolve: unknown property, type cast, function, variable.

    Attributes: ``name`` (the name as written) and ``position`` (0-based offset, or ``None``).
    """

    def __init__(self, message: str, *, name: str = "", position: Optional[int] = None, **kwargs) -> None:
        kwargs.setdefault("target", "$filter")
        super().__init__(message, **kwargs)
        self.name = name
        self.position = position


class ODataTypeError(ODataError):
    """Operands or arguments of incompatible types (``Name gt 5``, ``contains(Size, 'a')``).

    Attribute ``position``: 0-based offset of the offending expression, or ``None``.
    """

    def __init__(self, message: str, *, position: Optional[int] = None, **kwargs) -> None:
        kwargs.setdefault("target", "$filter")
        super().__init__(message, **kwargs)
        self.position = position


class ODataNotSupportedError(ODataError):
    """Valid OData that this service does not implement (for example ``$search``).

    An invalid query like the others (400): the client can change the query.
    """
