"""What a million examples does to the IDE: the numbers behind docs/SCALE.md.

    python bench/million.py                   # 1,000,000 labels; DVC at 20k and 100k files
    python bench/million.py --labels 200000 --files 5000 20000    # a quick look

Synthetic data in temporary folders; nothing is committed to this repository.

1. labels.csv of N lines in git, labels only (no images): `ide commit` of 10 edits, `git
   diff`, `git blame` (whole file and one line), `ide log`, `ide history`, and a merge of two
   branches that edited different examples (ide's merge driver).
2. The read side of the app at N, in process: resolving a version (first time: parse; then
   cached), loading the ranking, and the per-run work of the Review page (working labels,
   filters, confusion pairs, a page of rows).
3. DVC with many small files: `dvc add` and `dvc status` at the FILES sizes and the app's
   `image_files` on the result, to extrapolate (a million files is too slow to make here).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ide.data import formats as ds  # noqa: E402
from ide.learn import runs  # noqa: E402
from ide.ops import views  # noqa: E402
from ide.repo import commits, history, images, staged, versions  # noqa: E402
from ide.repo.workspace import Workspace  # noqa: E402

ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(ROOT)}
CLASSES = [str(c) for c in range(10)]


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def sh(cwd, *cmd) -> float:
    return timed(subprocess.run, list(cmd), cwd=cwd, env=ENV, check=True,
                 stdout=subprocess.DEVNULL)[0]


def labels_workspace(tmp: Path, n: int) -> Workspace:
    ws = commits.init(tmp / "labels-ws")
    folder = ws.root / "datasets" / "big"
    folder.mkdir(parents=True)
    labels = {f"{i % 10}/{i:07d}.png": str(i % 10) for i in range(n)}
    (folder / "labels.csv").write_text(ds.format_labels(labels))
    (folder / "dataset.yaml").write_text(ds.format_meta({"name": "big", "classes": CLASSES}))
    ws.git("add", "datasets")
    ws.git("commit", "-qm", "labels only")
    return ws


def edit(ws: Workspace, ids, rng, k: int = 10) -> dict:
    return {ids[j]: CLASSES[rng.integers(10)] for j in rng.choice(len(ids), k, replace=False)}


def git_rows(tmp: Path, n: int) -> list[tuple[str, float]]:
    ws = labels_workspace(tmp, n)
    rows = [("labels.csv size, MB", (ws.root / "datasets/big/labels.csv").stat().st_size / 1e6)]
    rng = np.random.default_rng(0)
    ids = sorted(versions.resolve(ws, "big").labels)
    times = []
    for k in range(10):
        staged.relabel(ws, "big", edit(ws, ids, rng))
        times.append(timed(commits.commit, ws, "big", f"edit {k}")[0])
    versions._versions.items.clear()  # a fresh process: `ide commit` parses HEAD's labels once
    versions._parsed.items.clear()
    staged.relabel(ws, "big", edit(ws, ids, rng))
    rows += [("ide commit of 10 edits, in a running app (median of 10)", float(np.median(times))),
             ("ide commit of 10 edits, fresh process (labels parsed)",
              timed(commits.commit, ws, "big", "cold")[0]),
             ("git diff HEAD~1 (one commit of 10 edits)",
              sh(ws.root, "git", "diff", "HEAD~1", "--", "datasets/big/labels.csv")),
             ("git diff HEAD~10", sh(ws.root, "git", "diff", "HEAD~10", "--",
                                     "datasets/big/labels.csv")),
             ("git blame, whole file (12 commits)",
              sh(ws.root, "git", "blame", "datasets/big/labels.csv")),
             ("git blame -L of one line",
              sh(ws.root, "git", "blame", "-L", f"{n // 2},+1", "datasets/big/labels.csv")),
             ("ide log (12 commits; changes cached)", timed(history.log, ws, "big")[0]),
             ("ide history of one example", timed(history.history, ws, "big", ids[n // 2])[0])]
    # A merge: two branches, 10 edits each, different examples, ide's merge driver.
    base = ws.head()
    ws.git("checkout", "-qb", "theirs")
    staged.relabel(ws, "big", edit(ws, ids[: n // 2], rng))
    commits.commit(ws, "big", "theirs")
    ws.git("checkout", "-q", "-")
    staged.relabel(ws, "big", edit(ws, ids[n // 2:], rng))
    commits.commit(ws, "big", "ours")
    rows.append(("git merge (ide's driver, 10 + 10 edits)",
                 sh(ws.root, "git", "merge", "-q", "--no-edit", "theirs")))
    assert ws.head() != base
    sh(ws.root, "git", "gc", "-q")
    rows.append(("repository after gc, MB", sum(
        f.stat().st_size for f in (ws.root / ".git").rglob("*") if f.is_file()) / 1e6))
    return rows, ws


def app_rows(tmp: Path, ws: Workspace, n: int) -> list[tuple[str, float]]:
    versions._versions.items.clear()
    versions._parsed.items.clear()
    t_first, version = timed(versions.resolve, ws, "big")
    t_again, _ = timed(versions.resolve, ws, "big")
    ids = sorted(version.labels)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10) * 0.3, n)
    np.save(tmp / "p.npy", probs)
    t_pred, _ = timed(runs.load_predictions, ws, version, tmp / "p.npy")
    t_rank, r = timed(runs.ranking, ws, version)
    staged.relabel(ws, "big", {ids[0]: "1" if version.labels[ids[0]] != "1" else "2"})
    timed(views.working_labels, ws, "big", r)  # builds the ranking's id index, once
    t_work, now = timed(views.working_labels, ws, "big", r)
    t_shown, shown = timed(views.shown, r, given=["3"], only_suspects=False)
    t_pairs, _ = timed(views.confusion_pairs, r)
    t_page, rows = timed(lambda: [(row, now[row["id"]]) for row in r.rows(shown[:50])])
    t_log, _ = timed(views.log, ws, "big")
    t_staged, _ = timed(staged.read, ws, "big")
    return [("resolve HEAD, first time (read + parse labels.csv)", t_first),
            ("resolve HEAD again (a known commit)", t_again),
            ("ide predictions (store N probabilities)", t_pred),
            ("load the ranking (once per viewed commit)", t_rank),
            ("per run: working labels", t_work),
            ("per run: filter (a given class)", t_shown),
            ("per run: confusion pairs", t_pairs),
            ("per run: a page of 50 rows", t_page),
            ("per run: log with metrics", t_log),
            ("per run: staged edits", t_staged)]


def dvc_rows(tmp: Path, sizes: list[int]) -> list[tuple[str, float]]:
    from PIL import Image

    rows = []
    for m in sizes:
        ws = commits.init(tmp / f"dvc-{m}")
        src = ws.root / "datasets" / "big" / "images"
        rng = np.random.default_rng(0)
        for c in CLASSES:
            (src / c).mkdir(parents=True)
        for i in range(m):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                src / str(i % 10) / f"{i:07d}.png")
        rows.append((f"dvc add, {m:,} files", sh(ws.root, "dvc", "add", "-q",
                                                 "datasets/big/images")))
        rows.append((f"dvc status, {m:,} files, nothing changed", sh(ws.root, "dvc", "status",
                                                                    "-q")))
        text = (ws.root / "datasets/big/images.dvc").read_text()
        version = versions.Version(name="big", folder="datasets/big", commit="0" * 40,
                                   labels_blob="", images_hash=ds.images_hash(text),
                                   classes=(), checked=frozenset(), params_text=None,
                                   labels={})
        ws.cache_dir()
        rows.append((f"image_files (the app's map of images), {m:,} files",
                     timed(images.image_files, ws, version)[0]))
        shutil.rmtree(ws.root)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, nargs="+", default=[20_000, 100_000])
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ide-million-") as tmp:
        tmp = Path(tmp)
        print(f"{args.labels:,} labels in git", file=sys.stderr)
        rows, ws = git_rows(tmp, args.labels)
        print("the app's read side", file=sys.stderr)
        rows += app_rows(tmp, ws, args.labels)
        print("DVC", file=sys.stderr)
        rows += dvc_rows(tmp, args.files)
    print(f"{'what (seconds unless said)':<60} {'value':>9}")
    for what, value in rows:
        print(f"{what:<60} {value:>9.3f}")


if __name__ == "__main__":
    main()
