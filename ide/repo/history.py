"""A dataset's history: log, diff, what a commit changed, every label an example has had.

What a commit did to the labels never changes, so it is computed once (by `ide commit`,
which knows it, or from git's diff for commits made otherwise) and kept in the workspace's
state (`ide.repo.state.CHANGES`): `git log --numstat` on a 100,000-line file costs 50 ms a
commit, too slow for `log` and `history`. That cache is the only thing this module writes.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ide.data import formats as ds
from ide.errors import IDEError, InvalidInput
from ide.repo import state, versions
from ide.repo.versions import Version
from ide.repo.workspace import Workspace

_LOG_FORMAT = "%x1e%H%x1f%an <%ae>%x1f%aI%x1f%s"


def _cache(ws: Workspace, name: str, commit: str) -> Path:
    return state.path(ws, state.CHANGES, name, f"{commit}.json")


def record(ws: Workspace, name: str, commit: str, edits: list[dict], *,
           examples: int | None = None) -> None:
    """Remember that COMMIT made EDITS ({"id","old","new"}) to NAME's labels, leaving it
    EXAMPLES examples."""
    state.write_json(_cache(ws, name, commit), {
        "created": False, "edits": len(edits), "examples": examples,
        "changes": [[e["id"], e["old"], e["new"]] for e in edits]})


def _count(ws: Workspace, version: Version, commit: str) -> int | None:
    """How many examples labels.csv holds at COMMIT: its lines, not parsed."""
    try:
        _, (found,) = ws.read_at(commit, [f"{version.folder}/labels.csv"])
    except IDEError:
        return None
    return None if found is None else found[1].count(b"\n") - 1


def _changes(ws: Workspace, version: Version, commit: str) -> dict:
    """What COMMIT (VERSION's, or one of its ancestors) did to the dataset's labels against
    its first parent: {"created": bool, "edits": n, "changes": [[id, old, new], ...]}."""
    name = version.name
    cached = state.read_json(_cache(ws, name, commit), None, valid=lambda d: (
        isinstance(d, dict) and isinstance(d["created"], bool) and isinstance(d["edits"], int)
        and all(isinstance(c, list) and len(c) == 3 for c in d["changes"])))
    if cached is not None and cached.get("examples") is None:  # cached before it was kept
        cached["examples"] = _count(ws, version, commit)
        state.write_json(_cache(ws, name, commit), cached)
    if cached is not None:
        return cached
    path = f"{version.folder}/labels.csv"
    try:
        parent, (before,) = ws.read_at(f"{commit}^", [path])
    except IDEError:  # the first commit
        parent, before = None, None
    if before is None:
        n = len(versions.resolve(ws, name, commit).labels)
        result = {"created": True, "edits": n, "examples": n, "changes": []}
    else:
        old, new = {}, {}
        out = ws.git("diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", parent,
                     commit, "--", path)
        for line in out.splitlines():
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                row = next(csv.reader([line[1:]]))
                if len(row) == 2 and row != ["id", "label"]:
                    (new if line[0] == "+" else old)[row[0]] = row[1]
        changes = ds.diff_labels(old, new)
        result = {"created": False, "edits": len(changes),
                  "examples": _count(ws, version, commit),
                  "changes": [[c["id"], c["old"], c["new"]] for c in changes]}
    state.write_json(_cache(ws, name, commit), result)
    return result


def _records(out: str):
    """Split `git log` output made with _LOG_FORMAT into entries."""
    for rec in out.split("\x1e")[1:]:
        sha, author, date, subject = rec.strip("\n").split("\x1f")
        yield {"commit": sha, "author": author, "date": date, "message": subject}


def log(ws: Workspace, name: str, rev: str = "HEAD", *,
        version: Version | None = None) -> list[dict]:
    """Dataset commits reachable from REV (VERSION, if already resolved), newest first:
    commit, author, date, message, edits (changed examples), added, removed (examples it
    added or removed) and examples (how many it leaves).

    (`ide.ops.views.log` adds the metrics of each trained commit.)"""
    version = version or versions.resolve(ws, name, rev)
    # Every file a version is made of: a commit of params.yaml alone is a version to train.
    out = ws.git("log", f"--format={_LOG_FORMAT}", version.commit, "--",
                 *(f"{version.folder}/{f}" for f in versions.FILES))
    entries = []
    for e in _records(out):
        ch = _changes(ws, version, e["commit"])
        added = ch["edits"] if ch["created"] else sum(c[1] is None for c in ch["changes"])
        entries.append({**e, "edits": ch["edits"], "added": added,
                        "removed": sum(c[2] is None for c in ch["changes"]),
                        "examples": ch.get("examples")})
    return entries


def diff(ws: Workspace, name: str, rev: str, rev2: str | None = None) -> list[dict]:
    """Label changes from REV to REV2 (default HEAD): [{"id", "old", "new"}]."""
    return ds.diff_labels(versions.resolve(ws, name, rev).labels,
                          versions.resolve(ws, name, rev2 or "HEAD").labels)


def commit_diff(ws: Workspace, version: Version) -> list[dict]:
    """The label changes that VERSION's commit itself made (against its first parent)."""
    ch = _changes(ws, version, version.commit)
    if ch["created"]:
        return ds.diff_labels({}, version.labels)
    return [{"id": i, "old": old, "new": new} for i, old, new in ch["changes"]]


def history(ws: Workspace, name: str, example_id: str, *,
            head: Version | None = None) -> list[dict]:
    """Every label the example has had, newest first: commit, author, date, message, label
    ("" unlabelled; None: the commit removed it). A removed example's history is there too.
    HEAD: the Version of HEAD, if already resolved."""
    head = head or versions.resolve(ws, name)
    found = []
    for entry in log(ws, name, version=head):
        ch = _changes(ws, head, entry["commit"])
        if ch["created"]:
            label = versions.resolve(ws, name, entry["commit"]).labels.get(example_id)
            touched = label is not None
        else:
            hit = [new for i, _, new in ch["changes"] if i == example_id]
            touched, label = bool(hit), hit[0] if hit else None
        if touched:
            found.append({**{k: entry[k] for k in ("commit", "author", "date", "message")},
                          "label": label})
    if not found and example_id not in head.labels:
        raise InvalidInput(f"unknown example id {example_id!r} in dataset {name!r}")
    return found
