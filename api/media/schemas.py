from __future__ import annotations

from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, Field

from api.core.params import Integer

#: A photo in a report's ``photos`` or a case event's ``attachments``: a URL elsewhere, or the id of an upload
#: to ``POST /api/v1/media`` (stored as its path, ``/api/v1/media/{id}``, api/media/service.py).
MediaId = Annotated[Integer, Field(ge=1, le=2**63 - 1, description="the id of an upload to POST /api/v1/media")]
PhotoRef = AnyHttpUrl | MediaId


class LocationHint(BaseModel):
    lon: float
    lat: float
    crs: str = Field(default="wgs84", description="EXIF GPS is WGS84")


class MediaOut(BaseModel):
    id: int
    url: str = Field(description="the display version (at most 2048 px), same access rules as its case")
    thumbnail_url: str = Field(description="the thumbnail (at most 320 px)")
    sha256: str = Field(description="SHA-256 of the bytes uploaded")
    content_type: str = Field(description="of the stored versions: image/jpeg, image/png or image/webp")
    width: int = Field(description="of the display version, after the EXIF orientation was applied")
    height: int
    source_type: str = Field(description="what the upload was, recognised by its content (e.g. image/heic)")
    location_hint: LocationHint | None = Field(
        default=None, description="the photo's EXIF GPS point, answered once and never stored (the stored "
                                  "versions carry no metadata)")
