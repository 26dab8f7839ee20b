"""Where photo bytes live: a directory (the default, ``.data/media/``) or an S3-compatible bucket.

Content-addressed: a blob's key is the SHA-256 of its bytes (``ab/abcdef….jpg``), so writing the same bytes
twice stores them once, a key never changes meaning, and a half-written file is never seen under its key (the
directory backend writes ``key.partial`` and renames). The database holds keys only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

from api.core.config import Settings
from api.core.errors import NotFound

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def content_key(data: bytes, content_type: str) -> str:
    """The key of ``data``: its SHA-256, fanned out by the first two hex digits.

    >>> content_key(b"", "image/png")
    'e3/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.png'
    """
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest}.{EXTENSIONS[content_type]}"


def content_type_of(key: str) -> str:
    """The type a key's extension stands for.

    >>> content_type_of("ab/ab12.webp")
    'image/webp'
    """
    ext = key.rsplit(".", 1)[-1]
    return next((t for t, e in EXTENSIONS.items() if e == ext), "application/octet-stream")


class Storage(Protocol):
    """The two operations the media service needs; both backends are interchangeable."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...


class DirectoryStorage:
    """Blobs as files under ``root`` (GRIDMAP_MEDIA_DIR; backups copy this tree, api/ops/backup.py)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise NotFound(f"no media blob {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path(key)
        if path.exists():  # content-addressed: the same key holds the same bytes
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        partial.replace(path)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"the media blob {key} is missing from storage") from None


class S3Storage:
    """Blobs as objects of an S3-compatible bucket (MinIO, Ceph RGW, a cloud's object storage), via boto3."""

    def __init__(self, *, bucket: str, endpoint_url: str | None, access_key: str | None, secret_key: str | None,
                 region: str | None, prefix: str = "") -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            region_name=region or "us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}))

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"the media blob {key} is missing from storage") from None
            raise


def make_storage(settings: Settings) -> Storage:
    """The backend the settings name (``GRIDMAP_MEDIA_BACKEND``: ``directory`` or ``s3``)."""
    if settings.media_backend == "s3":
        if not settings.media_s3_bucket:
            raise ValueError("GRIDMAP_MEDIA_BACKEND=s3 needs GRIDMAP_MEDIA_S3_BUCKET")
        return S3Storage(bucket=settings.media_s3_bucket, endpoint_url=settings.media_s3_endpoint,
                         access_key=settings.media_s3_access_key, secret_key=settings.media_s3_secret_key,
                         region=settings.media_s3_region, prefix=settings.media_s3_prefix)
    return DirectoryStorage(settings.media_dir or settings.data_dir / "media")
