"""Working as a team: clones of one remote, pulls under staged edits, merges of labels,
branches, hooks, and a shared DVC cache; all on real repositories on local disk."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ide.app import SCRIPT
from ide.data import formats as ds
from ide.data import mergedriver
from ide.repo import commits, conflicts, images, staged, versions
from ide.repo.workspace import Workspace


def sh(cwd, *args, check=True):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=check)


@pytest.fixture
def team(toy, tmp_path):
    """A bare remote made from the toy workspace, and two clones of it: (ann, bob)."""
    return clones(toy, tmp_path)


def clones(toy, tmp_path):
    remote = tmp_path / "remote.git"
    sh(tmp_path, "git", "clone", "-q", "--bare", str(toy.root), str(remote))
    made = []
    for who in ("ann", "bob"):
        sh(tmp_path, "git", "clone", "-q", str(remote), who)
        made.append(Workspace.find(tmp_path / who))  # any ide command sets the clone up
    return made


def labels_at(ws, rev="HEAD"):
    return dict(versions.resolve(ws, "toy", rev).labels)


def commit_and_push(ws, edits, message):
    staged.relabel(ws, "toy", edits)
    commits.commit(ws, "toy", message)
    ws.git("push", "-q", "origin", "HEAD")


# -- 1. never lose a label -----------------------------------------------------------------
def test_a_pull_under_a_staged_edit_is_a_conflict_and_loses_nothing(team, run):
    ann, bob = team
    assert run(ann, "relabel", "toy", "h/000.jpg", "v", "h/001.png", "d")[0] == 0
    commit_and_push(bob, {"h/000.jpg": "d"}, "Bob fixes h/000")
    ann.git("pull", "-q")
    assert labels_at(ann)["h/000.jpg"] == "d"  # the teammate's label arrived

    code, out, _ = run(ann, "status", "toy")
    assert code == 0
    assert "conflict h/000.jpg: yours v, theirs d (you changed h)" in out
    assert "relabel h/001.png: h -> d" in out  # the other edit is not affected
    code, out, err = run(ann, "commit", "toy", "-m", "mine")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("ide: error: 1 staged edit(s) conflict") and "h/000.jpg" in err
    assert labels_at(ann)["h/000.jpg"] == "d" and ann.git("status", "--porcelain") == ""

    # Deciding again resolves it; the commit then carries both edits.
    assert run(ann, "relabel", "toy", "h/000.jpg", "v")[0] == 0
    assert staged.read(ann, "toy")["conflicts"] == []
    assert run(ann, "commit", "toy", "-m", "mine")[0] == 0
    now = labels_at(ann)
    assert now["h/000.jpg"] == "v" and now["h/001.png"] == "d"


def test_unstaging_a_conflict_keeps_theirs(team, run):
    ann, bob = team
    staged.relabel(ann, "toy", {"v/001.png": "d"})
    commit_and_push(bob, {"v/001.png": "h"}, "Bob")
    ann.git("pull", "-q")
    assert [c["theirs"] for c in staged.read(ann, "toy")["conflicts"]] == ["h"]
    assert run(ann, "unstage", "toy", "v/001.png")[0] == 0
    assert staged.read(ann, "toy") == {"labels": [], "checked": [], "removed": [], "conflicts": []}
    assert labels_at(ann)["v/001.png"] == "h"


def test_a_pull_that_agrees_or_touches_other_examples_is_no_conflict(team):
    ann, bob = team
    staged.relabel(ann, "toy", {"d/001.png": "h", "d/002.png": "v"})
    commit_and_push(bob, {"d/001.png": "h", "d/003.png": "v"}, "Bob")
    ann.git("pull", "-q")
    stage = staged.read(ann, "toy")
    assert stage["conflicts"] == []
    assert [e["id"] for e in stage["labels"]] == ["d/002.png"]  # d/001 is already there


# -- 2. merge like code --------------------------------------------------------------------
def test_init_installs_the_merge_driver(toy):
    assert "datasets/*/labels.csv merge=ide" in (toy.root / ".gitattributes").read_text()
    assert "-m ide.data.mergedriver %O %A %B %P" in toy.git("config", "merge.ide.driver")
    assert toy.git("check-attr", "merge", "datasets/toy/labels.csv").strip().endswith("ide")


def test_adjacent_edits_on_two_branches_merge_cleanly(team, run):
    ann, bob = team
    ids = sorted(labels_at(ann))[:2]  # neighbouring lines of labels.csv
    commit_and_push(bob, {ids[1]: "v"}, "Bob")
    staged.relabel(ann, "toy", {ids[0]: "h"})
    commits.commit(ann, "toy", "Ann")
    ann.git("pull", "-q", "--no-rebase", "--no-edit")  # a plain git merge
    now = labels_at(ann)
    assert now[ids[0]] == "h" and now[ids[1]] == "v"
    assert len(ann.git("rev-list", "--parents", "-n1", "HEAD").split()) == 3  # a merge commit
    assert ann.git("status", "--porcelain") == ""
    assert run(ann, "status", "toy")[1].count("conflict") == 0


def test_same_example_two_labels_is_a_conflict_that_resolve_settles(team, run):
    ann, bob = team
    commit_and_push(bob, {"h/002.png": "v", "d/003.png": "v"}, "Bob")
    staged.relabel(ann, "toy", {"h/002.png": "d", "v/003.png": "h"})
    commits.commit(ann, "toy", "Ann")
    pulled = ann.git("pull", "--no-rebase", "--no-edit", check=False)
    assert "CONFLICT" in pulled
    text = (ann.root / "datasets/toy/labels.csv").read_text()
    assert "<<<<" not in text and ds.parse_labels(text)["d/003.png"] == "v"  # merged rest

    code, out, _ = run(ann, "status", "toy")
    assert "merge conflict h/002.png: ours d, theirs v (was h)" in out
    code, _, err = run(ann, "commit", "toy", "-m", "x")
    assert code == 1 and "ide resolve toy" in err
    code, _, err = run(ann, "resolve", "toy", "d/004.png", "v")
    assert code == 1 and "not a label conflict" in err and err.count("\n") == 1
    code, _, err = run(ann, "resolve", "toy", "h/002.png", "cat")
    assert code == 1 and "unknown class" in err

    code, out, _ = run(ann, "resolve", "toy", "h/002.png", "v")
    assert code == 0 and "merge committed" in out
    now = labels_at(ann)
    assert (now["h/002.png"], now["d/003.png"], now["v/003.png"]) == ("v", "v", "h")
    assert ann.git("status", "--porcelain") == "" and not ann.merging()
    assert conflicts.unsettled(ann, "toy") == []


def test_a_rebase_loses_no_label_edit(team, run):
    ann, bob = team
    commit_and_push(bob, {"h/002.png": "v"}, "Bob: h/002 is v")
    staged.relabel(ann, "toy", {"h/002.png": "d", "v/003.png": "h"})
    mine = commits.commit(ann, "toy", "Ann: h/002 is d, v/003 is h")
    assert "CONFLICT" in ann.git("pull", "--rebase", check=False)  # as a user may
    code, out, _ = run(ann, "status", "toy")
    assert "rebase conflict h/002.png: ours v, theirs d (was h)" in out
    code, _, err = run(ann, "commit", "toy", "-m", "x")
    assert code == 1 and "git rebase is in progress" in err and "h/002.png" in err

    # `git add` + `rebase --continue` would drop the edit: the hook refuses it.
    ann.git("add", "datasets/toy/labels.csv")
    cont = subprocess.run(["git", "rebase", "--continue"], cwd=ann.root, text=True,
                          capture_output=True, env={**os.environ, "GIT_EDITOR": "true"})
    assert cont.returncode != 0 and "ide resolve toy" in cont.stderr
    assert "rebase conflict h/002.png" in run(ann, "status", "toy")[1]

    code, out, err = run(ann, "resolve", "toy", "h/002.png", "d")
    assert code == 0 and "rebase continued" in out, err
    assert ann.operation() is None and ann.git("status", "--porcelain") == ""
    now = labels_at(ann)
    assert (now["h/002.png"], now["v/003.png"]) == ("d", "h")  # both edits, on top of Bob's
    assert ann.git("log", "-1", "--format=%s") == "Ann: h/002 is d, v/003 is h\n"
    assert ann.git("rev-parse", "HEAD~1").strip() == bob.head() and ann.head() != mine


def cherry_pick_conflict(toy) -> str:
    """Cherry-pick onto master a side branch's label of h/002 (d) that master changed too
    (v); git's output."""
    toy.git("checkout", "-q", "-b", "side")
    staged.relabel(toy, "toy", {"h/002.png": "d"})
    picked = commits.commit(toy, "toy", "Side: h/002 is d")
    toy.git("checkout", "-q", "master")
    staged.relabel(toy, "toy", {"h/002.png": "v"})
    commits.commit(toy, "toy", "Master: h/002 is v")
    return toy.git("cherry-pick", picked, check=False)


