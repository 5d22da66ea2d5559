"""Every model kind ranks planted errors first; a backbone embeds each image once; a
predictions file is checked before it replaces a version's results."""

import numpy as np
import pytest
from PIL import Image

from ide.data.params import LITE0
from ide.learn import backbone, ranking, runs, train
from ide.ops import transfer
from ide.repo import commits, staged, state, versions

from conftest import FLIPPED
from test_cli import assert_one_line_error


def write_photos(root, per_class=16, seed=0):
    """Colour images of 64 px: a red disc, a blue square, a green bar on noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    for c in ("disc", "square", "bar"):
        (root / c).mkdir(parents=True)
        for n in range(per_class):
            img = rng.integers(0, 60, (64, 64, 3))
            cy, cx = rng.integers(16, 48, 2)
            if c == "disc":
                img[(yy - cy) ** 2 + (xx - cx) ** 2 < 100] = (220, 40, 40)
            elif c == "square":
                img[cy - 8:cy + 8, cx - 8:cx + 8] = (40, 40, 220)
            else:
                img[cy - 3:cy + 3, 4:-4] = (40, 200, 40)
            Image.fromarray(img.astype(np.uint8)).save(root / c / f"{n:03d}.png")
    return root


@pytest.fixture(scope="module")
def photos_template(tmp_path_factory):
    base = tmp_path_factory.mktemp("photos")
    ws = commits.init(base / "ws")
    transfer.import_dataset(ws, "photos", write_photos(base / "src"), model=LITE0)
    return ws


@pytest.fixture
def photos(photos_template, tmp_path):
    import shutil

    from ide.repo.workspace import Workspace
    return Workspace(shutil.copytree(photos_template.root, tmp_path / "ws", symlinks=True))


def test_backbone_ranks_planted_errors_first_and_embeds_each_image_once(photos, monkeypatch):
    version = versions.resolve(photos, "photos")
    assert version.params.model == LITE0
    embedded = []
    real_embed = backbone.embed
    monkeypatch.setattr(backbone, "embed",
                        lambda f, x, **kw: embedded.append(len(x)) or real_embed(f, x, **kw))
    flips = {"disc/003.png": "bar", "square/004.png": "disc", "bar/005.png": "square"}
    staged.relabel(photos, "photos", flips)
    commits.commit(photos, "photos", "Noise")
    runs.retrain(photos, versions.resolve(photos, "photos"))
    assert sum(embedded) == 48
    top = ranking.suspects(photos, versions.resolve(photos, "photos"), top=3)
    assert {r["id"] for r in top} == set(flips)
    # A new version of the labels, and a full retrain: no image is embedded again.
    staged.relabel(photos, "photos", {"disc/003.png": "disc"})
    commits.commit(photos, "photos", "Fix one")
    runs.retrain(photos, versions.resolve(photos, "photos"), full=True)
    assert sum(embedded) == 48


def test_the_cnn_ranks_planted_errors_first(trained_template):
    ws, _ = trained_template
    top = ranking.suspects(ws, versions.resolve(ws, "toy"), top=3)
    assert {r["id"] for r in top} == set(FLIPPED)


def test_model_choice_is_checked(toy, tmp_path, run):
    from conftest import write_imagefolder

    src = write_imagefolder(tmp_path / "src", per_class=3)
    assert_one_line_error(*run(toy, "import", "x", str(src), "--model", "resnet"),
                          "unknown model 'resnet'")
    assert not (toy.root / "datasets" / "x").exists()
    params = toy.root / "datasets/toy/params.yaml"
    params.write_text(params.read_text().replace("model: cnn", "model: timm:resnet18"))
    toy.git("commit", "-qam", "try a timm model")
    assert_one_line_error(*run(toy, "retrain", "toy"), "needs `weights: FILE`")
    params.write_text(params.read_text() + "weights: /nonexistent.pth\n")
    toy.git("commit", "-qam", "weights")
    assert_one_line_error(*run(toy, "retrain", "toy"), "weights file not found")


# -- bring your own predictions -------------------------------------------------------------
def _probs(ws, name="toy"):
    """Confident, correct-looking probabilities, except for the planted errors."""
    version = versions.resolve(ws, name)
    ids, classes = sorted(version.labels), list(version.classes)
    probs = np.full((len(ids), len(classes)), 0.01)
    for n, i in enumerate(ids):
        truth = i.split("/")[0]  # the toy's folders are the true classes
        probs[n, classes.index(truth)] = 1 - 0.01 * (len(classes) - 1)
    return ids, classes, probs


def _write_csv(path, ids, classes, probs, *, drop_class=None, extra_id=None):
    cols = [c for c in classes if c != drop_class]
    lines = [",".join(["id", *cols])]
    for i, row in zip(ids, probs):
        lines.append(",".join([i, *(f"{p:.6f}" for c, p in zip(classes, row) if c != drop_class)]))
    if extra_id:
        lines.append(",".join([extra_id, *(["0.5"] * len(cols))]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_predictions_from_a_file_drive_the_ranking(trained_ws, tmp_path, run):
    ids, classes, probs = _probs(trained_ws)
    code, out, err = run(trained_ws, "predictions", "toy",
                         str(_write_csv(tmp_path / "p.csv", ids, classes, probs)))
    assert code == 0, err
    top = ranking.suspects(trained_ws, versions.resolve(trained_ws, "toy"), top=3)
    assert {r["id"] for r in top} == set(FLIPPED)
    np.save(tmp_path / "p.npy", probs[::-1].copy())  # rows out of order: other suspects
    assert run(trained_ws, "predictions", "toy", str(tmp_path / "p.npy"))[0] == 0
    top = ranking.suspects(trained_ws, versions.resolve(trained_ws, "toy"), top=3)
    assert {r["id"] for r in top} != set(FLIPPED)
    # Export reads back: the round trip keeps every probability.
    assert run(trained_ws, "export", "toy", str(tmp_path / "out.csv"), "--format",
               "predictions")[0] == 0
    assert run(trained_ws, "predictions", "toy", str(tmp_path / "out.csv"))[0] == 0
    r = ranking.load(trained_ws, versions.resolve(trained_ws, "toy"))
    assert np.allclose(r.probs, probs[::-1] / probs.sum(1, keepdims=True), atol=1e-5)


@pytest.mark.parametrize("bad, match", [
    ("unknown_id", "unknown example id 'nope.png'"),
    ("missing_class", "missing column(s) v"),
    ("short", "rows, expected 90"),
    ("nan", "NaN"),
    ("npy_shape", "shape (90, 2), expected (90, 3)"),
    ("not_probs", "summing to 1"),
    ("huge_field", "field larger than field limit (65536)"),
])
def test_a_bad_predictions_file_is_refused_and_changes_nothing(trained_ws, tmp_path, run,
                                                               bad, match):
    ids, classes, probs = _probs(trained_ws)
    path = tmp_path / "p.csv"
    if bad == "unknown_id":
        _write_csv(path, ids, classes, probs, extra_id="nope.png")
    elif bad == "missing_class":
        _write_csv(path, ids, classes, probs, drop_class="v")
    elif bad == "short":
        _write_csv(path, ids[:-1], classes, probs[:-1])
    elif bad == "nan":
        probs[3, 0] = np.nan
        _write_csv(path, ids, classes, probs)
    elif bad == "huge_field":  # over the limit, below csv's own 131,072
        path.write_text(f"id,{','.join(classes)}\n{'x' * 70_000},1,0,0\n")
    elif bad == "npy_shape":
        path = tmp_path / "p.npy"
        np.save(path, probs[:, :2])
    else:
        _write_csv(path, ids, classes, probs * 2)
    before = ranking.load(trained_ws, versions.resolve(trained_ws, "toy")).probs.copy()
    index = state.read_json(state.path(trained_ws, state.RUNS, "toy", "index.json"), {})
    assert_one_line_error(*run(trained_ws, "predictions", "toy", str(path)), match)
    assert np.array_equal(ranking.load(trained_ws, versions.resolve(trained_ws, "toy")).probs,
                          before)
    assert state.read_json(state.path(trained_ws, state.RUNS, "toy", "index.json"), {}) == index


def test_a_backbone_can_be_fine_tuned_whole(photos, monkeypatch):
    """`finetune: 1` trains the backbone itself per fold (meant for a GPU); here one short
    epoch on the CPU shows the path works end to end and stays out of fold: each fold's
    network is trained on images it then never judges, and every image is judged once."""
    params = photos.root / "datasets/photos/params.yaml"
    # A backbone's params.yaml has no CNN fields: fine-tuning reads them, so they are added.
    params.write_text(params.read_text().replace("finetune: 0",
                                                 "finetune: 1\nepochs: 1\nmin_steps: 0"))
    photos.git("commit", "-qam", "fine-tune the backbone")
    trained_on, judged = [], []
    real_fit, real_predict = train.fit, train.predict

    def fit(x, *args, **kwargs):
        trained_on.append({row.tobytes() for row in x})
        return real_fit(x, *args, **kwargs)

    def predict(states, x, *args, **kwargs):
        judged.append({row.tobytes() for row in x})
        return real_predict(states, x, *args, **kwargs)
    monkeypatch.setattr(train, "fit", fit)  # the whole network, not the head on embeddings
    monkeypatch.setattr(train, "predict", predict)
    version = versions.resolve(photos, "photos")
    res = runs.retrain(photos, version, device="cpu")
    assert res["metrics"]["examples"] == 48
    folds = version.params.folds
    assert len(trained_on) == folds and len(judged) >= folds
    for held in judged[:folds]:  # folds train two at a time: pair them by content
        assert held and any(not seen & held and len(seen | held) == 48 for seen in trained_on)
    everything = set().union(*trained_on)
    assert set().union(*judged[:folds]) == everything and \
        sum(map(len, judged[:folds])) == len(everything) == 48
    r = ranking.load(photos, version)
    assert r.probs.shape == (48, 3) and np.allclose(r.probs.sum(1), 1, atol=1e-4)
