"""Malformed files, parameters and datasets are one-line errors; racing commits say where
their edits went (issue 18, parts 5 and 6).

Files committed with plain git (as a pull would bring them) are read by the ide commands
that need them: each problem is `ide: error: <file> ...: <what>`, exit 1, no traceback.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ide.data import formats
from ide.data.params import BOUNDS, Params, parse_params
from ide.errors import InvalidInput
from ide.learn import train
from ide.repo import commits, staged, versions

from conftest import ROOT, write_imagefolder
from test_cli import assert_one_line_error, snapshot
from test_hostile import commit_files

TOY = "datasets/toy"


# -- committed files: YAML syntax, the top level, the types of fields ------------------------
@pytest.mark.parametrize("file, text, match", [
    ("dataset.yaml", "classes: [d, h\nname: toy\n", "dataset.yaml: not valid YAML (line 2)"),
    ("dataset.yaml", "- d\n- h\n", "dataset.yaml: must be a mapping of name: value, found list"),
    ("dataset.yaml", "just words\n", "dataset.yaml: must be a mapping"),
    ("dataset.yaml", "42\n", "dataset.yaml: must be a mapping of name: value, found int"),
    ("dataset.yaml", "classes: d\n", "dataset.yaml: 'classes' must be a list of class names"),
    ("dataset.yaml", "classes: [[d], h, v]\n",
     "dataset.yaml: 'classes' must be a list of class names"),
    ("dataset.yaml", "classes: [d, h, {v: 1}]\n",
     "dataset.yaml: 'classes' must be a list of class names"),
    ("images.dvc", "outs:\n- md5: [\n", "images.dvc: not valid YAML (line 3)"),
    ("images.dvc", "- outs\n", "images.dvc: must be a mapping"),
    ("images.dvc", "outs: 3\n", "images.dvc: does not describe a DVC-tracked folder"),
    ("images.dvc", "outs: [3]\n", "images.dvc: does not describe a DVC-tracked folder"),
])
@pytest.mark.parametrize("argv", [["status", "toy"], ["export", "toy", "{tmp}/out"],
                                  ["retrain", "toy"]])
def test_a_malformed_committed_file_is_one_line(toy, run, tmp_path, file, text, match, argv):
    commit_files(toy, {f"{TOY}/{file}": text})
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert_one_line_error(*run(toy, *argv), f"{TOY}/{match}")
    assert f"(at commit {toy.head()[:10]})" in run(toy, *argv)[2]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, match", [
    ("folds: 5\nepochs: [\n", "params.yaml: not valid YAML (line 3)"),
    ("- folds\n", "params.yaml: must be a mapping of name: value, found list"),
    ("7\n", "params.yaml: must be a mapping of name: value, found int"),
    ("epochs: eight\n", "params.yaml: epochs must be a whole number, found 'eight'"),
    ("model: [cnn]\n", "params.yaml: model must be text, found ['cnn']"),
    ("width: 0\n", "params.yaml: width must be from 1 to 128, found 0"),
])
def test_malformed_params_are_one_line_naming_the_file_and_commit(toy, run, text, match):
    commit_files(toy, {f"{TOY}/params.yaml": text})
    code, out, err = run(toy, "retrain", "toy")
    assert_one_line_error(code, out, err, f"{TOY}/{match}")
    assert f"(at commit {toy.head()[:10]})" in err


def test_ide_add_reads_a_hand_edited_images_dvc_as_one_line(toy, run, tmp_path):
    (toy.root / TOY / "images.dvc").write_text("outs: [\n")  # not committed
    src = write_imagefolder(tmp_path / "more", per_class=1, seed=5)
    assert_one_line_error(*run(toy, "add", "toy", str(src)),
                          f"{TOY}/images.dvc: not valid YAML")


# -- parameters: types and bounds ------------------------------------------------------------
@pytest.mark.parametrize("text, match", [
    ("width: 0", "width must be from 1 to 128, found 0"),
    ("width: 100000", "width must be from 1 to 128"),
    ("lr: .nan", "lr must be from 1e-06 to 1.0, found nan"),
    ("lr: .inf", "lr must be from 1e-06 to 1.0, found inf"),
    ("lr: 0", "lr must be from"),
    ("image_size: 100000", "image_size must be from 8 to 512, found 100000"),
    ("image_size: 4", "image_size must be from 8 to 512"),
    ("folds: 1000", "folds must be from 2 to 20, found 1000"),
    ("epochs: 100000", "epochs must be from 1 to 100, found 100000"),
    ("warm_epochs: 0", "warm_epochs must be from 1 to 100, found 0"),
    ("min_steps: 1000000", "min_steps must be from 0 to 10000"),
    ("batch_size: 1", "batch_size must be from 2 to 1024"),
    ("batch_size: 100000", "batch_size must be from 2 to 1024"),
    ("decay: -1", "decay must be from 0.0 to 10.0"),
    ("seed: -1", "seed must be from 0 to 4294967295"),
    ("finetune: 2", "finetune must be from 0 to 1"),
    ("epochs: 1.5", "epochs must be a whole number, found 1.5"),
    ("epochs: true", "epochs must be a whole number, found True"),
    ("lr: fast", "lr must be a number, found 'fast'"),
])
def test_every_parameter_is_bounded(text, match):
    with pytest.raises(InvalidInput) as exc:
        parse_params(text + "\n", "toy/params.yaml")
    assert str(exc.value).startswith("toy/params.yaml: " + match)


def test_the_bounds_cover_every_number_and_hold_the_defaults():
    numbers = {k for k, v in vars(Params()).items() if not isinstance(v, str)}
    assert set(BOUNDS) == numbers
    assert parse_params("lr: 1\nweights:\n") == Params(lr=1.0)


def test_a_four_step_one_cycle_schedule_trains():
    """torch's OneCycleLR divided by zero at 4 steps (a warm start of ~60 images a fold)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (10, 1, 8, 8), dtype=np.uint8)
    y = np.arange(10) % 2
    params = Params(epochs=4, min_steps=0, image_size=8, width=2)
    assert train.batch_size(params, len(x)) == 16  # one batch an epoch: 4 steps in all
    state = train.fit(x, y, 2, params, seed=0, epochs=4, lr=0.01)
    assert all(np.isfinite(v.float().numpy()).all() for v in state.values())


