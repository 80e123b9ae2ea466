"""ODIP service document, ``$metadata`` and workflows (contract sections 1, 4, 5).

=================================  ======  =================================================
path                               method  answer
=================================  ======  =================================================
``{root}/`` and ``{root}``         GET     service document (Workflows, ProductionOrders)
``{root}/$metadata``               GET     CSDL XML of the ODIP model
``{root}/Workflows``               GET     the mission's enabled workflows; $filter, $orderby,
                                           $top, $skip, $count, $select as for Products
``{root}/Workflows/$count``        GET     their number as ``text/plain``
``{root}/Workflows({key})``        GET     one workflow (``<guid>``, ``'<guid>'``, ``Id=<guid>``)
``{root}/Workflows({key})/Name``   GET     one property, and with ``/$value`` its raw value
                                           (:mod:`~proseo_odata_web.properties`)
=================================  ======  =================================================

Workflows need the role ``ODIP_USER`` (or ``ORDER_MGR``); a workflow of another mission answers
404 as if absent.
"""
from __future__ import annotations

import functools

from proseo_odata.model import Role, Workflow
from proseo_odata.odata import edm

from ..auth import require_role
from ..keys import load_or_404
from ..odata_json import context_url, entity_body, format_guid, json_response, select_properties, text_response
from ..service import metadata_view, service_document_view
from ..properties import property_routes
from ..query import collection_body, collection_query, single_entity_options
from .errors import WorkflowNotFound, parse_key

#: Roles that may use ODIP (any one of them).
ODIP_ROLES = (Role.ODIP_USER, Role.ORDER_MGR)


def workflow_json(workflow: Workflow) -> dict:
    """A workflow as the OData entity (contract section 4; ``Value``: the allowed values)."""
    return {
        "Id": format_guid(workflow.id),
        "Name": workflow.name,
        "Description": workflow.description,
        "InputProductType": workflow.input_product_type,
        "OutputProductType": workflow.output_product_type,
        "WorkflowVersion": workflow.workflow_version,
        "WorkflowOptions": [
            {
                "Name": option.name,
                "Description": option.description,
                "Type": option.type.value,
                "Default": option.default,
                "Value": list(option.allowed_values),
            }
            for option in workflow.options
        ],
    }


def _web(request):
    return request.registry.proseo


service_document = service_document_view(edm.ODIP_MODEL)
metadata = metadata_view(edm.ODIP_MODEL)


def list_workflows(request):
    principal = require_role(request, *ODIP_ROLES)
    paged = collection_query(request, "Workflows")
    result = request.storage.query_workflows(principal.mission, paged.query, enabled_only=True)
    items = [select_properties(workflow_json(w), paged.select) for w in result.items]
    context = context_url(request, "Workflows", paged.select)
    return json_response(collection_body(request, context, items, result, paged))


def count_workflows(request):
    principal = require_role(request, *ODIP_ROLES)
    paged = collection_query(request, "Workflows", count_only=True)
    result = request.storage.query_workflows(principal.mission, paged.query, enabled_only=True)
    return text_response(str(result.count))


def _enabled_workflow(request, principal) -> Workflow:
    """The enabled workflow ``Workflows(<key>)`` names; 404 for a missing or disabled one."""
    return load_or_404(functools.partial(request.storage.get_workflow, principal.mission),
                       parse_key(request.matchdict["key"], "workflow"), WorkflowNotFound,
                       lambda workflow: workflow.enabled)


def get_workflow(request):
    principal = require_role(request, *ODIP_ROLES)
    _expand, select = single_entity_options(request, "Workflows")
    workflow = _enabled_workflow(request, principal)
    return json_response(entity_body(request, "Workflows", workflow_json(workflow), select))


def _workflow_entity(request) -> tuple:
    """The workflow ``Workflows(<key>)`` answers, for its individual properties."""
    workflow = _enabled_workflow(request, require_role(request, *ODIP_ROLES))
    return str(workflow.id), workflow_json(workflow)


ROUTES = (
    ("/", "service", {"GET": service_document}),
    ("", "service_noslash", {"GET": service_document}),
    ("/$metadata", "metadata", {"GET": metadata}),
    ("/Workflows", "workflows", {"GET": list_workflows}),
    ("/Workflows/$count", "workflows_count", {"GET": count_workflows}),
    ("/Workflows({key})", "workflow", {"GET": get_workflow}),
    *property_routes("Workflows", edm.WORKFLOW, _workflow_entity, "workflow"),
)