def test_a_cherry_pick_conflict_is_settled_by_resolve(toy, run):
    assert cherry_pick_conflict(toy) == "" or toy.operation()
    assert toy.operation() == "cherry-pick"
    assert [c["theirs"] for c in conflicts.unsettled(toy, "toy")] == ["d"]
    code, out, err = run(toy, "resolve", "toy", "h/002.png", "d")
    assert code == 0 and "cherry-pick continued" in out, err
    assert labels_at(toy)["h/002.png"] == "d" and toy.operation() is None


def test_publish_is_refused_during_a_cherry_pick(toy, run):
    cherry_pick_conflict(toy)
    code, _, err = run(toy, "publish", "toy")
    assert code == 1 and "a git cherry-pick is unfinished" in err and err.count("\n") == 1


def test_an_aborted_rebase_leaves_nothing_behind(team, run):
    ann, bob = team
    commit_and_push(bob, {"h/002.png": "v"}, "Bob")
    staged.relabel(ann, "toy", {"h/002.png": "d"})
    commits.commit(ann, "toy", "Ann")
    ann.git("pull", "--rebase", check=False)
    ann.git("rebase", "--abort")
    assert conflicts.unsettled(ann, "toy") == []
    staged.relabel(ann, "toy", {"v/003.png": "h"})
    assert commits.commit(ann, "toy", "Ann again")  # the hook does not hold a stale record


