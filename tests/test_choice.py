"""`model: auto`: the model is chosen by measurement on the dataset's own labels, once, and
the comparison costs no fold twice."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ide.data.params import AUTO, CNN, LITE0, Params
from ide.learn import choice, runs, train
from ide.ops import transfer
from ide.repo import commits, staged, versions

from conftest import FLIPPED

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-test"


@pytest.fixture
def toy(toy):
    """The toy dataset with `model: auto`, the default of `ide import`."""
    params = toy.root / "datasets/toy/params.yaml"
    params.write_text(params.read_text().replace("model: cnn", "model: auto"))
    toy.git("commit", "-qam", "model: auto")
    return toy


def _retrain(ws, name="toy"):
    return runs.retrain(ws, versions.resolve(ws, name))


def test_the_first_training_compares_and_records_both_losses(toy, run):
    staged.relabel(toy, "toy", FLIPPED)
    commits.commit(toy, "toy", "noise")
    code, out, err = run(toy, "retrain", "toy")
    assert code == 0, err
    m = _retrain(toy)["metrics"]
    assert set(m["compared"]) == {CNN, LITE0}
    assert m["model"] == min(m["compared"], key=m["compared"].get)  # the lower loss won
    assert f"model {m['model']} (chosen: log loss" in out
    code, out, _ = run(toy, "log", "toy")
    assert f"model {m['model']} (chosen: log loss" in out.splitlines()[0]
    # The planted errors still come first, whichever model won.
    code, out, _ = run(toy, "suspects", "toy", "--top", "3")
    assert {line.split()[0] for line in out.splitlines()[1:4]} == set(FLIPPED)


def test_a_later_version_keeps_the_choice_without_comparing(toy, monkeypatch):
    first = _retrain(toy)["metrics"]
    staged.relabel(toy, "toy", FLIPPED)
    commits.commit(toy, "toy", "noise")  # 3 of 90 labels: a warm start

    def no(*a, **k):
        raise AssertionError("compared again")
    monkeypatch.setattr(choice, "compare", no)
    later = _retrain(toy)
    assert later["warm_start"] and later["metrics"]["model"] == first["model"]
    assert later["metrics"]["compared"] == first["compared"]
    d = [i for i, lab in sorted(versions.resolve(toy, "toy").labels.items()) if lab == "d"]
    staged.relabel(toy, "toy", {i: "h" for i in d[:10]})
    commits.commit(toy, "toy", "many edits")  # a full retrain: the choice is still kept
    full = _retrain(toy)
    assert not full["warm_start"] and full["metrics"]["model"] == first["model"]


def test_a_given_model_is_not_compared(tmp_path, ws, monkeypatch, run):
    from conftest import write_imagefolder

    monkeypatch.setattr(choice, "compare", lambda *a, **k: pytest.fail("compared"))
    src = write_imagefolder(tmp_path / "src", per_class=12)
    code, out, err = run(ws, "import", "d", str(src), "--model", "cnn")
    assert code == 0 and "model cnn" in out, err
    m = _retrain(ws, "d")["metrics"]
    assert m["model"] == CNN and "compared" not in m


def test_the_compared_fold_is_the_trainings_first(toy, monkeypatch):
    """Where the CNN wins, its fold 1 of the comparison is kept: the training trains the
    other folds only, and the results are those of a training with `model: cnn`."""
    monkeypatch.setattr(choice, "candidates", lambda: (CNN,))
    real_fit, calls = train.fit, []
    monkeypatch.setattr(train, "fit", lambda *a, **k: (calls.append(1), real_fit(*a, **k))[1])
    version = versions.resolve(toy, "toy")
    auto = runs.retrain(toy, version)
    assert len(calls) == version.params.folds  # not one more
    probs_auto = runs.finished_run(toy, version) / "probs.npy"
    params = toy.root / "datasets/toy/params.yaml"
    params.write_text(params.read_text().replace("model: auto", "model: cnn"))
    toy.git("commit", "-qam", "the CNN, given")
    cnn = _retrain(toy)
    assert auto["metrics"]["accuracy"] == cnn["metrics"]["accuracy"]
    assert np.array_equal(np.load(probs_auto), np.load(
        runs.finished_run(toy, versions.resolve(toy, "toy")) / "probs.npy"))


def test_a_killed_first_training_resumes_without_comparing_again(toy, monkeypatch):
    monkeypatch.setattr(choice, "candidates", lambda: (CNN,))
    real_fit, calls = train.fit, []

    def dying_fit(*a, **k):
        if len(calls) == 2:  # the comparison's fold and one more
            raise SystemExit("killed")
        calls.append(1)
        return real_fit(*a, **k)
    monkeypatch.setattr(train, "fit", dying_fit)
    with pytest.raises(SystemExit):
        _retrain(toy)
    monkeypatch.setattr(choice, "compare", lambda *a, **k: pytest.fail("compared again"))
    monkeypatch.setattr(train, "fit", real_fit)
    assert _retrain(toy)["metrics"]["model"] == CNN


def test_the_head_is_measured_on_a_sample_of_a_large_dataset(monkeypatch):
    """Beyond TRAIN + HELD examples the head embeds a sample only, and its loss with the
    whole training part is extrapolated from its learning curve (never below 0)."""
    rng = np.random.default_rng(0)
    n, classes = 600, 3
    y = rng.integers(0, classes, n)
    x = (rng.random((n, 1, 12, 12)) * 60 + y[:, None, None, None] * 80).astype(np.uint8)
    z = np.eye(classes)[y] * 2 + rng.normal(0, 1, (n, classes))
    asked = []

    def embeddings(picked):
        asked.append(len(picked))
        return z[picked]
    monkeypatch.setattr(choice, "candidates", lambda: (CNN, LITE0))
    made, fold = choice.compare([f"{i:04d}" for i in range(n)], y, classes,
                                Params(model=AUTO, image_size=12, epochs=2, min_steps=20),
                                images=lambda: x, embeddings=embeddings)
    assert len(asked) == 1 and asked[0] <= choice.TRAIN + choice.HELD and made["sampled"]
    assert set(made["log_loss"]) == {CNN, LITE0} and min(made["log_loss"].values()) >= 0
    assert made["chosen"] == min(made["log_loss"], key=made["log_loss"].get)
    assert (0 in fold) == (made["chosen"] == CNN)  # a sampled head's fold is not the real one


@pytest.mark.skipif(not MNIST.exists(), reason="needs ../shared/data/mnist-test")
def test_real_digits_choose_the_cnn(ws, tmp_path):
    """On 200 real MNIST digits the CNN's loss is far below the ImageNet head's (0.04 against
    0.4 at 100-2,000 digits, bench/small.py)."""
    raw = gzip.open(MNIST / "t10k-images-idx3-ubyte.gz").read()
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:200]
    y = np.frombuffer(gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz").read(), np.uint8,
                      offset=8)[:200]
    for n, (img, lab) in enumerate(zip(x, y)):
        (tmp_path / "src" / str(lab)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "src" / str(lab) / f"{n:04d}.png")
    transfer.import_dataset(ws, "digits", tmp_path / "src")
    m = _retrain(ws, "digits")["metrics"]
    assert m["model"] == CNN and m["compared"][CNN] < m["compared"][LITE0] / 2
