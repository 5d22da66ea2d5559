"""Every commit the IDE makes, through one context manager: `committing`.

In the manner of DVC's `scm_context`: the block writes files; on success exactly those
files are added and committed as one commit; on failure (an error, a kill signal turned
into KeyboardInterrupt) their working copies are put back as they were. Label commits change
`labels.csv` and `checked.txt` (a revert or checkout that undoes a class change,
`dataset.yaml` too): images are DVC-tracked at import and never rewritten.
A label commit rebuilds the labels from HEAD plus the staged edits, and the edits are
cleared only after it, so a crash at any point loses nothing and repeating the command
finishes it.

Also here: `init`, which registers the label merge driver (`ide.data.mergedriver`). The
label conflicts a `git merge` left are `ide.repo.conflicts`, whose `settle` ends a merge
with git's own `git commit` (a merge commit, with both parents).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
from pathlib import Path

from ide.data import formats as ds
from ide.errors import AlreadyCommitted, Conflict, IDEError, InvalidInput, NothingToDo
from ide.repo import conflicts, history, staged, state, versions
from ide.repo.versions import Version
from ide.repo.workspace import MERGE_ATTRIBUTES, Workspace

_AUTHOR = re.compile(r"^\s*([^<>]+?)\s*<([^<>\s]+)>\s*$")


class Made:
    """What `committing` yields: `.commit` is the new commit's id once the block is done."""
    commit: str | None = None


def _identity(author: str | None) -> dict:
    env = {}
    if author:
        m = _AUTHOR.match(author)
        if not m:
            raise InvalidInput(f"author must look like 'Name <email>', got {author!r}")
        env.update(GIT_AUTHOR_NAME=m[1], GIT_AUTHOR_EMAIL=m[2])
    return env


def _git_commit(ws: Workspace, paths: list[str], message: str, author: str | None,
                verify: bool = True) -> str:
    # A fresh machine may have no git identity: ide's own, rather than a failed commit.
    env = {**ws.identity(), **_identity(author)}
    ws.git("add", "--", *paths)
    ws.git("commit", "-q", *([] if verify else ["--no-verify"]), "-m", message, "--", *paths,
           env=env)
    return ws.head()


@contextlib.contextmanager
def committing(ws: Workspace, paths: list[str], message: str, author: str | None = None,
               *, verify: bool = True):
    """Commit PATHS (relative to the root) as the block leaves them, or restore them.

    A path is a file, or a folder that the block creates (removed again on failure). VERIFY:
    run the repository's git hooks (a hook that fails is a failed commit).
    """
    _identity(author)  # a bad author is an error before anything is written
    before = {p: (ws.root / p).read_bytes() if (ws.root / p).is_file() else None
              for p in paths if not (ws.root / p).is_dir()}
    made = Made()
    try:
        yield made
        made.commit = _git_commit(ws, paths, message, author, verify)
    except BaseException:
        ws.git("reset", "-q", "--", *paths, check=False)
        for p, data in before.items():
            if data is None:
                shutil.rmtree(ws.root / p, ignore_errors=True)
                (ws.root / p).unlink(missing_ok=True)
            else:
                (ws.root / p).write_bytes(data)
        raise


