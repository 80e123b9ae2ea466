"""The proseo-odata command line against real databases (SQLite and PostgreSQL) and archives."""
import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from PIL import Image

from live_server import free_port
from site_ini import WORKFLOWS, write_ini

from proseo_odata.archive.local import LocalArchive
from proseo_odata.cli import main
from proseo_odata.model import AttributeType, ProductionType, Role
from proseo_odata.storage import NotFoundError, Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

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
    # stored as an ingest stores a footprint: an export ingested again is the same text
    from proseo_odata.ingest import parse_footprint
    footprints = [d.product.footprint for d in demo_products() if d.product.footprint]
    assert footprints and footprints == [parse_footprint(f) for f in footprints]


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
    assert storage.get_user("S2B", "alice").roles == {Role.ODIP_USER}
    kept = invoke("user", "add", "S2B\\alice", "--update", "--password-stdin", input="newer\n")
    assert "with roles ODIP_USER" in kept.output  # a new password alone keeps the roles
    assert storage.get_user("S2B", "alice").check_password("newer") and storage.get_user("S2B", "alice").roles == {Role.ODIP_USER}
    missing = invoke("user", "add", "S2B\\nobody", "--update", "--password-stdin", input="pw\n", ok=False)
    assert missing.exit_code != 0 and "no user S2B\\nobody" in missing.output
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
    assert product.footprint == "POLYGON((10 50,11 50,11 51,10 50))"  # the one WKT writer (odata/geo.py)
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


