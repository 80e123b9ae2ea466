"""The ``$value`` response of a product: its archived file over HTTP (contract section 7).

:func:`product_file_response` is pure HTTP plumbing on WebOb; which product may be downloaded is
decided by the caller (visibility) and by the core (:func:`proseo_odata.eviction.check_downloadable`).

* ``200`` with the whole file: ``Content-Length``, ``Content-Type``, ``Content-Disposition:
  attachment; filename="<Name>"``, ``Accept-Ranges: bytes``, a strong ``ETag`` (the MD5
  checksum), ``Last-Modified`` (the publication date), ``Content-Digest`` / ``Repr-Digest``
  (RFC 9530: ``md5=:<base64>:, sha-256=:<base64>:``) and the legacy ``Digest: MD5=<base64>``
  (RFC 3230).
* ``Range`` (GET only, RFC 9110 14.2): one range ``bytes=A-B`` / ``bytes=N-`` / ``bytes=-N``
  gives ``206`` with ``Content-Range``; several ranges or a malformed header are ignored (the
  whole file, ``200``); an unsatisfiable range gives ``416`` with ``Content-Range: bytes */size``.
* ``If-Range`` (an ETag, compared strongly, or an HTTP date equal to ``Last-Modified``): when it
  does not match, the range is ignored and the whole file is sent.
* ``If-None-Match`` (or, without it, ``If-Modified-Since``) answers ``304``.
* ``HEAD``: the same headers, no body (the archive is not read).
* Bodies stream: a local file goes to ``wsgi.file_wrapper`` when the server offers one (a ranged
  read is a file positioned at the offset behind a reader bounded to the range length); object
  storage is streamed chunk by chunk, or, when the archive is configured to pre-sign, ``GET``
  answers ``307`` to a pre-signed URL.
"""
from __future__ import annotations

import base64
import email.utils
from datetime import datetime, timezone

from pyramid.response import Response

from proseo_odata.archive.ranges import IGNORE, UNSATISFIABLE, RangeNotSatisfiableError, parse_range
from proseo_odata.eviction import ProductUnavailableError, check_downloadable

BLOCK_SIZE = 256 * 1024

__all__ = ["product_file_response"]


