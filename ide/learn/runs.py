"""The run store: training results per dataset version, and (re)training a version.

`retrain(ws, version)` trains on the version's labels (read from git) and the images
recorded in it (from the DVC cache), never on the working tree, and stores the out-of-fold
probabilities, the fold models and the metrics in the workspace's state under
`runs/<name>/<key>/`, where the key (`run_key`) is a hash of what the results depend on:
labels blob, image hash, params, training version. An index per dataset maps each trained
commit to its key. Asking again for a version already trained returns at once; a killed run
resumes from its saved folds. A commit that changes at most WARM_MAX_CHANGED of the labels
of a trained version (images added or removed count as changed labels) warm-starts from
that version's fold models. The model kept for a version is the ensemble of its K fold
models; it also predicts the version's unlabelled examples, which are never fitted.
`load_predictions` stores probabilities brought from a file as a version's results instead;
`add_runs` stores runs brought from another machine (`ide.ops.sync` decides what travels).
This module is the only writer of `runs/`; the ranked view of a run is `ide.learn.ranking`.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ide.data import formats as ds
from ide.data import predictions
from ide.data.params import AUTO, CNN, Params, parse_params
from ide.errors import IDEError, NotTrained
from ide.learn import checkpoint
from ide.learn import choice as choice_
from ide.learn import rank
from ide.learn.embeddings import embed_version
from ide.learn.head import standardise
from ide.learn.incoming import KEY
from ide.learn.train import (TRAIN_VERSION, check_trainable, image_side, predict_ensemble,
                             train_version, trains_images)
from ide.repo import dvcdir, images, state
from ide.repo.versions import Version
from ide.repo.workspace import Workspace

# Warm-start only when at most this share of labels changed: up to 5% a warm start finds
# the flips left as well as a full retrain does (bench/models.py).
WARM_MAX_CHANGED = 0.05
# (workspace root, dataset, commit) -> run key (None: no such dataset there), of `keys_at`:
# the worker and the app's status poll ask about the same untrained HEAD every second.
_KEYS: dict[tuple[str, str, str], str | None] = {}


def run_key(version: Version) -> str:
    """What a version's results depend on: labels, images, params, training code."""
    return _key(version.labels_blob, version.images_hash, version.params)


