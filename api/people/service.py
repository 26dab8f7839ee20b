"""Grid staff."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number for views that need to show someone exists but not how to reach them.

    >>> mask_phone("13912345678")
    '139****5678'
    >>> mask_phone("010-6512-3456")
    '010****3456'
    >>> mask_phone(None) is None
    True
    """
    if not phone:
        return phone
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"
