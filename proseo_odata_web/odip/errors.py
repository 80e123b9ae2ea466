"""ODIP's errors: the objects ODIP looks up that can be missing, and the key parser.

What ODIP answers for each kind of error (prosEO numbers ODIP errors 72xx, PRIP 77xx: contract
section 9) is the ODIP column of the one error table,
:data:`proseo_odata_web.errors.ERROR_TABLE`: a kind whose meaning exists in both services gets each
service's number (an invalid query ``E7721`` / ``E7221``, the 503 ``E7705`` / ``E7206``), a PRIP
meaning ODIP lacks gets an ODIP number of its own (a product file offline ``E7707`` / ``E7212``,
never the ``E7207`` that means "no workflow" here). The ``Warning`` header's agent
(``proseo-api-odip``) comes from the path (:func:`proseo_odata_web.errors.service_of_request`).

Every ODIP code with its status and meaning: docs/odip.md (a test keeps it equal to the table).
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
