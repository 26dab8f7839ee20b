from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Request, Response, UploadFile, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as FormFile

from api.auth.deps import CurrentUser
from api.auth.roles import Can, can, roles_with
from api.auth.service import Principal
from api.core.config import Settings
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import Forbidden
from api.media import service
from api.media.schemas import MediaOut

router = APIRouter(tags=["media"])


async def _uploader(principal: CurrentUser) -> Principal:
    """Photos are sent by whoever files reports (their 处置前 photos) or acts on cases (处置后): the role table's
    two capabilities, not a role list of its own."""
    if not (can(principal.role, Can.FILE_REPORTS) or can(principal.role, Can.ACT_ON_CASES)):
        roles = sorted(set(roles_with(Can.FILE_REPORTS)) | set(roles_with(Can.ACT_ON_CASES)))
        raise Forbidden(f"This needs one of the roles: {', '.join(roles)}.")
    return principal


Uploader = Annotated[Principal, Depends(_uploader)]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
PROBLEM = {"content": {"application/problem+json": {}}}
IMAGE = {200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}, "description": "the image"}}


@router.post("/media", response_model=MediaOut, status_code=status.HTTP_201_CREATED, responses={
    413: {"description": "larger than GRIDMAP_MEDIA_MAX_BYTES (`media_too_large`) or a decompression bomb "
                         "(`decompression_bomb`)", **PROBLEM},
    415: {"description": "not a JPEG, PNG, WebP or HEIC image (`unsupported_media_type`)", **PROBLEM},
    422: {"description": "a truncated or corrupt image (`invalid_image`), or no `file` field", **PROBLEM}})
async def upload_media(request: Request, session: SessionDep, settings: SettingsDep, principal: Uploader,
                       file: Annotated[UploadFile, File(description="the photo")]) -> MediaOut:
    """Upload a photo (multipart field `file`): recognised by its content, turned upright, stripped of its
    metadata and kept as a display version and a thumbnail. Attach it by its `id` in a report's `photos` or a
    case transition's `attachments`. Nothing is stored when it is refused."""
    return await store_upload(request, session, settings, principal, file)


async def store_upload(request: Request, session: Session, settings: Settings, principal: Principal,
                       file: FormFile) -> MediaOut:
    """One upload, checked and stored (also Open311's multipart ``media``, api/open311/router.py)."""
    data = await read_limited(file, settings.media_max_bytes)
    return await run_in_threadpool(service.upload, session, storage=request.app.state.media_storage,
                                   principal=principal, data=data, max_pixels=settings.media_max_pixels)


async def read_limited(file: FormFile, limit: int) -> bytes:
    """The upload's bytes, refused as soon as they pass ``limit`` (never held whole beyond it)."""
    chunks, size = [], 0
    while chunk := await file.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise service.MediaTooLarge(f"the file is larger than {limit:,} bytes", max_bytes=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _image(request: Request, data: tuple[bytes, str, str]) -> Response:
    body, content_type, key = data
    etag = f'"{key.rsplit("/", 1)[-1].split(".")[0]}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=content_type, headers=headers)


@router.get("/media/{media_id}", response_class=Response, responses=IMAGE)
def get_media(media_id: Id, request: Request, session: SessionDep, principal: CurrentUser) -> Response:
    """The display version, for whoever may see a case that shows it (or its uploader); 404 for anyone else."""
    return _image(request, service.read(session, storage=request.app.state.media_storage, principal=principal,
                                        media_id=media_id))


@router.get("/media/{media_id}/thumbnail", response_class=Response, responses=IMAGE)
def get_thumbnail(media_id: Id, request: Request, session: SessionDep, principal: CurrentUser) -> Response:
    return _image(request, service.read(session, storage=request.app.state.media_storage, principal=principal,
                                        media_id=media_id, thumbnail=True))


@router.get("/media/{media_id}/meta", response_model=MediaOut)
def media_meta(media_id: Id, session: SessionDep, principal: CurrentUser) -> MediaOut:
    """What the upload answered, without the location hint (it is answered once only)."""
    return service._out(service.get_media(session, principal=principal, media_id=media_id))


def absolute_media_urls(request: Request, items: list[dict], field: str = "media_url") -> list[dict]:
    """Our photos' paths as absolute URLs, for clients (Open311) that expect one."""
    base = str(request.base_url).rstrip("/")
    for item in items:
        if isinstance(url := item.get(field), str) and url.startswith(service.PATH):
            item[field] = base + url
    return items
