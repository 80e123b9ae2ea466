"""ingest_file against real storage and a real archive: the archive write can never destroy the
file of a committed product, even when the duplicate is only noticed by the database."""
import hashlib
import uuid

import pytest

from proseo_odata.archive.local import LocalArchive
from proseo_odata.ingest import MetadataError, ingest_file
from proseo_odata.model import Mission
from proseo_odata.storage import ConflictError, NotFoundError, Query
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

PRODUCT_ID = "0a1b2c3d-0000-4000-8000-000000000001"


@pytest.fixture
def setup(tmp_path, db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    storage.initialize_schema()
    storage.add_mission(Mission("M"))
    try:
        yield storage, LocalArchive(tmp_path / "archive")
    finally:
        storage.close()


def _files(archive):
    return sorted(p.relative_to(archive.root).as_posix() for p in archive.root.rglob("*") if p.is_file())


class _BlindStorage:
    """The storage as a concurrent ingest sees it: the pre-check finds nothing (the other
    ingest commits between the check and the insert), so only the database refuses."""

    def __init__(self, storage):
        self._storage = storage

    def get_product(self, mission, product_id, **kwargs):
        raise NotFoundError(f"no product {product_id}")

    def get_product_by_name(self, mission, name):
        raise NotFoundError(f"no product {name}")

    def __getattr__(self, name):
        return getattr(self._storage, name)


@pytest.mark.parametrize("metadata", [
    {"Id": PRODUCT_ID, "Name": "P.zip"},      # PRIP output ingested twice
    {"Id": PRODUCT_ID, "Name": "Q.zip"},      # same Id, other Name
    {"Name": "P.zip"},                        # same Name, new Id
])
def test_a_racing_duplicate_never_touches_the_committed_file(setup, tmp_path, metadata):
    storage, archive = setup
    first = tmp_path / "first.bin"
    first.write_bytes(b"original bytes")
    original = ingest_file(storage, archive, "M", first, {"Id": PRODUCT_ID, "Name": "P.zip"})
    before = _files(archive)
    second = tmp_path / "second.bin"
    second.write_bytes(b"different bytes")

    with pytest.raises(MetadataError) as checked:
        ingest_file(storage, archive, "M", second, metadata)
    assert checked.value.field in ("Id", "Name") and "already exists" in str(checked.value)
    with pytest.raises(ConflictError):
        ingest_file(_BlindStorage(storage), archive, "M", second, metadata)

    assert _files(archive) == before
    kept = storage.get_product("M", original.id)
    data = b"".join(archive.iter_range(kept.archive_key))
    assert data == b"original bytes" and kept.checksum("MD5") == hashlib.md5(data).hexdigest()
    assert storage.query_products("M", Query(count=True)).count == 1


def test_each_upload_gets_its_own_key(setup, tmp_path):
    storage, archive = setup
    path = tmp_path / "p.bin"
    path.write_bytes(b"x")
    a = ingest_file(storage, archive, "M", path, {"Name": "a.bin"})
    b = ingest_file(storage, archive, "M", path, {"Name": "b.bin"})
    for product in (a, b):
        mission, product_id, token, name = product.archive_key.split("/")
        assert (mission, uuid.UUID(product_id), name) == ("M", product.id, product.name) and len(token) == 16
    assert a.archive_key != b.archive_key and len(_files(archive)) == 2
