"""The proseo-odata command line against real databases (SQLite and PostgreSQL) and archives."""
import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from proseo_odata.archive.local import LocalArchive
from proseo_odata.cli import main
from proseo_odata.model import AttributeType, ProductionType, Role
from proseo_odata.storage import NotFoundError, Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

WORKFLOWS = Path(__file__).resolve().parent.parent / "proseo_odata" / "demo" / "workflows.json"


def write_ini(folder: Path, db_url: str) -> Path:
    ini = folder / "site.ini"
    ini.write_text(textwrap.dedent(f"""\
        [app:main]
        use = egg:proseo-odata
        proseo.storage.backend = proseo_odata.storage.sqlalchemy
        proseo.storage.url = {db_url.replace('%', '%%')}
        proseo.archive.backend = proseo_odata.archive.local
        proseo.archive.path = %(here)s/archive
        proseo.workflows.file = {WORKFLOWS}
        """), encoding="utf-8")
    return ini


@pytest.fixture
def site(tmp_path, db_url):
    """An initialised installation: (invoke, storage, archive)."""
    ini = write_ini(tmp_path, db_url)
    runner = CliRunner()

    def invoke(*args, input=None, ok=True):
        result = runner.invoke(main, ["-c", str(ini), *args], input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    invoke("initdb")
    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        yield invoke, storage, LocalArchive(tmp_path / "archive")
    finally:
        storage.close()


def test_initdb_expands_here_and_is_idempotent(site, tmp_path):
    invoke, storage, _ = site
    result = invoke("initdb")
    assert storage.schema_revision() in result.output  # the migrations' head
    assert (tmp_path / "archive").is_dir()
    assert storage.list_missions() == []


def test_demo_data_is_complete_real_and_idempotent(site):
    invoke, storage, archive = site
    first = invoke("demo-data")
    assert "36 created" in first.output
    second = invoke("demo-data")
    assert "0 created, 36 present" in second.output

    page = storage.query_products("DEMO", Query(count=True, expand={"Attributes"}))
    assert page.count == 36 and len({p.name for p in page.items}) == 36
    types = {p.product_type for p in page.items}
    assert {"S2MSI1C", "S2MSI2A"} <= types and any(t.startswith("AUX_") for t in types)
    assert sum(p.product_type == "S2MSI1C" for p in page.items) >= 20
    for product in page.items:
        data = b"".join(archive.iter_range(product.archive_key))
        assert len(data) == product.content_length
        assert product.checksum("MD5") == hashlib.md5(data).hexdigest()
        assert product.checksum("SHA256") == hashlib.sha256(data).hexdigest()
        if product.product_type == "S2MSI1C":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = z.namelist()
                assert "manifest.xml" in names
                png = [n for n in names if n.endswith(".png")]
                assert len(png) == 1
                image = Image.open(io.BytesIO(z.read(png[0])))
                assert image.format == "PNG" and image.size == (64, 64)
            assert product.footprint.startswith("POLYGON((")
            types_of = {a.name: a.type for a in product.attributes}
            assert types_of["orbitNumber"] is AttributeType.INTEGER
            assert types_of["cloudCover"] is AttributeType.DOUBLE
            assert types_of["processingDate"] is AttributeType.DATETIMEOFFSET
            assert types_of["onlineQualityCheckPassed"] is AttributeType.BOOLEAN
    demo = storage.get_user("DEMO", "demo")
    assert demo.check_password("demo") and demo.roles == {Role.PRIP_USER, Role.ODIP_USER, Role.PRODUCT_READER_ALL}
    manager = storage.get_user("DEMO", "manager")
    assert manager.check_password("manager") and Role.ORDER_MGR in manager.roles
    assert [w.name for w in storage.list_workflows("DEMO")] == ["S2_L1C_COMPRESS", "S2_L1C_L2A"]


def test_demo_files_are_deterministic(site, tmp_path):
    from proseo_odata.demo.data import demo_products

    assert [d.data for d in demo_products()[:3]] == [d.data for d in demo_products()[:3]]
    assert [d.product.id for d in demo_products()] == [d.product.id for d in demo_products()]


def test_mission_and_user_administration(site):
    invoke, storage, _ = site
    invoke("mission", "add", "S2B", "--name", "Sentinel-2B")
    again = invoke("mission", "add", "S2B", ok=False)
    assert again.exit_code != 0 and "already exists" in again.output
    invoke("user", "add", "S2B\\alice", "--role", "PRIP_USER", "--role", "ORDER_MGR", "--password-stdin", input="s3cret\n")
    alice = storage.get_user("S2B", "alice")
    assert alice.check_password("s3cret") and alice.roles == {Role.PRIP_USER, Role.ORDER_MGR}
    assert "s3cret" not in alice.password_hash
    listed = invoke("user", "list")
    assert "S2B\\alice\tORDER_MGR,PRIP_USER" in listed.output
    dup = invoke("user", "add", "S2B\\alice", "--password-stdin", input="x\n", ok=False)
    assert dup.exit_code != 0 and "already exists" in dup.output
    invoke("user", "add", "S2B\\alice", "--update", "--role", "ODIP_USER", "--password-stdin", input="new\n")
    assert storage.get_user("S2B", "alice").check_password("new")
    nomission = invoke("user", "add", "XX\\bob", "--password-stdin", input="pw\n", ok=False)
    assert nomission.exit_code != 0 and "XX" in nomission.output
    bad_role = invoke("user", "add", "S2B\\eve", "--role", "ROOT", "--password-stdin", input="pw\n", ok=False)
    assert bad_role.exit_code != 0


def _archive_files(archive):
    return sorted(str(p.relative_to(archive.root)) for p in archive.root.rglob("*") if p.is_file())


def test_ingest_with_defaults(site, tmp_path):
    invoke, storage, archive = site
    invoke("mission", "add", "M")
    data = os.urandom(5000)
    source = tmp_path / "S1A_TEST.SAFE.zip"
    source.write_bytes(data)
    result = invoke("ingest", "--mission", "M", str(source))
    product = storage.get_product_by_name("M", "S1A_TEST.SAFE.zip")
    assert str(product.id) in result.output
    assert product.content_length == 5000 and product.content_type == "application/zip"
    assert product.production_type is ProductionType.SYSTEMATIC_PRODUCTION
    assert product.checksum("MD5") == hashlib.md5(data).hexdigest()
    assert b"".join(archive.iter_range(product.archive_key)) == data


PRIP_METADATA = {
    "@odata.context": "$metadata#Products/$entity",
    "Id": "0a1b2c3d-0000-4000-8000-000000000001",
    "Name": "S2B_MSIL1C_X.zip",
    "ContentType": "application/zip",
    "ContentLength": 11,
    "OriginDate": "2021-05-20T19:00:00.123456Z",
    "PublicationDate": "2021-05-20T20:00:00.5+02:00",
    "ModificationDate": "2021-05-20T20:00:00.000Z",
    "EvictionDate": "9999-12-31T23:59:59.999Z",
    "Online": True,
    "Checksum": [{"Algorithm": "MD5", "Value": hashlib.md5(b"hello world").hexdigest().upper(), "ChecksumDate": "2021-05-20T20:00:00Z"}],
    "Checksums": [],
    "ContentDate": {"Start": "2021-05-20T10:00:00.000000001Z", "End": "2021-05-20T10:00:30Z"},
    "ProductionType": "on-demand:default",
    "Footprint": "geography'SRID=4326;Polygon ((10 50, 11 50, 11 51, 10 50))'",
    "Attributes": [
        {"@odata.type": "#OData.CSC.StringAttribute", "Name": "productType", "ValueType": "String", "Value": "S2MSI1C"},
        {"@odata.type": "#OData.CSC.IntegerAttribute", "Name": "orbitNumber", "ValueType": "Integer", "Value": 9223372036854775807},
        {"@odata.type": "#OData.CSC.DoubleAttribute", "Name": "cloudCover", "ValueType": "Double", "Value": 0.1},
        {"@odata.type": "#OData.CSC.BooleanAttribute", "Name": "ok", "ValueType": "Boolean", "Value": False},
        {"@odata.type": "#OData.CSC.DateTimeOffsetAttribute", "Name": "processingDate", "ValueType": "DateTimeOffset", "Value": "2021-05-20T19:08:07.654321Z"},
        {"Name": "legacy", "StringValue": "old form"},
    ],
}


def test_ingest_prip_shaped_metadata(site, tmp_path):
    invoke, storage, _ = site
    invoke("mission", "add", "M")
    source = tmp_path / "whatever.bin"
    source.write_bytes(b"hello world")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(PRIP_METADATA), encoding="utf-8")
    invoke("ingest", "--mission", "M", "--metadata", str(meta), str(source))
    product = storage.get_product_by_name("M", "S2B_MSIL1C_X.zip")
    assert str(product.id) == PRIP_METADATA["Id"]
    assert product.publication_date.isoformat() == "2021-05-20T18:00:00.500000+00:00"
    assert product.content_start.isoformat() == "2021-05-20T10:00:00+00:00"
    assert product.production_type is ProductionType.ON_DEMAND_DEFAULT
    assert product.footprint == "POLYGON ((10 50, 11 50, 11 51, 10 50))"
    assert product.product_type == "S2MSI1C"
    values = {a.name: a.value for a in product.attributes}
    assert values["orbitNumber"] == 2**63 - 1 and values["cloudCover"] == 0.1 and values["ok"] is False
    assert values["processingDate"].microsecond == 654321 and values["legacy"] == "old form"


