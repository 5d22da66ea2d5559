"""A teammate with push rights (docs/SECURITY.md): a crafted model file never runs code,
wherever ide reads it, and a crafted results ref is refused whole, in one line, before
anything here changes; the worker that meets one keeps running."""

import hashlib
import io
import json

import numpy as np
import pytest

from ide.learn import checkpoint, runs
from ide.ops.sync import RESULTS_REF
from ide.repo import commits, staged, state, versions

from test_cli import assert_one_line_error
from test_team import clones


class Payload:
    """What a crafted pickle runs when it is unpickled: here it only creates MARKER."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted_model(path, marker):
    import torch

    torch.save({"states": [Payload(marker)], "classes": ["d", "h", "v"]}, path)


@pytest.fixture
def team(toy, tmp_path):
    """(ann, mallory): two clones of one remote; ann has results of HEAD, pushed."""
    ann, mallory = clones(toy, tmp_path)
    version = versions.resolve(ann, "toy")
    probs = np.full((90, 3), 0.1)
    for n, i in enumerate(sorted(version.labels)):
        probs[n, "dhv".index(version.labels[i])] = 0.8
    np.save(tmp_path / "p.npy", probs)
    runs.load_predictions(ann, version, tmp_path / "p.npy")
    ann.git("push", "-q", "origin", "HEAD")
    return ann, mallory


def store_of(ws):
    """Everything ide keeps of its runs here, and where the branch and results ref are."""
    root = state.path(ws, state.RUNS)
    files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}
    ref = ws.git("rev-parse", "-q", "--verify", RESULTS_REF, check=False)
    return files, ref, ws.head()


def push_ref(ws, tmp_path, files: dict[str, bytes]):
    """Force the remote's results ref to a tree of FILES {path: content}, as anyone who
    can push can."""
    on_disk = {}
    for n, (path, data) in enumerate(files.items()):
        on_disk[path] = tmp_path / f"blob{n}"
        on_disk[path].write_bytes(data)
    ws.save_tree(RESULTS_REF, on_disk, "crafted")
    ws.git("push", "-q", "-f", "origin", f"{RESULTS_REF}:{RESULTS_REF}")


def test_a_crafted_fold_file_is_trained_again_never_run(tmp_path):
    import torch

    marker = tmp_path / "ran"
    torch.save({"state": Payload(marker), "probs": torch.zeros(2, 3)}, tmp_path / "fold0.pt")
    torch.save({"state": {"w": torch.ones(2)}, "probs": np.zeros((2, 3))},
               tmp_path / "fold1.pt")  # an older version's numpy probabilities
    checkpoint.save_fold(tmp_path, 2, {"w": torch.ones(2)}, np.full((2, 3), 0.5, np.float32))
    done = checkpoint.load_folds(tmp_path)
    assert not marker.exists()
    assert list(done) == [2] and np.all(done[2][1] == 0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold2.pt"]


def test_a_crafted_model_file_is_refused_in_one_line(trained_ws, run, tmp_path):
    marker = tmp_path / "ran"
    model = runs.model_file(trained_ws, versions.resolve(trained_ws, "toy"))
    crafted_model(model, marker)
    assert_one_line_error(*run(trained_ws, "duplicates", "toy"),
                          f"{model}: not a model file ide can load safely (it would call ")
    staged.relabel(trained_ws, "toy", {"h/003.png": "h"})
    commits.commit(trained_ws, "toy", "A fix: the next training warm-starts from model.pt")
    assert_one_line_error(*run(trained_ws, "retrain", "toy"),
                          f"{model}: not a model file ide can load safely")
    assert not marker.exists()


def test_a_crafted_model_pushed_by_a_teammate_is_refused_by_pull(team, run, tmp_path):
    ann, mallory = team
    marker = tmp_path / "ran"
    staged.relabel(mallory, "toy", {"h/003.png": "v"})
    commits.commit(mallory, "toy", "Newest, so the next commit warm-starts from it")
    version = versions.resolve(mallory, "toy")
    np.save(tmp_path / "q.npy", np.full((90, 3), 1 / 3))
    runs.load_predictions(mallory, version, tmp_path / "q.npy")
    crafted_model(runs.finished_run(mallory, version) / "model.pt", marker)
    assert run(mallory, "push")[0] == 0
    before = store_of(ann)
    assert_one_line_error(*run(ann, "pull"), f"/{runs.run_key(version)}/model.pt: not a "
                          "model file ide can load safely (it would call ")
    assert store_of(ann) == before and not marker.exists()


def bad_refs(ann, marker):
    """{case: the files of a crafted results ref}, each beside ann's genuine results."""
    key = runs.trained(ann, "toy")[ann.head()]
    genuine = ann.read_tree(RESULTS_REF)
    run_files = {f: genuine[f"toy/{key}/{f}"] for f in ("run.json", "probs.npy",
                                                        "metrics.json")}
    info = json.loads(run_files["run.json"])
    other = "f" * 20  # a run not here, so its files would be taken

    def with_run(**changed):
        files = {**run_files, **{f: v if isinstance(v, bytes) else json.dumps(v).encode()
                                 for f, v in changed.items()}}
        return {**genuine, **{f"toy/{other}/{f}": data for f, data in files.items()}}

    pickled = io.BytesIO()
    np.save(pickled, np.array([Payload(marker)], dtype=object), allow_pickle=True)

    return {
        "index.json a list": {**genuine, "toy/index.json": b"[]"},
        "an index key with ..": {**genuine, "toy/index.json": json.dumps(
            {"../../../etc": key}).encode()},
        "an index value with ..": {**genuine, "toy/index.json": json.dumps(
            {ann.head(): "../" + key}).encode()},
        "a path with a backslash": {**genuine, f"toy/{key}\\..\\x/run.json": b"{}"},
        "a file ide never pushes": {**genuine, f"toy/{key}/hook.sh": b"echo hi"},
        "run.json of wrong types": with_run(**{"run.json": {**info, "ids": 5,
                                                            "finished": "soon"}}),
        "metrics ide log cannot show": with_run(**{"metrics.json": {"accuracy": "all"}}),
        "probabilities holding a pickle": with_run(**{"probs.npy": pickled.getvalue()}),
    }


