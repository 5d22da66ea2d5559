"""The dataset's version control: staged label edits, dataset commits, log, diff, history.

Every git and DVC side effect of the IDE lives here. Label commits change `labels.csv` (and
the list of checked examples) only: images are DVC-tracked at import and never rewritten.
Staged edits are a small JSON file under `.ide/staged/`, written atomically, so they survive
a crash; `commit` rebuilds the labels from HEAD plus the staged edits, so a crash at any
point between staging and committing loses nothing and repeating the command finishes it.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from . import dataset as ds
from .errors import Conflict, IDEError, InvalidInput, NothingToDo, UnknownDataset
from .workspace import Workspace, read_json, write_atomic, write_json

_AUTHOR = re.compile(r"^\s*([^<>]+?)\s*<([^<>\s]+)>\s*$")
_LOG_FORMAT = "%x1e%H%x1f%an <%ae>%x1f%aI%x1f%s"
DEFAULT_IDENTITY = ("ide", "ide@localhost")


# -- workspaces --------------------------------------------------------------------------
def init(path: Path | str) -> Workspace:
    """Make PATH a workspace (git + DVC, analytics off, `.ide/` ignored); safe to repeat."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    ws = Workspace(root)
    if not (ws.root / ".git").exists():
        ws.git("init", "-q")
    if not (ws.root / ".dvc").is_dir():
        ws.dvc("init", "-q")
    ws.dvc("config", "core.analytics", "false")
    ws.dvc("config", "core.check_update", "false")
    ignore = ws.root / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if "/.ide/" not in lines:
        write_atomic(ignore, "\n".join([*lines, "/.ide/"]) + "\n")
    paths = [p for p in (".gitignore", ".dvc/config", ".dvc/.gitignore", ".dvcignore")
             if (ws.root / p).exists()]
    ws.git("add", "--", *paths)
    if ws.git("diff", "--cached", "--name-only", "--", *paths).strip():
        _git_commit(ws, paths, "Initialise ide workspace", None)
    return ws


def datasets(ws: Workspace) -> list[str]:
    """Names of the datasets committed at HEAD."""
    if ws.head() is None:
        return []
    out = ws.git("ls-tree", "--name-only", "HEAD", "datasets/")
    return sorted(p.split("/", 1)[1] for p in out.split() if
                  ws.show("HEAD", f"{p}/labels.csv") is not None)


def _labels_blob(ws: Workspace, name: str, rev: str = "HEAD") -> str:
    """The git blob id of NAME's labels.csv at REV; UnknownDataset if there is none."""
    folder = ds.dataset_dir(name)
    blob = ws.git("rev-parse", "--verify", "--quiet", f"{rev}:{folder}/labels.csv",
                  check=False).strip() if ws.head() else ""
    if not blob:
        known = ", ".join(datasets(ws)) or "none yet; use `ide import`"
        raise UnknownDataset(f"unknown dataset {name!r} (datasets: {known})")
    return blob


def _require(ws: Workspace, name: str, rev: str = "HEAD") -> str:
    _labels_blob(ws, name, rev)
    return ds.dataset_dir(name)


@functools.lru_cache(maxsize=16)
def _parse_blob(root: str, blob: str) -> Mapping[str, str]:
    # A blob id names its content: parsing it once per process is always right.
    text = Workspace(root).git("cat-file", "blob", blob)
    return MappingProxyType(ds.parse_labels(text))


def labels(ws: Workspace, name: str, rev: str = "HEAD") -> Mapping[str, str]:
    """{id: label} of dataset NAME as committed at REV (read-only)."""
    return _parse_blob(str(ws.root), _labels_blob(ws, name, ws.rev_parse(rev)))


def meta(ws: Workspace, name: str, rev: str = "HEAD") -> dict:
    """dataset.yaml at REV: at least `classes`, in order."""
    folder = _require(ws, name, rev)
    return ds.parse_meta(ws.show(rev, f"{folder}/dataset.yaml") or "")


def checked(ws: Workspace, name: str, rev: str = "HEAD") -> set[str]:
    """Ids a reviewer marked as 'label is right' (committed in checked.txt)."""
    text = ws.show(rev, f"{ds.dataset_dir(name)}/checked.txt") or ""
    return set(text.split("\n")) - {""}


