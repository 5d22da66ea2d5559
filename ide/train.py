"""K-fold training: every example's probabilities come from a model that never saw it.

Arrays in, arrays out: images (N, C, S, S) and labels -> out-of-fold probabilities (N, K),
the K fold models and the metrics; no files, no images, no display. Folds are assigned by a
hash of each example's id, so they are the same in every version of a dataset; that is what
lets a new version warm-start from the previous version's fold models and stay out of
sample. `Params` (a dataset's params.yaml) configures it. Where the results of a version are
stored, and when a version is (re)trained, is `ide.runs`.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, fields

import numpy as np
import yaml

from . import rank
from .errors import IDEError, InvalidInput

TRAIN_VERSION = "1"  # bump when a change to training changes its results


# -- parameters ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Params:
    """Training parameters of a dataset, from its `params.yaml`."""
    folds: int = 5
    epochs: int = 6
    batch_size: int = 64
    lr: float = 0.002
    image_size: int = 28
    seed: int = 0
    width: int = 16
    warm_epochs: int = 1
    min_steps: int = 300     # tiny datasets get more epochs, so that a model is learnt at all

    @classmethod
    def parse(cls, data: dict | None) -> "Params":
        data = dict(data or {})
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidInput(f"params.yaml: unknown parameter(s) {', '.join(sorted(unknown))}")
        try:
            p = cls(**{k: (float(v) if k == "lr" else int(v)) for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"params.yaml: {exc}") from None
        if p.folds < 2 or p.epochs < 1 or p.batch_size < 2 or p.image_size < 4 or p.lr <= 0:
            raise InvalidInput("params.yaml: need folds >= 2, epochs >= 1, batch_size >= 2, "
                               "image_size >= 4, lr > 0")
        return p


def parse_params(text: str | None) -> Params:
    """params.yaml text (None: no such file) -> the training parameters, validated."""
    data = yaml.safe_load(text or "") or {}
    if not isinstance(data, dict):
        raise InvalidInput("params.yaml must be a mapping of name: value")
    return Params.parse(data)


def model_config(params: Params, classes: int, channels: int):
    """The network's ModelConfig for these parameters: the one mapping of Params to it."""
    from .model import ModelConfig

    return ModelConfig(classes=classes, channels=channels, image_size=params.image_size,
                       width=params.width)


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
    """Random whole-pixel shifts of up to 1/14 of the side, per example (digits and photos
    alike); slicing a padded batch costs far less than resampling it."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    m = max(1, round(h / 14))
    padded = F.pad(x, (m, m, m, m))
    dy, dx = (torch.randint(0, 2 * m + 1, (2, n), generator=gen)).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def fit(x: np.ndarray, y: np.ndarray, classes: int, params: Params, *, seed: int,
        epochs: int, lr: float, min_steps: int = 0, state=None, device: str = "cpu",
        on_step=None):
    """Train one model on (x, y); returns its state_dict.

    ON_STEP(epoch, epochs, fraction done, examples/s) is called every 20 batches.
    """
    import torch

    from .model import Net

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    dev = _device(device)
    # channels_last: oneDNN's convolutions run about 20% faster on CPU in this layout.
    net = Net(model_config(params, classes, x.shape[1])).to(
        dev, memory_format=torch.channels_last)
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
                xb = _augment(xt[idx].to(dev).float() / 255, gen).contiguous(
                    memory_format=torch.channels_last)
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

    from .model import Net

    dev = _device(device)
    net = Net(model_config(params, classes, x.shape[1])).to(dev).eval()
    total = np.zeros((len(x), classes))
    with torch.no_grad():
        for state in states:
            net.load_state_dict(state)
            for b in range(0, len(x), 512):
                xb = torch.from_numpy(x[b:b + 512]).to(dev).float() / 255
                total[b:b + 512] += torch.softmax(net(xb)[0], 1).double().cpu().numpy()
    return (total / len(states)).astype(np.float32)


def cross_validate(ids, x, y, classes: int, params: Params, *, progress=None, device="cpu",
                   warm: list[dict] | None = None, done: dict | None = None, on_fold=None):
    """Out-of-fold probabilities (N, K) and the K fold models.

    WARM: fold models of a previous version to fine-tune instead of training from scratch.
    DONE: {fold: (state, probs)} of folds already trained (a killed run resumes from them);
    ON_FOLD(fold, state, probs) is called as each new fold finishes, to save it.
    """
    folds = fold_of(ids, params.folds, params.seed)
    probs = np.zeros((len(ids), classes), dtype=np.float32)
    states = []
    epochs = params.warm_epochs if warm else params.epochs
    for k in range(params.folds):
        held = folds == k
        if done and k in done:
            states.append(done[k][0])
            probs[held] = done[k][1]
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
        if on_fold:
            on_fold(k, state, probs[held])
    return probs, states


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
    metrics = rank.metrics(y, probs, classes, checked=np.array([i in checked for i in ids]))
    return ids, probs, states, metrics
