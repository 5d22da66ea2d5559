"""K-fold training: every example's probabilities come from a model that never saw it.

`retrain(ws, name, rev)` trains on the labels of commit REV read from git and the images
recorded at REV (from the DVC cache), never on the working tree, and stores the out-of-fold
probabilities, the fold models and the metrics under `.ide/runs/<key>/`, where the key is
what the results depend on (labels blob, image hash, params, training version). Asking again
for a version already trained returns at once. A run saves each finished fold, so a killed
run resumes where it stopped. A commit that changes a few labels of a trained version
warm-starts from that version's fold models (same folds, so still out of sample).
The model kept for a version is the ensemble of its K fold models.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import dataset as ds
from . import rank, store
from .dataset import Params
from .errors import IDEError, InvalidInput, NotTrained
from .workspace import Workspace, read_json, write_json

TRAIN_VERSION = "1"  # bump when a change to training changes its results
WARM_MAX_CHANGED = 0.02  # warm-start only when at most this share of labels changed


# -- images -> arrays ----------------------------------------------------------------------
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


def load_images(ws: Workspace, name: str, rev: str, size: int) -> tuple[list[str], np.ndarray]:
    """(sorted ids, images) recorded at REV, decoded once and cached by the images' hash."""
    folder = ds.dataset_dir(name)
    h = ds.images_hash(ws.show(rev, f"{folder}/images.dvc") or "")
    cache = ws.state_path("arrays", f"{h}-{size}.npz")
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


def fold_of(ids: list[str], folds: int, seed: int) -> np.ndarray:
    """(N,) fold of each example, from a hash of its id: stable across versions."""
    return np.array([int(hashlib.md5(f"{seed}:{i}".encode()).hexdigest()[:8], 16) % folds
                     for i in ids])


# -- the training loop ------------------------------------------------------------------
def _device(device: str):
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise IDEError("--device cuda: no CUDA device is available here")
    if device not in ("cpu", "cuda"):
        raise InvalidInput(f"unknown device {device!r} (cpu, cuda, auto)")
    return torch.device(device)