# -- the one place commits are made ------------------------------------------------------
def _identity(author: str | None) -> dict:
    env = {}
    if author:
        m = _AUTHOR.match(author)
        if not m:
            raise InvalidInput(f"author must look like 'Name <email>', got {author!r}")
        env.update(GIT_AUTHOR_NAME=m[1], GIT_AUTHOR_EMAIL=m[2])
    return env


def _git_commit(ws: Workspace, paths: list[str], message: str, author: str | None) -> str:
    env = _identity(author)
    # A fresh machine may have no git identity: fall back rather than fail the commit.
    if not ws.git("config", "user.email", check=False).strip():
        env.setdefault("GIT_AUTHOR_NAME", DEFAULT_IDENTITY[0])
        env.setdefault("GIT_AUTHOR_EMAIL", DEFAULT_IDENTITY[1])
        env.update(GIT_COMMITTER_NAME=env["GIT_AUTHOR_NAME"],
                   GIT_COMMITTER_EMAIL=env["GIT_AUTHOR_EMAIL"])
    ws.git("add", "--", *paths)
    ws.git("commit", "-q", "--no-verify", "-m", message, "--", *paths, env=env)
    return ws.head()


@contextlib.contextmanager
def _restoring(ws: Workspace, paths: list[str]):
    """Put the working copies of PATHS back as they were if the block fails."""
    before = {p: (ws.root / p).read_bytes() if (ws.root / p).exists() else None for p in paths}
    try:
        yield
    except BaseException:
        ws.git("reset", "-q", "--", *paths, check=False)
        for p, data in before.items():
            if data is None:
                shutil.rmtree(ws.root / p, ignore_errors=True)
                (ws.root / p).unlink(missing_ok=True)
            else:
                (ws.root / p).write_bytes(data)
        raise


# -- import ------------------------------------------------------------------------------
def import_dataset(ws: Workspace, name: str, src, *, labels_csv=None, skip_bad: bool = False,
                   author: str | None = None, say=lambda message: None) -> dict:
    """Copy a folder of images into datasets/NAME (DVC-tracked) with its labels; one commit.

    SAY(message) is told each step as it starts (a large import takes a while).
    """
    folder = ds.dataset_dir(name)
    if (ws.root / folder).exists():
        raise InvalidInput(f"dataset {name!r} already exists ({folder})")
    say(f"checking every image in {src}")
    source = ds.scan_source(src, labels_csv)
    if source.bad and not skip_bad:
        raise InvalidInput(f"{len(source.bad)} bad file(s), nothing imported (use --skip-bad "
                           f"to import the rest): " + "; ".join(source.bad))
    if not source.files:
        raise InvalidInput(f"no readable images in {src}")
    classes = [c for c in source.classes if c in set(source.labels.values())]
    with ws.lock(), _restoring(ws, [folder]):
        say(f"copying {len(source.files)} images into {folder}/images")
        root = ws.root / folder
        for rel, path in source.files.items():
            dest = root / "images" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        write_atomic(root / "labels.csv", ds.format_labels(source.labels))
        write_atomic(root / "dataset.yaml", ds.format_meta({"name": name, "classes": classes}))
        params = ds.suggest_params(list(source.files.values()))
        write_atomic(root / "params.yaml", ds.format_meta(asdict(params)))
        write_atomic(root / "dvc.yaml", ds.stage_yaml())
        say("tracking the images with DVC")
        ws.dvc("add", "-q", f"{folder}/images")
        files = ["labels.csv", "dataset.yaml", "params.yaml", "dvc.yaml", "images.dvc",
                 ".gitignore"]
        msg = f"Import dataset {name}: {len(source.files)} examples, {len(classes)} classes"
        if source.bad:
            msg += f"\n\nSkipped {len(source.bad)} bad file(s):\n" + \
                "\n".join(f"  {b}" for b in source.bad)
        commit = _git_commit(ws, [f"{folder}/{f}" for f in files], msg, author)
    return {"commit": commit, "examples": len(source.files), "classes": classes,
            "skipped": source.bad}


# -- staging -----------------------------------------------------------------------------
def _staged_path(ws: Workspace, name: str) -> Path:
    return ws.state_path("staged", f"{name}.json")


def _load_staged(ws, name) -> dict:
    return read_json(_staged_path(ws, name), {"labels": {}, "checked": []})