def _b64_of_hex(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        return None


def _content_disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("\\", "_").replace('"', "_")
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        from urllib.parse import quote

        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


def _http_date(value: datetime) -> str:
    return email.utils.format_datetime(value.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _etags(header: str) -> list[str]:
    """The entity tags of an ``If-None-Match`` / ``If-Match`` list (``*`` kept as is)."""
    tags, rest = [], header.strip()
    while rest:
        rest = rest.lstrip(", \t")
        if not rest:
            break
        if rest.startswith("*"):
            tags.append("*")
            rest = rest[1:]
            continue
        weak = rest.startswith(("W/", "w/"))
        body = rest[2:] if weak else rest
        if body.startswith('"'):
            end = body.find('"', 1)
            if end < 0:
                break
            tags.append(("W/" if weak else "") + body[: end + 1])
            rest = body[end + 1:]
        else:  # tolerate an unquoted tag
            token, _, rest = body.partition(",")
            tags.append(("W/" if weak else "") + f'"{token.strip()}"')
    return tags


def _weak_match(etag: str | None, header: str) -> bool:
    if etag is None:
        return False
    for tag in _etags(header):
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def _if_range_allows(request, etag: str | None, last_modified: datetime) -> bool:
    """True when the range may be served (no ``If-Range``, or it matches; RFC 9110 13.1.5)."""
    value = request.headers.get("If-Range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/", "w/")):
        return etag is not None and value == etag  # strong comparison; a weak tag never matches
    date = _parse_http_date(value)
    return date is not None and date == last_modified.replace(microsecond=0)


def _not_modified(request, etag: str | None, last_modified: datetime) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        return _weak_match(etag, if_none_match)
    since = request.headers.get("If-Modified-Since")
    if since is not None:
        date = _parse_http_date(since)
        return date is not None and last_modified.replace(microsecond=0) <= date
    return False


class BoundedReader:
    """A file positioned at ``start`` whose ``read`` stops after ``length`` bytes.

    Handed to ``wsgi.file_wrapper`` for a range: servers that use ``sendfile`` look for
    ``fileno``, which this wrapper deliberately lacks, so nobody reads past the range.
    """

    def __init__(self, file, start: int, length: int):
        file.seek(start)
        self.file = file
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self.file.read(size)
        self.remaining -= len(data)
        return data

    def close(self) -> None:
        self.file.close()


def _iter_file(file, block_size: int = BLOCK_SIZE):
    try:
        while True:
            block = file.read(block_size)
            if not block:
                return
            yield block
    finally:
        file.close()


def _local_body(request, file, start: int, length: int, size: int):
    source = file if (start == 0 and length == size) else BoundedReader(file, start, length)
    wrapper = request.environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(source, BLOCK_SIZE)
    return _iter_file(source)


def _open_file(archive, key: str):
    """The open local file when the archive keeps files on this machine, else None."""
    path = archive.local_path(key) if hasattr(archive, "local_path") else None
    if path is None:
        return None
    return open(path, "rb")


def _stream_body(request, archive, key: str, start: int, length: int, size: int):
    file = _open_file(archive, key)
    if file is not None:
        return _local_body(request, file, start, length, size)
    return archive.iter_range(key, start, length)


def product_file_response(request, product, archive, *, now: datetime | None = None) -> Response:
    """The ``GET``/``HEAD`` answer for ``Products(<id>)/$value`` (see the module docstring).

    Raises :class:`ProductUnavailableError` (404) for an offline or evicted product or a file
    missing from the archive, and :class:`RangeNotSatisfiableError` (416).
    """
    check_downloadable(product, now)
    key = product.archive_key
    try:
        size = archive.size(key)
    except FileNotFoundError:
        raise ProductUnavailableError(
            f"The file of product {product.id} ({product.name}) is missing from the archive"
        ) from None

    md5 = product.checksum("MD5")
    sha256 = product.checksum("SHA256") or product.checksum("SHA-256")
    etag = f'"{md5.lower()}"' if md5 else None
    last_modified = product.publication_date

    response = Response(status=200)
    headers = response.headers
    headers["Content-Type"] = product.content_type or "application/octet-stream"
    headers["Content-Disposition"] = _content_disposition(product.name)
    headers["Accept-Ranges"] = "bytes"
    headers["Last-Modified"] = _http_date(last_modified)
    if etag:
        headers["ETag"] = etag
    digests = [(name, _b64_of_hex(value)) for name, value in (("md5", md5), ("sha-256", sha256))]
    digests = [(name, value) for name, value in digests if value]
    if digests:
        structured = ", ".join(f"{name}=:{value}:" for name, value in digests)
        headers["Repr-Digest"] = structured
        headers["Digest"] = ", ".join(f"{name.upper()}={value}" for name, value in digests)

    if _not_modified(request, etag, last_modified):
        response.status = 304
        for name in ("Content-Type", "Content-Disposition", "Repr-Digest", "Digest"):
            headers.pop(name, None)
        response.app_iter = []
        return response

    start, length = 0, size
    if request.method == "GET" and _if_range_allows(request, etag, last_modified):
        header = request.headers.get("Range")
        outcome = parse_range(header, size)
        if outcome is UNSATISFIABLE:
            raise RangeNotSatisfiableError(header, size)
        if outcome is not IGNORE:
            start, length = outcome.start, outcome.length
            response.status = 206
            headers["Content-Range"] = outcome.content_range(size)
    if response.status_code == 200 and digests:
        headers["Content-Digest"] = headers["Repr-Digest"]

    if request.method == "HEAD":
        response.app_iter = []
    elif getattr(archive, "presign", False):
        location = archive.presigned_url(key, filename=product.name, content_type=headers["Content-Type"])
        redirect = Response(status=307)
        redirect.headers["Location"] = location
        for name in ("ETag", "Last-Modified", "Accept-Ranges", "Repr-Digest", "Digest"):
            if name in headers:
                redirect.headers[name] = headers[name]
        redirect.app_iter = []
        redirect.content_length = 0
        return redirect
    else:
        response.app_iter = _stream_body(request, archive, key, start, length, size)
    response.content_length = length
    return response
