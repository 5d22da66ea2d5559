"""Model files: the kept model of a version (`model.pt`) and the folds saved on the way.

A model file is one plain dict that explains itself: the K fold models (an ensemble), the
classes, the training parameters and the network's config (None for a backbone's heads:
the parameters name the backbone). Written by `ide.learn.runs` (results per version) and
`ide.ops.pipeline` (the DVC stage); read to warm-start (`ide.learn.runs`), for the CNN's
embeddings (`ide.ops.duplicates`) and to check a pulled run (`ide.learn.incoming`).

A model file may come from a teammate (`ide pull`), so it is read as data only
(`torch.load(weights_only=True)`: tensors, dicts, lists, strings, numbers): a file that
would need code to load is refused, never run. Fold files are read the same way, so they
hold tensors, not numpy arrays.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import asdict
from pathlib import Path

from ide.data.params import CNN, Params
from ide.errors import InvalidInput
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


def read_model(source, name) -> dict:
    """The dict of a model file (SOURCE: a path or the file's bytes), read without running
    any code; InvalidInput naming NAME if it is not a model file ide writes."""
    try:
        ck = _load(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Exception as exc:  # torch raises many types for a damaged or crafted file
        raise InvalidInput(f"{name}: not a model file ide can load safely ({_why(exc)})") \
            from None
    if not (isinstance(ck, dict) and isinstance(ck.get("states"), list) and ck["states"]
            and all(_is_state(s) for s in ck["states"])):
        raise InvalidInput(f"{name}: not a model file ide can load safely (no fold models)")
    return ck


def load_states(path: Path) -> list[dict]:
    """The fold models of a model file (see `read_model`)."""
    return read_model(path, path)["states"]


def _load(source):
    """torch.load as data only: a pickle that names any function or class is refused."""
    import torch

    # A bare pickle (not torch's zip) makes torch warn over many lines; the refusal, or the
    # file, says enough.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(source, map_location="cpu", weights_only=True)


def _is_state(state) -> bool:
    import torch

    return isinstance(state, dict) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())


def _why(exc: Exception) -> str:
    """One line of why torch refused a file (its own message is many lines of advice)."""
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return f"it would call {found[1]}"
    if "Weights only load failed" in text:
        return "it holds more than plain data"
    return text.strip().split("\n")[0].split(". ")[0][:120] or type(exc).__name__


def save_fold(folder: Path, k: int, state: dict, probs) -> None:
    """A finished fold (its model and its held-out probabilities), so a killed run resumes."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    _save_atomic({"state": state, "probs": torch.from_numpy(probs)}, folder / f"fold{k}.pt")


def load_folds(folder: Path) -> dict[int, tuple[dict, object]]:
    """{fold: (state, probs)} of the folds saved in FOLDER; one that cannot be read safely
    (truncated by a crash, written by an older version with numpy arrays, crafted) is
    deleted, so that fold is trained again."""
    done = {}
    for path in folder.glob("fold*.pt"):
        try:
            ck = _load(path)
            if not _is_state(ck["state"]):
                raise TypeError("not a fold model")
            done[int(path.stem[4:])] = (ck["state"], ck["probs"].numpy())
        except Exception:  # torch raises many types for a damaged file
            path.unlink(missing_ok=True)
    return done
