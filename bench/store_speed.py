"""Speed of the versioning side: import, commit, log, diff and history.

    python bench/store_speed.py               # 60,000 PNGs to import; 100,000 examples, 100 commits
    python bench/store_speed.py --small       # 6,000 / 10,000, for a quick look

Import: `ide import` of N small PNGs beside `dvc add` alone on the same files. Commit, log,
diff, history: on a dataset of M examples (labels only: these commands never read images,
which the test suite checks) after 100 commits of 10 edits each.
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ide.data import formats as ds
from ide.ops import transfer
from ide.repo import commits, history, staged

ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def write_pngs(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for c in range(10):
        (root / str(c)).mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(
            root / str(i % 10) / f"{i:06d}.png")


def bench_import(tmp: Path, n: int) -> list[tuple[str, float]]:
    src = tmp / "src"
    write_pngs(src, n)
    plain = tmp / "plain"
    commits.init(plain)
    shutil.copytree(src, plain / "images")
    t_dvc, _ = timed(subprocess.run, ["dvc", "add", "-q", "images"], cwd=plain, env=ENV,
                     check=True)
    ws = commits.init(tmp / "ws")
    t_ide, _ = timed(transfer.import_dataset, ws, "big", src)
    return [(f"dvc add alone, {n:,} PNGs", t_dvc), (f"ide import, {n:,} PNGs", t_ide),
            ("  ratio ide import / dvc add", t_ide / t_dvc)]


def bench_commits(tmp: Path, m: int, commits: int = 100) -> list[tuple[str, float]]:
    ws = commits.init(tmp / "labels-ws")
    folder = ws.root / "datasets" / "big"
    folder.mkdir(parents=True)
    classes = [str(c) for c in range(10)]
    labels = {f"{i % 10}/{i:06d}.png": str(i % 10) for i in range(m)}
    (folder / "labels.csv").write_text(ds.format_labels(labels))
    (folder / "dataset.yaml").write_text(ds.format_meta({"name": "big", "classes": classes}))
    ws.git("add", "datasets")
    ws.git("commit", "-qm", "labels only")
    rng = np.random.default_rng(0)
    ids = sorted(labels)
    times = []
    for n in range(commits):
        edits = {ids[k]: classes[rng.integers(10)] for k in rng.choice(m, 10, replace=False)}
        staged.relabel(ws, "big", edits)
        times.append(timed(commits.commit, ws, "big", f"edit {n}")[0])
    some = ids[int(rng.integers(m))]
    return [(f"commit 10 edits, {m:,} examples (median of {commits})", float(np.median(times))),
            (f"commit 10 edits (slowest of {commits})", max(times)),
            (f"log, {commits + 1} commits", timed(history.log, ws, "big")[0]),
            ("diff HEAD~100..HEAD", timed(history.diff, ws, "big", f"HEAD~{commits}")[0]),
            ("history of one example", timed(history.history, ws, "big", some)[0])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    n, m = (6000, 10000) if args.small else (60000, 100000)
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_commits(Path(tmp), m) + bench_import(Path(tmp), n)
    print(f"{'what':<52} {'seconds':>8}")
    for what, secs in rows:
        print(f"{what:<52} {secs:>8.3f}")


if __name__ == "__main__":
    main()
