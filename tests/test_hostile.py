"""Hostile input: crafted names, commits from elsewhere, a crafted DVC manifest, bad files.

Every one is a one-line error, exit 1, nothing written (inside the workspace or outside
the export folder), and a killed import does not block the next one.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from ide.data import formats
from ide.repo import versions

from conftest import ROOT, write_imagefolder
from test_cli import assert_one_line_error, snapshot


def outside_files(tmp_path):
    return sorted(p for p in tmp_path.rglob("*") if "ws" not in p.relative_to(tmp_path).parts)


def files_of(ws):
    """What a failed command must leave as it was, where the labels cannot be read."""
    return ws.head(), ws.git("status", "--porcelain"), sorted(
        str(p.relative_to(ws.root)) for p in ws.root.rglob("*")
        if not {".git", ".ide", ".dvc"} & set(p.parts))


def commit_files(ws, files: dict[str, str], message="from elsewhere"):
    """A plain git commit of FILES (as a collaborator's commit, or a pull, would bring)."""
    for rel, text in files.items():
        (ws.root / rel).write_text(text)
    ws.git("add", "--", *files)
    ws.git("commit", "-q", "-m", message)


# -- class names and ids at import -----------------------------------------------------------
@pytest.mark.parametrize("label", ["..", ".", "a/b", "../../x", "a\\b", "tab\there", "bell\x07"])
def test_a_class_name_is_never_a_path(ws, run, tmp_path, label):
    src = write_imagefolder(tmp_path / "src", per_class=2)
    csv = tmp_path / "labels.csv"
    csv.write_text(f'path,label\nh/000.png,"{label}"\nh/001.png,h\n')
    before = snapshot(ws)
    assert_one_line_error(*run(ws, "import", "new", str(src), "--labels", str(csv)),
                          "invalid class name")
    assert snapshot(ws) == before


def test_file_name_with_a_newline_is_a_bad_file(ws, run, tmp_path):
    src = write_imagefolder(tmp_path / "src", per_class=2)
    os.rename(src / "h" / "000.png", src / "h" / "0\n0.png")
    before = snapshot(ws)
    assert_one_line_error(*run(ws, "import", "new", str(src)), "unsafe file name")
    assert snapshot(ws) == before
    code, out, err = run(ws, "import", "new", str(src), "--skip-bad")
    assert code == 0 and "unsafe file name" in out
    assert "h/0\n0.png" not in versions.resolve(ws, "new").labels


def test_backslash_in_a_csv_path_is_a_folder_separator(ws, run, tmp_path):
    src = write_imagefolder(tmp_path / "src", per_class=2)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label\nh\\000.png,h\nv\\001.png,v\n")
    code, out, err = run(ws, "import", "new", str(src), "--labels", str(csv))
    assert code == 0, err
    assert dict(versions.resolve(ws, "new").labels) == {"h/000.png": "h", "v/001.png": "v"}


@pytest.mark.parametrize("size, match", [
    (70_000, "malformed CSV (field larger than field limit (65536))"),  # ide's own limit
    (200_000, "malformed CSV"),  # csv's own limit too
])
def test_huge_csv_field(ws, run, tmp_path, size, match):
    src = write_imagefolder(tmp_path / "src", per_class=2)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label\nh/000.png," + "x" * size + "\n")
    assert_one_line_error(*run(ws, "import", "new", str(src), "--labels", str(csv)), match)


def test_millions_of_missing_paths_give_a_short_line(ws, run, tmp_path):
    src = write_imagefolder(tmp_path / "src", per_class=1)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label\n" + "".join(f"m/{n}.png,h\n" for n in range(100_000)))
    t = time.time()
    code, out, err = run(ws, "import", "new", str(src), "--labels", str(csv))
    assert_one_line_error(code, out, err, "100000 bad file(s)")
    assert "and 99995 more" in err and len(err) < 500
    assert time.time() - t < 60


def test_decompression_bomb_is_refused(ws, run, tmp_path):
    src = write_imagefolder(tmp_path / "src", per_class=2)
    Image.new("1", (8000, 8000)).save(src / "h" / "bomb.png")  # 64 megapixels, a few KB
    assert (src / "h" / "bomb.png").stat().st_size < 100_000
    before = snapshot(ws)
    assert_one_line_error(*run(ws, "import", "new", str(src)), "too large (8000 x 8000")
    assert snapshot(ws) == before


# -- labels that arrive by git ---------------------------------------------------------------
@pytest.mark.parametrize("files, match", [
    ({"dataset.yaml": "classes: [d, h, '../../x']\n"}, "invalid class name '../../x'"),
    ({"labels.csv": "id,label\nh/001.png,cat\n"}, "unknown class(es) 'cat'"),
    ({"labels.csv": "id,label\nh/000.png,h\nh/000.png,v\n"}, "duplicate id 'h/000.png'"),
    ({"labels.csv": "id,label\n../../x.png,h\n"}, "invalid example id '../../x.png'"),
])
@pytest.mark.parametrize("argv", [["retrain", "toy"], ["export", "toy", "{tmp}/out"],
                                  ["status", "toy"], ["relabel", "toy", "h/001.png", "v"]])
def test_a_bad_commit_is_one_line(toy, run, tmp_path, files, match, argv):
    commit_files(toy, {f"datasets/toy/{k}": v for k, v in files.items()})
    before, outside = files_of(toy), outside_files(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert_one_line_error(*run(toy, *argv), match)
    assert files_of(toy) == before and outside_files(tmp_path) == outside


def test_a_crafted_dvc_manifest_cannot_reach_outside(toy, run, tmp_path):
    version = versions.resolve(toy, "toy")
    cache = toy.root / ".dvc" / "cache" / "files" / "md5"
    h = version.images_hash
    entries = json.loads((cache / h[:2] / h[2:]).read_text())
    entries[0]["relpath"] = "../../../x.png"
    text = json.dumps(entries)
    import hashlib
    md5 = hashlib.md5(text.encode()).hexdigest()
    (cache / md5[:2]).mkdir(exist_ok=True)
    (cache / md5[:2] / (md5[2:] + ".dir")).write_text(text)
    dvcfile = (toy.root / "datasets/toy/images.dvc").read_text().replace(h, md5 + ".dir")
    commit_files(toy, {"datasets/toy/images.dvc": dvcfile})
    before, outside = files_of(toy), outside_files(tmp_path)
    for argv in (["export", "toy", f"{tmp_path}/out", "--format", "csv"],
                 ["export", "toy", f"{tmp_path}/out"], ["retrain", "toy"]):
        assert_one_line_error(*run(toy, *argv), "unsafe entry: '../../../x.png'")
        assert files_of(toy) == before and outside_files(tmp_path) == outside


# -- export targets ---------------------------------------------------------------------------
def test_export_to_a_file_or_an_unwritable_place(toy, run, tmp_path):
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(*run(toy, "export", "toy", str(tmp_path / "afile")),
                          "exists and is not a folder")
    assert (tmp_path / "afile").read_text() == "x"
    assert_one_line_error(*run(toy, "export", "toy", "/proc/x"), "cannot write to /proc/x")


def test_unstage_an_unknown_or_unstaged_id(toy, run):
    assert_one_line_error(*run(toy, "unstage", "toy", "nope.png"), "unknown example id")
    assert_one_line_error(*run(toy, "unstage", "toy", "h/001.png"), "nothing staged for")
    assert run(toy, "relabel", "toy", "h/001.png", "v")[0] == 0
    assert run(toy, "unstage", "toy", "h/001.png")[0] == 0


def test_ids_and_classes_are_checked_once():
    assert formats.check_class("cat-1 big") == "cat-1 big"
    for bad in ["", " ", ".", "..", "a/b", "a\\b", "x\ny", "x\x00"]:
        with pytest.raises(formats.InvalidInput):
            formats.check_class(bad)
    assert formats.check_id("a/b.png") == "a/b.png"
    for bad in ["", "/etc/x", "../x", "a/../b", "a//b", "./a", "a\\b", "a\nb"]:
        with pytest.raises(formats.InvalidInput):
            formats.check_id(bad)


# -- a killed import ---------------------------------------------------------------------------
def test_import_killed_midway_then_imported_again(ws, tmp_path):
    src = write_imagefolder(tmp_path / "src", per_class=40)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "ide.cli", "-C", str(ws.root), "import", "new", str(src)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill it once the folder is half-built (its files written, DVC tracking under way).
    deadline = time.time() + 60
    while not (ws.root / "datasets/new/dvc.yaml").exists():
        assert proc.poll() is None and time.time() < deadline, "import ended before the kill"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (ws.root / "datasets/new").exists()  # half-built, as a crash leaves it
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(versions.resolve(ws, "new").labels) == 120
    assert not ws.git("status", "--porcelain").strip()


def test_a_commit_of_params_alone_is_in_the_log(toy):
    """The app shows the model of the newest logged commit: a params.yaml commit is one."""
    from ide.repo import history

    params = (toy.root / "datasets/toy/params.yaml").read_text()
    commit_files(toy, {"datasets/toy/params.yaml": params + "# tuned\n"}, "tune")
    entries = history.log(toy, "toy")
    assert entries[0]["commit"] == toy.head() and entries[0]["edits"] == 0


def test_ide_runs_by_its_full_path_without_its_environment_on_path(tmp_path):
    """As pipx users and scripts run it: DVC comes from ide's own interpreter, not PATH."""
    import shutil

    git_dir = os.path.dirname(shutil.which("git"))
    env = {**os.environ, "PATH": git_dir}  # git only: no dvc, no ide on PATH
    env.pop("PYTHONPATH", None)
    cli = [sys.executable, "-m", "ide.cli"]
    src = write_imagefolder(tmp_path / "src", per_class=3)
    for args in (["init", str(tmp_path / "ws")],
                 ["-C", str(tmp_path / "ws"), "import", "toy", str(src)]):
        proc = subprocess.run(cli + args, env=env, capture_output=True, text=True,
                              cwd=str(tmp_path))
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ws" / "datasets" / "toy" / "images.dvc").exists()
