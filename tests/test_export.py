"""`proseo-odata export`: a mission's catalogue as the manifest `ingest --manifest` reads back.

The round trip is the test: products with every kind of value, stored in the embedded SQLite
database, exported and ingested by reference into a PostgreSQL database (and into another
SQLite one) that shares the archive, come back equal, Ids included; the files are downloaded
from the same keys. Both through the library and through the command line."""
import dataclasses
import hashlib
import json
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from site_ini import write_ini

from proseo_odata.archive.local import LocalArchive
from proseo_odata.cli import main
from proseo_odata.export import export_products, manifest_line
from proseo_odata.ingest import ingest_manifest
from proseo_odata.model import (NO_QUICKLOOK, Attribute, AttributeType, Checksum, Mission, Product, ProductionType,
                                VisibilityClass)
from proseo_odata.query import build_query
from proseo_odata.storage import Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

UTC = timezone.utc
T = datetime(2026, 3, 1, 10, 20, 30, 123456, tzinfo=UTC)


def _products(archive: LocalArchive) -> list[Product]:
    """Products with every kind of value the manifest carries, each with its file."""
    made = [
        Product(
            "M", "S2A_MSIL2A_20260301T102030_N0510_R065_T32TQM_20260301T120000.SAFE.zip",
            content_type="application/zip", origin_date=T - timedelta(hours=2), publication_date=T,
            modification_date=T + timedelta(minutes=5), eviction_date=T + timedelta(days=30, microseconds=7),
            content_start=T - timedelta(days=1), content_end=T - timedelta(days=1) + timedelta(seconds=5, microseconds=1),
            production_type=ProductionType.ON_DEMAND_DEFAULT, visibility=VisibilityClass.RESTRICTED,
            footprint="POLYGON((12.5 41.9,13.25 41.9,13.25 42.75,12.5 42.75,12.5 41.9))",  # as ingests write it
            checksums=[Checksum("XXH3", "0123456789abcdef")],  # kept undated
            quicklook="preview/quick-look.png",  # carried by the line: the file is not read again
            attributes=[
                Attribute("productType", AttributeType.STRING, "S2MSI2A"),
                Attribute("platformSerialIdentifier", AttributeType.STRING, "A \"quoted\" \u00e9\u6f22 name"),
                Attribute("orbitNumber", AttributeType.INTEGER, -(2**63)),
                Attribute("relativeOrbitNumber", AttributeType.INTEGER, 2**63 - 1),
                Attribute("cloudCover", AttributeType.DOUBLE, 0.1 + 0.2),
                Attribute("snowCover", AttributeType.DOUBLE, 1.7976931348623157e308),  # the largest Double
                Attribute("waterCover", AttributeType.DOUBLE, -1e-300),
                Attribute("processed", AttributeType.BOOLEAN, False),
                Attribute("beginningDateTime", AttributeType.DATETIMEOFFSET, T - timedelta(microseconds=999)),
                Attribute("validityStart", AttributeType.DATETIMEOFFSET, datetime(1, 1, 1, tzinfo=UTC)),  # a sentinel
            ],
        ),
        Product("M", "plain.nc", online=False, visibility=VisibilityClass.INTERNAL,  # no footprint, few dates
                origin_date=datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # a year of three digits
                quicklook=NO_QUICKLOOK),  # searched, none: kept apart from never searched (the next one)
        Product("M", "public \u00fcnicode.zip", content_start=T, content_end=T,
                attributes=[Attribute("productType", AttributeType.STRING, "AUX")]),
    ]
    stored = []
    for i, product in enumerate(made):
        key, data = f"M/{product.id}/t{i}/{product.name}", b"x" * (100 + i)
        path = archive.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        # MD5 and SHA256 of the file, as every ingest stores them (dated apart from the product)
        digests = [Checksum("MD5", hashlib.md5(data).hexdigest(), T + timedelta(seconds=i)),
                   Checksum("SHA256", hashlib.sha256(data).hexdigest(), T + timedelta(seconds=i, microseconds=1))]
        stored.append(dataclasses.replace(product, archive_key=key, content_length=len(data),
                                          checksums=[*product.checksums, *digests]))
    return stored


def _comparable(product: Product) -> Product:
    return dataclasses.replace(product, revision=0)


def _all(storage) -> dict:
    page = storage.query_products("M", Query(expand=frozenset({"Attributes"})))
    return {p.id: _comparable(p) for p in page.items}


@pytest.fixture
def source(migrated_sqlite_url, tmp_path):
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    storage.add_mission(Mission("M"))
    archive = LocalArchive(tmp_path / "archive")
    for product in _products(archive):
        storage.add_product(product)
    try:
        yield storage, archive
    finally:
        storage.close()


@pytest.fixture(params=["postgresql", "sqlite"])
def target_url(request, tmp_path, sqlite_template):
    """A second, empty database: PostgreSQL, or another SQLite file."""
    if request.param == "postgresql":
        return request.getfixturevalue("migrated_pg_url")
    path = tmp_path / "target.sqlite"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def test_a_product_without_a_file_has_no_line():
    with pytest.raises(ValueError, match="has no file"):
        manifest_line(Product("M", "x"))