@pytest.mark.parametrize("case", ["index.json a list", "an index key with ..",
                                  "an index value with ..", "a path with a backslash",
                                  "a file ide never pushes", "run.json of wrong types",
                                  "metrics ide log cannot show",
                                  "probabilities holding a pickle"])
def test_a_bad_results_ref_is_one_line_and_changes_nothing(team, run, tmp_path, case):
    ann, mallory = team
    assert run(ann, "push")[0] == 0  # ann's results are on the remote
    staged.relabel(mallory, "toy", {"h/003.png": "v"})
    commits.commit(mallory, "toy", "A commit that a refused pull must not bring")
    mallory.git("push", "-q", "origin", "HEAD")
    push_ref(mallory, tmp_path, bad_refs(ann, tmp_path / "ran")[case])
    before = store_of(ann)
    assert_one_line_error(*run(ann, "pull"), f"results ref {RESULTS_REF} of origin: toy/")
    assert store_of(ann) == before
    assert_one_line_error(*run(ann, "push"), f"results ref {RESULTS_REF} of origin: toy/")
    assert store_of(ann) == before
    code, out, err = run(ann, "log", "toy")
    assert code == 0 and "acc 1.0000" in out, err
    assert not (tmp_path / "ran").exists()


def test_the_worker_meeting_a_bad_results_ref_says_so_and_keeps_running(team, run, tmp_path):
    ann, mallory = team
    push_ref(mallory, tmp_path, {"toy/index.json": b"[]"})
    before = store_of(ann)
    code, out, err = run(ann, "watch", "--once", "--pull-every", "3600")
    assert code == 0, err
    refused = [line for line in out.splitlines() if "results ref" in line]
    assert len(refused) == 1 and refused[0].startswith("pull from origin: results ref")
    assert store_of(ann) == before
