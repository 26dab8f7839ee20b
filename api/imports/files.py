"""Files on their way into an import: size caps, zip archives opened safely, the declared CRS found.

Issue 17, defect 4: a 2 MB zip declaring a 2 GiB Shapefile took 18-28 s and 3 GB of memory before a 422 that
said "index 0 is out of bounds", because the whole ``.shp`` was read into memory to look at its ``.dbf`` and GDAL
then inflated the rest through ``/vsizip/``. Here a zip is judged by its central directory first (member count,
declared sizes, compression ratios: ``zipfile.ZipFile.infolist``, nothing inflated), then only the members an
import reads are streamed to a temporary directory, each stopped at its declared size and the total at the cap,
and GDAL reads plain files from there. Every refusal names the limit and the setting that holds it.

Defect 5: the CRS a file declares (a ``.prj``, a GeoJSON ``crs`` member, a GeoPackage's spatial reference) is
read here, with where it was read from, and an unreadable declaration is refused instead of becoming WGS84.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from tempfile import TemporaryDirectory
from typing import IO, Any

import orjson
import pyproj

from api.core.config import Settings
from api.core.errors import GridmapError, ImportFailed
from api.core.limits import PayloadTooLarge

CHUNK = 1024 * 1024
#: Members smaller than this are not judged by their compression ratio (a small .dbf of blank padding
#: compresses a hundredfold and harms nobody).
RATIO_FLOOR = 1024 * 1024
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd", ".xml")
DATASETS = (".shp", ".gpkg", ".geojson", ".json")
#: A .prj or GeoJSON crs member longer than this is not a CRS.
MAX_CRS_TEXT = 64 * 1024


class ArchiveTooLarge(GridmapError):
    """A zip whose members, declared sizes or compression ratios pass the configured limits (a zip bomb)."""

    status, code, title = 413, "archive_too_large", "Archive too large when extracted"


class UnreadableCRS(ImportFailed):
    """The file declares a CRS that cannot be read: refused rather than assumed to be WGS84."""


@dataclass(frozen=True, slots=True)
class FileLimits:
    """The caps one import runs under (documented in the README's settings table)."""

    archive_bytes: int
    archive_members: int
    archive_ratio: float
    max_vertices: int | None
    #: the file as sent (uploads only; a local file on the command line is the operator's own)
    max_bytes: int | None = None
    #: features in the file (uploads only)
    max_features: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, upload: bool) -> FileLimits:
        return cls(archive_bytes=settings.archive_max_bytes, archive_members=settings.archive_max_members,
                   archive_ratio=settings.archive_max_ratio, max_vertices=settings.import_max_vertices,
                   max_bytes=settings.upload_max_bytes if upload else None,
                   max_features=settings.upload_max_features if upload else None)


def default_limits() -> FileLimits:
    from api.core.config import get_settings

    return FileLimits.from_settings(get_settings(), upload=False)


def _mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.0f} MiB" if n >= 1024 * 1024 else f"{int(n):,} bytes"


def save_upload(src: IO[bytes] | bytes, dest: Path, *, max_bytes: int | None) -> int:
    """Copy an uploaded file to ``dest`` in chunks, refusing it (413) as soon as it passes ``max_bytes``."""
    if isinstance(src, bytes | bytearray):
        if max_bytes is not None and len(src) > max_bytes:
            raise _too_big_upload(max_bytes)
        dest.write_bytes(src)
        return len(src)
    src.seek(0)
    written = 0
    with open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if max_bytes is not None and written > max_bytes:
                raise _too_big_upload(max_bytes)
            out.write(chunk)
    return written


def _too_big_upload(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the file is larger than {_mib(limit)} (GRIDMAP_UPLOAD_MAX_BYTES); split it or "
                           "import it on the server with `gridmap import`", limit=limit,
                           setting="GRIDMAP_UPLOAD_MAX_BYTES")


