"""Real zip bombs, small on disk, made without inflating anything: one block of deflated zeros repeated.

A deflate stream of 1 MiB of zeros flushed with ``Z_FULL_FLUSH`` resets the compressor's history, so the next
MiB compresses to the very same bytes: n copies of that block (and a final empty block) are a valid stream
that inflates to n MiB of zeros. The zip is written by hand (local headers, central directory, end record) so
that a member's declared size can also be made to lie, as a hostile zip's would.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

MIB = 1 << 20


def _zeros_block() -> tuple[bytes, bytes]:
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = co.compress(bytes(MIB)) + co.flush(zlib.Z_FULL_FLUSH)
    return block, co.flush(zlib.Z_FINISH)


def _crc_of_zeros(mib: int) -> int:
    zero, crc = bytes(MIB), 0
    for _ in range(mib):
        crc = zlib.crc32(zero, crc)
    return crc


def write_zip(path: Path, members: list[tuple[str, bytes | int]], *, declared: dict[str, int] | None = None) -> Path:
    """A zip of ``members``: (name, bytes) stored deflated as given, or (name, n) for n MiB of zeros deflated by
    block repetition. ``declared`` overrides a member's declared uncompressed size (a lying header)."""
    block, tail = _zeros_block()
    central, offset = [], 0
    with open(path, "wb") as f:
        for name, content in members:
            if isinstance(content, int):
                size, crc = content * MIB, _crc_of_zeros(content)
                csize = len(block) * content + len(tail)
                chunks: list[bytes] = [block] * content + [tail]
            else:
                co = zlib.compressobj(9, zlib.DEFLATED, -15)
                data = co.compress(content) + co.flush()
                size, crc, csize, chunks = len(content), zlib.crc32(content), len(data), [data]
            size = (declared or {}).get(name, size)
            raw = name.encode()
            header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, csize, size, len(raw), 0)
            f.write(header + raw)
            for c in chunks:
                f.write(c)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, csize, size,
                                       len(raw), 0, 0, 0, 0, 0o100644 << 16, offset) + raw)
            offset += len(header) + len(raw) + csize
        cd = b"".join(central)
        f.write(cd)
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(cd), offset, 0))
    return path
