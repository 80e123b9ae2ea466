"""Test support for archive backends, shipped so that a mission's own backend can reuse it.

* :func:`moto_s3_server` starts a real S3 API server (moto in server mode, threaded) on a free
  127.0.0.1 port and yields its URL; :func:`new_bucket_settings` creates an empty bucket there
  and returns the settings mapping of an S3 archive on it. Needs the ``test`` extra (moto).
"""
from __future__ import annotations

import contextlib
import uuid

TEST_CREDENTIALS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


@contextlib.contextmanager
def moto_s3_server():
    """Run moto's S3 server on 127.0.0.1 (a free port) for the duration of the block."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def new_bucket_settings(endpoint_url: str, **extra) -> dict:
    """Create a fresh bucket on ``endpoint_url``; return ``proseo.archive.s3.*`` settings for it."""
    import boto3

    bucket = f"proseo-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=TEST_CREDENTIALS["region"],
        aws_access_key_id=TEST_CREDENTIALS["access_key"],
        aws_secret_access_key=TEST_CREDENTIALS["secret_key"],
    )
    client.create_bucket(Bucket=bucket)
    settings = {"proseo.archive.backend": "s3", "proseo.archive.s3.endpoint_url": endpoint_url,
                "proseo.archive.s3.bucket": bucket, "proseo.archive.s3.prefix": "products"}
    for name, value in TEST_CREDENTIALS.items():
        settings[f"proseo.archive.s3.{name}"] = value
    for name, value in extra.items():
        settings[f"proseo.archive.s3.{name}"] = value
    return settings


def archive_for_backend(backend: str, folder, s3_endpoint: str | None = None, **s3_extra):
    """A fresh archive of ``backend`` (``"local"`` in ``folder``, or ``"s3"`` on a new bucket)."""
    if backend == "s3":
        from .s3 import load_from_config

        return load_from_config(new_bucket_settings(s3_endpoint, **s3_extra))
    if backend == "local":
        from .local import load_from_config

        return load_from_config({"proseo.archive.backend": "local", "proseo.archive.local.root": str(folder)})
    raise ValueError(f"unknown archive backend {backend!r}")


def store_product_file(archive, data, *, name: str, mission: str = "TEST", published=None,
                       content_type: str = "application/zip", **product_fields):
    """Archive ``data`` (bytes, or the path of a file) and return an (unsaved)
    :class:`~proseo_odata.model.Product` for it, with its MD5 and SHA256 checksums as the
    archive computed them."""
    import io

    from proseo_odata.model import Checksum, Product, utcnow

    product = Product(mission=mission, name=name, content_type=content_type,
                      publication_date=published or utcnow(), **product_fields)
    key = f"{mission}/{product.id}/{name}"
    if isinstance(data, (bytes, bytearray)):
        size, md5, sha256 = archive.put_stream(key, io.BytesIO(data), content_type=content_type)
    else:
        with open(data, "rb") as stream:
            size, md5, sha256 = archive.put_stream(key, stream, content_type=content_type)
    product.archive_key = key
    product.content_length = size
    product.checksums = [Checksum("MD5", md5, product.publication_date),
                         Checksum("SHA256", sha256, product.publication_date)]
    return product