@pytest.mark.parametrize("change, field", [
    ({"ContentDate": {"Start": "yesterday"}}, "ContentDate/Start"),
    ({"ProductionType": "sometimes"}, "ProductionType"),
    ({"Attributes": [{"Name": "orbitNumber", "ValueType": "Integer", "Value": "12a"}]}, "Attributes[0]/Value"),
    ({"Footprint": "POLYGON((1 2"}, "Footprint"),
    ({"Colour": "blue"}, "Colour"),
    ({"ContentLength": 12}, "ContentLength"),
    ({"Checksum": [{"Algorithm": "MD5", "Value": "00" * 16}]}, "Checksum"),
])
def test_bad_metadata_names_the_field_and_stores_nothing(site, tmp_path, change, field):
    invoke, storage, archive = site
    invoke("mission", "add", "M")
    source = tmp_path / "f.zip"
    source.write_bytes(b"hello world")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({**PRIP_METADATA, **change}), encoding="utf-8")
    result = invoke("ingest", "--mission", "M", "--metadata", str(meta), str(source), ok=False)
    assert result.exit_code != 0
    assert repr(field) in result.output
    assert storage.query_products("M", Query(count=True)).count == 0
    assert _archive_files(archive) == []


def test_duplicate_name_leaves_no_orphan_file(site, tmp_path):
    invoke, storage, archive = site
    invoke("mission", "add", "M")
    source = tmp_path / "same.zip"
    source.write_bytes(b"one")
    invoke("ingest", "--mission", "M", str(source))
    before = _archive_files(archive)
    result = invoke("ingest", "--mission", "M", str(source), ok=False)
    assert result.exit_code != 0 and "already exists" in result.output
    assert _archive_files(archive) == before and len(before) == 1


