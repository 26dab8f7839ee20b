"""Real image files for the media tests, made with Pillow (and piexif for a phone-like EXIF block)."""

from __future__ import annotations

import io
import struct
import zlib

import piexif
from PIL import Image, ImageDraw

#: Where the EXIF GPS of :func:`phone_jpeg` points: Dongcheng, Beijing (WGS84).
GPS_LON, GPS_LAT = 116.4105, 39.9245


def picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A picture whose top-left corner is red and the rest blue: its orientation can be checked after rotation."""
    im = Image.new(mode, (width, height), "blue")
    ImageDraw.Draw(im).rectangle([0, 0, width // 4, height // 4], fill="red")
    return im


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def _rational(value: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60 * 10000)
    return (d, 1), (m, 1), (s, 10000)


def phone_jpeg(width: int = 400, height: int = 300) -> bytes:
    """A JPEG as a phone held upright stores it: the sensor's landscape pixels plus Orientation 6 (rotate 90°
    clockwise to show), the GPS point, the camera's make and model and the time."""
    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Orientation: 6, piexif.ImageIFD.Make: b"Huawei", piexif.ImageIFD.Model: b"P60"},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2026:12:07 09:30:00",
                 piexif.ExifIFD.BodySerialNumber: b"SN-1234567"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: _rational(GPS_LAT),
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: _rational(GPS_LON)},
    })
    return encode(picture(width, height), "JPEG", quality=90, exif=exif)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG of a few dozen bytes that declares ``width``×``height`` pixels (10 gigapixels by default): a
    decompression bomb's header, with a valid CRC, so only the declared size gives it away."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
