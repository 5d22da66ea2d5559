"""The Map page in a real browser at 10,000 and 100,000 examples: one table.

    python bench/scale.py --sizes 100000 --no-embed --no-browser --keep /tmp/scale  # once
    python bench/map.py --workspace /tmp/scale/100000    # the 100k rows (a copy is measured)
    python bench/map.py --mnist                          # the 10,000 MNIST test digits

Each workspace is made ready without training: the dataset is switched to the pretrained
backbone (a commit of params.yaml), the backbone's embedding cache is filled, and `ide
predictions` gives HEAD its out-of-fold probabilities. At 100k the embeddings are
synthetic (1280 dimensions, as efficientnet-lite0's: a class centre plus noise, as
bench/scale.py's head rows); for MNIST they are the digits' pixels reduced to 50
dimensions by PCA (real structure, real labels). Then, in Chromium through Playwright:

- the first Map page of the version: from the click on "Map" until the dots are drawn
  (the projection is made then, once per version, and kept under `.ide/atlas/`);
- the Map page again in a fresh browser page, and after a restart of `ide serve` (the
  layout read back from disk);
- hover: from moving the mouse onto a dot until its image has loaded;
- selection: a box dragged around the dots of one class, from the mouse's release until
  the gallery says how many examples match and shows its first page; the count must be
  exactly the number of dots inside the box (checked, with the ids of the first page).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's `ide`, whatever is pip-installed
sys.path.insert(0, str(ROOT / "bench"))

import mnist  # noqa: E402  (bench/mnist.py)
import scale  # noqa: E402  (bench/scale.py)
import web  # noqa: E402

from ide.app import map_canvas  # noqa: E402
from ide.learn.embeddings import EmbeddingCache  # noqa: E402
from ide.ops import atlas, transfer  # noqa: E402
from ide.repo import commits, images, versions  # noqa: E402
from ide.repo.workspace import Workspace  # noqa: E402

ROWS = [("map_first", "first Map page of a version (projection made)"),
        ("map_again", "Map page again, fresh browser page"),
        ("map_restart", "Map page after `ide serve` restarts (from disk)"),
        ("hover", "hover: a dot's image shown"),
        ("select", "box selection -> gallery of exactly its dots"),
        ("selected", "examples selected (= dots in the box)")]


def ready(ws: Workspace, name: str, vectors) -> None:
    """Switch NAME to the backbone, cache VECTORS(md5s, labels) as its embeddings, and give
    HEAD out-of-fold probabilities with `ide predictions` (no training)."""
    version = scale.use_backbone(ws, name)
    files = images.image_files(ws, version)
    ids = sorted(version.labels)
    EmbeddingCache(ws, version.params).put([files[i][0] for i in ids],
                                           vectors(ids, [version.labels[i] for i in ids]))
    probs = ws.root.parent / "probs.npy"
    np.save(probs, scale.planted_probs(ids, version.labels))
    subprocess.run([sys.executable, "-m", "ide.cli", "-C", str(ws.root), "predictions", name,
                    str(probs)], env=web.ENV, check=True, stdout=subprocess.DEVNULL)


def synthetic(ids, labels) -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 1280), dtype=np.float32)
    y = np.array([int(lab) for lab in labels])
    return centres[y] + 3 * rng.standard_normal((len(y), 1280), dtype=np.float32)


def mnist_pixels(ids, labels) -> np.ndarray:
    from sklearn.decomposition import PCA

    x = mnist.read_idx(mnist.DATA / "t10k-images-idx3-ubyte.gz").reshape(10_000, -1)
    rows = [int(Path(i).stem) for i in ids]  # ids are <digit>/<index>.png
    return PCA(50, random_state=0).fit_transform(x[rows] / 255).astype(np.float32)


def screen(ws: Workspace, name: str, box) -> tuple[list[str], np.ndarray]:
    """(ids, (N, 2) screen positions) of the dots as the canvas at BOX draws them."""
    ids, xy = atlas.layout(ws, versions.resolve(ws, name))
    return ids, map_canvas.on_screen(xy, box)


def open_map(page, url: str) -> float:
    """Seconds from the click on "Map" until its dots are drawn."""
    web.first_load(page, url + "&name=bench")
    start = time.perf_counter()
    page.get_by_text("Map", exact=True).click()
    page.locator(".map[data-drawn]").wait_for(timeout=900_000)
    return time.perf_counter() - start


def hover_and_select(page, ws: Workspace, name: str, out: dict) -> None:
    ids, at = screen(ws, name, page.locator("canvas.ink").bounding_box())
    labels = versions.resolve(ws, name).labels
    start = time.perf_counter()
    page.mouse.move(*map(float, at[0]))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", polling="raf",
                           arg=page.locator(".tip img").element_handle())
    out["hover"] = time.perf_counter() - start
    mine = np.array([labels[i] == labels[ids[0]] for i in ids])
    lo, hi = np.percentile(at[mine], 5, axis=0), np.percentile(at[mine], 95, axis=0)
    (x0, y0), (x1, y1) = np.floor(lo), np.ceil(hi)  # whole pixels: what the mouse lands on
    inside = (at[:, 0] >= x0) & (at[:, 0] <= x1) & (at[:, 1] >= y0) & (at[:, 1] <= y1)
    page.mouse.move(float(x0), float(y0))
    page.mouse.down()
    page.mouse.move(float(x1), float(y1), steps=8)
    start = time.perf_counter()
    page.mouse.up()
    page.get_by_text(f"{inside.sum()} examples match", exact=False).wait_for(timeout=300_000)
    cards = page.locator("[data-testid=stCheckbox]").filter(has_text="select")
    page.wait_for_function(f"() => document.querySelectorAll('[data-testid=stCheckbox]')"
                           f".length >= {min(50, inside.sum())}", polling="raf")
    out["select"] = time.perf_counter() - start
    out["selected"] = int(inside.sum())
    shown = set(page.locator("[data-testid=stMarkdownContainer] code").all_inner_texts())
    assert cards.count() == min(50, inside.sum())
    assert shown & set(ids) <= {ids[n] for n in np.flatnonzero(inside)}, "a dot outside"


def measure(ws: Workspace, name: str, tmp: Path) -> dict:
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        proc, url, _ = web.serve(ws.root, tmp / "serve.log")
        try:
            browser, page = web.launch(p)
            out["map_first"] = open_map(page, url)
            page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            out["map_again"] = open_map(page, url)
        finally:
            web.stop(proc)
        proc, url, _ = web.serve(ws.root, tmp / "serve2.log")
        try:
            browser, page = web.launch(p)
            out["map_restart"] = open_map(page, url)
            hover_and_select(page, ws, name, out)
        finally:
            web.stop(proc)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", help="a workspace kept by `bench/scale.py --keep` "
                    "(e.g. /tmp/scale/100000); a copy of it is measured")
    ap.add_argument("--mnist", action="store_true", help="the 10,000 MNIST test digits")
    args = ap.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ide-map-") as tmp:
        tmp = Path(tmp)
        if args.mnist:
            ws = commits.init(tmp / "mnist" / "ws")
            transfer.import_dataset(ws, "mnist", mnist.write_mnist(tmp / "mnist" / "src"))
            ready(ws, "mnist", mnist_pixels)
            results["MNIST 10k"] = measure(ws, "mnist", tmp / "mnist")
        if args.workspace:
            ws = Workspace(shutil.copytree(args.workspace, tmp / "big" / "ws", symlinks=True))
            ready(ws, scale.NAME, synthetic)
            results[f"{len(versions.resolve(ws, scale.NAME).labels):,}"] = measure(
                ws, scale.NAME, tmp / "big")
    print(f"{'seconds (the real browser)':<50}" + "".join(f"{k:>12}" for k in results))
    for key, text in ROWS:
        print(f"{text:<50}" + "".join(f"{r[key]:>12.2f}" if isinstance(r[key], float)
                                      else f"{r[key]:>12}" for r in results.values()))
    print(f"(load average {web.loadavg()}: a machine shared with other jobs)")


if __name__ == "__main__":
    main()