def init(path: Path | str) -> Workspace:
    """Make PATH a workspace (git + DVC, analytics off, local state ignored, the label merge
    driver registered); safe to repeat. Inside an existing git repository PATH becomes a
    folder of it (`dvc init --subdir`), not a nested repository."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace(root)
    subdir = not (ws.root / ".git").exists() and ws.in_other_repository()
    if not (ws.root / ".git").exists() and not subdir:
        ws.git("init", "-q")
    if not (ws.root / ".dvc").is_dir():
        ws.dvc("init", *(["--subdir"] if subdir else []))
    ws.dvc("config", "core.analytics", "false")
    ws.dvc("config", "core.check_update", "false")
    ignore = ws.root / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if f"/{state.DIRNAME}/" not in lines:
        state.write_atomic(ignore, "\n".join([*lines, f"/{state.DIRNAME}/"]) + "\n")
    attributes = ws.root / ".gitattributes"
    lines = attributes.read_text().splitlines() if attributes.exists() else []
    if any(a not in lines for a in MERGE_ATTRIBUTES):
        lines = [*lines, *(a for a in MERGE_ATTRIBUTES if a not in lines)]
        state.write_atomic(attributes, "\n".join(lines) + "\n")
    ws.install_merge_driver()
    paths = [p for p in (".gitignore", ".gitattributes", ".dvc/config", ".dvc/.gitignore",
                         ".dvcignore") if (ws.root / p).exists()]
    if ws.git("status", "--porcelain", "--", *paths).strip():
        with committing(ws, paths, "Initialise ide workspace", verify=False):
            pass
    return ws


# -- label commits -------------------------------------------------------------------------
def write_classes(ws: Workspace, folder: str, classes: list[str]) -> None:
    """Set the class list of FOLDER's dataset.yaml (inside `committing`, which commits it
    or puts it back)."""
    path = ws.root / folder / "dataset.yaml"
    state.write_atomic(path, ds.format_meta({**ds.parse_meta(path.read_text()),
                                             "classes": classes}))


def apply_edits(labels, edits: list[dict]) -> dict[str, str]:
    """LABELS with EDITS ({"id","old","new"}) applied: new None removes the example."""
    out = dict(labels)
    for e in edits:
        if e["new"] is None:
            out.pop(e["id"], None)
        else:
            out[e["id"]] = e["new"]
    return out


def _shown(label: str | None) -> str:
    return "(none)" if label is None else label or "(unlabelled)"


def edit_lines(edits: list[dict]) -> str:
    """EDITS as commit message lines, `  id: old -> new` ((none): absent)."""
    return "\n".join(f"  {e['id']}: {_shown(e['old'])} -> {_shown(e['new'])}" for e in edits)


def _edit_message(message: str, edits: list[dict], marks=()) -> str:
    message = (message or "").strip()
    if not message:
        raise InvalidInput("empty commit message")
    parts = [message]
    if edits:
        parts.append(f"Label edits ({len(edits)}):\n" + edit_lines(edits))
    if marks:
        parts.append(f"Checked ({len(marks)}):\n" + "\n".join(f"  {i}" for i in marks))
    return "\n\n".join(parts)


def _commit_labels(ws: Workspace, version: Version, edits: list[dict], message: str,
                   author: str | None, *, marks=(), text: str | None = None,
                   verify: bool = True, classes: list[str] | None = None) -> str:
    """Apply EDITS ({"id","old","new"} against VERSION, which is HEAD) and the checked MARKS,
    and commit them: the one label-commit path. TEXT: the new labels.csv, if made already.
    CLASSES: dataset.yaml's new class list, where it changes with the labels."""
    if text is None:
        text = ds.format_labels(apply_edits(version.labels, edits))
    path = f"{version.folder}/labels.csv"
    classes = None if classes is None or tuple(classes) == version.classes else classes
    paths = [path] + ([f"{version.folder}/checked.txt"] if marks else []) + (
        [f"{version.folder}/dataset.yaml"] if classes is not None else [])
    with committing(ws, paths, _edit_message(message, edits, marks), author,
                    verify=verify) as made:
        state.write_atomic(ws.root / path, text)
        if marks:
            state.write_atomic(ws.root / paths[1],
                               ds.format_checked(version.checked | set(marks)))
        if classes is not None:
            write_classes(ws, version.folder, classes)
    history.record(ws, version.name, made.commit, edits, examples=text.count("\n") - 1)
    return made.commit


def _blob_id(data: bytes, like: str) -> str:
    """The git blob id of DATA, as `git hash-object` gives it (sha1, or sha256 if LIKE is)."""
    algo = hashlib.sha256 if len(like) == 64 else hashlib.sha1
    return algo(b"blob %d\0" % len(data) + data).hexdigest()


def _check_worktree(ws: Workspace, version: Version, ours: str) -> None:
    """Refuse to overwrite hand edits of labels.csv: it must be as at HEAD, or OURS (the
    text this commit writes, left by a crash of an earlier try)."""
    rel = f"{version.folder}/labels.csv"
    path = ws.root / rel
    if not path.exists():
        return
    data = path.read_bytes()
    if _blob_id(data, version.labels_blob) == version.labels_blob or data == ours.encode():
        return
    raise IDEError(f"{rel} has uncommitted changes made outside ide: commit them with "
                   "git, or discard them with git checkout")


def _check_no_merge(ws: Workspace, name: str) -> None:
    """Refuse label commits while a git merge, rebase, cherry-pick or revert is unfinished."""
    operation = ws.operation()
    if operation:
        left = conflicts.unsettled(ws, name)
        finish = "git commit" if operation == "merge" else f"git {operation} --continue"
        raise Conflict(f"a git {operation} is in progress: " + (
            f"settle {len(left)} label conflict(s) ({', '.join(c['id'] for c in left[:3])}"
            f"{', ...' if len(left) > 3 else ''}) with `ide resolve {name} ID LABEL` (see "
            "`ide status`)" if left else f"finish it with `{finish}` first"))


def _nothing_to_commit(ws: Workspace, name: str, owner: str | None, had: bool,
                       version: Version) -> NothingToDo:
    """Why a commit of OWNER's edits found none: another commit took them (two processes
    of the command line share one owner, so one may commit the other's edit while that one
    waits for the lock), or nothing was staged."""
    by = staged.committed_by(ws, name, owner)
    # Only while that commit is in HEAD's history (the merge base of the two is itself).
    if by and ws.git("merge-base", by, "HEAD", check=False).strip() == by:
        subject = ws.git("log", "-1", "--format=%s", by).strip()
        return AlreadyCommitted(f"nothing to commit: your edit(s) were already committed by "
                                f'{by[:10]} "{subject}"', by)
    if had:  # taken by a commit that left no record (a crash right after it)
        return NothingToDo(f"nothing left to commit for {name!r}: commit "
                           f"{version.commit[:10]} already holds the staged edits "
                           "(made just before a crash)")
    return NothingToDo(f"nothing staged for {name!r} (use `ide relabel`)")