def _augment(x, gen):
    """Random shifts of up to 1/14 of the side, per example (digits and photos alike)."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 / 14)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def fit(x: np.ndarray, y: np.ndarray, classes: int, params: Params, *, seed: int,
        epochs: int, lr: float, min_steps: int = 0, state=None, device: str = "cpu",
        on_step=None):
    """Train one model on (x, y); returns its state_dict.

    ON_STEP(epoch, epochs, fraction done, examples/s) is called every 20 batches.
    """
    import torch

    from .model import ModelConfig, Net

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    dev = _device(device)
    net = Net(ModelConfig(classes=classes, channels=x.shape[1], image_size=params.image_size,
                          width=params.width)).to(dev)
    if state is not None:
        net.load_state_dict(state)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    per_epoch = max(1, math.ceil(len(x) / params.batch_size))
    epochs = max(epochs, math.ceil(min_steps / per_epoch))
    steps = per_epoch * epochs
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    start = time.time()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        seen = 0
        for b in range(0, len(x), params.batch_size):
            idx = perm[b:b + params.batch_size]
            if len(idx) > 1:  # batch norm needs two examples
                xb = _augment(xt[idx].to(dev).float() / 255, gen)
                _, loss = net(xb, yt[idx].to(dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
            seen += len(idx)
            if on_step and ((b // params.batch_size) % 20 == 0 or seen == len(x)):
                done = epoch * len(x) + seen
                on_step(epoch + 1, epochs, done / (epochs * len(x)),
                        done / max(time.time() - start, 1e-6))
    return {k: v.cpu() for k, v in net.state_dict().items()}


def predict(states: list[dict], x: np.ndarray, classes: int, params: Params,
            device: str = "cpu") -> np.ndarray:
    """(N, K) probabilities averaged over the models in STATES."""
    import torch

    from .model import ModelConfig, Net

    dev = _device(device)
    net = Net(ModelConfig(classes=classes, channels=x.shape[1], image_size=params.image_size,
                          width=params.width)).to(dev).eval()
    total = np.zeros((len(x), classes))
    with torch.no_grad():
        for state in states:
            net.load_state_dict(state)
            for b in range(0, len(x), 512):
                xb = torch.from_numpy(x[b:b + 512]).to(dev).float() / 255
                total[b:b + 512] += torch.softmax(net(xb)[0], 1).double().cpu().numpy()
    return (total / len(states)).astype(np.float32)


def cross_validate(ids, x, y, classes: int, params: Params, *, progress=None, device="cpu",
                   warm: list[dict] | None = None, partial: Path | None = None):
    """Out-of-fold probabilities (N, K) and the K fold models.

    WARM: fold models of a previous version to fine-tune instead of training from scratch.
    PARTIAL: a folder where each finished fold is saved, so a killed run resumes.
    """
    import torch

    folds = fold_of(ids, params.folds, params.seed)
    probs = np.zeros((len(ids), classes), dtype=np.float32)
    states = []
    epochs = params.warm_epochs if warm else params.epochs
    for k in range(params.folds):
        saved = partial / f"fold{k}.pt" if partial else None
        held = folds == k
        if saved and saved.exists():
            ck = torch.load(saved, weights_only=False)
            states.append(ck["state"])
            probs[held] = ck["probs"]
            continue
        train_idx = np.flatnonzero(~held)

        def on_step(epoch, epochs, fraction, rate, k=k):
            if progress:
                progress({"fold": k + 1, "folds": params.folds, "epoch": epoch,
                          "epochs": epochs, "rate": rate, "fraction": (k + fraction) / params.folds})

        state = fit(x[train_idx], y[train_idx], classes, params, seed=params.seed * 1000 + k,
                    epochs=epochs, lr=params.lr * (0.3 if warm else 1),
                    min_steps=params.min_steps // (3 if warm else 1),
                    state=warm[k] if warm else None, device=device, on_step=on_step)
        states.append(state)
        probs[held] = predict([state], x[held], classes, params, device)
        if saved:
            saved.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"state": state, "probs": probs[held]}, saved)
    return probs, states


def evaluate(y: np.ndarray, probs: np.ndarray, classes: list[str],
             checked: np.ndarray | None = None) -> dict:
    """Metrics of out-of-fold probabilities: accuracy, loss, suspects, per-class accuracy."""
    pred = probs.argmax(1)
    issues = rank.find_label_issues(y, probs)
    if checked is not None:
        issues &= ~checked
    per_class = {c: float((pred[y == j] == j).mean()) if (y == j).any() else None
                 for j, c in enumerate(classes)}
    return {"accuracy": float((pred == y).mean()), "mean_loss":
            float(rank.per_example_loss(y, probs).mean()), "examples": int(len(y)),
            "suspects": int(issues.sum()), "per_class_accuracy": per_class}


def train_version(ids: list[str], x: np.ndarray, labels: dict[str, str], classes: list[str],
                  params: Params, *, checked=frozenset(), **kw):
    """The whole training of one version, shared by `ide retrain` and the DVC stage.

    IDS/X: every image (sorted ids); LABELS: {id: class}. Returns (ids, probs, fold models,
    metrics) over the labelled images.
    """
    missing = [i for i in labels if i not in set(ids)]
    if missing:
        raise IDEError(f"{len(missing)} labelled example(s) have no image, e.g. {missing[0]}")
    keep = [n for n, i in enumerate(ids) if i in labels]
    ids, x = [ids[n] for n in keep], x[keep]
    index = {c: j for j, c in enumerate(classes)}
    y = np.array([index[labels[i]] for i in ids])
    probs, states = cross_validate(ids, x, y, len(classes), params, **kw)
    metrics = evaluate(y, probs, classes, np.array([i in checked for i in ids], dtype=bool))
    return ids, probs, states, metrics


def save_model(path: Path, states: list[dict], classes: list[str], params: Params) -> None:
    """The kept model: the K fold models (an ensemble), with what is needed to use them."""
    import torch

    torch.save({"states": states, "classes": classes, "params": asdict(params),
                "train_version": TRAIN_VERSION}, path)


# -- runs stored per dataset version -----------------------------------------------------
def _params_at(ws: Workspace, name: str, rev: str) -> Params:
    text = ws.show(rev, f"{ds.dataset_dir(name)}/params.yaml")
    return Params.parse(ds.parse_params(text) if text else None)


def run_key(ws: Workspace, name: str, commit: str) -> str:
    """What a version's results depend on: labels, images, params, training code."""
    folder = ds.dataset_dir(name)
    labels_blob = ws.git("rev-parse", f"{commit}:{folder}/labels.csv").strip()
    images = ds.images_hash(ws.show(commit, f"{folder}/images.dvc") or "")
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
    labels = store.labels(ws, name, commit)
    classes = store.meta(ws, name, commit)["classes"]
    params = _params_at(ws, name, commit)
    key = run_key(ws, name, commit)
    run = _run_dir(ws, name, key)
    # One training per version at a time: a second caller (the worker and `ide retrain`
    # on the same commit) waits, then finds the results stored.
    with ws.lock(f"run-{key}"):
        done = read_json(run / "run.json", {}) if (run / "metrics.json").exists() else None
        if done is not None and not (full and done.get("warm_start")):
            return _record(ws, name, commit, key, cached=True)
        _train_run(ws, name, commit, run, labels, classes, params, full=full,
                   progress=progress, device=device)
    return _record(ws, name, commit, key, cached=False)


def _train_run(ws, name, commit, run: Path, labels, classes, params: Params, *, full: bool,
               progress, device: str) -> None:
    """Train one version and store everything under RUN (metrics.json last)."""
    import torch

    folder = ds.dataset_dir(name)
    ids, x = load_images(ws, name, commit, params.image_size)
    images = ds.images_hash(ws.show(commit, f"{folder}/images.dvc"))
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
    run = _run_dir(ws, name, key)
    info = read_json(run / "run.json", {})
    return {"commit": commit, "metrics": read_json(run / "metrics.json", None),
            "cached": cached, "seconds": info.get("seconds"),
            "warm_start": info.get("warm_start")}


def metrics(ws: Workspace, name: str, commit: str) -> dict | None:
    key = trained(ws, name).get(commit)
    return read_json(_run_dir(ws, name, key) / "metrics.json", None) if key else None


def attach_metrics(ws: Workspace, name: str, entries: list[dict]) -> list[dict]:
    """Fill `metrics` of `store.log` entries from the stored runs."""
    index = trained(ws, name)
    for e in entries:
        key = index.get(e["commit"])
        e["metrics"] = read_json(_run_dir(ws, name, key) / "metrics.json", None) if key else None
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


def progress_bar(stream, width: int = 24):
    """A progress callback that draws `fold 2/5 epoch 3/6 [#####-----] 41% 2300 ex/s`."""
    last = [0.0]

    def show(p: dict) -> None:
        now = time.time()
        if now - last[0] < 0.2 and p["fraction"] < 1:
            return
        last[0] = now
        filled = int(p["fraction"] * width)
        stream.write(f"\rfold {p['fold']}/{p['folds']} epoch {p['epoch']}/{p['epochs']} "
                     f"[{'#' * filled}{'-' * (width - filled)}] {p['fraction']:4.0%} "
                     f"{p['rate']:6.0f} ex/s ")
        stream.flush()

    return show
