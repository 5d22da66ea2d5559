"""`ide push`, `ide pull` and `ide watch --remote`: a workspace shared through its remotes,
training results too.

Labels travel by git (the current branch), images by DVC (when a DVC remote is set), and
training results (each run's probabilities, run record and metrics, `runs.shared_results`)
as the tree of one git ref, `refs/ide/results`, that lives beside the branches and never
touches the working tree. Results are keyed by what they depend on, so results from two
machines never disagree: a push first takes in the remote's, then pushes the union.
`trainer` is a machine (with a GPU, say) that pulls, trains every new commit and pushes
the results, in a loop.
"""

from __future__ import annotations

import time

from . import runs, store
from .errors import UnknownDataset
from .workspace import Workspace

RESULTS_REF = "refs/ide/results"


def _take_results(ws: Workspace, remote: str) -> int:
    """Fetch REMOTE's results ref (if it has one) and add what is new here."""
    ws.git("fetch", "-q", remote, f"+{RESULTS_REF}:{RESULTS_REF}", check=False)
    by_name: dict[str, dict[str, bytes]] = {}
    for path, data in ws.read_tree(RESULTS_REF).items():
        name, _, rest = path.partition("/")
        by_name.setdefault(name, {})[rest] = data
    return sum(runs.add_results(ws, name, files) for name, files in by_name.items()
               if name in store.datasets(ws))


def _dvc_remote(ws: Workspace) -> bool:
    return bool(ws.dvc("remote", "list").strip())


def pull(ws: Workspace, remote: str = "origin") -> dict:
    """git pull (the current branch from REMOTE), dvc pull, and the training results:
    {"results": runs added}."""
    branch = ws.branch()
    ws.git("pull", "-q", "--no-edit", remote, *([branch] if branch else []))
    added = _take_results(ws, remote)
    if _dvc_remote(ws):
        ws.dvc("pull", "-q")
    return {"results": added}


def push(ws: Workspace, remote: str = "origin") -> dict:
    """dvc push, git push (the current branch to REMOTE), and the training results of
    every dataset (the remote's merged in first): {"results": runs shared}."""
    if _dvc_remote(ws):
        ws.dvc("push", "-q")
    ws.git("push", "-q", remote, "HEAD")
    _take_results(ws, remote)
    files = {f"{name}/{rel}": path for name in store.datasets(ws)
             for rel, path in runs.shared_results(ws, name).items()}
    ws.save_tree(RESULTS_REF, files, "ide: training results")
    if files:
        ws.git("push", "-q", remote, f"{RESULTS_REF}:{RESULTS_REF}")
    return {"results": sum(rel.endswith("/metrics.json") for rel in files)}


def _untrained(ws: Workspace, commits: list[str]):
    """(name, version) of every dataset at each of COMMITS that has no results yet."""
    for commit in commits:
        for name in store.datasets(ws):
            try:
                version = store.resolve(ws, name, commit)
            except UnknownDataset:
                continue
            if runs.metrics(ws, name, commit) is None:
                yield name, version


def trainer(ws: Workspace, remote: str = "origin", *, device: str = "cpu",
            interval: float = 60.0, once: bool = False, log=None) -> None:
    """Pull REMOTE's branch, train each new commit of it (and HEAD at the start), push the
    results; every INTERVAL seconds until interrupted (with ONCE, one round)."""
    seen = None
    while True:
        pull(ws, remote)
        head = ws.head()
        new = [head] if seen is None else \
            ws.git("rev-list", "--reverse", f"{seen}..{head}").split()
        seen = head
        trained = 0
        for name, version in _untrained(ws, new):
            res = runs.retrain(ws, version, device=device)
            trained += 1
            if log:
                log({"dataset": name, **res})
        if trained:
            push(ws, remote)
        if once:
            return
        time.sleep(interval)
