"""The retrain-on-commit worker: every commit that lands gets trained, without asking.

It polls HEAD, so it sees commits made by `ide commit`, by plain `git commit`, or arriving
by `git pull` or a merge. Each dataset whose HEAD version is not trained is queued (in order
of arrival); a burst of commits coalesces into one run on the newest, because only HEAD is
queued and a newer HEAD replaces an older queued one. The queue lives in the workspace's state
and an item leaves it only when its run has finished, so a killed worker's next start
finishes the job (resuming from the folds already saved). A finished training is attached
to its commit as a DVC experiment (`experiments.attach`): `dvc exp show` lists its metrics, and
no commit is added to the branch.
With PULL_EVERY (`ide serve --pull-every`, `ide watch --pull-every`) it also pulls from a
remote that often, fast-forward only: a teammate's commits and a trainer's results arrive
by themselves, and a merge is never made without the user.
"""

from __future__ import annotations

import os
import time

from filelock import Timeout

from ide.errors import IDEError
from ide.learn import runs
from ide.ops import experiments, sync
from ide.repo import state, versions
from ide.repo.state import read_json, write_json
from ide.repo.workspace import Workspace

_RUNNING = "worker-running"  # the lock a live worker holds (released when it dies)


def _paths(ws: Workspace) -> dict:
    return {k: state.path(ws, state.WORKER, f"{k}.json") for k in ("queue", "status", "errors")}


def _is_job(q) -> bool:
    return isinstance(q.get("dataset"), str) and isinstance(q.get("commit"), str)


def _is_progress(p) -> bool:
    return (isinstance(p, dict) and all(isinstance(v, (int, float)) for v in p.values())
            and ("fold" not in p or "folds" in p) and ("done" not in p or "total" in p))


def _read(ws: Workspace, kind: str):
    """The worker's queue, status or errors, validated (a bad file is moved aside)."""
    default, valid = {
        "queue": ([], lambda d: all(isinstance(q, dict) and _is_job(q) for q in d)),
        "status": ({}, lambda d: _is_progress(d.get("progress", {}))),
        "errors": ({}, lambda d: all(isinstance(v, str) for v in d.values())),
    }[kind]
    return read_json(_paths(ws)[kind], default, valid=valid)


def running(ws: Workspace) -> bool:
    """Whether a worker holds this workspace's worker lock."""
    return state.held_elsewhere(ws, _RUNNING)


def scan(ws: Workspace) -> list[dict]:
    """Queue every dataset whose HEAD is neither trained nor failed; returns the queue."""
    p = _paths(ws)
    head = ws.head()
    with state.lock(ws, "worker-queue"):
        queue = _read(ws, "queue")
        errors = _read(ws, "errors")
        for name in versions.datasets(ws) if head else []:
            if runs.run_of(ws, name, head) or f"{name}@{head}" in errors:
                continue
            if any(q["dataset"] == name and q["commit"] == head for q in queue):
                continue
            # Coalesce: a newer HEAD replaces the dataset's older queued commit.
            queue = [q for q in queue if q["dataset"] != name]
            queue.append({"dataset": name, "commit": head, "queued": time.time()})
        write_json(p["queue"], queue)
    return queue


def run_next(ws: Workspace, *, device: str = "cpu") -> dict | None:
    """Train the first queued version; returns what it did, or None if nothing was queued."""
    p = _paths(ws)
    queue = _read(ws, "queue")
    if not queue:
        return None
    job = queue[0]
    last = [0.0]

    def progress(info):
        if time.time() - last[0] > 0.5:
            last[0] = time.time()
            write_json(p["status"], {**job, "pid": os.getpid(), "progress": info})

    progress({"fraction": 0.0})
    try:
        version = versions.resolve(ws, job["dataset"], job["commit"])
        result = runs.retrain(ws, version, progress=progress, device=device)
    except IDEError as exc:
        result = {"commit": job["commit"], "error": str(exc)}
    except Exception as exc:  # a bug or a broken image must not kill the worker
        result = {"commit": job["commit"], "error": f"{type(exc).__name__}: {exc}"}
    if "error" not in result:
        try:  # DVC's view of the results: an experiment on the commit, not a commit
            result["experiment"] = experiments.attach(ws, version)
        except Exception as exc:  # the results stay in the run store; DVC just lags
            result["attach_error"] = str(exc) if isinstance(exc, IDEError) else \
                f"{type(exc).__name__}: {exc}"
    with state.lock(ws, "worker-queue"):
        if "error" in result:
            errors = _read(ws, "errors")
            errors[f"{job['dataset']}@{job['commit']}"] = result["error"]
            write_json(p["errors"], errors)
        queue = [q for q in _read(ws, "queue") if q != job]
        write_json(p["queue"], queue)
        write_json(p["status"], {"pid": os.getpid()})
    return {**job, **result}


