"""A new user's first retrain: seconds for 100, 400 and 2,000 images, and what it finds.

    python bench/small.py              # needs ../shared/data/mnist-test; ~6 min on 2 cores
    python bench/small.py --sizes 100  # one size

1. Seconds of the first `ide retrain` (the real command, in a fresh workspace with a fresh
   HOME, after `ide import` with the defaults: `model: auto`, so the CNN and the packaged
   backbone's head are compared first), for the first N real MNIST test digits; beside it,
   the model chosen with both losses, and the seconds of the baseline a user would write
   instead (pixels, logistic regression, 5-fold `cross_val_predict`).
2. Precision@k of 8% uniform flips planted in scikit-learn's digits (100, 400 and all
   1,797 of them, decoded at 28 px as `ide import` does), 3 seeds, for today's CNN recipe
   and the one before it (400 steps a fold at least, batches of 128): the small-data budget
   must not cost ranking quality.

Timings are of one run on an otherwise idle machine; run it alone.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from models import read_idx
from PIL import Image

from ide.data.params import Params
from ide.learn import rank, train

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-test"


def mnist(n: int):
    return (read_idx(MNIST / "t10k-images-idx3-ubyte.gz")[:n],
            read_idx(MNIST / "t10k-labels-idx1-ubyte.gz")[:n])


def first_retrain(n: int, root: Path) -> dict:
    """Import the first N digits into a fresh workspace and time `ide retrain`."""
    x, y = mnist(n)
    src = root / f"src{n}"
    for k, (img, lab) in enumerate(zip(x, y)):
        (src / str(lab)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(src / str(lab) / f"{k:05d}.png")
    home = root / f"home{n}"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@localhost\n")
    env = {**os.environ, "HOME": str(home)}
    ws = root / f"ws{n}"
    ide = [sys.executable, "-m", "ide.cli"]
    subprocess.run([*ide, "init", str(ws)], env=env, check=True, capture_output=True)
    subprocess.run([*ide, "import", "digits", str(src)], cwd=ws, env=env, check=True,
                   capture_output=True)
    start = time.time()
    out = subprocess.run([*ide, "retrain", "digits"], cwd=ws, env=env, check=True,
                         capture_output=True, text=True).stdout
    seconds = time.time() - start
    start = time.time()
    logistic(x[:, None], y)
    return {"seconds": seconds, "said": out.strip().split("; model ")[-1],
            "logistic": time.time() - start}


def logistic(x, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    return cross_val_predict(LogisticRegression(max_iter=200), x.reshape(len(x), -1) / 255.0,
                             y, cv=5, method="predict_proba")


def digits28():
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    x8 = torch.from_numpy((d.images * (255 / 16)).round()[:, None]).float()
    x = torch.nn.functional.interpolate(x8, size=28, mode="bilinear")
    return x.round().clamp(0, 255).byte().numpy(), d.target.astype(np.int64)


def planted(x, y, n: int, params: Params, seeds: int) -> tuple[float, float]:
    """Mean precision@k of 8% uniform flips in N of the digits over SEEDS, and seconds."""
    found, secs = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(len(x), n, replace=False)) if n < len(x) else np.arange(n)
        xs, noisy = x[pick], y[pick].copy()
        k = max(1, round(0.08 * n))
        flipped = rng.choice(n, k, replace=False)
        noisy[flipped] = (noisy[flipped] + rng.integers(1, 10, k)) % 10
        start = time.time()
        probs, _ = train.cross_validate([f"{i:05d}" for i in range(n)], xs, noisy, 10,
                                        Params(**{**params.__dict__, "seed": seed}))
        secs.append(time.time() - start)
        top = rank.review_order(noisy, probs)[:k]
        found.append(len(set(top.tolist()) & set(flipped.tolist())) / k)
    return float(np.mean(found)), float(np.mean(secs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 2000])
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    print("| MNIST digits | first `ide retrain` (s) | model chosen (log loss) "
          "| logistic regression (s) |")
    print("|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            r = first_retrain(n, Path(tmp))
            print(f"| {n} | {r['seconds']:.1f} | {r['said']} | {r['logistic']:.1f} |",
                  flush=True)
    x, y = digits28()
    before = Params(batch_size=128, min_steps=400)
    print("\n| scikit-learn digits, 8% flips | precision@k now | seconds | "
          "before (400 steps, batch 128) | seconds |")
    print("|---|---|---|---|---|", flush=True)
    for n in (100, 400, len(x)):
        now, s_now = planted(x, y, n, Params(), args.seeds)
        old, s_old = planted(x, y, n, before, args.seeds)
        print(f"| {n} | {now:.3f} | {s_now:.1f} | {old:.3f} | {s_old:.1f} |", flush=True)
    print(f"\nprecision@k: mean over {args.seeds} seeds (flips and folds).")


if __name__ == "__main__":
    main()
