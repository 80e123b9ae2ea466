"""Quicklooks: found when a file is archived (proseo_odata.nodes.find_quicklook), and for products
stored without one by `proseo-odata archive quicklooks` (proseo_odata.quicklooks), on both
databases with a real archive folder."""
import dataclasses
import hashlib
import io
import json
import uuid
import zipfile

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from migration_steps import migrate
from site_ini import write_ini

from proseo_odata.archive.local import LocalArchive
from proseo_odata.archive.testing import s2_l1c_zip
from proseo_odata.cli import main
from proseo_odata.ingest import ingest_file, ingest_manifest
from proseo_odata.model import NO_QUICKLOOK, Mission
from proseo_odata.nodes import Node, archived_quicklook, find_quicklook
from proseo_odata.quicklooks import find_quicklooks
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage


def _tree(*paths: str) -> Node:
    root = Node("P.zip", children={})
    for path in paths:
        folder = root
        *parents, name = path.split("/")
        for part in parents:
            folder = folder.children.setdefault(part, Node(part, children={}))
        folder.children[name] = Node(name, size=1)
    return root


@pytest.mark.parametrize("paths, expected", [
    (("manifest.safe", "preview/quick-look.png"), "preview/quick-look.png"),  # Sentinel-1
    (("a/b/quicklook.png", "z/QuickLook.JPG"), "z/QuickLook.JPG"),  # the shallowest, any letter case
    (("b/quicklook.png", "a/quicklook.jpg"), "a/quicklook.jpg"),  # one depth: the first by path
    (("S2B_X-ql.jpg", "preview/quick-look.png"), "S2B_X-ql.jpg"),
    (("preview/thumbnail.png", "quicklook.png/readme.txt", "notquicklook.pngx"), None),  # a folder is no picture
    ((), None),
])
def test_find_quicklook_takes_the_shallowest_picture_of_a_known_name(paths, expected):
    assert find_quicklook(_tree(*paths)) == expected