def new_images(folder, prefix, n, seed):
    """FOLDER/h/<prefix><k>.png: N new images of class h."""
    import numpy as np
    from PIL import Image

    from conftest import pattern

    rng = np.random.default_rng(seed)
    (folder / "h").mkdir(parents=True)
    for k in range(n):
        Image.fromarray(pattern("h", rng)).save(folder / "h" / f"{prefix}{k}.png")
    return str(folder)


def test_images_added_on_two_branches_merge(toy, tmp_path, run):
    toy.git("checkout", "-q", "-b", "a")
    assert run(toy, "add", "toy", new_images(tmp_path / "a", "a", 2, seed=5))[0] == 0
    toy.git("checkout", "-q", "master")
    assert run(toy, "add", "toy", new_images(tmp_path / "b", "b", 3, seed=6))[0] == 0
    toy.git("merge", "-q", "--no-edit", "a")  # raises on a conflict
    assert toy.operation() is None and toy.git("status", "--porcelain") == ""
    version = versions.resolve(toy, "toy")
    assert len(version.labels) == 90 + 2 + 3
    assert sorted(images.image_files(toy, version)) == sorted(version.labels)


def test_two_clones_that_add_images_merge_with_ide_pull(team, run, toy, tmp_path):
    ann, bob = team
    dvc_remote_for(team, toy, tmp_path)
    assert run(ann, "push")[0] == 0
    assert run(bob, "pull")[0] == 0
    assert run(ann, "add", "toy", new_images(tmp_path / "a", "a", 2, seed=5))[0] == 0
    assert run(ann, "push")[0] == 0
    assert run(bob, "add", "toy", new_images(tmp_path / "b", "b", 3, seed=6))[0] == 0
    code, out, err = run(bob, "pull")  # DVC's driver needs ann's listing: fetched first
    assert code == 0, err
    assert bob.operation() is None and bob.git("status", "--porcelain") == ""
    version = versions.resolve(bob, "toy")
    assert len(version.labels) == 95
    assert sorted(images.image_files(bob, version)) == sorted(version.labels)


def test_an_unmerged_images_dvc_is_named_by_status(toy, tmp_path, run):
    toy.git("checkout", "-q", "-b", "a")
    assert run(toy, "add", "toy", new_images(tmp_path / "a", "x", 2, seed=5))[0] == 0
    toy.git("checkout", "-q", "master")  # the same new ids, other images: DVC cannot merge
    assert run(toy, "add", "toy", new_images(tmp_path / "b", "x", 2, seed=6))[0] == 0
    toy.git("merge", "--no-edit", "a", check=False)
    assert toy.operation() == "merge"
    code, out, _ = run(toy, "status", "toy")
    assert "unmerged datasets/toy/images.dvc" in out


