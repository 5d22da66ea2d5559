"""Numbers and names the commands report must be true: seconds of the whole run, a rate only
once measured, the model import chose, what accept staged (in test_grow), results found
where `ide log` finds them, and a warm start after `ide add`."""

import io
import re
import shutil
import time

import numpy as np
from PIL import Image

from ide.data.params import parse_params
from ide.learn import runs, train
from ide.repo import commits, dvcdir, staged, versions

from conftest import pattern, write_imagefolder


def test_retrain_seconds_cover_decoding_the_images(trained_ws, monkeypatch):
    """The seconds are the whole run's: preparing the images (decoding, or a backbone's
    embedding) is part of it, not only the folds' training."""
    real = runs.images.arrays

    def slow(*args, **kwargs):  # 3 s of preparing the images
        time.sleep(3)
        return real(*args, **kwargs)

    monkeypatch.setattr(runs.images, "arrays", slow)
    staged.relabel(trained_ws, "toy", {"h/001.png": "v"})
    commits.commit(trained_ws, "toy", "One more")
    version = versions.resolve(trained_ws, "toy")
    start = time.time()
    seconds = runs.retrain(trained_ws, version)["seconds"]
    # Left out would be 3 s short of the call, whatever the training took.
    assert seconds >= time.time() - start - 1.5


def test_a_count_shows_no_rate_before_one_is_measured():
    """The first report may come after work of unknown duration (a first batch, cached
    images): no "3834792.23 images/s" from it, on a terminal or in a log."""
    from ide.cli.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream in (io.StringIO(), Terminal()):
        with Progress(stream) as bar:
            bar({"done": 64, "total": 640, "fraction": 0.1})
            shown = stream.getvalue()
        assert "images/s" in shown and not re.search(r"\d images/s", shown), shown
    log = io.StringIO()
    with Progress(log) as bar:  # a measured rate, given, is shown
        bar({"done": 64, "total": 640, "fraction": 0.1, "rate": 32.0})
    assert "32.00 images/s" in log.getvalue()


def test_import_says_its_model_and_params_list_only_its_fields(ws, run, tmp_path):
    src = write_imagefolder(tmp_path / "src", per_class=3)
    code, out, err = run(ws, "import", "grey", str(src))
    assert code == 0, err
    assert "model auto (the first training compares the CNN with the pretrained backbone" in out
    code, out, err = run(ws, "import", "photos", str(src), "--model", "efficientnet-lite0")
    assert code == 0 and "model efficientnet-lite0" in out and "compares" not in out, err
    code, out, err = run(ws, "import", "digits", str(src), "--model", "cnn")
    assert code == 0 and "model cnn" in out and "compares" not in out, err
    for name, present, absent in [("grey", {"epochs", "width", "image_size", "decay"},
                                   {"finetune"}),
                                  ("digits", {"epochs", "width", "image_size"},
                                   {"decay", "weights", "finetune"}),
                                  ("photos", {"decay", "weights", "finetune"},
                                   {"epochs", "width", "image_size", "min_steps"})]:
        text = (ws.root / f"datasets/{name}/params.yaml").read_text()
        keys = {line.split(":")[0] for line in text.splitlines()}
        assert present <= keys and not absent & keys and {"model", "folds"} <= keys, text
    # What is left out is the default: the version's parameters are those of every field.
    assert versions.resolve(ws, "photos").params == parse_params(
        "model: efficientnet-lite0\n")


def test_export_of_predictions_finds_results_where_log_does(trained_ws, run, tmp_path):
    """Results indexed for HEAD under another key (from a machine with other training code,
    say) are HEAD's results for `ide log`, and so for the export too."""
    head = versions.resolve(trained_ws, "toy")
    key = runs.run_key(head)
    other = "0" * 20
    shutil.move(runs.run_dir(trained_ws, "toy", key), runs.run_dir(trained_ws, "toy", other))
    runs._index(trained_ws, "toy", {head.commit: other})
    assert "acc 0.9" in run(trained_ws, "log", "toy")[1]
    code, out, err = run(trained_ws, "export", "toy", str(tmp_path / "p.csv"), "--format",
                         "predictions")
    assert code == 0 and "exported 90 examples" in out, err


def test_retrain_after_add_warm_starts_and_stays_out_of_fold(trained_ws, run, tmp_path):
    """Three images added to 90: within WARM_MAX_CHANGED, and folds go by id, so fold k's
    old model never saw an example of the new fold k."""
    before = versions.resolve(trained_ws, "toy")
    src = tmp_path / "new" / "h"
    src.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for n in range(3):
        Image.fromarray(pattern("h", rng)).save(src / f"new{n}.png")
    assert run(trained_ws, "add", "toy", str(src.parent))[0] == 0
    after = versions.resolve(trained_ws, "toy")
    code, out, err = run(trained_ws, "retrain", "toy")
    assert code == 0 and f"warm-started from {before.commit[:10]}" in out, (out, err)
    # What the guarantee rests on: the examples both versions have are the same images,
    # and each is in the same fold in both.
    old = {e["relpath"]: e["md5"] for e in dvcdir.read_manifest(
        trained_ws.cache_dir(), before.images_hash, "old")}
    new = {e["relpath"]: e["md5"] for e in dvcdir.read_manifest(
        trained_ws.cache_dir(), after.images_hash, "new")}
    assert len(new) == 93 and all(new[i] == md5 for i, md5 in old.items())
    ids = sorted(old)
    params = after.params
    assert list(train.fold_of(ids, params.folds, params.seed)) == [
        f for i, f in zip(sorted(new), train.fold_of(sorted(new), params.folds, params.seed))
        if i in old]


def test_a_changed_image_under_an_old_id_is_no_warm_start(trained_ws):
    """An id whose image changed was seen by other folds' models as another picture: no
    warm start from them."""
    path = trained_ws.root / "datasets/toy/images/h/011.png"
    path.unlink()  # a link into DVC's cache, or a read-only copy
    Image.fromarray(pattern("h", np.random.default_rng(9))).save(path)
    trained_ws.dvc("add", "datasets/toy/images")
    trained_ws.git("commit", "-qm", "New picture", "--", "datasets/toy/images.dvc")
    assert runs._previous_run(trained_ws, versions.resolve(trained_ws, "toy")) is None
    staged.relabel(trained_ws, "toy", {"h/001.png": "v"})  # the same images again: warm
    commits.commit(trained_ws, "toy", "One more")
    trained_ws.git("revert", "--no-edit", "HEAD~1")
    assert runs._previous_run(trained_ws, versions.resolve(trained_ws, "toy")) is not None
