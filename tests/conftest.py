"""Fixtures: real temporary git + DVC workspaces, built in one call, with generated images."""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ide.cli import main as cli
from ide.ops import transfer
from ide.repo import commits, staged, versions
from ide.repo.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]

# Tests run as a new user would: a fresh HOME that holds only a git name and email (no
# pull.rebase, no global excludes or hooks, no DVC settings), whatever the machine has.
HOME = Path(tempfile.mkdtemp(prefix="ide-tests-home-"))
(HOME / ".gitconfig").write_text("[user]\n\tname = ide tests\n\temail = tests@localhost\n")
os.environ["HOME"] = str(HOME)
for var in ("XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM"):
    os.environ.pop(var, None)
MNIST = ROOT.parent / "shared" / "data" / "mnist-test"


def pattern(kind: str, rng, size: int = 16) -> np.ndarray:
    """A noisy grey image of a simple shape; each kind is easy to tell apart."""
    img = rng.integers(0, 40, (size, size)).astype(np.uint8)
    pos = rng.integers(3, size - 3)
    if kind == "h":
        img[pos - 1:pos + 2, 2:-2] = 255
    elif kind == "v":
        img[2:-2, pos - 1:pos + 2] = 255
    else:
        for i in range(2, size - 2):
            img[i, max(i - 1, 0):i + 2] = 255
    return img


def write_imagefolder(root: Path, per_class: int = 30, classes=("d", "h", "v"), seed=0,
                      rgb_jpeg_every: int = 0) -> Path:
    """SRC/<class>/<n>.png (and, every Nth, an RGB JPEG) of generated patterns."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            img = pattern(c, rng)
            if rgb_jpeg_every and n % rgb_jpeg_every == 0:
                Image.fromarray(np.stack([img] * 3, -1)).save(root / c / f"{n:03d}.jpg",
                                                               quality=95)
            else:
                Image.fromarray(img).save(root / c / f"{n:03d}.png")
    return root


@pytest.fixture
def ws(tmp_path):
    """An empty workspace (git + DVC) in a temporary folder."""
    return commits.init(tmp_path / "ws")


@pytest.fixture(scope="session")
def toy_template(tmp_path_factory):
    base = tmp_path_factory.mktemp("template")
    ws = commits.init(base / "ws")
    src = write_imagefolder(base / "src", rgb_jpeg_every=10)
    # The CNN, given: these tests are about what happens around a training, and on these
    # simple patterns `auto` (the default) would pick the backbone's head; `auto` has tests
    # of its own (test_choice.py) and is what the README test and user-style imports get.
    transfer.import_dataset(ws, "toy", src, author="Importer <imp@example.org>", model="cnn")
    return ws.root


@pytest.fixture
def toy(toy_template, tmp_path):
    """A workspace with dataset `toy` imported: 3 classes x 30 generated images (a copy of
    one made per session, since importing costs a `dvc add`)."""
    shutil.copytree(toy_template, tmp_path / "ws", symlinks=True)
    return Workspace(tmp_path / "ws")


FLIPPED = {"h/003.png": "v", "v/004.png": "d", "d/005.png": "h"}


@pytest.fixture(scope="session")
def trained_template(toy_template, tmp_path_factory):
    """The toy dataset with three planted label errors (FLIPPED) committed and trained."""
    from ide.learn import runs

    dest = tmp_path_factory.mktemp("trained") / "ws"
    shutil.copytree(toy_template, dest, symlinks=True)
    ws = Workspace(dest)
    staged.relabel(ws, "toy", FLIPPED)
    commits.commit(ws, "toy", "Simulated annotation noise")
    return ws, runs.retrain(ws, versions.resolve(ws, "toy"))


@pytest.fixture
def trained_ws(trained_template, tmp_path):
    """A private copy of the trained workspace, for tests that change it."""
    return Workspace(shutil.copytree(trained_template[0].root, tmp_path / "ws", symlinks=True))


@pytest.fixture
def app(monkeypatch):
    def _open(ws, password=None, name="Ada Lovelace", email=None, timeout=60):
        """A browser session of the app (AppTest) on WS; NAME (and EMAIL) as a reviewer's
        URL remembers them; TIMEOUT: seconds a run may take."""
        from streamlit.testing.v1 import AppTest

        from ide.app import SCRIPT

        monkeypatch.setenv("IDE_WORKSPACE", str(ws.root))
        if password:
            monkeypatch.setenv("IDE_PASSWORD", password)
        at = AppTest.from_file(SCRIPT, default_timeout=timeout)
        at.query_params.update({k: v for k, v in (("name", name), ("email", email)) if v})
        at.run()
        assert not at.exception, at.exception
        return at
    return _open


@pytest.fixture
def run(capsys):
    """Run the CLI in-process: run(ws, "log", "toy") -> (exit code, stdout, stderr)."""
    def _run(ws, *argv):
        code = cli.main(["-C", str(ws.root), *argv] if ws is not None else list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return _run


def git(ws, *args) -> str:
    return ws.git(*args)
