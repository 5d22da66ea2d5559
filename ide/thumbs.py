"""Thumbnails for the app: made once per image content and kept under the thumbs cache."""

from __future__ import annotations

import io
from pathlib import Path

from . import state
from .workspace import Workspace

SIZE = 96


def thumbnail(ws: Workspace, md5: str, source: Path, size: int = SIZE) -> bytes | None:
    """PNG bytes of the image scaled to fit SIZE px (digits stay crisp); None if missing."""
    from PIL import Image

    path = state.path(ws, state.THUMBS, md5[:2], f"{md5[2:]}-{size}.png")
    if path.exists():
        return path.read_bytes()
    try:
        with Image.open(source) as im:
            im = im.convert("RGB") if im.mode not in ("L", "RGB") else im.copy()
    except (OSError, ValueError):
        return None
    scale = size / max(im.size)
    # Small images (digits) are enlarged with nearest so their pixels stay sharp.
    resample = Image.NEAREST if scale > 1 else Image.LANCZOS
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), resample)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    state.write_atomic(path, buf.getvalue())
    return buf.getvalue()
