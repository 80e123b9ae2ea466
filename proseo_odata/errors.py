"""The root of every error the core raises for a caller to answer: what happened, not how to
answer it.

An error of the core says *what* happened (an object was not found, a change conflicts, the
input is invalid, the storage cannot be used now, ...) through its class and its :attr:`kind
<ProseoError.kind>`; it carries no HTTP status and no prosEO error code. The web layer maps
``(service, kind)`` to the status and code of the answer in one table
(:data:`proseo_odata_web.errors.ERROR_TABLE`); the CLI and workers print the message.

The classes are the families a caller catches; the ``kind`` is a dotted name whose first part is
the family's (``"not_found.workflow"`` is a :class:`NotFound`), so that a raiser can say more
than its class without a class per case, and the web table can fall back from
``"not_found.workflow"`` to ``"not_found"``::

    ProseoError                      kind "error"
    ├── InvalidInput                 "invalid_input": the caller sent something unusable
    │   ├── InvalidQuery             "invalid_input.query": a query option, filter or key
    │   │   └── proseo_odata.odata.errors.ODataError   (the OData language's own tree)
    │   ├── InvalidOrder             "invalid_input.order": a production order, every problem
    │   └── InvalidSubscription      "invalid_input.subscription"
    ├── NotFound                     "not_found": no such object (or not visible to the caller)
    ├── Conflict                     "conflict": a duplicate, a stale revision, an illegal
    │                                state change ("conflict.order_state", ...)
    ├── Unauthenticated              "unauthenticated": credentials missing or wrong
    ├── Forbidden                    "forbidden": a role is missing
    ├── TooManyAttempts              "too_many_attempts": too many failed logins
    ├── RangeNotSatisfiable          "range_not_satisfiable": a byte range outside the file
    └── Unavailable                  "unavailable": a backend cannot be used now (it may pass)

Storage errors (:mod:`proseo_odata.storage.errors`), order, subscription, eviction and archive
errors derive from these families; their historic names stay as subclasses.
"""
from __future__ import annotations

from typing import Iterable, Optional

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "InvalidOrder",
    "InvalidQuery",
    "InvalidSubscription",
    "NotFound",
    "ProseoError",
    "RangeNotSatisfiable",
    "TooManyAttempts",
    "Unauthenticated",
    "Unavailable",
    "kind_ancestors",
]


class ProseoError(Exception):
    """Root of the errors a caller of the core answers (see the module docstring).

    Attributes:
        message: a sentence for the client.
        target: what the error is about (``'$filter'``, ``'Id'``, a property name) or ``None``.
        details: further ``ProseoError`` instances (several problems at once).
        kind: the dotted kind (the class's unless the raiser gave a more precise one, which must
            start with the class's family: ``NotFound(..., kind="not_found.workflow")``).
    """

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        target: Optional[str] = None,
        details: Iterable["ProseoError"] = (),
        kind: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.details = tuple(details)
        if kind is not None:
            family = type(self).kind
            if kind != family and not kind.startswith(family + "."):
                raise ValueError(f"kind {kind!r} is not of the family {family!r} of {type(self).__name__}")
            self.kind = kind

    def __str__(self) -> str:
        return self.message

    @property
    def kinds(self) -> tuple[str, ...]:
        """This error's kind and its ancestors, most precise first (:func:`kind_ancestors`)."""
        return kind_ancestors(self.kind)


def kind_ancestors(kind: str) -> tuple[str, ...]:
    """A kind and its ancestors, most precise first, ending with the root's:
    ``kind_ancestors("not_found.workflow") == ("not_found.workflow", "not_found", "error")``."""
    parts = kind.split(".")
    return tuple(".".join(parts[:n]) for n in range(len(parts), 0, -1) if parts[:n] != ["error"]) + ("error",)


class InvalidInput(ProseoError):
    """The caller sent something the core cannot use (a value, a body)."""

    kind = "invalid_input"


class InvalidQuery(InvalidInput):
    """A query option, filter expression or entity key cannot be used."""

    kind = "invalid_input.query"


class InvalidOrder(InvalidInput):
    """A production order (or its Idempotency-Key) is invalid; ``details`` lists every problem."""

    kind = "invalid_input.order"


class InvalidSubscription(InvalidInput):
    """A subscription (its filter, its endpoint) is invalid; ``details`` lists every problem."""

    kind = "invalid_input.subscription"


class NotFound(ProseoError):
    """The object does not exist, or is not visible to the caller (answered alike)."""

    kind = "not_found"


class Conflict(ProseoError):
    """The change conflicts with the stored state: a duplicate, a stale revision, a state
    change the state machine forbids, a reused idempotency key."""

    kind = "conflict"


class Unauthenticated(ProseoError):
    """Credentials are missing or wrong."""

    kind = "unauthenticated"


class Forbidden(ProseoError):
    """The caller is known but lacks a role."""

    kind = "forbidden"


class TooManyAttempts(ProseoError):
    """Too many failed attempts; ``retry_after`` seconds until the next is accepted."""

    kind = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PreconditionFailed(ProseoError):
    """A request's precondition (``If-Match``, ``If-Unmodified-Since``) is false (RFC 9110 13.1)."""

    kind = "precondition_failed"


class RangeNotSatisfiable(ProseoError):
    """A requested byte range lies outside the file; ``size`` is the file's length."""

    kind = "range_not_satisfiable"

    def __init__(self, message: str, *, size: int, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.size = size


class Unavailable(ProseoError):
    """A backend (the database) cannot be used now; the same call may succeed later."""

    kind = "unavailable"