def test_checked_marks_merge_without_conflict():
    base, ours, theirs = frozenset("ab"), frozenset("abc"), frozenset("bd")
    assert mergedriver.merge_checked(base, ours, theirs) == frozenset("bcd")  # a removed by them
    merged, conflicts = mergedriver.merge_labels({"x": "1", "y": "1"}, {"x": "2", "y": "1"},
                                           {"x": "3", "z": "1"})
    assert merged == {"x": "2", "z": "1"}  # y removed by them, z added by them
    assert conflicts == [{"id": "x", "base": "1", "ours": "2", "theirs": "3"}]


# -- 3. branches and hooks -----------------------------------------------------------------
def test_staged_edits_belong_to_their_branch_and_log_takes_a_rev(toy, run):
    staged.relabel(toy, "toy", {"h/000.jpg": "v"})
    toy.git("checkout", "-q", "-b", "experiment")
    assert staged.read(toy, "toy")["labels"] == []
    staged.relabel(toy, "toy", {"v/001.png": "d"})
    commits.commit(toy, "toy", "On the experiment")
    toy.git("checkout", "-q", "-")
    assert [e["id"] for e in staged.read(toy, "toy")["labels"]] == ["h/000.jpg"]
    code, out, _ = run(toy, "log", "toy", "--rev", "experiment", "--json")
    assert code == 0 and "On the experiment" in out
    assert "On the experiment" not in run(toy, "log", "toy")[1]
    assert "on experiment" not in run(toy, "status", "toy")[1]
    code, _, err = run(toy, "log", "toy", "--rev", "nope")
    assert code == 1 and "unknown revision" in err


def test_commit_runs_the_hooks_unless_no_verify(toy, run):
    hook = toy.git_path("hooks/pre-commit")
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\necho 'labels need a review' >&2\nexit 1\n")
    hook.chmod(0o755)
    staged.relabel(toy, "toy", {"h/000.jpg": "v"})
    head = toy.head()
    code, _, err = run(toy, "commit", "toy", "-m", "x")
    assert code == 1 and "labels need a review" in err and err.count("\n") == 1
    assert toy.head() == head and toy.git("status", "--porcelain") == ""
    assert run(toy, "commit", "toy", "-m", "x", "--no-verify")[0] == 0
    assert labels_at(toy)["h/000.jpg"] == "v"


# -- 4. DVC tells the truth ----------------------------------------------------------------
def test_a_shared_dvc_cache_is_found(toy, tmp_path):
    shared = tmp_path / "shared-cache"
    shutil.move(str(toy.root / ".dvc" / "cache"), shared)
    shutil.rmtree(toy.root / "datasets" / "toy" / "images")  # only the cache has them now
    toy.dvc("cache", "dir", str(shared))
    files = images.image_files(toy, versions.resolve(toy, "toy"))
    assert len(files) == 90
    assert all(str(p).startswith(str(shared)) for _, p in files.values())


def test_a_fresh_clone_pulls_with_dvc_and_reads_its_images(toy, tmp_path):
    remote = tmp_path / "dvc-remote"
    toy.dvc("remote", "add", "-d", "store", str(remote))
    toy.git("commit", "-qam", "A DVC remote")
    toy.dvc("push", "-q")
    sh(tmp_path, "git", "clone", "-q", str(toy.root), "clone")
    clone = Workspace.find(tmp_path / "clone")
    clone.dvc("pull", "-q")  # an error (the stage's outputs) would raise here
    assert len(images.image_files(clone, versions.resolve(clone, "toy"))) == 90
    stage = (clone.root / "datasets/toy/dvc.yaml").read_text()
    assert "cmd: ide stage" in stage
    assert all(f"- {dep}" in stage for dep in ("labels.csv", "images", "dataset.yaml",
                                                "checked.txt"))