def staged(ws: Workspace, name: str) -> dict:
    """The staged edits against HEAD: {"labels": [{"id","old","new"}], "checked": [ids]}.

    Edits that HEAD already has (say, after a crash right after a commit) are not listed.
    """
    base = labels(ws, name)
    stage = _load_staged(ws, name)
    edits = [{"id": i, "old": base.get(i), "new": new} for i, new in stage["labels"].items()
             if base.get(i) != new]
    done = checked(ws, name)
    return {"labels": edits, "checked": [i for i in stage["checked"] if i not in done]}


def relabel(ws: Workspace, name: str, edits: dict[str, str], *,
            expected: dict[str, str] | None = None) -> list[dict]:
    """Stage label edits {id: new label}, validated, on disk until committed.

    EXPECTED maps ids to the label the editor saw; if someone else has since staged or
    committed another label for that id, nothing is staged and Conflict is raised.
    """
    if not edits:
        raise InvalidInput("no edits given")
    base = labels(ws, name)
    classes = meta(ws, name)["classes"]
    for i, new in edits.items():
        if i not in base:
            raise InvalidInput(f"unknown example id {i!r} in dataset {name!r}")
        ds.check_label(new, classes)
    with ws.lock():
        stage = _load_staged(ws, name)
        for i, seen in (expected or {}).items():
            now = stage["labels"].get(i, base[i])
            if now != seen:
                raise Conflict(f"{i} was changed by someone else to {now!r} (you saw "
                               f"{seen!r}); reload and try again")
        for i, new in edits.items():
            stage["labels"].pop(i, None)
            if new != base[i]:
                stage["labels"][i] = new
        write_json(_staged_path(ws, name), stage)
    return staged(ws, name)["labels"]


def mark_checked(ws: Workspace, name: str, ids: list[str]) -> None:
    """Stage 'checked, label is right' marks: such examples stop being shown as suspects."""
    base = labels(ws, name)
    for i in ids:
        if i not in base:
            raise InvalidInput(f"unknown example id {i!r} in dataset {name!r}")
    with ws.lock():
        stage = _load_staged(ws, name)
        stage["checked"] = sorted(set(stage["checked"]) | set(ids))
        write_json(_staged_path(ws, name), stage)


def unstage(ws: Workspace, name: str, ids: list[str] | None = None) -> None:
    """Drop staged edits and marks for IDS (all of them when IDS is None)."""
    _require(ws, name)
    with ws.lock():
        stage = _load_staged(ws, name)
        if ids is None:
            stage = {"labels": {}, "checked": []}
        else:
            for i in ids:
                stage["labels"].pop(i, None)
            stage["checked"] = [i for i in stage["checked"] if i not in ids]
        write_json(_staged_path(ws, name), stage)


def _edit_message(message: str, edits: list[dict], marks: list[str] = ()) -> str:
    message = (message or "").strip()
    if not message:
        raise InvalidInput("empty commit message")
    parts = [message]
    if edits:
        parts.append(f"Label edits ({len(edits)}):\n" +
                     "\n".join(f"  {e['id']}: {e['old']} -> {e['new']}" for e in edits))
    if marks:
        parts.append(f"Checked ({len(marks)}):\n" + "\n".join(f"  {i}" for i in marks))
    return "\n\n".join(parts)


def _commit_labels(ws, name, edits: list[dict], message: str, author, *,
                   marks: list[str] = (), text: str | None = None) -> str:
    """Apply EDITS ({"id","old","new"} against HEAD) and the checked MARKS, and commit them:
    the one label-commit path. TEXT: the new labels.csv, if the caller already made it."""
    folder = ds.dataset_dir(name)
    path = f"{folder}/labels.csv"
    if text is None:
        text = ds.format_labels({**labels(ws, name), **{e["id"]: e["new"] for e in edits}})
    paths = [path] + ([f"{folder}/checked.txt"] if marks else [])
    with _restoring(ws, paths):
        write_atomic(ws.root / path, text)
        if marks:
            done = sorted(checked(ws, name) | set(marks))
            write_atomic(ws.root / folder / "checked.txt", "\n".join(done) + "\n")
        rev = _git_commit(ws, paths, _edit_message(message, edits, marks), author)
    write_json(_changes_path(ws, name, rev), {
        "created": False, "edits": len(edits),
        "changes": [[e["id"], e["old"], e["new"]] for e in edits]})
    return rev