def inspect_zip(z: zipfile.ZipFile, name: str, limits: FileLimits) -> list[zipfile.ZipInfo]:
    """Judge a zip by its central directory alone (nothing inflated); returns its file members."""
    infos = z.infolist()
    if len(infos) > limits.archive_members:
        raise ArchiveTooLarge(f"{name} holds {len(infos):,} members; at most {limits.archive_members:,} are accepted "
                              "(GRIDMAP_ARCHIVE_MAX_MEMBERS)", limit=limits.archive_members,
                              setting="GRIDMAP_ARCHIVE_MAX_MEMBERS", members=len(infos))
    total = sum(i.file_size for i in infos)
    if total > limits.archive_bytes:
        raise ArchiveTooLarge(f"{name} would expand to {_mib(total)}; at most {_mib(limits.archive_bytes)} "
                              "uncompressed is accepted (GRIDMAP_ARCHIVE_MAX_BYTES)", limit=limits.archive_bytes,
                              setting="GRIDMAP_ARCHIVE_MAX_BYTES", declared=total)
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > RATIO_FLOOR and ratio > limits.archive_ratio:
            raise ArchiveTooLarge(
                f"{name}: {i.filename} expands {ratio:,.0f} times ({_mib(i.compress_size)} to {_mib(i.file_size)});"
                f" at most {limits.archive_ratio:,.0f} times is accepted (GRIDMAP_ARCHIVE_MAX_RATIO)",
                limit=limits.archive_ratio, setting="GRIDMAP_ARCHIVE_MAX_RATIO", member=i.filename)
    return [i for i in infos if not i.is_dir()]


def _wanted(info: zipfile.ZipInfo) -> bool:
    p = PurePosixPath(info.filename)
    if p.name.startswith("._") or "__MACOSX" in p.parts:
        return False
    return p.suffix.lower() in SHAPEFILE_PARTS + DATASETS


