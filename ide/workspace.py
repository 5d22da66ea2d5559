"""Finding a workspace and talking to its git: the only place that runs the git binary.

A workspace is a git repository with DVC initialised (`ide init`). Commands find it from the
current directory upwards, as git does, or from an explicit directory (`-C DIR`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import threading
from pathlib import Path

from .errors import IDEError, NotAWorkspace

# DVC must never reach for the network (no analytics, no update check).
DVC_ENV = {"DVC_NO_ANALYTICS": "1", "DVC_NO_UPDATER": "1"}
_held = threading.local()  # lock files this thread holds


class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.state = self.root / ".ide"

    def __repr__(self):
        return f"Workspace({str(self.root)!r})"

    @classmethod
    def find(cls, start: Path | str | None = None) -> "Workspace":
        here = Path(start or os.getcwd()).resolve()
        if not here.exists():
            raise NotAWorkspace(f"no such directory: {here}")
        for d in (here, *here.parents):
            if (d / ".dvc").is_dir() and (d / ".git").exists():
                return cls(d)
        raise NotAWorkspace(f"not inside an ide workspace: {here} (run `ide init DIR` first)")

    # -- git --------------------------------------------------------------------------
    def git(self, *args: str, input: str | None = None, check: bool = True, env=None) -> str:
        """Run git in the workspace and return its stdout; a failure becomes an IDEError."""
        proc = subprocess.run(
            ["git", *args], cwd=self.root, input=input, capture_output=True, text=True,
            env={**os.environ, **(env or {})},
        )
        if check and proc.returncode != 0:
            msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise IDEError(f"git {args[0]} failed: {msg[-1] if msg else proc.returncode}")
        return proc.stdout

    def dvc(self, *args: str) -> str:
        proc = subprocess.run(
            ["dvc", *args], cwd=self.root, capture_output=True, text=True,
            env={**os.environ, **DVC_ENV},
        )
        if proc.returncode != 0:
            msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise IDEError(f"dvc {args[0]} failed: {msg[-1] if msg else proc.returncode}")
        return proc.stdout

    def rev_parse(self, rev: str) -> str:
        """The full commit id of REV, or a clear error if git does not know it."""
        if not rev or rev.startswith("-"):
            raise IDEError(f"unknown revision: {rev!r}")
        out = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        if not out.strip():
            raise IDEError(f"unknown revision: {rev}")
        return out.strip()

    def head(self) -> str | None:
        out = self.git("rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()
        return out or None

    def show(self, rev: str, path: str) -> str | None:
        """The text of PATH (relative to the root) at REV, or None where it does not exist."""
        proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=self.root,
                              capture_output=True)
        return proc.stdout.decode("utf-8") if proc.returncode == 0 else None

    # -- local state under .ide/ ---------------------------------------------------------
    def state_path(self, *parts: str) -> Path:
        path = self.state.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def lock(self, name: str = "workspace"):
        """An exclusive lock between processes and threads (CLI, app sessions, worker).

        Re-entrant within a thread: flock would deadlock on a second open of the same file.
        """
        path = self.state_path("locks", name)
        held = _held.__dict__.setdefault("paths", set())
        if path in held:
            yield
            return
        with open(path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            held.add(path)
            try:
                yield
            finally:
                held.discard(path)
                fcntl.flock(fh, fcntl.LOCK_UN)


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a crash leaves either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def write_json(path: Path, data) -> None:
    write_atomic(path, json.dumps(data, indent=1, sort_keys=False) + "\n")
