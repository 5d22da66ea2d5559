"""How the IDE behaves at 10,000 and 100,000 examples: one table, with the 10k -> 100k ratio.

    python bench/scale.py                       # 10k and 100k (about 15 minutes on 2 cores)
    python bench/scale.py --sizes 2000          # a quick check of the whole path
    python bench/scale.py --sizes 100000 --no-embed --keep /tmp/scale   # keep the workspace
    python bench/scale.py --sizes 100000 --no-embed --workspace /tmp/scale  # measure it again

For each size it builds a fresh workspace in a temporary folder (nothing here is reused, and
nothing is committed to this repository): N small synthetic PNGs in 10 classes, `dvc add`
alone on a copy of them beside `ide import`, 100 commits of 10 edits, then probabilities
from `ide predictions` (2% of the labels planted wrong) so that the app and the ranking are
measured without training. (`--workspace` measures a copy of one that `--keep` kept instead.)
Then, from a cold start, as a new user meets it after `ide predictions`, before anything
else ran on the workspace (no thumbnails, no app process, no warm-up run):

- `ide suspects --top 50`, its first run in a fresh process; then the CLI (`suspects`,
  `status`, `log`) as a user runs it again and again, start-up included (the median of 3);
- the app in the real browser: a fresh `ide serve` until it answers, its first page in a
  fresh Chromium until the focused example shows, the first key (N) that lands, then N and
  A (the median of 3 each) until the page shows them, a filter change and the History page;
  and the peak memory of `ide serve` (app and worker) meanwhile;
- the app's server time per run of the script, in Streamlit's AppTest, in a fresh process:
  first load, the rerun after a key (next, accept), a filter change, the History page;
- with the pretrained backbone: embedding throughput (images/s, on a sample) and, once
  every image is embedded (the cache is filled with synthetic vectors: what the backbone
  wrote does not change the head's cost), the retrain after a commit of 10 edits.

The table ends with the machine's load average at the start and the end of the run: on a
loaded machine the seconds are pessimistic.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's `ide`, whatever is pip-installed

import web  # noqa: E402  (bench/web.py, beside this file)

from ide.data.params import LITE0  # noqa: E402
from ide.learn import runs  # noqa: E402
from ide.repo import commits, staged, versions  # noqa: E402
from ide.repo.workspace import Workspace  # noqa: E402

ENV = web.ENV
NAME = "big"
CLASSES = [str(c) for c in range(10)]

# (key, what, target): the rows of the table, in order.
ROWS = [
    ("write", "write N PNGs (setup, not a target)", ""),
    ("dvc_add", "dvc add alone", ""),
    ("import", "ide import (CLI)", ""),
    ("import_ratio", "  ide import / dvc add", "<= 1.5"),
    ("commit", "commit 10 edits (median of 100)", ""),
    ("predictions", "ide predictions (CLI)", ""),
    ("suspects_cold", "ide suspects --top 50 (CLI, first run)", "< 1"),
    ("suspects", "ide suspects --top 50 (CLI, again)", "< 1"),
    ("status", "ide status (CLI)", "< 1"),
    ("log", "ide log, 101 commits (CLI)", "< 1"),
    ("app_first", "app: first load (server)", "< 3"),
    ("app_next", "app: rerun after N (server)", "< 0.3"),
    ("app_accept", "app: rerun after A (server)", "< 0.3"),
    ("app_filter", "app: filter change (server)", "< 0.5"),
    ("app_page", "app: next gallery page (server)", "< 0.5"),
    ("app_history", "app: History page (server)", "< 1"),
    ("serve_up", "ide serve until it answers (fresh process)", ""),
    ("web_first", "browser: first page (cold)", "< 3"),
    ("web_key1", "browser: first key (N) until shown", "< 0.5"),
    ("web_next", "browser: N until shown", "< 0.5"),
    ("web_accept", "browser: A until shown", "< 0.5"),
    ("web_filter", "browser: filter until shown", "< 0.5"),
    ("web_history", "browser: History page", "< 1"),
    ("serve_mb", "ide serve peak memory, MB (app + worker)", "< 2000"),
    ("embed_rate", "backbone embedding, images/s (sample)", ""),
    ("head_first", "head retrain, all embedded (first)", ""),
    ("head_small", "head retrain after 10 edits", "< 30"),
]


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def ide(*args, cwd=None) -> float:
    """Seconds of one `ide ARGS` as a user runs it (python start-up included)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ide.cli", *args], cwd=cwd, env=ENV, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def write_pngs(root: Path, n: int) -> None:
    """N distinct 16x16 grey PNGs, root/<class>/<n>.png, class = n % 10."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in CLASSES:
        (root / c).mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(
            root / str(i % 10) / f"{i:07d}.png")


def planted_probs(ids: list[str], labels: dict[str, str], seed: int = 0) -> np.ndarray:
    """(N, 10) probabilities: confident in the given label, except 2% confidently wrong."""
    rng = np.random.default_rng(seed)
    y = np.array([CLASSES.index(labels[i]) for i in ids])
    wrong = rng.random(len(ids)) < 0.02
    target = np.where(wrong, (y + rng.integers(1, 10, len(ids))) % 10, y)
    probs = rng.random((len(ids), 10)) * 0.1
    probs[np.arange(len(ids)), target] += rng.uniform(0.5, 1.0, len(ids))
    return probs / probs.sum(axis=1, keepdims=True)


def build(tmp: Path, n: int, out: dict) -> Workspace:
    src = tmp / "src"
    out["write"], _ = timed(write_pngs, src, n)
    plain = commits.init(tmp / "plain")
    shutil.copytree(src, plain.root / "images")
    out["dvc_add"] = timed(subprocess.run, ["dvc", "add", "-q", "images"], cwd=plain.root,
                           env=ENV, check=True)[0]
    shutil.rmtree(plain.root)
    ws = commits.init(tmp / "ws")
    out["import"] = ide("-C", str(ws.root), "import", NAME, str(src))
    out["import_ratio"] = out["import"] / out["dvc_add"]
    shutil.rmtree(src)
    rng = np.random.default_rng(1)
    ids = sorted(versions.resolve(ws, NAME).labels)
    times = []
    for k in range(100):
        edits = {ids[j]: CLASSES[rng.integers(10)] for j in rng.choice(len(ids), 10,
                                                                         replace=False)}
        staged.relabel(ws, NAME, edits)
        times.append(timed(commits.commit, ws, NAME, f"edit {k}")[0])
    out["commit"] = float(np.median(times))
    version = versions.resolve(ws, NAME)
    probs_file = tmp / "probs.npy"
    np.save(probs_file, planted_probs(sorted(version.labels), version.labels))
    out["predictions"] = ide("-C", str(ws.root), "predictions", NAME, str(probs_file))
    return ws


def cli_times(ws: Workspace, out: dict) -> None:
    for key, args in {"suspects": ["suspects", NAME, "--top", "50"],
                      "status": ["status", NAME], "log": ["log", NAME]}.items():
        out[key] = float(np.median([ide("-C", str(ws.root), *args) for _ in range(3)]))


# -- the app in AppTest (server time), run in a fresh process: `--apptest ROOT` -----------
def apptest(root: str) -> dict:
    """Seconds of each run of the app's script in AppTest; a step whose widget is not there
    (the app changed) is left out."""
    os.environ["IDE_WORKSPACE"] = root
    from streamlit.testing.v1 import AppTest

    # Imported first, as a server that has shown a page has it: the server time of a page.
    importlib.import_module("ide.app.main")
    from ide.app import SCRIPT

    at = AppTest.from_file(SCRIPT, default_timeout=300)
    at.query_params["name"] = "bench"  # a reviewer's name: edits need one
    res = {"app_first": timed(at.run)[0]}
    assert not at.exception, at.exception
    steps = {
        "app_next": lambda: at.button(key="k_next").click(),
        "app_accept": lambda: at.button(key="k_accept").click(),
        "app_filter": lambda: at.checkbox(key="f_only").check(),
        "app_page": lambda: at.number_input(key="gallery_page").increment(),
        "app_history": lambda: at.radio(key="page").set_value("History"),
    }
    for key, act in steps.items():
        try:
            act()
        except (KeyError, IndexError):
            continue
        res[key] = timed(at.run)[0]
        assert not at.exception, at.exception
    return res


def app_times(ws: Workspace, out: dict) -> None:
    proc = subprocess.run([sys.executable, __file__, "--apptest", str(ws.root)], env=ENV,
                          capture_output=True, text=True)
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
        return
    out.update(json.loads(proc.stdout.strip().splitlines()[-1]))


# -- the app in the browser ---------------------------------------------------------------
class PeakMemory(threading.Thread):
    """The peak resident memory of a process and its children, sampled every 0.1 s."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        import psutil

        proc = psutil.Process(self.pid)
        while not self.stop.is_set():
            try:
                tree = [proc, *proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.1)


