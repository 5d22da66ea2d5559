"""The DVC training stage: `dvc repro` in `datasets/<name>/` runs `ide stage`.

`ide stage` (the `ide` script, bound to the interpreter ide is installed in, not whatever
`python` is first on PATH) runs `run` here. It trains on the working copy of the dataset
folder (labels.csv, images/, dataset.yaml, checked.txt, params.yaml: all declared) with
the same code as `ide retrain`, and writes model.pt, predictions.csv and metrics.json, so
`dvc metrics diff` compares versions and gives the same numbers as the IDE. `stage_yaml`
is the dvc.yaml that `ide import` writes beside the labels. Its outputs are not cached by
DVC (`cache: false`; model.pt and predictions.csv are git-ignored), so a fresh clone's
`dvc pull` has nothing of them to fetch and exits 0 (docs/TEAM.md: how results travel).
"""

import csv
import json
import sys
from dataclasses import fields
from pathlib import Path

from . import dataset as ds
from . import backbone, rank, train
from .checkpoint import save_model
from .errors import IDEError
from .images import decode
from .progress import progress_bar


def stage_yaml() -> str:
    """dvc.yaml of a dataset: `dvc repro` there gives the same numbers as `ide retrain`."""
    params = "".join(f"      - {f.name}\n" for f in fields(train.Params))
    return f"""\
stages:
  train:
    cmd: ide stage
    deps:
      - labels.csv
      - images
      - dataset.yaml
      - checked.txt
    params:
{params}    outs:
      - model.pt:
          cache: false
      - predictions.csv:
          cache: false
    metrics:
      - metrics.json:
          cache: false
"""


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def run(folder: Path) -> dict:
    labels = ds.parse_labels((folder / "labels.csv").read_text())
    classes = ds.parse_meta((folder / "dataset.yaml").read_text())["classes"]
    params = train.parse_params(_read(folder / "params.yaml"))
    checked = ds.parse_checked(_read(folder / "checked.txt"))
    images = folder / "images"
    ids = sorted(str(p.relative_to(images).as_posix()) for p in images.rglob("*") if p.is_file())
    if train.trains_images(params):
        x = decode([images / i for i in ids], train.image_side(params))
    else:  # no embedding cache here: the stage sees only the working copy
        embedder = backbone.load(params.model, params.weights or None)
        x = train.standardise(backbone.embed(
            embedder, decode([images / i for i in ids], backbone.side(params.model))))
    ids, probs, states, metrics = train.train_version(
        ids, x, labels, classes, params, checked=checked, progress=progress_bar(sys.stderr))
    save_model(folder / "model.pt", states, classes, params, x.shape[1])
    y = [classes.index(labels[i]) for i in ids]
    score, loss = rank.label_quality(y, probs), rank.per_example_loss(y, probs)
    pred = rank.predicted(probs)
    with open(folder / "predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "label", "predicted", "loss", "score", *classes])
        for n, i in enumerate(ids):
            w.writerow([i, labels[i], classes[pred[n]], f"{loss[n]:.6f}",
                        f"{score[n]:.6f}", *(f"{p:.6f}" for p in probs[n])])
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics


if __name__ == "__main__":  # `python -m ide.stage`, as dvc.yaml files of older imports run
    try:
        print(json.dumps(run(Path.cwd()), indent=1))
    except IDEError as exc:
        print(f"ide.stage: error: {exc}", file=sys.stderr)
        sys.exit(1)
