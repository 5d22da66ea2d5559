"""How well the ranking finds planted label errors, beside the usual baseline.

    python bench/detection.py            # scikit-learn digits, 5/8/20% noise, ~10 min
    python bench/detection.py --quick    # one noise level

For each noise setting, flips labels at random (uniform: to any other class; class-
conditional: each class to one fixed other class), gets out-of-fold probabilities from the
IDE's K-fold CNN and from scikit-learn logistic regression (5-fold cross_val_predict), and
prints precision and recall of the top-k suspects (k = number flipped) for each score.
"""

import argparse
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ide.data.params import Params
from ide.learn import rank, train


def flip(y, rate, kind, rng, k=10):
    y = y.copy()
    n = int(round(rate * len(y)))
    idx = rng.choice(len(y), n, replace=False)
    if kind == "uniform":
        y[idx] = (y[idx] + rng.integers(1, k, n)) % k
    else:  # class-conditional: class c becomes perm[c]
        perm = (np.arange(k) + rng.integers(1, k)) % k
        y[idx] = perm[y[idx]]
    return y, idx


def top_k(y_noisy, probs, flipped, method):
    k = len(flipped)
    top = rank.review_order(y_noisy, probs, method=method)[:k]
    hit = len(set(top) & set(flipped))
    return hit / k, hit / k


def filter_scores(y_noisy, probs, flipped):
    found = np.flatnonzero(rank.find_label_issues(y_noisy, probs))
    hit = len(set(found) & set(flipped))
    return hit / max(len(found), 1), hit / len(flipped)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args()
    d = load_digits()
    x8 = (d.images * (255 / 16)).round().astype(np.uint8)[:, None]
    import torch
    x = torch.nn.functional.interpolate(torch.from_numpy(x8).float(), size=16,
                                        mode="bilinear").round().clamp(0, 255).byte().numpy()
    y = d.target
    ids = [f"{i:05d}" for i in range(len(y))]
    # The parameters `ide import` picks for 8-pixel digits (see ide.ops.sources.params_for).
    params = Params(image_size=16, width=32, **({"epochs": args.epochs} if args.epochs else {}))
    settings = [(0.08, "uniform")] if args.quick else \
        [(0.05, "uniform"), (0.08, "uniform"), (0.20, "uniform"),
         (0.05, "class-conditional"), (0.20, "class-conditional")]
    print(f"{'noise':>6} {'kind':<18} {'model':<9} {'score':<18} {'precision':>9} {'recall':>7}")
    for rate, kind in settings:
        rng = np.random.default_rng(0)
        yn, flipped = flip(y, rate, kind, rng)
        t = time.time()
        probs, _ = train.cross_validate(ids, x, yn, 10, params)
        cnn_s = time.time() - t
        lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        base = cross_val_predict(lr, d.data, yn, cv=5, method="predict_proba")
        rows = [("cnn", m, *top_k(yn, probs, flipped, m)) for m in rank.METHODS]
        rows.append(("cnn", "cl-filter (all)", *filter_scores(yn, probs, flipped)))
        rows.append(("logreg", "self_confidence", *top_k(yn, base, flipped, "self_confidence")))
        for model, method, p, r in rows:
            print(f"{rate:>6.0%} {kind:<18} {model:<9} {method:<18} {p:>9.3f} {r:>7.3f}")
        print(f"{'':>6} cnn: {cnn_s:.0f} s for {params.folds} folds", file=sys.stderr)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