def browser_times(ws: Workspace, tmp: Path, out: dict) -> None:
    from playwright.sync_api import sync_playwright

    suspects = runs.commit_metrics(ws, NAME, ws.head())["suspects"]
    proc, url, out["serve_up"] = web.serve(ws.root, tmp / "serve.log")
    memory = PeakMemory(proc.pid)
    memory.start()
    try:
        with sync_playwright() as p:
            browser, page = web.launch(p)
            # A reviewer's name (in the URL): edits need one.
            out["web_first"] = web.first_load(page, url + "&name=bench")
            out["web_key1"] = web.bind(page)
            for key, row in (("n", "web_next"), ("a", "web_accept")):
                took = []
                for _ in range(3):
                    web.idle(page)
                    took.append(web.press(page, key) or float("nan"))
                out[row] = float(np.median(took))
            web.idle(page)
            start = time.perf_counter()
            page.get_by_text("Only suspects").click()
            page.get_by_text(re.compile(rf"^{suspects} examples match")).wait_for()
            out["web_filter"] = time.perf_counter() - start
            start = time.perf_counter()
            page.get_by_text("History", exact=True).click()
            page.get_by_text("Confusion matrix", exact=True).wait_for()
            out["web_history"] = time.perf_counter() - start
            browser.close()
    finally:
        memory.stop.set()
        web.stop(proc)
        out["serve_mb"] = memory.peak / 2**20