def test_ingest_folder_and_manifest(site, tmp_path, monkeypatch):
    invoke, storage, _ = site
    monkeypatch.setattr(SQLAlchemyStorage, "SQLITE_STATISTICS_MIN_ROWS", 4)
    invoke("mission", "add", "M")
    folder = tmp_path / "drop"
    folder.mkdir()
    for i in range(4):
        (folder / f"f{i}.dat").write_bytes(bytes([i]) * (i + 1))
    result = invoke("ingest", "--mission", "M", str(folder))
    assert "4 product(s) ingested" in result.output
    if storage.dialect == "sqlite":  # the planner's statistics, SQLite having none before (4 of 4 new)
        with storage.engine.connect() as connection:
            counted = connection.exec_driver_sql("SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 "
                                                 "WHERE tbl = 'products'").scalar()
        assert counted == 4
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
    # a command that stores no notification password does not warn that they are unencrypted
    listed = subprocess.run([str(script), "-c", str(ini), "mission", "list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "UNENCRYPTED" not in listed.stderr + result.stderr, listed.stderr
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


# -- one-line errors and first-run behaviour (issue 8) -------------------------------------------


def _one_line_error(result, *expected: str) -> str:
    """The result is a failure with exactly one line on stderr naming ``expected``; no traceback."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _cli(*args, env=None):
    return CliRunner().invoke(main, list(args), catch_exceptions=True, env=env)


def _downgrade(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from proseo_odata.storage.sqlalchemy import MIGRATIONS

    storage = SQLAlchemyStorage.from_url(url)
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    try:
        with storage.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        storage.close()


def test_initdb_on_a_fresh_clone_creates_the_database_folder_and_the_archive(tmp_path):
    url = f"sqlite:///{tmp_path / 'var' / 'db' / 'proseo.sqlite'}"
    ini = write_ini(tmp_path, url)
    assert not (tmp_path / "var").exists()
    result = _cli("-c", str(ini), "initdb")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "db" / "proseo.sqlite").is_file() and (tmp_path / "archive").is_dir()
    assert "database ready" in result.stdout


@pytest.mark.parametrize("command", [["demo-data"], ["mission", "list"], ["user", "list"], ["workflows", "sync"],
                                     ["ingest", "--mission", "DEMO", "."], ["evict"], ["worker"]])
def test_commands_before_initdb_say_run_initdb_first(tmp_path, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ini = write_ini(tmp_path, f"sqlite:///{tmp_path / 'var' / 'proseo.sqlite'}")
    _one_line_error(_cli("-c", str(ini), *command), "does not exist yet", "initdb")
    assert not (tmp_path / "var").exists()  # nothing created by a refused command


def test_an_empty_database_file_is_not_initialised(tmp_path):
    (tmp_path / "empty.sqlite").write_bytes(b"")
    ini = write_ini(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite'}")
    _one_line_error(_cli("-c", str(ini), "mission", "list"), "no proseo-odata schema", "initdb")


def test_an_older_schema_is_refused_until_initdb_upgrades_it(tmp_path, sqlite_url):
    ini = write_ini(tmp_path, sqlite_url)
    assert _cli("-c", str(ini), "initdb").exit_code == 0
    head = SQLAlchemyStorage.schema_head()
    _downgrade(sqlite_url, "0002_catalogue_plans")
    line = _one_line_error(_cli("-c", str(ini), "mission", "list"), "0002_catalogue_plans", head, "initdb")
    assert "upgrade" in line
    assert _cli("-c", str(ini), "initdb").exit_code == 0
    assert _cli("-c", str(ini), "mission", "list").exit_code == 0


def test_a_schema_newer_than_the_code_is_refused(tmp_path, sqlite_url):
    import sqlalchemy as sa

    ini = write_ini(tmp_path, sqlite_url)
    assert _cli("-c", str(ini), "initdb").exit_code == 0
    storage = SQLAlchemyStorage.from_url(sqlite_url)
    with storage.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    storage.close()
    _one_line_error(_cli("-c", str(ini), "user", "list"), "9999_from_the_future", "unknown to this version")


@pytest.mark.postgresql
def test_an_empty_postgresql_database_is_not_initialised(tmp_path, fresh_pg_url):
    ini = write_ini(tmp_path, fresh_pg_url)
    _one_line_error(_cli("-c", str(ini), "mission", "list"), "no proseo-odata schema", "initdb")


def test_an_unreachable_postgresql_server_is_one_line(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ini = write_ini(tmp_path, f"postgresql+psycopg://nobody:secret-pw@127.0.0.1:{port}/nowhere?connect_timeout=2")
    for command in (["initdb"], ["mission", "list"]):
        line = _one_line_error(_cli("-c", str(ini), *command), "database")
        assert "secret-pw" not in line


def test_a_missing_postgresql_driver_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg fails as if not installed
    ini = write_ini(tmp_path, "postgresql+psycopg://u:p@127.0.0.1:1/db")
    _one_line_error(_cli("-c", str(ini), "initdb"), "pip install 'proseo-odata[postgresql]'")


def test_configuration_problems_are_one_line(tmp_path):
    _one_line_error(_cli("mission", "list"), "-c CONFIG.ini")
    _one_line_error(_cli("-c", str(tmp_path / "nope.ini"), "initdb"), "not found")
    (tmp_path / "other.ini").write_text("[app:other]\nx = 1\n", encoding="utf-8")
    _one_line_error(_cli("-c", str(tmp_path / "other.ini"), "initdb"), "other.ini", "[app:main]")
    (tmp_path / "empty.ini").write_text("[app:main]\nuse = egg:proseo-odata\n", encoding="utf-8")
    _one_line_error(_cli("-c", str(tmp_path / "empty.ini"), "initdb"), "proseo.storage.url")


@pytest.mark.parametrize("command", [["initdb"], ["mission", "add"], ["user", "add"], ["worker"], ["demo-data"],
                                     ["workflows", "sync"], ["ingest"], ["evict"], []])
def test_help_needs_no_configuration(command):
    result = CliRunner().invoke(main, [*command, "--help"], env={"PROSEO_CONFIG": ""})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")


def test_lists_say_when_there_is_nothing(site, tmp_path):
    invoke, _, _ = site
    assert "no missions yet" in invoke("mission", "list").stdout
    assert "no users yet" in invoke("user", "list").stdout
    assert "no workflows yet" in invoke("workflows", "list").stdout
    invoke("mission", "add", "S2B")
    assert "no users in mission S2B yet" in invoke("user", "list", "--mission", "S2B").stdout
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    result = invoke("ingest", "--mission", "S2B", str(empty))
    assert "nothing to ingest" in result.stdout and str(empty) in result.stdout


def test_workflows_sync_stores_the_configured_workflows_and_no_users(site, caplog):
    invoke, storage, _ = site
    first = invoke("workflows", "sync")
    assert "skipped DEMO/S2_L1C_L2A: no mission DEMO here" in first.stdout
    assert "0 workflow(s) stored, 2 skipped" in first.stdout
    # said once, on stdout, not logged again as a warning
    assert not [r for r in caplog.records if "does not exist here" in r.getMessage()]
    invoke("mission", "add", "DEMO")
    second = invoke("workflows", "sync")
    assert "2 workflow(s) stored" in second.stdout and "DEMO\tS2_L1C_L2A" in second.stdout
    assert [w.name for w in storage.list_workflows("DEMO")] == ["S2_L1C_COMPRESS", "S2_L1C_L2A"]
    assert storage.list_users() == []  # only demo-data creates the demo users
    assert invoke("workflows", "sync").stdout == second.stdout  # idempotent
    listed = invoke("workflows", "list", "--mission", "DEMO").stdout
    assert "S2_L1C_L2A" in listed and "S2_L1C_COMPRESS" in listed
    _one_line_error(invoke("workflows", "list", "--mission", "NOPE", ok=False), "no mission NOPE")


def test_worker_says_it_started_with_how_many_threads_and_that_it_stopped(site, tmp_path):
    from proseo_odata.production.command import run_worker
    from proseo_odata.cli import read_settings

    invoke, _, _ = site
    settings = read_settings(str(tmp_path / "site.ini"))
    said: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(settings,),
                              kwargs={"threads": 2, "stop_event": stop, "announce": said.append, "dispatcher": False})
    thread.start()
    deadline = time.monotonic() + 30
    while not said and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert said[0].startswith("worker started: 2 thread(s)") and said[-1] == "worker stopped", said


def test_worker_waits_for_a_database_away_at_start_up(site, tmp_path, monkeypatch, caplog):
    """A worker started while its database restarts (the soak's terminated backends, a failover)
    tries again instead of exiting with "the database is unavailable"; a database away for
    longer than STARTUP_RETRY_DELAYS is still that one-line error."""
    from proseo_odata import storage as storage_module
    from proseo_odata.cli import read_settings
    from proseo_odata.production import command
    from proseo_odata.storage.errors import DatabaseUnavailableError

    invoke, _, _ = site
    settings = read_settings(str(tmp_path / "site.ini"))
    real_open = storage_module.open_storage
    calls = []

    def away_twice(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 2:
            raise DatabaseUnavailableError("the database is unavailable (restarting)", reason="restarting")
        return real_open(*args, **kwargs)

    monkeypatch.setattr(storage_module, "open_storage", away_twice)
    monkeypatch.setattr(command, "STARTUP_RETRY_DELAYS", (0.01, 0.01, 0.01))
    said: list[str] = []
    stop = threading.Event()
    stop.set()  # started, then stopped at once
    command.run_worker(settings, threads=1, stop_event=stop, announce=said.append, dispatcher=False)
    assert len(calls) == 3 and said[0].startswith("worker started") and said[-1] == "worker stopped"
    assert "worker start-up: transient database error" in caplog.text
    calls.clear()
    monkeypatch.setattr(command, "STARTUP_RETRY_DELAYS", (0.01,))  # away for longer than the waits
    with pytest.raises(DatabaseUnavailableError):
        command.run_worker(settings, threads=1, stop_event=stop, announce=said.append, dispatcher=False)


def test_demo_data_without_pillow_names_the_extra(site, monkeypatch):
    invoke, _, _ = site
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    _one_line_error(invoke("demo-data", ok=False), "pip install 'proseo-odata[image]'")


# -- pserve: refuses a database it cannot serve, a busy port is one line -------------------------


def _server_ini(folder: Path, db_url: str, port: int) -> Path:
    ini = write_ini(folder, db_url)
    ini.write_text(ini.read_text(encoding="utf-8") + textwrap.dedent(f"""\
        proseo.workers = 1
        proseo.secrets.key = {Fernet.generate_key().decode()}

        [server:main]
        use = egg:proseo-odata#waitress
        listen = 127.0.0.1:{port}
        """), encoding="utf-8")
    return ini


def _pserve(ini: Path, env=None, timeout: float = 60):
    script = Path(sys.executable).parent / "pserve"
    return subprocess.run([str(script), str(ini)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _stderr_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow
def test_pserve_refuses_an_uninitialised_or_old_database(tmp_path, sqlite_url):
    ini = _server_ini(tmp_path, sqlite_url, free_port())
    line = _stderr_line(_pserve(ini))
    assert "cannot start" in line and "does not exist yet" in line and "initdb" in line
    assert _cli("-c", str(ini), "initdb").exit_code == 0
    _downgrade(sqlite_url, "0002_catalogue_plans")
    line = _stderr_line(_pserve(ini))
    assert "0002_catalogue_plans" in line and "initdb" in line


@pytest.mark.slow
@pytest.mark.parametrize("setting, value, said", [
    ("proseo.secrets.key", "not-a-fernet-key", "is not a Fernet key"),
    ("proseo.datetime.fraction_digits", "4", "proseo.datetime.fraction_digits must be 3 or 6"),
    ("proseo.workers", "two", "proseo.workers must be an integer, got 'two'"),
])
def test_pserve_and_worker_refuse_a_bad_setting_with_one_line(tmp_path, sqlite_url, setting, value, said):
    ini = _server_ini(tmp_path, sqlite_url, free_port())
    assert _cli("-c", str(ini), "initdb").exit_code == 0
    lines = [line for line in ini.read_text(encoding="utf-8").splitlines() if not line.startswith(f"{setting} =")]
    text = "\n".join(lines) + "\n"
    ini.write_text(text.replace("[server:main]", f"{setting} = {value}\n\n[server:main]"), encoding="utf-8")
    line = _stderr_line(_pserve(ini))
    assert "cannot start" in line and said in line and "not-a-fernet-key" not in line
    worker = subprocess.run([str(Path(sys.executable).parent / "proseo-odata"), "-c", str(ini), "worker"],
                            capture_output=True, text=True, timeout=60)
    assert said in _stderr_line(worker)


@pytest.mark.slow
def test_pserve_on_a_busy_port_is_one_line_before_the_application_starts(tmp_path, sqlite_url):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ini = _server_ini(tmp_path, sqlite_url, 1)  # PROSEO_PORT replaces the port
        assert _cli("-c", str(ini), "initdb").exit_code == 0
        result = _pserve(ini, env={"PROSEO_PORT": str(port)})
    line = _stderr_line(result)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "in use" in line
    assert "production pool started" not in result.stdout + result.stderr  # refused before the app loaded
    bad = _pserve(ini, env={"PROSEO_PORT": "seventy"})
    assert "PROSEO_PORT='seventy' is not a port number" in _stderr_line(bad)


def test_proseo_port_replaces_the_port_of_every_listen_address():
    from proseo_odata_web.server import apply_port

    assert apply_port({"listen": "127.0.0.1:6543 [::1]:6543", "threads": "8"}, 7000) == {
        "listen": "127.0.0.1:7000 [::1]:7000", "threads": "8"}
    assert apply_port({"host": "127.0.0.1", "port": "6543"}, 7000) == {"host": "127.0.0.1", "port": "7000"}
    assert apply_port({"listen": "127.0.0.1:6543"}, None) == {"listen": "127.0.0.1:6543"}


@pytest.mark.slow
def test_pserve_serves_on_proseo_port(tmp_path, sqlite_url):
    import requests

    port = free_port()
    ini = _server_ini(tmp_path, sqlite_url, 1)
    assert _cli("-c", str(ini), "initdb").exit_code == 0
    script = Path(sys.executable).parent / "pserve"
    server = subprocess.Popen([str(script), str(ini)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PROSEO_PORT": str(port)})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/proseo/prip/odata/v1/", timeout=30)  # a loaded CI machine
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "pserve did not answer in time"
                time.sleep(0.2)
        assert answer.status_code == 200
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "Warning:" not in output and "pkg_resources" not in output, output  # a clean start


def test_archive_orphans_lists_then_removes(site, tmp_path):
    import os
    import time

    invoke, storage, archive = site
    invoke("mission", "add", "M1")
    for name in ("A.zip", "B.zip"):
        (tmp_path / name).write_bytes(name.encode() * 50)
        invoke("ingest", "--mission", "M1", str(tmp_path / name))
    gone = storage.get_product_by_name("M1", "B.zip")
    storage.delete_product("M1", gone.id)
    result = invoke("archive", "orphans")
    assert "0 orphan file(s), 0 byte(s), older than 24 h" in result.output  # too young
    old = time.time() - 3 * 24 * 3600
    for path in (archive.root / "M1").rglob("*.zip"):
        os.utime(path, (old, old))
    result = invoke("archive", "orphans")
    assert [line.split("\t")[:2] for line in result.stdout.splitlines() if "\t" in line] == [[gone.archive_key, "250"]]
    assert "1 orphan file(s), 250 byte(s), older than 24 h" in result.output
    assert archive.exists(gone.archive_key)  # listed only
    refused = invoke("archive", "orphans", "--remove", "--max-remove", "0", ok=False)
    assert refused.exit_code == 3 and "none removed: more than --max-remove 0" in refused.output
    assert archive.exists(gone.archive_key)  # above the ceiling nothing goes
    result = invoke("archive", "orphans", "--remove", "--prefix", "M1/")
    assert "1 orphan file(s), 250 byte(s), older than 24 h; 1 removed" in result.output
    assert not archive.exists(gone.archive_key)
    kept = storage.get_product_by_name("M1", "A.zip")
    assert archive.size(kept.archive_key) == kept.content_length
    assert "0 orphan file(s)" in invoke("archive", "orphans").output
