"""The DVC training stage: `dvc repro` in `datasets/<name>/` runs `python -m ide.stage`.

It trains on the working copy of the dataset folder (labels.csv, images/, params.yaml) with
the same code as `ide retrain`, and writes model.pt, predictions.csv and metrics.json, so
`dvc metrics diff` compares versions and gives the same numbers as the IDE.
"""

import csv
import json
import sys
from pathlib import Path

from . import dataset as ds
from . import rank, train
from .errors import IDEError


def run(folder: Path) -> dict:
    labels = ds.parse_labels((folder / "labels.csv").read_text())
    classes = ds.parse_meta((folder / "dataset.yaml").read_text())["classes"]
    params_file = folder / "params.yaml"
    params = ds.parse_params(params_file.read_text() if params_file.exists() else None)
    checked_file = folder / "checked.txt"
    checked = set(checked_file.read_text().split()) if checked_file.exists() else set()
    images = folder / "images"
    ids = sorted(str(p.relative_to(images).as_posix()) for p in images.rglob("*") if p.is_file())
    x = train.decode([images / i for i in ids], params.image_size)
    ids, probs, states, metrics = train.train_version(
        ids, x, labels, classes, params, checked=checked,
        progress=train.progress_bar(sys.stderr))
    train.save_model(folder / "model.pt", states, classes, params)
    y = [classes.index(labels[i]) for i in ids]
    score, loss = rank.label_quality(y, probs), rank.per_example_loss(y, probs)
    with open(folder / "predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "label", "predicted", "loss", "score", *classes])
        for n, i in enumerate(ids):
            w.writerow([i, labels[i], classes[int(probs[n].argmax())], f"{loss[n]:.6f}",
                        f"{score[n]:.6f}", *(f"{p:.6f}" for p in probs[n])])
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics


if __name__ == "__main__":
    try:
        print(json.dumps(run(Path.cwd()), indent=1))
    except IDEError as exc:
        print(f"ide.stage: error: {exc}", file=sys.stderr)
        sys.exit(1)
