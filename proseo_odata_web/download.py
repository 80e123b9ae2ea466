"""The ``$value`` response of a product: its archived file over HTTP (contract section 7).

:func:`product_file_response` is pure HTTP plumbing on WebOb; which product may be downloaded is
decided by the caller (visibility) and by the core (:func:`proseo_odata.eviction.check_downloadable`).

* ``200`` with the whole file: ``Content-Length``, ``Content-Type``, ``Content-Disposition:
  attachment; filename="<Name>"``, ``Accept-Ranges: bytes``, a strong ``ETag`` (the MD5
  checksum), ``Last-Modified`` (the publication date), ``Content-Digest`` / ``Repr-Digest``
  (RFC 9530: ``md5=:<base64>:, sha-256=:<base64>:``) and the legacy ``Digest: MD5=<base64>``
  (RFC 3230).
* The conditional headers are WebOb's conditional response
  (``Response(conditional_response=True)`` with ``etag``, ``last_modified`` and
  ``content_length``), evaluated here in the view so that every outcome passes through the
  application's tweens and error views:

  - ``Range`` (one range, GET only): ``206`` with ``Content-Range``; ``416`` with
    ``Content-Range: bytes */size`` and the OData error body (the core's
    :class:`~proseo_odata.errors.RangeNotSatisfiable`, answered by the error view; not WebOb's
    text body) when no byte of it exists;
  - ``If-Range`` (an ETag, compared strongly, or an HTTP date): when it does not match, or is
    neither, the whole file;
  - ``If-None-Match`` (or, without it, ``If-Modified-Since``): ``304``.

  WebOb's ``Range`` parser is shown only what it handles as RFC 9110 does
  (:func:`_single_range`): several ranges, a malformed value or ``HEAD`` mean no ``Range`` (the
  whole file), a suffix longer than the file is the whole file, ``bytes=-0`` is unsatisfiable,
  and numbers of any length are capped before WebOb's ``int()`` sees them.
* ``HEAD``: the same headers, no body (the archive is not read).
* Bodies stream: a local file goes to ``wsgi.file_wrapper`` when the server offers one, a range
  as the same file positioned at its offset (:class:`proseo_odata.archive.FileSlice`), so that
  gunicorn sends it with ``sendfile`` and waitress reads it from the file as the client takes
  it (nothing spills to temporary files). Under gunicorn the connection is corked while such a
  body goes out (:func:`_cork_while_sending`); object storage is streamed chunk by chunk (a ranged
  ``GetObject``), or, when the archive is configured to pre-sign, ``GET`` answers ``307`` to a
  pre-signed URL.
"""
from __future__ import annotations

import base64
import logging
import re
import socket
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

from pyramid.response import FileIter, Response

from proseo_odata.archive import FileSlice, content_disposition
from proseo_odata.errors import PreconditionFailed, RangeNotSatisfiable
from proseo_odata.eviction import ProductUnavailableError, check_downloadable

BLOCK_SIZE = 256 * 1024

log = logging.getLogger(__name__)

__all__ = ["archived_size", "archived_slices", "file_response", "product_file_response", "unreadable"]


