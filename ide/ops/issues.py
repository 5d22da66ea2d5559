"""Image issues of a version: dark, light, blurry, low-information, odd-size and
odd-aspect-ratio images (`ide.learn.quality` defines each score and its threshold), and
exact duplicates (the same DVC md5 twice).

An image's measurements depend only on its content, so they are kept by its DVC md5 under
the workspace state (`ide.repo.state.ISSUES`, one folder per version of the measurements),
in shards (`<hash>.npz`: md5s and their measurements), one per chunk of images measured
that were not known yet. Nothing is rewritten: a crash loses at most the chunk being
measured, and a grown or relabelled dataset decodes only images it has not seen. The scores
are made from the measurements on every call, since odd size is relative to the version's
images. Exact duplicates score 0 (every copy is flagged) and are listed group by group.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import defaultdict

import numpy as np

from ide.errors import InvalidInput
from ide.learn import quality
from ide.repo import images, state, versions
from ide.repo.shards import Shards
from ide.repo.versions import Version
from ide.repo.workspace import Workspace

KINDS = (*quality.KINDS, "exact_duplicates")
# The measurements' own version: a change to what `quality.measure` returns gets a new folder.
SETTING = "cleanvision-0.3.7/" + ",".join(quality.PROPERTIES)
CHUNK = 512            # images measured and stored together: a kill loses one chunk
PARALLEL_FROM = 2000   # new images; fewer are measured in this process (a pool takes a moment)


class MeasurementCache(Shards):
    """The measurements (`quality.PROPERTIES`) of images, by md5."""

    def __init__(self, ws: Workspace):
        super().__init__(state.path(ws, state.ISSUES,
                                    hashlib.sha256(SETTING.encode()).hexdigest()[:16]),
                         "props")


def measure_file(path: str) -> np.ndarray:
    """The measurements of the image at PATH (grey kept grey, any other mode made RGB, as
    the file's own pixels); all NaN if it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im if im.mode in ("L", "RGB") else im.convert("RGB")
            return quality.measure(np.asarray(im))
    except Exception:  # PIL raises many types for corrupt data; such an image has no scores
        return np.full(len(quality.PROPERTIES), np.nan)


def _measure_all(paths: list[str]):
    """The measurements of PATHS in order, on every core when there are many."""
    if len(paths) < PARALLEL_FROM or (os.cpu_count() or 1) < 2:
        yield from map(measure_file, paths)
        return
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(min(os.cpu_count() or 1, 8))
    try:
        yield from pool.map(measure_file, paths, chunksize=64)
    finally:
        pool.shutdown(cancel_futures=True)


def measurements(ws: Workspace, version: Version, *,
                 progress=None) -> tuple[list[str], list[str], np.ndarray]:
    """(sorted ids, their md5s, (N, len(quality.PROPERTIES)) measurements) of VERSION's
    examples that have an image; only images whose content is not cached yet are decoded.
    PROGRESS gets {"done", "total", "fraction", "rate"}."""
    files = images.image_files(ws, version)
    ids = sorted(i for i in version.labels if i in files)
    md5s = [files[i][0] for i in ids]
    cache = MeasurementCache(ws)
    new = sorted(set(md5s) - set(cache.known))
    if new:
        path_of = {md5: str(path) for md5, path in (files[i] for i in ids)}
        start, part = time.time(), []
        for n, props in enumerate(_measure_all([path_of[m] for m in new]), 1):
            part.append(props)
            if len(part) == CHUNK or n == len(new):
                cache.put(new[n - len(part):n], np.stack(part))
                part = []
            if progress and (n % 100 == 0 or n == len(new)):
                progress({"done": n, "total": len(new), "fraction": n / len(new),
                          "rate": n / max(time.time() - start, 1e-6)})
    props = np.stack([cache.known[m] for m in md5s]) if md5s else \
        np.empty((0, len(quality.PROPERTIES)))
    return ids, md5s, props


def flagged(ws: Workspace, version: Version, *,
            progress=None) -> dict[str, list[tuple[str, float]]]:
    """{kind: [(id, score), ...]} of every kind of KINDS: the flagged examples of VERSION,
    worst (lowest score) first, ties by id; exact duplicates group by group."""
    ids, md5s, props = measurements(ws, version, progress=progress)
    measured = ~np.isnan(props).any(axis=1)
    ids_ok = [i for i, ok in zip(ids, measured) if ok]
    found = quality.scores(props[measured])
    flags = quality.flags(props[measured], found)
    out = {}
    for kind in quality.KINDS:
        score, flag = found[kind], flags[kind]
        order = sorted(np.flatnonzero(flag), key=lambda n: (score[n], ids_ok[n]))
        out[kind] = [(ids_ok[n], round(float(score[n]), 4) + 0.0) for n in order]  # no -0.0
    groups = defaultdict(list)
    for i, md5 in zip(ids, md5s):
        groups[md5].append(i)
    out["exact_duplicates"] = [(i, 0.0) for group in sorted(g for g in groups.values()
                                                            if len(g) > 1) for i in group]
    return out


def check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"unknown issue kind {kind!r}: choose from {', '.join(KINDS)}")


def issues(ws: Workspace, name: str, *, rev: str = "HEAD", kind: str | None = None,
           top: int | None = 20, progress=None) -> list[dict]:
    """The flagged examples of NAME at REV: [{"id", "kind", "score", "label"}], kind by kind
    in the order of KINDS (only KIND if given), worst (lowest score) first within a kind, at
    most TOP of each (None or 0: all, as every `--top`). The label is "" for an unlabelled
    example."""
    check_kind(kind)
    if top is not None and top < 0:
        raise InvalidInput(f"--top must be 0 (all) or more, got {top}")
    version = versions.resolve(ws, name, rev)
    found = flagged(ws, version, progress=progress)
    return [{"id": i, "kind": k, "score": s, "label": version.labels[i]}
            for k in ([kind] if kind else KINDS) for i, s in found[k][:top or None]]
