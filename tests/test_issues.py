"""Image issues beyond labels (`ide issues`, the app's Show filter): real MNIST digits with
a planted dark, light, blurry, tiny, wide, flat and duplicated image, each the worst of its
kind; measured once per image content."""

import gzip
import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from ide.learn import quality, runs
from ide.ops import add, issues, transfer
from ide.repo import commits, versions
from ide.repo.workspace import Workspace

from conftest import MNIST

DIGITS = 100
# The planted images, by the kind each must top: file name, and its class folder.
PLANTED = {"dark": "7/dark.png", "light": "2/light.png", "blurry": "1/blurry.png",
           "odd_size": "0/tiny.png", "odd_aspect_ratio": "4/wide.png",
           "low_information": "9/flat.png"}


def planted_images(x: np.ndarray) -> dict[str, np.ndarray]:
    """{id: pixels} of the planted images, made from the digits X."""
    img = Image.fromarray
    return {
        PLANTED["dark"]: (x[0] * 0.2).astype(np.uint8),
        PLANTED["light"]: (255 - x[1] * 0.03).astype(np.uint8),
        # Blurred, then stretched back to full contrast (else it is dark too).
        PLANTED["blurry"]: np.asarray(ImageOps.autocontrast(
            img(x[2]).filter(ImageFilter.GaussianBlur(3)))),
        PLANTED["odd_size"]: np.asarray(img(x[3]).resize((8, 8))),
        PLANTED["odd_aspect_ratio"]: np.asarray(img(x[4]).resize((56, 14))),
        PLANTED["low_information"]: np.full((28, 28), 128, np.uint8),
    }


@pytest.fixture(scope="module")
def digits_template(tmp_path_factory):
    """A workspace with `digits`: 100 real MNIST digits (ImageFolder), the planted images,
    and one digit copied into a second class (an exact duplicate); out-of-sample
    probabilities brought from a file (no training), so the app has a ranking."""
    if not MNIST.exists():
        pytest.skip("../shared/data/mnist-test is not here")
    base = tmp_path_factory.mktemp("issues")
    raw = gzip.open(MNIST / "t10k-images-idx3-ubyte.gz").read()
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:DIGITS]
    y = gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz").read()[8:8 + DIGITS]
    src = base / "src"
    files = {f"{d}/{n:03d}.png": img for n, (img, d) in enumerate(zip(x, y))}
    files |= planted_images(x)
    for i, img in files.items():
        (src / i).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(src / i)
    shutil.copy(src / "7/000.png", src / "3/copy.png")  # the first digit is a 7
    ws = commits.init(base / "ws")
    transfer.import_dataset(ws, "digits", src)
    version = versions.resolve(ws, "digits")
    ids, classes = sorted(version.labels), list(version.classes)
    probs = np.full((len(ids), len(classes)), 0.1 / (len(classes) - 1), np.float32)
    probs[np.arange(len(ids)), [classes.index(version.labels[i]) for i in ids]] = 0.9
    np.save(base / "probs.npy", probs)
    runs.load_predictions(ws, version, base / "probs.npy")
    return ws.root


@pytest.fixture
def digits(digits_template, tmp_path):
    return Workspace(shutil.copytree(digits_template, tmp_path / "ws", symlinks=True))


@pytest.fixture
def decoded(monkeypatch):
    """A list that gets the path of every image measured from now on."""
    seen, real = [], issues.measure_file

    def counting(path):
        seen.append(path)
        return real(path)
    monkeypatch.setattr(issues, "measure_file", counting)
    return seen


def test_each_planted_image_tops_its_kind(digits, run):
    code, out, err = run(digits, "issues", "digits", "--json", "--top", "0")
    assert code == 0, err
    rows = json.loads(out)
    for kind, planted in PLANTED.items():
        mine = [r for r in rows if r["kind"] == kind]
        assert mine[0]["id"] == planted, (kind, mine[:3])
        assert mine[0]["label"] == planted.split("/")[0]
        scores = [r["score"] for r in mine]
        assert scores == sorted(scores) and all(0 <= s < 1 for s in scores)
    assert [r["id"] for r in rows if r["kind"] == "exact_duplicates"] == ["3/copy.png",
                                                                         "7/000.png"]
    # Only the planted images are flagged for these kinds (odd size is relative: the tiny
    # one among 28 x 28 digits). Every MNIST digit is low-information by cleanvision's
    # definition (under 3 bits: mostly black), so that kind is a ranking here.
    for kind in ("dark", "light", "blurry", "odd_size", "odd_aspect_ratio"):
        assert [r["id"] for r in rows if r["kind"] == kind] == [PLANTED[kind]], kind


def test_the_table_and_one_kind(digits, run):
    code, out, _ = run(digits, "issues", "digits", "--kind", "blurry", "--top", "1")
    assert code == 0
    assert out.split("\n")[0].split() == ["id", "kind", "score", "label"]
    assert out.split("\n")[1].split()[:2] == [PLANTED["blurry"], "blurry"]
    assert len(out.strip().split("\n")) == 2
    code, out, _ = run(digits, "issues", "digits", "--top", "2")
    kinds = [line.split()[1] for line in out.strip().split("\n")[1:]]
    assert kinds == ["dark", "light", "low_information", "low_information", "blurry",
                     "odd_aspect_ratio", "odd_size", "exact_duplicates", "exact_duplicates"]


