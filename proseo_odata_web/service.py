"""The two documents every OData service root serves (contract section 1): the service
document (``GET {root}/``, JSON) and ``GET {root}/$metadata`` (CSDL XML generated from the core's
entity model). PRIP and ODIP build their views here from their own model."""
from __future__ import annotations

import functools

from proseo_odata.odata.csdl import render_csdl

from .auth import authenticate
from .odata_json import json_response


@functools.lru_cache(maxsize=8)
def _csdl(model, include_aliases: bool) -> bytes:
    return render_csdl(model, include_aliases=include_aliases)


def _check_access(request) -> None:
    # Readable without credentials unless proseo.anonymous_metadata is off.
    if not request.registry.proseo.anonymous_metadata:
        authenticate(request)


def service_document_view(model):
    """A view answering the service document of ``model``'s entity sets."""

    def service_document(request):
        _check_access(request)
        value = [{"name": s.name, "kind": "EntitySet", "url": s.name} for s in model.entity_sets]
        return json_response({"@odata.context": "$metadata", "value": value})

    return service_document


def metadata_view(model):
    """A view answering ``$metadata`` of ``model`` (with the seed aliases when they are on)."""

    def metadata(request):
        _check_access(request)
        response = request.response
        response.body = _csdl(model, request.registry.proseo.seed_aliases)
        response.content_type = "application/xml"
        response.charset = "utf-8"
        response.headers["OData-Version"] = "4.0"
        return response

    return metadata