def test_init_inside_a_git_repository_makes_a_subfolder_workspace(tmp_path, run):
    from conftest import write_imagefolder

    project = tmp_path / "project"
    project.mkdir()
    sh(project, "git", "init", "-q")
    (project / "README").write_text("code\n")
    sh(project, "git", "add", "README")
    sh(project, "git", "commit", "-qm", "code")
    assert run(None, "init", str(project / "data"))[0] == 0
    assert not (project / "data" / ".git").exists() and (project / "data" / ".dvc").is_dir()
    ws = Workspace.find(project / "data")
    assert ws.root == project / "data"
    src = write_imagefolder(tmp_path / "src", per_class=4)
    assert run(ws, "import", "toy", str(src))[0] == 0
    assert run(ws, "relabel", "toy", "h/000.png", "v")[0] == 0
    assert run(ws, "commit", "toy", "-m", "fix")[0] == 0
    assert labels_at(ws)["h/000.png"] == "v"
    tracked = sh(project, "git", "ls-files").stdout.split()
    assert "data/datasets/toy/labels.csv" in tracked and "data/.gitattributes" in tracked
    assert "(1 edits, 12 examples)" in run(ws, "log", "toy")[1]
    assert sh(project, "git", "status", "--porcelain").stdout == ""


# -- 5. results travel ---------------------------------------------------------------------
def test_results_travel_with_push_and_pull(team, run, tmp_path):
    import numpy as np

    from ide.learn import ranking, runs

    ann, bob = team
    version = versions.resolve(ann, "toy")
    probs = np.full((90, 3), 0.1)
    ids = sorted(version.labels)
    for n, i in enumerate(ids):
        probs[n, "dhv".index(version.labels[i])] = 0.8
    probs[ids.index("h/003.png")] = [0.9, 0.05, 0.05]  # one planted suspect
    np.save(tmp_path / "p.npy", probs)
    runs.load_predictions(ann, version, tmp_path / "p.npy")
    code, out, err = run(ann, "push")
    assert code == 0, err
    assert "1 trained version" in out

    assert runs.commit_metrics(bob, "toy", version.commit) is None
    code, out, err = run(bob, "pull")
    assert code == 0, err
    assert "1 new training result" in out
    log = run(bob, "log", "toy", "--json")[1]
    assert '"accuracy"' in log
    rows = ranking.suspects(bob, versions.resolve(bob, "toy"), top=1)
    assert rows[0]["id"] == "h/003.png"
    # Pushing again from bob adds nothing new, and ann's pull is a no-op for results.
    assert run(bob, "push")[0] == 0
    assert "0 new training result" in run(ann, "pull")[1]


def test_the_results_ref_holds_what_branches_reach_and_a_push_hashes_only_new_runs(
        team, run, tmp_path, monkeypatch):
    import numpy as np

    from ide.learn import runs
    from ide.ops import sync

    ann, _ = team

    def predict(ws, edit, seed):
        staged.relabel(ws, "toy", edit)
        commits.commit(ws, "toy", f"Edit {edit}")
        version = versions.resolve(ws, "toy")
        np.save(tmp_path / "p.npy", np.random.default_rng(seed).dirichlet([1] * 3, 90))
        runs.load_predictions(ws, version, tmp_path / "p.npy")
        return runs.run_key(version)

    kept = predict(ann, {"h/003.png": "v"}, 0)
    ann.git("checkout", "-q", "-b", "dead-end")
    dropped = predict(ann, {"v/004.png": "d"}, 1)
    ann.git("checkout", "-q", "master")
    ann.git("branch", "-q", "-D", "dead-end")  # nothing reaches that run any more
    assert run(ann, "push")[0] == 0
    shared = {p.split("/")[1] for p in ann.tree_blobs(sync.RESULTS_REF)}
    assert kept in shared and dropped not in shared

    hashed = []
    git = type(ann).git

    def spy(self, *args, **kw):
        if args[:1] == ("hash-object",):
            hashed.extend((kw.get("input") or "").split())
        return git(self, *args, **kw)

    monkeypatch.setattr(type(ann), "git", spy)
    newer = predict(ann, {"d/005.png": "h"}, 2)
    assert run(ann, "push")[0] == 0
    runs_hashed = {Path(f).parent.name for f in hashed if not f.endswith("index.json")}
    assert runs_hashed == {newer, kept} and not any(
        f.endswith("model.pt") or f.endswith("probs.npy") for f in hashed if kept in f)


