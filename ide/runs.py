"""Training results per dataset version: retrain a commit, or find its stored results.

`retrain(ws, name, rev)` trains on the labels of commit REV read from git and the images
recorded at REV (from the DVC cache), never on the working tree, and stores the out-of-fold
probabilities, the fold models and the metrics under `.ide/runs/<name>/<key>/`, where the
key is what the results depend on (labels blob, image hash, params, training version).
Asking again for a version already trained returns at once; a killed run resumes from its
saved folds. A commit that changes at most WARM_MAX_CHANGED of the labels of a trained
version warm-starts from that version's fold models. The model kept for a version is the
ensemble of its K fold models. `ranking` and `suspects` read the stored results.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import dataset as ds
from . import rank, store
from .dataset import Params
from .errors import NotTrained
from .train import TRAIN_VERSION, decode, save_model, train_version
from .workspace import Workspace, read_json, write_json

WARM_MAX_CHANGED = 0.02  # warm-start only when at most this share of labels changed


def load_images(ws: Workspace, name: str, rev: str, size: int) -> tuple[list[str], np.ndarray]:
    """(sorted ids, images) recorded at REV, decoded once and cached by the images' hash."""
    cache = ws.state_path("arrays", f"{store.images_hash(ws, name, rev)}-{size}.npz")
    if cache.exists():
        with np.load(cache) as z:
            return list(z["ids"]), z["x"]
    files = store.image_files(ws, name, rev)
    ids = sorted(files)
    x = decode([files[i][1] for i in ids], size)
    tmp = cache.with_name(cache.stem + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, ids=np.array(ids), x=x)
    os.replace(tmp, cache)
    return ids, x


# -- runs stored per dataset version -----------------------------------------------------
def _params_at(ws: Workspace, name: str, rev: str) -> Params:
    return ds.parse_params(ws.show(rev, f"{ds.dataset_dir(name)}/params.yaml"))