def _b64_of_hex(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        return None


_RANGE = re.compile(r"bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*", re.IGNORECASE)
#: Offsets of more digits than this exceed any file (and Python's int() refuses > 4300 digits).
_MAX_DIGITS = 30


def _single_range(header: str, size: int) -> str | None:
    """The ``Range`` header WebOb's parser is shown: one range in a form it handles as RFC 9110
    14.1.2 does, or None for "no range" (the whole file, RFC 9110 14.2 allows ignoring it).

    WebOb matches a prefix (``bytes=0-1,5-9`` would be served as ``bytes=0-1``), answers 416 to
    a suffix longer than the file (the whole file), serves the whole file for ``bytes=-0``
    (unsatisfiable), and raises on ``bytes=-`` and on numbers ``int()`` refuses.
    """
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = (digits.lstrip("0") or "0" if digits else "" for digits in match.groups())
    if not first and not last:
        return None
    if first and last and (len(last), last) < (len(first), first):
        return None  # an end before the start: not a valid range-spec
    first, last = (digits if len(digits) <= _MAX_DIGITS else "1" + "0" * _MAX_DIGITS for digits in (first, last))
    if first:
        return f"bytes={first}-{last}"
    suffix = int(last)
    if suffix == 0:
        return f"bytes={size}-"  # no byte: unsatisfiable
    return "bytes=0-" if suffix >= size else f"bytes=-{suffix}"


class _FileResponse(Response):
    """A WebOb conditional response whose ranges are read at their offset by ``slice_of(start,
    stop)`` (WebOb's default reads the whole-file iterator from the start and skips)."""

    def __init__(self, slice_of, **kw):
        super().__init__(conditional_response=True, **kw)
        self.slice_of = slice_of

    def app_iter_range(self, start, stop):
        return self.slice_of(start, stop)


def archived_slices(request, archive, key: str, offset: int = 0):
    """``slice_of(start, stop)``: the body iterator of bytes ``offset + start`` .. ``offset +
    stop - 1`` of the archived ``key``. ``slice_of.close()`` closes the file it opened, for a
    caller that answers with another body (a body it built closes the file when sent)."""
    local_path = getattr(archive, "local_path", None)
    path = local_path(key) if local_path is not None else None
    close = None
    if path is None:
        def slice_of(start, stop):
            return archive.iter_range(key, offset + start, stop - start)
    elif request.method == "HEAD":
        open(path, "rb").close()  # what GET could not open, HEAD does not announce

        def slice_of(start, stop):
            return []
    else:
        file = open(path, "rb")  # one descriptor, shared by the whole-file and the range iterator
        wrapper = request.environ.get("wsgi.file_wrapper") or FileIter
        close = file.close

        def slice_of(start, stop):
            slice_of.last = _SentSlice(file, offset + start, offset + stop)
            return wrapper(slice_of.last, BLOCK_SIZE)

    slice_of.last = None  # the FileSlice of the body built last: the one the answer sends
    slice_of.close = close or (lambda: None)
    return slice_of


class _SentSlice(FileSlice):
    """A :class:`FileSlice` whose ``close`` (the server's, after the last byte; a
    ``wsgi.file_wrapper`` takes it when it wraps the slice) runs ``before_close`` first."""

    before_close = None

    def close(self) -> None:
        try:
            if self.before_close is not None:
                self.before_close()
        finally:
            super().close()


#: Linux's TCP_CORK (None elsewhere: nothing is corked).
_TCP_CORK = getattr(socket, "TCP_CORK", None)


def _cork_while_sending(request, body: _SentSlice) -> None:
    """Cork the connection while the server sends ``body`` (a file it may ``sendfile``), until
    the server closes the body after the last byte (PEP 3333), as nginx's ``tcp_nopush`` does.

    Corked, the kernel sends only full segments: ``sendfile`` of a 1 GiB file ran at 0.72x
    nginx without it and at nginx's rate with it on a KVM machine (bench/README.md,
    downloads). gunicorn, which sets ``TCP_NODELAY`` and sends with ``sendfile``, gives the
    application its connection as ``environ["gunicorn.socket"]``; under other servers (waitress
    copies) and on other systems nothing changes. The headers go out with the first bytes of the
    body. gunicorn closes the body in a ``finally`` (errors and disconnects too); a body that
    were never closed would leave the connection corked, so that each later response on it
    could wait up to 200 ms (the kernel's limit) for its last segment, never be lost."""
    sock = request.environ.get("gunicorn.socket")
    if _TCP_CORK is None or sock is None or request.environ.get("SERVER_PROTOCOL") not in ("HTTP/1.0", "HTTP/1.1"):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 1)
    except (OSError, AttributeError, TypeError):  # not a TCP socket (a unix socket): nothing to cork
        return

    def uncork():
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 0)  # sends what is left
        except OSError:
            pass  # the client is gone

    body.before_close = uncork


def _http_date(text: str) -> datetime | None:
    """An HTTP date in any of RFC 9110's three forms (the IMF-fixdate, the obsolete RFC 850 and
    asctime ones, which carry no zone: GMT), None when ``text`` is not one."""
    try:
        date = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return date if date.tzinfo is not None else date.replace(tzinfo=timezone.utc)


