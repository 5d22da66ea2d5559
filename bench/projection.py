"""Which 2-D projection the Map page uses: speed at 10,000 and 100,000 examples, and how well
the classes stay apart in 2-D. One table.

    python bench/projection.py                  # needs ../shared/data/mnist-test
    python bench/projection.py --sizes 10000    # the 10k rows only (a few minutes)

The data: the 10,000 MNIST test digits (real labels), as the app sees embeddings: centred,
unit-length vectors (here the digits' pixels reduced to 50 dimensions by PCA, a stand-in
for a network's features). 100,000 is those digits ten times, each copy shifted by a random
pixel in x and y (distinct images, same labels). Candidates, each from a maintained library:
PCA (scikit-learn), t-SNE (scikit-learn's Barnes-Hut; skipped at 100k, it would take most of
an hour), openTSNE (FFT-accelerated t-SNE) and UMAP (umap-learn, the app's); openTSNE is
not a dependency: `pip install openTSNE` to measure it (a row says n/a without it).

Separation: the accuracy of a 10-nearest-neighbour classifier on the 2-D points (5-fold
cross-validation; what a user sees as "each class is its own island") and the silhouette of
the 2-D points by class (on a sample of 5,000). Times are wall-clock seconds of the
projection alone, with the first call's compilation (numba, for UMAP) included.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's `ide`, whatever is pip-installed
DATA = ROOT.parent / "shared" / "data" / "mnist-test"


def read_idx(path: Path) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    dims = [int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(raw[3])]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 784) pixels and (N,) labels: the MNIST test set, tiled with 1-pixel shifts."""
    x = read_idx(DATA / "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
    y = read_idx(DATA / "t10k-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(0)
    copies = [x] + [np.roll(x, tuple(rng.integers(-1, 2, 2)), axis=(1, 2))
                    for _ in range(n // len(x) - 1)]
    return np.concatenate(copies)[:n].reshape(n, -1), np.tile(y, len(copies))[:n]


def embeddings(x: np.ndarray) -> np.ndarray:
    """Centred, unit-length 50-D vectors, as `ide.ops.duplicates.embeddings` gives them."""
    from sklearn.decomposition import PCA

    z = PCA(50, random_state=0).fit_transform(x)
    z -= z.mean(0)
    return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


def pca(z):
    from sklearn.decomposition import PCA
    return PCA(2, random_state=0).fit_transform(z)


def sk_tsne(z):
    from sklearn.manifold import TSNE
    return TSNE(2, init="pca", random_state=0).fit_transform(z)


def open_tsne(z):
    from openTSNE import TSNE
    return np.asarray(TSNE(n_jobs=os.cpu_count(), random_state=0).fit(z))


def ide_projection(z):
    from ide.learn import projection
    return projection.project(z)


def umap(z):
    import umap as umap_learn
    return umap_learn.UMAP(random_state=0, n_jobs=1).fit_transform(z)


CANDIDATES = {"PCA (scikit-learn)": (pca, 10**9), "t-SNE (scikit-learn)": (sk_tsne, 20_000),
              "openTSNE": (open_tsne, 10**9), "UMAP (umap-learn)": (umap, 10**9),
              "ide.learn.projection (the app's)": (ide_projection, 10**9)}


def separation(xy: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(10-NN accuracy, 5-fold; silhouette on a sample of 5,000) of 2-D points XY."""
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    knn = cross_val_score(KNeighborsClassifier(10), xy, y, cv=5).mean()
    sil = silhouette_score(xy, y, sample_size=min(5000, len(y)), random_state=0)
    return float(knn), float(sil)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--methods", nargs="+", default=list(CANDIDATES), help="names of CANDIDATES")
    args = ap.parse_args(argv)
    if not DATA.exists():
        sys.exit(f"needs {DATA}")
    print(f"{'method':<34} {'examples':>9} {'seconds':>8} {'10-NN acc':>9} {'silhouette':>10}")
    for n in args.sizes:
        x, y = digits(n)
        z = embeddings(x)
        for name in args.methods:
            fn, limit = CANDIDATES[name]
            if n > limit:
                print(f"{name:<34} {n:>9,} {'skipped':>8}", flush=True)
                continue
            try:
                start = time.perf_counter()
                xy = fn(z)
                seconds = time.perf_counter() - start
            except ImportError as exc:
                print(f"{name:<34} {n:>9,} {'n/a':>8}  ({exc})", flush=True)
                continue
            knn, sil = separation(xy, y)
            print(f"{name:<34} {n:>9,} {seconds:>8.1f} {knn:>9.3f} {sil:>10.3f}", flush=True)
    print(f"(load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, "
          "a machine shared with other jobs)")


if __name__ == "__main__":
    main()
