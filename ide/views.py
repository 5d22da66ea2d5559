"""The read model that the CLI and the app show: plain values, no printing, no widgets.

Status of a dataset (with its conflicts), its log with the metrics of each trained commit, the labels as they
are now (HEAD plus the staged edits), and the filters and confusion counts of a ranking.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from . import commits, history, rank, runs, staged, store, worker
from .runs import Ranking
from .workspace import Workspace


def status(ws: Workspace, name: str) -> dict:
    """{"dataset", "branch", "head", "labels", "checked", "conflicts", "merge_conflicts",
    "model"}: staged edits (and those that conflict with HEAD: id, base, yours, theirs),
    the label conflicts of an unfinished git merge (id, base, ours, theirs), HEAD's model."""
    version = store.resolve(ws, name)
    return {"dataset": name, "branch": ws.branch(), "head": version.commit,
            **staged.read(ws, name, version),
            "merge_conflicts": commits.merge_conflicts(ws, name),
            "model": worker.model_status(ws, name, version.commit)}


def log(ws: Workspace, name: str, rev: str = "HEAD") -> list[dict]:
    """Dataset commits reachable from REV, newest first: commit, author, date, message,
    edits, metrics (None where that commit is not trained)."""
    return [{**e, "metrics": runs.metrics(ws, name, e["commit"])}
            for e in history.log(ws, name, rev)]


def working_labels(ws: Workspace, name: str, r: Ranking) -> dict[str, str]:
    """{id: label} of R's examples as they are now: HEAD's labels plus everyone's staged
    edits (R's own label where HEAD no longer has the example)."""
    version = store.resolve(ws, name)
    edits = [*staged.read(ws, name, version)["labels"],
             *staged.others(ws, name, version)["labels"]]
    now = {**version.labels, **{e["id"]: e["new"] for e in edits}}
    return {i: now.get(i, r.classes[r.labels[n]]) for n, i in enumerate(r.ids)}


def confusion_pairs(r: Ranking) -> list[tuple[str, str, int]]:
    """(given, predicted, count) of every confusion in R, the most frequent first."""
    counts = Counter((r.classes[a], r.classes[b]) for a, b in zip(r.labels, r.predicted)
                     if a != b)
    return [(a, b, n) for (a, b), n in counts.most_common()]


def shown(r: Ranking, *, given=(), predicted=(), pair: tuple[str, str] | None = None,
          only_suspects: bool = False) -> np.ndarray:
    """Indices of R's examples that pass the filters, most suspicious first: GIVEN and
    PREDICTED classes (empty: any), a confusion PAIR (given, predicted), only suspects."""
    keep = np.ones(len(r.ids), dtype=bool)
    index = {c: j for j, c in enumerate(r.classes)}
    if given:
        keep &= np.isin(r.labels, [index[c] for c in given])
    if predicted:
        keep &= np.isin(r.predicted, [index[c] for c in predicted])
    if pair:
        keep &= (r.labels == index[pair[0]]) & (r.predicted == index[pair[1]])
    if only_suspects:
        keep &= r.suspect
    return r.order[keep[r.order]]


def only(r: Ranking, shown: np.ndarray, ids: list[str]) -> np.ndarray:
    """The indices of SHOWN whose example is in IDS, in the order of IDS (a duplicate pair
    side by side, the worst outlier first)."""
    index = {i: n for n, i in enumerate(r.ids)}
    keep = set(shown.tolist())
    picked = dict.fromkeys(index[i] for i in ids if i in index and index[i] in keep)
    return np.array(list(picked), dtype=int)


def confusion_matrix(r: Ranking) -> np.ndarray:
    """(K, K) counts of R: rows the given label, columns the out-of-fold prediction."""
    return rank.confusion(r.labels, r.probs)