def _check_preconditions(request, etag: str | None, last_modified: datetime | None) -> None:
    """RFC 9110 13.2.2: ``If-Match`` (strong comparison; ``*`` matches the file, which exists),
    else ``If-Unmodified-Since`` (a valid date earlier than ``Last-Modified``): false is ``412``.
    A client resuming with ``If-Match`` learns so that the file changed, instead of getting bytes
    of another file."""
    if_match = request.headers.get("If-Match")
    if if_match is not None:
        tags = [tag.strip() for tag in if_match.split(",") if tag.strip()]
        if "*" not in tags and (etag is None or f'"{etag}"' not in tags):
            raise PreconditionFailed(f"If-Match {if_match.strip()!r} does not match the file's ETag",
                                     target="If-Match")
        return
    since = request.headers.get("If-Unmodified-Since")
    if since is None or last_modified is None:
        return
    date = _http_date(since)
    if date is not None and last_modified.replace(microsecond=0) > date:
        raise PreconditionFailed(f"The file was modified after {since.strip()}", target="If-Unmodified-Since")


def _conditional(request, response: _FileResponse, size: int, ranges: bool = True) -> Response:
    """WebOb's answer to the request's conditional headers, as a plain response (``Range``
    ignored unless ``ranges``)."""
    environ = dict(request.environ)
    header = environ.pop("HTTP_RANGE", None)
    if header is not None and request.method == "GET" and ranges:
        single = _single_range(header, size)
        if single is not None:
            environ["HTTP_RANGE"] = single
    if_range = environ.get("HTTP_IF_RANGE", "").strip()
    if if_range and not if_range.startswith(('"', "W/")):  # a date: WebOb reads the IMF-fixdate only
        date = _http_date(if_range)
        if date is not None:
            environ["HTTP_IF_RANGE"] = format_datetime(date, usegmt=True)
        else:  # no validator it can match (RFC 9110 13.1.5): the whole file, as for any mismatch
            del environ["HTTP_IF_RANGE"]
            environ.pop("HTTP_RANGE", None)
    if environ.get("HTTP_IF_NONE_MATCH", "").strip() == "*" and response.etag:
        environ["HTTP_IF_NONE_MATCH"] = f'"{response.etag}"'  # WebOb's AnyETag is false: never 304
    answer = {}

    def start_response(status, headerlist, exc_info=None):
        answer.update(status=status, headerlist=headerlist)

    app_iter = response.conditional_response_app(environ, start_response)
    if answer["status"].startswith("416"):
        raise RangeNotSatisfiable(f"Range {header.strip()!r} cannot be satisfied: the file has {size} bytes",
                                  target="Range", size=size)
    return Response(status=answer["status"], headerlist=list(answer["headerlist"]), app_iter=app_iter)


def unreadable(product, exc: OSError) -> ProductUnavailableError:
    """The error of a product whose archived file is missing (``FileNotFoundError``) or cannot be
    read (a folder in its place, no permission, an I/O error: logged)."""
    if isinstance(exc, FileNotFoundError):
        return ProductUnavailableError(f"The file of product {product.id} ({product.name}) is missing from the archive")
    log.error("product %s (%s): its archive file %s cannot be read: %s", product.id, product.name,
              product.archive_key, exc)
    return ProductUnavailableError(f"The file of product {product.id} ({product.name}) cannot be read from the archive")


def archived_size(product, archive, now: datetime | None = None) -> int:
    """The size of the product's archived file, when the product may be downloaded
    (:func:`~proseo_odata.eviction.check_downloadable`) and the file is sound:
    :class:`ProductUnavailableError` (404) when it is missing, cannot be read, or is not
    ``ContentLength`` bytes long (damaged: sent, it would be a complete-looking 200, or a 416
    that tells a resuming client it has everything, with the ETag and digests of other bytes)."""
    check_downloadable(product, now)
    try:
        size = archive.size(product.archive_key)
    except OSError as exc:
        raise unreadable(product, exc) from None
    if product.content_length is not None and size != product.content_length:
        log.error("product %s (%s): its archive file %s has %d bytes, its ContentLength %d: not served "
                  "(proseo-odata archive check finds such files)", product.id, product.name, product.archive_key,
                  size, product.content_length)
        raise ProductUnavailableError(
            f"The file of product {product.id} ({product.name}) is damaged in the archive (its size is not the "
            "product's ContentLength)")
    return size


