"""POST/GET /api/v1/media against the real app, a real PostGIS and real image files (issue 18): types recognised
by content, EXIF orientation applied and metadata stripped, the GPS hint, refusals that store nothing, and access
that follows the case a photo belongs to."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import get_settings
from tests.api.conftest import Grid, problem
from tests.api.media.images import GPS_LAT, GPS_LON, encode, phone_jpeg, picture, png_bomb

pytestmark = pytest.mark.usefixtures("quiet_app")
MEDIA_DIR = Path(os.environ["GRIDMAP_MEDIA_DIR"])


def files_stored() -> set[Path]:
    return {p for p in MEDIA_DIR.rglob("*") if p.is_file()}


def upload(client: httpx.Client, headers: dict, data: bytes, name: str = "photo.jpg",
           content_type: str = "image/jpeg") -> httpx.Response:
    return client.post("/api/v1/media", headers=headers, files={"file": (name, data, content_type)})


def test_a_phone_photo_is_turned_upright_stripped_and_its_gps_answered_once(client, auth, db: Session) -> None:
    headers = auth("worker")
    data = phone_jpeg(400, 300)
    assert Image.open(io.BytesIO(data)).getexif()[0x0112] == 6  # the file really carries orientation and GPS
    resp = upload(client, headers, data)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["content_type"] == "image/jpeg" and body["source_type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (300, 400)  # rotated upright
    assert body["url"] == f"/api/v1/media/{body['id']}" and body["thumbnail_url"].endswith("/thumbnail")
    hint = body["location_hint"]
    assert hint["crs"] == "wgs84"
    assert abs(hint["lon"] - GPS_LON) < 1e-5 and abs(hint["lat"] - GPS_LAT) < 1e-5

    shown = client.get(body["url"], headers=headers)
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    im = Image.open(io.BytesIO(shown.content))
    assert im.size == (300, 400)
    assert dict(im.getexif()) == {} and "exif" not in im.info and "icc_profile" not in im.info
    assert b"Huawei" not in shown.content and b"SN-1234567" not in shown.content
    # The red corner was top-left of the sensor's picture; turned 90° clockwise it is top-right.
    r, g, b = im.convert("RGB").getpixel((im.width - 10, 10))
    assert r > 200 and b < 80, (r, g, b)
    r, g, b = im.convert("RGB").getpixel((10, 10))
    assert b > 200 and r < 80, (r, g, b)

    thumb = client.get(body["thumbnail_url"], headers=headers)
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) <= 320
    etag = shown.headers["etag"]
    assert client.get(body["url"], headers={**headers, "If-None-Match": etag}).status_code == 304

    meta = client.get(f"{body['url']}/meta", headers=headers).json()
    assert meta["location_hint"] is None  # answered once, never stored
    assert db.execute(text("SELECT count(*) FROM media WHERE id = :i"), {"i": body["id"]}).scalar() == 1


def test_large_photos_are_kept_at_2048_px_and_thumbnails_at_320(client, auth) -> None:
    resp = upload(client, auth("worker"), encode(picture(3000, 1500), "JPEG", quality=80))
    body = resp.json()
    assert resp.status_code == 201 and (body["width"], body["height"]) == (2048, 1024)
    thumb = Image.open(io.BytesIO(client.get(body["thumbnail_url"], headers=auth("admin")).content))
    assert thumb.size == (320, 160)


@pytest.mark.parametrize(("fmt", "source", "stored"), [
    ("PNG", "image/png", "image/png"), ("WEBP", "image/webp", "image/webp"), ("HEIF", "image/heic", "image/jpeg")])
def test_png_webp_and_heic_are_recognised_by_content_not_by_name(client, auth, fmt, source, stored) -> None:
    data = encode(picture(64, 48, "RGBA" if fmt == "PNG" else "RGB"), fmt)
    resp = upload(client, auth("worker"), data, name="notes.txt", content_type="text/plain")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["source_type"], body["content_type"]) == (source, stored)
    got = client.get(body["url"], headers=auth("admin"))
    assert got.headers["content-type"] == stored and Image.open(io.BytesIO(got.content)).size == (64, 48)


def test_the_same_photo_sent_twice_is_one_upload_and_one_blob(client, auth) -> None:
    headers = auth("worker")
    data = encode(picture(50, 50), "PNG")
    before = files_stored()
    first, second = upload(client, headers, data).json(), upload(client, headers, data).json()
    assert first["id"] == second["id"]
    assert len(files_stored() - before) <= 2  # display and thumbnail, once


@pytest.mark.parametrize(("make", "status", "code"), [
    (lambda: b"GIF89a" + encode(picture(8, 8), "GIF")[6:], 415, "unsupported_media_type"),
    (lambda: b"%PDF-1.7\n" + b"x" * 500, 415, "unsupported_media_type"),
    (lambda: b"", 415, "unsupported_media_type"),
    (lambda: encode(picture(8, 8), "BMP"), 415, "unsupported_media_type"),
    (png_bomb, 413, "decompression_bomb"),
    (lambda: png_bomb(12_000, 12_000), 413, "decompression_bomb"),  # between the limit and twice it
    (lambda: encode(picture(600, 600), "JPEG")[:700], 422, "invalid_image"),
])
def test_refusals_store_nothing(client, auth, db: Session, make: Callable[[], bytes], status: int, code: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "media_max_pixels", 100_000_000)
    data = make()
    before, rows = files_stored(), db.execute(text("SELECT count(*) FROM media")).scalar()
    resp = upload(client, auth("worker"), data, name="photo.jpg", content_type="image/jpeg")
    problem(resp, status, code)
    assert files_stored() == before
    assert db.execute(text("SELECT count(*) FROM media")).scalar() == rows


def test_an_upload_over_the_size_limit_is_a_413_and_stores_nothing(client, auth, db: Session,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "media_max_bytes", 20_000)
    data = encode(Image.frombytes("RGB", (100, 100), os.urandom(30_000)), "PNG")  # noise: incompressible
    assert len(data) > 20_000
    before = files_stored()
    problem(upload(client, auth("worker"), data), 413, "media_too_large")
    assert files_stored() == before
    assert upload(client, auth("worker"), encode(picture(40, 40), "PNG")).status_code == 201


def test_no_file_field_is_a_422(client, auth) -> None:
    problem(client.post("/api/v1/media", headers=auth("worker"), files={"photo": ("a.jpg", b"x", "image/jpeg")}),
            422, "validation_error")


def test_an_unattached_upload_is_seen_by_its_uploader_only(client, auth, login, grid_a: Grid) -> None:
    mine = login("worker", person_id=grid_a.worker_id)
    colleague = login("worker", person_id=grid_a.other_worker_id)
    body = upload(client, mine, encode(picture(30, 30), "PNG")).json()
    assert client.get(body["url"], headers=mine).status_code == 200
    for other in (colleague, auth("dispatcher"), auth("planner"), auth("intake"), auth("operator"), auth("viewer")):
        problem(client.get(body["url"], headers=other), 404, "not_found")
    assert client.get(body["url"], headers=auth("admin")).status_code == 200


def test_attached_photos_follow_the_case(client, auth, login, make_case, grid_a: Grid, grid_b: Grid,
                                         db: Session) -> None:
    worker_a = login("worker", person_id=grid_a.worker_id)
    colleague_a = login("worker", person_id=grid_a.other_worker_id)
    worker_b = login("worker", person_id=grid_b.worker_id)
    case = make_case(grid_a, "in_progress", category="E01001")  # an event: its category wants an after photo
    assert db.execute(text("SELECT after_photo_required FROM category WHERE code = 'E01001'")).scalar() is True

    # resolving without a photo is refused; with one it goes through
    problem(client.post(f"/api/v1/cases/{case}/transitions", headers=worker_a, json={"to": "resolved", "note": "x"}),
            422, "after_photo_required")
    photo = upload(client, worker_a, phone_jpeg()).json()
    foreign = upload(client, worker_b, encode(picture(20, 20), "PNG")).json()
    problem(client.post(f"/api/v1/cases/{case}/transitions", headers=worker_a,
                        json={"to": "resolved", "note": "done", "attachments": [foreign["id"]]}),
            422, "unknown_media")  # someone else's upload cannot be attached (nor thereby read)
    resp = client.post(f"/api/v1/cases/{case}/transitions", headers=worker_a,
                       json={"to": "resolved", "note": "已拆除", "attachments": [photo["id"]]})
    assert resp.status_code == 200, resp.text
    events = client.get(f"/api/v1/cases/{case}/events", headers=worker_a).json()
    assert events[-1]["attachments"] == [photo["url"]]

    for allowed in (worker_a, colleague_a, auth("dispatcher"), auth("planner"), auth("admin")):
        assert client.get(photo["thumbnail_url"], headers=allowed).status_code == 200
    for refused in (worker_b, auth("intake"), auth("operator"), auth("viewer")):  # not their case / no cases
        problem(client.get(photo["url"], headers=refused), 404, "not_found")
    problem(client.get(foreign["url"], headers=worker_a), 404, "not_found")


def test_a_report_takes_media_ids_and_urls_as_photos(client, auth, make_key, grid_a: Grid, login) -> None:
    intake = {"Authorization": f"Bearer {make_key('intake')}"}
    photo = upload(client, intake, encode(picture(40, 30), "WEBP")).json()
    resp = client.post("/api/v1/reports", headers=intake, json={
        "source": "mini_program", "category": "E01001", "lon": grid_a.lon, "lat": grid_a.lat,
        "description": "垃圾堆积", "photos": [photo["id"], "https://img.example.cn/a.jpg"]})
    assert resp.status_code == 201, resp.text
    report = resp.json()
    assert report["photos"] == [photo["url"], "https://img.example.cn/a.jpg"]
    worker_a = login("worker", person_id=grid_a.worker_id)
    case = client.get(f"/api/v1/cases/{report['case']['id']}", headers=worker_a).json()
    assert case["photos"][0] == photo["url"]
    assert client.get(photo["url"], headers=worker_a).status_code == 200  # the case's worker sees the photo

    other = upload(client, auth("worker"), encode(picture(10, 10), "PNG")).json()
    problem(client.post("/api/v1/reports", headers=intake, json={
        "source": "mini_program", "category": "E01001", "lon": grid_a.lon, "lat": grid_a.lat,
        "photos": [other["id"]]}), 422, "unknown_media")
    problem(client.post("/api/v1/reports", headers=intake, json={
        "source": "mini_program", "category": "E01001", "lon": grid_a.lon, "lat": grid_a.lat,
        "photos": [987654321]}), 422, "unknown_media")


def test_open311_accepts_a_multipart_media_file(client, make_key, grid_a: Grid, db: Session) -> None:
    key = make_key("intake")
    data = phone_jpeg()
    resp = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "E01001", "lat": str(grid_a.lat), "long": str(grid_a.lon),
        "description": "井盖缺失"}, files={"media": ("IMG_0001.HEIC", data, "application/octet-stream")})
    assert resp.status_code == 201, resp.text
    rid = resp.json()[0]["service_request_id"]
    got = client.get(f"/open311/v2/requests/{rid}.json", params={"api_key": key}).json()[0]
    assert got["media_url"].startswith("http") and "/api/v1/media/" in got["media_url"]
    media_id = int(got["media_url"].rsplit("/", 1)[1])
    row = db.execute(text("SELECT sha256, uploader FROM media WHERE id = :i"), {"i": media_id}).one()
    assert row.sha256 == hashlib.sha256(data).hexdigest() and row.uploader == "key:test intake"
    bad = client.post("/open311/v2/requests.json", data={
        "api_key": key, "service_code": "E01001", "lat": str(grid_a.lat), "long": str(grid_a.lon)},
        files={"media": ("x.jpg", b"not an image at all", "image/jpeg")})
    problem(bad, 415, "unsupported_media_type")
