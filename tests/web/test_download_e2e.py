"""End to end: a real waitress server on 127.0.0.1, the ``requests`` client, a 50 MB file
downloaded, interrupted part-way, resumed with ``Range: bytes=N-``, and its MD5 verified;
from the local archive, streamed through from S3, and via S3's ``307`` pre-signed redirect."""
import hashlib
import os

import pytest
import requests

from live_server import serve_wsgi

from proseo_odata.archive.testing import archive_for_backend, moto_s3_server, store_product_file

from test_download import make_app

pytestmark = pytest.mark.slow

MB = 1024 * 1024
SIZE = 50 * MB


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "S1A_BIG_PRODUCT.zip"
    md5 = hashlib.md5()
    with open(path, "wb") as out:
        for _ in range(SIZE // MB):
            block = os.urandom(MB)
            md5.update(block)
            out.write(block)
    return path, md5.hexdigest()


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3-stream", "s3-presign"])
def served(request, tmp_path, big_file):
    path, _md5 = big_file
    if request.param == "local":
        archive = archive_for_backend("local", tmp_path / "archive")
    else:
        extra = {"presign": "true"} if request.param == "s3-presign" else {}
        archive = archive_for_backend("s3", None, request.getfixturevalue("s3_endpoint"), **extra)
    product = store_product_file(archive, path, name=path.name)
    with serve_wsgi(make_app(archive, {str(product.id): product})) as url:
        yield f"{url}/Products({product.id})/$value", product


def test_interrupted_download_resumes_with_range(served, big_file, tmp_path):
    url, product = served
    _path, expected_md5 = big_file
    assert product.checksum("MD5") == expected_md5
    head = requests.head(url, timeout=30, allow_redirects=False)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == SIZE

    target = tmp_path / "download.part"
    with requests.get(url, stream=True, timeout=60) as answer, open(target, "wb") as out:
        assert answer.status_code == 200
        assert int(answer.headers["Content-Length"]) == SIZE
        received = 0
        for chunk in answer.iter_content(256 * 1024):
            out.write(chunk)
            received += len(chunk)
            if received >= 17 * MB:
                break  # the connection is dropped here, as by a lost network
    partial = target.stat().st_size
    assert 17 * MB <= partial < SIZE

    with requests.get(url, stream=True, timeout=60, headers={"Range": f"bytes={partial}-"}) as answer, \
            open(target, "ab") as out:
        assert answer.status_code == 206
        assert answer.headers["Content-Range"] == f"bytes {partial}-{SIZE - 1}/{SIZE}"
        for chunk in answer.iter_content(256 * 1024):
            out.write(chunk)

    md5 = hashlib.md5()
    with open(target, "rb") as done:
        for block in iter(lambda: done.read(MB), b""):
            md5.update(block)
    assert target.stat().st_size == SIZE
    assert md5.hexdigest() == expected_md5
