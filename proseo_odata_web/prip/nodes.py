"""``Products(<key>)/Nodes``: the folders and files inside a product's file, as the Copernicus
Data Space Ecosystem serves them (:mod:`proseo_odata.nodes` reads them from the archive).

========================================================  =========================================
path (under ``{root}/Products({key})``)                   answer
========================================================  =========================================
``/Nodes``                                                ``{"value": [<the root node>]}``
``/Nodes(<name>)``                                        one node (``Nodes(a)/Nodes(b)/...`` deeper)
``/Nodes(<name>)/Nodes``                                  its children (``[]`` for a file)
``/Nodes(<name>)/$value``                                 a file's bytes; the root's is the product's file
========================================================  =========================================

A name is written bare, as CDSE and CDSETool write it (``Nodes(manifest.safe)``), or quoted as
an OData string key (``Nodes('manifest.safe')``). A node is ``{"Id", "Name", "ContentLength",
"ChildrenNumber", "Nodes": {"uri"}}``; a listing carries its nodes twice, as ``value`` (OData's
collection member) and as ``result`` (the member CDSE's documentation shows). Nodes are not
part of the OData model (``$metadata`` does not declare them): they are CDSE's extension,
served for its clients. Who may read a product's nodes is who may download it, and its file
must be sound (:func:`proseo_odata_web.download.archived_size`); no query option but
``$format`` applies.

A file inside a ZIP is sent as it inflates, with ``Content-Length``, ``Accept-Ranges``, a
strong ``ETag`` (the product's MD5 and the entry's CRC-32), ranges and conditional requests as
the product's own ``$value`` has them (:mod:`proseo_odata_web.download`); a range of a
compressed entry is inflated from the entry's start.
"""
from __future__ import annotations

import json
import logging
import mimetypes
import zipfile
from urllib.parse import quote

from pyramid.response import Response

from proseo_odata.archive import content_disposition
from proseo_odata.errors import NotFound
from proseo_odata.model import Role
from proseo_odata.nodes import check_readable, iter_member, product_nodes, resolve
from proseo_odata.odata.errors import ODataError
from proseo_odata.query import value_options

from ..auth import require_role
from ..download import archived_size, file_response, product_file_response, unreadable
from ..keys import parse_name_key
from ..query import decoded_query_pairs

log = logging.getLogger(__name__)

__all__ = ["product_nodes_view"]

#: What a name keeps unencoded in a node's URL (RFC 3986 ``pchar`` but ``%`` and the parentheses).
_PCHAR = "!$&'*+,;=:@-._~"


class _NoSuchPath(NotFound):
    kind = "not_found.resource"


def parse_nodes_path(rest: str, path: str) -> tuple[list, str]:
    """``(names, what)`` of what follows ``Nodes`` in a path: the node names from the root, and
    ``"list"``, ``"entity"`` or ``"value"``."""
    if rest == "":
        return [], "list"
    what = "entity"
    for suffix, kind in (("/Nodes", "list"), ("/$value", "value")):
        if rest.endswith(suffix):
            rest, what = rest[: -len(suffix)], kind
            break
    if not (rest.startswith("(") and rest.endswith(")")) or len(rest) < 3:
        raise _NoSuchPath(f"No resource at {path}")
    names = []
    for text in rest[1:-1].split(")/Nodes("):
        if text.startswith("'") or text.startswith("Name='"):
            text = parse_name_key(text, "node")
        if not text:
            raise ODataError(f"Invalid node key in {path}: a node is named Nodes(<name>)", target="Name")
        names.append(text)
    return names, what


def _node_json(node, url: str) -> dict:
    return {"Id": node.name, "Name": node.name, "ContentLength": node.size, "ChildrenNumber": node.children_number,
            "Nodes": {"uri": url + "/Nodes"}}


def _node_url(base: str, names) -> str:
    return base + "".join(f"/Nodes({quote(name, safe=_PCHAR)})" for name in names)


def _json(body) -> Response:
    response = Response(body=json.dumps(body, ensure_ascii=False).encode("utf-8"), charset=None)
    response.headers["Content-Type"] = "application/json"
    response.headers["OData-Version"] = "4.0"
    return response


def _member_response(request, product, archive, size: int, node) -> Response:
    info = node.member
    check_readable(node, product.name)

    def slice_of(start, stop):
        return _guarded(iter_member(archive, product.archive_key, size, info, start, stop), product, info)

    md5 = product.checksum("MD5")
    etag = f"{md5.lower()}-{info.CRC:08x}" if md5 else None
    content_type = mimetypes.guess_type(node.name)[0] or "application/octet-stream"
    return file_response(request, slice_of, info.file_size, name=node.name, content_type=content_type, etag=etag,
                         last_modified=product.publication_date)


def _guarded(chunks, product, info):
    """``chunks``, logging why they stop early (a damaged entry): the server then drops the
    connection, so the client sees fewer bytes than ``Content-Length`` promised."""
    try:
        yield from chunks
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        log.error("product %s (%s): its entry %s cannot be inflated: %s", product.id, product.name, info.filename, exc)
        raise


def product_nodes_view(request):
    from .products import visible_product

    principal = require_role(request, Role.PRIP_USER)
    names, what = parse_nodes_path(request.matchdict["rest"], request.path_info)
    value_options(decoded_query_pairs(request), "Products(...)/Nodes", "a product's nodes")
    product = visible_product(request, principal, request.matchdict["key"])
    archive = request.archive
    size = archived_size(product, archive)
    try:
        root = product_nodes(archive, product.archive_key, size, product.name)
    except OSError as exc:
        raise unreadable(product, exc) from None
    web = request.registry.proseo
    mount, _service = web.mount_of_path(request.path_info)
    base = f"{request.application_url}{mount}/Products({product.id})"
    if not names:
        listed = [_node_json(root, _node_url(base, [root.name]))]
        return _json({"value": listed, "result": listed})
    node = resolve(root, names)
    names = [root.name, *names[1:]]
    if what == "entity":
        return _json(_node_json(node, _node_url(base, names)))
    if what == "list":
        children = [_node_json(child, _node_url(base, [*names, child.name])) for child in (node.children or {}).values()]
        return _json({"value": children, "result": children})
    if node is root:  # the product itself: its file, as Products(<key>)/$value sends it
        return product_file_response(request, product, archive)
    if node.is_folder:
        raise ODataError(f"Node {'/'.join(names)!r} of product {product.id} is a folder: only a file has a $value; "
                         "list its children with /Nodes", target="$value")
    return _member_response(request, product, archive, size, node)