def _zip(entries: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


def test_archived_quicklook_reads_the_zip_and_never_fails(tmp_path, caplog):
    archive = LocalArchive(tmp_path / "archive")
    cases = {
        "safe": (_zip({"X.SAFE/manifest.safe": b"m", "X.SAFE/preview/quick-look.png": b"png"}), "preview/quick-look.png"),
        "plain": (b"not a zip" * 10, NO_QUICKLOOK),  # searched: none
        # an end record pointing outside the file: its nodes are not served, whenever it is read:
        # searched, none
        "damaged": (b"PK\x05\x06" + b"\x00" * 4 + b"\x01\x00\x01\x00" + b"\x2e\x00\x00\x00" + b"\xff" * 4 + b"\x00\x00",
                    NO_QUICKLOOK),
    }
    for key, (data, expected) in cases.items():
        archive.put_stream(key, io.BytesIO(data))
        assert archived_quicklook(archive, key, len(data), f"{key}.zip") == expected, key
    assert archived_quicklook(archive, "absent", 100, "absent.zip") is None  # not read: not searched
    assert "absent.zip" in caplog.text and "was not searched for a quicklook" in caplog.text


def _referenced_line(archive, key: str, data: bytes) -> dict:
    """A by-reference manifest line with size and checksums: the ingest does not read the file."""
    archive.put_stream(key, io.BytesIO(data))
    return {"archive_key": key, "Name": key.rsplit("/", 1)[-1], "ContentLength": len(data), "Checksum": [
        {"Algorithm": "MD5", "Value": hashlib.md5(data).hexdigest()},
        {"Algorithm": "SHA256", "Value": hashlib.sha256(data).hexdigest()}],
        "Attributes": [{"Name": "productType", "ValueType": "String", "Value": "S2MSI1C"},
                       {"Name": "cloudCover", "ValueType": "Double", "Value": 12.5}]}


def test_find_quicklooks_records_those_of_products_stored_without(site, tmp_path):
    storage, archive = site
    manifest = tmp_path / "manifest.jsonl"
    lines = [_referenced_line(archive, f"M/ref/R{i}.zip", s2_l1c_zip()) for i in range(5)]
    lines.append(_referenced_line(archive, "M/ref/PLAIN.bin", b"no zip"))
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert ingest_manifest(storage, archive, "M", manifest, parsers=0).ingested == 6
    source = tmp_path / "INGESTED.zip"
    source.write_bytes(s2_l1c_zip())
    ingested = ingest_file(storage, archive, "M", source)
    assert ingested.quicklook == "quicklook.png"
    assert [storage.get_product_by_name("M", f"R{i}.zip").quicklook for i in range(5)] == [None] * 5
    # registered by reference, then lost from the archive
    manifest.write_text(json.dumps(_referenced_line(archive, "M/ref/GONE.zip", s2_l1c_zip())) + "\n")
    assert ingest_manifest(storage, archive, "M", manifest, parsers=0).ingested == 1
    archive.delete("M/ref/GONE.zip")
    before = {p.name: p for p in storage.query_products("M", _everything()).items}
    revisions = {name: p.revision for name, p in before.items()}
    version = _catalogue_version(storage)

    report = find_quicklooks(storage, archive, "M", page_size=2, workers=2)
    # INGESTED.zip was searched when it was ingested; GONE.zip cannot be read (nothing recorded)
    assert dataclasses.astuple(report) == (7, 5, 1, 1, 0)  # looked, found, none, unreadable, changed
    products = {p.name: p for p in storage.query_products("M", _everything()).items}
    assert {name: p.quicklook for name, p in products.items()} == {
        **{f"R{i}.zip": "quicklook.png" for i in range(5)}, "PLAIN.bin": NO_QUICKLOOK, "GONE.zip": None,
        "INGESTED.zip": "quicklook.png"}
    # only the products given one were written with a new revision (PLAIN.bin's "searched,
    # none" changes nothing a client sees), and nothing else of them changed
    assert {name for name, p in products.items() if p.revision != revisions[name]} == {f"R{i}.zip" for i in range(5)}
    for name in revisions:
        assert dataclasses.replace(products[name], revision=0, quicklook=None) == dataclasses.replace(
            before[name], revision=0, quicklook=None), name
    assert products["R0.zip"].attribute("cloudCover").value == 12.5
    assert _catalogue_version(storage) > version
    # again: only the file that could not be read is looked at; with again, PLAIN.bin too,
    # which still has none: nothing is written
    assert dataclasses.astuple(find_quicklooks(storage, archive, "M")) == (1, 0, 0, 1, 0)
    version = _catalogue_version(storage)
    assert dataclasses.astuple(find_quicklooks(storage, archive, "M", again=True)) == (2, 0, 1, 1, 0)
    assert _catalogue_version(storage) == version
    assert storage.get_product_by_name("M", "PLAIN.bin").revision == revisions["PLAIN.bin"]


def _catalogue_version(storage) -> int:
    from proseo_odata.storage.schema import catalogue_versions

    with storage.engine.connect() as connection:
        return connection.execute(sa.select(catalogue_versions.c.version).where(catalogue_versions.c.mission == "M")).scalar_one()


def _everything():
    from proseo_odata.storage import Query

    return Query(top=100, expand=frozenset({"Attributes"}))


def test_the_command_finds_quicklooks_after_the_upgrade(migrated_sqlite_url, tmp_path):
    """A catalogue of schema revision 0014 (no quicklook column), upgraded by initdb, then
    `archive quicklooks` gives its products theirs."""
    from alembic import command

    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    archive = LocalArchive(tmp_path / "archive")
    try:
        storage.add_mission(Mission("M"))
        source = tmp_path / "OLD.zip"
        source.write_bytes(s2_l1c_zip())
        ingest_file(storage, archive, "M", source)
        migrate(storage.engine, command.downgrade, "0014_published_until")  # what an older version stored
    finally:
        storage.close()
    ini = write_ini(tmp_path / "site", migrated_sqlite_url, archive.root)
    runner = CliRunner()
    assert runner.invoke(main, ["-c", str(ini), "initdb"]).exit_code == 0
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        assert storage.get_product_by_name("M", "OLD.zip").quicklook is None
    finally:
        storage.close()
    result = runner.invoke(main, ["-c", str(ini), "archive", "quicklooks", "--mission", "M"])
    assert (result.exit_code, result.stdout) == (0, ""), result.output
    assert result.stderr.strip() == "1 product file(s) of mission M searched: 1 quicklook(s) recorded, 0 without one"
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        assert storage.get_product_by_name("M", "OLD.zip").quicklook == "quicklook.png"
    finally:
        storage.close()
    result = runner.invoke(main, ["-c", str(ini), "archive", "quicklooks", "--mission", "M", "--filter", "Name eq 'x'"])
    assert result.stderr.strip() == "0 product file(s) of mission M searched: 0 quicklook(s) recorded, 0 without one"
    # a file searched without one (ingested now) is read again only when asked: --again
    plain = tmp_path / "PLAIN.bin"
    plain.write_bytes(b"no zip")
    assert runner.invoke(main, ["-c", str(ini), "ingest", "--mission", "M", str(plain)]).exit_code == 0
    result = runner.invoke(main, ["-c", str(ini), "archive", "quicklooks", "--mission", "M"])
    assert result.stderr.strip() == "0 product file(s) of mission M searched: 0 quicklook(s) recorded, 0 without one"
    result = runner.invoke(main, ["-c", str(ini), "archive", "quicklooks", "--mission", "M", "--again"])
    assert result.stderr.strip() == "1 product file(s) of mission M searched: 0 quicklook(s) recorded, 1 without one"


@pytest.mark.parametrize("parsers", [0, 1])
def test_a_manifest_line_gives_the_quicklook_of_a_file_not_read(site, tmp_path, parsers):
    """What an export writes (`"quicklook"`: a path, or "" for a file searched without one) is
    kept by reference when the file is not read; a file that is read has its own looked for; a
    value that is no node path fails its line."""
    storage, archive = site
    lines = [
        {**_referenced_line(archive, "M/a/KEPT.zip", b"not read"), "quicklook": "preview/quick-look.png"},
        {**_referenced_line(archive, "M/a/NONE.zip", b"not read"), "quicklook": ""},
        {"archive_key": "M/a/READ.zip", "Name": "READ.zip", "quicklook": "given/but-read.png"},
        *({**_referenced_line(archive, f"M/a/BAD{i}.zip", b"x"), "quicklook": bad}
          for i, bad in enumerate(["../up.png", "a//b.png", 7, "a\nb.png", "x" * 1025])),
    ]
    archive.put_stream("M/a/READ.zip", io.BytesIO(s2_l1c_zip()))
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = ingest_manifest(storage, archive, "M", manifest, parsers=parsers)
    assert report.ingested == 3
    assert [line for line, _ in report.failed] == list(range(4, 9)), report.failed
    assert all("quicklook" in error for _, error in report.failed), report.failed
    assert storage.get_product_by_name("M", "KEPT.zip").quicklook == "preview/quick-look.png"
    assert storage.get_product_by_name("M", "NONE.zip").quicklook == NO_QUICKLOOK
    assert storage.get_product_by_name("M", "READ.zip").quicklook == "quicklook.png"


def test_a_name_an_export_cannot_carry_is_no_quicklook(migrated_sqlite_url, tmp_path):
    """A ZIP entry may be named with a control character; such a name is not taken (a manifest's
    "quicklook" refuses it), so the export -> import round trip keeps every product."""
    from proseo_odata.export import export_products

    archive = LocalArchive(tmp_path / "archive")
    source = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    target = SQLAlchemyStorage.from_url(f"sqlite:///{tmp_path / 'target.db'}")
    target.initialize_schema()
    try:
        for storage in (source, target):
            storage.add_mission(Mission("M"))
        path = tmp_path / "P.zip"
        path.write_bytes(_zip({"X.SAFE/a/scene\tA_ql.png": b"picture", "X.SAFE/b/Z_ql.png": b"png",
                               "X.SAFE/manifest.safe": b"m"}))
        product = ingest_file(source, archive, "M", path)
        assert product.quicklook == "b/Z_ql.png"  # the next one at that depth
        manifest = tmp_path / "export.jsonl"
        with manifest.open("wb") as out:
            export_products(source, "M", out.write)
        report = ingest_manifest(target, archive, "M", manifest, parsers=0)
        assert (report.ingested, report.failed) == (1, [])
        assert target.get_product("M", product.id) == source.get_product("M", product.id)
    finally:
        source.close()
        target.close()


TRIGGERS = {"products_extent_update", "products_extent_delete"}  # migration 0012's (SQLite)


def _triggers(engine):
    with engine.connect() as connection:
        return {row[0] for row in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")}


def test_migration_0015_keeps_the_footprint_index_triggers_both_ways(migrated_sqlite_url):
    """SQLite: the column is added and dropped in place, never by rebuilding ``products``, which
    would lose the triggers that keep the footprint index in step."""
    from alembic import command

    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        assert TRIGGERS <= _triggers(storage.engine)
        migrate(storage.engine, command.downgrade, "0014_published_until")
        assert TRIGGERS <= _triggers(storage.engine)
        assert "quicklook" not in {c["name"] for c in sa.inspect(storage.engine).get_columns("products")}
        migrate(storage.engine, command.upgrade, "head")
        assert TRIGGERS <= _triggers(storage.engine)
        assert "quicklook" in {c["name"] for c in sa.inspect(storage.engine).get_columns("products")}
    finally:
        storage.close()


class _CountingArchive(LocalArchive):
    """A local archive that counts the ranged reads made of it."""

    ranged_reads = 0

    def iter_range(self, *args, **kwargs):
        type(self).ranged_reads += 1
        return super().iter_range(*args, **kwargs)


def test_a_copied_file_is_searched_where_it_is_not_read_back_from_the_archive(site, tmp_path):
    """ingest and ingest --manifest find the quicklook in the local file they archived (on S3 a
    read back would cost two ranged reads a product); a by-reference file is read in the archive."""
    storage, _ = site
    archive = _CountingArchive(tmp_path / "counted")
    source = tmp_path / "ONE.zip"
    source.write_bytes(s2_l1c_zip())
    assert ingest_file(storage, archive, "M", source).quicklook == "quicklook.png"
    lines = []
    for i in range(3):
        path = tmp_path / f"MANY_{i}.zip"
        path.write_bytes(s2_l1c_zip())
        lines.append({"file": str(path)})
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert ingest_manifest(storage, archive, "M", manifest, parsers=0).ingested == 3
    assert [storage.get_product_by_name("M", f"MANY_{i}.zip").quicklook for i in range(3)] == ["quicklook.png"] * 3
    assert _CountingArchive.ranged_reads == 0


@pytest.fixture
def built_in_names():
    """The process's quicklook names put back after a test that configures others."""
    from proseo_odata.config import configure

    yield
    configure({})


def test_the_names_are_a_setting(built_in_names, tmp_path):
    """``proseo.quicklook.names``: a mission's own names (a Sentinel-2 SAFE's preview, say), or
    none at all; applied process-wide by configure(), as the command line and the web app do."""
    from proseo_odata.config import configure
    from proseo_odata.model.quicklook_names import QUICKLOOK_NAMES, quicklook_names

    tree = _tree("preview/quick-look.png", "QI_DATA/T32TQR_PVI.jp2", "browse/BROWSE.PNG")
    assert find_quicklook(tree) == "preview/quick-look.png"
    configure({"proseo.quicklook.names": "*_PVI.jp2, browse.png"})
    assert quicklook_names() == ("*_pvi.jp2", "browse.png")
    assert find_quicklook(tree) == "QI_DATA/T32TQR_PVI.jp2"  # one depth: the first by path
    configure({"proseo.quicklook.names": "none"})
    assert find_quicklook(tree) is None
    archive = LocalArchive(tmp_path / "archive")
    archive.put_stream("k", io.BytesIO(s2_l1c_zip()))
    assert archived_quicklook(archive, "k", archive.size("k"), "k.zip") == NO_QUICKLOOK
    configure({"proseo.quicklook.names": " "})  # empty: the built-in names
    assert quicklook_names() == QUICKLOOK_NAMES
    with pytest.raises(ValueError, match="proseo.quicklook.names"):
        configure({"proseo.quicklook.names": "x" * 256})


def test_the_command_line_reads_the_names_from_its_ini(migrated_sqlite_url, tmp_path, built_in_names):
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        storage.add_mission(Mission("M"))
    finally:
        storage.close()
    ini = write_ini(tmp_path / "site", migrated_sqlite_url, tmp_path / "archive")
    ini.write_text(ini.read_text().replace("[app:main]\n", "[app:main]\nproseo.quicklook.names = *_pvi.jp2\n", 1))
    source = tmp_path / "S2A_X.zip"
    source.write_bytes(_zip({"S2A_X.SAFE/quicklook.png": b"png", "S2A_X.SAFE/QI_DATA/S2A_X_PVI.jp2": b"jp2"}))
    result = CliRunner().invoke(main, ["-c", str(ini), "ingest", "--mission", "M", str(source)])
    assert result.exit_code == 0, result.output
    storage = SQLAlchemyStorage.from_url(migrated_sqlite_url)
    try:
        assert storage.get_product_by_name("M", "S2A_X.zip").quicklook == "QI_DATA/S2A_X_PVI.jp2"
    finally:
        storage.close()


def test_the_default_record_quicklooks_reads_and_writes_each_product_whole(site, tmp_path):
    """StorageBase's default (for a backend without the one-column update), on the SQLAlchemy
    backend's reads and writes: the same outcomes as its own."""
    from proseo_odata.storage import QuicklookSearch
    from proseo_odata.storage.base import StorageBase

    storage, archive = site
    source = tmp_path / "D.bin"
    source.write_bytes(b"no zip")
    product = ingest_file(storage, archive, "M", source, {"Attributes": [
        {"Name": "cloudCover", "ValueType": "Double", "Value": 3.5}]})
    assert product.quicklook == NO_QUICKLOOK  # searched when ingested
    key = product.archive_key
    assert StorageBase.record_quicklooks(storage, "M", [
        QuicklookSearch(product.id, key, "a.png"),  # not searched: it was
        QuicklookSearch(product.id, "M/another/key", "a.png", NO_QUICKLOOK),  # another file
        QuicklookSearch(uuid.uuid4(), key, "a.png", NO_QUICKLOOK),  # none such
        QuicklookSearch(product.id, key, "a.png", NO_QUICKLOOK),
        QuicklookSearch(product.id, key, "b.png", NO_QUICKLOOK),  # it has one now
    ]) == [False, False, False, True, False]
    after = storage.get_product("M", product.id)
    assert (after.quicklook, after.attribute("cloudCover").value) == ("a.png", 3.5)
