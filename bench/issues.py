"""Image issues: ide's measurements (`ide.learn.quality`, numpy + PIL) beside cleanvision's
own (`Imagelab.find_issues`), on the same PNG files: seconds per 1,000 images, and how
often the two flag the same images, kind by kind.

    python bench/issues.py               # 2,000 MNIST test digits, one in ten altered
    python bench/issues.py --n 10000 --jobs 2

Two sets from the real MNIST test digits (../shared/data/mnist-test): `grey`, the 28 x 28
digits as they are, and `rgb`, the same digits tinted and enlarged to 80-120 px squares;
in each, one image in ten is altered in turn: darkened, washed out, blurred, shrunk to
8 x 8, stretched to 4:1, made flat grey, or copied. cleanvision runs only where it is
installed (`pip install cleanvision`, or `pip install -e ".[bench]"`); without it, ide's
times alone. ide is timed cold (every file decoded and measured) and cached (the
measurements read back from their shards and scored: a second `ide issues`).
"""

import argparse
import gzip
import hashlib
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from ide.learn import quality
from ide.ops import issues

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-test"
KINDS = (*quality.KINDS, "exact_duplicates")


def digits(n: int) -> np.ndarray:
    raw = gzip.open(MNIST / "t10k-images-idx3-ubyte.gz").read()
    return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:n]


def altered(im: Image.Image, k: int) -> Image.Image:
    """IM changed in the K-th of the ways an image goes wrong."""
    if k == 0:
        return im.point(lambda v: v // 5)
    if k == 1:
        return ImageOps.invert(im.point(lambda v: v // 30))
    if k == 2:
        return ImageOps.autocontrast(im.filter(ImageFilter.GaussianBlur(3 * im.width / 28)))
    if k == 3:
        return im.resize((8, 8))
    if k == 4:
        return im.resize((im.width * 2, im.height // 2))
    return Image.new(im.mode, im.size, (128,) * len(im.getbands()))


def write_set(folder: Path, x: np.ndarray, rgb: bool) -> list[str]:
    """The images of one set as PNGs in FOLDER; their paths."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    paths = []
    for n, a in enumerate(x):
        im = Image.fromarray(a)
        if rgb:
            tint = rng.uniform(0.5, 1.0, 3)
            im = Image.fromarray((np.stack([a] * 3, -1) * tint).astype(np.uint8))
            side = int(rng.integers(80, 121))
            im = im.resize((side, side), Image.BICUBIC)
        path = folder / f"{n:05d}.png"
        if n % 10 == 9 and n % 70 == 69:  # a copy of the previous image
            path.write_bytes(Path(paths[-1]).read_bytes())
        else:
            (altered(im, (n // 10) % 6) if n % 10 == 9 else im).save(path)
        paths.append(str(path))
    return paths


def ide_flags(paths: list[str], jobs: int) -> tuple[dict, dict, float, float]:
    """({kind: flags}, {kind: scores}, cold seconds, cached seconds) of PATHS by ide."""
    issues.PARALLEL_FROM = 0 if jobs > 1 else len(paths) + 1
    start = time.perf_counter()
    props = np.stack(list(issues._measure_all(paths)))
    cold = time.perf_counter() - start
    md5s = [hashlib.md5(Path(p).read_bytes()).hexdigest() for p in paths]
    with tempfile.TemporaryDirectory() as root:
        ws = SimpleNamespace(root=Path(root))
        known = dict(zip(md5s, props))
        for b in range(0, len(known), issues.CHUNK):
            part = list(known)[b:b + issues.CHUNK]
            issues.MeasurementCache(ws).put(part, np.stack([known[m] for m in part]))
        start = time.perf_counter()
        cache = issues.MeasurementCache(ws)
        props = np.stack([cache.known[m] for m in md5s])
        scores = quality.scores(props)
        flags = quality.flags(props, scores)
        cached = time.perf_counter() - start
    groups = defaultdict(list)
    for n, m in enumerate(md5s):
        groups[m].append(n)
    flags["exact_duplicates"] = np.zeros(len(paths), dtype=bool)
    flags["exact_duplicates"][[n for g in groups.values() if len(g) > 1 for n in g]] = True
    return flags, scores, cold + cached, cached


def cleanvision_flags(paths: list[str], jobs: int):
    """({kind: flags}, {kind: scores}, seconds) of PATHS by cleanvision; None if absent."""
    os.environ["TQDM_DISABLE"] = "1"  # its progress bars, even with verbose=False
    try:
        from cleanvision import Imagelab
    except ImportError:
        return None
    start = time.perf_counter()
    lab = Imagelab(filepaths=paths)
    lab.find_issues({k: {} for k in KINDS}, n_jobs=jobs, verbose=False)
    seconds = time.perf_counter() - start
    table = lab.issues.loc[paths]
    flags = {k: table[f"is_{k}_issue"].to_numpy(bool) for k in KINDS}
    scores = {k: table[f"{k}_score"].to_numpy(float) for k in quality.KINDS}
    return flags, scores, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2000, help="images per set")
    p.add_argument("--jobs", type=int, default=1, help="processes for both tools")
    args = p.parse_args()
    x = digits(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'set':<5} {'images':>6} {'tool':<14} {'s / 1,000 images':>16}")
        found = {}
        for name, rgb in (("grey", False), ("rgb", True)):
            paths = write_set(Path(tmp) / name, x, rgb)
            ours = ide_flags(paths, args.jobs)
            theirs = cleanvision_flags(paths, args.jobs)
            per = 1000 / len(paths)
            print(f"{name:<5} {len(paths):>6} {'ide (cold)':<14} {ours[2] * per:>16.3f}")
            print(f"{name:<5} {len(paths):>6} {'ide (cached)':<14} {ours[3] * per:>16.3f}")
            if theirs:
                print(f"{name:<5} {len(paths):>6} {'cleanvision':<14} {theirs[2] * per:>16.3f}")
            found[name] = ours, theirs
        if any(theirs is None for _, theirs in found.values()):
            print("\ncleanvision is not installed: no agreement to show")
            return
        print(f"\n{'set':<5} {'kind':<17} {'ide':>5} {'cleanvision':>11} {'both':>5} "
              f"{'same flag':>9} {'max |score diff|':>16}")
        for name, (ours, theirs) in found.items():
            for k in KINDS:
                a, b = ours[0][k], theirs[0][k]
                diff = (f"{np.abs(ours[1][k] - theirs[1][k]).max():.2e}"
                        if k in quality.KINDS else "-")
                print(f"{name:<5} {k:<17} {a.sum():>5} {b.sum():>11} {(a & b).sum():>5} "
                      f"{(a == b).mean():>9.2%} {diff:>16}")


if __name__ == "__main__":
    main()
