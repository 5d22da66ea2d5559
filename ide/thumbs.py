"""Thumbnails for the app: made once per image content and kept under `.ide/thumbs/`."""

from __future__ import annotations

import io
import os
from pathlib import Path

from .workspace import Workspace

SIZE = 96


def thumbnail(ws: Workspace, md5: str, source: Path, size: int = SIZE) -> bytes | None:
    """PNG bytes of the image scaled to fit SIZE px (digits stay crisp); None if missing."""
    from PIL import Image

    path = ws.root / ".ide" / "thumbs" / md5[:2] / f"{md5[2:]}-{size}.png"
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return buf.getvalue()
