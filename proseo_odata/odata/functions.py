"""The function table: every ``$filter`` function the binder accepts, in one place.

Each :class:`FunctionSignature` gives the canonical name, the accepted argument kinds (one
tuple of kinds per overload, see :class:`proseo_odata.odata.edm.PrimitiveType` ``kind``) and
the return type. The binder checks calls against this table; the SQL and Python compilers
implement exactly the names listed here (a test asserts both cover the table).

``OData.CSC.Intersects`` (named parameters, contract section 6) is listed with its own
:data:`INTERSECTS` marker; the binder handles its four spellings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

from . import edm

__all__ = ["FunctionSignature", "FUNCTIONS", "INTERSECTS", "INTERSECTS_NAMES", "lookup"]


@dataclass(frozen=True)
class FunctionSignature:
    """One function: ``overloads`` lists the argument kinds of each accepted form.

    ``returns`` is a primitive type, or ``"arg0"`` for "the type of the first argument".
    """

    name: str
    overloads: Tuple[Tuple[str, ...], ...]
    returns: Union[edm.PrimitiveType, str]

    @property
    def arities(self) -> Tuple[int, ...]:
        return tuple(sorted({len(o) for o in self.overloads}))


def _sig(name, overloads, returns):
    return FunctionSignature(name, tuple(tuple(o) for o in overloads), returns)


_S, _I, _DT, _D, _T = "string", "integer", "datetime", "date", "time"

#: Canonical lower-case name -> signature (OData URL conventions 5.1.1.7 - 5.1.1.9).
FUNCTIONS: Dict[str, FunctionSignature] = {
    s.name: s
    for s in (
        _sig("contains", [(_S, _S)], edm.BOOLEAN),
        _sig("startswith", [(_S, _S)], edm.BOOLEAN),
        _sig("endswith", [(_S, _S)], edm.BOOLEAN),
        _sig("length", [(_S,)], edm.INT32),
        _sig("indexof", [(_S, _S)], edm.INT32),
        _sig("substring", [(_S, _I), (_S, _I, _I)], edm.STRING),
        _sig("tolower", [(_S,)], edm.STRING),
        _sig("toupper", [(_S,)], edm.STRING),
        _sig("trim", [(_S,)], edm.STRING),
        _sig("concat", [(_S, _S)], edm.STRING),
        _sig("matchespattern", [(_S, _S)], edm.BOOLEAN),
        _sig("year", [(_DT,), (_D,)], edm.INT32),
        _sig("month", [(_DT,), (_D,)], edm.INT32),
        _sig("day", [(_DT,), (_D,)], edm.INT32),
        _sig("hour", [(_DT,), (_T,)], edm.INT32),
        _sig("minute", [(_DT,), (_T,)], edm.INT32),
        _sig("second", [(_DT,), (_T,)], edm.INT32),
        _sig("date", [(_DT,)], edm.DATE),
        _sig("time", [(_DT,)], edm.TIMEOFDAY),
        _sig("now", [()], edm.DATETIMEOFFSET),
    )
}

#: Marker name of the geographic intersection test (both spellings below resolve to it).
INTERSECTS = "OData.CSC.Intersects"
#: Accepted names (lower-case) of the intersection test: the ICD's and OData's ``geo.intersects``.
INTERSECTS_NAMES = ("odata.csc.intersects", "geo.intersects")


def lookup(name: str) -> Optional[FunctionSignature]:
    """The signature of ``name`` (case-insensitive), or ``None`` for an unsupported function."""
    return FUNCTIONS.get(name.lower())