def test_measured_once_per_image_content(digits, decoded, run, tmp_path):
    first = issues.issues(digits, "digits", top=0)
    assert len(decoded) == DIGITS + len(PLANTED)  # the copy has its original's content
    decoded.clear()
    assert issues.issues(digits, "digits", top=0) == first
    assert decoded == []
    # A grown dataset: only the new image is decoded, and its scores join the others.
    (tmp_path / "new" / "8").mkdir(parents=True)
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "new" / "8" / "black.png")
    add.add(digits, "digits", tmp_path / "new")
    rows = issues.issues(digits, "digits", kind="dark")
    assert len(decoded) == 1 and rows[0]["id"] == "8/black.png" and rows[0]["score"] == 0
    code, out, _ = run(digits, "issues", "digits", "--kind", "dark", "--rev", "HEAD~1")
    assert code == 0 and "black" not in out and PLANTED["dark"] in out and len(decoded) == 1


@pytest.mark.parametrize("argv, match", [
    (["issues", "nosuch"], "unknown dataset 'nosuch'"),
    (["issues", "digits", "--kind", "grainy"], "unknown issue kind 'grainy': choose from dark"),
    (["issues", "digits", "--top", "-1"], "--top must be 0 (all) or more"),
    (["issues", "digits", "--rev", "nosuch"], "nosuch"),
])
def test_bad_input_is_one_line(digits, run, decoded, argv, match):
    code, out, err = run(digits, *argv)
    assert code == 1 and out == ""
    assert err.startswith("ide: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and match in err
    assert decoded == []  # refused before any image is read


def test_scores_follow_cleanvision_on_known_images():
    """Hand-made images whose scores are known from the published definitions."""
    flat = np.full((10, 10), 128, np.uint8)
    black, white = np.zeros((10, 10), np.uint8), np.full((10, 10), 255, np.uint8)
    halves = np.zeros((10, 40), np.uint8)
    halves[:, 20:] = 255
    props = np.stack([quality.measure(a) for a in (flat, black, white, halves)])
    s = quality.scores(props)
    assert s["dark"].tolist() == [128 / 255, 0, 1, 1]
    assert s["light"].tolist() == pytest.approx([1 - 128 / 255, 1, 0, 1])
    assert s["low_information"].tolist() == [0, 0, 0, 0.1]  # 1 bit: two grey levels
    assert s["odd_aspect_ratio"].tolist() == [1, 1, 1, 0.25]
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 255  # pure green: brightness sqrt(0.691); entropy of 3 histograms side by side
    m = dict(zip(quality.PROPERTIES, quality.measure(rgb)))
    assert m["bright_p99"] == pytest.approx(np.sqrt(0.691)) and m["entropy"] == pytest.approx(
        np.log2(3))
    # Odd size is relative: the fences are 3 IQRs beyond the quartiles of sqrt(w h).
    sizes = np.array([[s, s] for s in [20, 22, 24, 26, 28, 30, 200]], dtype=float)
    props = np.zeros((len(sizes), len(quality.PROPERTIES)))
    props[:, :2] = sizes
    assert quality.flags(props)["odd_size"].tolist() == [False] * 6 + [True]


def test_agrees_with_cleanvision_where_it_is_installed(tmp_path):
    """The measurements equal cleanvision's own on random grey and RGB images."""
    cv = pytest.importorskip("cleanvision.issue_managers.image_property")
    rng = np.random.default_rng(0)
    for n in range(6):
        shape = (int(rng.integers(5, 200)), int(rng.integers(5, 200))) + ((3,) if n % 2 else ())
        x = (rng.random(shape) ** 3 * 255).astype(np.uint8)
        im = Image.fromarray(x)
        m = dict(zip(quality.PROPERTIES, quality.measure(x)))
        blur = cv.BlurrinessProperty().calculate(im)
        assert [m["bright_p99"], m["bright_p5"]] == pytest.approx(
            cv.calc_percentile_brightness(im, [99, 5]))
        assert m["entropy"] == pytest.approx(cv.calc_entropy(im))
        assert m["blur"] == pytest.approx(blur["blurriness"])
        assert m["grey_std"] == pytest.approx(blur["blurriness_grayscale_std"])


def test_the_apps_show_filter_lists_the_kinds_and_shows_the_flagged(digits, app):
    at = app(digits)
    assert set(quality.KINDS) <= set(at.selectbox(key="f_special").options)
    for kind in ("dark", "odd_aspect_ratio"):
        at.selectbox(key="f_special").set_value(kind).run()
        assert not at.exception, at.exception
        assert any(c.value.startswith("1 examples match") for c in at.caption)
        focus = next(m.value for m in at.markdown if " / " in m.value and "given" in m.value)
        assert f"`{PLANTED[kind]}`" in focus and focus.startswith("**1 / 1**")


def test_the_kinds_complete_in_bash(run, tmp_path):
    code, script, _ = run(None, "completion", "bash")
    (tmp_path / "ide.bash").write_text(script)
    out = subprocess.run(
        ["bash", "-c", f'source {tmp_path / "ide.bash"}; COMP_WORDS=(ide issues d --kind o); '
         "COMP_CWORD=4; _shtab_ide; printf '%s\\n' \"${COMPREPLY[@]}\""],
        capture_output=True, text=True, check=True).stdout
    assert set(out.split()) == {"odd_size", "odd_aspect_ratio"}
