"""The workspace's local state under `.ide/`: its folders, atomic writes, and locks.

`.ide/` is git-ignored and holds what is not versioned: staged edits, training runs, the
worker's queue, caches (label changes per commit, decoded arrays, image measurements,
thumbnails) and lock files. Asking for a path creates nothing; a write creates the
folders it needs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from filelock import FileLock, Timeout

DIRNAME = ".ide"
# The named subfolders, one per owner: each is written by one module only.
STAGED = "staged"      # ide.repo.staged: staged label edits and checked marks, per branch
CHANGES = "changes"    # ide.repo.history: what each commit changed, per dataset
RUNS = "runs"          # ide.learn.runs: training results per dataset version
ARRAYS = "arrays"      # ide.repo.images: decoded images, by the images' hash
EMBEDDINGS = "embeddings"  # ide.learn.embeddings: a backbone's vector per image content
ISSUES = "issues"      # ide.ops.issues: image measurements (dark, blurry, ...) by content
THUMBS = "thumbs"      # ide.app.thumbs: thumbnails, by image content
ATLAS = "atlas"        # ide.ops.atlas: 2-D layouts of the map, per dataset and run
WORKER = "worker"      # ide.ops.worker: queue, status, errors
TRAINER = "trainer"    # ide.ops.sync: the last commit a trainer trained, per remote branch
IMPORTS = "imports"    # ide.ops.transfer: a marker per import under way (a crash leaves it)
LOCKS = "locks"        # lock files (here)


def path(ws, *parts: str) -> Path:
    """The path of PARTS under the workspace's `.ide/` (nothing is created)."""
    return ws.root.joinpath(DIRNAME, *parts)


def write_atomic(target: Path, data: str | bytes) -> None:
    """Write a file so that a crash leaves either the old or the new content, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(tmp, "wb" if isinstance(data, bytes) else "w",
              **({} if isinstance(data, bytes) else {"newline": ""})) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def read_json(target: Path, default, *, valid=None):
    """The JSON in TARGET, or DEFAULT if there is none.

    A file that is not JSON, not of DEFAULT's type, or fails VALID(data) is moved aside
    (`<name>.bad`) with a warning and DEFAULT is returned, so its owner rebuilds it: a
    corrupt state file never stops a command, the app or the worker.
    """
    try:
        data = json.loads(target.read_text())
    except FileNotFoundError:
        return default
    except (ValueError, OSError):  # not JSON (or not UTF-8), unreadable
        data = _BAD
    try:
        ok = data is not _BAD and (default is None or isinstance(data, type(default))) \
            and (valid is None or bool(valid(data)))
    except (TypeError, KeyError, AttributeError):
        ok = False
    if ok:
        return data
    bad = target.with_name(target.name + ".bad")
    try:
        os.replace(target, bad)
    except FileNotFoundError:  # another reader moved it first
        pass
    print(f"ide: warning: {target} was corrupt; moved to {bad.name} and rebuilt",
          file=sys.stderr, flush=True)
    return default


_BAD = object()


def write_json(target: Path, data) -> None:
    write_atomic(target, json.dumps(data, indent=1, sort_keys=False) + "\n")


def lock(ws, name: str = "workspace", *, timeout: float = -1) -> FileLock:
    """An exclusive lock between processes and threads (CLI, app sessions, worker).

    Use it as a context manager. Re-entrant within a thread (one lock object per path,
    with a hold count per thread), so an operation that locks may call another that does.
    TIMEOUT 0: fail at once (filelock.Timeout) instead of waiting.
    """
    file = path(ws, LOCKS, name)
    file.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(file, timeout=timeout, is_singleton=True, preserve_lock_file=True)


def held_elsewhere(ws, name: str) -> bool:
    """Whether anyone, this process included, holds lock NAME now (asks without waiting)."""
    file = path(ws, LOCKS, name)
    if not file.exists():
        return False
    # A fresh lock object has its own descriptor, so it also sees this process's holders.
    probe = FileLock(file, timeout=0, preserve_lock_file=True)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False
