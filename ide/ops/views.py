"""The read model that the CLI and the app show: plain values, no printing, no widgets.

Status of a dataset (with its conflicts), its log with the metrics of each trained commit,
the labels as they are now (HEAD plus the staged edits), and the filters and confusion
counts of a ranking.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ide.learn import rank, runs
from ide.learn.ranking import Ranking
from ide.ops import worker
from ide.repo import conflicts, history, staged, versions
from ide.repo.versions import Version
from ide.repo.workspace import Workspace


def status(ws: Workspace, name: str) -> dict:
    """{"dataset", "branch", "head", "labels", "checked", "conflicts", "merge_conflicts",
    "operation", "unmerged", "model"}: staged edits (and those that conflict with HEAD: id,
    base, yours, theirs), the label conflicts of an unfinished git merge, rebase or
    cherry-pick (id, base, ours, theirs), the dataset's other files git left unmerged
    (images.dvc, say), HEAD's model."""
    version = versions.resolve(ws, name)
    operation = ws.operation()
    unmerged = sorted({line.split("\t", 1)[1] for line in ws.git(
        "ls-files", "-u", "--", version.folder).splitlines()} - {
        f"{version.folder}/labels.csv"}) if operation else []
    return {"dataset": name, "branch": ws.branch(), "head": version.commit,
            **staged.read(ws, name, version),
            "merge_conflicts": conflicts.unsettled(ws, name), "operation": operation,
            "unmerged": unmerged, "model": worker.model_status(ws, name, version.commit)}


def model_text(metrics: dict) -> str:
    """The model METRICS were trained with, and when `auto` chose it, each candidate's
    out-of-fold log loss: "cnn (chosen: log loss cnn 0.038, efficientnet-lite0 0.377)"."""
    model, compared = metrics.get("model", ""), metrics.get("compared") or {}
    if len(compared) < 2:
        return model
    return f"{model} (chosen: log loss " + ", ".join(
        f"{k} {v:.3f}" for k, v in sorted(compared.items(), key=lambda kv: kv[1])) + ")"


def log(ws: Workspace, name: str, rev: str = "HEAD", *,
        version: Version | None = None) -> list[dict]:
    """Dataset commits reachable from REV (VERSION, if already resolved), newest first:
    commit, author, date, message, edits, metrics (None where that commit is not trained)."""
    entries = history.log(ws, name, rev, version=version)
    keys = runs.runs_of(ws, name, [e["commit"] for e in entries])  # at once, not per commit
    return [{**e, "metrics": runs.run_metrics(ws, name, keys[e["commit"]])} for e in entries]


class WorkingLabels(Mapping):
    """{id: label} of a ranking's examples as they are now, looked up one id at a time:
    the staged edit, else HEAD's label, else the ranking's own (HEAD no longer has it).
    The app reads a page of it per run; building the whole dict cost O(N) per rerun
    (0.7 s at 100,000 examples on a loaded machine, twice a run; now 0.03 s)."""

    def __init__(self, head: Mapping[str, str], edits: dict[str, str], r: Ranking):
        self._head, self._edits, self._r = head, edits, r

    def __getitem__(self, i: str) -> str:
        if i in self._edits:
            return self._edits[i]
        n = self._r.position[i]  # KeyError for an id outside the ranking
        return self._head.get(i, self._r.classes[self._r.labels[n]])

    def __contains__(self, i) -> bool:
        return i in self._r.position

    def __iter__(self):
        return iter(self._r.ids)

    def __len__(self) -> int:
        return len(self._r.ids)


def working_labels(ws: Workspace, name: str, r: Ranking, *, version: Version | None = None,
                   everyone: dict | None = None) -> Mapping[str, str]:
    """{id: label} of R's examples as they are now: HEAD's labels plus everyone's staged
    edits (R's own label where HEAD no longer has the example); read-only, looked up
    lazily. VERSION (HEAD's) and EVERYONE (`staged.everyone`), if already read."""
    version = version or versions.resolve(ws, name)
    everyone = everyone or staged.everyone(ws, name, version)
    edits = {e["id"]: e["new"] for e in everyone["labels"] if e["id"] in r.position}
    return WorkingLabels(version.labels, edits, r)


def confusion_pairs(r: Ranking) -> list[tuple[str, str, int]]:
    """(given, predicted, count) of every confusion in R, the most frequent first (ties in
    class order); counted in numpy, not per example in Python."""
    counts = rank.confusion(r.labels, r.probs)
    np.fill_diagonal(counts, 0)
    flat = np.argsort(-counts, axis=None, kind="stable")
    return [(r.classes[a], r.classes[b], int(counts[a, b]))
            for a, b in zip(*np.unravel_index(flat, counts.shape)) if counts[a, b]]


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
    index = r.position
    keep = set(shown.tolist())
    picked = dict.fromkeys(index[i] for i in ids if i in index and index[i] in keep)
    return np.array(list(picked), dtype=int)


def confusion_matrix(r: Ranking) -> np.ndarray:
    """(K, K) counts of R: rows the given label, columns the out-of-fold prediction."""
    return rank.confusion(r.labels, r.probs)