def test_ingest_folder_and_manifest(site, tmp_path):
    invoke, storage, _ = site
    invoke("mission", "add", "M")
    folder = tmp_path / "drop"
    folder.mkdir()
    for i in range(4):
        (folder / f"f{i}.dat").write_bytes(bytes([i]) * (i + 1))
    result = invoke("ingest", "--mission", "M", str(folder))
    assert "4 product(s) ingested" in result.output
    manifest = tmp_path / "batch.jsonl"
    lines = [json.dumps({"file": f"drop/f{i}.dat", "Name": f"renamed{i}.dat",
                         "Attributes": [{"Name": "productType", "ValueType": "String", "Value": "AUX_X"}]})
             for i in range(2)]
    manifest.write_text("# two renamed copies\n" + "\n".join(lines) + "\n", encoding="utf-8")
    invoke("ingest", "--mission", "M", str(manifest))
    assert storage.query_products("M", Query(count=True)).count == 6
    assert storage.get_product_by_name("M", "renamed1.dat").product_type == "AUX_X"
    assert storage.get_product_by_name("M", "f3.dat").content_length == 4
    with pytest.raises(NotFoundError):
        storage.get_product_by_name("M", "batch.jsonl")


def test_unknown_mission_is_refused(site, tmp_path):
    invoke, _, archive = site
    source = tmp_path / "a.zip"
    source.write_bytes(b"x")
    result = invoke("ingest", "--mission", "NOPE", str(source), ok=False)
    assert result.exit_code != 0 and "no mission NOPE" in result.output
    assert _archive_files(archive) == []


