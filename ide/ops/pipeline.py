"""The DVC training stage: `dvc repro` in `datasets/<name>/` runs `ide stage`.

`ide stage` (the `ide` script, bound to the interpreter ide is installed in, not whatever
`python` is first on PATH) runs `run` here. It trains on the working copy of the dataset
folder (labels.csv, images/, dataset.yaml, checked.txt, params.yaml: all declared) with
the same code as `ide retrain`, and writes its outputs: metrics.json and confusion.csv (id,
label, predicted: small, kept in git, not in the DVC cache, so a clone's `dvc pull` never
misses them), and beside them, git-ignored and not declared, predictions.csv (with every
class's probability) and model.pt (a version's model lives in ide's run store and travels
with `ide push`). `stage_yaml` is the dvc.yaml that `ide import` writes beside the labels,
with two plots: the confusion matrix (confusion.csv) and accuracy and suspects over commits
(history.csv).
`results` makes the git-kept outputs from a stored run: `experiments.attach` hangs them on
the trained commit as a DVC experiment, and `experiments.publish` commits them (with dvc.lock) when
asked, so that `dvc status` is clean (docs/TEAM.md).
"""

import csv
import functools
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ide.data import formats as ds
from ide.data.params import AUTO, CNN, LITE0, Params, parse_params
from ide.learn import backbone, choice, head, rank, train
from ide.learn.checkpoint import save_model
from ide.repo.images import decode


def stage_yaml() -> str:
    """dvc.yaml of a dataset: `dvc repro` there gives the same numbers as `ide retrain`."""
    return """\
stages:
  train:
    cmd: ide stage
    deps:
      - labels.csv
      - images
      - dataset.yaml
      - checked.txt
    params:
      - params.yaml:
    outs:
      - confusion.csv:
          cache: false
    metrics:
      - metrics.json:
          cache: false
plots:
  - confusion.csv:
      template: confusion
      x: predicted
      y: label
  - history.csv:
      x: step
      y: [accuracy, suspects]
"""


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def run(folder: Path, *, progress=None) -> dict:
    """Train on the working copy of FOLDER and write the stage's outputs; returns the metrics.
    PROGRESS: the callback `train.cross_validate` takes."""
    labels = ds.parse_labels((folder / "labels.csv").read_text())
    classes = ds.parse_meta((folder / "dataset.yaml").read_text())["classes"]
    params = parse_params(_read(folder / "params.yaml"))
    checked = ds.parse_checked(_read(folder / "checked.txt"))
    images = folder / "images"
    ids = sorted(str(p.relative_to(images).as_posix()) for p in images.rglob("*") if p.is_file())
    # Decoded once: the comparison of `auto` and then the CNN's training read the same.
    pixels = functools.cache(lambda side: decode([images / i for i in ids], side))
    made, done = None, {}
    if params.model == AUTO:
        train.check_trainable(labels, ids)
        params, made, done = _choose(images, ids, pixels, labels, classes, params)
    if train.trains_images(params):
        x = pixels(train.image_side(params))
    else:  # no embedding cache here: the stage sees only the working copy
        embedder = backbone.load(params.model, params.weights or None)
        x = head.standardise(backbone.embed(
            embedder, decode([images / i for i in ids], backbone.side(params.model))))
    ids, probs, states, metrics = train.train_version(
        ids, x, labels, classes, params, checked=checked, progress=progress, done=done)
    save_model(folder / "model.pt", states, classes, params, x.shape[1])
    metrics = choice.described(metrics, params.model, made)
    write_outputs(folder, ids, [labels[i] for i in ids], classes, probs, metrics)
    return metrics


def _choose(images: Path, ids: list[str], pixels, labels: dict, classes: list[str],
            params: Params):
    """(PARAMS with `auto` replaced by the model `ide.learn.choice` picks, the choice, the
    CNN's folds the comparison trained if it chose the CNN), as `ide retrain` chooses on a
    dataset's first training. IDS: every image; PIXELS(side): them all, decoded at SIDE."""
    labelled = sorted(i for i, lab in labels.items() if lab)
    y = np.array([classes.index(labels[i]) for i in labelled])
    at = {i: n for n, i in enumerate(ids)}

    def pictures():
        return pixels(train.image_side(replace(params, model=CNN)))[[at[i] for i in labelled]]

    def vectors(picked):
        return backbone.embed(backbone.load(LITE0, None),
                              decode([images / labelled[n] for n in picked], backbone.side(LITE0)))
    made, kept = choice.compare(labelled, y, len(classes), params, images=pictures,
                                embeddings=vectors)
    # The head's fold was fitted on embeddings standardised over the sample; the stage
    # standardises over every image, so only the CNN's folds are reused.
    return (replace(params, model=made["chosen"]), made,
            kept if made["chosen"] == CNN else {})


def results(ids: list[str], labels: list[str], classes: list[str], probs,
            metrics: dict) -> dict[str, str]:
    """The stage's outputs kept in git, as text: metrics.json and confusion.csv (one row
    per example: its label and the predicted class)."""
    pred = rank.predicted(probs)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["id", "label", "predicted"])
    w.writerows([i, labels[n], classes[pred[n]]] for n, i in enumerate(ids))
    return {"metrics.json": json.dumps(metrics, indent=1) + "\n",
            "confusion.csv": out.getvalue()}


def write_outputs(folder: Path, ids: list[str], labels: list[str], classes: list[str],
                  probs, metrics: dict) -> None:
    """The stage's outputs in FOLDER: `results` and predictions.csv (each example with its
    loss, score and the (N, K) out-of-fold PROBS)."""
    y = [classes.index(lab) for lab in labels]
    score, loss = rank.label_quality(y, probs), rank.per_example_loss(y, probs)
    pred = rank.predicted(probs)
    with open(folder / "predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "label", "predicted", "loss", "score", *classes])
        for n, i in enumerate(ids):
            w.writerow([i, labels[n], classes[pred[n]], f"{loss[n]:.6f}",
                        f"{score[n]:.6f}", *(f"{p:.6f}" for p in probs[n])])
    for name, text in results(ids, labels, classes, probs, metrics).items():
        (folder / name).write_text(text)


def write_history(folder: Path, rows: list[dict]) -> None:
    """history.csv: ROWS ({"commit", "accuracy", "suspects"}, oldest first), one per
    trained commit, numbered by `step` (what the plot of accuracy over commits reads)."""
    with open(folder / "history.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["step", "commit", "accuracy", "suspects"])
        for n, r in enumerate(rows):
            w.writerow([n, r["commit"][:10], f"{r['accuracy']:.6f}", r["suspects"]])
