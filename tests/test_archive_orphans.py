"""Orphan files (proseo_odata.orphans): files the service wrote that no product names any more,
on both databases and a real archive folder, made the ways they are made (a product row removed
while its file stays, an interrupted write's temporary file) beside files that must never be
listed (named by a product, registered by reference, put there by an operator, too young)."""
import json
import os
import time
import uuid

from proseo_odata.ingest import ingest_file, ingest_manifest
from proseo_odata.orphans import find_orphans, remove_orphans

TWO_DAYS = 2 * 24 * 3600


def _age(archive, key, seconds=TWO_DAYS):
    path = archive.path_for(key)
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def _put(archive, key, data=b"data"):
    path = archive.path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def make_site_with_orphans(storage, archive, tmp_path):
    """The archive's keys: {what it is: key}."""
    source = tmp_path / "P.zip"
    source.write_bytes(b"p" * 100)
    kept = ingest_file(storage, archive, "M", str(source), {"Name": "KEPT.zip"})
    gone = ingest_file(storage, archive, "M", str(source), {"Name": "GONE.zip"})
    storage.delete_product("M", gone.id)  # the row removed, the file left (eviction's failed delete)
    referenced = f"M/{uuid.uuid4()}/feed/REF.zip"  # an upload key's form, registered by reference
    _put(archive, referenced, b"r" * 10)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"archive_key": referenced, "Name": "REF.zip"}) + "\n")
    assert ingest_manifest(storage, archive, "M", manifest, parsers=0).ingested == 1
    keys = {
        "kept": kept.archive_key,
        "gone": gone.archive_key,
        "referenced": referenced,
        "partial": f"M/{uuid.uuid4()}/0a1b/.part-x1y2.tmp",
        "operator's": "M/incoming/2026/AUX.nc",
        "other mission": f"Z/{uuid.uuid4()}/t/Z.zip",
        "young": f"M/{uuid.uuid4()}/t/YOUNG.zip",
    }
    for what, key in keys.items():
        if not archive.exists(key):
            _put(archive, key)
        if what != "young":
            _age(archive, key)
    return keys


def test_orphans_are_the_old_unnamed_files_the_service_made(site, tmp_path):
    storage, archive = site
    keys = make_site_with_orphans(storage, archive, tmp_path)
    assert sorted(f.key for f in find_orphans(storage, archive)) == sorted([keys["gone"], keys["partial"]])
    from datetime import timedelta

    everything = find_orphans(storage, archive, older_than=timedelta(0))
    assert sorted(f.key for f in everything) == sorted([keys["gone"], keys["partial"], keys["young"]])
    assert [f.key for f in find_orphans(storage, archive, prefix="M/incoming/")] == []
    gone = [f for f in find_orphans(storage, archive) if f.key == keys["gone"]]
    assert gone[0].size == 100


def test_removing_orphans_leaves_every_other_file(site, tmp_path):
    storage, archive = site
    keys = make_site_with_orphans(storage, archive, tmp_path)
    listed = []
    report = remove_orphans(storage, archive, remove=False, found=listed.append)
    assert sorted(f.key for f in listed) == sorted([keys["gone"], keys["partial"]]) and report.removed == 0
    assert all(archive.exists(key) for key in keys.values())  # a dry run removes nothing
    refused = remove_orphans(storage, archive, max_remove=1)  # a lost catalogue's look, in small
    assert refused.refused and refused.removed == 0 and len(refused.files) == 2
    assert all(archive.exists(key) for key in keys.values())
    report = remove_orphans(storage, archive, max_remove=2)
    assert not report.refused
    assert (report.removed, report.errors, report.bytes) == (2, [], 100 + 4)
    assert [what for what, key in keys.items() if not archive.exists(key)] == ["gone", "partial"]
    assert not archive.path_for(keys["gone"]).parent.exists()  # its empty folders too
    assert list(find_orphans(storage, archive)) == []
    kept = storage.get_product_by_name("M", "KEPT.zip")
    assert archive.size(kept.archive_key) == kept.content_length  # downloads still work


def test_a_file_named_while_the_archive_was_listed_stays(site, tmp_path):
    """The catalogue is asked again just before the removal: a file an ingest registered by
    reference after it was listed (here: from the listing's own callback) is not removed."""
    storage, archive = site
    keys = make_site_with_orphans(storage, archive, tmp_path)
    manifest = tmp_path / "again.jsonl"
    manifest.write_text(json.dumps({"archive_key": keys["gone"], "Name": "GONE-AGAIN.zip"}) + "\n")

    def register(item):
        if item.key == keys["gone"]:
            assert ingest_manifest(storage, archive, "M", manifest, parsers=0).ingested == 1

    report = remove_orphans(storage, archive, found=register)
    assert sorted(f.key for f in report.files) == sorted([keys["gone"], keys["partial"]])  # both listed
    assert report.removed == 1 and archive.exists(keys["gone"]) and not archive.exists(keys["partial"])


def test_a_products_file_whose_name_looks_like_a_temporary_one_is_no_orphan(site, tmp_path):
    """A product Named ``.part-...`` (published by a workflow before such names were refused):
    its file was taken for an interrupted write's and removed, its product's only copy."""
    from datetime import timedelta

    from proseo_odata.archive.testing import store_product_file

    storage, archive = site
    product = storage.add_product(store_product_file(archive, b"precious", name=".part-REV_output.zip", mission="M"))
    _age(archive, product.archive_key)
    partial = f"M/{uuid.uuid4()}/.part-abcd1234.tmp"
    _put(archive, partial)
    _age(archive, partial)
    assert [f.key for f in find_orphans(storage, archive, older_than=timedelta(0))] == [partial]
    report = remove_orphans(storage, archive, older_than=timedelta(0))
    assert report.removed == 1 and archive.exists(product.archive_key) and not archive.exists(partial)
