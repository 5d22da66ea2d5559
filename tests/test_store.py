"""Dataset workspaces and versioned label commits, through the API and the CLI."""

import gzip
import shutil

import numpy as np
import pytest
from PIL import Image

from ide.data import formats as ds
from ide.data.params import Params
from ide.errors import Conflict, IDEError, NotAWorkspace, NothingToDo
from ide.ops import transfer, views
from ide.repo import commits, history, images, staged, state, versions
from ide.repo.workspace import Workspace

from conftest import MNIST, write_imagefolder

TWO = {"h/000.jpg": "v", "v/001.png": "d"}


def head(ws):
    return ws.git("rev-parse", "HEAD").strip()


def clean(ws) -> bool:
    return ws.git("status", "--porcelain").strip() == ""


def test_init_is_repeatable_and_offline(ws):
    again = commits.init(ws.root)
    assert again.root == ws.root
    config = (ws.root / ".dvc" / "config").read_text()
    assert "analytics = false" in config
    assert "/.ide/" in (ws.root / ".gitignore").read_text().splitlines()
    assert ws.git("log", "--oneline").count("\n") == 1  # the second init committed nothing
    assert clean(ws)


def test_workspace_is_found_from_a_subfolder(toy):
    sub = toy.root / "datasets" / "toy"
    assert Workspace.find(sub).root == toy.root
    with pytest.raises(NotAWorkspace):
        Workspace.find("/")


def test_import_imagefolder(toy):
    folder = toy.root / "datasets" / "toy"
    text = (folder / "labels.csv").read_text().splitlines()
    assert text[0] == "id,label" and len(text) == 91
    assert text[1:] == sorted(text[1:])
    assert "h/000.jpg,h" in text  # RGB JPEGs are imported beside grayscale PNGs
    assert list(versions.resolve(toy, "toy").classes) == ["d", "h", "v"]
    assert (folder / "images.dvc").exists() and (folder / "dvc.yaml").exists()
    tracked = toy.git("ls-files", "datasets/toy").split()
    assert not any("/images/" in p for p in tracked)  # images are DVC's, not git's
    assert clean(toy)
    log = history.log(toy, "toy")
    assert len(log) == 1 and log[0]["edits"] == 90
    assert log[0]["author"] == "Importer <imp@example.org>"
    version = versions.resolve(toy, "toy")
    assert set(images.image_files(toy, version)) == set(version.labels)


def test_import_with_csv_any_depth(ws, tmp_path):
    src = tmp_path / "flat"
    (src / "deep" / "er").mkdir(parents=True)
    Image.new("L", (9, 7), 10).save(src / "deep" / "er" / "a.png")
    Image.new("RGB", (20, 30), (1, 2, 3)).save(src / "b.jpeg")
    (tmp_path / "l.csv").write_text("path,label\ndeep/er/a.png,cat\nb.jpeg,dog\n")
    transfer.import_dataset(ws, "pets", src, labels_csv=tmp_path / "l.csv")
    assert versions.resolve(ws, "pets").labels == {"b.jpeg": "dog", "deep/er/a.png": "cat"}
    assert list(versions.resolve(ws, "pets").classes) == ["cat", "dog"]


def test_relabel_stages_on_disk_and_commit_changes_labels_only(toy):
    before_images = (toy.root / "datasets/toy/images.dvc").read_text()
    cache = sorted(p for p in (toy.root / ".dvc/cache").rglob("*") if p.is_file())
    staged.relabel(toy, "toy", TWO)
    # A new process (a fresh Workspace object) sees the staged edits: they are on disk.
    fresh = Workspace.find(toy.root)
    assert {e["id"]: (e["old"], e["new"]) for e in staged.read(fresh, "toy")["labels"]} == \
        {"h/000.jpg": ("h", "v"), "v/001.png": ("v", "d")}
    rev = commits.commit(fresh, "toy", "Fix two", author="Ann <ann@example.org>")
    changed = toy.git("show", "--name-only", "--format=", rev).split()
    assert changed == ["datasets/toy/labels.csv"]
    msg = toy.git("log", "-1", "--format=%B")
    assert "Fix two" in msg and "h/000.jpg: h -> v" in msg and "v/001.png: v -> d" in msg
    assert toy.git("log", "-1", "--format=%an <%ae>").strip() == "Ann <ann@example.org>"
    assert (toy.root / "datasets/toy/images.dvc").read_text() == before_images
    assert sorted(p for p in (toy.root / ".dvc/cache").rglob("*") if p.is_file()) == cache
    assert staged.read(toy, "toy") == {"labels": [], "checked": [], "removed": [], "conflicts": []}
    assert clean(toy)


def test_relabel_back_to_the_committed_label_unstages(toy):
    staged.relabel(toy, "toy", {"h/000.jpg": "v"})
    staged.relabel(toy, "toy", {"h/000.jpg": "h"})
    assert staged.read(toy, "toy")["labels"] == []


