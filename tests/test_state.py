"""Local state: paths create nothing, writes are atomic, locks are re-entrant per thread
and exclusive between threads."""

import threading
import time

import pytest

from ide.errors import InvalidInput
from ide.ops import worker
from ide.repo import staged, state


def test_asking_for_a_path_creates_nothing(ws):
    path = state.path(ws, state.RUNS, "toy", "index.json")
    assert not path.parent.exists()
    state.write_json(path, {"a": 1})
    assert state.read_json(path, None) == {"a": 1}
    state.write_atomic(path.with_name("b.bin"), b"\x00\x01")
    assert path.with_name("b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.bin", "index.json"]


def test_a_lock_is_reentrant_in_a_thread_and_exclusive_between_threads(ws):
    got = []

    def other():
        with state.lock(ws):
            got.append(time.time())
    with state.lock(ws):
        with state.lock(ws):  # an operation that locks calls another that does
            pass
        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.3)
        assert not got and state.held_elsewhere(ws, "workspace")
    t.join()
    assert got and not state.held_elsewhere(ws, "workspace")


def test_a_running_worker_is_seen(ws):
    assert not worker.running(ws)
    with state.lock(ws, "worker-running", timeout=0):
        assert worker.running(ws)
    assert not worker.running(ws)


def test_taking_a_checked_mark_back_keeps_the_label_edit(toy):
    staged.relabel(toy, "toy", {"h/001.png": "v"}, owner="Ada")
    staged.mark_checked(toy, "toy", ["h/001.png"], owner="Ada")
    staged.unmark_checked(toy, "toy", ["h/001.png"], owner="Ada")
    mine = staged.read(toy, "toy", owner="Ada")
    assert mine["checked"] == [] and [e["new"] for e in mine["labels"]] == ["v"]
    staged.mark_checked(toy, "toy", ["h/002.png"], owner="Bob")
    with pytest.raises(InvalidInput, match="no checked mark of yours"):
        staged.unmark_checked(toy, "toy", ["h/002.png"], owner="Ada")
