"""Runs brought from another machine (`ide pull`), checked before any of them is stored.

A teammate who can push to the shared remote writes the results ref, so its files are
hostile input: each is parsed as data (JSON, `.npy` without pickles, a model file read by
`ide.learn.checkpoint` without running code) and checked for the types and shapes that the
run store's readers (`ide.learn.runs`, `ide.learn.ranking`, `ide log`) rely on. A check
that fails raises InvalidInput naming the file; nothing here writes anything.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np

from ide.data import formats
from ide.errors import InvalidInput
from ide.learn import checkpoint

KEY = re.compile(r"[0-9a-f]{20}")      # a run key, as `ide.learn.runs.run_key` makes it
COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a git commit id (SHA-1 or SHA-256)
_NUMBER = (int, float)


def check_index(data: bytes) -> dict[str, str]:
    """An index.json's {commit: run key}; InvalidInput if it is anything else."""
    index = _json(data)
    if not (isinstance(index, dict) and all(
            COMMIT.fullmatch(c) and isinstance(k, str) and KEY.fullmatch(k)
            for c, k in index.items())):
        raise InvalidInput("not a mapping of commit ids to run keys")
    return index


def check_run(files: dict[str, bytes]) -> None:
    """Check one run's FILES {file name: content} (run.json, probs.npy and metrics.json; a
    model.pt and an unlabelled.npy where it has them); InvalidInput '<file>: why'."""
    info = _part("run.json", lambda: _run_info(_json(files["run.json"])))
    ids, classes = info["ids"], info.get("classes")
    width = len(classes) if classes is not None else None
    _part("probs.npy", lambda: _probs(files["probs.npy"], len(ids), width))
    if "unlabelled.npy" in files:
        _part("unlabelled.npy", lambda: _probs(files["unlabelled.npy"],
                                               len(info.get("unlabelled", [])), width))
    _part("metrics.json", lambda: _metrics(_json(files["metrics.json"])))
    if "model.pt" in files:
        checkpoint.read_model(files["model.pt"], "model.pt")


def _part(name: str, check):
    try:
        return check()
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc}") from None


def _json(data: bytes):
    try:
        return json.loads(data)
    except ValueError:  # also a file that is not UTF-8
        raise InvalidInput("not JSON") from None


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _number(value) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def _run_info(info) -> dict:
    """A run.json's record, its fields of the types `ide.learn.runs._write_results` writes
    (runs shared by older versions may lack classes, unlabelled and the optional ones)."""
    if not isinstance(info, dict):
        raise InvalidInput("not a JSON object")
    wanted = {"commit": lambda v: isinstance(v, str) and COMMIT.fullmatch(v),
              "ids": _strings, "labels": _strings, "images": lambda v: isinstance(v, str),
              "params": lambda v: isinstance(v, dict), "finished": _number}
    optional = {"classes": _strings, "unlabelled": _strings,
                "seconds": lambda v: v is None or _number(v),
                "warm_start": lambda v: v is None or (isinstance(v, str) and COMMIT.fullmatch(v)),
                "source": lambda v: isinstance(v, str),
                "choice": lambda v: v is None or (isinstance(v, dict) and isinstance(
                    v.get("chosen"), str) and isinstance(v.get("log_loss"), dict))}
    for field, ok in {**wanted, **optional}.items():
        if (field in wanted or field in info) and not ok(info.get(field)):
            raise InvalidInput(f"{field!r} is missing or of the wrong type")
    if len(info["labels"]) != len(info["ids"]):
        raise InvalidInput("'labels' and 'ids' differ in length")
    formats.check_ids(info["ids"] + info.get("unlabelled", []))
    if "classes" in info and not set(info["labels"]) <= set(info["classes"]):
        raise InvalidInput("a label that is not one of its 'classes'")
    return info


def _probs(data: bytes, rows: int, width: int | None) -> None:
    """Probabilities: a (ROWS, WIDTH) array of floats between 0 and 1, with no pickle."""
    try:
        probs = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise InvalidInput("not a numpy array without pickles") from None
    if not (probs.dtype.kind == "f" and probs.ndim == 2 and probs.shape[0] == rows
            and probs.shape[1] == (width or probs.shape[1])
            and np.all((probs >= 0) & (probs <= 1))):
        raise InvalidInput(f"not a ({rows}, classes) array of probabilities")


def _metrics(m) -> None:
    """The metrics `ide.learn.rank.metrics` makes: what `ide log` and the app show."""
    if not (isinstance(m, dict) and all(_number(m.get(k)) for k in ("accuracy", "mean_loss"))
            and all(isinstance(m.get(k), int) for k in ("examples", "suspects"))
            and isinstance(m.get("per_class_accuracy"), dict)
            and all(isinstance(c, str) and (v is None or _number(v))
                    for c, v in m["per_class_accuracy"].items())
            and isinstance(m.get("model", ""), str)
            and isinstance(m.get("compared", {}), dict)
            and all(isinstance(k, str) and _number(v) for k, v in m.get("compared", {}).items())):
        raise InvalidInput("not the metrics ide writes")
