"""Training results per dataset version: retrain a version, or find its stored results.

`retrain(ws, version)` trains on the version's labels (read from git) and the images
recorded in it (from the DVC cache), never on the working tree, and stores the out-of-fold
probabilities, the fold models and the metrics in the workspace's state under
`runs/<name>/<key>/`, where the key (`run_key`) is a hash of what the results depend on: labels blob, image hash, params,
training version. Asking again for a version already trained returns at once; a killed run
resumes from its saved folds. A commit that changes at most WARM_MAX_CHANGED of the labels
of a trained version warm-starts from that version's fold models. The model kept for a
version is the ensemble of its K fold models; it also predicts the version's unlabelled
examples (`unlabelled`), which are never fitted. `ranking` and `suspects` read the results.
`load_predictions` stores probabilities brought from a file as a version's results instead.
`shared_results` and `add_results` are what `ide push`/`ide pull` carry between machines:
the index and each finished run's probabilities, run record, metrics and model (where it
has one), so a clone serves and warm-starts without training.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ide.data import predictions
from ide.learn import checkpoint, rank
from ide.repo import images, state
from ide.errors import InvalidInput, NotTrained
from ide.repo.versions import Version
from ide.learn.embeddings import embed_version
from ide.learn.train import (TRAIN_VERSION, image_side, predict_ensemble, standardise, train_version,
                    trains_images)
from ide.repo.workspace import Workspace

# Warm-start only when at most this share of labels changed: up to 5% a warm start finds
# the flips left as well as a full retrain does (bench/models.py).
WARM_MAX_CHANGED = 0.05


def run_key(version: Version) -> str:
    """What a version's results depend on: labels, images, params, training code."""
    blob = json.dumps([TRAIN_VERSION, version.labels_blob, version.images_hash,
                       asdict(version.params)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


# What a run shares with other machines, metrics.json last (its presence means complete):
# enough for `ide log`, `ide suspects` and the app; the model (the fold models, small
# heads or CNNs) too where the run has one, so the next commit warm-starts from it.
SHARED_FILES = ("run.json", "probs.npy", "metrics.json")
# A run of predictions brought from a file has no model; runs shared before unlabelled
# examples existed have no unlabelled.npy.
OPTIONAL_FILES = ("model.pt", "unlabelled.npy")
_KEY = re.compile(r"^[0-9a-f]{20}$")


def _index_path(ws: Workspace, name: str) -> Path:
    return state.path(ws, state.RUNS, name, "index.json")


def _run_dir(ws: Workspace, name: str, key: str) -> Path:
    return state.path(ws, state.RUNS, name, key)


def trained(ws: Workspace, name: str) -> dict[str, str]:
    """{commit: run key} of every trained commit of NAME."""
    return state.read_json(_index_path(ws, name), {}, valid=lambda d: all(
        isinstance(k, str) and isinstance(v, str) and v.isalnum() for k, v in d.items()))


def _previous_run(ws, version: Version) -> Path | None:
    """The newest finished run on the same classes, images and params, to warm-start from
    (a class added, renamed or merged changes the models' outputs)."""
    best = None
    for key in set(trained(ws, version.name).values()):
        run = _run_dir(ws, version.name, key)
        info = state.read_json(run / "run.json", None, valid=lambda d: isinstance(d, dict)
                               and {"images", "params", "finished"} <= d.keys())
        # A run of predictions brought from a file has no models to start from.
        if info and (run / "model.pt").exists() and info["images"] == version.images_hash and \
                info["params"] == asdict(version.params) and \
                info.get("classes") == list(version.classes):
            if best is None or info["finished"] > best[0]:
                best = (info["finished"], run)
    return best and best[1]


def retrain(ws: Workspace, version: Version, *, full: bool = False, progress=None,
            device: str = "cpu") -> dict:
    """Train on VERSION (or return its stored results): {"commit", "metrics", "cached",
    "seconds", "warm_start"}."""
    key = run_key(version)
    run = _run_dir(ws, version.name, key)
    # One training per version at a time: a second caller (the worker and `ide retrain`
    # on the same commit) waits, then finds the results stored.
    with state.lock(ws, f"run-{key}"):
        done = state.read_json(run / "run.json", {}) if (run / "metrics.json").exists() \
            else None
        if done is not None and not (full and done.get("warm_start")):
            return _record(ws, version, key, cached=True)
        _train_run(ws, version, run, full=full, progress=progress, device=device)
    return _record(ws, version, key, cached=False)


def _train_run(ws, version: Version, run: Path, *, full: bool, progress, device: str) -> None:
    """Train one version and store everything under RUN (metrics.json last)."""
    labels, classes, params = version.labels, list(version.classes), version.params
    if trains_images(params):
        ids, x = images.arrays(ws, version, image_side(params))
    else:
        ids, x = embed_version(ws, version, params, device=device, progress=progress)
        x = standardise(x)
    warm, warm_from = None, None
    prev = None if full else _previous_run(ws, version)
    if prev is not None:
        info = state.read_json(prev / "run.json", {})
        old = dict(zip(info.get("ids", []), info.get("labels", [])))
        new = {i: lab for i, lab in labels.items() if lab}
        # Added, removed and relabelled examples all count as changes. Folds go by id, so
        # fold k's model still never saw an example of fold k, new or old.
        changed = sum(old.get(i) != new.get(i) for i in set(old) | set(new))
        if changed <= WARM_MAX_CHANGED * len(new):
            warm = checkpoint.load_states(prev / "model.pt")
            warm_from = info["commit"]
    partial = run / "partial"
    start = time.time()
    blank = [n for n, i in enumerate(ids) if labels.get(i) == ""]
    blank_ids, blank_x = [ids[n] for n in blank], x[blank]
    ids, probs, states, metrics = train_version(
        ids, x, labels, classes, params, checked=version.checked, progress=progress,
        device=device, warm=warm, done=checkpoint.load_folds(partial),
        on_fold=lambda k, fold, p: checkpoint.save_fold(partial, k, fold, p))
    blank_probs = predict_ensemble(states, blank_x, len(classes), params, device)
    seconds = time.time() - start
    checkpoint.save_model(run / "model.pt", states, classes, params, x.shape[1])
    _write_results(run, version, ids, probs, metrics, seconds=round(seconds, 2),
                   warm_start=warm_from, unlabelled=(blank_ids, blank_probs))
    shutil.rmtree(partial, ignore_errors=True)


def _write_results(run: Path, version: Version, ids: list[str], probs: np.ndarray,
                   metrics: dict, *, unlabelled=((), None), **info) -> None:
    """A version's results under RUN: its probabilities, those of its UNLABELLED examples
    (ids, probs), the run record (with INFO) and metrics.json, written last: its presence
    means the run is complete."""
    state.write_atomic(run / "probs.npy", _npy(probs))
    blank_ids, blank_probs = unlabelled
    if blank_probs is None:
        blank_probs = np.zeros((0, len(version.classes)), dtype=np.float32)
    state.write_atomic(run / "unlabelled.npy", _npy(blank_probs))
    state.write_json(run / "run.json", {
        "commit": version.commit, "ids": ids, "labels": [version.labels[i] for i in ids],
        "unlabelled": list(blank_ids), "images": version.images_hash,
        "params": asdict(version.params), "classes": list(version.classes),
        "finished": time.time(), **info})
    state.write_json(run / "metrics.json", metrics)


def load_predictions(ws: Workspace, version: Version, file) -> dict:
    """Store out-of-sample probabilities from FILE (see `ide.predictions`) as VERSION's
    results, in place of a training: the ranking, metrics and app then use them."""
    ids = sorted(i for i, lab in version.labels.items() if lab)  # unlabelled: not judged
    probs = predictions.read(file, ids, list(version.classes))  # checked before any write
    classes = list(version.classes)
    y = np.array([classes.index(version.labels[i]) for i in ids])
    key = run_key(version)
    run = _run_dir(ws, version.name, key)
    with state.lock(ws, f"run-{key}"):
        shutil.rmtree(run, ignore_errors=True)
        checked = np.array([i in version.checked for i in ids], dtype=bool)
        _write_results(run, version, ids, probs,
                       rank.metrics(y, probs, classes, checked=checked), seconds=0.0,
                       warm_start=None, source=Path(file).name)
    return _record(ws, version, key, cached=False)


def export_predictions(ws: Workspace, version: Version, out) -> int:
    """Write VERSION's out-of-fold probabilities as the CSV `load_predictions` takes."""
    out = Path(out)
    if out.exists():
        raise InvalidInput(f"{out} exists: give a new file name")
    r = ranking(ws, version)
    state.write_atomic(out, predictions.format_csv(r.ids, r.classes, r.probs))
    return len(r.ids)


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _record(ws, version: Version, key: str, *, cached: bool) -> dict:
    with state.lock(ws, "runs"):
        index = trained(ws, version.name)
        index[version.commit] = key
        state.write_json(_index_path(ws, version.name), index)
    info = state.read_json(_run_dir(ws, version.name, key) / "run.json", {})
    return {"commit": version.commit, "metrics": stored_metrics(ws, version.name, key),
            "cached": cached, "seconds": info.get("seconds"),
            "warm_start": info.get("warm_start")}


def stored_metrics(ws: Workspace, name: str, key: str | None) -> dict | None:
    """The metrics of run KEY of NAME (None: no key, or not finished)."""
    return state.read_json(_run_dir(ws, name, key) / "metrics.json", None) if key else None


def metrics(ws: Workspace, name: str, commit: str) -> dict | None:
    """The metrics of NAME's model trained on COMMIT, or None if it is not trained."""
    return stored_metrics(ws, name, trained(ws, name).get(commit))


def shared_results(ws: Workspace, name: str) -> dict[str, Path]:
    """{path relative to NAME's runs: file} of the finished results to share."""
    index = trained(ws, name)
    files = {"index.json": _index_path(ws, name)} if index else {}
    for key in set(index.values()):
        run = _run_dir(ws, name, key)
        if (run / "metrics.json").exists():
            files.update({f"{key}/{f}": run / f for f in (*OPTIONAL_FILES, *SHARED_FILES)
                          if (run / f).exists()})
    return files


def add_results(ws: Workspace, name: str, files: dict[str, bytes]) -> int:
    """Store results brought from another machine (as `shared_results` lists them): runs
    missing here are written, and the index gets their commits where it has none. Returns
    how many runs were added."""
    theirs = json.loads(files.get("index.json", b"{}"))
    added = 0
    with state.lock(ws, "runs"):
        for key in sorted({k.split("/")[0] for k in files if "/" in k}):
            run = _run_dir(ws, name, key)
            if not _KEY.match(key) or (run / "metrics.json").exists() or \
                    any(f"{key}/{f}" not in files for f in SHARED_FILES):
                continue
            for f in (*OPTIONAL_FILES, *SHARED_FILES):
                if f"{key}/{f}" in files:
                    state.write_atomic(run / f, files[f"{key}/{f}"])
            added += 1
        index = trained(ws, name)
        for commit, key in theirs.items():
            if commit not in index and (_run_dir(ws, name, key) / "metrics.json").exists():
                index[commit] = key
        state.write_json(_index_path(ws, name), index)
    return added


@dataclass
class Ranking:
    """A trained version's out-of-fold view of every example, most suspicious first."""
    commit: str
    classes: list[str]
    ids: list[str]
    labels: np.ndarray       # (N,) given label index
    probs: np.ndarray        # (N, K) out-of-fold probabilities
    predicted: np.ndarray    # (N,) predicted class index
    score: np.ndarray        # (N,) label quality, lower = more suspicious
    loss: np.ndarray         # (N,) per-example cross-entropy
    suspect: np.ndarray      # (N,) bool, `rank.is_suspect`
    order: np.ndarray        # (N,) indices, most suspicious first

    @cached_property
    def position(self) -> dict[str, int]:
        """{id: its index in this ranking}, built on first use (O(N) once per ranking)."""
        return {i: n for n, i in enumerate(self.ids)}

    def rows(self, indices) -> list[dict]:
        return [{"id": self.ids[n], "label": self.classes[self.labels[n]],
                 "predicted": self.classes[self.predicted[n]], "loss": float(self.loss[n]),
                 "score": float(self.score[n]),
                 "probability": float(self.probs[n, self.predicted[n]]),
                 "suspect": bool(self.suspect[n])} for n in indices]


def _finished_run(ws: Workspace, version: Version) -> Path:
    """The folder of VERSION's finished results; NotTrained if it has none."""
    key = trained(ws, version.name).get(version.commit)
    run = _run_dir(ws, version.name, key) if key else None
    if run is None or not (run / "metrics.json").exists():
        raise NotTrained(f"{version.name} at {version.commit[:10]} is not trained yet: run "
                         f"`ide retrain {version.name}` (or keep `ide watch` running)")
    return run


def ranking(ws: Workspace, version: Version, *, method: str = rank.DEFAULT_METHOD) -> Ranking:
    """The stored results of VERSION, ranked; NotTrained if it has none."""
    run = _finished_run(ws, version)
    info = state.read_json(run / "run.json", {})
    classes = list(version.classes)
    index = {c: j for j, c in enumerate(classes)}
    y = np.array([index[lab] for lab in info["labels"]], dtype=np.int64)
    probs = np.load(run / "probs.npy")
    score = rank.label_quality(y, probs, method=method)
    checked = version.checked
    is_checked = np.array([i in checked for i in info["ids"]], dtype=bool) if checked \
        else np.zeros(len(y), dtype=bool)
    # Checked examples go last: a reviewer already said their label is right.
    order = np.lexsort((score, is_checked))
    return Ranking(version.commit, classes, info["ids"], y, probs, rank.predicted(probs),
                   score, rank.per_example_loss(y, probs),
                   rank.is_suspect(y, probs, checked=is_checked), order)


def model_file(ws: Workspace, version: Version) -> Path | None:
    """VERSION's model.pt (its K fold models), or None if it was not trained here."""
    key = trained(ws, version.name).get(version.commit)
    path = _run_dir(ws, version.name, key) / "model.pt" if key else None
    return path if path is not None and path.exists() else None


def unlabelled(ws: Workspace, version: Version) -> tuple[list[str], np.ndarray]:
    """(ids, (N, K) probabilities) of VERSION's unlabelled examples, as its model (the
    ensemble of the fold models) predicts them; NotTrained if it has no results."""
    run = _finished_run(ws, version)
    ids = state.read_json(run / "run.json", {}).get("unlabelled", [])
    path = run / "unlabelled.npy"
    probs = np.load(path) if path.exists() else np.zeros((0, len(version.classes)))
    return (ids, probs) if len(ids) == len(probs) else ([], probs[:0])


def suspects(ws: Workspace, version: Version, *, top: int | None = 20,
             method: str = rank.DEFAULT_METHOD) -> list[dict]:
    """The TOP most suspicious examples: id, label, predicted, loss, score."""
    r = ranking(ws, version, method=method)
    return r.rows(r.order[:top] if top else r.order)
