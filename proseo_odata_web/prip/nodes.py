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
an OData string key (``Nodes('manifest.safe')``); the URLs the answers give write a name bare
unless it would read as a quoted one. A node is ``{"Id", "Name", "ContentLength",
"ChildrenNumber", "Nodes": {"uri"}}``; a listing carries its nodes twice, as ``value`` (OData's
collection member) and as ``result`` (the member CDSE's documentation shows). Nodes are not
part of the OData model (``$metadata`` does not declare them): they are CDSE's extension,
served for its clients, answered as plain JSON (no metadata levels apply). Who may read a
product's nodes is who may download it, and its file must be sound
(:func:`proseo_odata_web.download.archived_size`); no system query option but ``$format``
applies.

A file inside a ZIP is sent by :func:`proseo_odata_web.download.file_response` (ranges and
conditional requests), with a strong ``ETag`` (the product's MD5 and the entry's CRC-32) and a
``Content-Type`` from a fixed table of the extensions in Sentinel products: a stored entry of at
most :data:`~proseo_odata.nodes.CHECKED_STORED_BYTES` (checked before the answer), and any range
of a stored entry, as a range of the archived file (sendfile under gunicorn); a larger stored
entry sent whole, and a deflated one, as it is read or inflated, checked against its size and
CRC-32 when sent to its end (:func:`proseo_odata.nodes.iter_member`).
"""
from __future__ import annotations

import json
import logging
import posixpath

from pyramid.httpexceptions import HTTPNotFound
from pyramid.response import Response

from proseo_odata.model import Role
from proseo_odata.nodes import iter_member, open_member, product_nodes, resolve
from proseo_odata.odata.errors import ODataError
from proseo_odata.query import value_options

from ..auth import require_role
from ..download import archived_size, archived_slices, file_response, product_file_response, unreadable
from ..keys import node_url, parse_name_key
from ..query import decoded_query_pairs
from .products import visible_product

log = logging.getLogger(__name__)

__all__ = ["ROUTES", "parse_nodes_path", "product_nodes_view"]

#: The media types of a node's ``$value`` by extension (else ``application/octet-stream``): a
#: fixed table, not the host's ``mimetypes``.
CONTENT_TYPES = {
    ".xml": "application/xml", ".safe": "application/xml", ".xsd": "application/xml", ".gml": "application/gml+xml",
    ".kml": "application/vnd.google-earth.kml+xml", ".json": "application/json", ".txt": "text/plain",
    ".jp2": "image/jp2", ".tif": "image/tiff", ".tiff": "image/tiff", ".png": "image/png", ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg", ".nc": "application/x-netcdf", ".pdf": "application/pdf", ".zip": "application/zip",
}


#: A deflated entry that inflates more than this many times is sent whole, whatever ``Range``
#: asks for: a range is inflated from the entry's start (a 4 MB "bomb" of 4 GiB would cost
#: seconds per request); a JP2 or TIFF barely deflates, XML some 5 to 10 times.
RANGE_RATIO = 32


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
        raise HTTPNotFound()  # the not-found view's answer: no resource at that path
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


def _json(body) -> Response:
    response = Response(body=json.dumps(body, ensure_ascii=False).encode("utf-8"), charset=None)
    response.headers["Content-Type"] = "application/json"
    response.headers["OData-Version"] = "4.0"
    return response


def _member_response(request, product, archive, size: int, node) -> Response:
    key = product.archive_key
    try:
        member = open_member(archive, key, size, node, product.name)
        # a stored entry: ranges of the archived file (sendfile under gunicorn)
        stored = archived_slices(request, archive, key, member.offset) if member.stored else None
    except OSError as exc:
        raise unreadable(product, exc) from None

    def slice_of(start, stop):
        # a stored entry checked when it was opened, or a range of one (unchecked, as ranges of a
        # product's file are), is a range of the file; anything else is checked as it is sent
        if stored is not None and (member.checked or (start, stop) != (0, member.size)):
            return stored(start, stop)
        return _logged(iter_member(archive, key, member, start, stop), product, node,
                       stored.close if stored is not None else None)

    md5 = product.checksum("MD5")
    content_type = CONTENT_TYPES.get(posixpath.splitext(node.name)[1].lower(), "application/octet-stream")
    # a range of a deflated entry is inflated from its start: not for one that inflates much
    ranges = member.stored or member.size <= RANGE_RATIO * member.compressed
    return file_response(request, slice_of, member.size, name=node.name, content_type=content_type,
                         etag=f"{md5.lower()}-{member.crc:08x}" if md5 else None,
                         last_modified=product.publication_date, ranges=ranges)


def _logged(chunks, product, node, close=None):
    """``chunks``, logging why they stop early (damaged data found while inflating): the server
    then drops the connection, so the client gets fewer bytes than ``Content-Length`` promised.
    ``close`` runs when the body ends (sent, or closed by the server)."""
    try:
        yield from chunks
    except OSError as exc:
        log.error("product %s (%s): its entry %s cannot be sent: %s", product.id, product.name,
                  node.entry.name, exc)
        raise
    finally:
        if close is not None:
            close()


def product_nodes_view(request):
    principal = require_role(request, Role.PRIP_USER)
    names, what = parse_nodes_path(request.matchdict["rest"], request.path_info)
    value_options(decoded_query_pairs(request), "Products(...)/Nodes", "a product's nodes")
    product = visible_product(request, principal, request.matchdict["key"])
    archive = request.archive
    if what == "value" and names == [product.name]:  # the product itself: its file, as $value sends it
        return product_file_response(request, product, archive)
    size = archived_size(product, archive)
    try:
        root = product_nodes(archive, product.archive_key, size, product.name, product.checksum("MD5"))
    except OSError as exc:
        raise unreadable(product, exc) from None
    mount, _service = request.registry.proseo.mount_of_path(request.path_info)
    base = f"{request.application_url}{mount}/Products({product.id})"
    if not names:
        listed = [_node_json(root, node_url(base, [root.name]))]
        return _json({"value": listed, "result": listed})
    node = resolve(root, names)
    names = [root.name, *names[1:]]
    if what == "entity":
        return _json(_node_json(node, node_url(base, names)))
    if what == "list":
        children = [_node_json(child, node_url(base, [*names, child.name]))
                    for child in (node.children or {}).values()]
        return _json({"value": children, "result": children})
    if node is root:  # reached by the ZIP's top folder's name: the product's file
        return product_file_response(request, product, archive)
    if node.is_folder:
        raise ODataError(f"Node {'/'.join(names)!r} of product {product.id} is a folder: only a file has a $value; "
                         "list its children with /Nodes", target="$value")
    return _member_response(request, product, archive, size, node)


#: The route (:func:`proseo_odata_web.service.add_routes`); a name may hold any character, a new
#: line too.
ROUTES = (
    ("/Products({key})/Nodes{rest:[\\s\\S]*}", "product_nodes", {"GET": product_nodes_view}),
)
