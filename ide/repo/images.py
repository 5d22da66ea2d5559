"""Image files: where a version's images are (the DVC cache), and decoding them to arrays.

A version records its images by one DVC hash; the files themselves are read from the DVC
cache by content, never from whatever the working tree holds. Decoded arrays are kept in
the workspace's state (`ide.repo.state.ARRAYS`) by that hash, so a version is decoded once.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ide.data import formats as ds
from ide.errors import IDEError, InvalidInput
from ide.repo import dvcdir, state
from ide.repo.versions import Version
from ide.repo.workspace import Workspace


class ImageFiles(Mapping):
    """{id: (md5, path)} of a version's images; the Path is made when an entry is read (a
    page of the app reads 51 of 100,000, and making them all cost a second)."""

    def __init__(self, entries: dict[str, tuple[str, str]]):
        self._entries = entries

    def __getitem__(self, i: str) -> tuple[str, Path]:
        md5, path = self._entries[i]
        return md5, Path(path)

    def __contains__(self, i) -> bool:
        return i in self._entries

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


_HEX = set("0123456789abcdef")


def image_files(ws: Workspace, version: Version) -> ImageFiles:
    """{id: (md5, path)} of the images recorded at VERSION, read from the DVC cache.

    Where the cache lacks a file (a clone that never ran `dvc pull`) the working copy is
    used instead; an image found in neither is left out. The cache's folders are listed
    once each rather than asking for every file (100,000 `stat`s took seconds).
    """
    folder, dvcfile = version.folder, version.images_hash
    if not dvcfile:
        raise IDEError(f"{folder}/images.dvc does not describe a DVC-tracked folder at "
                       f"{version.commit[:10]}")
    cache = ws.cache_dir()
    entries = dvcdir.read_manifest(cache, dvcfile, f"{folder}/images at {version.commit[:10]}")
    pairs = [(e.get("md5"), e.get("relpath")) if isinstance(e, dict) else (None, e)
             for e in (entries if isinstance(entries, list) else [None])]
    # The manifest comes with a commit: its paths must stay inside images/.
    try:
        if not all(isinstance(m, str) and len(m) == 32 and isinstance(r, str)
                   for m, r in pairs) or not set("".join(m for m, _ in pairs)) <= _HEX:
            raise InvalidInput("not an md5")
        ds.check_ids(r for _, r in pairs)
    except InvalidInput:
        bad = next(r for m, r in pairs if not isinstance(m, str) or not isinstance(r, str)
                   or not re.fullmatch(r"[0-9a-f]{32}", m) or not ds.is_safe_id(r))
        raise IDEError(f"the DVC manifest of {folder}/images at {version.commit[:10]} "
                       f"has an unsafe entry: {str(bad)[:100]!r}") from None
    present = set()
    for sub in {m[:2] for m, _ in pairs}:
        try:
            present.update(sub + name for name in os.listdir(cache / sub))
        except OSError:
            pass
    base, work = str(cache), str(ws.root / folder / "images")
    files = {rel: (md5, f"{base}/{md5[:2]}/{md5[2:]}") for md5, rel in pairs if md5 in present}
    for md5, rel in pairs:
        if rel not in files and os.path.exists(f"{work}/{rel}"):
            files[rel] = (md5, f"{work}/{rel}")
    return ImageFiles(files)


def decode(paths: list[Path], size: int) -> np.ndarray:
    """Images of any size and mode -> (N, C, size, size) uint8; C is 1 if all are grey."""
    from PIL import Image

    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for n, path in enumerate(paths):
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            out[n] = np.asarray(im)
    grey = (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    out = out[..., :1] if grey else out
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def arrays(ws: Workspace, version: Version, size: int) -> tuple[list[str], np.ndarray]:
    """(sorted ids, images) recorded at VERSION, decoded once and cached by the images' hash."""
    cache = state.path(ws, state.ARRAYS, f"{version.images_hash}-{size}.npz")
    if cache.exists():
        with np.load(cache) as z:
            return list(z["ids"]), z["x"]
    files = image_files(ws, version)
    ids = sorted(files)
    x = decode([files[i][1] for i in ids], size)
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(ids), x=x)
    state.write_atomic(cache, buf.getvalue())
    return ids, x
