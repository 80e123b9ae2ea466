"""Product files in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...).

Settings (all under ``proseo.archive.s3.``):

``bucket`` (required), ``prefix`` (key prefix, default empty), ``endpoint_url`` (for non-AWS
stores), ``region``, ``access_key`` / ``secret_key`` (else boto3's usual credential chain),
``presign`` (bool: downloads answer ``307`` to a pre-signed URL instead of streaming through),
``presign_expiry`` (seconds, default 3600), ``part_size`` (multipart part size in bytes,
default 8 MiB; S3 requires at least 5 MiB for all but the last part), ``connect_timeout`` and
``read_timeout`` (seconds, default 5 and 20: each wait on the store, retried three times in all).
A store that cannot be reached, times out or answers 5xx raises
:class:`~proseo_odata.archive.ArchiveUnavailableError` (a download answers ``503``).

Uploads read the source once, computing MD5 and SHA-256 while sending; files larger than one
part go up as a multipart upload, so at most one part is held in memory. Reads are ranged
``GetObject`` calls whose body is streamed in chunks.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

from proseo_odata.config import as_bool, number_setting

from . import ArchiveBase, ArchiveError, ArchiveUnavailableError, HashingReader, StoredFile, content_disposition

PREFIX = "proseo.archive.s3."
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024
CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    presign: bool = False
    presign_expiry: int = 3600
    part_size: int = DEFAULT_PART_SIZE
    connect_timeout: float = 5.0
    read_timeout: float = 20.0

    @classmethod
    def from_settings(cls, settings) -> "S3Settings":
        def get(name, default=None):
            value = settings.get(PREFIX + name, default)
            return value if value not in ("",) else default

        bucket = get("bucket")
        if not bucket:
            raise ArchiveError(f"setting {PREFIX}bucket is required for the S3 archive")
        part_size = _number(settings, "part_size", DEFAULT_PART_SIZE, int, ok=lambda n: n >= MIN_PART_SIZE,
                            needs=f"at least {MIN_PART_SIZE} bytes")
        presign_expiry = _number(settings, "presign_expiry", 3600, int, ok=lambda n: 1 <= n <= 604_800,
                                 needs="1 to 604800 seconds (7 days)")
        return cls(
            bucket=bucket,
            prefix=(get("prefix", "") or "").strip("/"),
            endpoint_url=get("endpoint_url"),
            region=get("region"),
            access_key=get("access_key"),
            secret_key=get("secret_key"),
            presign=as_bool(get("presign"), key="proseo.archive.s3.presign"),
            presign_expiry=presign_expiry,
            part_size=part_size,
            connect_timeout=_number(settings, "connect_timeout", 5.0, **_TIMEOUT),
            read_timeout=_number(settings, "read_timeout", 20.0, **_TIMEOUT),
        )


#: The timeouts' range (seconds).
_TIMEOUT = {"ok": lambda n: 0 < n <= 3600, "needs": "a number of seconds from 0 to 3600"}


def _number(settings, name: str, default, kind=float, **check):
    """:func:`proseo_odata.config.number_setting` of ``proseo.archive.s3.<name>``, its error an
    :class:`ArchiveError`."""
    try:
        return number_setting(settings, PREFIX + name, default, kind, **check)
    except ValueError as exc:
        raise ArchiveError(str(exc)) from None


@contextlib.contextmanager
def _reachable(what: str):
    """Turn the errors of an object store that cannot be reached now (no connection, a timeout,
    its own 5xx answer) into :class:`ArchiveUnavailableError`."""
    try:
        yield
    except (BotoConnectionError, HTTPClientError) as exc:
        raise ArchiveUnavailableError(f"the archive cannot be reached ({what}: {type(exc).__name__})") from exc
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status >= 500:
            raise ArchiveUnavailableError(f"the archive cannot be reached ({what}: HTTP {status})") from exc
        raise


class S3Archive(ArchiveBase):
    """The archive contract (:class:`~proseo_odata.archive.ArchiveBase`) on an S3 bucket."""

    def __init__(self, config: S3Settings, client=None):
        self.config = config
        self.client = client or boto3.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"},
                          connect_timeout=config.connect_timeout, read_timeout=config.read_timeout),
        )

    @property
    def bucket(self) -> str:
        return self.config.bucket

    @property
    def presign(self) -> bool:
        return self.config.presign

    def object_key(self, key: str) -> str:
        key = key.lstrip("/")
        return f"{self.config.prefix}/{key}" if self.config.prefix else key

    # -- writing ---------------------------------------------------------------------------
    def put_stream(self, key: str, stream, content_type: str | None = None) -> StoredFile:
        extra = {"ContentType": content_type} if content_type else {}
        object_key = self.object_key(key)
        part_size = self.config.part_size
        reader = HashingReader(stream)
        first = _read_exactly(reader, part_size)
        if len(first) < part_size:  # fits in one request
            self.client.put_object(Bucket=self.bucket, Key=object_key, Body=first, **extra)
            return reader.result()
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=object_key, **extra)["UploadId"]
        parts, number, chunk = [], 1, first
        try:
            while chunk:
                answer = self.client.upload_part(
                    Bucket=self.bucket, Key=object_key, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
                number += 1
                chunk = _read_exactly(reader, part_size)
            # Only a completed multipart upload becomes visible: a failure leaves no object.
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=object_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=object_key, UploadId=upload_id)
            raise
        return reader.result()

    # -- reading ---------------------------------------------------------------------------
    def iter_range(self, key: str, start: int = 0, length: int | None = None, chunk_size: int = CHUNK_SIZE):
        """Yield the bytes ``start .. start+length-1`` (to the end when ``length`` is None)."""
        if length == 0:
            return
        request = {"Bucket": self.bucket, "Key": self.object_key(key)}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            request["Range"] = f"bytes={start}-{end}"
        try:
            with _reachable("GetObject"):
                body = self.client.get_object(**request)["Body"]
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        try:
            with _reachable("GetObject"):
                yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def open(self, key: str):
        """The object's body as a readable stream (botocore ``StreamingBody``); close it."""
        try:
            with _reachable("GetObject"):
                return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise

    def exists(self, key: str) -> bool:
        try:
            with _reachable("HeadObject"):
                self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def size(self, key: str) -> int:
        try:
            with _reachable("HeadObject"):
                answer = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        return int(answer["ContentLength"])

    def delete(self, key: str) -> bool:
        """Remove the object; True when it existed. Deleting a missing key is not an error."""
        existed = self.exists(key)
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        return existed

    def presigned_url(self, key: str, filename: str | None = None, content_type: str | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": self.object_key(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        if content_type:
            params["ResponseContentType"] = content_type
        return self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.config.presign_expiry
        )

    def list_files(self, prefix: str = ""):
        """See :meth:`ArchiveBase.list_files`: the bucket's objects under the configured prefix
        and ``prefix`` (``ListObjectsV2``, page by page), in key order. Uploads never completed
        are not objects (see ``list_multipart_uploads``)."""
        from . import ArchivedFile

        strip = len(self.object_key(""))  # the configured prefix and its "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.object_key(prefix))
        for page in pages:
            for item in page.get("Contents", ()):
                yield ArchivedFile(item["Key"][strip:], int(item["Size"]), item["LastModified"])

    def list_unfinished(self, prefix: str = ""):
        """See :meth:`ArchiveBase.list_unfinished`: the bucket's multipart uploads under the
        configured prefix and ``prefix`` (``ListMultipartUploads``, page by page)."""
        from . import UnfinishedUpload

        strip = len(self.object_key(""))
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=self.object_key(prefix))
        for page in pages:
            for item in page.get("Uploads", ()):
                yield UnfinishedUpload(item["Key"][strip:], item["Initiated"], item["UploadId"])

    def abort_unfinished(self, upload) -> None:
        self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.object_key(upload.key), UploadId=upload.upload_id)


def _read_exactly(stream, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads (pipes, sockets)."""
    pieces, wanted = [], size
    while wanted > 0:
        piece = stream.read(wanted)
        if not piece:
            break
        pieces.append(piece)
        wanted -= len(piece)
    return b"".join(pieces)


def _is_missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def load_from_config(settings) -> S3Archive:
    """Build the S3 archive from a plain settings mapping (the .ini's ``[app:main]`` section)."""
    return S3Archive(S3Settings.from_settings(settings))
