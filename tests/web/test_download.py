"""``$value`` downloads (contract section 7): every header and status, on every archive backend.

The app under test is a minimal Pyramid app with the real error views and one route calling
:func:`proseo_odata_web.download.product_file_response`; the archives are real (a local folder,
and an S3 bucket on moto's server on 127.0.0.1). The route wiring of the PRIP service itself is
tested in ``test_download_routes.py``.
"""
import base64
import hashlib
import os
import socket
import wsgiref.util
from datetime import datetime, timedelta, timezone

import pytest
import webtest
from pyramid.config import Configurator

from proseo_odata.archive.testing import archive_for_backend, moto_s3_server, store_product_file
from proseo_odata.storage.errors import NotFoundError
from proseo_odata_web.download import product_file_response

SIZE = 200_000
PUBLISHED = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


def make_app(archive, products):
    config = Configurator(settings={})
    config.include("proseo_odata_web.errors")
    config.add_route("value", "/Products({id})/$value")

    def view(request):
        product = products.get(request.matchdict["id"])
        if product is None:
            raise NotFoundError(f"No product found with UUID {request.matchdict['id']}")
        return product_file_response(request, product, archive)

    config.add_view(view, route_name="value", request_method=("GET", "HEAD"))
    return config.make_wsgi_app()


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def backend(request):
    return request.param


@pytest.fixture
def archive(backend, tmp_path, request):
    endpoint = request.getfixturevalue("s3_endpoint") if backend == "s3" else None
    return archive_for_backend(backend, tmp_path / "archive", endpoint)


@pytest.fixture
def content():
    return os.urandom(SIZE)


@pytest.fixture
def product(archive, content, tmp_path):
    return store_product_file(archive, content, name="S2B_MSIL1C_TEST.zip", published=PUBLISHED)


@pytest.fixture
def app(archive, product):
    return webtest.TestApp(make_app(archive, {str(product.id): product}))


def url(product):
    return f"/Products({product.id})/$value"


def b64(hex_digest):
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def test_whole_file_with_every_header(app, product, content):
    answer = app.get(url(product))
    md5, sha = hashlib.md5(content).hexdigest(), hashlib.sha256(content).hexdigest()
    assert answer.status_int == 200
    assert answer.body == content
    assert answer.headers["Content-Length"] == str(SIZE)
    assert answer.headers["Content-Type"] == "application/zip"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="S2B_MSIL1C_TEST.zip"'
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert answer.headers["OData-Version"] == "4.0"
    assert answer.headers["ETag"] == f'"{md5}"'
    assert answer.headers["Last-Modified"] == "Fri, 01 Mar 2024 12:30:15 GMT"
    assert answer.headers["Content-Digest"] == f"md5=:{b64(md5)}:, sha-256=:{b64(sha)}:"
    assert answer.headers["Repr-Digest"] == answer.headers["Content-Digest"]
    assert answer.headers["Digest"] == f"MD5={b64(md5)}, SHA-256={b64(sha)}"
    assert "Content-Range" not in answer.headers


def test_head_has_the_same_headers_and_no_body(app, product):
    get, head = app.get(url(product)), app.head(url(product))
    assert head.status_int == 200 and head.body == b""
    for name in ("Content-Length", "Content-Type", "Content-Disposition", "Accept-Ranges", "ETag",
                 "Last-Modified", "Content-Digest", "Digest"):
        assert head.headers[name] == get.headers[name], name


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=0-1023", 0, 1023),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=150000-", 150000, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        ("bytes=199000-999999", 199000, SIZE - 1),
        ("bytes=7-7", 7, 7),
    ],
)
def test_single_ranges(app, product, content, header, first, last):
    answer = app.get(url(product), headers={"Range": header}, status=206)
    assert answer.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert answer.headers["Content-Length"] == str(last - first + 1)
    assert answer.body == content[first:last + 1]
    assert "Content-Digest" not in answer.headers  # it would describe the partial content
    assert answer.headers["Repr-Digest"].startswith("md5=:")


def test_esa_suite_range_gives_exactly_1024_bytes(app, product, content):
    answer = app.get(url(product), headers={"Range": "bytes=0-1023"}, status=206)
    assert len(answer.body) == 1024 and answer.body == content[:1024]


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "bytes=9-1", "pages=1-2", "bytes=x-"])
def test_multi_and_malformed_ranges_answer_the_whole_file(app, product, content, header):
    answer = app.get(url(product), headers={"Range": header}, status=200)
    assert answer.body == content and "Content-Range" not in answer.headers


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_unsatisfiable_range_is_416_with_odata_error(app, product, header):
    answer = app.get(url(product), headers={"Range": header}, status=416)
    assert answer.headers["Content-Range"] == f"bytes */{SIZE}"
    error = answer.json["error"]
    assert error["code"] == "E7716" and str(SIZE) in error["message"]
    assert answer.headers["Warning"].startswith("199 proseo-api-prip (E7716) ")


