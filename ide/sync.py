"""`ide push` and `ide pull`: a workspace shared through its remotes, training results too.

Labels travel by git (the current branch), images by DVC (when a DVC remote is set), and
training results (each run's probabilities, run record and metrics, `runs.shared_results`)
as the tree of one git ref, `refs/ide/results`, that lives beside the branches and never
touches the working tree. Results are keyed by what they depend on, so results from two
machines never disagree: a push first takes in the remote's, then pushes the union.
"""

from __future__ import annotations

from . import runs, store
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
