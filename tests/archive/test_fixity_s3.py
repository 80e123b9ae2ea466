"""Fixity on an S3 archive (a real S3 API server, moto, on 127.0.0.1): a product whose object
was deleted is missing, one whose object was overwritten with other bytes of the same size is
found by its checksums; the sound one is never listed."""
from proseo_odata.fixity import check_products
from proseo_odata.ingest import ingest_file


def test_fixity_on_s3(s3_site):
    storage, archive, source = s3_site
    products = {name: ingest_file(storage, archive, "M", str(source), {"Name": name})
                for name in ("SOUND.zip", "GONE.zip", "CHANGED.zip")}
    archive.delete(products["GONE.zip"].archive_key)
    changed = archive.object_key(products["CHANGED.zip"].archive_key)
    archive.client.put_object(Bucket=archive.bucket, Key=changed, Body=b"S3" * 40)

    found = []
    report = check_products(storage, archive, "M", found=found.append, workers=3)
    assert [(f.name, f.problem) for f in found] == [("GONE.zip", "missing")]
    assert report.checked == 3

    found.clear()
    report = check_products(storage, archive, "M", found=found.append, checksums=True)
    assert sorted((f.name, f.problem) for f in found) == [("CHANGED.zip", "checksum"), ("GONE.zip", "missing")]
    assert (report.read, report.bytes_read) == (2, 160)