def _pull(ws: Workspace, remote: str, log) -> None:
    try:
        got = sync.pull(ws, remote, ff_only=True)
    except IDEError as exc:  # offline, or the branch diverged: try again next time
        got = {"error": f"pull from {remote}: {exc}"}
    if log:
        log({"pulled": remote, **got})


def watch(ws: Workspace, *, interval: float = 1.0, once: bool = False, device: str = "cpu",
          log=None, pull_every: float | None = None, remote: str = "origin") -> None:
    """Run the worker until interrupted (or, with ONCE, until the queue is empty); with
    PULL_EVERY, pull from REMOTE that many seconds apart (and once at the start)."""
    try:
        alive = state.lock(ws, _RUNNING, timeout=0).acquire()
    except Timeout:
        pid = _read(ws, "status").get("pid")
        raise IDEError(f"a worker is already running on this workspace (pid {pid})") from None
    with alive:  # released when the loop ends, or the process dies
        write_json(_paths(ws)["status"], {"pid": os.getpid()})
        seen, pulled = None, None
        while True:
            if pull_every and (pulled is None or time.time() - pulled >= pull_every):
                pulled = time.time()
                _pull(ws, remote, log)
            head = ws.head()
            if head != seen or _read(ws, "queue"):
                seen = head
                scan(ws)
                done = run_next(ws, device=device)
                if done and log:
                    log(done)
                if done:
                    continue
            if once:
                return
            time.sleep(interval)


def _progress(prog: dict) -> dict:
    """The worker's progress PROG as text, fraction, rate and phase."""
    text = (f"fold {prog['fold']}/{prog['folds']}, {prog['fraction']:.0%}"
            if "fold" in prog else f"embedding {prog['done']}/{prog['total']} images"
            if "done" in prog else "starting")
    return {"progress": text, "fraction": prog.get("fraction", 0.0), "rate": prog.get("rate"),
            "phase": "folds" if "fold" in prog else "embedding"}


def training_now(ws: Workspace) -> dict | None:
    """What a live worker is training now: {"dataset", "commit", "progress", "fraction",
    "rate", "phase"}; None when no worker runs or it is idle."""
    status = _read(ws, "status")
    if not (_is_job(status) and running(ws)):
        return None
    return {"dataset": status["dataset"], "commit": status["commit"],
            **_progress(status.get("progress") or {})}


def model_status(ws: Workspace, name: str, commit: str | None = None) -> dict:
    """Whether the model for COMMIT (default HEAD) is `trained`, `training` (with progress:
    text, fraction and rate of its phase), `queued` (with its position in the queue, and
    what the worker trains before it as "now"), `failed` (with the error) or `not trained`.
    A HEAD that a live worker has not queued yet, because it is training an older commit
    (a burst of commits), is `queued` too: the worker queues HEAD when that run ends."""
    commit = commit or ws.head()
    if runs.run_of(ws, name, commit):
        return {"state": "trained", "commit": commit}
    now = training_now(ws)
    if now and now["dataset"] == name and now["commit"] == commit:
        return {"state": "training", "commit": commit,
                **{k: v for k, v in now.items() if k not in ("dataset", "commit")}}
    queue = [q for q in _read(ws, "queue") if not (
        now and (q["dataset"], q["commit"]) == (now["dataset"], now["commit"]))]
    place = next((n for n, q in enumerate(queue) if q["dataset"] == name
                  and q["commit"] == commit), None)
    error = _read(ws, "errors").get(f"{name}@{commit}")
    if place is None and now and not error and commit == ws.head():
        # The worker scans HEAD after this run: it coalesces NAME's queued commits into it.
        place = sum(q["dataset"] != name for q in queue)
    if place is not None:
        # Position 1 is next; "now" is what the worker trains before it, if anything.
        return {"state": "queued", "commit": commit, "worker": now is not None or running(ws),
                "position": place + 1, "training": now and now["dataset"], "now": now,
                **({"progress": f"training {now['dataset']}@{now['commit'][:8]} first: "
                                f"{now['progress']}"} if now else {})}
    if error:
        return {"state": "failed", "commit": commit, "error": error}
    return {"state": "not trained", "commit": commit, "worker": running(ws)}
