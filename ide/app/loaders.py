"""The app's data, cached by what it depends on: a commit's ranking, image files, ids,
duplicates, outliers and image issues (dark, blurry, ...), its map's layout and
embeddings, and the thumbnails of images (by their content's hash).

The functions read only their arguments (the workspace by its root, a commit by its id),
so a cached answer is always right for them. What a page asks for once per card (the
image files, the thumbnails) is kept in an `lru_cache`: Streamlit's caches hash their
arguments with `inspect.signature` on every call, a millisecond a card.
"""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from ide.app import thumbs
from ide.learn import quality, ranking
from ide.repo import images, versions
from ide.repo.workspace import Workspace


# cache_resource, not cache_data: these are read-only and large, and cache_data would
# unpickle a fresh copy on every call.
@st.cache_resource(show_spinner=False, max_entries=8)
def load_ranking(root: str, name: str, commit: str) -> ranking.Ranking:
    ws = Workspace(root)
    return ranking.load(ws, versions.resolve(ws, name, commit))


@functools.lru_cache(maxsize=8)
def load_images(root: str, name: str, commit: str) -> dict:
    ws = Workspace(root)
    return images.image_files(ws, versions.resolve(ws, name, commit))


@st.cache_resource(show_spinner=False, max_entries=8)
def id_array(root: str, name: str, commit: str) -> np.ndarray:
    """A ranking's ids as an array (for the id search): made once per commit, not per rerun."""
    return np.asarray(load_ranking(root, name, commit).ids)


@functools.lru_cache(maxsize=20000)
def load_thumb(root: str, md5: str, path: str, big: bool = False) -> bytes | None:
    ws = Workspace(root)
    return thumbs.zoom(ws, md5, path) if big else thumbs.thumbnail(ws, md5, path)


# What the Review page's "Show" offers besides "all": each is a `load_special` KIND.
SPECIAL = ("duplicates", "outliers", *quality.KINDS)


@st.cache_resource(show_spinner=False, max_entries=8)
def load_special(root: str, name: str, commit: str, kind: str) -> list[str]:
    """Ids of the commit's duplicates (pair by pair), its 50 worst outliers, or its images
    flagged with an image issue KIND of `quality.KINDS` (worst first)."""
    from ide.ops import duplicates, issues

    ws = Workspace(root)
    if kind in quality.KINDS:
        return [i for i, _ in issues.flagged(ws, versions.resolve(ws, name, commit))[kind]]
    if kind == "duplicates":
        return [i for r in duplicates.duplicates(ws, name, rev=commit) for i in (r["a"], r["b"])]
    return [r["id"] for r in duplicates.outliers(ws, name, rev=commit, top=50)]


def image_of(ws, name, commit, example_id, big: bool = False) -> bytes | None:
    """The thumbnail (BIG: the zoom) of EXAMPLE_ID at COMMIT; None where it has no image."""
    entry = load_images(str(ws.root), name, commit).get(example_id)
    return load_thumb(str(ws.root), entry[0], str(entry[1]), big) if entry else None


@st.cache_resource(show_spinner=False, max_entries=4)
def load_layout(root: str, name: str, commit: str) -> tuple[list[str], np.ndarray]:
    """The map's (ids, (N, 2) points) of a commit (`ide.ops.atlas.layout`, kept on disk)."""
    from ide.ops import atlas

    ws = Workspace(root)
    return atlas.layout(ws, versions.resolve(ws, name, commit))


@st.cache_resource(show_spinner=False, max_entries=2)
def load_embeddings(root: str, name: str, commit: str) -> tuple[list[str], np.ndarray]:
    """(ids, (N, D) unit-length embeddings) of a commit, for "More like this"."""
    from ide.ops import duplicates

    ws = Workspace(root)
    return duplicates.embeddings(ws, versions.resolve(ws, name, commit))


def thumbnail_png(root: str, name: str, commit: str, example_id: str) -> bytes | None:
    """The gallery's thumbnail of EXAMPLE_ID at COMMIT, for the server's thumbnail route
    (`ide.serve.backend`); None where there is no such dataset, commit or image."""
    from ide.errors import IDEError

    ws = Workspace(root)
    # Only a full commit id and a dataset that exists reach git: the query is the browser's.
    if not (len(commit) == 40 and all(ch in "0123456789abcdef" for ch in commit)) \
            or name not in versions.datasets(ws):
        return None
    try:
        return image_of(ws, name, commit, example_id)
    except IDEError:
        return None