# -- degenerate datasets ---------------------------------------------------------------------
@pytest.mark.parametrize("per_class, classes", [(5, ("h",)), (1, ("h",))])
def test_import_of_fewer_than_two_classes_is_refused(ws, run, tmp_path, per_class, classes):
    src = write_imagefolder(tmp_path / "src", per_class=per_class, classes=classes)
    before = snapshot(ws)
    assert_one_line_error(*run(ws, "import", "one", str(src)),
                          "1 class(es) with examples; a dataset needs at least 2")
    assert snapshot(ws) == before


def test_import_of_classes_differing_in_case_is_refused(ws, run, tmp_path):
    src = write_imagefolder(tmp_path / "src", per_class=2, classes=("Cat", "cat", "dog"))
    before = snapshot(ws)
    assert_one_line_error(*run(ws, "import", "pets", str(src)),
                          "classes 'Cat' and 'cat' differ only in case")
    assert snapshot(ws) == before


@pytest.mark.parametrize("labels, match", [
    ("id,label\n", "cannot train: 0 class(es) with labelled examples"),
    ("id,label\nh/000.jpg,h\nh/001.png,h\n", "cannot train: 1 class(es) with labelled"),
    ("id,label\nh/001.png,h\nh/002.png,h\nv/001.png,v\n",
     "cannot train: class 'v' has a single labelled example"),
])
def test_training_a_degenerate_dataset_is_refused(toy, run, labels, match):
    commit_files(toy, {f"{TOY}/labels.csv": labels})
    code, out, err = run(toy, "retrain", "toy")
    assert_one_line_error(code, out, err, match)
    assert "accuracy" not in out


