"""Photos as evidence of the case loop (issue 18): accept, clean, store, and serve them under their case's rules.

An upload is recognised by its content (Pillow reads the magic bytes; the file name and the declared type are
ignored): JPEG, PNG, WebP, and HEIC/HEIF when pillow-heif is installed (a pinned dependency, so normally). A
refusal happens before anything is stored: not an image we take → 415 ``unsupported_media_type``; more bytes than
``GRIDMAP_MEDIA_MAX_BYTES`` → 413 ``media_too_large``; more pixels declared than ``GRIDMAP_MEDIA_MAX_PIXELS``
(a decompression bomb: a few hundred bytes of PNG can declare 10 gigapixels) → 413 ``decompression_bomb``,
refused from the header, never decoded; a truncated or corrupt image → 422 ``invalid_image``.

What is kept: the EXIF orientation applied (a phone held upright stores a sideways picture plus a tag), then
every piece of metadata dropped by re-encoding (EXIF with its GPS point, camera serial numbers and time, XMP,
ICC, text chunks): a display version of at most 2048 px and a thumbnail of at most 320 px. The GPS point is
answered once, in the upload's response (``location_hint``), for the client to offer as the report's place.

Access: a photo is referred to by its path ``/api/v1/media/{id}`` in a report's ``photos`` or a case event's
``attachments`` (a client sends the id; :func:`resolve_refs` checks it and stores the path). Whoever may see one
of those cases may see the photo; nobody else, except its uploader (an upload not yet attached) and admin.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.roles import Can, can, sees
from api.auth.service import Principal
from api.core.errors import GridmapError, NotFound, ValidationFailed
from api.media.schemas import LocationHint, MediaOut
from api.media.storage import Storage, content_key

try:  # HEIC (iPhones' default) decodes through libheif when pillow-heif is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - pillow-heif is pinned; without it HEIC is a 415 like any other type
    HEIF = False

#: A bomb between MAX_IMAGE_PIXELS and twice it only warns in Pillow; here it is refused like a larger one.
warnings.simplefilter("error", Image.DecompressionBombWarning)

#: Pillow format → the type the stored versions are written in (HEIC becomes JPEG: browsers do not show HEIC).
ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"} | (
    {"HEIF": "image/jpeg"} if HEIF else {})
SOURCE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
SAVE_AS = {"image/jpeg": ("JPEG", {"quality": 85, "optimize": True}), "image/png": ("PNG", {"optimize": False}),
           "image/webp": ("WEBP", {"quality": 85, "method": 4})}
DISPLAY_PX = 2048
THUMB_PX = 320
PATH = "/api/v1/media/"


class UnsupportedMedia(GridmapError):
    status, code, title = 415, "unsupported_media_type", "Not an image type we accept"


class MediaTooLarge(GridmapError):
    status, code, title = 413, "media_too_large", "The file is larger than uploads may be"


class DecompressionBomb(GridmapError):
    status, code, title = 413, "decompression_bomb", "The image declares more pixels than uploads may have"


class InvalidImage(GridmapError):
    status, code, title = 422, "invalid_image", "The image is truncated or corrupt"


class UnknownMedia(ValidationFailed):
    code, title = "unknown_media", "No such upload that you may use"


@dataclass(frozen=True, slots=True)
class Processed:
    display: bytes
    thumb: bytes
    content_type: str
    source_type: str
    width: int
    height: int
    gps: tuple[float, float] | None


def _dms(value: Any) -> float:
    d, m, s = (float(v) for v in value)
    return d + m / 60 + s / 3600


def gps_point(exif: Image.Exif) -> tuple[float, float] | None:
    """(lon, lat) of the EXIF GPS block, or None when there is none or it is unusable."""
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except (KeyError, ValueError, TypeError):
        return None
    try:
        lat, lon = _dms(gps[ExifTags.GPS.GPSLatitude]), _dms(gps[ExifTags.GPS.GPSLongitude])
    except (KeyError, ValueError, TypeError, ZeroDivisionError):
        return None
    if str(gps.get(ExifTags.GPS.GPSLatitudeRef, "N")).upper().startswith("S"):
        lat = -lat
    if str(gps.get(ExifTags.GPS.GPSLongitudeRef, "E")).upper().startswith("W"):
        lon = -lon
    if not (-180 <= lon <= 180 and -90 <= lat <= 90) or (lon == 0 and lat == 0) or lon != lon or lat != lat:
        return None
    return round(lon, 7), round(lat, 7)


def _encode(im: Image.Image, content_type: str) -> bytes:
    fmt, params = SAVE_AS[content_type]
    if content_type == "image/jpeg":
        im = im.convert("L" if im.mode in ("L", "1") else "RGB")
    elif im.mode not in ("RGB", "RGBA", "L", "LA"):
        im = im.convert("RGBA" if im.has_transparency_data else "RGB")
    im.info.clear()  # nothing of the source's metadata rides along (save() is given none either)
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def process(data: bytes, *, max_pixels: int) -> Processed:
    """Check and clean one upload (pure: no storage, no database)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        im = Image.open(io.BytesIO(data), formats=list(ACCEPTED))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(f"the image declares too many pixels (the limit is {max_pixels:,}): {exc}") from None
    except UnidentifiedImageError:
        raise UnsupportedMedia("send a JPEG, PNG or WebP photo" + (" (or HEIC)" if HEIF else "")
                               + "; the file was recognised by its content as none of them",
                               accepted=sorted(set(SOURCE_TYPES[f] for f in ACCEPTED))) from None
    except (OSError, SyntaxError, ValueError) as exc:  # a known signature with a broken header
        raise InvalidImage(f"the image cannot be read: {exc}") from None
    width, height = im.size
    if width * height > max_pixels:  # belt and braces: whatever Pillow's own thresholds
        raise DecompressionBomb(f"the image declares {width}×{height} pixels; the limit is {max_pixels:,}")
    fmt = im.format or ""
    try:
        im.load()
        gps = gps_point(im.getexif())
        im = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage(f"the image is truncated or corrupt: {exc}") from None
    content_type = ACCEPTED[fmt]
    display = im.copy()
    display.thumbnail((DISPLAY_PX, DISPLAY_PX), Image.Resampling.LANCZOS)
    thumb = display.copy()
    thumb.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
    return Processed(display=_encode(display, content_type), thumb=_encode(thumb, content_type),
                     content_type=content_type, source_type=SOURCE_TYPES[fmt], width=display.width,
                     height=display.height, gps=gps)


