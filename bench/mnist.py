"""The real MNIST test set (10,000 digits): full retrain, warm retrain, detection, app speed.

    python bench/mnist.py        # needs ../shared/data/mnist-test; ~8 minutes on 2 cores

Imports the digits, trains them with their given labels and counts how many of the 15 label
errors that humans confirmed land in the top 20 and top 50 suspects; then commits 5% label noise, trains it in full, then commits a handful of
fixes and retrains warm (from the previous version's fold models) and in full, and prints
time, examples/s, peak memory, out-of-fold accuracy and top-k precision of the suspects
for each; finally how long the app's review page (50 thumbnails) takes to render.
"""

import gzip
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ide.learn import ranking, runs
from ide.ops import transfer
from ide.repo import commits, staged, versions

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-test"


# The 15 MNIST test labels that at most 2 of 5 MTurk reviewers kept (labelerrors.com;
# cleanlab/label-errors, mturk/mnist_mturk.json): {index: given label}.
CONFIRMED = {947: 8, 1621: 0, 1901: 9, 2130: 4, 2462: 2, 2597: 5, 2654: 6, 3520: 6, 3558: 5,
             5937: 5, 6651: 0, 6783: 1, 8527: 4, 9679: 6, 9729: 5}


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_mnist(dest: Path) -> Path:
    images = read_idx(DATA / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(DATA / "t10k-labels-idx1-ubyte.gz")
    for n, (img, y) in enumerate(zip(images, labels)):
        (dest / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(dest / str(y) / f"{n:05d}.png")
    return dest


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def precision_at_k(ws, rev, flipped: set) -> float:
    top = ranking.suspects(ws, versions.resolve(ws, "mnist", rev), top=len(flipped))
    return len({r["id"] for r in top} & flipped) / len(flipped)


class Rows(list):
    """Prints each row as it is added, so a long run shows its results as it goes."""

    def append(self, row):
        what, secs, rate, acc, prec = row
        print(f"{what:<52} {secs:>8.2f} {rate:>6} {acc:>8} {prec:>7}", flush=True)
        super().append(row)


def main():
    if not DATA.exists():
        sys.exit(f"no MNIST at {DATA}")
    print(f"{'what':<52} {'seconds':>8} {'ex/s':>6} {'oof acc':>8} {'prec@k':>7}")
    rows = Rows()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ws = commits.init(tmp / "ws")
        t = time.time()
        transfer.import_dataset(ws, "mnist", write_mnist(tmp / "src"))
        rows.append(("import 10,000 PNGs (incl. writing them)", time.time() - t, "", "", ""))
        t = time.time()
        res = runs.retrain(ws, versions.resolve(ws, "mnist"))
        top = [r["id"] for r in ranking.suspects(ws, versions.resolve(ws, "mnist"), top=50)]
        real = {f"{y}/{n:05d}.png" for n, y in CONFIRMED.items()}
        rows.append((f"given labels: confirmed errors in top 20 / top 50 = "
                     f"{len(real & set(top[:20]))} / {len(real & set(top))}",
                     time.time() - t, "", f"{res['metrics']['accuracy']:.4f}", ""))
        labels = versions.resolve(ws, "mnist").labels
        rng = np.random.default_rng(0)
        ids = sorted(labels)
        pick = rng.choice(len(ids), 500, replace=False)
        noise = {ids[n]: str((int(labels[ids[n]]) + rng.integers(1, 10)) % 10) for n in pick}
        staged.relabel(ws, "mnist", noise)
        commits.commit(ws, "mnist", "5% noise")
        params = versions.resolve(ws, "mnist").params
        n_train = len(ids) * (params.folds - 1)  # examples seen per epoch, all folds

        t = time.time()
        res = runs.retrain(ws, versions.resolve(ws, "mnist"), full=True)
        secs = time.time() - t
        rows.append(("full retrain (5 folds), 5% noise", secs,
                     f"{params.epochs * n_train / res['seconds']:.0f}",
                     f"{res['metrics']['accuracy']:.4f}",
                     f"{precision_at_k(ws, 'HEAD', set(noise)):.3f}"))
        fixes = dict(list({i: labels[i] for i in noise}.items())[:10])
        staged.relabel(ws, "mnist", fixes)
        commits.commit(ws, "mnist", "fix 10")
        left = set(noise) - set(fixes)
        t = time.time()
        res = runs.retrain(ws, versions.resolve(ws, "mnist"))
        rows.append((f"warm retrain after 10 fixes (from {res['warm_start'][:7]})",
                     time.time() - t, f"{params.warm_epochs * n_train / res['seconds']:.0f}",
                     f"{res['metrics']['accuracy']:.4f}",
                     f"{precision_at_k(ws, 'HEAD', left):.3f}"))
        warm_key = runs.trained(ws, "mnist")[ws.head()]
        t = time.time()
        res = runs.retrain(ws, versions.resolve(ws, "mnist"), full=True)
        rows.append(("full retrain of the same commit, for comparison", time.time() - t,
                     f"{params.epochs * n_train / res['seconds']:.0f}",
                     f"{res['metrics']['accuracy']:.4f}",
                     f"{precision_at_k(ws, 'HEAD', left):.3f}"))
        del warm_key
        t = time.time()
        res = runs.retrain(ws, versions.resolve(ws, "mnist"))
        rows.append(("retrain again (cache hit)", time.time() - t, "", "", ""))
        for row in app_speed(ws):
            rows.append(row)
    print(f"peak memory (this process): {peak_mb():.0f} MB")


def app_speed(ws):
    import os

    from streamlit.testing.v1 import AppTest

    os.environ["IDE_WORKSPACE"] = str(ws.root)
    from ide.app import SCRIPT as app
    at = AppTest.from_file(app, default_timeout=120)
    t = time.time()
    at.run()
    cold = time.time() - t
    t = time.time()
    at.run()
    warm = time.time() - t
    fresh = AppTest.from_file(app, default_timeout=120)
    t = time.time()
    fresh.run()
    new_session = time.time() - t
    if at.exception or len(at.get("image")) < 50:
        raise SystemExit(f"the app did not render the gallery: {at.exception}")
    return [("app review page, 50 thumbnails, first ever render", cold, "", "", ""),
            ("app review page, rerun", warm, "", "", ""),
            ("app review page, new session (thumbnails on disk)", new_session, "", "", "")]


if __name__ == "__main__":
    main()
