"""Model files: the kept model of a version (`model.pt`) and the folds saved on the way.

A model file is one plain dict that explains itself: the K fold models (an ensemble), the
classes, the training parameters and the network's config (None for a backbone's heads:
the parameters name the backbone). Used by `ide.learn.runs` (results per
version) and `ide.ops.pipeline` (the DVC stage).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

from ide.data.params import CNN, Params
from ide.learn.train import TRAIN_VERSION, model_config


def save_model(path: Path, states: list[dict], classes: list[str], params: Params,
               channels: int) -> None:
    """The kept model: the K fold models, with what is needed to use them."""
    # A backbone's head needs no network config: its params name the backbone.
    config = model_config(params, len(classes), channels).to_dict() \
        if params.model == CNN else None
    _save_atomic({"states": states, "classes": classes, "params": asdict(params),
                  "config": config, "train_version": TRAIN_VERSION}, path)


def _save_atomic(obj, path: Path) -> None:
    """torch.save so that a crash leaves the old file or the new one, never half of one."""
    import torch

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_states(path: Path) -> list[dict]:
    """The fold models of a model file."""
    import torch

    return torch.load(path, weights_only=False)["states"]


def save_fold(folder: Path, k: int, state: dict, probs) -> None:
    """A finished fold (its model and its held-out probabilities), so a killed run resumes."""
    folder.mkdir(parents=True, exist_ok=True)
    _save_atomic({"state": state, "probs": probs}, folder / f"fold{k}.pt")


def load_folds(folder: Path) -> dict[int, tuple[dict, object]]:
    """{fold: (state, probs)} of the folds saved in FOLDER; one that cannot be read (say,
    truncated by a crash of an older version) is deleted, so that fold is trained again."""
    import torch

    done = {}
    for path in folder.glob("fold*.pt"):
        try:
            ck = torch.load(path, weights_only=False)
            done[int(path.stem[4:])] = (ck["state"], ck["probs"])
        except Exception:  # torch raises many types for a damaged file
            path.unlink(missing_ok=True)
    return done