def test_head_ignores_range(app, product):
    answer = app.head(url(product), headers={"Range": "bytes=0-9"}, status=200)
    assert answer.headers["Content-Length"] == str(SIZE)


def test_ranges_reassemble_to_the_catalogue_checksum(app, product):
    pieces, step = [], 37_000
    for start in range(0, SIZE, step):
        end = min(start + step, SIZE) - 1
        pieces.append(app.get(url(product), headers={"Range": f"bytes={start}-{end}"}, status=206).body)
    assert hashlib.md5(b"".join(pieces)).hexdigest() == product.checksum("MD5")


def test_if_range_with_the_etag_serves_the_range(app, product):
    etag = app.head(url(product)).headers["ETag"]
    answer = app.get(url(product), headers={"Range": "bytes=10-19", "If-Range": etag}, status=206)
    assert len(answer.body) == 10


@pytest.mark.parametrize("if_range", ['"0123456789abcdef0123456789abcdef"', "W/\"{md5}\"",
                                      "Thu, 29 Feb 2024 00:00:00 GMT", "not a date",
                                      # no date, though it ends as one (WebOb compared None: a 500 the fuzz found)
                                      "Mon, 32 Foo 2020 99:99:99 GMT", " GMT"])
def test_if_range_mismatch_serves_the_whole_file(app, product, content, if_range):
    if_range = if_range.format(md5=product.checksum("MD5"))
    answer = app.get(url(product), headers={"Range": "bytes=10-19", "If-Range": if_range}, status=200)
    assert answer.body == content


def test_if_range_with_the_last_modified_date_serves_the_range(app, product):
    last_modified = app.head(url(product)).headers["Last-Modified"]
    answer = app.get(url(product), headers={"Range": "bytes=-10", "If-Range": last_modified}, status=206)
    assert len(answer.body) == 10