def test_log_diff_history_checkout_revert(toy):
    first = head(toy)
    a = (staged.relabel(toy, "toy", {"h/000.jpg": "v"}), commits.commit(toy, "toy", "one"))[1]
    b = (staged.relabel(toy, "toy", {"h/000.jpg": "d", "d/002.png": "h"}),
         commits.commit(toy, "toy", "two"))[1]
    log = views.log(toy, "toy")
    assert [e["commit"] for e in log] == [b, a, first]
    assert [e["edits"] for e in log] == [2, 1, 90]
    assert set(log[0]) == {"commit", "author", "date", "message", "edits", "added", "removed",
                           "examples", "metrics"}
    assert [(e["added"], e["removed"], e["examples"]) for e in log] == [(0, 0, 90)] * 2 + [
        (90, 0, 90)]
    assert history.diff(toy, "toy", first) == [
        {"id": "d/002.png", "old": "d", "new": "h"}, {"id": "h/000.jpg", "old": "h", "new": "d"}]
    assert history.diff(toy, "toy", "HEAD~1", "HEAD~2") == [
        {"id": "h/000.jpg", "old": "v", "new": "h"}]
    hist = history.history(toy, "toy", "h/000.jpg")
    assert [(h["commit"], h["label"]) for h in hist] == [(b, "d"), (a, "v"), (first, "h")]
    assert [h["message"] for h in hist][:2] == ["two", "one"]
    c = commits.revert(toy, "toy", b)
    assert versions.resolve(toy, "toy").labels == versions.resolve(toy, "toy", a).labels
    d = commits.checkout(toy, "toy", first)
    assert versions.resolve(toy, "toy").labels == versions.resolve(toy, "toy", first).labels
    assert len({a, b, c, d}) == 4 and clean(toy)
    with pytest.raises(NothingToDo):
        commits.checkout(toy, "toy", first)
    with pytest.raises(Conflict):
        commits.revert(toy, "toy", a)  # h/000.jpg changed again since a


def test_what_a_commit_changed_is_read_from_git_once_whatever_names_it(toy, monkeypatch):
    """log, diff and history take a tag; what a commit changed is asked of git (a `git diff`
    of labels.csv: 50 ms a commit at 100,000 lines) once, then read from the state's cache,
    whether the commit is reached by the tag, by HEAD or by an example's history."""
    staged.relabel(toy, "toy", {"h/000.jpg": "v"})
    toy.git("tag", "v1", commits.commit(toy, "toy", "one"))
    assert history.diff(toy, "toy", "v1~1", "v1") == [{"id": "h/000.jpg", "old": "h", "new": "v"}]
    shutil.rmtree(state.path(toy, state.CHANGES))  # as for commits made by plain git
    diffs, real = [], Workspace.git

    def git(self, *args, **kwargs):
        diffs.extend(args[:1] if args[0] == "diff" else [])
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Workspace, "git", git)
    assert [e["edits"] for e in history.log(toy, "toy", "v1")] == [1, 90]
    assert diffs == ["diff"]  # the import created labels.csv: nothing to diff
    assert [e["commit"] for e in history.log(toy, "toy")] == \
        [e["commit"] for e in history.log(toy, "toy", "v1")]
    assert [h["label"] for h in history.history(toy, "toy", "h/000.jpg")] == ["v", "h"]
    assert diffs == ["diff"]


def test_conflicting_edits_are_refused(toy):
    staged.relabel(toy, "toy", {"h/000.jpg": "v"}, expected={"h/000.jpg": "h"})
    with pytest.raises(Conflict, match="someone else"):
        staged.relabel(toy, "toy", {"h/000.jpg": "d"}, expected={"h/000.jpg": "h"})
    assert staged.read(toy, "toy")["labels"][0]["new"] == "v"


def test_a_crash_between_writing_labels_and_committing_loses_nothing(toy, monkeypatch):
    staged.relabel(toy, "toy", TWO)
    real = commits._git_commit

    def crash(*a, **k):
        raise KeyboardInterrupt  # the process dies after labels.csv was written
    monkeypatch.setattr(commits, "_git_commit", crash)
    with pytest.raises(KeyboardInterrupt):
        commits.commit(toy, "toy", "Fix two")
    assert len(staged.read(toy, "toy")["labels"]) == 2
    # A harder crash leaves the new labels.csv behind: the next commit still completes.
    new = {**versions.resolve(toy, "toy").labels, **TWO}
    (toy.root / "datasets/toy/labels.csv").write_text(ds.format_labels(new))
    monkeypatch.setattr(commits, "_git_commit", real)
    commits.commit(toy, "toy", "Fix two")
    assert versions.resolve(toy, "toy").labels == new and clean(toy)


def test_a_crash_after_the_commit_leaves_no_phantom_edits(toy, monkeypatch):
    staged.relabel(toy, "toy", TWO)
    monkeypatch.setattr(staged, "clear", lambda *a, **k: (_ for _ in ()).throw(SystemExit))
    with pytest.raises(SystemExit):
        commits.commit(toy, "toy", "Fix two")
    monkeypatch.undo()
    assert staged.read(toy, "toy")["labels"] == []  # HEAD already has them
    with pytest.raises(NothingToDo):
        commits.commit(toy, "toy", "again")


