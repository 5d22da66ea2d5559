"""Images for the app, made once per image content and kept under the thumbs cache: square
thumbnails for the grid, and a large view (the zoom) of the focused example."""

from __future__ import annotations

import io
from pathlib import Path

from ide.repo import state
from ide.repo.workspace import Workspace

SIZE = 96
ZOOM = 1024        # the zoom: the image itself, up to this many px on its long side
ZOOM_MIN = 480     # ...and small images (digits) enlarged to at least this
BACKGROUND = (240, 242, 246)  # Streamlit's secondary background: the box, not the image


def thumbnail(ws: Workspace, md5: str, source: Path, size: int = SIZE) -> bytes | None:
    """PNG bytes of the image scaled to fit a SIZE x SIZE box and centred in it, so tall
    and wide images make an even grid (digits stay crisp); None if missing or unreadable."""
    return _make(ws, md5, source, f"{size}sq", lambda im: _boxed(im, size))


def zoom(ws: Workspace, md5: str, source: Path) -> bytes | None:
    """PNG bytes of the whole image at its own size (at most ZOOM px on its long side;
    small images enlarged to ZOOM_MIN with sharp pixels); None if missing or unreadable."""
    return _make(ws, md5, source, "zoom",
                 lambda im: _scaled(im, min(ZOOM, max(ZOOM_MIN, *im.size))))


def _make(ws: Workspace, md5: str, source: Path, kind: str, shape) -> bytes | None:
    from PIL import Image

    path = state.path(ws, state.THUMBS, md5[:2], f"{md5[2:]}-{kind}.png")
    if path.exists():
        return path.read_bytes()
    try:
        with Image.open(source) as im:
            im = im.convert("RGB") if im.mode not in ("L", "RGB") else im.copy()
    except (OSError, ValueError):
        return None
    buf = io.BytesIO()
    shape(im).save(buf, format="PNG")
    state.write_atomic(path, buf.getvalue())
    return buf.getvalue()


def _scaled(im, size: int):
    """IM scaled so its long side is SIZE px."""
    from PIL import Image

    scale = size / max(im.size)
    # Small images (digits) are enlarged with nearest so their pixels stay sharp.
    resample = Image.NEAREST if scale > 1 else Image.LANCZOS
    return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                     resample)


def _boxed(im, size: int):
    """IM scaled to fit SIZE x SIZE, centred on a plain square."""
    from PIL import Image

    im = _scaled(im, size)
    box = Image.new(im.mode, (size, size), BACKGROUND if im.mode == "RGB" else BACKGROUND[0])
    box.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
    return box