def extract_zip(path: Path, dest: Path, limits: FileLimits) -> Path:
    """Stream the members an import reads into ``dest`` (flat, by their base names) within the limits; returns
    the dataset to open: the first Shapefile, else the first GeoPackage or GeoJSON."""
    try:
        with zipfile.ZipFile(path) as z:
            members = [i for i in inspect_zip(z, path.name, limits) if _wanted(i)]
            written, files = 0, []
            for info in members:
                target = dest / PurePosixPath(info.filename).name
                if target.exists():
                    continue  # the same name twice (in two folders): the first wins, as GDAL would
                with z.open(info) as src, open(target, "wb") as out:
                    # zipfile stops at the declared size (and fails its CRC if the data goes on): a member whose
                    # header lies cannot write more than it declared, and the declared total was judged above
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > limits.archive_bytes:
                            raise ArchiveTooLarge(
                                f"{path.name} expands past {_mib(limits.archive_bytes)} (GRIDMAP_ARCHIVE_MAX_BYTES)",
                                limit=limits.archive_bytes, setting="GRIDMAP_ARCHIVE_MAX_BYTES")
                        out.write(chunk)
                files.append(target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as exc:
        # not a zip, a broken one, an encrypted member (RuntimeError), an unknown compression method
        raise ImportFailed(f"{path.name} cannot be read as a zip archive: {exc}", reason="unreadable") from None
    for suffixes in ((".shp",), (".gpkg", ".geojson", ".json")):
        found = [f for f in files if f.suffix.lower() in suffixes]
        if found:
            return found[0]
    raise ImportFailed(f"{path.name} holds no Shapefile (.shp with its .shx and .dbf), GeoPackage or GeoJSON",
                       reason="unsupported_format")


@contextmanager
def opened(path: Path, limits: FileLimits) -> Iterator[Path]:
    """The file GDAL should read: ``path`` itself, or for a zip its dataset extracted within the limits (into a
    temporary directory removed on exit)."""
    if path.suffix.lower() != ".zip":
        yield path
        return
    with TemporaryDirectory(prefix="gridmap-zip-") as tmp:
        yield extract_zip(path, Path(tmp), limits)


# --------------------------------------------------------------------------------------------
# Shapefile checks


def check_dbf_encoding(shp: Path, *, display: str) -> None:
    """Refuse, by name, a Shapefile that would otherwise import wrong or fail with a GDAL riddle: a missing part
    (.shx, .dbf), or names in a legacy encoding (GBK, usual in Chinese GIS data) that no .cpg file declares: GDAL
    would read them as Latin-1 and store mojibake without a word. The .dbf is read in chunks, never whole."""
    parts = {p.suffix.lower(): p for p in shp.parent.glob(shp.stem + ".*") if p.stem == shp.stem}
    missing = [ext for ext in (".shx", ".dbf") if ext not in parts]
    if missing:
        raise ImportFailed(f"{display}: the Shapefile lacks its {' and '.join(missing)} part(s); zip the .shp, .shx,"
                           " .dbf, .prj (and .cpg) files together", reason="unreadable")
    if ".cpg" in parts:
        return
    with open(parts[".dbf"], "rb") as f:
        head = f.read(32)
        if len(head) < 32 or head[29] != 0:  # a code page (LDID) byte: GDAL decodes by it
            return
        f.seek(int.from_bytes(head[8:10], "little"))
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ImportFailed(
                f"{display}: the attribute table's text is not UTF-8 and no .cpg file says which encoding it is "
                "(Chinese GIS files are often GBK); add a .cpg file containing the encoding (e.g. GBK) next to the "
                ".dbf and import again", reason="unknown_encoding") from None


def check_shapefile(path: Path, limits: FileLimits | None = None) -> None:
    """:func:`check_dbf_encoding` for a ``.shp`` or a zipped Shapefile (extracted within the limits)."""
    path = Path(path)
    with opened(path, limits or default_limits()) as real:
        if real.suffix.lower() == ".shp":
            check_dbf_encoding(real, display=path.name)


# --------------------------------------------------------------------------------------------
# The declared CRS


@dataclass(frozen=True, slots=True)
class Declared:
    """The CRS a file declares (pyproj's reading of it, or None) and where it was read from, in words."""

    crs: pyproj.CRS | None
    where: str


def _crs_from_text(raw: str, *, where: str, display: str) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(raw.strip())
    except (pyproj.exceptions.CRSError, ValueError, TypeError):
        shown = raw.strip()[:80]
        raise UnreadableCRS(
            f"{display}: {where} cannot be read as a coordinate reference system ({shown!r}); fix or remove it, or "
            "give the CRS explicitly (crs=wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:nnnn)", reason="unreadable_crs",
            crs_read_from=where) from None


def _geojson_crs_member(path: Path) -> Any:
    """The top-level ``crs`` member of a (2008-style) GeoJSON file, found in its first or last 1 MiB (where
    writers put it) without parsing the whole file; None when there is none."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(CHUNK)
        tail = b""
        if size > 2 * CHUNK:
            f.seek(size - CHUNK)
            tail = f.read()
    for blob in (head, tail):
        for m in re.finditer(rb'"crs"\s*:\s*', blob):
            start = m.end()
            if blob[start:start + 4] == b"null":
                return None
            depth, i = 0, start
            while i < len(blob) and i - start < MAX_CRS_TEXT:
                c = blob[i:i + 1]
                depth += c == b"{"
                depth -= c == b"}"
                i += 1
                if depth == 0:
                    try:
                        return orjson.loads(blob[start:i])
                    except orjson.JSONDecodeError:
                        return blob[start:i].decode("utf-8", "replace")
    return None


def declared_crs(real: Path, *, display: str, gdal_crs: str | None) -> Declared:
    """What CRS the file at ``real`` declares and where that was read (``display`` is the name the user gave).
    ``gdal_crs`` is GDAL's reading, used for formats that store a CRS of their own (GeoPackage)."""
    suffix = real.suffix.lower()
    if suffix == ".shp":
        prj = next((p for p in real.parent.glob(real.stem + ".*") if p.suffix.lower() == ".prj"), None)
        if prj is None:
            return Declared(None, "no .prj file")
        where = f"the .prj file ({prj.name})"
        raw = prj.read_bytes()[:MAX_CRS_TEXT].decode("utf-8", "replace")
        if not raw.strip():
            raise UnreadableCRS(f"{display}: {where} is empty; fix or remove it, or give the CRS explicitly",
                                reason="unreadable_crs", crs_read_from=where)
        return Declared(_crs_from_text(raw, where=where, display=display), where)
    if suffix in (".geojson", ".json"):
        member = _geojson_crs_member(real)
        if member is None:
            # RFC 7946: a GeoJSON file is WGS84 longitude/latitude, so this is the format's own CRS, not a guess
            return Declared(pyproj.CRS.from_epsg(4326), "GeoJSON's own CRS (RFC 7946: WGS84, no crs member)")
        where = "the GeoJSON crs member"
        props = member.get("properties") if isinstance(member, dict) else None
        value = None
        if isinstance(props, dict):
            value = props.get("name") or (f"EPSG:{props['code']}" if "code" in props else None)
        if not isinstance(value, str):
            raise UnreadableCRS(f"{display}: {where} ({str(member)[:80]!r}) names no CRS; give "
                                '{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4547"}} or the crs '
                                "parameter", reason="unreadable_crs", crs_read_from=where)
        return Declared(_crs_from_text(value, where=where, display=display), where)
    if gdal_crs:
        return Declared(pyproj.CRS.from_user_input(gdal_crs), "the GeoPackage's spatial reference")
    return Declared(None, "no spatial reference in the file")
