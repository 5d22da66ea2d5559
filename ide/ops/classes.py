"""A dataset's classes: listed with their counts, and added, renamed or merged as commits.

The classes are `dataset.yaml`'s list, in order (the columns of every probability matrix).
Adding one changes that file only; renaming or merging changes it and every example of the
class in labels.csv, in one commit whose message (and `ide diff`) lists each example that
changed. Both are refused while staged edits name the class, so no staged edit is left
pointing at a class that is gone.
"""

from __future__ import annotations

from collections import Counter

from ide.data import formats as ds
from ide.errors import Conflict, InvalidInput, NotTrained
from ide.learn import rank, ranking
from ide.repo import history, staged, state, versions
from ide.repo.commits import apply_edits, committing, edit_lines, write_classes
from ide.repo.versions import Version
from ide.repo.workspace import Workspace


def counts(ws: Workspace, name: str) -> list[dict]:
    """[{"class", "labelled", "suggested"}] in class order: examples labelled with it at
    HEAD, and unlabelled examples HEAD's model suggests it for (None: not trained)."""
    version = versions.resolve(ws, name)
    labelled = Counter(version.labels.values())
    try:
        ids, probs = ranking.unlabelled(ws, version)
        suggested = Counter(rank.predicted(probs).tolist()) if len(ids) else Counter()
    except NotTrained:
        suggested = None
    return [{"class": c, "labelled": labelled.get(c, 0),
             "suggested": None if suggested is None else suggested.get(n, 0)}
            for n, c in enumerate(version.classes)]


def unlabelled_count(ws: Workspace, name: str) -> int:
    return sum(lab == ds.UNLABELLED for lab in versions.resolve(ws, name).labels.values())


def _known(version: Version, cls: str) -> None:
    if cls not in version.classes:
        raise InvalidInput(f"unknown class {cls!r} (classes: {', '.join(version.classes)})")


def _new(version: Version, cls: str, replaces: str | None = None) -> None:
    """CLS may join VERSION's classes (in place of REPLACES): a safe name that no other class
    has, ignoring case."""
    if cls in version.classes:
        raise InvalidInput(f"class {cls!r} already exists in {version.name!r}")
    ds.check_classes([*(c for c in version.classes if c != replaces), cls])


def _not_staged(ws: Workspace, version: Version, cls: str) -> None:
    stage = staged.everyone(ws, version.name, version)  # any reviewer's, not only the CLI's
    named = [e["id"] for e in stage["labels"] if cls in (e["old"], e["new"])] + \
        [c["id"] for c in stage["conflicts"] if cls in (c["yours"], c["theirs"])]
    if named:
        raise Conflict(f"staged edits name class {cls!r} ({', '.join(named[:5])}): commit or "
                       "unstage them first")


def _commit(ws: Workspace, version: Version, classes: list[str], edits: list[dict],
            message: str, author: str | None) -> str:
    folder = version.folder
    paths = [f"{folder}/dataset.yaml"] + ([f"{folder}/labels.csv"] if edits else [])
    if edits:
        message += f"\n\nLabel edits ({len(edits)}):\n" + edit_lines(edits)
    labels = apply_edits(version.labels, edits)
    with committing(ws, paths, message, author) as made:
        write_classes(ws, folder, classes)
        if edits:
            state.write_atomic(ws.root / folder / "labels.csv", ds.format_labels(labels))
    history.record(ws, version.name, made.commit, edits, examples=len(labels))
    return made.commit


def add_class(ws: Workspace, name: str, cls: str, *, author: str | None = None) -> str:
    """Add class CLS (with no examples yet) as a commit of dataset.yaml."""
    with state.lock(ws):
        version = versions.resolve(ws, name)
        _new(version, cls)
        return _commit(ws, version, [*version.classes, cls], [],
                       f"Add class {cls} to {name}", author)


def rename(ws: Workspace, name: str, old: str, new: str, *, author: str | None = None) -> str:
    """Rename class OLD to NEW (a name no class has): its place in the order is kept."""
    with state.lock(ws):
        version = versions.resolve(ws, name)
        _known(version, old)
        _new(version, new, replaces=old)
        _not_staged(ws, version, old)
        edits = [{"id": i, "old": old, "new": new}
                 for i, lab in sorted(version.labels.items()) if lab == old]
        classes = [new if c == old else c for c in version.classes]
        return _commit(ws, version, classes, edits, f"Rename class {old} to {new} in {name}",
                       author)


def merge(ws: Workspace, name: str, src: str, dest: str, *, author: str | None = None) -> str:
    """Merge class SRC into DEST: SRC's examples are labelled DEST, and SRC is gone."""
    with state.lock(ws):
        version = versions.resolve(ws, name)
        _known(version, src)
        _known(version, dest)
        if src == dest:
            raise InvalidInput(f"cannot merge class {src!r} into itself")
        if len({lab for lab in version.labels.values() if lab} - {src}) < 2:
            raise InvalidInput(f"merging {src!r} into {dest!r} would leave fewer than 2 "
                               "classes with examples: nothing could be trained")
        _not_staged(ws, version, src)
        edits = [{"id": i, "old": src, "new": dest}
                 for i, lab in sorted(version.labels.items()) if lab == src]
        classes = [c for c in version.classes if c != src]
        return _commit(ws, version, classes, edits, f"Merge class {src} into {dest} in {name}",
                       author)