def test_a_remote_trainer_trains_each_new_commit_and_laptops_see_the_results(team, run,
                                                                            toy, tmp_path):
    ann, bob = team  # bob's clone is the machine with the GPU
    for ws in (toy, ann):  # the images, pushed from where they were imported
        ws.dvc("remote", "add", "-d", "store", str(tmp_path / "dvc-remote"))
    toy.dvc("push", "-q")
    ann.git("commit", "-qam", "A DVC remote")
    quick(ann)
    staged.relabel(ann, "toy", {"h/003.png": "v"})
    first = commits.commit(ann, "toy", "One")
    staged.relabel(ann, "toy", {"v/004.png": "d"})
    second = commits.commit(ann, "toy", "Two")
    assert run(ann, "push")[0] == 0
    code, out, err = run(bob, "watch", "--remote", "origin", "--once", "--device", "cpu")
    assert code == 0, err
    assert out.count("toy at") == 1  # bob's first round trains HEAD
    staged.relabel(ann, "toy", {"d/005.png": "h"})
    third = commits.commit(ann, "toy", "Three")
    assert run(ann, "push")[0] == 0
    assert run(bob, "watch", "--remote", "origin", "--once")[0] == 0
    code, out, err = run(ann, "pull")
    assert code == 0, err
    from ide.learn import runs
    assert runs.commit_metrics(ann, "toy", second) is not None
    assert runs.commit_metrics(ann, "toy", third) is not None
    assert runs.commit_metrics(ann, "toy", first) is None  # not HEAD when the trainer started
    assert run(ann, "suspects", "toy", "--top", "3")[0] == 0
    # Only people's commits on the shared branch, every trained one in `dvc exp show`.
    subjects = ann.git("log", "--format=%s", "origin/master").splitlines()
    assert not [s for s in subjects if s.startswith(("Results of", "ide:", "Merge"))]
    shown = experiments(ann)
    assert {c for c in (second, third) if c in shown} == {second, third}
    assert shown[third]["ide-toy"] == runs.commit_metrics(ann, "toy", third)


def test_edits_staged_before_branches_are_kept(toy):
    from ide.repo import state

    old = state.path(toy, state.STAGED, "toy.json")
    state.write_json(old, {"labels": {"h/001.png": "v"}, "checked": []})
    assert [e["new"] for e in staged.read(toy, "toy")["labels"]] == ["v"]
    assert not old.exists()


# -- 6. results hang on their commit: DVC sees them, the branch holds people's commits -----
def quick(ws):
    """Commit params that train the toy set in a moment."""
    params = ws.root / "datasets/toy/params.yaml"
    data = yaml.safe_load(params.read_text())
    assert {"folds", "epochs", "min_steps"} <= data.keys()  # a rename would make this a no-op
    params.write_text(yaml.safe_dump({**data, "folds": 2, "epochs": 1, "min_steps": 1},
                                     sort_keys=False))
    ws.git("commit", "-qam", "Quick training")


def dvc_json(ws, *args):
    import json

    return json.loads(ws.dvc(*args, "--json"))


def experiments(ws) -> dict[str, dict]:
    """{baseline commit: {experiment name: metrics}} as `dvc exp show` reports them."""
    found = {}
    for row in dvc_json(ws, "exp", "show", "-A"):
        for exp in row.get("experiments") or []:
            for rev in exp["revs"]:
                found.setdefault(row["rev"], {})[rev["name"]] = \
                    rev["data"]["metrics"]["datasets/toy/metrics.json"]["data"]
    return found


