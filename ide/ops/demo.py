"""`ide demo`: a ready workspace from real handwritten digits, with visible label noise.

The 1,797 8x8 digits that scikit-learn ships are imported as dataset `digits`; then 5% of
their labels are flipped at random in a commit of its own ("Simulated annotation noise"),
so a new user can watch the IDE find them and see the model improve as they are fixed.
The workspace is a git repository of its own, by default `~/ide-demo`: never a folder of
another repository (the clone of ide a new user runs `ide demo` in, say).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ide.errors import IDEError
from ide.ops import transfer
from ide.repo import commits, staged, versions
from ide.repo.workspace import Workspace

NOISE_AUTHOR = "Noise Simulator <noise@example.org>"


def default_dir() -> Path:
    """Where `ide demo` builds its workspace unless told: the home folder, which is not
    inside a repository (the current directory often is)."""
    return Path("~/ide-demo").expanduser()


def check_place(path: Path) -> None:
    """Refuse PATH if it would be a folder of another git repository: the demo's commits
    would land in that repository (and its .gitignore may hide DVC's files)."""
    here = Path(path).resolve()
    if (here / ".git").exists():
        return
    existing = next(p for p in (here, *here.parents) if p.is_dir())
    top = Workspace(existing).git("rev-parse", "--show-toplevel", check=False).strip()
    if top:
        raise IDEError(f"{here} is inside the git repository {top}; the demo needs a "
                       f"repository of its own: run `ide demo` (it builds {default_dir()}) "
                       "or `ide demo DIR` with a DIR outside it")


def write_digits(dest: Path) -> Path:
    """scikit-learn's digits as an ImageFolder of 8x8 grayscale PNGs: DEST/<digit>/<n>.png."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255 / 16)).round().astype(np.uint8)
    for n, (img, y) in enumerate(zip(images, digits.target)):
        (dest / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(dest / str(y) / f"{n:04d}.png")
    return dest


def build(path: Path | str, *, noise: float = 0.05, seed: int = 0) -> tuple[Workspace, dict]:
    """Make the demo workspace at PATH (reused if it already holds `digits`)."""
    check_place(path)
    ws = commits.init(path)
    if "digits" in versions.datasets(ws):
        return ws, {}
    with tempfile.TemporaryDirectory() as tmp:
        transfer.import_dataset(ws, "digits", write_digits(Path(tmp) / "digits"))
    version = versions.resolve(ws, "digits")
    labels, classes = version.labels, version.classes
    rng = np.random.default_rng(seed)
    ids = sorted(labels)
    picked = rng.choice(len(ids), int(round(noise * len(ids))), replace=False)
    flips = {}
    for n in sorted(picked):
        others = [c for c in classes if c != labels[ids[n]]]
        flips[ids[n]] = others[rng.integers(len(others))]
    staged.relabel(ws, "digits", flips)
    commits.commit(ws, "digits", f"Simulated annotation noise: {len(flips)} labels flipped at "
                 "random", author=NOISE_AUTHOR)
    return ws, flips
