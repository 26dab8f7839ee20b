"""The two storage backends and backups of the photos.

The S3 backend is tested against a real HTTP server speaking the S3 protocol: moto's server mode (``moto_server``,
from the moto[server] dev dependency), started here as a separate process on a free port; boto3 talks to it
over HTTP exactly as to MinIO or a cloud bucket (signatures, path-style addressing, error codes)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.core.config import get_settings
from api.core.errors import NotFound
from api.media import service
from api.media.storage import DirectoryStorage, S3Storage, content_key
from api.ops.backup import backup_media, media_file, restore_media
from tests.api.media.images import encode, phone_jpeg, picture

pytestmark = pytest.mark.usefixtures("quiet_app")
BUCKET = "gridmap-media"


def test_directory_storage_is_content_addressed_and_refuses_paths_out(tmp_path: Path) -> None:
    store = DirectoryStorage(tmp_path)
    data = encode(picture(10, 10), "PNG")
    key = content_key(data, "image/png")
    store.put(key, data, "image/png")
    store.put(key, data, "image/png")  # the same bytes again: nothing changes
    assert store.get(key) == data and [p.name for p in tmp_path.rglob("*") if p.is_file()] == [key.split("/")[1]]
    with pytest.raises(NotFound):
        store.get("../../etc/passwd")
    with pytest.raises(NotFound):
        store.get("ab/" + "0" * 64 + ".png")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    if not Path(server).exists():
        pytest.skip("moto_server (pip install 'moto[server]') is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("moto_server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint: str) -> S3Storage:
    store = S3Storage(bucket=BUCKET, endpoint_url=s3_endpoint, access_key="test", secret_key="test",
                      region="us-east-1", prefix="photos/")
    try:
        store.client.create_bucket(Bucket=BUCKET)
    except store.client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return store


def test_s3_storage_puts_and_gets_over_http(s3: S3Storage) -> None:
    data = encode(picture(12, 12), "WEBP")
    key = content_key(data, "image/webp")
    s3.put(key, data, "image/webp")
    assert s3.get(key) == data
    head = s3.client.head_object(Bucket=BUCKET, Key="photos/" + key)
    assert head["ContentType"] == "image/webp" and head["ContentLength"] == len(data)
    with pytest.raises(NotFound):
        s3.get("00/" + "0" * 64 + ".png")


def test_the_api_stores_in_s3_when_told(s3: S3Storage, client: httpx.Client, auth) -> None:
    client.app.state.media_storage = s3  # what GRIDMAP_MEDIA_BACKEND=s3 builds (make_storage)
    headers = auth("worker")
    resp = client.post("/api/v1/media", headers=headers, files={"file": ("p.jpg", phone_jpeg(), "image/jpeg")})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    listed = {o["Key"] for o in s3.client.list_objects_v2(Bucket=BUCKET, Prefix="photos/")["Contents"]}
    got = client.get(body["url"], headers=headers)
    assert got.status_code == 200 and f"photos/{content_key(got.content, 'image/jpeg')}" in listed


def test_make_storage_reads_the_settings(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, tmp_path: Path) -> None:
    from api.media.storage import make_storage

    settings = get_settings().model_copy(update={"media_backend": "s3", "media_s3_bucket": BUCKET,
                                                 "media_s3_endpoint": s3_endpoint, "media_s3_access_key": "k",
                                                 "media_s3_secret_key": "s"})
    store = make_storage(settings)
    assert isinstance(store, S3Storage) and store.bucket == BUCKET
    local = make_storage(get_settings().model_copy(update={"media_dir": tmp_path}))
    assert isinstance(local, DirectoryStorage) and local.root == tmp_path


@pytest.mark.parametrize("backend", ["directory", "s3"])
def test_backups_carry_the_photos(backend: str, engine: Engine, tmp_path: Path, request) -> None:
    source = DirectoryStorage(tmp_path / "live") if backend == "directory" else request.getfixturevalue("s3")
    who = Principal(key_id=1, name=f"backup test {backend}", role="worker")
    with Session(engine) as s:  # committed: the backup reads through its own connection
        out = service.upload(s, storage=source, principal=who, data=encode(picture(500, 400), "JPEG"),
                             max_pixels=10**8)
        s.commit()
    try:
        url = engine.url.render_as_string(hide_password=False)
        dump = tmp_path / "gridmap.dump"
        count = backup_media(url, dump, source)
        assert media_file(dump).is_file() and count >= 2
        restored = DirectoryStorage(tmp_path / "restored")
        assert restore_media(dump, restored) == count
        with Session(engine) as s:
            row = s.execute(text("SELECT display_key, thumb_key FROM media WHERE id = :i"), {"i": out.id}).one()
        for key in row:
            assert restored.get(key) == source.get(key)
        assert restore_media(tmp_path / "other.dump", restored) == 0  # a backup without photos
    finally:
        with Session(engine) as s:
            s.execute(text("DELETE FROM media WHERE id = :i"), {"i": out.id})
            s.commit()