def _check_worktree(ws: Workspace, name: str, ours: str) -> None:
    """Refuse to overwrite hand edits of labels.csv: it must be as at HEAD, or OURS (the
    text this commit writes, left by a crash of an earlier try)."""
    rel = f"{ds.dataset_dir(name)}/labels.csv"
    path = ws.root / rel
    if not path.exists():
        return
    if ws.git("hash-object", "--", rel).strip() == _labels_blob(ws, name):
        return
    if path.read_text() != ours:
        raise IDEError(f"{rel} has uncommitted changes made outside ide: commit them with "
                       "git, or discard them with git checkout")


def commit(ws: Workspace, name: str, message: str, *, author: str | None = None) -> str:
    """Turn the staged edits into one git commit that changes labels.csv only."""
    _identity(author)  # a bad author is an error before anything is written
    with ws.lock():
        stage = staged(ws, name)
        if not stage["labels"] and not stage["checked"]:
            unstage(ws, name)
            raise NothingToDo(f"nothing staged for {name!r} (use `ide relabel`)")
        text = ds.format_labels({**labels(ws, name),
                                 **{e["id"]: e["new"] for e in stage["labels"]}})
        _check_worktree(ws, name, text)
        rev = _commit_labels(ws, name, stage["labels"], message, author,
                             marks=stage["checked"], text=text)
        unstage(ws, name)
    return rev


def checkout(ws: Workspace, name: str, rev: str, *, author: str | None = None) -> str:
    """Restore the labels of REV as a new commit."""
    commit_id = ws.rev_parse(rev)
    edits = ds.diff_labels(labels(ws, name), labels(ws, name, commit_id))
    if not edits:
        raise NothingToDo(f"labels of {name!r} at {rev} are the same as HEAD's")
    if any(e["old"] is None or e["new"] is None for e in edits):
        raise InvalidInput(f"{rev} has other examples than HEAD; only labels can be restored")
    with ws.lock():
        return _commit_labels(ws, name, edits,
                              f"Restore labels of {name} from {commit_id[:10]}", author)


def revert(ws: Workspace, name: str, rev: str, *, author: str | None = None) -> str:
    """Undo the label changes of commit REV as a new commit (conflicts if changed since)."""
    commit_id = ws.rev_parse(rev)
    changes = commit_diff(ws, name, commit_id)
    if not changes:
        raise NothingToDo(f"commit {rev} changed no labels of {name!r}")
    if any(c["old"] is None or c["new"] is None for c in changes):
        raise InvalidInput(f"commit {rev} added or removed examples; only label changes "
                           "can be reverted")
    head = labels(ws, name)
    moved = [c["id"] for c in changes if head.get(c["id"]) != c["new"]]
    if moved:
        raise Conflict(f"cannot revert {rev}: changed again since: " + ", ".join(moved[:10]))
    edits = [{"id": c["id"], "old": c["new"], "new": c["old"]} for c in changes]
    with ws.lock():
        return _commit_labels(ws, name, edits, f"Revert label edits of {commit_id[:10]}",
                              author)


# -- reading history ---------------------------------------------------------------------
def _changes_path(ws: Workspace, name: str, commit: str) -> Path:
    return ws.state_path("changes", name, f"{commit}.json")


def _changes(ws: Workspace, name: str, commit: str) -> dict:
    """What COMMIT did to NAME's labels against its first parent:
    {"created": bool, "edits": n, "changes": [[id, old, new], ...]}.

    A commit never changes, so this is computed once (by `ide commit`, or from git's diff
    for commits made otherwise) and kept under .ide/changes/: `git log --numstat` on a
    100,000-line file costs 50 ms a commit, too slow for `log` and `history`.
    """
    cached = read_json(_changes_path(ws, name, commit), None)
    if cached is not None:
        return cached
    path = f"{ds.dataset_dir(name)}/labels.csv"
    parent = ws.git("rev-parse", "--verify", "--quiet", f"{commit}^", check=False).strip()
    if not parent or ws.show(parent, path) is None:
        result = {"created": True, "edits": len(labels(ws, name, commit)), "changes": []}
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
                  "changes": [[c["id"], c["old"], c["new"]] for c in changes]}
    write_json(_changes_path(ws, name, commit), result)
    return result


def _records(out: str):
    """Split `git log` output made with _LOG_FORMAT into entries."""
    for rec in out.split("\x1e")[1:]:
        sha, author, date, subject = rec.strip("\n").split("\x1f")
        yield {"commit": sha, "author": author, "date": date, "message": subject}


