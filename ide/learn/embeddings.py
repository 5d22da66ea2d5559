"""Embeddings of a version's images by a pretrained backbone, cached per image content.

A backbone never sees a label, so an image's embedding depends only on its content (its DVC
md5), the backbone and the input side. The cache keeps one folder per such setting under
the workspace state (`ide.repo.state.EMBEDDINGS`), holding shards (`ide.repo.shards`: md5s
and float16 vectors), one per call that embedded something new, so a grown or relabelled
dataset embeds only images it has not seen.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np

from ide.data.params import Params
from ide.learn import backbone
from ide.learn.train import torch_device
from ide.repo import images, state
from ide.repo.shards import Shards
from ide.repo.versions import Version
from ide.repo.workspace import Workspace


class EmbeddingCache(Shards):
    """The vectors of one backbone setting, by image md5."""

    def __init__(self, ws: Workspace, params: Params):
        setting = json.dumps([params.model, params.weights, backbone.side(params.model)])
        super().__init__(state.path(ws, state.EMBEDDINGS,
                                    hashlib.sha256(setting.encode()).hexdigest()[:16]),
                         "vectors")

    def put(self, md5s: list[str], vectors: np.ndarray) -> None:
        super().put(md5s, vectors.astype(np.float16))

    def get(self, md5s: list[str]) -> np.ndarray:
        """(N, D) float32 vectors of MD5S, which must all be cached."""
        return np.stack([self.known[m] for m in md5s]).astype(np.float32)


def embed_version(ws: Workspace, version: Version, params: Params, *, device: str = "cpu",
                  progress=None, only: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(sorted ids, (N, D) embeddings) of VERSION's images (ONLY: of these ids alone); only
    images whose content is not cached yet are decoded and embedded. PROGRESS gets
    {"done", "total", "fraction", "rate"}."""
    files = images.image_files(ws, version)
    ids = sorted(files) if only is None else sorted(only)
    cache = EmbeddingCache(ws, params)
    new = sorted({files[i][0] for i in ids} - set(cache.known))
    if new:
        device = str(torch_device(device))
        path_of = {md5: path for md5, path in files.values()}
        embedder = backbone.load(params.model, params.weights or None, device)
        start = time.time()
        chunk = 512  # decode and store in chunks: memory stays flat, a kill loses one chunk
        for b in range(0, len(new), chunk):
            part = new[b:b + chunk]
            x = images.decode([path_of[m] for m in part], backbone.side(params.model))

            def on_batch(done, total, b=b):
                if progress:
                    n = b + done
                    progress({"done": n, "total": len(new), "fraction": n / len(new),
                              "rate": n / max(time.time() - start, 1e-6)})
            cache.put(part, backbone.embed(embedder, x, device=device, on_batch=on_batch))
    return ids, cache.get([files[i][0] for i in ids])