# -- the pretrained backbone ----------------------------------------------------------------
def embed_rate(sample: int = 256) -> float:
    """Images/s of EfficientNet-Lite0 on SAMPLE images at its input side (after a warm-up)."""
    from ide.learn import backbone

    model = LITE0
    embedder = backbone.load(model, None, "cpu")
    side = backbone.side(model)
    x = np.random.default_rng(0).integers(0, 255, (sample, 3, side, side), dtype=np.uint8)
    backbone.embed(embedder, x[:16])
    return sample / timed(backbone.embed, embedder, x)[0]


def use_backbone(ws: Workspace, name: str):
    """Switch dataset NAME to the backbone (a commit of params.yaml): its version now."""
    import yaml

    params_file = ws.root / "datasets" / name / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["model"] = LITE0
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    ws.git("commit", "-qm", "Backbone", "--", str(params_file))
    return versions.resolve(ws, name)


def head_times(ws: Workspace, out: dict) -> None:
    """Switch the dataset to the backbone, fill the embedding cache with vectors for every
    image, retrain, commit 10 edits, retrain again."""
    from ide.learn.embeddings import EmbeddingCache
    from ide.repo import images

    version = use_backbone(ws, NAME)
    files = images.image_files(ws, version)
    md5s = sorted({m for m, _ in files.values()})
    label_of = {files[i][0]: CLASSES.index(lab) for i, lab in version.labels.items()}
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 1280), dtype=np.float32)
    vectors = centres[[label_of[m] for m in md5s]]  # a class centre plus noise, float32
    vectors += 3 * rng.standard_normal(vectors.shape, dtype=np.float32)
    EmbeddingCache(ws, version.params).put(md5s, vectors)
    out["head_first"] = timed(runs.retrain, ws, version)[0]
    ids = sorted(version.labels)
    pick = np.random.default_rng(2).choice(len(ids), 10, replace=False)
    staged.relabel(ws, NAME, {ids[j]: CLASSES[(CLASSES.index(version.labels[ids[j]]) + 1) % 10]
                              for j in pick})
    commits.commit(ws, NAME, "10 edits")
    out["head_small"] = timed(runs.retrain, ws, versions.resolve(ws, NAME))[0]