def log(ws: Workspace, name: str, rev: str = "HEAD") -> list[dict]:
    """Dataset commits, newest first: commit, author, date, message, edits (metrics: None)."""
    folder = _require(ws, name, rev)
    out = ws.git("log", f"--format={_LOG_FORMAT}", ws.rev_parse(rev), "--",
                 f"{folder}/labels.csv", f"{folder}/checked.txt")
    return [{**e, "edits": _changes(ws, name, e["commit"])["edits"], "metrics": None}
            for e in _records(out)]


def diff(ws: Workspace, name: str, rev: str, rev2: str | None = None) -> list[dict]:
    """Label changes from REV to REV2 (default HEAD): [{"id", "old", "new"}]."""
    return ds.diff_labels(labels(ws, name, rev), labels(ws, name, rev2 or "HEAD"))


def commit_diff(ws: Workspace, name: str, rev: str) -> list[dict]:
    """The label changes commit REV itself made (against its first parent)."""
    commit = ws.rev_parse(rev)
    _require(ws, name, commit)
    ch = _changes(ws, name, commit)
    if ch["created"]:
        return ds.diff_labels({}, labels(ws, name, commit))
    return [{"id": i, "old": old, "new": new} for i, old, new in ch["changes"]]


def history(ws: Workspace, name: str, example_id: str) -> list[dict]:
    """Every label the example has had, newest first: commit, author, date, message, label."""
    if example_id not in labels(ws, name):
        raise InvalidInput(f"unknown example id {example_id!r} in dataset {name!r}")
    found = []
    for entry in log(ws, name):
        ch = _changes(ws, name, entry["commit"])
        if ch["created"]:
            label = labels(ws, name, entry["commit"]).get(example_id)
        else:
            label = next((new for i, _, new in ch["changes"] if i == example_id), None)
        if label is not None:
            found.append({**{k: entry[k] for k in ("commit", "author", "date", "message")},
                          "label": label})
    return found


# -- images and export -------------------------------------------------------------------
def image_files(ws: Workspace, name: str, rev: str = "HEAD") -> dict[str, tuple[str, Path]]:
    """{id: (md5, path)} of the images recorded at REV, read from the DVC cache.

    Where the cache lacks a file (a clone that never ran `dvc pull`) the working copy is
    used instead; an image found in neither is left out.
    """
    folder = _require(ws, name, rev)
    dvcfile = images_hash(ws, name, rev)
    cache = ws.root / ".dvc" / "cache" / "files" / "md5"
    manifest = cache / dvcfile[:2] / dvcfile[2:]
    try:
        entries = json.loads(manifest.read_text())
    except (FileNotFoundError, ValueError):
        raise IDEError(f"the DVC cache has no manifest for {folder}/images at {rev}; "
                       "run `dvc pull` or `dvc checkout`") from None
    files = {}
    for e in entries:
        md5, rel = e["md5"], e["relpath"]
        path = cache / md5[:2] / md5[2:]
        if not path.exists():
            path = ws.root / folder / "images" / rel
        if path.exists():
            files[rel] = (md5, path)
    return files


def images_hash(ws: Workspace, name: str, rev: str) -> str:
    """The DVC hash (`<md5>.dir`) of NAME's images as recorded at REV."""
    return ds.images_hash(ws.show(rev, f"{ds.dataset_dir(name)}/images.dvc") or "")


def export(ws: Workspace, name: str, out, *, fmt: str = "imagefolder",
           rev: str = "HEAD") -> int:
    """Write the labels of REV with their images to OUT: ImageFolder, or images + labels.csv."""
    if fmt not in ("imagefolder", "csv"):
        raise InvalidInput(f"unknown export format {fmt!r} (imagefolder, csv)")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InvalidInput(f"{out} exists and is not empty")
    lab = labels(ws, name, rev)
    files = image_files(ws, name, rev)
    missing = [i for i in lab if i not in files]
    if missing:
        raise IDEError(f"{len(missing)} image(s) missing from the DVC cache, e.g. {missing[0]}")
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        rows = {}
        for i, label in lab.items():
            dest = out / "images" / i
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(files[i][1], dest)
            rows[f"images/{i}"] = label
        text = ds.format_labels(rows).replace("id,label", "path,label", 1)
        write_atomic(out / "labels.csv", text)
        return len(rows)
    used = set()
    for i, label in sorted(lab.items()):
        base = Path(i).name
        rel = f"{label}/{base}" if f"{label}/{base}" not in used else \
            f"{label}/{i.replace('/', '__')}"
        used.add(rel)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[i][1], out / rel)
    return len(lab)
