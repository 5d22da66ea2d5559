"""Speed of `ide add`: new images into a large dataset, beside `dvc add` of the same files.

    python bench/add.py            # 1,000 PNGs into a dataset of 100,000 (the issue's target: < 10 s)
    python bench/add.py --small    # 100 into 5,000, to check that it runs

A dataset of M 28x28 PNGs is imported (not timed), then N new PNGs (a tenth of them
unlabelled, directly in the source folder) are added with `ide add`: checking each image,
hashing and copying only the new ones into the DVC cache, a new manifest, the commit.
Beside it: `dvc add` of the same N files alone, in a fresh DVC repository (the cost of
tracking them at all), and the number of cache files `ide add` wrote (N + 1 manifest: the
images already tracked are neither re-hashed nor copied). `dvc status` afterwards must
report the dataset up to date.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ide.ops import add, transfer
from ide.repo import commits

ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}


def write_pngs(root: Path, n: int, *, seed: int, prefix: str, unlabelled_every: int = 0):
    rng = np.random.default_rng(seed)
    for c in range(10):
        (root / str(c)).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8))
        blank = unlabelled_every and i % unlabelled_every == 0
        img.save(root / (f"{prefix}{i:06d}.png" if blank else f"{i % 10}/{prefix}{i:06d}.png"))


def cache_files(cache: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(cache))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="100 into 5,000")
    args = parser.parse_args()
    m, n = (5_000, 100) if args.small else (100_000, 1_000)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_pngs(tmp / "base", m, seed=0, prefix="b")
        write_pngs(tmp / "new", n, seed=1, prefix="n", unlabelled_every=10)
        ws = commits.init(tmp / "ws")
        start = time.perf_counter()
        transfer.import_dataset(ws, "big", tmp / "base")
        t_import = time.perf_counter() - start
        cache = ws.cache_dir()
        before = cache_files(cache)
        start = time.perf_counter()
        res = add.add(ws, "big", tmp / "new")
        t_add = time.perf_counter() - start
        wrote = cache_files(cache) - before
        status = ws.dvc("status", "datasets/big/images.dvc").strip()

        plain = tmp / "plain"
        commits.init(plain)
        shutil.copytree(tmp / "new", plain / "images")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dvc", "add", "-q", "images"], cwd=plain,
                       env=ENV, check=True)
        t_dvc = time.perf_counter() - start
    print("| step | seconds |\n|---|---|")
    print(f"| import {m:,} PNGs (setup) | {t_import:.1f} |")
    print(f"| `ide add` {res['added']:,} PNGs ({res['unlabelled']} unlabelled) to {m:,} "
          f"examples | **{t_add:.2f}** |")
    print(f"| `dvc add` of the same {n:,} files alone, fresh repository | {t_dvc:.2f} |")
    print(f"\ncache files written by ide add: {wrote} (new images + 1 manifest: "
          f"{n + 1}); dvc status afterwards: {status or 'clean'}")


if __name__ == "__main__":
    main()