# -- the table ------------------------------------------------------------------------------
def table(results: dict[int, dict]) -> str:
    sizes = sorted(results)
    head = f"{'what (seconds unless said)':<44} {'target':>8}" + \
        "".join(f" {f'{n:,}':>9}" for n in sizes)
    ratio = len(sizes) > 1
    head += f" {f'x ({sizes[0]//1000}k->{sizes[-1]//1000}k)':>14}" if ratio else ""
    lines = [head, "-" * len(head)]
    for key, what, target in ROWS:
        vals = [results[n].get(key) for n in sizes]
        if all(v is None for v in vals):
            continue
        cells = "".join(f" {'-' if v is None else f'{v:.3g}' if v < 100 else f'{v:.0f}':>9}"
                        for v in vals)
        r = ""
        if ratio and None not in (vals[0], vals[-1]) and vals[0] > 0:
            r = f" {vals[-1] / vals[0]:>14.1f}"
        lines.append(f"{what:<44} {target:>8}{cells}{r}")
    return "\n".join(lines)


def workspace(tmp: Path, n: int, args, out: dict) -> Workspace:
    """The workspace of size N, cold (as after `ide predictions`): built, or a copy of
    ARGS.workspace/N; kept in ARGS.keep/N before anything measures it."""
    if args.workspace:
        ws = Workspace(shutil.copytree(Path(args.workspace) / str(n), tmp / "ws", symlinks=True))
    else:
        ws = build(tmp, n, out)
    if args.keep:
        dest = Path(args.keep) / str(n)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(ws.root, dest, symlinks=True)
    return ws


def run_size(n: int, args, rate: float | None) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix=f"ide-scale-{n}-") as tmp:
        tmp = Path(tmp)
        print(f"[{n:,}] the workspace", file=sys.stderr)
        ws = workspace(tmp, n, args, out)
        # Cold first: `ide suspects` in a fresh process, then the app in a fresh `ide serve`.
        out["suspects_cold"] = ide("-C", str(ws.root), "suspects", NAME, "--top", "50")
        if not args.no_browser:
            print(f"[{n:,}] browser", file=sys.stderr)
            try:
                browser_times(ws, tmp, out)
            except Exception as exc:  # report the rest of the table all the same
                print(f"[{n:,}] browser: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"[{n:,}] CLI and app", file=sys.stderr)
        cli_times(ws, out)
        app_times(ws, out)
        if not args.no_embed:
            print(f"[{n:,}] backbone head", file=sys.stderr)
            out["embed_rate"] = rate
            head_times(ws, out)
    print(f"[{n:,}] done: {json.dumps({k: round(v, 3) for k, v in out.items() if v})}",
          file=sys.stderr)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--no-browser", action="store_true", help="skip Chromium and ide serve")
    ap.add_argument("--no-embed", action="store_true", help="skip the backbone rows")
    ap.add_argument("--keep", help="copy each workspace, as built, to KEEP/<size>")
    ap.add_argument("--workspace", help="measure a copy of WORKSPACE/<size> (kept by --keep) "
                    "instead of building one")
    ap.add_argument("--apptest", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.apptest:
        print(json.dumps(apptest(args.apptest)))
        return
    rate = None if args.no_embed else embed_rate()
    start = web.loadavg()
    results = {n: run_size(n, args, rate) for n in args.sizes}
    print(table(results))
    print(f"load average (1, 5, 15 min): {start} at the start, {web.loadavg()} at the end")


if __name__ == "__main__":
    main()