def commit(ws: Workspace, name: str, message: str, *, author: str | None = None,
           verify: bool = True, owner: str | None = None) -> str:
    """Turn OWNER's staged edits (default: the command line's, see `ide.repo.staged`) into one
    git commit that changes labels.csv only (running the repository's git hooks unless
    VERIFY is false); other reviewers' edits stay staged. Refused while one of them
    conflicts with a label HEAD got since it was staged, or a git merge is unfinished."""
    _identity(author)  # a bad author is an error before anything is written
    if not (message or "").strip():
        raise InvalidInput("empty commit message")
    had = staged.pending(ws, name, owner)  # before waiting for the lock
    with state.lock(ws):
        version = versions.resolve(ws, name)
        _check_no_merge(ws, name)
        stage = staged.read(ws, name, version, owner)
        if stage["conflicts"]:
            ids = ", ".join(c["id"] for c in stage["conflicts"][:10])
            raise Conflict(f"{len(stage['conflicts'])} staged edit(s) conflict with labels "
                           f"committed since: {ids}; relabel them again or unstage them "
                           "(see `ide status`)")
        edits = stage["labels"] + [{"id": r["id"], "old": r["old"], "new": None}
                                   for r in stage["removed"]]
        if not edits and not stage["checked"]:
            staged.clear(ws, name, owner)
            raise _nothing_to_commit(ws, name, owner, had, version)
        edits.sort(key=lambda e: e["id"])
        text = ds.format_labels(apply_edits(version.labels, edits))
        _check_worktree(ws, version, text)
        rev = _commit_labels(ws, version, edits, message, author,
                             marks=stage["checked"], text=text, verify=verify)
        staged.clear(ws, name, owner, committed=rev)
    return rev


def checkout(ws: Workspace, name: str, rev: str, *, author: str | None = None) -> str:
    """Restore the labels of REV, and its classes with them (a class renamed, merged or
    added since is undone too), as a new commit (examples REV has and HEAD lacks come back:
    their images are still in the DVC history)."""
    with state.lock(ws):
        head, old = versions.resolve(ws, name), versions.resolve(ws, name, rev)
        edits = ds.diff_labels(head.labels, old.labels)
        if not edits and old.classes == head.classes:
            raise NothingToDo(f"labels of {name!r} at {rev} are the same as HEAD's")
        return _commit_labels(ws, head, edits,
                              f"Restore labels of {name} from {old.commit[:10]}", author,
                              classes=list(old.classes))


def _classes_before(ws: Workspace, head: Version, target: Version) -> list[str]:
    """HEAD's classes with the class changes of TARGET's commit undone: a class it added
    (or renamed to) goes, one it removed (merged, or renamed from) comes back in its old
    place."""
    try:
        parent = versions.resolve(ws, head.name, f"{target.commit}^").classes
    except IDEError:  # the commit that created the dataset: no classes before it
        return list(head.classes)
    added = set(target.classes) - set(parent)
    classes = [c for c in head.classes if c not in added]
    for c in parent:
        if c not in classes and c not in head.classes:
            classes.insert(min(parent.index(c), len(classes)), c)
    return classes


def revert(ws: Workspace, name: str, rev: str, *, author: str | None = None) -> str:
    """Undo the label and class changes of commit REV as a new commit (conflicts if changed
    since): examples it removed come back, examples it added are removed again, a class it
    renamed, merged or added is as before."""
    with state.lock(ws):
        head, target = versions.resolve(ws, name), versions.resolve(ws, name, rev)
        changes = history.commit_diff(ws, target)
        classes = _classes_before(ws, head, target)
        if not changes and tuple(classes) == head.classes:
            raise NothingToDo(f"commit {rev} changed no labels of {name!r}")
        moved = [c["id"] for c in changes if head.labels.get(c["id"]) != c["new"]]
        if moved:
            raise Conflict(f"cannot revert {rev}: changed again since: " + ", ".join(moved[:10]))
        edits = [{"id": c["id"], "old": c["new"], "new": c["old"]} for c in changes]
        gone = {lab for lab in apply_edits(head.labels, edits).values() if lab} - set(classes)
        if gone:
            raise Conflict(f"cannot revert {rev}: examples labelled {', '.join(sorted(gone))} "
                           "since; relabel them first")
        return _commit_labels(ws, head, edits, f"Revert label edits of {target.commit[:10]}",
                              author, classes=classes)