def test_export_then_ingest_by_reference_stores_the_same_products(source, target_url, tmp_path):
    storage, archive = source
    manifest = tmp_path / "export" / "m.jsonl"
    manifest.parent.mkdir()
    with open(manifest, "wb") as handle:
        report = export_products(storage, "M", handle.write, page_size=2)  # pages: 2 + 1
    assert report.exported == 3 and report.without_file == []
    lines = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    assert [line["Id"] for line in lines] == sorted(line["Id"] for line in lines)  # Id order
    target = SQLAlchemyStorage.from_url(target_url)
    try:
        target.add_mission(Mission("M"))
        imported = ingest_manifest(target, archive, "M", manifest, parsers=0)
        assert (imported.ingested, imported.referenced, imported.failed) == (3, 3, [])
        before, after = _all(storage), _all(target)
        assert after == before
        first = next(p for p in after.values() if p.name.startswith("S2A"))
        assert first.attribute("snowCover").value == 1.7976931348623157e308
        assert first.eviction_date.microsecond == 123463  # the microseconds kept
        assert archive.size(first.archive_key) == first.content_length  # the same file
        again = ingest_manifest(target, archive, "M", manifest, parsers=0)  # idempotent
        assert (again.ingested, again.skipped) == (0, 3)
    finally:
        target.close()


def test_a_filter_exports_the_matching_products_only(source):
    storage, _ = source
    chunks = []
    restricted = build_query("Products", {"$filter": "Attributes/OData.CSC.StringAttribute/any("
                                                     "a:a/Name eq 'productType' and a/Value eq 'AUX')"}).query.filter
    report = export_products(storage, "M", chunks.append, query_filter=restricted)
    assert report.exported == 1 and json.loads(chunks[0])["Name"] == "public \u00fcnicode.zip"


def test_moving_a_catalogue_from_sqlite_to_postgresql_by_the_command(source, migrated_pg_url, tmp_path):
    storage, archive = source
    runner = CliRunner()
    old = write_ini(tmp_path / "old", str(storage.engine.url), archive.root)
    new = write_ini(tmp_path / "new", migrated_pg_url, archive.root)
    manifest = tmp_path / "catalogue.jsonl"
    result = runner.invoke(main, ["-c", str(old), "export", "--mission", "M", "-o", str(manifest)])
    assert result.exit_code == 0, result.output
    assert "3 product(s) of mission M exported" in result.output
    assert sorted(p.name for p in tmp_path.glob("catalogue.jsonl*")) == ["catalogue.jsonl"]  # no .part left
    assert runner.invoke(main, ["-c", str(new), "mission", "add", "M"]).exit_code == 0
    result = runner.invoke(main, ["-c", str(new), "ingest", "--mission", "M", "--manifest", str(manifest),
                                  "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "3 product(s) ingested into mission M (3 by reference)" in result.output
    target = SQLAlchemyStorage.from_url(migrated_pg_url)
    try:
        assert _all(target) == _all(storage)
    finally:
        target.close()
    # standard output, with a filter; a bad filter is a clear error
    result = runner.invoke(main, ["-c", str(old), "export", "--mission", "M", "--filter", "Online eq false"])
    assert result.exit_code == 0 and [json.loads(line)["Name"] for line in result.stdout.splitlines()] == ["plain.nc"]
    result = runner.invoke(main, ["-c", str(old), "export", "--mission", "M", "--filter", "Nope eq 1"])
    assert result.exit_code != 0 and "--filter:" in result.output and "Nope" in result.output
    result = runner.invoke(main, ["-c", str(old), "export", "--mission", "XX"])
    assert result.exit_code != 0 and "no mission XX" in result.output


def test_a_product_without_a_file_is_named_and_the_status_is_1(source, tmp_path):
    storage, archive = source
    lonely = storage.add_product(Product("M", "metadata-only.xml"))
    ini = write_ini(tmp_path / "site", str(storage.engine.url), archive.root)
    result = CliRunner().invoke(main, ["-c", str(ini), "export", "--mission", "M", "-o", str(tmp_path / "m.jsonl")])
    assert result.exit_code == 1
    assert "3 product(s) of mission M exported" in result.output
    assert f"left out: product {lonely.id} has no file" in result.output
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 3


def test_a_reader_that_stops_early_ends_the_export_quietly(source, tmp_path):
    """`export ... | head -1`: the pipe closes under the command, which stops without a traceback."""
    import subprocess
    import sys

    from proseo_odata.storage.testing import make_product

    storage, archive = source
    storage.add_products([make_product("M", archive_key=f"M/{uuid.uuid4()}/x.zip") for _ in range(300)])
    ini = write_ini(tmp_path / "site", str(storage.engine.url), archive.root)
    script = Path(sys.executable).parent / "proseo-odata"
    process = subprocess.Popen([str(script), "-c", str(ini), "export", "--mission", "M"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(process.stdout.readline())["Id"]  # one line, then the reader goes
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141, stderr
    assert b"Traceback" not in stderr and b"exported" not in stderr


def test_an_export_that_fails_midway_leaves_no_file(source, tmp_path, monkeypatch):
    import proseo_odata.export as export_module
    from proseo_odata.storage import DatabaseUnavailableError

    storage, archive = source

    def failing(storage, mission, write, **options):
        write(b'{"half": "a line"}\n')
        raise DatabaseUnavailableError("the database is unavailable")

    monkeypatch.setattr(export_module, "export_products", failing)
    ini = write_ini(tmp_path / "site", str(storage.engine.url), archive.root)
    target = tmp_path / "out" / "m.jsonl"
    target.parent.mkdir()
    result = CliRunner().invoke(main, ["-c", str(ini), "export", "--mission", "M", "-o", str(target)])
    assert result.exit_code == 1 and "the database is unavailable" in result.output
    assert list(target.parent.iterdir()) == []  # neither the file nor its .part
