"""Pre-labelling: the model's suggested label for each unlabelled example, and accepting
suggestions as staged label edits.

A trained version predicts its unlabelled examples with the ensemble of its fold models
(`ide.learn.ranking.unlabelled`); none of them was fitted on those examples. `suggestions` lists
them, the confident first or (active learning) the uncertain first: the examples whose
top two classes are closest are those whose label tells the model most. `accept` stages
suggestions through `ide.repo.staged.relabel`, to be reviewed and committed like any edit.
"""

from __future__ import annotations

import numpy as np

from ide.errors import InvalidInput, NothingToDo, NotTrained
from ide.learn import rank, ranking
from ide.repo import staged, versions
from ide.repo.versions import Version
from ide.repo.workspace import Workspace

ORDERS = ("confident", "uncertain")


def suggestions(ws: Workspace, name: str, *, order: str = "confident",
                top: int | None = None, version: Version | None = None,
                everyone: dict | None = None, model: Version | None = None) -> list[dict]:
    """HEAD's unlabelled examples that nothing is staged for, with the model's suggestion:
    [{"id", "suggested", "probability", "margin"}] (margin: top probability minus the
    second), the most confident first, or with ORDER "uncertain" the smallest margin first.
    NotTrained if HEAD has no results. VERSION (HEAD's) and EVERYONE (`staged.everyone`),
    if already read; MODEL: the version whose model suggests instead of HEAD's (an older
    trained commit, while HEAD's trains), NotTrained where its classes are not HEAD's."""
    if order not in ORDERS:
        raise InvalidInput(f"unknown order {order!r} ({', '.join(ORDERS)})")
    version = version or versions.resolve(ws, name)
    model = model or version
    if model.classes != version.classes:
        raise NotTrained(f"the model of {model.commit[:8]} has other classes than HEAD")
    ids, probs = ranking.unlabelled(ws, model)
    # Staged by anyone (any reviewer, or the command line): no longer waiting for a label.
    stage = everyone or staged.everyone(ws, name, version)
    busy = {e["id"] for e in [*stage["labels"], *stage["removed"]]}
    keep = [n for n, i in enumerate(ids) if version.labels.get(i) == "" and i not in busy]
    if not keep:
        return []
    p = probs[keep]
    best = rank.predicted(p)
    first, margin = p[np.arange(len(p)), best], rank.margin(p)
    shown = np.lexsort((np.array([ids[n] for n in keep]),
                        -first if order == "confident" else margin))
    rows = [{"id": ids[keep[j]], "suggested": version.classes[best[j]],
             "probability": float(first[j]), "margin": float(margin[j])} for j in shown]
    return rows[:top] if top else rows


def accept(ws: Workspace, name: str, *, ids: list[str] | None = None,
           min_probability: float | None = None, owner: str | None = None) -> list[dict]:
    """Stage the suggestions of IDS, or of every example whose suggestion has at least
    MIN_PROBABILITY, as OWNER's label edits (see `ide.repo.staged`). Returns the edits this
    call staged [{"id","old","new"}] (OWNER may have others staged already)."""
    if min_probability is not None and not 0 <= min_probability <= 1:
        raise InvalidInput(f"--min-probability must be in [0, 1], got {min_probability}")
    if not ids and min_probability is None:
        raise InvalidInput("give example ids or --min-probability P")
    rows = {r["id"]: r for r in suggestions(ws, name)}
    if ids:
        unknown = [i for i in ids if i not in rows]
        if unknown:
            raise InvalidInput(f"no suggestion for {unknown[0]!r}: not an unlabelled example of "
                               f"{name!r} with nothing staged (see `ide suggest {name}`)")
        picked = [rows[i] for i in ids]
    else:
        picked = [r for r in rows.values() if r["probability"] >= min_probability]
    if min_probability is not None:
        picked = [r for r in picked if r["probability"] >= min_probability]
    if not picked:
        raise NothingToDo(f"no suggestion to accept for {name!r}" + (
            f" with probability >= {min_probability}" if min_probability is not None else ""))
    ids = {r["id"] for r in picked}
    return [e for e in staged.relabel(ws, name, {i: rows[i]["suggested"] for i in ids},
                                      owner=owner) if e["id"] in ids]


def count_above(rows: list[dict], min_probability: float) -> int:
    """How many of the suggestions ROWS `accept` would stage at MIN_PROBABILITY."""
    return sum(r["probability"] >= min_probability for r in rows)