def _out(row: Any, gps: tuple[float, float] | None = None) -> MediaOut:
    return MediaOut(id=row.id, url=f"{PATH}{row.id}", thumbnail_url=f"{PATH}{row.id}/thumbnail", sha256=row.sha256,
                    content_type=row.content_type, width=row.width, height=row.height, source_type=row.source_type,
                    location_hint=LocationHint(lon=gps[0], lat=gps[1]) if gps else None)


def upload(session: Session, *, storage: Storage, principal: Principal, data: bytes, max_pixels: int) -> MediaOut:
    """Accept one photo. The same bytes sent again by the same uploader (a phone retrying on a bad network)
    answer the first upload's row instead of a second one."""
    processed = process(data, max_pixels=max_pixels)  # refusals raise here, before anything is stored
    digest = hashlib.sha256(data).hexdigest()
    row = session.execute(text("""SELECT * FROM media WHERE sha256 = :s AND uploader = :u ORDER BY id LIMIT 1"""),
                          {"s": digest, "u": principal.actor}).first()
    if row is None:
        display_key = content_key(processed.display, processed.content_type)
        thumb_key = content_key(processed.thumb, processed.content_type)
        row = session.execute(text("""
            INSERT INTO media (uploader, sha256, content_type, source_type, width, height, bytes, display_key,
                               thumb_key)
            VALUES (:u, :s, :ct, :st, :w, :h, :b, :dk, :tk) RETURNING *"""),
            {"u": principal.actor, "s": digest, "ct": processed.content_type, "st": processed.source_type,
             "w": processed.width, "h": processed.height, "b": len(data), "dk": display_key, "tk": thumb_key}).one()
        # Blobs after the row: a failed write rolls the row back. A commit failing after them leaves content-
        # addressed blobs no row names, harmless (the next upload of the same photo reuses them).
        storage.put(display_key, processed.display, processed.content_type)
        storage.put(thumb_key, processed.thumb, processed.content_type)
    return _out(row, processed.gps)