@pytest.mark.parametrize("method", ["get", "head"])
def test_if_none_match_answers_304(app, product, method):
    etag = app.head(url(product)).headers["ETag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        answer = getattr(app, method)(url(product), headers={"If-None-Match": header}, status=304)
        assert answer.body == b"" and answer.headers["ETag"] == etag
        assert answer.headers["OData-Version"] == "4.0"


def test_if_none_match_other_etag_serves_the_file(app, product, content):
    answer = app.get(url(product), headers={"If-None-Match": '"nope"'}, status=200)
    assert answer.body == content


def test_if_modified_since(app, product, content):
    assert app.get(url(product), headers={"If-Modified-Since": "Sat, 02 Mar 2024 00:00:00 GMT"}, status=304)
    answer = app.get(url(product), headers={"If-Modified-Since": "Thu, 29 Feb 2024 00:00:00 GMT"}, status=200)
    assert answer.body == content


def test_offline_product_is_404_with_a_clear_message(archive, product):
    product.online = False
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    answer = app.get(url(product), status=404)
    assert "offline" in answer.json["error"]["message"]
    assert app.head(url(product), status=404).body == b""


def test_evicted_product_is_404_with_a_clear_message(archive, product):
    product.eviction_date = datetime.now(timezone.utc) - timedelta(minutes=1)
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    message = app.get(url(product), status=404).json["error"]["message"]
    assert "evicted" in message and str(product.id) in message


def test_file_missing_from_the_archive_is_404(archive, product):
    archive.delete(product.archive_key)
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    assert "missing from the archive" in app.get(url(product), status=404).json["error"]["message"]


def test_non_ascii_name_gets_an_rfc_5987_filename(archive, content, tmp_path):
    product = store_product_file(archive, content[:100], name='Ünïcode "x".zip', published=PUBLISHED)
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    disposition = app.head(url(product)).headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%C3%9Cn%C3%AFcode%20%22x%22.zip" in disposition


def test_empty_file(archive, tmp_path):
    product = store_product_file(archive, b"", name="empty.bin", published=PUBLISHED)
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    answer = app.get(url(product), status=200)
    assert answer.body == b"" and answer.headers["Content-Length"] == "0"
    app.get(url(product), headers={"Range": "bytes=0-"}, status=416)


def test_local_files_go_through_wsgi_file_wrapper(tmp_path, content):
    archive = archive_for_backend("local", tmp_path / "archive")
    product = store_product_file(archive, content, name="wrapped.bin", published=PUBLISHED)
    used = []

    class RecordingWrapper(wsgiref.util.FileWrapper):
        """Records the file object and its descriptor's offset, where ``sendfile`` would start."""

        def __init__(self, filelike, blksize=8192):
            used.append((filelike, os.lseek(filelike.fileno(), 0, os.SEEK_CUR)))
            super().__init__(filelike, blksize)

    app = webtest.TestApp(make_app(archive, {str(product.id): product}),
                          extra_environ={"wsgi.file_wrapper": RecordingWrapper})
    assert app.get(url(product)).body == content
    assert used[-1][1] == 0  # the real file: sendfile-capable servers may use it
    # A range is the same real file at the range's offset (sendfile from there, Content-Length
    # bytes); a server that reads instead gets no byte past the range.
    assert app.get(url(product), headers={"Range": "bytes=100-199"}).body == content[100:200]
    filelike, offset = used[-1]
    assert offset == 100 and filelike.file.closed  # closed when the response was


@pytest.mark.skipif(not hasattr(socket, "TCP_CORK"), reason="TCP_CORK is Linux's")
def test_connection_is_corked_while_gunicorn_sends_a_file_and_uncorked_after(tmp_path, content):
    """gunicorn gives its connection as ``environ["gunicorn.socket"]``: a file body goes out
    corked (full segments, as nginx's tcp_nopush), and the connection is uncorked when the
    server closes the body; after answers without a file body (304, 416, HEAD) it is not corked."""
    archive = archive_for_backend("local", tmp_path / "archive")
    product = store_product_file(archive, content, name="corked.bin", published=PUBLISHED)
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    connection, _ = listener.accept()
    corked = lambda: connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK)  # noqa: E731
    seen = []

    class SendingWrapper(wsgiref.util.FileWrapper):
        def __next__(self):
            seen.append(corked())  # while the server sends the body
            return super().__next__()

    environ = {"wsgi.file_wrapper": SendingWrapper, "gunicorn.socket": connection}
    app = webtest.TestApp(make_app(archive, {str(product.id): product}), extra_environ=environ)
    try:
        assert app.get(url(product)).body == content
        assert seen and all(seen) and corked() == 0
        seen.clear()
        assert app.get(url(product), headers={"Range": "bytes=10-"}).body == content[10:]
        assert seen and all(seen) and corked() == 0
        etag = app.head(url(product)).headers["ETag"]
        assert corked() == 0
        app.get(url(product), headers={"If-None-Match": etag}, status=304)
        assert corked() == 0
        app.get(url(product), headers={"Range": f"bytes={SIZE}-"}, status=416)
        assert corked() == 0
        # Not a TCP connection (gunicorn on a unix socket): nothing to cork, the file still goes out.
        unix_a, unix_b = socket.socketpair()
        with unix_a, unix_b:
            other = webtest.TestApp(make_app(archive, {str(product.id): product}),
                                    extra_environ={**environ, "gunicorn.socket": unix_a})
            assert other.get(url(product), headers={"Range": "bytes=0-9"}).body == content[:10]
    finally:
        for sock in (connection, client, listener):
            sock.close()


def test_s3_presign_mode_redirects_get_and_answers_head_itself(s3_endpoint, tmp_path, content):
    import requests

    archive = archive_for_backend("s3", None, s3_endpoint, presign="true", presign_expiry="300")
    product = store_product_file(archive, content, name="presigned.zip", published=PUBLISHED)
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    answer = app.get(url(product), status=307)
    location = answer.headers["Location"]
    assert location.startswith(s3_endpoint) and "X-Amz-Expires=300" in location
    assert answer.headers["ETag"] == f'"{product.checksum("MD5")}"'
    fetched = requests.get(location, headers={"Range": "bytes=5-14"}, timeout=30)
    assert fetched.status_code == 206 and fetched.content == content[5:15]
    whole = requests.get(location, timeout=30)
    assert whole.content == content
    assert whole.headers["Content-Disposition"] == 'attachment; filename="presigned.zip"'
    head = app.head(url(product), status=200)
    assert head.headers["Content-Length"] == str(SIZE) and head.body == b""
    app.get(url(product), headers={"Range": f"bytes={SIZE}-"}, status=416)


