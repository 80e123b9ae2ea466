"""``GET/HEAD Products(<id>)/$value`` through the real PRIP application (auth, visibility, key
forms, eviction), with a real local archive, on SQLite and PostgreSQL."""
import hashlib
import os
from datetime import datetime, timedelta, timezone

import pytest

from proseo_odata.archive import load_archive
from proseo_odata.eviction import evict_due_products
from proseo_odata.model import VisibilityClass

from prip_helpers import PRIP, add_stored_product, basic, served_app


@pytest.fixture
def archive_settings(app_settings):
    return {**app_settings, "proseo.archive.backend": "local"}


@pytest.fixture
def archive(archive_settings):
    return load_archive(archive_settings)


@pytest.fixture
def files(storage, catalogue, archive):
    """Three DEMO products with files: public, internal, and one due for eviction."""
    made = {}
    for label, fields in {
        "public": {},
        "internal": {"visibility": VisibilityClass.INTERNAL},
        "due": {"eviction_date": datetime.now(timezone.utc) - timedelta(seconds=1)},
    }.items():
        data = os.urandom(10_000)
        made[label] = (add_stored_product(storage, archive, data, f"S2B_{label.upper()}.zip", **fields), data)
    return made


@pytest.fixture
def web(archive_settings, files):
    with served_app(archive_settings) as app:
        yield app


def value_url(product, quoted=False):
    key = f"'{product.id}'" if quoted else str(product.id)
    return f"{PRIP}/Products({key})/$value"


def test_get_and_head_through_the_service(web, files):
    product, data = files["public"]
    for quoted in (False, True):
        answer = web.get(value_url(product, quoted), headers=basic("alice"))
        assert answer.body == data and answer.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        assert answer.headers["Content-Disposition"] == 'attachment; filename="S2B_PUBLIC.zip"'
    head = web.head(value_url(product), headers=basic("alice"))
    assert head.body == b"" and head.headers["Content-Length"] == str(len(data))
    ranged = web.get(value_url(product), headers={**basic("alice"), "Range": "bytes=0-1023"}, status=206)
    assert ranged.body == data[:1024] and ranged.headers["Content-Range"] == f"bytes 0-1023/{len(data)}"
    web.get(value_url(product), headers={**basic("alice"), "Range": "bytes=10000-"}, status=416)


def test_authentication_role_and_visibility(web, files):
    public, internal = files["public"][0], files["internal"][0]
    web.get(value_url(public), status=401)
    web.get(value_url(public), headers=basic("bob"), status=403)
    web.get(value_url(public), headers=basic("olga"), status=404)  # another mission
    web.get(value_url(internal), headers=basic("alice"), status=404)
    assert web.get(value_url(internal), headers=basic("carol")).body == files["internal"][1]


def test_evicted_product_answers_404_with_a_clear_message(web, files, storage, archive):
    product, _data = files["due"]
    message = web.get(value_url(product), headers=basic("alice"), status=404).json["error"]["message"]
    assert "evicted" in message
    evict_due_products(storage, archive)
    assert not archive.exists(product.archive_key)
    answer = web.get(value_url(product), headers=basic("alice"), status=404)
    assert str(product.id) in answer.json["error"]["message"]
    assert web.get(value_url(files["public"][0]), headers=basic("alice")).body == files["public"][1]


def test_catalogue_without_archive_file_is_404(web, files, archive):
    product, _data = files["public"]
    archive.delete(product.archive_key)
    answer = web.get(value_url(product), headers=basic("alice"), status=404)
    assert "missing from the archive" in answer.json["error"]["message"]


def test_a_file_that_cannot_be_read_is_404_not_500(web, files, archive, caplog):
    product, _data = files["public"]
    folder = archive.path_for(product.archive_key).parent
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_bytes(b"a file where the product's folder should be")  # os.stat: NotADirectoryError
    for method in (web.get, web.head):
        answer = method(value_url(product), headers=basic("alice"), status=404)
        assert answer.headers["Warning"].startswith("199 proseo-api-prip (E7707)")
    message = web.get(value_url(product), headers=basic("alice"), status=404).json["error"]["message"]
    assert "cannot be read from the archive" in message
    assert any("cannot be read" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


def test_options_on_a_download_are_refused(web, files):
    product, data = files["public"]
    for query, target in (("$top=abc", "$top"), ("$filter=Name eq", "$filter"), ("$orderby=Name", "$orderby"),
                          ("$expand=Attributes", "$expand")):
        answer = web.get(f"{value_url(product)}?{query}", headers=basic("alice"), status=400)
        assert answer.json["error"]["target"] == target and answer.headers["Warning"].startswith("199 ")
    assert web.get(f"{value_url(product)}?$format=json&custom=1", headers=basic("alice")).body == data


def test_head_and_get_agree_on_a_file_that_cannot_be_opened(web, storage, archive, tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    size = probe.stat().st_size or 1  # an empty folder's size, which a folder in the file's place will have
    product = add_stored_product(storage, archive, os.urandom(size), "S2B_FOLDERED.zip")
    path = archive.path_for(product.archive_key)
    path.unlink()
    path.mkdir()
    if path.stat().st_size != size:
        pytest.skip("this file system gives folders no fixed size")
    for method in (web.get, web.head):
        answer = method(value_url(product), headers=basic("alice"), status=404)
        assert answer.headers["Warning"].startswith("199 proseo-api-prip (E7707)")