def run_key(ws: Workspace, name: str, commit: str) -> str:
    """What a version's results depend on: labels, images, params, training code."""
    folder = ds.dataset_dir(name)
    labels_blob = ws.git("rev-parse", f"{commit}:{folder}/labels.csv").strip()
    images = store.images_hash(ws, name, commit)
    params = asdict(_params_at(ws, name, commit))
    blob = json.dumps([TRAIN_VERSION, labels_blob, images, params], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _index_path(ws: Workspace, name: str) -> Path:
    return ws.state_path("runs", name, "index.json")


def _run_dir(ws: Workspace, name: str, key: str) -> Path:
    return ws.root / ".ide" / "runs" / name / key


def trained(ws: Workspace, name: str) -> dict[str, str]:
    """{commit: run key} of every trained commit of NAME."""
    return read_json(_index_path(ws, name), {})


def _previous_run(ws, name, images: str, params: Params) -> Path | None:
    """The newest finished run on the same images and params, to warm-start from."""
    best = None
    for key in set(trained(ws, name).values()):
        run = _run_dir(ws, name, key)
        info = read_json(run / "run.json", None)
        if info and info["images"] == images and info["params"] == asdict(params):
            if best is None or info["finished"] > best[0]:
                best = (info["finished"], run)
    return best and best[1]


def retrain(ws: Workspace, name: str, rev: str = "HEAD", *, full: bool = False,
            progress=None, device: str = "cpu") -> dict:
    """Train on the version at REV (or return its stored results): {"commit", "metrics"}."""
    commit = ws.rev_parse(rev)
    key = run_key(ws, name, commit)
    run = _run_dir(ws, name, key)
    # One training per version at a time: a second caller (the worker and `ide retrain`
    # on the same commit) waits, then finds the results stored.
    with ws.lock(f"run-{key}"):
        done = read_json(run / "run.json", {}) if (run / "metrics.json").exists() else None
        if done is not None and not (full and done.get("warm_start")):
            return _record(ws, name, commit, key, cached=True)
        _train_run(ws, name, commit, run, full=full, progress=progress, device=device)
    return _record(ws, name, commit, key, cached=False)


def _train_run(ws, name, commit, run: Path, *, full: bool, progress, device: str) -> None:
    """Train one version and store everything under RUN (metrics.json last)."""
    import torch

    labels = store.labels(ws, name, commit)
    classes = store.meta(ws, name, commit)["classes"]
    params = _params_at(ws, name, commit)
    ids, x = load_images(ws, name, commit, params.image_size)
    images = store.images_hash(ws, name, commit)
    warm, warm_from = None, None
    prev = None if full else _previous_run(ws, name, images, params)
    if prev is not None:
        info = read_json(prev / "run.json", {})
        old = dict(zip(info.get("ids", []), info.get("labels", [])))
        changed = sum(old.get(i) != labels.get(i) for i in ids)
        if set(old) == set(labels) and changed <= WARM_MAX_CHANGED * len(labels):
            warm = torch.load(prev / "model.pt", weights_only=False)["states"]
            warm_from = info["commit"]
    start = time.time()
    ids, probs, states, metrics = train_version(
        ids, x, labels, classes, params, checked=store.checked(ws, name, commit),
        progress=progress, device=device, warm=warm, partial=run / "partial")
    seconds = time.time() - start
    save_model(run / "model.pt", states, classes, params)
    np.save(run / "probs.npy", probs)
    write_json(run / "run.json", {
        "commit": commit, "ids": ids, "labels": [labels[i] for i in ids], "images": images,
        "params": asdict(params), "finished": time.time(), "seconds": round(seconds, 2),
        "warm_start": warm_from})
    write_json(run / "metrics.json", metrics)  # written last: its presence means done
    shutil.rmtree(run / "partial", ignore_errors=True)


def _record(ws, name, commit, key, *, cached: bool) -> dict:
    with ws.lock("runs"):
        index = trained(ws, name)
        index[commit] = key
        write_json(_index_path(ws, name), index)
    info = read_json(_run_dir(ws, name, key) / "run.json", {})
    return {"commit": commit, "metrics": _stored_metrics(ws, name, key),
            "cached": cached, "seconds": info.get("seconds"),
            "warm_start": info.get("warm_start")}


def _stored_metrics(ws: Workspace, name: str, key: str | None) -> dict | None:
    return read_json(_run_dir(ws, name, key) / "metrics.json", None) if key else None


def metrics(ws: Workspace, name: str, commit: str) -> dict | None:
    return _stored_metrics(ws, name, trained(ws, name).get(commit))


def attach_metrics(ws: Workspace, name: str, entries: list[dict]) -> list[dict]:
    """Fill `metrics` of `store.log` entries from the stored runs."""
    index = trained(ws, name)
    for e in entries:
        e["metrics"] = _stored_metrics(ws, name, index.get(e["commit"]))
    return entries


@dataclass
class Ranking:
    """A trained version's out-of-fold view of every example, most suspicious first."""
    commit: str
    classes: list[str]
    ids: list[str]
    labels: np.ndarray       # (N,) given label index
    probs: np.ndarray        # (N, K) out-of-fold probabilities
    score: np.ndarray        # (N,) label quality, lower = more suspicious
    loss: np.ndarray         # (N,) per-example cross-entropy
    suspect: np.ndarray      # (N,) bool, confident-learning filter minus checked examples
    order: np.ndarray        # (N,) indices, most suspicious first

    def rows(self, indices) -> list[dict]:
        pred = self.probs.argmax(1)
        return [{"id": self.ids[n], "label": self.classes[self.labels[n]],
                 "predicted": self.classes[pred[n]], "loss": float(self.loss[n]),
                 "score": float(self.score[n]), "probability": float(self.probs[n, pred[n]]),
                 "suspect": bool(self.suspect[n])} for n in indices]


def ranking(ws: Workspace, name: str, rev: str = "HEAD", *,
            method: str = rank.DEFAULT_METHOD) -> Ranking:
    commit = ws.rev_parse(rev)
    key = trained(ws, name).get(commit)
    run = _run_dir(ws, name, key) if key else None
    if run is None or not (run / "metrics.json").exists():
        raise NotTrained(f"{name} at {commit[:10]} is not trained yet: run `ide retrain {name}`"
                         " (or keep `ide watch` running)")
    info = read_json(run / "run.json", {})
    classes = store.meta(ws, name, commit)["classes"]
    y = np.array([classes.index(lab) for lab in info["labels"]])
    probs = np.load(run / "probs.npy")
    score = rank.label_quality(y, probs, method=method)
    done = store.checked(ws, name, commit)
    is_checked = np.array([i in done for i in info["ids"]], dtype=bool)
    # Checked examples go last: a reviewer already said their label is right.
    order = np.lexsort((score, is_checked))
    return Ranking(commit, classes, info["ids"], y, probs, score, rank.per_example_loss(y, probs),
                   rank.find_label_issues(y, probs) & ~is_checked, order)


def suspects(ws: Workspace, name: str, rev: str = "HEAD", *, top: int | None = 20,
             method: str = rank.DEFAULT_METHOD) -> list[dict]:
    """The TOP most suspicious examples: id, label, predicted, loss, score."""
    r = ranking(ws, name, rev, method=method)
    return r.rows(r.order[:top] if top else r.order)


