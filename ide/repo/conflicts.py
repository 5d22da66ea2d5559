"""The label conflicts that a git merge, rebase, cherry-pick or revert left in a dataset's
labels.csv, and settling them.

The merge driver (`ide.data.mergedriver`) merges edits to different examples by itself;
an example both sides changed to different labels is a conflict, which the driver records
in the git folder (so a `git add` cannot erase it, and the hook it installs refuses a commit
until it is settled). `settle` writes the picked labels into the working labels.csv and
notes them in that record; once none is left it marks the file resolved (`git add`) and,
if no other file is unmerged, finishes what git was doing: it commits the merge (a merge
commit has two parents, which `commits.committing` does not make) or goes on with the
rebase, cherry-pick or revert.
"""

from __future__ import annotations

import json

from ide.data import formats as ds
from ide.data import mergedriver
from ide.errors import IDEError, InvalidInput, NothingToDo
from ide.repo import state, versions
from ide.repo.workspace import Workspace


def _record(ws: Workspace, name: str) -> dict | None:
    """The driver's record of NAME's conflicts, while git is still in the middle of what
    made them; None otherwise."""
    return mergedriver.open_conflicts(ws.git_path(".")).get(name)


def unsettled(ws: Workspace, name: str) -> list[dict]:
    """Examples that a merge (rebase, cherry-pick, revert) changed to two labels and that
    are not settled yet: [{"id", "base", "ours", "theirs"}] (None: no such example on that
    side). During a rebase "ours" is the branch being rebased onto, "theirs" your commit."""
    record = _record(ws, name)
    return [] if record is None else mergedriver.unsettled(record)


def settle(ws: Workspace, name: str, picks: dict[str, str]) -> dict:
    """Settle label conflicts {id: label}: each label is written into the working
    labels.csv; once every conflict of NAME is settled the file is marked resolved (`git
    add`) and, if no other file is unmerged, git's operation is finished.
    -> {"left": [ids], "commit": id|None, "operation": "merge"|"rebase"|...,
    "unmerged": whether other files are still unmerged}."""
    with state.lock(ws):
        record = _record(ws, name)
        if record is None:
            raise NothingToDo(f"no label conflicts in {name!r}")
        ids = {c["id"] for c in record["conflicts"]}
        classes = versions.resolve(ws, name).classes
        for i, label in picks.items():
            if i not in ids:
                raise InvalidInput(f"{i!r} is not a label conflict of {name!r} "
                                   f"(conflicts: {', '.join(sorted(ids)) or 'none'})")
            ds.check_label(label, classes)
        rel = f"{ds.dataset_dir(name)}/labels.csv"
        labels = ds.parse_labels((ws.root / rel).read_text(), source=rel)
        record["resolved"] = {**record["resolved"], **picks}
        state.write_atomic(ws.root / rel, ds.format_labels({**labels, **picks}))
        path = mergedriver.record_path(ws.git_path("."), name)
        left = sorted(ids - set(record["resolved"]))
        operation = ws.operation()
        if left:
            state.write_atomic(path, json.dumps(record).encode())
            return {"left": left, "commit": None, "operation": operation, "unmerged": True}
        ws.git("add", "--", rel)
        path.unlink(missing_ok=True)
        if ws.git("ls-files", "-u").strip():
            return {"left": [], "commit": None, "operation": operation, "unmerged": True}
        return {"left": [], "commit": _finish(ws, operation), "operation": operation,
                "unmerged": False}


def _finish(ws: Workspace, operation: str | None) -> str | None:
    """Finish OPERATION once nothing is unmerged: the new HEAD, or None where git stopped
    again (a rebase's next commit has conflicts of its own)."""
    env = {**ws.identity(), "GIT_EDITOR": "true"}  # keep git's message, ask nothing
    if operation == "merge":
        ws.git("commit", "-q", "--no-edit", env=env)
    elif operation in ("rebase", "cherry-pick", "revert"):
        try:
            ws.git(operation, "--continue", env=env)
        except IDEError:
            if ws.operation() is None:
                raise
            return None  # stopped at a later commit: `ide status` shows what is left
    return ws.head()
