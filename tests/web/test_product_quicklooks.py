"""A product's quicklook as its ``QUICKLOOK`` asset (``$expand=Assets``, ``Products(<id>)/Assets``),
as the Copernicus Data Space serves it and eodag reads it (``$.Assets[?(@.Type="QUICKLOOK")].DownloadLink``):
found when the file is ingested, read through the product's Nodes. Real application, real local
archive, SQLite and PostgreSQL."""
import hashlib
import io
import json
import uuid
import zipfile
from urllib.parse import urlsplit

import pytest

from proseo_odata.archive import load_archive
from proseo_odata.archive.testing import s2_l1c_zip
from proseo_odata.ingest import ingest_file, ingest_manifest
from proseo_odata.model import NO_QUICKLOOK, VisibilityClass

from prip_helpers import PRIP, basic, served_app

SAFE = "S1A_IW_GRDH_1SDV_20240105T101321_20240105T101346_051970_064773_8A11.SAFE"
ODIP = "/proseo/odip/odata/v1"


def _s1_zip(picture: bytes) -> bytes:
    """A zipped Sentinel-1 SAFE: its quicklook is ``preview/quick-look.png``; a deeper
    ``quicklook.png`` and a ``thumbnail.png`` next to it are not."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(SAFE + "/manifest.safe", b"<xfdu:XFDU/>")
        zipped.writestr(SAFE + "/preview/thumbnail.png", b"not it")
        zipped.writestr(SAFE + "/preview/quick-look.png", picture)
        zipped.writestr(SAFE + "/preview/icons/deeper/quicklook.png", b"not it either")
    return buffer.getvalue()


@pytest.fixture
def archive_settings(app_settings):
    return {**app_settings, "proseo.archive.backend": "local"}


@pytest.fixture
def ingested(storage, catalogue, archive_settings, tmp_path):
    archive = load_archive(archive_settings)
    files = {
        "l1c": ("S2B_MSIL1C_20240105T101321_N0510_R022_T32TQR_20240105T120000.zip", s2_l1c_zip()),
        "s1": (SAFE + ".zip", _s1_zip(b"\x89PNG\r\n\x1a\n a quick look")),
        "plain": ("S2B_AUX_PLAIN.bin", b"no ZIP" * 100),
        "internal": ("S2B_MSIL1C_INTERNAL.zip", s2_l1c_zip()),
    }
    made = {}
    for label, (name, data) in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        metadata = {"Attributes": [{"Name": "productType", "ValueType": "String", "Value": "S2MSI1C"}]}
        if label == "internal":
            metadata["Visibility"] = "INTERNAL"
        product = ingest_file(storage, archive, "DEMO", path, metadata)
        made[label] = (product, data)
    return made


@pytest.fixture
def web(archive_settings, ingested):
    with served_app(archive_settings) as app:
        yield app


def _member(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        return zipped.read(name)


def test_ingest_records_the_shallowest_quicklook(ingested, storage):
    assert storage.get_product("DEMO", ingested["l1c"][0].id).quicklook == "quicklook.png"
    assert storage.get_product("DEMO", ingested["s1"][0].id).quicklook == "preview/quick-look.png"
    assert storage.get_product("DEMO", ingested["plain"][0].id).quicklook == NO_QUICKLOOK  # searched, none


def _get(web, url, user="alice", **kwargs):
    return web.get(urlsplit(url).path if url.startswith("http") else url, headers=basic(user), **kwargs)


@pytest.mark.parametrize("label, member", [("l1c", "quicklook.png"), ("s1", SAFE + "/preview/quick-look.png")])
def test_the_quicklook_asset_downloads_the_picture(web, ingested, label, member):
    product, data = ingested[label]
    page = _get(web, f"{PRIP}/Products?$filter=Id eq {product.id}&$expand=Attributes&$expand=Assets").json
    (item,) = page["value"]
    (asset,) = item["Assets"]
    assert set(asset) == {"Id", "Type", "DownloadLink", "S3Path"}
    assert asset["Type"] == "QUICKLOOK" and asset["S3Path"] is None
    assert uuid.UUID(asset["Id"])
    link = asset["DownloadLink"]
    assert link.startswith(f"http://localhost{PRIP}/Products({product.id})/Nodes({product.name})/")
    assert link.endswith("/$value")
    answer = _get(web, link)
    assert answer.content_type == "image/png"
    assert answer.body == _member(data, member)
    # the same asset, the same id, from every route that answers it
    assert _get(web, f"{PRIP}/Products({product.id})?$expand=Assets").json["Assets"] == [asset]
    listed = _get(web, f"{PRIP}/Products({product.id})/Assets").json["value"]
    assert listed == [asset]
    assert _get(web, f"{PRIP}/Products({product.id})/Assets/$count").text == "1"
    # nested options apply to assets as to attributes
    kept = _get(web, f"{PRIP}/Products({product.id})/Assets?$filter=Type eq 'QUICKLOOK'&$select=DownloadLink").json
    assert kept["value"] == [{"Id": asset["Id"], "DownloadLink": link}]
    none = _get(web, f"{PRIP}/Products({product.id})?$expand=Assets($filter=Type eq 'THUMBNAIL';$count=true)").json
    assert (none["Assets@odata.count"], none["Assets"]) == (0, [])


def test_a_product_without_a_quicklook_has_no_assets(web, ingested):
    product, _ = ingested["plain"]
    assert _get(web, f"{PRIP}/Products?$filter=Id eq {product.id}&$expand=Assets").json["value"][0]["Assets"] == []
    assert _get(web, f"{PRIP}/Products({product.id})/Assets/$count").text == "0"


def test_a_page_mixes_products_with_and_without_one(web, ingested):
    ids = ",".join(str(ingested[label][0].id) for label in ("l1c", "s1", "plain"))
    page = _get(web, f"{PRIP}/Products?$filter=Id in ({ids})&$expand=Assets&$orderby=Name").json["value"]
    by_name = {item["Name"]: [a["Type"] for a in item["Assets"]] for item in page}
    assert by_name[ingested["l1c"][0].name] == ["QUICKLOOK"]
    assert by_name[ingested["s1"][0].name] == ["QUICKLOOK"]
    assert by_name[ingested["plain"][0].name] == []
    # without $expand=Assets no asset is written, with $select the assets still are
    assert all("Assets" not in item for item in _get(web, f"{PRIP}/Products?$filter=Id in ({ids})").json["value"])
    selected = _get(web, f"{PRIP}/Products?$filter=Id in ({ids})&$select=Name&$expand=Assets").json["value"]
    assert {item["Name"]: len(item["Assets"]) for item in selected} == {n: len(t) for n, t in by_name.items()}


def test_the_quicklook_is_read_as_its_product_is(web, ingested):
    """Who may not read the product gets no asset and no picture (404, as if absent)."""
    product, _ = ingested["internal"]
    _get(web, f"{PRIP}/Products({product.id})?$expand=Assets", user="alice", status=404)
    (asset,) = _get(web, f"{PRIP}/Products({product.id})?$expand=Assets", user="carol").json["Assets"]
    _get(web, asset["DownloadLink"], user="alice", status=404)
    assert _get(web, asset["DownloadLink"], user="carol").body == _member(ingested["internal"][1], "quicklook.png")


def test_bulk_ingest_finds_quicklooks_of_copied_and_read_files(storage, catalogue, archive_settings, tmp_path):
    archive = load_archive(archive_settings)
    lines = []
    for index in range(3):
        path = tmp_path / f"S2B_MSIL1C_BULK_{index}.zip"
        path.write_bytes(s2_l1c_zip())
        lines.append({"Name": path.name, "file": str(path)})
    # by reference: read whole without checksums (its quicklook found), only its size checked with them
    for index, with_checksums in ((0, False), (1, True)):
        data = s2_l1c_zip()
        key = f"DEMO/referenced/{index}.zip"
        archive.put_stream(key, io.BytesIO(data))
        line = {"Name": f"S2B_MSIL1C_REF_{index}.zip", "archive_key": key}
        if with_checksums:
            line |= {"ContentLength": len(data), "Checksum": [
                {"Algorithm": "MD5", "Value": hashlib.md5(data).hexdigest()},
                {"Algorithm": "SHA256", "Value": hashlib.sha256(data).hexdigest()}]}
        lines.append(line)
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = ingest_manifest(storage, archive, "DEMO", manifest, parsers=0)
    assert (report.ingested, report.failed) == (5, []), report
    found = {name: storage.get_product_by_name("DEMO", name).quicklook for name in (line["Name"] for line in lines)}
    assert found == {**{f"S2B_MSIL1C_BULK_{i}.zip": "quicklook.png" for i in range(3)},
                     "S2B_MSIL1C_REF_0.zip": "quicklook.png", "S2B_MSIL1C_REF_1.zip": None}


def test_an_asset_is_read_by_its_id(web, ingested):
    """``Products(<id>)/Assets(<Id>)``: the URL full metadata gives as the asset's ``@odata.id``."""
    product, _ = ingested["l1c"]
    (asset,) = _get(web, f"{PRIP}/Products({product.id})/Assets").json["value"]
    one = _get(web, f"{PRIP}/Products({product.id})/Assets({asset['Id']})").json
    assert one == {"@odata.context": f"../$metadata#Products({product.id})/Assets/$entity", **asset}
    full = _get(web, f"{PRIP}/Products({product.id})/Assets?$format=application/json;odata.metadata=full").json
    assert full["value"][0]["@odata.id"] == f"Products({product.id})/Assets({asset['Id']})"
    selected = _get(web, f"{PRIP}/Products({product.id})/Assets(Id={asset['Id']})?$select=Type").json
    assert {k: v for k, v in selected.items() if not k.startswith("@")} == {"Id": asset["Id"], "Type": "QUICKLOOK"}
    _get(web, f"{PRIP}/Products({product.id})/Assets({uuid.uuid4()})", status=404)
    other, _ = ingested["plain"]
    _get(web, f"{PRIP}/Products({other.id})/Assets({asset['Id']})", status=404)  # another product's
    for bad in (f"Assets(x)", f"Assets({asset['Id']})?$top=1", f"Assets({asset['Id']})?$select=Nope"):
        refused = _get(web, f"{PRIP}/Products({product.id})/{bad}", status=400)
        assert refused.headers["Warning"] and refused.json["error"]["message"]


@pytest.mark.parametrize("change", ["offline", "evicted"])
def test_no_asset_while_its_link_would_not_answer(web, ingested, storage, change):
    """Offline, or past its EvictionDate until the evictor runs: the picture's node answers 404,
    so the product lists no asset (it comes back with the product)."""
    from datetime import timedelta

    from proseo_odata.model import utcnow

    product, _ = ingested["l1c"]
    (asset,) = _get(web, f"{PRIP}/Products({product.id})/Assets").json["value"]
    stored = storage.get_product("DEMO", product.id)
    if change == "offline":
        stored.online = False
    else:
        stored.eviction_date = utcnow() - timedelta(minutes=1)
    storage.update_product(stored)
    _get(web, asset["DownloadLink"], status=404)
    assert _get(web, f"{PRIP}/Products({product.id})/Assets").json["value"] == []
    assert _get(web, f"{PRIP}/Products({product.id})/Assets/$count").text == "0"
    _get(web, f"{PRIP}/Products({product.id})/Assets({asset['Id']})", status=404)
    page = _get(web, f"{PRIP}/Products?$filter=Id eq {product.id}&$expand=Assets").json["value"]
    assert [item["Assets"] for item in page] == [[]]
