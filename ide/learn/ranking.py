"""The ranking read model: a trained version's out-of-fold view of every example.

`load(ws, version)` reads a version's finished results from the run store (`ide.learn.runs`)
and ranks them with `ide.learn.rank`: the given and predicted class of each example, its
label quality score and loss, the suspects, and the order to review them in (most
suspicious first, examples a reviewer checked last). `suspects` is its top rows;
`unlabelled` is what the version's model predicts for its unlabelled examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ide.learn import rank, runs
from ide.repo import state
from ide.repo.versions import Version
from ide.repo.workspace import Workspace


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


def load(ws: Workspace, version: Version, *, method: str = rank.DEFAULT_METHOD) -> Ranking:
    """The stored results of VERSION, ranked; NotTrained if it has none."""
    run = runs.finished_run(ws, version)
    info = state.read_json(run / "run.json", {})
    classes = list(version.classes)
    index = {c: j for j, c in enumerate(classes)}
    y = np.array([index[lab] for lab in info["labels"]], dtype=np.int64)
    probs = np.load(run / "probs.npy", allow_pickle=False)  # it may come from a pull
    checked = version.checked
    is_checked = np.array([i in checked for i in info["ids"]], dtype=bool) if checked \
        else np.zeros(len(y), dtype=bool)
    score = rank.label_quality(y, probs, method=method)
    return Ranking(version.commit, classes, info["ids"], y, probs, rank.predicted(probs),
                   score, rank.per_example_loss(y, probs),
                   rank.is_suspect(y, probs, checked=is_checked), rank.order(score, is_checked))


def suspects(ws: Workspace, version: Version, *, top: int | None = 20,
             method: str = rank.DEFAULT_METHOD) -> list[dict]:
    """The TOP most suspicious examples: id, label, predicted, loss, score."""
    r = load(ws, version, method=method)
    return r.rows(r.order[:top] if top else r.order)


def unlabelled(ws: Workspace, version: Version) -> tuple[list[str], np.ndarray]:
    """(ids, (N, K) probabilities) of VERSION's unlabelled examples, as its model (the
    ensemble of the fold models) predicts them; NotTrained if it has no results."""
    run = runs.finished_run(ws, version)
    ids = state.read_json(run / "run.json", {}).get("unlabelled", [])
    path = run / "unlabelled.npy"
    probs = np.load(path, allow_pickle=False) if path.exists() \
        else np.zeros((0, len(version.classes)))
    return (ids, probs) if len(ids) == len(probs) else ([], probs[:0])