# The Range table (RFC 9110 section 14) for a 1000-byte file, through HTTP: (first, last) is a
# 206 with those bytes, None the whole file (200), "416" unsatisfiable.
TABLE_SIZE = 1000


@pytest.fixture(scope="module")
def table_app(tmp_path_factory):
    archive = archive_for_backend("local", tmp_path_factory.mktemp("range-table"))
    content = os.urandom(TABLE_SIZE)
    product = store_product_file(archive, content, name="table.bin", published=PUBLISHED)
    return webtest.TestApp(make_app(archive, {str(product.id): product})), product, content


@pytest.mark.parametrize(
    "header, expected",
    [
        ("", None),
        ("bytes=0-1023", (0, 999)),
        ("bytes=0-99", (0, 99)),
        ("bytes=10-10", (10, 10)),
        ("bytes=500-", (500, 999)),
        ("bytes=999-", (999, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("BYTES = 1 - 2", (1, 2)),
        ("bytes=1000-", "416"),
        ("bytes=1000-2000", "416"),
        ("bytes=-0", "416"),
        ("bytes=5-1", None),
        ("bytes=-", None),
        ("bytes=0-1,5-9", None),
        ("bytes=0-5junk", None),
        ("items=0-5", None),
        ("bytes=a-b", None),
        # numbers longer than int() accepts (4300 digits) or than any file
        ("bytes=0-" + "9" * 5000, (0, 999)),
        ("bytes=" + "9" * 5000 + "-", "416"),
        ("bytes=" + "9" * 5000 + "-" + "9" * 5001, "416"),
        ("bytes=-" + "9" * 5000, (0, 999)),
        ("bytes=" + "0" * 5000 + "5-" + "0" * 5000 + "9", (5, 9)),
        ("bytes=" + "9" * 40 + "-" + "9" * 39, None),
        ("bytes=0-99999999999999999999999", (0, 999)),
    ],
)
def test_range_table(table_app, header, expected):
    app, product, content = table_app
    answer = app.get(url(product), headers={"Range": header}, expect_errors=True)
    if expected is None:
        assert answer.status_int == 200 and answer.body == content
        assert "Content-Range" not in answer.headers
    elif expected == "416":
        assert answer.status_int == 416
        assert answer.headers["Content-Range"] == f"bytes */{TABLE_SIZE}"
        assert f"{TABLE_SIZE} bytes" in answer.json["error"]["message"]
    else:
        first, last = expected
        assert answer.status_int == 206 and answer.body == content[first:last + 1]
        assert answer.headers["Content-Range"] == f"bytes {first}-{last}/{TABLE_SIZE}"
        assert answer.headers["Content-Length"] == str(last - first + 1)


@pytest.mark.parametrize("header", ["bytes=0-", "bytes=-10"])
def test_empty_file_has_no_satisfiable_range(archive, header):
    product = store_product_file(archive, b"", name="empty.bin", published=PUBLISHED)
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    answer = app.get(url(product), headers={"Range": header}, status=416)
    assert answer.headers["Content-Range"] == "bytes */0"


# -- damaged files, unreachable stores, names with control characters (second review 2026-12-06) --


def test_a_file_shorter_than_its_content_length_is_not_served(archive, product, content):
    """A damaged file was served as a complete 200 (the ETag and digests of other bytes), and a
    client resuming past its end was told by a 416 that it had everything."""
    key = product.archive_key
    archive.delete(key)
    archive.put_stream(key, __import__("io").BytesIO(content[:1000]))
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    for headers in ({}, {"Range": "bytes=2000-"}, {"Range": "bytes=0-99"}):
        response = app.get(url(product), headers=headers, status=404)
        assert response.json["error"]["code"] == "E7707" and "damaged" in response.json["error"]["message"]
    app.head(url(product), status=404)


def test_a_slice_cut_short_while_it_is_sent_raises(tmp_path):
    """waitress read b"" from a file truncated under it and waited minutes, spinning, on the
    Content-Length it had promised: the slice's read raises so the server drops the connection."""
    from proseo_odata.archive import FileSlice

    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    with open(path, "rb", buffering=0) as file:
        piece = FileSlice(file, 10, 90)
        assert piece.read(30) == b"x" * 30 and piece.read(0) == b""
        os.truncate(path, 50)
        assert piece.read(30) == b"x" * 10
        with pytest.raises(OSError, match="40 byte"):
            piece.read(30)


@pytest.mark.parametrize("name", ["a\r\nX-Evil: 1.zip", "del\x7fete.zip", 'q"uo;te.zip'])
def test_any_product_name_makes_a_valid_content_disposition(archive, content, name):
    """A CR/LF or DEL in a Name made a header both servers refuse: a 500 without OData body."""
    if archive.presign is False and getattr(archive, "bucket", None) and any(ord(c) < 0x20 for c in name):
        pytest.skip("moto's S3 refuses a key with a line break (the name is in the key)")
    product = store_product_file(archive, content, name=name, published=PUBLISHED)
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    header = app.get(url(product), status=200).headers["Content-Disposition"]
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in header) and header.count('"') == 2, header
    if archive.presign:
        return
    from urllib.parse import unquote

    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == name


def test_the_presigned_redirect_names_the_file_as_the_direct_answer_does(s3_endpoint):
    """The pre-signed URL's Content-Disposition was 'filename="q"uo;te.zip"': curl -OJ saved 'q'."""
    from urllib.parse import parse_qs, urlsplit

    from proseo_odata.archive import content_disposition

    archive = archive_for_backend("s3", None, s3_endpoint, presign="true")
    product = store_product_file(archive, b"abc", name='q"uo;te€.zip', published=PUBLISHED)
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    location = app.get(url(product), status=307).headers["Location"]
    [disposition] = parse_qs(urlsplit(location).query)["response-content-disposition"]
    assert disposition == content_disposition('q"uo;te€.zip') and "filename*=UTF-8''q%22uo%3Bte%E2%82%AC.zip" in disposition


def test_an_object_store_that_cannot_be_reached_is_a_503(content):
    """No timeout and a 500 'Internal server error' after 240 s: now bounded waits and a 503
    with Retry-After, as for the database."""
    import time

    from proseo_odata.archive.s3 import S3Archive, S3Settings
    from proseo_odata.model import Product

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    archive = S3Archive(S3Settings(bucket="b", endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1",
                                   access_key="k", secret_key="s", connect_timeout=0.5, read_timeout=0.5))
    product = Product(mission="TEST", name="P.zip", content_length=10, archive_key="TEST/x/P.zip")
    app = webtest.TestApp(make_app(archive, {str(product.id): product}))
    started = time.monotonic()
    response = app.get(url(product), status=503)
    assert time.monotonic() - started < 20
    assert response.json["error"]["code"] == "E7705" and response.headers["Retry-After"] == "30"
    assert "archive" in response.json["error"]["message"]


def test_if_match_and_if_unmodified_since_are_preconditions(app, product):
    """Both were ignored (200): a client resuming with If-Match got bytes of whatever file there was."""
    etag = f'"{product.checksum("MD5")}"'
    for headers in ({"If-Match": etag}, {"If-Match": f'"x", {etag}'}, {"If-Match": "*"},
                    {"If-Unmodified-Since": "Fri, 01 Mar 2024 12:30:15 GMT"},
                    {"If-Unmodified-Since": "not a date"}, {"If-Match": etag, "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}):
        assert app.get(url(product), headers={**headers, "Range": "bytes=0-9"}).status_int == 206, headers
    for headers, target in (({"If-Match": '"0123"'}, "If-Match"), ({"If-Match": f"W/{etag}"}, "If-Match"),
                            ({"If-Unmodified-Since": "Fri, 01 Mar 2024 12:30:14 GMT"}, "If-Unmodified-Since")):
        for method in (app.get, app.head):
            response = method(url(product), headers=headers, status=412)
        response = app.get(url(product), headers=headers, status=412)
        assert response.json["error"]["code"] == "E7717" and response.json["error"]["target"] == target
        assert response.headers["Warning"].startswith("199 proseo-api-prip (E7717)")


@pytest.mark.parametrize("date", ["Fri, 01 Mar 2024 12:30:15 GMT", "Friday, 01-Mar-24 12:30:15 GMT",
                                  "Fri Mar  1 12:30:15 2024"])
def test_every_http_date_form_is_read_in_preconditions(app, product, date):
    """RFC 9110 5.6.7: recipients accept the obsolete RFC 850 and asctime forms too; they were
    ignored in If-Unmodified-Since (a changed file served instead of 412) and If-Range."""
    assert app.get(url(product), headers={"Range": "bytes=0-9", "If-Range": date}).status_int == 206
    assert app.get(url(product), headers={"Range": "bytes=0-9", "If-Unmodified-Since": date}).status_int == 206
    earlier = date.replace("12:30:15", "12:30:14")
    app.get(url(product), headers={"If-Unmodified-Since": earlier}, status=412)
    assert app.get(url(product), headers={"Range": "bytes=0-9", "If-Range": earlier}).status_int == 200