def _key(labels_blob: str, images_hash: str, params: Params) -> str:
    blob = json.dumps([TRAIN_VERSION, labels_blob, images_hash, asdict(params)],
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def keys_at(ws: Workspace, name: str, commits: list[str]) -> dict[str, str | None]:
    """{commit: the run key of NAME at it}, from its files' content (None where a commit
    has no such dataset or unreadable files). Cheap for many commits: labels.csv's blob id
    is asked for, never its content; the small images.dvc and params.yaml are read and
    parsed once per distinct content; two git processes in all, and none for a commit asked
    before in this process (a commit never changes, so neither does its key)."""
    folder = ds.dataset_dir(name)
    known = {c: _KEYS[str(ws.root), name, c] for c in commits if (str(ws.root), name, c) in _KEYS}
    commits = [c for c in commits if c not in known]
    files = ("labels.csv", "images.dvc", "params.yaml")
    ids = ws.object_ids([f"{c}:./{folder}/{f}" for c in commits for f in files])
    rows = [ids[n:n + 3] for n in range(0, len(ids), 3)]
    texts = ws.read_objects({i for row in rows for i in row[1:] if i})
    parsed: dict[tuple, tuple | None] = {}  # (images.dvc, params.yaml) -> (images, params)
    keys = {}
    for commit, (labels, dvc, params) in zip(commits, rows):
        if (dvc, params) not in parsed:
            try:
                parsed[dvc, params] = (
                    ds.images_hash(texts[dvc].decode()) if dvc else "",
                    parse_params(texts[params].decode() if params else None))
            except (IDEError, KeyError, UnicodeDecodeError):
                parsed[dvc, params] = None
        inputs = parsed[dvc, params]
        keys[commit] = None if labels is None or inputs is None else _key(labels, *inputs)
        if len(commit) in (40, 64):  # a commit id, not a name that may move
            _KEYS[str(ws.root), name, commit] = keys[commit]
    return {**known, **keys}


def runs_of(ws: Workspace, name: str, commits: list[str]) -> dict[str, str | None]:
    """{commit: the key of NAME's finished run for it}: the index's, or else any finished
    run of the same content (a commit that changed no dataset file, a clone's commit),
    which is then indexed. None: not trained."""
    index = trained(ws, name)
    found = {c: index.get(c) for c in commits}
    missing = [c for c, k in found.items() if k is None]
    new = {c: k for c, k in keys_at(ws, name, missing).items()
           if k is not None and (run_dir(ws, name, k) / "metrics.json").exists()}
    if new:
        _index(ws, name, new)
    return {**found, **new}


def run_of(ws: Workspace, name: str, commit: str) -> str | None:
    """`runs_of` of one COMMIT."""
    return runs_of(ws, name, [commit])[commit]


def key_of(ws: Workspace, version: Version) -> str | None:
    """The key of VERSION's finished run, as `run_of` finds it but without asking git: the
    index's, else the one its content names (`run_key`). None: not trained."""
    key = trained(ws, version.name).get(version.commit) or run_key(version)
    return key if (run_dir(ws, version.name, key) / "metrics.json").exists() else None


def index_path(ws: Workspace, name: str) -> Path:
    return state.path(ws, state.RUNS, name, "index.json")


def stamp(ws: Workspace, name: str) -> int:
    """A number that changes whenever a commit of NAME gets trained (the index's time of
    change): one stat, cheap enough for the app to poll."""
    try:
        return index_path(ws, name).stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def run_dir(ws: Workspace, name: str, key: str) -> Path:
    return state.path(ws, state.RUNS, name, key)


def trained(ws: Workspace, name: str) -> dict[str, str]:
    """{commit: run key} of every trained commit of NAME."""
    return state.read_json(index_path(ws, name), {}, valid=lambda d: all(
        isinstance(k, str) and isinstance(v, str) and v.isalnum() for k, v in d.items()))


def _previous_run(ws, version: Version) -> Path | None:
    """The newest finished run to warm-start from: on the same classes and params (a class
    added, renamed or merged changes the models' outputs), and on images that differ from
    VERSION's only by examples added or removed (see `_same_images`)."""
    for run, info in _runs_newest_first(ws, version.name):
        # A run of predictions brought from a file has no models to start from.
        if (run / "model.pt").exists() and info["params"] == asdict(version.params) and \
                info.get("classes") == list(version.classes) and \
                _same_images(ws, str(info["images"]), version):
            return run
    return None


def _same_images(ws, images_hash: str, version: Version) -> bool:
    """Whether every example of the images IMAGES_HASH that VERSION still has is the same
    image in VERSION: images added (`ide add`) or removed only. Folds go by id, so fold k's
    model, trained on those images, never saw an example of VERSION's fold k."""
    if images_hash == version.images_hash:
        return True
    try:
        old = dvcdir.read_manifest(ws.cache_dir(), images_hash, "an earlier run's images")
        new = images.image_files(ws, version)
        return all(new[e["relpath"]][0] == e["md5"] for e in old if e["relpath"] in new)
    except (IDEError, KeyError, TypeError):  # a manifest not here, or not as DVC writes it
        return False


def retrain(ws: Workspace, version: Version, *, full: bool = False, progress=None,
            device: str = "cpu") -> dict:
    """Train on VERSION (or return its stored results): {"commit", "metrics", "cached",
    "seconds", "warm_start"}."""
    key = run_key(version)
    run = run_dir(ws, version.name, key)
    # One training per version at a time: a second caller (the worker and `ide retrain`
    # on the same commit) waits, then finds the results stored.
    with state.lock(ws, f"run-{key}"):
        done = state.read_json(run / "run.json", {}) if (run / "metrics.json").exists() \
            else None
        if done is not None and not (full and done.get("warm_start")):
            return _result(ws, version, key, cached=True)
        _train_run(ws, version, run, full=full, progress=progress, device=device)
    return _result(ws, version, key, cached=False)


def _train_run(ws, version: Version, run: Path, *, full: bool, progress, device: str) -> None:
    """Train one version and store everything under RUN (metrics.json last)."""
    labels, classes = version.labels, list(version.classes)
    start = time.time()  # the whole run: decoding or embedding the images is part of it
    check_trainable(labels)  # before a comparison of models trains anything
    prev = None if full else _previous_run(ws, version)
    partial = run / "partial"
    earlier = [state.read_json(prev / "run.json", {})] if prev else \
        [info for _, info in _runs_newest_first(ws, version.name)]
    params, made = choice_.resolve(ws, version, earlier, partial, device=device)
    if trains_images(params):
        ids, x = images.arrays(ws, version, image_side(params))
    else:
        ids, x = embed_version(ws, version, params, device=device, progress=progress)
        x = standardise(x)
    warm, warm_from = None, None
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
    blank = [n for n, i in enumerate(ids) if labels.get(i) == ""]
    blank_ids, blank_x = [ids[n] for n in blank], x[blank]
    ids, probs, states, metrics = train_version(
        ids, x, labels, classes, params, checked=version.checked, progress=progress,
        device=device, warm=warm, done=checkpoint.load_folds(partial),
        on_fold=lambda k, fold, p: checkpoint.save_fold(partial, k, fold, p))
    blank_probs = predict_ensemble(states, blank_x, len(classes), params, device)
    seconds = time.time() - start
    checkpoint.save_model(run / "model.pt", states, classes, params, x.shape[1])
    metrics = choice_.described(metrics, params.model, made)
    _write_results(run, version, ids, probs, metrics, seconds=round(seconds, 2),
                   warm_start=warm_from, unlabelled=(blank_ids, blank_probs), choice=made)
    shutil.rmtree(partial, ignore_errors=True)


def _runs_newest_first(ws, name: str) -> list[tuple[Path, dict]]:
    """(folder, run.json) of the finished runs of dataset NAME, the newest first."""
    found = []
    for key in set(trained(ws, name).values()):
        run = run_dir(ws, name, key)
        info = state.read_json(run / "run.json", None, valid=lambda d: isinstance(d, dict)
                               and {"images", "params", "finished"} <= d.keys())
        if info and isinstance(info["finished"], (int, float)):
            found.append((info["finished"], str(run), run, info))
    return [(run, info) for *_, run, info in sorted(found, reverse=True)]


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
    """Store out-of-sample probabilities from FILE (see `ide.data.predictions`) as VERSION's
    results, in place of a training: the ranking, metrics and app then use them."""
    ids = sorted(i for i, lab in version.labels.items() if lab)  # unlabelled: not judged
    probs = predictions.read(file, ids, list(version.classes))  # checked before any write
    classes = list(version.classes)
    y = np.array([classes.index(version.labels[i]) for i in ids])
    key = run_key(version)
    run = run_dir(ws, version.name, key)
    with state.lock(ws, f"run-{key}"):
        shutil.rmtree(run, ignore_errors=True)
        checked = np.array([i in version.checked for i in ids], dtype=bool)
        _write_results(run, version, ids, probs,
                       rank.metrics(y, probs, classes, checked=checked), seconds=0.0,
                       warm_start=None, source=Path(file).name)
    return _result(ws, version, key, cached=False)


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _result(ws, version: Version, key: str, *, cached: bool) -> dict:
    """Index VERSION's commit under run KEY, and what `retrain` answers about it."""
    _index(ws, version.name, {version.commit: key})
    info = state.read_json(run_dir(ws, version.name, key) / "run.json", {})
    return {"commit": version.commit, "metrics": run_metrics(ws, version.name, key),
            "cached": cached, "seconds": info.get("seconds"),
            "warm_start": info.get("warm_start")}


def _index(ws: Workspace, name: str, commits: dict[str, str]) -> None:
    """Add COMMITS {commit: run key} to NAME's index of trained commits."""
    with state.lock(ws, "runs"):
        state.write_json(index_path(ws, name), {**trained(ws, name), **commits})


def add_runs(ws: Workspace, name: str, found: dict[str, dict[str, bytes]],
             index: dict[str, str]) -> int:
    """Store runs brought from another machine, FOUND {run key: {file: content}} (each
    complete, and checked by `ide.learn.incoming`): those missing here are written,
    metrics.json last (its presence means complete); INDEX {commit: run key} is taken for
    commits this index lacks, where the run is here. Returns how many runs were added."""
    added = 0
    with state.lock(ws, "runs"):
        for key, files in sorted(found.items()):
            run = run_dir(ws, name, key)
            if not KEY.fullmatch(key) or (run / "metrics.json").exists():
                continue
            for f in sorted(files, key=lambda f: f == "metrics.json"):
                state.write_atomic(run / f, files[f])
            added += 1
        ours = trained(ws, name)
        _index(ws, name, {c: k for c, k in index.items() if c not in ours and
                          isinstance(k, str) and KEY.fullmatch(k) and
                          (run_dir(ws, name, k) / "metrics.json").exists()})
    return added


def run_metrics(ws: Workspace, name: str, key: str | None) -> dict | None:
    """The metrics of run KEY of NAME (None: no key, or not finished)."""
    return state.read_json(run_dir(ws, name, key) / "metrics.json", None) if key else None


def commit_metrics(ws: Workspace, name: str, commit: str) -> dict | None:
    """The metrics of NAME's model trained on COMMIT (or on the same content), or None if
    it is not trained."""
    return run_metrics(ws, name, run_of(ws, name, commit))


def trained_params(ws: Workspace, version: Version) -> Params:
    """VERSION's params with the model its results were trained with (`auto` resolved);
    NotTrained if it has none."""
    params = version.params
    if params.model != AUTO:
        return params
    made = state.read_json(finished_run(ws, version) / "run.json", {}).get("choice")
    return replace(params, model=made["chosen"] if choice_.is_choice(made) else CNN)


def finished_run(ws: Workspace, version: Version) -> Path:
    """The folder of VERSION's finished results, found as `ide log` finds them (`key_of`:
    the index, then the content); NotTrained if it has none."""
    key = key_of(ws, version)
    if key is None:
        raise NotTrained(f"{version.name} at {version.commit[:10]} is not trained yet: run "
                         f"`ide retrain {version.name}` (or keep `ide watch` running)")
    return run_dir(ws, version.name, key)


def model_file(ws: Workspace, version: Version) -> Path | None:
    """VERSION's model.pt (its K fold models), or None if it was not trained here."""
    path = run_dir(ws, version.name, run_key(version)) / "model.pt"
    return path if path.exists() else None