def test_results_hang_on_their_commit_and_publish_is_explicit(toy, tmp_path, run):
    from ide.learn import runs
    from ide.ops import worker

    toy.dvc("remote", "add", "-d", "store", str(tmp_path / "dvc-remote"))
    toy.git("commit", "-qam", "A DVC remote")
    quick(toy)
    made = []
    for edit in ({"h/003.png": "v"}, {"v/004.png": "d"}):
        staged.relabel(toy, "toy", edit)
        made.append(commits.commit(toy, "toy", "An edit"))
        worker.watch(toy, once=True)  # trains HEAD and attaches its results
        assert toy.head() == made[-1]  # the branch holds people's commits only
        assert toy.git("status", "--porcelain") == ""
    shown = experiments(toy)
    for commit in made:
        assert shown[commit] == {"ide-toy": runs.commit_metrics(toy, "toy", commit)}
    # A commit that changes no dataset file is trained: results go by content.
    (toy.root / "README.md").write_text("notes\n")
    toy.git("add", "README.md")
    toy.git("commit", "-qm", "A README")
    code, out, _ = run(toy, "log", "toy")
    assert code == 0 and "not trained" not in run(toy, "status", "toy")[1]
    assert run(toy, "suspects", "toy")[0] == 0

    # Publishing is one explicit command: one commit, which `dvc repro -f` reproduces.
    code, out, err = run(toy, "publish", "toy")
    assert code == 0, err
    assert "trained again from scratch" in out  # the second commit's run was warm-started
    assert toy.git("log", "-1", "--format=%s").startswith("Results of toy at ")
    assert toy.git("rev-parse", "HEAD~1").strip() != made[-1]  # on top of the README
    assert "up to date" in toy.dvc("status")
    metrics = (toy.root / "datasets/toy/metrics.json").read_text()
    confusion = (toy.root / "datasets/toy/confusion.csv").read_text()
    toy.dvc("repro", "-f", "datasets/toy/dvc.yaml")
    assert (toy.root / "datasets/toy/metrics.json").read_text() == metrics
    assert (toy.root / "datasets/toy/confusion.csv").read_text() == confusion
    assert toy.git("status", "--porcelain") == ""
    code, _, err = run(toy, "publish", "toy")
    assert code == 1 and "already published" in err and err.count("\n") == 1

    # A clone sees each trained commit's numbers in `dvc exp show` after `ide pull`.
    toy.dvc("push", "-q")
    sh(tmp_path, "git", "clone", "-q", "--bare", str(toy.root), "remote.git")
    toy.git("remote", "add", "origin", str(tmp_path / "remote.git"))
    assert run(toy, "push")[0] == 0
    sh(tmp_path, "git", "clone", "-q", str(tmp_path / "remote.git"), "clone")
    clone = Workspace.find(tmp_path / "clone")
    code, out, err = run(clone, "pull")
    assert code == 0, err
    shown = experiments(toy)  # the published commit's run replaced its warm start
    assert shown[made[-1]] == {"ide-toy": runs.commit_metrics(toy, "toy", made[-1])}
    assert {c: e for c, e in experiments(clone).items() if c in made} == \
        {c: shown[c] for c in made}
    assert "up to date" in clone.dvc("status")
    # In the clone too, HEAD (the published commit) is trained by content.
    assert "model trained" in run(clone, "status", "toy")[1]
    assert run(clone, "suspects", "toy")[0] == 0


def test_a_clone_serves_and_warm_starts_from_pulled_results(team, run, toy, tmp_path):
    from streamlit.testing.v1 import AppTest

    from ide.learn import runs

    ann, bob = team
    dvc_remote_for(team, toy, tmp_path)
    quick(ann)
    staged.relabel(ann, "toy", {"h/003.png": "v"})
    first = commits.commit(ann, "toy", "One")
    runs.retrain(ann, versions.resolve(ann, "toy"))
    assert run(ann, "push")[0] == 0
    assert "1 new training result" in run(bob, "pull")[1]
    assert run(bob, "suspects", "toy", "--top", "1")[0] == 0

    import os
    os.environ["IDE_WORKSPACE"] = str(bob.root)
    try:
        at = AppTest.from_file(SCRIPT,
                               default_timeout=60).run()
    finally:
        del os.environ["IDE_WORKSPACE"]
    assert not at.exception
    assert "not trained" not in " ".join(str(w.value) for w in at.warning)
    assert [m.value for m in at.metric][2] == "90"

    staged.relabel(bob, "toy", {"v/004.png": "d"})
    commits.commit(bob, "toy", "Two")
    res = runs.retrain(bob, versions.resolve(bob, "toy"))
    assert res["warm_start"] == first  # from ann's model, pulled


def dvc_remote_for(team, toy, tmp_path):
    """Images pushed to a DVC remote that both clones use."""
    ann, _ = team
    for ws in (toy, ann):
        ws.dvc("remote", "add", "-d", "store", str(tmp_path / "dvc-remote"))
    toy.dvc("push", "-q")
    ann.git("commit", "-qam", "A DVC remote")
    ann.dvc("pull", "-q")


