"""Staged edits: label changes, removals and "checked" marks, kept on disk until committed.

They live in one small JSON file per dataset and branch in the workspace's state
(`ide.repo.state.STAGED`), written atomically under the workspace lock, so they survive a crash
or a restart and two sessions cannot lose each other's edits; edits made on one branch are
not seen on another. Each label edit records the label it was made against (its base): when
HEAD moves under it (a pull, a merge, a checkout, another session's commit) and changes that
example to a third label, the edit becomes a conflict (yours, theirs) that blocks the
commit until it is relabelled again or unstaged. A staged removal takes the example out of
labels.csv at the commit (its image stays, so a checkout or revert brings it back).
`ide.repo.commits.commit` turns the edits into a commit and then clears them, recording
which commit took each owner's edits until that owner stages something again: a commit that
raced it (two command-line processes share one owner) can then name the commit that holds
its edits.

Each edit, removal and mark has an owner: the reviewer who staged it (the name given in the app).
Edits staged with no owner (the command line, and files from before owners) belong to the
git identity, the owner `None`. Reading, committing and unstaging act on one owner's edits;
the others' are listed apart ("others") and cannot be changed by someone else.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from ide.data import formats as ds
from ide.errors import Conflict, InvalidInput
from ide.repo import state, versions
from ide.repo.versions import Version
from ide.repo.workspace import Workspace


def _path(ws: Workspace, name: str) -> Path:
    # One folder per branch ("HEAD" when detached), its name quoted into one path part.
    return state.path(ws, state.STAGED, quote(ws.branch() or "HEAD", safe=""),
                      f"{name}.json")


def load(ws: Workspace, name: str) -> dict:
    """NAME's staged file as it is now, read once: the app passes it as STAGE to `read`,
    `others` and `everyone`, which read it themselves when not given it."""
    path, before = _path(ws, name), state.path(ws, state.STAGED, f"{name}.json")
    if before.is_file() and not path.exists():  # staged before edits were kept per branch
        path.parent.mkdir(parents=True, exist_ok=True)
        before.replace(path)
    stage = state.read_json(path, {}, valid=_valid)
    return {"labels": stage.get("labels", {}), "base": stage.get("base", {}),
            "checked": stage.get("checked", []), "removed": stage.get("removed", []),
            # One owner per id: an id has a label edit or a removal staged, never both.
            "owner": stage.get("owner", {}), "checked_owner": stage.get("checked_owner", {}),
            # {owner ("" for None): the commit that took their staged edits last}
            "committed": stage.get("committed", {})}


def _save(ws: Workspace, name: str, stage: dict, owner: str | None, *,
          committed: str | None = None) -> None:
    """Write STAGE after a change of OWNER's. COMMITTED: the commit that has just taken their
    edits, kept so that a commit racing it can say where its edits went; any other change
    forgets the last one (OWNER has staged or dropped something since)."""
    if committed:
        stage["committed"][owner or ""] = committed
    else:
        stage["committed"].pop(owner or "", None)
    state.write_json(_path(ws, name), stage)


def committed_by(ws: Workspace, name: str, owner: str | None = None) -> str | None:
    """The commit that took OWNER's staged edits of NAME last, if they have staged nothing
    since."""
    return load(ws, name)["committed"].get(owner or "")


def _valid(d: dict) -> bool:
    """A staged file of the right shape: every id, label and base a string."""
    labels, base, marks = d.get("labels", {}), d.get("base", {}), d.get("checked", [])
    removed = d.get("removed", [])
    owners = [d.get("owner", {}), d.get("checked_owner", {}), d.get("committed", {})]
    return isinstance(labels, dict) and isinstance(base, dict) and isinstance(marks, list) \
        and isinstance(removed, list) and all(isinstance(o, dict) for o in owners) \
        and all(isinstance(v, str) for v in [*labels, *labels.values(), *base, *marks, *removed,
                                             *(x for o in owners for x in [*o, *o.values()])]) \
        and all(isinstance(v, (str, type(None))) for v in base.values())


def read(ws: Workspace, name: str, version: Version | None = None,
         owner: str | None = None, *, stage: dict | None = None) -> dict:
    """OWNER's staged edits against HEAD (VERSION and STAGE, if already read):
    {"labels": [{"id","old","new"}], "checked": [ids], "removed": [{"id","old"}],
     "conflicts": [{"id","base","yours","theirs"}]}.

    Edits that HEAD already has (say, after a crash right after a commit) are not listed.
    An edit whose example HEAD changed since it was staged (HEAD's label is neither its base
    nor its new label) is listed under "conflicts" only: "theirs" is HEAD's label.
    """
    mine, _ = _split(ws, name, version or versions.resolve(ws, name), owner, stage)
    return mine


def others(ws: Workspace, name: str, version: Version | None = None,
           owner: str | None = None, *, stage: dict | None = None) -> dict:
    """What reviewers other than OWNER staged, against HEAD (VERSION and STAGE, if already
    read): {"labels": [{"id","old","new","owner"}], "checked": [{"id","owner"}],
    "removed": [{"id","old","owner"}]} (old: HEAD's label; owner None: the command line).
    """
    _, theirs = _split(ws, name, version or versions.resolve(ws, name), owner, stage)
    return theirs


def everyone(ws: Workspace, name: str, version: Version | None = None, *,
             stage: dict | None = None) -> dict:
    """Every reviewer's staged edits against HEAD (VERSION and STAGE, if already read), the
    command line's included, read once: {"labels": [{"id","old","new"}], "removed":
    [{"id","old"}], "conflicts": the command line's (`read`)}; another reviewer's
    conflicting edit is listed under "labels"."""
    mine, theirs = _split(ws, name, version or versions.resolve(ws, name), None, stage)
    return {"labels": mine["labels"] + theirs["labels"],
            "removed": mine["removed"] + theirs["removed"], "conflicts": mine["conflicts"]}


def _split(ws: Workspace, name: str, version: Version, owner: str | None,
           stage: dict | None):
    head = version.labels
    stage = stage if stage is not None else load(ws, name)
    edits, conflicts, theirs = [], [], []
    for i, new in stage["labels"].items():
        now, base = head.get(i), stage["base"].get(i, head.get(i))
        if now == new:
            continue
        who = stage["owner"].get(i)
        if who != owner:
            theirs.append({"id": i, "old": now, "new": new, "owner": who})
        elif now != base:
            conflicts.append({"id": i, "base": base, "yours": new, "theirs": now})
        else:
            edits.append({"id": i, "old": now, "new": new})
    marks = [i for i in stage["checked"] if i not in version.checked]
    by, owners = stage["checked_owner"], stage["owner"]
    removed = [{"id": i, "old": head[i], "owner": owners.get(i)} for i in stage["removed"]
               if i in head]
    return ({"labels": edits, "checked": [i for i in marks if by.get(i) == owner],
             "removed": [{"id": r["id"], "old": r["old"]} for r in removed
                         if r["owner"] == owner],
             "conflicts": conflicts},
            {"labels": theirs, "checked": [{"id": i, "owner": by.get(i)} for i in marks
                                           if by.get(i) != owner],
             "removed": [r for r in removed if r["owner"] != owner]})


def pending(ws: Workspace, name: str, owner: str | None = None) -> bool:
    """Whether OWNER has anything staged for NAME on disk (no git asked: edits HEAD
    already has are counted too)."""
    stage = load(ws, name)
    return any(stage["owner"].get(i) == owner for i in [*stage["labels"], *stage["removed"]]) \
        or any(stage["checked_owner"].get(i) == owner for i in stage["checked"])


def _known(version: Version, ids) -> None:
    for i in ids:
        if i not in version.labels:
            raise InvalidInput(f"unknown example id {i!r} in dataset {version.name!r}")


def relabel(ws: Workspace, name: str, edits: dict[str, str], *,
            expected: dict[str, str] | None = None, owner: str | None = None) -> list[dict]:
    """Stage label edits {id: new label} as OWNER's, validated, on disk until committed;
    returns OWNER's staged edits.

    EXPECTED maps ids to the label the editor saw (default: the labels as this call first
    read them); if someone else has since staged or committed another label for that id,
    or another reviewer has an edit of it staged, nothing is staged and Conflict is
    raised, so a relabel that returns has happened.
    """
    if not edits:
        raise InvalidInput("no edits given")
    seen = load(ws, name)["labels"]  # what this call saw before waiting for the lock
    with state.lock(ws):
        version = versions.resolve(ws, name)  # HEAD as it is now, once the lock is ours
        base = version.labels
        _known(version, edits)
        for new in edits.values():
            ds.check_label(new, version.classes)
        if expected is None:
            expected = {i: seen.get(i, base[i]) for i in edits}
        stage = load(ws, name)
        for i in edits:
            who = stage["owner"].get(i)
            if who != owner and (stage["labels"].get(i, base[i]) != base[i] or
                                 i in stage["removed"]):
                what = stage["labels"].get(i, "(removed)")
                raise Conflict(f"{i} is staged by {who or 'the command line'} as {what!r}; "
                               "nothing staged: it is theirs "
                               "until they commit or unstage it")
        for i, saw in expected.items():
            now = stage["labels"].get(i, base[i])
            if now != saw:
                raise Conflict(f"{i} was changed by someone else to {now!r} (you saw "
                               f"{saw!r}); nothing staged: look again and repeat")
        stage["removed"] = [i for i in stage["removed"] if i not in edits]  # relabel: kept
        for i, new in edits.items():
            for key in ("labels", "base", "owner"):  # checked above: none or stale
                stage[key].pop(i, None)
            if new != base[i]:  # made against HEAD's label: that is its base
                stage["labels"][i], stage["base"][i] = new, base[i]
                if owner is not None:
                    stage["owner"][i] = owner
        _save(ws, name, stage, owner)
    return read(ws, name, version, owner)["labels"]


def _drop(stage: dict, ids, owner: str | None) -> None:
    """Remove OWNER's label edits, removals and checked marks of IDS from STAGE."""
    for i in ids:
        if (i in stage["labels"] or i in stage["removed"]) and stage["owner"].get(i) == owner:
            for key in ("labels", "base", "owner"):
                stage[key].pop(i, None)
            stage["removed"] = [r for r in stage["removed"] if r != i]
    mine = {i for i in ids if stage["checked_owner"].get(i) == owner}
    stage["checked"] = [i for i in stage["checked"] if i not in mine]
    for i in mine:
        stage["checked_owner"].pop(i, None)


def mark_checked(ws: Workspace, name: str, ids: list[str], *,
                 owner: str | None = None) -> None:
    """Stage 'checked, label is right' marks (as OWNER's): such examples stop being shown
    as suspects."""
    _known(versions.resolve(ws, name), ids)
    with state.lock(ws):
        stage = load(ws, name)
        new = set(ids) - set(stage["checked"])  # a mark already staged stays its owner's
        stage["checked"] = sorted(set(stage["checked"]) | new)
        if owner is not None:
            stage["checked_owner"].update({i: owner for i in new})
        _save(ws, name, stage, owner)


def unmark_checked(ws: Workspace, name: str, ids: list[str], *,
                   owner: str | None = None) -> None:
    """Take back OWNER's checked marks of IDS, and nothing else (a label edit of the same
    example stays staged)."""
    _known(versions.resolve(ws, name), ids)
    with state.lock(ws):
        stage = load(ws, name)
        theirs = [i for i in ids if stage["checked_owner"].get(i) != owner]
        if theirs:
            raise InvalidInput(f"no checked mark of yours on {theirs[0]!r} in {name!r}")
        stage["checked"] = [i for i in stage["checked"] if i not in set(ids)]
        for i in ids:
            stage["checked_owner"].pop(i, None)
        _save(ws, name, stage, owner)


def unstage(ws: Workspace, name: str, ids: list[str] | None = None, *,
            owner: str | None = None) -> None:
    """Drop OWNER's staged edits and marks for IDS (all of OWNER's when IDS is None)."""
    version = versions.resolve(ws, name)  # an unknown dataset is an error
    if ids is None:
        return clear(ws, name, owner)
    with state.lock(ws):
        stage = load(ws, name)
        for i in ids:
            mine = ((i in stage["labels"] or i in stage["removed"]) and
                    stage["owner"].get(i) == owner) or \
                (i in stage["checked"] and stage["checked_owner"].get(i) == owner)
            if not mine:
                _known(version, [i])
                who = stage["owner"].get(i, stage["checked_owner"].get(i))
                raise InvalidInput(f"nothing staged for {i!r} in dataset {name!r}"
                                   + (f" by you (it is {who}'s)" if who else ""))
        _drop(stage, ids, owner)
        _save(ws, name, stage, owner)


def clear(ws: Workspace, name: str, owner: str | None = None, *,
          committed: str | None = None) -> None:
    """Drop OWNER's staged edits and marks of NAME after commit COMMITTED took them (None:
    after a commit that found them in HEAD already, which keeps the one recorded)."""
    with state.lock(ws):
        stage = load(ws, name)
        _drop(stage, [*stage["labels"], *stage["removed"], *stage["checked"]], owner)
        _save(ws, name, stage, owner,
              committed=committed or stage["committed"].get(owner or ""))


def remove(ws: Workspace, name: str, ids: list[str], *, owner: str | None = None) -> None:
    """Stage the removal of examples IDS (as OWNER's): at the commit they leave labels.csv
    (and so training); their images stay in the DVC history. A staged label edit of OWNER's
    for them is dropped. Refused if another reviewer has one of them staged, or if it would
    remove the last example of a class that another staged edit still names."""
    if not ids:
        raise InvalidInput("no example ids given")
    with state.lock(ws):
        version = versions.resolve(ws, name)
        _known(version, ids)
        stage = load(ws, name)
        for i in ids:
            who = stage["owner"].get(i)
            if who != owner and (i in stage["labels"] or i in stage["removed"]):
                raise Conflict(f"{i} is staged by {who or 'the command line'}; nothing "
                               "staged: it is theirs until they commit or unstage it")
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
            if owner is None:
                stage["owner"].pop(i, None)
            else:
                stage["owner"][i] = owner
        stage["removed"] = sorted(gone)
        _save(ws, name, stage, owner)
