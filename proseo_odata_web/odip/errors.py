"""ODIP error codes, the key parser, and the translation of core codes to ODIP codes.

prosEO numbers PRIP errors 77xx and ODIP errors 72xx (contract section 9). The OData core and
the shared web modules raise PRIP-numbered errors (``E7721`` for a bad query); under the ODIP
root :func:`odip_codes` gives them their ODIP number from the explicit table :data:`PRIP_TO_ODIP`:
a code whose meaning exists in ODIP gets that code (``E7721`` -> ``E7221``, the 503 ``E7705`` ->
``E7206``), a PRIP meaning ODIP lacks gets an ODIP number of its own (``E7707`` -> ``E7212``,
never the ``E7207`` that means "no workflow" here), and a code not in the table passes through
unchanged. The ``Warning`` header's agent (``proseo-api-odip``) comes from the path
(:func:`proseo_odata_web.errors.service_of_request`).

======  ======  ==========================================================================
code    status  meaning
======  ======  ==========================================================================
E7200   4xx     other HTTP errors under the ODIP root (:mod:`proseo_odata_web.errors`)
E7201   404     no resource at that path
E7202   405     method not supported for that path
E7203   401     credentials missing or wrong (:mod:`proseo_odata_web.auth`)
E7204   403     role ODIP_USER (or ORDER_MGR) missing
E7205   400     invalid production order, every problem in ``details`` (core validation)
E7206   503     the database cannot be reached
E7207   404     no workflow with that id in the user's mission
E7208   404     no production order with that id visible to the user
E7209   404     the order has no output product (yet), or the user may not read it
E7210   400     malformed token request (:mod:`proseo_odata_web.auth`)
E7211   404     a product not found (PRIP E7706, e.g. by a core function under ODIP)
E7212   404     the product's file cannot be downloaded: offline or evicted (PRIP E7707)
E7213   409     the object was changed concurrently or already exists (PRIP E7709)
E7214   416     the requested byte range cannot be satisfied (PRIP E7716)
E7219   409     illegal order state change (core state machine; cancel is idempotent here)
E7220   422     an Idempotency-Key or client Id reused for a different order (core idempotency)
E7221   400     invalid query option, filter or key
E7258   404     input product not found by name (core)
E7259   404     input product not found by ContentDate (core)
E7299   500     an internal error (a bug; logged)
======  ======  ==========================================================================
"""
from __future__ import annotations

import functools
import uuid

from proseo_odata.odata.errors import ODataError

from .. import keys

INVALID_QUERY = "E7221"
WORKFLOW_NOT_FOUND = "E7207"
ORDER_NOT_FOUND = "E7208"
NO_OUTPUT_PRODUCT = "E7209"

class WorkflowNotFound(ODataError):
    status = 404

    def __init__(self, workflow_id):
        super().__init__(f"No workflow found with UUID {workflow_id}", code=WORKFLOW_NOT_FOUND, status=404)


class OrderNotFound(ODataError):
    """A missing order, or one of another user or mission (answered as if absent)."""

    status = 404

    def __init__(self, order_id):
        super().__init__(f"No production order found with UUID {order_id}", code=ORDER_NOT_FOUND, status=404)


class NoOutputProduct(ODataError):
    status = 404

    def __init__(self, order):
        super().__init__(
            f"Production order {order.id} has no output product: its status is {order.status.value}"
            + (" (the product is published when the order completes)" if not order.status.is_terminal else ""),
            code=NO_OUTPUT_PRODUCT,
            status=404,
        )


def parse_key(text: str, what: str) -> uuid.UUID:
    """The GUID in ``Set(<key>)`` with the ODIP code (:func:`proseo_odata_web.keys.parse_key`)."""
    return keys.parse_key(text, what, INVALID_QUERY)


#: PRIP-numbered codes and their ODIP numbers (see the module docstring); others pass through.
PRIP_TO_ODIP = {
    # the same meaning in both services
    "E7700": "E7200",  # other HTTP error
    "E7701": "E7201",  # no resource at that path
    "E7702": "E7202",  # method not supported
    "E7703": "E7203",  # credentials missing or wrong
    "E7704": "E7204",  # role missing
    "E7705": "E7206",  # database unreachable (503)
    "E7710": "E7210",  # malformed token request
    "E7721": "E7221",  # invalid query option, filter or key
    "E7799": "E7299",  # internal error
    # PRIP meanings ODIP has no code for: ODIP numbers of their own
    "E7706": "E7211",  # product not found
    "E7707": "E7212",  # product file unavailable (offline, evicted)
    "E7709": "E7213",  # concurrent change / duplicate (storage ConflictError)
    "E7716": "E7214",  # range not satisfiable (416)
}


def _odip_code(code: str) -> str:
    return PRIP_TO_ODIP.get(code, code)


def renumber(exc: ODataError) -> ODataError:
    """Give ``exc`` (and its details) the ODIP number of a PRIP-numbered code
    (:data:`PRIP_TO_ODIP`), in place."""
    exc.code = _odip_code(exc.code)
    for detail in exc.details:
        renumber(detail)
    return exc


def odip_codes(view):
    """Decorator of ODIP views: errors with PRIP codes leave with the ODIP number."""

    @functools.wraps(view)
    def wrapper(request):
        try:
            return view(request)
        except ODataError as exc:
            raise renumber(exc)

    return wrapper
