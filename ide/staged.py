"""Staged edits: label changes, removals and "checked" marks, kept on disk until committed.

They live in one small JSON file per dataset and branch in the workspace's state
(`ide.state.STAGED`), written atomically under the workspace lock, so they survive a crash
or a restart and two sessions cannot lose each other's edits; edits made on one branch are
not seen on another. Each label edit records the label it was made against (its base): when
HEAD moves under it (a pull, a merge, a checkout, another session's commit) and changes that
example to a third label, the edit becomes a conflict (yours, theirs) that blocks the
commit until it is relabelled again or unstaged. A staged removal takes the example out of
labels.csv at the commit (its image stays, so a checkout or revert brings it back).
`ide.commits.commit` turns the edits into a commit and then clears them.
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
    stage = state.read_json(path, {}, valid=_valid)
    return {"labels": stage.get("labels", {}), "base": stage.get("base", {}),
            "checked": stage.get("checked", []), "removed": stage.get("removed", [])}


def _valid(d: dict) -> bool:
    """A staged file of the right shape: every id, label and base a string."""
    labels, base, marks = d.get("labels", {}), d.get("base", {}), d.get("checked", [])
    removed = d.get("removed", [])
    return isinstance(labels, dict) and isinstance(base, dict) and isinstance(marks, list) \
        and isinstance(removed, list) \
        and all(isinstance(v, str) for v in [*labels, *labels.values(), *base, *marks,
                                             *removed]) \
        and all(isinstance(v, (str, type(None))) for v in base.values())


def read(ws: Workspace, name: str, version: Version | None = None) -> dict:
    """The staged edits against HEAD (VERSION, if already resolved):
    {"labels": [{"id","old","new"}], "checked": [ids], "removed": [{"id","old"}],
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
            "removed": [{"id": i, "old": head[i]} for i in stage["removed"] if i in head],
            "conflicts": conflicts}


def pending(ws: Workspace, name: str) -> bool:
    """Whether anything is staged for NAME on disk (no git asked: edits HEAD already has
    are counted too)."""
    stage = _load(ws, name)
    return bool(stage["labels"] or stage["checked"] or stage["removed"])


def _known(version: Version, ids) -> None:
    for i in ids:
        if i not in version.labels:
            raise InvalidInput(f"unknown example id {i!r} in dataset {version.name!r}")


def relabel(ws: Workspace, name: str, edits: dict[str, str], *,
            expected: dict[str, str] | None = None) -> list[dict]:
    """Stage label edits {id: new label}, validated, on disk until committed.

    EXPECTED maps ids to the label the editor saw (default: the labels as this call first
    read them); if someone else has since staged or committed another label for that id,
    nothing is staged and Conflict is raised, so a relabel that returns has happened.
    """
    if not edits:
        raise InvalidInput("no edits given")
    seen = _load(ws, name)["labels"]  # what this call saw before waiting for the lock
    with state.lock(ws):
        version = store.resolve(ws, name)  # HEAD as it is now, once the lock is ours
        base = version.labels
        _known(version, edits)
        for new in edits.values():
            ds.check_label(new, version.classes)
        if expected is None:
            expected = {i: seen.get(i, base[i]) for i in edits}
        stage = _load(ws, name)
        for i, saw in expected.items():
            now = stage["labels"].get(i, base[i])
            if now != saw:
                raise Conflict(f"{i} was changed by someone else to {now!r} (you saw "
                               f"{saw!r}); nothing staged: look again and repeat")
        stage["removed"] = [i for i in stage["removed"] if i not in edits]  # relabel: kept
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
    version = store.resolve(ws, name)  # an unknown dataset is an error
    if ids is None:
        return clear(ws, name)
    with state.lock(ws):
        stage = _load(ws, name)
        for i in ids:
            if i not in stage["labels"] and i not in stage["checked"] and \
                    i not in stage["removed"]:
                _known(version, [i])
                raise InvalidInput(f"nothing staged for {i!r} in dataset {name!r}")
        for i in ids:
            stage["labels"].pop(i, None)
            stage["base"].pop(i, None)
        stage["checked"] = [i for i in stage["checked"] if i not in ids]
        stage["removed"] = [i for i in stage["removed"] if i not in ids]
        state.write_json(_path(ws, name), stage)


def remove(ws: Workspace, name: str, ids: list[str]) -> None:
    """Stage the removal of examples IDS: at the commit they leave labels.csv (and so
    training); their images stay in the DVC history. A staged label edit of theirs is
    dropped. Refused if it would remove the last example of a class that another staged
    edit still names."""
    if not ids:
        raise InvalidInput("no example ids given")
    with state.lock(ws):
        version = store.resolve(ws, name)
        _known(version, ids)
        stage = _load(ws, name)
        gone = set(stage["removed"]) | set(ids)
        now = {**version.labels, **stage["labels"]}
        left = {lab for i, lab in now.items() if i not in gone}
        # A class that staged edits still name (as their new label or the one they
        # replace) must keep an example, or that edit would be about an empty class.
        named = {lab for i in stage["labels"] if i not in gone
                 for lab in (stage["labels"][i], stage["base"].get(i))}
        orphaned = sorted(c for c in named - left if c)
        if orphaned:
            raise InvalidInput(f"removing {', '.join(ids[:5])} would leave no example of class "
                               f"{orphaned[0]!r}, which staged edits still name")
        for i in ids:
            stage["labels"].pop(i, None)
            stage["base"].pop(i, None)
        stage["removed"] = sorted(gone)
        state.write_json(_path(ws, name), stage)


def clear(ws: Workspace, name: str) -> None:
    """Drop every staged edit and mark of NAME (after they were committed)."""
    with state.lock(ws):
        state.write_json(_path(ws, name), {"labels": {}, "base": {}, "checked": [],
                                           "removed": []})