def test_a_trainer_follows_a_branch(team, run, toy, tmp_path):
    ann, bob = team
    dvc_remote_for(team, toy, tmp_path)
    quick(ann)
    assert run(ann, "push")[0] == 0
    ann.git("checkout", "-q", "-b", "exp")
    staged.relabel(ann, "toy", {"h/003.png": "v"})
    on_exp = commits.commit(ann, "toy", "On exp")
    assert run(ann, "push")[0] == 0
    code, _, err = run(bob, "watch", "--branch", "exp")
    assert code == 1 and "--branch goes with --remote" in err and err.count("\n") == 1
    code, out, err = run(bob, "watch", "--remote", "origin", "--branch", "exp", "--once")
    assert code == 0, err
    assert bob.branch() == "exp" and f"toy at {on_exp[:10]}" in out
    assert run(ann, "pull")[0] == 0
    assert ann.head() == on_exp  # the trainer added no commit to the branch
    assert "Results of" not in ann.git("log", "--format=%s", "--all")
    assert on_exp in experiments(ann)  # `dvc exp show` has its numbers


def test_a_trainer_tries_again_when_a_round_fails(team, run, monkeypatch):
    from ide.errors import IDEError
    from ide.ops import sync

    ann, bob = team
    real, calls, logged = sync.pull, [], []

    def moving(ws, remote="origin", **kw):  # the remote moves under the first round
        calls.append(remote)
        if len(calls) == 1:
            raise IDEError("git pull failed: the remote moved")
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(ws, remote, **kw)

    monkeypatch.setattr(sync, "pull", moving)
    monkeypatch.setattr(sync.time, "sleep", lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        sync.trainer(bob, "origin", log=logged.append)
    assert "the remote moved" in logged[0]["error"] and len(calls) == 3


def test_the_worker_pulls_by_itself_fast_forward_only(team, run, tmp_path):
    import numpy as np

    from ide.learn import runs
    from ide.ops import sync

    ann, bob = team
    staged.relabel(bob, "toy", {"h/003.png": "v"})
    commits.commit(bob, "toy", "Bob")
    version = versions.resolve(bob, "toy")
    np.save(tmp_path / "p.npy", np.full((90, 3), 1 / 3))
    runs.load_predictions(bob, version, tmp_path / "p.npy")
    assert run(bob, "push")[0] == 0

    code, out, err = run(ann, "watch", "--once", "--pull-every", "3600")
    assert code == 0, err
    assert "pulled from origin; 1 new training result" in out
    assert ann.head() == version.commit and runs.commit_metrics(ann, "toy", version.commit)
    assert "toy at" not in out  # nothing to train: the results came with the pull

    staged.relabel(bob, "toy", {"v/004.png": "d"})
    commits.commit(bob, "toy", "Bob again")
    assert run(bob, "push")[0] == 0
    staged.relabel(ann, "toy", {"d/005.png": "h"})
    mine = commits.commit(ann, "toy", "Ann, not pushed")
    with pytest.raises(Exception, match="git pull failed"):
        sync.pull(ann, ff_only=True)  # diverged: never a merge the user did not ask for
    assert ann.head() == mine and not ann.merging() and ann.git("status", "--porcelain") == ""


# -- 7. no git identity --------------------------------------------------------------------
def test_committing_commands_work_without_a_git_identity(team, run, monkeypatch, tmp_path):
    import numpy as np

    from ide.learn import runs

    for var in ("NAME", "EMAIL"):
        for role in ("AUTHOR", "COMMITTER"):
            monkeypatch.delenv(f"GIT_{role}_{var}", raising=False)
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "empty"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    ann, bob = team
    for ws in team:  # git may guess one from the host name: here it must not
        ws.git("config", "user.useConfigOnly", "true")
    assert run(bob, "relabel", "toy", "h/002.png", "v")[0] == 0
    assert run(bob, "commit", "toy", "-m", "Bob")[0] == 0
    assert run(bob, "push")[0] == 0
    assert run(ann, "relabel", "toy", "h/002.png", "d")[0] == 0
    assert run(ann, "commit", "toy", "-m", "Ann")[0] == 0
    code, _, err = run(ann, "pull")
    assert code == 1 and "git pull failed" in err  # a label conflict, not an identity error
    code, out, err = run(ann, "resolve", "toy", "h/002.png", "v")
    assert code == 0 and "merge committed" in out, err
    assert ann.git("log", "-1", "--format=%an <%ae>|%cn <%ce>") == \
        "ide <ide@localhost>|ide <ide@localhost>\n"
    np.save(tmp_path / "p.npy", np.full((90, 3), 1 / 3))
    runs.load_predictions(ann, versions.resolve(ann, "toy"), tmp_path / "p.npy")
    code, out, err = run(ann, "push")  # the results ref is committed too
    assert code == 0 and "1 trained version" in out, err
