"""Planted label noise on real photos and digits: which ranking finds it, in one run.

    python bench/noise.py                  # MNIST + Fashion-MNIST, 2/6/20%, 3 seeds; ~40 min
    python bench/noise.py --n 2000 --seeds 2 --rates 0.06   # a quick look
    python bench/noise.py --cache /tmp/noise   # keep each training's probabilities

For each dataset (the first N images of its 10,000-image test set, from ../shared/data),
noise kind (uniform: to any other class; class-conditional: each class to one fixed other
class, as annotators confuse shirt with T-shirt), rate and seed, it flips labels, trains
the IDE's K-fold model on the noisy labels with that seed (which also sets the folds, so the
spread covers fold assignments), and scores every ranking on the same out-of-fold
probabilities by precision@k, k the number of flips:

- the IDE's scores (`ide.learn.rank.METHODS`): the posterior under the estimated noise
  matrix (the default), self-confidence, normalised margin,
  self-confidence of class-adjusted probabilities, and confident learning (the suspects,
  i.e. the confident-learning filter's issues, first, then the rest, each by
  self-confidence);
- cleanlab's `find_label_issues` on the same probabilities (its issues ranked by
  self-confidence; its set is often shorter than k: a missing place counts as a miss);
- logistic regression on the pixels with 5-fold `cross_val_predict` (self-confidence): the
  baseline a user would write.

Each cell is the mean over seeds and, after it, the spread (max - min). Selection is on
these planted errors and out-of-fold accuracy only; the 15 confirmed MNIST errors are a
final check in bench/models.py, never a score to choose by.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from models import cleanlab_rank, flip, read_idx

from ide.data.params import Params
from ide.learn import rank, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DATASETS = {"MNIST": "mnist-test", "Fashion-MNIST": "fashion-mnist"}


def test_set(folder: str, n: int):
    """(images (n, 1, 28, 28) uint8, labels (n,)) of a 10k test set in IDX format."""
    x = read_idx(DATA / folder / "t10k-images-idx3-ubyte.gz")[:n, None]
    return x, read_idx(DATA / folder / "t10k-labels-idx1-ubyte.gz")[:n].astype(np.int64)


def logistic(x, y):
    """Pixels, logistic regression, 5-fold cross_val_predict: out-of-fold probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    return cross_val_predict(LogisticRegression(max_iter=200), x.reshape(len(x), -1) / 255.0,
                             y, cv=5, method="predict_proba")


def precision(order, flipped: set) -> float:
    k = len(flipped)
    return len(set(np.asarray(order)[:k].tolist()) & flipped) / max(k, 1)


def kfold(x, noisy, seed: int, cache: Path | None, tag: str):
    """Out-of-fold probabilities of the IDE's default model (the CNN) and seconds taken;
    from CACHE/TAG.npz when a run kept them."""
    path = cache / f"{tag}.npz" if cache else None
    if path and path.exists():
        z = np.load(path)
        return z["probs"], float(z["seconds"])
    ids = [f"{i:05d}" for i in range(len(x))]
    start = time.time()
    probs, _ = train.cross_validate(ids, x, noisy, 10, Params(seed=seed))
    seconds = time.time() - start
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, probs=probs, seconds=seconds)
    return probs, seconds


COLUMNS = [*rank.METHODS, "cleanlab filter", "logistic"]


def one(x, y, conditional, rate, seed, cache, tag):
    """{column: precision@k} and the OOF accuracy (against the true labels) of one setting."""
    rng = np.random.default_rng(1000 + seed)
    noisy, flipped = flip(y, rate, 10, rng, conditional=conditional)
    probs, seconds = kfold(x, noisy, seed, cache, tag)
    out = {m: precision(rank.review_order(noisy, probs, method=m), flipped)
           for m in rank.METHODS}
    out["cleanlab filter"] = precision(cleanlab_rank(noisy, probs), flipped)
    out["logistic"] = precision(rank.review_order(noisy, logistic(x, noisy)), flipped)
    out["accuracy"] = float((probs.argmax(1) == y).mean())
    out["seconds"] = seconds
    return out


def cell(values) -> str:
    v = np.array(values)
    return f"{v.mean():.3f} ±{(v.max() - v.min()) / 2:.3f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000, help="images of each test set")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rates", type=float, nargs="+", default=[0.02, 0.06, 0.20])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args()
    header = ["dataset", "noise", *COLUMNS, "OOF acc", "cnn s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|", flush=True)
    for name in args.datasets:
        x, y = test_set(DATASETS[name], args.n)
        for conditional in (False, True):
            for rate in args.rates:
                kind = "class-cond." if conditional else "uniform"
                runs = [one(x, y, conditional, rate, seed, args.cache,
                            f"{name}-{args.n}-{kind}-{rate}-{seed}")
                        for seed in range(args.seeds)]
                cells = [cell([r[c] for r in runs]) for c in [*COLUMNS, "accuracy"]]
                print(f"| {name} | {rate:.0%} {kind} | " + " | ".join(cells)
                      + f" | {np.mean([r['seconds'] for r in runs]):.0f} |", flush=True)
    print(f"\n{args.n} images per dataset, {args.seeds} seeds; precision@k (k = flips), "
          "mean ±half the spread over seeds.")


if __name__ == "__main__":
    main()