def _cases_showing(session: Session, path: str) -> list[int]:
    """Cases whose report or events show the photo at ``path`` (the partial GIN indexes of migration 0016)."""
    return list(session.execute(text("""
        SELECT c.id FROM report r JOIN cases c ON c.report_id = r.id
        WHERE r.photos <> '[]'::jsonb AND r.photos @> jsonb_build_array(CAST(:p AS text))
        UNION
        SELECT e.case_id FROM case_event e
        WHERE e.attachments <> '[]'::jsonb AND e.attachments @> jsonb_build_array(CAST(:p AS text))"""),
        {"p": path}).scalars())


def may_see(session: Session, *, principal: Principal, row: Any) -> bool:
    """The uploader and admin always; anyone else who may see a case that shows the photo (the cases' own
    scoping decides: a worker only its grids' cases)."""
    if principal.role == "admin" or row.uploader == principal.actor:
        return True
    if not can(principal.role, Can.READ_CASES):
        return False
    # The rule a case read applies (api.cases.service.get_case: in_scope), read here from the two columns it
    # needs rather than by calling the cases, which import this module to resolve photo ids.
    showing = _cases_showing(session, f"{PATH}{row.id}")
    scopes = session.execute(text("""SELECT c.grid_code, r.filed_by FROM cases c JOIN report r ON r.id = c.report_id
                                      WHERE c.id = ANY(:ids) ORDER BY c.id"""), {"ids": showing}).all()
    return any(sees(principal, grid_code=grid, filer=filer) for grid, filer in scopes)


def get_media(session: Session, *, principal: Principal, media_id: int) -> Any:
    row = session.execute(text("SELECT * FROM media WHERE id = :i"), {"i": media_id}).first()
    if row is None or not may_see(session, principal=principal, row=row):
        raise NotFound(f"no media with id {media_id}" + ("" if principal.role == "admin" else " that you may see"))
    return row


def read(session: Session, *, storage: Storage, principal: Principal, media_id: int,
         thumbnail: bool = False) -> tuple[bytes, str, str]:
    """The bytes of a photo's display version (or thumbnail), its type and its key (an ETag)."""
    row = get_media(session, principal=principal, media_id=media_id)
    key = row.thumb_key if thumbnail else row.display_key
    return storage.get(key), row.content_type, key


def resolve_refs(session: Session, *, principal: Principal, refs: Iterable[Any], field: str) -> list[str]:
    """Photos as stored: URLs as sent, media ids as their path once the principal is shown to be allowed to use
    them (its own upload, or one it may see). Without an id among ``refs`` nothing is queried (intake's hot path)."""
    out: list[str] = []
    for ref in refs:
        if isinstance(ref, int):
            row = session.execute(text("SELECT id, uploader FROM media WHERE id = :i"), {"i": ref}).first()
            if row is None or not may_see(session, principal=principal, row=row):
                raise UnknownMedia(f"{field}: no media with id {ref} that you may use; upload the photo to "
                                       "POST /api/v1/media first", field=field)
            out.append(f"{PATH}{ref}")
        else:
            out.append(str(ref))
    return out