def test_console_script_runs(tmp_path, sqlite_url):
    ini = write_ini(tmp_path, sqlite_url)
    script = Path(sys.executable).parent / "proseo-odata"
    result = subprocess.run([str(script), "-c", str(ini), "initdb"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "database ready" in result.stdout
    missing = subprocess.run([str(script), "-c", str(tmp_path / "nope.ini"), "initdb"], capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "not found" in missing.stderr


def _md5_of(archive, key):
    return hashlib.md5(b"".join(archive.iter_range(key))).hexdigest()


def test_reingest_of_an_existing_id_or_name_is_refused_and_keeps_the_original(site, tmp_path):
    invoke, storage, archive = site
    invoke("mission", "add", "M")
    source = tmp_path / "whatever.bin"
    source.write_bytes(b"hello world")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(PRIP_METADATA), encoding="utf-8")
    invoke("ingest", "--mission", "M", "--metadata", str(meta), str(source))
    original = storage.get_product_by_name("M", PRIP_METADATA["Name"])
    before = _archive_files(archive)

    # The same PRIP output again (same Id and Name), with different bytes.
    other = tmp_path / "other.bin"
    other.write_bytes(b"HELLO WORLD")
    again = {k: v for k, v in PRIP_METADATA.items() if k not in ("ContentLength", "Checksum")}
    meta.write_text(json.dumps(again), encoding="utf-8")
    result = invoke("ingest", "--mission", "M", "--metadata", str(meta), str(other), ok=False)
    assert result.exit_code != 0
    assert "field 'Id'" in result.output and "already exists" in result.output

    # The same Id under another Name, and the same Name under a new Id.
    for change, field in (({"Name": "renamed.zip"}, "Id"), ({"Id": "0a1b2c3d-0000-4000-8000-0000000000ff"}, "Name")):
        meta.write_text(json.dumps({**again, **change}), encoding="utf-8")
        result = invoke("ingest", "--mission", "M", "--metadata", str(meta), str(other), ok=False)
        assert result.exit_code != 0 and f"field {field!r}" in result.output, result.output

    assert _archive_files(archive) == before and len(before) == 1
    assert storage.query_products("M", Query(count=True)).count == 1
    kept = storage.get_product("M", original.id)
    assert kept.archive_key == original.archive_key
    assert _md5_of(archive, kept.archive_key) == hashlib.md5(b"hello world").hexdigest() == kept.checksum("MD5")


def test_concurrent_demo_data_runs_keep_the_files(site, tmp_path, monkeypatch):
    """A second run that does not see the first one's products (they commit meanwhile) gets a
    conflict from the database and must leave the committed rows' files alone."""
    from proseo_odata.demo.data import load_demo_data

    invoke, storage, archive = site
    invoke("demo-data")
    before = {p.archive_key: p.checksum("MD5") for p in storage.query_products("DEMO", Query(top=100)).items}

    def blind(mission, name):
        raise NotFoundError(name)

    monkeypatch.setattr(storage, "get_product_by_name", blind)
    summary = load_demo_data(storage, archive, {"proseo.workflows.file": str(WORKFLOWS)})
    assert summary.products_created == 0 and summary.products_existing == len(before) == 36
    for key, md5 in before.items():
        assert _md5_of(archive, key) == md5
