"""Staged edits: label changes and "checked" marks, kept on disk until they are committed.

They live in one small JSON file per dataset and branch in the workspace's state
(`ide.state.STAGED`), written atomically under the workspace lock, so they survive a crash
or a restart and two sessions cannot lose each other's edits; edits made on one branch are
not seen on another. Each label edit records the label it was made against (its base): when
HEAD moves under it (a pull, a merge, a checkout, another session's commit) and changes that
example to a third label, the edit becomes a conflict (yours, theirs) that blocks the
commit until it is relabelled again or unstaged. `ide.commits.commit` turns the edits into
a commit and then clears them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from . import dataset as ds
from . import state, store
from .errors import Conflict, InvalidInput
from .store import Version
from .workspace import Workspace


def _path(ws: Workspace, name: str) -> Path:
    # One folder per branch ("HEAD" when detached), its name quoted into one path part.
    return state.path(ws, state.STAGED, quote(ws.branch() or "HEAD", safe=""),
                      f"{name}.json")


def _load(ws: Workspace, name: str) -> dict:
    path, before = _path(ws, name), state.path(ws, state.STAGED, f"{name}.json")
    if before.is_file() and not path.exists():  # staged before edits were kept per branch
        path.parent.mkdir(parents=True, exist_ok=True)
        before.replace(path)
    stage = state.read_json(path, {})
    return {"labels": stage.get("labels", {}), "base": stage.get("base", {}),
            "checked": stage.get("checked", [])}


def read(ws: Workspace, name: str, version: Version | None = None) -> dict:
    """The staged edits against HEAD (VERSION, if already resolved):
    {"labels": [{"id","old","new"}], "checked": [ids],
     "conflicts": [{"id","base","yours","theirs"}]}.

    Edits that HEAD already has (say, after a crash right after a commit) are not listed.
    An edit whose example HEAD changed since it was staged (HEAD's label is neither its base
    nor its new label) is listed under "conflicts" only: "theirs" is HEAD's label.
    """
    version = version or store.resolve(ws, name)
    head = version.labels
    stage = _load(ws, name)
    edits, conflicts = [], []
    for i, new in stage["labels"].items():
        now, base = head.get(i), stage["base"].get(i, head.get(i))
        if now == new:
            continue
        if now != base:
            conflicts.append({"id": i, "base": base, "yours": new, "theirs": now})
        else:
            edits.append({"id": i, "old": now, "new": new})
    return {"labels": edits, "checked": [i for i in stage["checked"]
                                         if i not in version.checked],
            "conflicts": conflicts}


def _known(version: Version, ids) -> None:
    for i in ids:
        if i not in version.labels:
            raise InvalidInput(f"unknown example id {i!r} in dataset {version.name!r}")


def relabel(ws: Workspace, name: str, edits: dict[str, str], *,
            expected: dict[str, str] | None = None) -> list[dict]:
    """Stage label edits {id: new label}, validated, on disk until committed.

    EXPECTED maps ids to the label the editor saw; if someone else has since staged or
    committed another label for that id, nothing is staged and Conflict is raised.
    """
    if not edits:
        raise InvalidInput("no edits given")
    version = store.resolve(ws, name)
    base = version.labels
    _known(version, edits)
    for new in edits.values():
        ds.check_label(new, version.classes)
    with state.lock(ws):
        stage = _load(ws, name)
        for i, seen in (expected or {}).items():
            now = stage["labels"].get(i, base[i])
            if now != seen:
                raise Conflict(f"{i} was changed by someone else to {now!r} (you saw "
                               f"{seen!r}); reload and try again")
        for i, new in edits.items():
            stage["labels"].pop(i, None)
            stage["base"].pop(i, None)
            if new != base[i]:  # made against HEAD's label: that is its base
                stage["labels"][i], stage["base"][i] = new, base[i]
        state.write_json(_path(ws, name), stage)
    return read(ws, name, version)["labels"]


def mark_checked(ws: Workspace, name: str, ids: list[str]) -> None:
    """Stage 'checked, label is right' marks: such examples stop being shown as suspects."""
    _known(store.resolve(ws, name), ids)
    with state.lock(ws):
        stage = _load(ws, name)
        stage["checked"] = sorted(set(stage["checked"]) | set(ids))
        state.write_json(_path(ws, name), stage)


def unstage(ws: Workspace, name: str, ids: list[str] | None = None) -> None:
    """Drop staged edits and marks for IDS (all of them when IDS is None)."""
    store.resolve(ws, name)  # an unknown dataset is an error
    if ids is None:
        return clear(ws, name)
    with state.lock(ws):
        stage = _load(ws, name)
        for i in ids:
            stage["labels"].pop(i, None)
            stage["base"].pop(i, None)
        stage["checked"] = [i for i in stage["checked"] if i not in ids]
        state.write_json(_path(ws, name), stage)


def clear(ws: Workspace, name: str) -> None:
    """Drop every staged edit and mark of NAME (after they were committed)."""
    with state.lock(ws):
        state.write_json(_path(ws, name), {"labels": {}, "base": {}, "checked": []})
