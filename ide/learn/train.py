"""K-fold training: every example's probabilities come from a model that never saw it.

Arrays in, arrays out: images (N, C, S, S) and labels -> out-of-fold probabilities (N, K),
the K fold models and the metrics; no files, no images, no display. Folds are assigned by a
hash of each example's id, so they are the same in every version of a dataset; that is what
lets a new version warm-start from the previous version's fold models and stay out of
sample. `Params` (a dataset's params.yaml) configures it. Where the results of a version are
stored, and when a version is (re)trained, is `ide.learn.runs`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ide.data.params import CNN, Params
from ide.errors import IDEError, InvalidInput
from ide.learn import rank
from ide.learn.head import fit_head, predict_head

TRAIN_VERSION = "5"  # bump when a change to training changes its results (5: bf16)


def model_config(params: Params, classes: int, channels: int):
    """The network's ModelConfig for these parameters: the one mapping of Params to it."""
    from ide.learn.model import ModelConfig

    return ModelConfig(classes=classes, channels=channels, image_size=params.image_size,
                       width=params.width)


def fold_of(ids: list[str], folds: int, seed: int) -> np.ndarray:
    """(N,) fold of each example, from a hash of its id: stable across versions."""
    return np.array([int(hashlib.md5(f"{seed}:{i}".encode()).hexdigest()[:8], 16) % folds
                     for i in ids])


# -- the training loop ------------------------------------------------------------------
DEVICES = ("auto", "cpu", "cuda")  # auto: CUDA where there is one
_INIT = threading.Lock()


def torch_device(device: str):
    """The torch device of DEVICE (one of DEVICES); an IDEError if CUDA is asked for and
    absent."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise IDEError("--device cuda: no CUDA device is available here")
    if device not in DEVICES:
        raise InvalidInput(f"unknown device {device!r} ({', '.join(DEVICES)})")
    return torch.device(device)


def _shift(x, gen):
    """Random whole-pixel shifts of up to 1/14 of the side, per example, in one gather: a
    padded batch indexed by shifted row and column ranges (digits and photos alike)."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    m = max(1, round(h / 14))
    padded = F.pad(x, (m, m, m, m))
    dy, dx = torch.randint(0, 2 * m + 1, (2, n), generator=gen).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    return padded[torch.arange(n, device=x.device)[:, None, None, None],
                  torch.arange(c, device=x.device)[None, :, None, None], rows, cols]


def _autocast(dev):
    """bfloat16 autocast for a training step on a CPU that computes it natively (AVX512-BF16
    or AMX), a no-op elsewhere: a step of the CNN takes 0.6x the time on such a CPU, at the
    same out-of-fold accuracy (bench/models.py). Predictions stay in float32."""
    import torch

    try:
        native = dev.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        native = False
    return torch.autocast("cpu", dtype=torch.bfloat16) if native else contextlib.nullcontext()


