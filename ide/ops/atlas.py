"""The map of a trained version: every example as a point in 2-D, and its nearest
neighbours ("more like this"), both in the embedding space of `ide.ops.duplicates`.

The 2-D layout is `ide.learn.projection.project` of the embeddings. It costs seconds at
10,000 examples and minutes at 100,000, so it is made once per version's run key (what
its embeddings depend on: labels, images, params, training code) and projection, and kept
under the workspace state (`.ide/atlas/<dataset>/<key>.npz`); a second visit reads it.
Neighbours are an exact cosine search: one matrix-vector product over unit-length vectors.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np

from ide.errors import InvalidInput
from ide.learn import projection, ranking, runs
from ide.ops import duplicates
from ide.repo import state, versions
from ide.repo.versions import Version
from ide.repo.workspace import Workspace


def layout_path(ws: Workspace, version: Version):
    """Where VERSION's layout is kept: keyed by its run key and the projection's setting."""
    setting = json.dumps([runs.run_key(version), projection.SETTING], sort_keys=True)
    key = hashlib.sha256(setting.encode()).hexdigest()[:20]
    return state.path(ws, state.ATLAS, version.name, f"{key}.npz")


def layout(ws: Workspace, version: Version) -> tuple[list[str], np.ndarray]:
    """(ids, (N, 2) float32 points) of VERSION's examples, made once and then read back.
    NotTrained where the embeddings need a model that VERSION lacks."""
    path = layout_path(ws, version)
    if path.exists():
        with np.load(path, allow_pickle=False) as f:
            return f["ids"].tolist(), f["xy"]
    ids, z = duplicates.embeddings(ws, version)
    xy = projection.project(z).astype(np.float32)
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(ids), xy=xy)
    state.write_atomic(path, buf.getvalue())
    return ids, xy


def nearest(z: np.ndarray, n: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine similarities) of the TOP rows of unit-length Z (N, D) most like row
    N, most alike first, row N itself first (a duplicate of it may tie it)."""
    sims = z @ z[n]
    sims[n] = np.inf  # first, even against an exact duplicate
    top = min(top, len(z))
    picked = np.argpartition(-sims, top - 1)[:top] if top < len(z) else np.arange(len(z))
    picked = picked[np.argsort(-sims[picked], kind="stable")]
    sims[n] = 1.0
    return picked, sims[picked]


def similar(ws: Workspace, name: str, example_id: str, *, rev: str = "HEAD",
            top: int = 20) -> list[dict]:
    """The TOP examples most like EXAMPLE_ID in REV's embedding space, itself first:
    [{"id", "label", "predicted", "similarity"}] (predicted: the out-of-fold prediction;
    "" for an unlabelled label). NotTrained if REV has no results."""
    if top < 1:
        raise InvalidInput(f"--top must be at least 1, got {top}")
    version = versions.resolve(ws, name, rev)
    if example_id not in version.labels:
        raise InvalidInput(f"unknown example id {example_id!r} in dataset {name!r}")
    r = ranking.load(ws, version)  # NotTrained first: the embeddings may need its model
    ids, z = duplicates.embeddings(ws, version)
    if example_id not in ids:
        raise InvalidInput(f"{example_id!r} has no embedding: its image is missing")
    picked, sims = nearest(z, ids.index(example_id), top)
    return rows(version, r, [ids[n] for n in picked], sims)


def rows(version: Version, r: ranking.Ranking, ids: list[str], sims) -> list[dict]:
    """The rows of `similar` for IDS with similarities SIMS."""
    at = r.position
    return [{"id": i, "label": version.labels[i],
             "predicted": r.classes[r.predicted[at[i]]] if i in at else "",
             "similarity": round(float(s), 4)} for i, s in zip(ids, sims)]