def test_hand_edits_of_labels_csv_are_not_overwritten(toy):
    path = toy.root / "datasets/toy/labels.csv"
    path.write_text(path.read_text().replace("d/001.png,d", "d/001.png,h"))
    staged.relabel(toy, "toy", TWO)
    with pytest.raises(IDEError, match="outside ide"):
        commits.commit(toy, "toy", "x")
    assert "d/001.png,h" in path.read_text()


def test_checked_marks_are_committed(toy):
    staged.mark_checked(toy, "toy", ["v/003.png"])
    commits.commit(toy, "toy", "Reviewed")
    assert versions.resolve(toy, "toy").checked == {"v/003.png"}
    assert "Checked (1)" in toy.git("log", "-1", "--format=%B")


@pytest.mark.parametrize("fmt", ["imagefolder", "csv"])
def test_export_round_trips(toy, tmp_path, fmt):
    staged.relabel(toy, "toy", TWO)
    commits.commit(toy, "toy", "Fix two")
    out = tmp_path / "out"
    assert transfer.export(toy, "toy", out, fmt=fmt) == 90
    if fmt == "imagefolder":
        assert (out / "v" / "000.jpg").exists() and sorted(p.name for p in out.iterdir()) == \
            ["d", "h", "v"]
        transfer.import_dataset(toy, "again", out)
        assert sorted(versions.resolve(toy, "again").labels.values()) == \
            sorted(versions.resolve(toy, "toy").labels.values())
    else:
        transfer.import_dataset(toy, "again", out, labels_csv=out / "labels.csv")
        toy_labels = versions.resolve(toy, "toy").labels
        assert versions.resolve(toy, "again").labels == {f"images/{i}": c
                                                         for i, c in toy_labels.items()}


def test_commits_work_on_a_machine_without_a_git_identity(tmp_path, monkeypatch):
    for role in ("AUTHOR", "COMMITTER"):
        for part in ("NAME", "EMAIL"):
            monkeypatch.delenv(f"GIT_{role}_{part}", raising=False)
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "empty"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    ws = commits.init(tmp_path / "w")
    transfer.import_dataset(ws, "d", write_imagefolder(tmp_path / "src", per_class=2))
    assert history.log(ws, "d")[0]["author"] == "ide <ide@localhost>"


def test_import_real_mnist_digits_with_a_csv(ws, tmp_path):
    """200 real MNIST test digits, written as PNGs in one flat folder plus a CSV."""
    if not MNIST.exists():
        pytest.skip("../shared/data/mnist-test is not here")
    raw = gzip.open(MNIST / "t10k-images-idx3-ubyte.gz").read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:200]
    digits = gzip.open(MNIST / "t10k-labels-idx1-ubyte.gz").read()[8:208]
    (tmp_path / "flat").mkdir()
    rows = ["path,label"]
    for n, (img, y) in enumerate(zip(images, digits)):
        Image.fromarray(img).save(tmp_path / "flat" / f"{n:03d}.png")
        rows.append(f"{n:03d}.png,{y}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    transfer.import_dataset(ws, "mnist", tmp_path / "flat", labels_csv=tmp_path / "labels.csv")
    assert len(versions.resolve(ws, "mnist").labels) == 200
    assert versions.resolve(ws, "mnist").labels["000.png"] == "7"  # the first test digit is a 7
    assert list(versions.resolve(ws, "mnist").classes) == [str(d) for d in range(10)]


@pytest.fixture
def git_processes(monkeypatch):
    """A list that gets the arguments of every git process started from now on."""
    import subprocess

    started, real = [], subprocess.Popen

    def counting(args, *a, **k):
        if args[0] == "git":
            started.append(args[1:])
        return real(args, *a, **k)
    monkeypatch.setattr(subprocess, "Popen", counting)
    return started


def test_relabel_and_commit_ask_git_little(toy, run, git_processes):
    # Before the one resolved Version: `ide relabel` ran 11 git processes, `ide commit` 16.
    assert run(toy, "relabel", "toy", "h/001.png", "v")[0] == 0
    assert len(git_processes) <= 1, git_processes
    git_processes.clear()
    assert run(toy, "commit", "toy", "-m", "one fix")[0] == 0
    assert len(git_processes) <= 5, git_processes


def test_a_version_is_resolved_once_from_any_rev(toy):
    versions.resolve(toy, "toy")  # nothing to commit, but a tag to resolve
    staged.relabel(toy, "toy", {"h/000.jpg": "v"})
    toy.git("tag", "v1", commits.commit(toy, "toy", "one"))
    v = versions.resolve(toy, "toy", "v1")
    assert v.commit == toy.head() and v.labels["h/000.jpg"] == "v"
    assert v == versions.resolve(toy, "toy", toy.head())
    assert v != versions.resolve(toy, "toy", "v1~1")
    assert v.classes == ("d", "h", "v") and v.images_hash.endswith(".dir")
    assert v.params.folds == Params().folds and v.checked == frozenset()
    with pytest.raises(IDEError, match="unknown revision"):
        versions.resolve(toy, "toy", "nope")
    with pytest.raises(IDEError, match="unknown dataset"):
        versions.resolve(toy, "nope")