@pytest.mark.parametrize("argv, match", [
    (["--add", ""], "empty class name ''"),
    (["--add", "H"], "classes 'h' and 'H' differ only in case"),
    (["--rename", "h", "V"], "classes 'v' and 'V' differ only in case"),
    (["--merge", "v", "h"], "would leave fewer than 2 classes with examples"),
])
def test_classes_that_would_collide_or_leave_one_class_are_refused(toy, run, argv, match):
    assert run(toy, "classes", "toy", "--merge", "d", "h")[0] == 0  # h and v are left
    before = snapshot(toy)
    assert_one_line_error(*run(toy, "classes", "toy", *argv), match)
    assert snapshot(toy) == before


def test_an_imagefolder_export_of_classes_differing_in_case_is_refused(toy, run, tmp_path):
    commit_files(toy, {f"{TOY}/dataset.yaml": "classes: [d, h, v, V]\n"})
    assert run(toy, "status", "toy")[0] == 0  # readable: a merge of the two can fix it
    assert_one_line_error(*run(toy, "export", "toy", str(tmp_path / "out")),
                          "classes 'v' and 'V' differ only in case")
    assert not (tmp_path / "out").exists()
    assert run(toy, "classes", "toy", "--merge", "V", "v")[0] == 0
    assert run(toy, "classes", "toy", "--rename", "h", "H")[0] == 0  # its own other case
    assert versions.resolve(toy, "toy").classes == ("d", "H", "v")
    assert run(toy, "export", "toy", str(tmp_path / "out"))[0] == 0


def test_ide_add_of_a_class_differing_in_case_is_refused(toy, run, tmp_path):
    src = write_imagefolder(tmp_path / "more", per_class=2, classes=("H",), seed=5)
    before = snapshot(toy)
    assert_one_line_error(*run(toy, "add", "toy", str(src)),
                          "classes 'h' and 'H' differ only in case")
    assert snapshot(toy) == before


def test_check_classes():
    assert formats.check_classes(["a", "B", "c"]) == ["a", "B", "c"]
    assert formats.parse_meta("classes: [0, '1']\n")["classes"] == ["0", "1"]  # digits
    for bad in (["a", "A"], ["x", "", "y"], ["a/b"]):
        with pytest.raises(InvalidInput):
            formats.check_classes(bad)


# -- part 6: two commits racing ---------------------------------------------------------------
def test_a_commit_whose_edits_another_commit_took_names_that_commit(toy, run):
    staged.relabel(toy, "toy", {"h/001.png": "v"})
    other = commits.commit(toy, "toy", "Taken by another process")  # same owner: the CLI's
    code, out, err = run(toy, "commit", "toy", "-m", "mine")
    assert code == 0 and out.strip() == other
    assert err == (f'ide: nothing to commit: your edit(s) were already committed by '
                   f'{other[:10]} "Taken by another process"\n')
    assert toy.head() == other
    staged.relabel(toy, "toy", {"h/002.png": "v"})  # staging again forgets that commit
    staged.unstage(toy, "toy", ["h/002.png"])
    assert_one_line_error(*run(toy, "commit", "toy", "-m", "x"), "nothing staged")


def test_two_cli_processes_committing_at_once_both_succeed(toy):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def relabel_and_commit(i, label):
        ide = [sys.executable, "-m", "ide.cli", "-C", str(toy.root)]
        subprocess.run([*ide, "relabel", "toy", i, label], env=env, check=True,
                       capture_output=True)
        return subprocess.run([*ide, "commit", "toy", "-m", f"{i} is {label}"], env=env,
                              capture_output=True, text=True)

    for n in range(1, 4):
        edits = {f"h/{n:03d}.png": "v", f"d/{n:03d}.png": "v"}
        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(lambda e: relabel_and_commit(*e), edits.items()))
        for proc in done:
            assert proc.returncode == 0, proc.stderr
            assert "nothing staged" not in proc.stderr and "Traceback" not in proc.stderr
        labels = versions.resolve(toy, "toy").labels
        assert all(labels[i] == lab for i, lab in edits.items())
        assert {p.stdout.strip() for p in done} <= set(toy.git("log", "--format=%H").split())
