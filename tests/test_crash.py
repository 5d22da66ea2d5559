"""Crashes, corrupt state and two writers, on real workspaces and real processes.

A corrupt `.ide/` file is moved aside and rebuilt; a stale `.git/index.lock` is named; a
truncated fold checkpoint is trained again; of two concurrent writers, the one that loses
the race gets a clear error and the one that reports success has its write.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from ide.learn import checkpoint, runs
from ide.ops import worker
from ide.repo import staged, state, versions

from conftest import ROOT
from test_cli import assert_one_line_error


# -- corrupt state files ---------------------------------------------------------------------
@pytest.mark.parametrize("kind, text", [
    ("queue", "{not json"), ("queue", '{"a": 1}'), ("queue", '[{"dataset": 3}]'),
    ("queue", "[1, 2]"), ("status", "[]"), ("status", '{"progress": {"fold": 1}}'),
    ("errors", '{"x": [1]}'), ("errors", "\x00\xff"),
])
def test_a_corrupt_worker_file_is_moved_aside_and_rebuilt(toy, run, kind, text):
    path = state.path(toy, state.WORKER, f"{kind}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    code, out, err = run(toy, "status", "toy")
    assert code == 0 and ", HEAD " in out
    assert f"warning: {path} was corrupt; moved to {kind}.json.bad" in err
    assert path.with_name(f"{kind}.json.bad").read_text() == text
    worker.scan(toy)  # the worker goes on: it queues HEAD again
    assert worker.model_status(toy, "toy")["state"] == "queued"


def test_a_corrupt_staged_file_or_run_index(toy, run):
    staged_file = state.path(toy, state.STAGED, "toy.json")
    staged_file.parent.mkdir(parents=True, exist_ok=True)
    staged_file.write_text('{"labels": [1], "checked": []}')
    index = state.path(toy, state.RUNS, "toy", "index.json")
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text('{"abc": 5}')
    code, out, err = run(toy, "status", "toy")
    assert code == 0 and "nothing staged" in out and err.count("warning") == 2
    assert run(toy, "relabel", "toy", "h/001.png", "v")[0] == 0
    assert staged.read(toy, "toy")["labels"][0]["new"] == "v"


def test_a_worker_survives_a_corrupt_queue(trained_ws):
    """The worker reads the queue, finds it corrupt, rebuilds it and goes on."""
    path = state.path(trained_ws, state.WORKER, "queue.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[{"dataset": "toy"}]')
    worker.watch(trained_ws, once=True)
    assert path.with_name("queue.json.bad").exists()
    assert worker.model_status(trained_ws, "toy")["state"] == "trained"


# -- git's index.lock -------------------------------------------------------------------------
def test_a_stale_index_lock_is_named(toy, run):
    assert run(toy, "relabel", "toy", "h/001.png", "v")[0] == 0
    lock = toy.root / ".git" / "index.lock"
    lock.write_text("")
    code, out, err = run(toy, "commit", "toy", "-m", "x")
    assert_one_line_error(code, out, err, str(lock))
    assert "no edit was lost" in err
    lock.unlink()
    assert staged.read(toy, "toy")["labels"][0]["new"] == "v"  # still staged
    assert run(toy, "commit", "toy", "-m", "x")[0] == 0


# -- fold checkpoints -------------------------------------------------------------------------
def test_a_truncated_fold_checkpoint_is_trained_again(trained_ws):
    version = versions.resolve(trained_ws, "toy")
    run_dir = runs.run_dir(trained_ws, "toy", runs.run_key(version))
    model = run_dir / "model.pt"
    states = checkpoint.load_states(model)
    partial = run_dir / "partial"
    checkpoint.save_fold(partial, 0, states[0], np.zeros((3, 3), dtype=np.float32))
    data = (partial / "fold0.pt").read_bytes()
    (partial / "fold0.pt").write_bytes(data[: len(data) // 2])  # as a crash in place left it
    assert list(partial.iterdir()) == [partial / "fold0.pt"]  # atomic: no temporary left
    assert checkpoint.load_folds(partial) == {}
    assert not (partial / "fold0.pt").exists()
    (run_dir / "metrics.json").unlink()  # the run is unfinished: retrain resumes it
    checkpoint.save_fold(partial, 1, states[1], np.zeros((3, 3), dtype=np.float32))
    (partial / "fold1.pt").write_bytes(b"PK\x03\x04 truncated")
    res = runs.retrain(trained_ws, version)
    assert res["metrics"]["accuracy"] > 0.8


# -- two writers ----------------------------------------------------------------------------
# A writer logs (filelock's debug line) when it finds the lock taken and waits.
_LOGGED = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); "
           "from ide.cli.main import main; sys.exit(main(sys.argv[1:]))")


def _race(ws, *commands):
    """Start COMMANDS while the workspace lock is held; let them in once all wait on it.
    Returns (exit code, stdout, stderr without the debug lines) of each."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with state.lock(ws):
        procs = [subprocess.Popen([sys.executable, "-c", _LOGGED, "-C", str(ws.root), *argv],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for argv in commands]
        for proc in procs:  # ends when it waits, or fails the test if it ends first
            for line in proc.stderr:
                if "not acquired" in line:
                    break
            else:
                pytest.fail(f"a writer ended before the lock: {proc.communicate()}")
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        err = "".join(x + "\n" for x in err.splitlines() if not x.startswith("DEBUG:"))
        results.append((p.returncode, out, err))
    return results


def test_two_relabels_of_one_example(toy):
    results = _race(toy, ["relabel", "toy", "h/001.png", "v"],
                    ["relabel", "toy", "h/001.png", "d"])
    won = [n for n, r in enumerate(results) if r[0] == 0]
    assert len(won) == 1, results
    code, out, err = results[1 - won[0]]
    assert_one_line_error(code, out, err, "was changed by someone else")
    assert staged.read(toy, "toy")["labels"][0]["new"] == ["v", "d"][won[0]]


def test_two_commits_at_once(toy):
    staged.relabel(toy, "toy", {"h/001.png": "v", "v/001.png": "d"})
    head = toy.head()
    results = _race(toy, ["commit", "toy", "-m", "ann"], ["commit", "toy", "-m", "bob"])
    # One commit is made; the other process says that its edits went into that commit.
    assert [r[0] for r in results] == [0, 0], results
    assert toy.git("rev-parse", "HEAD^").strip() == head
    assert sorted(r[2].count("already committed by") for r in results) == [0, 1], results
    assert any(toy.head()[:10] in r[2] for r in results)
    assert versions.resolve(toy, "toy").labels["h/001.png"] == "v"
