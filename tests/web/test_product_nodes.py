"""``Products(<id>)/Nodes...``: the folders and files inside a product's ZIP (a zipped SAFE),
through the real PRIP application with a real local archive, on SQLite and PostgreSQL."""
import hashlib
import io
import os
import struct
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from proseo_odata.archive import load_archive
from proseo_odata.model import VisibilityClass

from prip_helpers import PRIP, add_stored_product, basic, served_app

SAFE = "S2B_MSIL1C_20240105T101321_N0510_R022_T32TQR_20240105T120000.SAFE"
BAND = os.urandom(300_000)  # random: deflate cannot shrink it
MANIFEST = b"<xfdu:XFDU>" + b"manifest " * 5_000 + b"</xfdu:XFDU>"


def _safe_zip(top: str = SAFE + "/", *, stored_band: bool = False, extra=()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        if top:
            zipped.writestr(top, b"")  # an explicit folder entry, as zip tools write them
        zipped.writestr(top + "manifest.safe", MANIFEST)
        zipped.writestr(top + "GRANULE/L1C_T32TQR/IMG_DATA/T32TQR_B02.jp2", BAND,
                        compress_type=zipfile.ZIP_STORED if stored_band else zipfile.ZIP_DEFLATED)
        zipped.writestr(top + "GRANULE/L1C_T32TQR/MTD_TL.xml", b"<tile/>")
        zipped.writestr(top + "rep_info/", b"")
        for name, data in extra:
            zipped.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def archive_settings(app_settings):
    return {**app_settings, "proseo.archive.backend": "local"}


@pytest.fixture
def files(storage, catalogue, archive_settings):
    archive = load_archive(archive_settings)
    made = {}
    for label, data, fields in (
        ("safe", _safe_zip(), {}),
        ("stored", _safe_zip(stored_band=True), {}),
        ("flat", _safe_zip(top="", extra=[("../escape.txt", b"x"), ("a//./b.txt", b"bee")]), {}),
        ("plain", os.urandom(5_000), {}),
        ("internal", _safe_zip(), {"visibility": VisibilityClass.INTERNAL}),
        ("due", _safe_zip(), {"eviction_date": datetime.now(timezone.utc) - timedelta(seconds=1)}),
    ):
        name = f"S2B_MSIL1C_{label.upper()}.SAFE.zip" if label != "plain" else "S2B_AUX_PLAIN.bin"
        made[label] = (add_stored_product(storage, archive, data, name, **fields), data)
    return made


@pytest.fixture
def web(archive_settings, files):
    with served_app(archive_settings) as app:
        yield app


def url(product, *names, suffix=""):
    path = f"{PRIP}/Products({product.id})/" + "/".join(f"Nodes({n})" for n in names)
    return path + suffix


def test_the_root_is_the_product_and_lists_the_safe_folder(web, files):
    product, _ = files["safe"]
    answer = web.get(f"{PRIP}/Products({product.id})/Nodes", headers=basic("alice")).json
    (root,) = answer["value"]
    assert answer["result"] == answer["value"]  # CDSE's documentation shows "result"
    assert root["Name"] == root["Id"] == product.name and root["ContentLength"] == 0
    assert root["ChildrenNumber"] == 3  # manifest.safe, GRANULE, rep_info: the SAFE folder's contents
    assert root["Nodes"]["uri"] == f"http://localhost{PRIP}/Products({product.id})/Nodes({product.name})/Nodes"
    children = web.get(root["Nodes"]["uri"], headers=basic("alice")).json["value"]
    assert {c["Name"]: (c["ContentLength"], c["ChildrenNumber"]) for c in children} == {
        "manifest.safe": (len(MANIFEST), 0), "GRANULE": (0, 1), "rep_info": (0, 0)}
    granule = next(c for c in children if c["Name"] == "GRANULE")
    (tile,) = web.get(granule["Nodes"]["uri"], headers=basic("alice")).json["value"]
    assert tile["Name"] == "L1C_T32TQR" and tile["ChildrenNumber"] == 2
    # the SAFE folder's own name reaches the root too (CDSE names products X.SAFE)
    assert web.get(url(product, SAFE), headers=basic("alice")).json["Name"] == product.name


def test_a_file_downloads_as_cdsetool_asks_for_it(web, files):
    for label in ("safe", "stored"):
        product, _ = files[label]
        manifest = web.get(url(product, product.name, "manifest.safe", suffix="/$value"), headers=basic("alice"))
        assert manifest.body == MANIFEST and manifest.headers["Content-Length"] == str(len(MANIFEST))
        assert manifest.headers["Content-Disposition"] == 'attachment; filename="manifest.safe"'
        band_url = url(product, product.name, "GRANULE", "L1C_T32TQR", "IMG_DATA", "T32TQR_B02.jp2", suffix="/$value")
        band = web.get(band_url, headers=basic("alice"))
        assert band.body == BAND and band.content_type == "image/jp2"
        head = web.head(band_url, headers=basic("alice"))
        assert head.body == b"" and head.headers["Content-Length"] == str(len(BAND))
        # resuming: a range, inflated from the entry's start when compressed
        ranged = web.get(band_url, headers={**basic("alice"), "Range": "bytes=250000-"}, status=206)
        assert ranged.body == BAND[250000:]
        assert ranged.headers["Content-Range"] == f"bytes 250000-{len(BAND) - 1}/{len(BAND)}"
        etag = band.headers["ETag"]
        assert etag.startswith(f'"{product.checksum("MD5")}-') and etag != manifest.headers["ETag"]
        web.get(band_url, headers={**basic("alice"), "If-None-Match": etag}, status=304)
        web.get(band_url, headers={**basic("alice"), "Range": f"bytes={len(BAND)}-"}, status=416)
        # quoted names are OData string keys
        assert web.get(url(product, f"'{product.name}'", "'manifest.safe'", suffix="/$value"),
                       headers=basic("alice")).body == MANIFEST


def test_the_root_value_is_the_product_file(web, files):
    product, data = files["safe"]
    answer = web.get(url(product, product.name, suffix="/$value"), headers=basic("alice"))
    assert answer.body == data and answer.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'


def test_a_file_that_is_no_zip_is_one_node(web, files):
    product, data = files["plain"]
    (root,) = web.get(f"{PRIP}/Products({product.id})/Nodes", headers=basic("alice")).json["value"]
    assert (root["Name"], root["ContentLength"], root["ChildrenNumber"]) == (product.name, len(data), 0)
    assert web.get(url(product, product.name, suffix="/Nodes"), headers=basic("alice")).json["value"] == []
    assert web.get(url(product, product.name, suffix="/$value"), headers=basic("alice")).body == data


def test_a_zip_without_one_top_folder_lists_its_top_entries(web, files):
    product, _ = files["flat"]
    children = web.get(url(product, product.name, suffix="/Nodes"), headers=basic("alice")).json["value"]
    # "../escape.txt" is not listed; "a//./b.txt" is a/b.txt
    assert sorted(c["Name"] for c in children) == ["GRANULE", "a", "manifest.safe", "rep_info"]
    assert web.get(url(product, product.name, "a", "b.txt", suffix="/$value"), headers=basic("alice")).body == b"bee"
    web.get(url(product, "..", suffix="/$value"), headers=basic("alice"), status=404)


def test_missing_nodes_folders_and_bad_paths(web, files):
    product, _ = files["safe"]
    auth = basic("alice")
    missing = web.get(url(product, product.name, "nope.xml", suffix="/$value"), headers=auth, status=404).json
    assert "has no node 'nope.xml'" in missing["error"]["message"]
    web.get(url(product, "S2B_OTHER.SAFE"), headers=auth, status=404)
    folder = web.get(url(product, product.name, "GRANULE", suffix="/$value"), headers=auth, status=400)
    assert "is a folder" in folder.json["error"]["message"] and folder.headers["Warning"].startswith("199 ")
    assert web.get(url(product, product.name, "manifest.safe", suffix="/Nodes"), headers=auth).json["value"] == []
    web.get(f"{PRIP}/Products({product.id})/Nodes()", headers=auth, status=404)
    web.get(f"{PRIP}/Products({product.id})/NodesX", headers=auth, status=404)
    web.get(f"{PRIP}/Products({product.id})/Nodes/$value", headers=auth, status=404)
    web.get(f"{PRIP}/Products({product.id})/Nodes('unterminated)", headers=auth, status=400)
    refused = web.get(f"{PRIP}/Products({product.id})/Nodes?$top=1", headers=auth, status=400)
    assert refused.json["error"]["target"] == "$top"


def test_who_may_read_nodes_is_who_may_download(web, files):
    public, internal, due = files["safe"][0], files["internal"][0], files["due"][0]
    listing = f"{PRIP}/Products({public.id})/Nodes"
    web.get(listing, status=401)
    web.get(listing, headers=basic("bob"), status=403)
    web.get(listing, headers=basic("olga"), status=404)  # another mission
    web.get(f"{PRIP}/Products({internal.id})/Nodes", headers=basic("alice"), status=404)
    assert web.get(f"{PRIP}/Products({internal.id})/Nodes", headers=basic("carol")).json["value"]
    evicted = web.get(f"{PRIP}/Products({due.id})/Nodes", headers=basic("alice"), status=404).json
    assert "evicted" in evicted["error"]["message"]


ODD_NAMES = ["'a'", "a", "Name='x'", "with space.txt", "100%.txt", "(paren).txt", "x)", "hash#.txt", "what?.txt",
             "été.xml", "new\nline.txt", "plus+.txt"]


@pytest.fixture
def odd(storage, catalogue, archive_settings):
    archive = load_archive(archive_settings)
    entries = [(f"S/{name}", name.encode("utf-8") * 3) for name in ODD_NAMES]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in entries:
            zipped.writestr(name, data)
    product = add_stored_product(storage, archive, buffer.getvalue(), "S2B_ODD.zip")
    with served_app(archive_settings) as app:
        yield app, product


def test_every_uri_given_reaches_its_node(odd):
    web, product = odd
    children = web.get(f"{PRIP}/Products({product.id})/Nodes(S2B_ODD.zip)/Nodes", headers=basic("alice")).json["value"]
    assert sorted(c["Name"] for c in children) == sorted(set(ODD_NAMES))
    for child in children:
        uri = child["Nodes"]["uri"]
        assert uri.startswith("http://localhost/") and "\n" not in uri and " " not in uri and "#" not in uri
        entity = uri[len("http://localhost"):].removesuffix("/Nodes")
        assert web.get(entity, headers=basic("alice")).json["Name"] == child["Name"]
        body = web.get(entity + "/$value", headers=basic("alice")).body
        assert body == child["Name"].encode("utf-8") * 3, child["Name"]


def test_content_types_come_from_a_fixed_table(web, files):
    product, _ = files["safe"]
    base = f"{PRIP}/Products({product.id})/Nodes({product.name})/Nodes(GRANULE)/Nodes(L1C_T32TQR)"
    assert web.head(base + "/Nodes(MTD_TL.xml)/$value", headers=basic("alice")).content_type == "application/xml"
    assert web.head(url(product, product.name, "manifest.safe", suffix="/$value"),
                    headers=basic("alice")).content_type == "application/xml"


def _store(storage, archive_settings, data, name):
    archive = load_archive(archive_settings)
    product = add_stored_product(storage, archive, data, name)
    return product, archive.local_path(product.archive_key)


def test_a_damaged_or_replaced_file_is_404_as_for_its_value(web, storage, archive_settings):
    replaced, path = _store(storage, archive_settings, _safe_zip(), "S2B_REPLACED.SAFE.zip")
    with open(path, "wb") as out:
        out.write(_safe_zip(extra=[("more.txt", b"added after ingest")]))
    folder, path = _store(storage, archive_settings, _safe_zip(), "S2B_FOLDER.SAFE.zip")
    os.remove(path)
    os.mkdir(path)
    for product in (replaced, folder):
        for target in ("", f"({product.name})/Nodes", f"({SAFE})/Nodes(manifest.safe)/$value"):
            answer = web.get(f"{PRIP}/Products({product.id})/Nodes{target}", headers=basic("alice"), status=404)
            assert answer.json["error"]["code"] == "E7707" and "damaged" in answer.json["error"]["message"]


def test_an_entry_whose_records_disagree_is_404_before_any_byte(web, storage, archive_settings):
    raw = bytearray(_safe_zip())
    at = raw.index(b"PK\x03\x04") + 30 + len(SAFE) + 1  # the first file entry's local name
    at = raw.index(b"manifest.safe", at - 20)
    raw[at:at + 13] = b"manifest.xyz_"
    product, _ = _store(storage, archive_settings, bytes(raw), "S2B_LIAR.SAFE.zip")
    manifest = url(product, product.name, "manifest.safe", suffix="/$value")
    for method in (web.get, web.head):
        answer = method(manifest, headers=basic("alice"), status=404)
        assert answer.headers["Warning"].startswith("199 proseo-api-prip (E7707)")
    assert "names another file" in web.get(manifest, headers=basic("alice"), status=404).json["error"]["message"]


def test_a_highly_deflated_entry_is_sent_whole_whatever_the_range(web, storage, archive_settings):
    zeros = b"\0" * (8 * 1024 * 1024)  # inflates ~1000 times: a range would cost its whole inflation
    product, _ = _store(storage, archive_settings, _safe_zip(extra=[(SAFE + "/zeros.bin", zeros)]), "S2B_Z.SAFE.zip")
    zeros_url = url(product, product.name, "zeros.bin", suffix="/$value")
    answer = web.get(zeros_url, headers={**basic("alice"), "Range": "bytes=-10"}, status=200)
    assert answer.body == zeros and answer.headers["Accept-Ranges"] == "none"
    band_url = url(product, product.name, "GRANULE", "L1C_T32TQR", "IMG_DATA", "T32TQR_B02.jp2", suffix="/$value")
    assert web.get(band_url, headers={**basic("alice"), "Range": "bytes=-10"}, status=206).body == BAND[-10:]


def test_an_entry_whose_local_sizes_disagree_is_404_not_other_bytes(web, storage, archive_settings):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zipped:
        zipped.writestr("S/a.txt", b"A" * 10)
        zipped.writestr("S/b.txt", b"B" * 50)
    raw = bytearray(buffer.getvalue())
    central = raw.index(b"PK\x01\x02")
    struct.pack_into("<2L", raw, central + 20, 100, 100)  # the directory says a.txt has 100 bytes
    product, _ = _store(storage, archive_settings, bytes(raw), "S2B_SIZES.zip")
    answer = web.get(url(product, product.name, "a.txt", suffix="/$value"), headers=basic("alice"), status=404)
    assert "disagrees with the directory" in answer.json["error"]["message"]
    assert web.get(url(product, product.name, "b.txt", suffix="/$value"), headers=basic("alice")).body == b"B" * 50


def test_a_large_stored_entry_is_checked_whole_and_sent_by_ranges_of_the_file(web, files, monkeypatch):
    """A stored entry larger than CHECKED_STORED_BYTES (not checked when opened): sent whole, it
    is read and checked as it goes out; a range of it is a range of the archived file, given to
    the server's file wrapper (sendfile under gunicorn) as ranges of a product's file are. The
    file the answer opened is closed either way."""
    from proseo_odata import nodes

    monkeypatch.setattr(nodes, "CHECKED_STORED_BYTES", 100)  # the stored band is larger
    product, _ = files["stored"]
    band = url(product, product.name, "GRANULE", "L1C_T32TQR", "IMG_DATA", "T32TQR_B02.jp2", suffix="/$value")
    wrapped = []

    def file_wrapper(body, block_size):
        wrapped.append(body)
        return iter(lambda: body.read(block_size), b"")  # what a server's wrapper does, without sendfile

    def open_files():
        return len(os.listdir("/proc/self/fd"))

    before = open_files()
    environ = {"wsgi.file_wrapper": file_wrapper}
    assert web.get(band, headers=basic("alice"), extra_environ=environ).body == BAND
    assert wrapped == []  # read and checked by the service
    assert web.get(band, headers={**basic("alice"), "Range": "bytes=10-99"}, extra_environ=environ,
                   status=206).body == BAND[10:100]
    assert len(wrapped) == 1  # the range: the file's bytes, by the server
    wrapped[0].close()  # (a server closes the body it sent; WebTest reads the iterator only)
    assert open_files() == before