def product_file_response(request, product, archive, *, now: datetime | None = None) -> Response:
    """The ``GET``/``HEAD`` answer for ``Products(<id>)/$value`` (see the module docstring).

    Raises :class:`ProductUnavailableError` (404) for an offline or evicted product or a file
    missing from the archive, and :class:`~proseo_odata.errors.RangeNotSatisfiable` (416).
    """
    key = product.archive_key
    presign = getattr(archive, "presign", False) and request.method == "GET"
    size = archived_size(product, archive, now)
    try:
        slice_of = (lambda start, stop: []) if presign else archived_slices(request, archive, key)
    except OSError as exc:
        raise unreadable(product, exc) from None

    md5 = product.checksum("MD5")
    sha256 = product.checksum("SHA256") or product.checksum("SHA-256")
    content_type = product.content_type or "application/octet-stream"
    answer = file_response(request, slice_of, size, name=product.name, content_type=content_type,
                           etag=md5.lower() if md5 else None, last_modified=product.publication_date,
                           digests={"md5": md5, "sha-256": sha256})
    if presign and answer.status_code in (200, 206):
        location = archive.presigned_url(key, filename=product.name, content_type=content_type)
        redirect = Response(status=307, headerlist=[("Location", location), ("Content-Length", "0"),
                                                    ("OData-Version", "4.0")])
        for name in ("ETag", "Last-Modified", "Accept-Ranges", "Repr-Digest", "Digest"):
            if name in answer.headers:
                redirect.headers[name] = answer.headers[name]
        return redirect
    return answer


def file_response(request, slice_of, size: int, *, name: str, content_type: str, etag: str | None = None,
                  last_modified: datetime | None = None, digests: dict | None = None,
                  ranges: bool = True) -> Response:
    """The ``GET``/``HEAD`` answer of a file of ``size`` bytes whose bytes ``start`` .. ``stop -
    1`` ``slice_of(start, stop)`` iterates: ``Content-Disposition`` naming ``name``, ``ETag`` (a
    strong validator, unquoted), ``Last-Modified``, ``Repr-Digest``/``Digest`` of ``digests``
    (``{"md5": <hex>, "sha-256": <hex>}``, unknown ones None), and the conditional headers and
    ranges of the module docstring; without ``ranges``, ``Accept-Ranges: none`` and a ``Range``
    is answered with the whole file (RFC 9110 14.2 allows it)."""
    response = _FileResponse(slice_of, content_type=content_type)
    headers = response.headers
    headers["Content-Disposition"] = content_disposition(name)
    headers["Accept-Ranges"] = "bytes" if ranges else "none"
    response.last_modified = last_modified
    if etag:
        response.etag = etag
    encoded = [(algorithm, _b64_of_hex(value)) for algorithm, value in (digests or {}).items()]
    encoded = [(algorithm, value) for algorithm, value in encoded if value]
    if encoded:
        headers["Repr-Digest"] = ", ".join(f"{algorithm}=:{value}:" for algorithm, value in encoded)
        headers["Digest"] = ", ".join(f"{algorithm.upper()}={value}" for algorithm, value in encoded)
    response.app_iter = slice_of(0, size)
    response.content_length = size

    _check_preconditions(request, response.etag, last_modified)
    answer = _conditional(request, response, size, ranges)
    if answer.status_code == 304:
        for header in ("Content-Disposition", "Repr-Digest", "Digest"):
            answer.headers.pop(header, None)
    elif answer.status_code == 200 and encoded:
        answer.headers["Content-Digest"] = answer.headers["Repr-Digest"]
    if answer.status_code in (200, 206) and getattr(slice_of, "last", None) is not None:
        _cork_while_sending(request, slice_of.last)
    answer.headers["OData-Version"] = "4.0"  # every OData response has it (OData 4.01 Part 1, 8.1.5)
    return answer
