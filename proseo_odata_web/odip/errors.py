"""ODIP's errors: the objects ODIP looks up that can be missing, and the key parser.

What ODIP answers for each kind of error (prosEO numbers ODIP errors 72xx, PRIP 77xx: contract
section 9) is the ODIP column of the one error table,
:data:`proseo_odata_web.errors.ERROR_TABLE`: a kind whose meaning exists in both services gets each
service's number (an invalid query ``E7721`` / ``E7221``, the 503 ``E7705`` / ``E7206``), a PRIP
meaning ODIP lacks gets an ODIP number of its own (a product file offline ``E7707`` / ``E7212``,
never the ``E7207`` that means "no workflow" here). The ``Warning`` header's agent
(``proseo-api-odip``) comes from the path (:func:`proseo_odata_web.errors.service_of_request`).

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
E7215   429     too many failed logins (PRIP E7711)
E7219   409     illegal order state change (core state machine; cancel is idempotent here)
E7220   422     an Idempotency-Key or client Id reused for a different order (core idempotency)
E7221   400     invalid query option, filter or key
E7258   404     input product not found by name (core)
E7259   404     input product not found by ContentDate (core)
E7299   500     an internal error (a bug; logged)
======  ======  ==========================================================================
"""
from __future__ import annotations

import uuid

from proseo_odata.errors import NotFound

from .. import keys


class WorkflowNotFound(NotFound):
    kind = "not_found.workflow"

    def __init__(self, workflow_id):
        super().__init__(f"No workflow found with UUID {workflow_id}")


class OrderNotFound(NotFound):
    """A missing order, or one of another user or mission (answered as if absent)."""

    kind = "not_found.order"

    def __init__(self, order_id):
        super().__init__(f"No production order found with UUID {order_id}")


class NoOutputProduct(NotFound):
    """The order has no output product (yet), or it is gone from the catalogue (``message``)."""

    kind = "not_found.output_product"

    def __init__(self, order, message: str | None = None):
        super().__init__(
            message
            or f"Production order {order.id} has no output product: its status is {order.status.value}"
            + (" (the product is published when the order completes)" if not order.status.is_terminal else ""),
        )


def parse_key(text: str, what: str) -> uuid.UUID:
    """The GUID in ``Set(<key>)`` (:func:`proseo_odata_web.keys.parse_key`)."""
    return keys.parse_key(text, what)
