"""The label conflicts a `git merge` left in a dataset's labels.csv, and settling them.

The merge driver (`ide.data.mergedriver`) merges edits to different examples by itself;
an example both sides changed to different labels is a conflict. They are listed from
git's index (the base, ours and theirs of labels.csv); `settle` writes the picked labels
into the working labels.csv and, once none is left and no other file is unmerged, commits
the merge with `git commit` itself: a merge commit has two parents, which
`commits.committing` does not make. The picks so far are kept in the state's `merge/`
folder, its only writer.
"""

from __future__ import annotations

from pathlib import Path

from ide.data import formats as ds
from ide.data import mergedriver
from ide.errors import InvalidInput, NothingToDo
from ide.repo import state, versions
from ide.repo.workspace import Workspace


def _merge_path(ws: Workspace, name: str) -> Path:
    return state.path(ws, state.MERGE, f"{name}.json")


def _unmerged(ws: Workspace, name: str) -> dict[str, str]:
    """{stage: blob id} of labels.csv's unmerged index entries (empty: not unmerged)."""
    out = ws.git("ls-files", "-u", "--", f"{ds.dataset_dir(name)}/labels.csv")
    return {line.split()[2]: line.split()[1] for line in out.splitlines() if line.strip()}


def _merge_state(ws: Workspace, name: str):
    """(unmerged stages, conflicts {"id","base","ours","theirs"}, resolutions so far)."""
    stages = _unmerged(ws, name) if ws.merging() else {}
    if not stages:
        return stages, [], {}
    texts = [ws.git("cat-file", "blob", stages[k]) if k in stages else ""
             for k in ("1", "2", "3")]
    _, conflicts = mergedriver.merge_file(f"{ds.dataset_dir(name)}/labels.csv", *texts)
    saved = state.read_json(_merge_path(ws, name), {})
    done = saved.get("resolved", {}) if saved.get("stages") == stages else {}
    return stages, conflicts, done


def unsettled(ws: Workspace, name: str) -> list[dict]:
    """Examples that a git merge changed to two labels and that are not resolved yet:
    [{"id", "base", "ours", "theirs"}] (None: no such example on that side)."""
    _, conflicts, done = _merge_state(ws, name)
    return [c for c in conflicts if c["id"] not in done]


def settle(ws: Workspace, name: str, picks: dict[str, str]) -> dict:
    """Settle merge conflicts {id: label}: the label is written into the working labels.csv;
    once every conflict of NAME is settled the file is marked resolved (`git add`), and if
    no other file is unmerged the merge is committed. -> {"left": [ids], "commit": id|None}.
    """
    with state.lock(ws):
        stages, conflicts, done = _merge_state(ws, name)
        if not stages:
            raise NothingToDo(f"no merge conflicts in {name!r}")
        ids = {c["id"] for c in conflicts}
        classes = versions.resolve(ws, name).classes
        for i, label in picks.items():
            if i not in ids:
                raise InvalidInput(f"{i!r} is not a merge conflict of {name!r} "
                                   f"(conflicts: {', '.join(sorted(ids)) or 'none'})")
            ds.check_label(label, classes)
        rel = f"{ds.dataset_dir(name)}/labels.csv"
        labels = ds.parse_labels((ws.root / rel).read_text(), source=rel)
        done = {**done, **picks}
        state.write_atomic(ws.root / rel, ds.format_labels({**labels, **picks}))
        state.write_json(_merge_path(ws, name), {"stages": stages, "resolved": done})
        left = sorted(ids - set(done))
        if left:
            return {"left": left, "commit": None}
        ws.git("add", "--", rel)
        _merge_path(ws, name).unlink(missing_ok=True)
        if ws.git("ls-files", "-u").strip():
            return {"left": [], "commit": None}
        ws.git("commit", "-q", "--no-edit", env=ws.identity())
        return {"left": [], "commit": ws.head()}