def batch_size(params: Params, n: int) -> int:
    """The batch size for N training examples: PARAMS' own, smaller for a small dataset so
    that it still takes about MIN_STEPS steps without many more epochs (300 images used to
    train for 75 epochs)."""
    per_epoch_wanted = params.min_steps / params.epochs
    return int(min(params.batch_size, max(16, n // max(per_epoch_wanted, 1))))


def warm_up(steps: int) -> float:
    """The one-cycle schedule's warm-up, as a fraction of its STEPS: a quarter, except for 4
    steps, where torch's OneCycleLR would divide by the length of a quarter less one step
    (zero); a warm start of a small dataset (4 batches a fold, one epoch) had that."""
    return 0.25 if steps != 4 else 0.5


def fit(x: np.ndarray, y: np.ndarray, classes: int, params: Params, *, seed: int,
        epochs: int, lr: float, min_steps: int = 0, state=None, device: str = "cpu",
        on_step=None):
    """Train one network on images (N, C, S, S) uint8 and labels (N,); returns its state_dict.

    The CNN, or with `finetune` a backbone and a linear layer trained whole (lr / 10).
    AdamW with a one-cycle schedule, random shifts, bfloat16 steps where the CPU has them.
    ON_STEP(epoch, epochs, fraction done, examples/s) is called every 20 batches.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    dev = torch_device(device)
    with _INIT:  # folds train in threads; torch's seed for the initial weights is global
        torch.manual_seed(seed)
        # channels_last: oneDNN's convolutions run about 20% faster on CPU in this layout.
        net = network(params, classes, x.shape[1], dev).to(memory_format=torch.channels_last)
    if state is not None:
        net.load_state_dict(state)
    xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y.astype(np.int64)).to(dev)
    bs = batch_size(params, len(x))
    per_epoch = max(1, math.ceil(len(x) / bs))
    epochs = max(epochs, math.ceil(min_steps / per_epoch))
    lr = lr / 10 if params.model != CNN else lr  # pretrained weights need gentler steps
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=per_epoch * epochs,
                                                pct_start=warm_up(per_epoch * epochs))
    start = time.time()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen).to(dev)
        seen = 0
        for b in range(0, len(x), bs):
            idx = perm[b:b + bs]
            if len(idx) > 1:  # batch norm needs two examples
                xb = _shift(xt[idx].float() / 255, gen).contiguous(
                    memory_format=torch.channels_last)
                with _autocast(dev):
                    _, loss = net(xb, yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
            seen += len(idx)
            if on_step and ((b // bs) % 20 == 0 or seen == len(x)):
                done = epoch * len(x) + seen
                on_step(epoch + 1, epochs, done / (epochs * len(x)),
                        done / max(time.time() - start, 1e-6))
    return {k: v.cpu() for k, v in net.state_dict().items()}


def network(params: Params, classes: int, channels: int, device):
    """The module FIT trains, with model.Net's contract: images (B, C, S, S) in [0, 1] (and
    labels) -> logits (B, K) (and the mean loss)."""
    import torch
    import torch.nn.functional as F

    if params.model == CNN:
        from ide.learn.model import Net

        return Net(model_config(params, classes, channels)).to(device)
    from ide.learn import backbone

    embedder = backbone.load(params.model, params.weights or None, device)
    grey_to_rgb = (lambda x: x.expand(-1, 3, -1, -1)) if channels == 1 else (lambda x: x)
    with torch.no_grad():
        dim = embedder(torch.zeros(1, 3, 32, 32, device=device)).shape[1]

    class FineTuned(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedder, self.head = embedder, torch.nn.Linear(dim, classes)

        def forward(self, x, y=None):  # the same contract as model.Net
            logits = self.head(self.embedder(grey_to_rgb(x)))
            return logits, None if y is None else F.cross_entropy(logits, y)

    return FineTuned().to(device)


def predict(states: list[dict], x: np.ndarray, classes: int, params: Params,
            device: str = "cpu") -> np.ndarray:
    """(N, K) probabilities averaged over the networks in STATES and, for each, over the
    image and its four one-step shifts (the training's shifts, seen at prediction too)."""
    import torch

    dev = torch_device(device)
    with _INIT:
        net = network(params, classes, x.shape[1], dev).eval()
    step = max(1, round(x.shape[2] / 28))
    views = [(0, 0), (step, 0), (-step, 0), (0, step), (0, -step)]
    total = np.zeros((len(x), classes))
    with torch.no_grad():
        for state in states:
            net.load_state_dict(state)
            for b in range(0, len(x), 256):
                xb = torch.from_numpy(x[b:b + 256]).to(dev).float() / 255
                for shift in views:
                    total[b:b + 256] += torch.softmax(net(torch.roll(xb, shift, (2, 3)))[0],
                                                      1).double().cpu().numpy()
    return (total / (len(states) * len(views))).astype(np.float32)


def image_side(params: Params) -> int:
    """The side images are decoded at for training: the CNN's `image_size`, or the input
    side of the backbone being fine-tuned."""
    if params.model == CNN:
        return params.image_size
    from ide.learn.backbone import side

    return side(params.model)


def trains_images(params: Params) -> bool:
    """Whether PARAMS train a network on images (the CNN, or a backbone fine-tuned whole)
    rather than a head on cached embeddings."""
    return params.model == CNN or bool(params.finetune)


def cross_validate(ids, x, y, classes: int, params: Params, *, progress=None, device="cpu",
                   warm: list[dict] | None = None, done: dict | None = None, on_fold=None):
    """Out-of-fold probabilities (N, K) and the K fold models.

    X: images (N, C, S, S) uint8 for the CNN, or standardised embeddings (N, D) for a
    backbone's head. WARM: fold models of a previous version to fine-tune instead of training
    from scratch: fold k's model has only ever seen examples outside fold k, in any version,
    so its probabilities stay out of sample. DONE: {fold: (state, probs)} of folds already
    trained (a killed run resumes from them); ON_FOLD(fold, state, probs) is called as each
    new fold finishes, to save it.
    """
    folds = fold_of(ids, params.folds, params.seed)
    trained = dict(done or {})
    todo = [k for k in range(params.folds) if k not in trained]
    trained.update(train_folds(ids, x, y, classes, params, todo, progress=progress,
                               device=device, warm=warm, on_fold=on_fold, before=len(trained)))
    probs = np.zeros((len(ids), classes), dtype=np.float32)
    for k, (_, held_probs) in trained.items():
        probs[folds == k] = held_probs
    return probs, [trained[k][0] for k in range(params.folds)]


def train_folds(ids, x, y, classes: int, params: Params, todo: list[int], *, progress=None,
                device="cpu", warm: list[dict] | None = None, on_fold=None,
                before: int = 0) -> dict:
    """{fold: (state, probabilities of its held-out examples)} for the folds in TODO, trained
    two at a time on a 2-core CPU (`training_threads`). BEFORE: folds already trained, for
    the progress reported; the other arguments are `cross_validate`'s."""
    fit_one, predict_one = (fit, predict) if trains_images(params) else (fit_head, predict_head)
    folds = fold_of(ids, params.folds, params.seed)
    epochs = params.warm_epochs if warm else params.epochs
    trained: dict[int, tuple] = {}
    shown, told = {}, threading.Lock()

    def one(k):
        held = folds == k
        train_idx = np.flatnonzero(~held)

        def on_step(epoch, epochs, fraction, rate):
            with told:  # folds run in threads: one report at a time, of them all
                shown[k] = (epoch, epochs, fraction, rate)
                if progress:
                    progress({"fold": k + 1, "folds": params.folds, "epoch": epoch,
                              "epochs": epochs, "fold_fraction": fraction,
                              "rate": sum(r for *_, r in shown.values()),
                              "fraction": (before + len(trained) + sum(
                                  f for _, _, f, _ in shown.values())) / params.folds})

        state = fit_one(x[train_idx], y[train_idx], classes, params,
                        seed=params.seed * 1000 + k, epochs=epochs,
                        lr=params.lr * (0.3 if warm else 1),
                        min_steps=0 if warm else params.min_steps,
                        state=warm[k] if warm else None, device=device, on_step=on_step)
        return k, state, predict_one([state], x[held], classes, params, device)

    with training_threads(device, len(todo)) as workers, ThreadPoolExecutor(workers) as pool:
        for k, state, held_probs in pool.map(one, todo):
            with told:
                trained[k] = (state, held_probs)
                shown.pop(k, None)
            if on_fold:
                on_fold(k, state, held_probs)
    return trained


@contextlib.contextmanager
def training_threads(device: str, folds: int):
    """The number of folds to train at once, with torch at one thread each on a CPU.

    Folds in parallel threads use every core without torch's own threads, which spin while
    they wait: on a busy 2-core machine those made 100 images take 10 minutes, and even on
    an idle one a small network's batches gain little from them."""
    import torch

    if str(torch_device(device)) != "cpu":
        yield 1
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield max(1, min(folds, os.cpu_count() or 1))
    finally:
        torch.set_num_threads(before)


def check_trainable(labels: dict[str, str], ids=None) -> None:
    """Refuse LABELS ({id: class or ""}) that K-fold training cannot learn from: fewer than
    2 classes with labelled examples (an empty labels.csv trained to accuracy nan, a single
    class to accuracy 1.0), a class with one example (held out, no model saw its class),
    or, given the IDS of the images, an example without an image."""
    counts = Counter(lab for lab in labels.values() if lab)
    if len(counts) < 2:
        raise InvalidInput(f"cannot train: {len(counts)} class(es) with labelled examples; "
                           "label examples of at least 2 classes")
    lone = sorted(c for c, n in counts.items() if n < 2)
    if lone:
        raise InvalidInput(f"cannot train: class {lone[0]!r} has a single labelled example; "
                           "label at least 2 of each class that has any")
    have = set(ids) if ids is not None else labels
    missing = [i for i in labels if i not in have]
    if missing:
        raise IDEError(f"{len(missing)} labelled example(s) have no image, e.g. {missing[0]}")


def train_version(ids: list[str], x: np.ndarray, labels: dict[str, str], classes: list[str],
                  params: Params, *, checked=frozenset(), **kw):
    """The whole training of one version, shared by `ide retrain` and the DVC stage.

    IDS/X: every image (sorted ids); LABELS: {id: class, or "" for an unlabelled example}.
    Returns (ids, probs, fold models, metrics) over the labelled images: unlabelled ones are
    never fitted (`predict_ensemble` gives their probabilities).
    """
    check_trainable(labels, ids)
    keep = [n for n, i in enumerate(ids) if labels.get(i)]
    ids, x = [ids[n] for n in keep], x[keep]
    index = {c: j for j, c in enumerate(classes)}
    y = np.array([index[labels[i]] for i in ids])
    probs, states = cross_validate(ids, x, y, len(classes), params, **kw)
    metrics = rank.metrics(y, probs, classes, checked=np.array([i in checked for i in ids]))
    return ids, probs, states, metrics


def predict_ensemble(states: list[dict], x: np.ndarray, classes: int, params: Params,
                     device: str = "cpu") -> np.ndarray:
    """(N, K) probabilities of examples no fold model was fitted on (unlabelled ones): the
    mean over all K fold models, the version's model."""
    if not len(x):
        return np.zeros((0, classes), dtype=np.float32)
    predict_one = predict if trains_images(params) else predict_head
    return predict_one(states, x, classes, params, device)
