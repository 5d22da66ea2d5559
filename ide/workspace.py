"""Finding a workspace and talking to its git and DVC: the only place that runs either.

A workspace is a git repository with DVC initialised (`ide init`). Commands find it from the
current directory upwards, as git does, or from an explicit directory (`-C DIR`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .errors import IDEError, NotAWorkspace

# DVC must never reach for the network (no analytics, no update check).
DVC_ENV = {"DVC_NO_ANALYTICS": "1", "DVC_NO_UPDATER": "1"}


class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

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
            lock = self.root / ".git" / "index.lock"
            if "index.lock" in proc.stderr and lock.exists():
                raise IDEError(f"git {args[0]} failed: {lock} exists, left by a git process "
                               "that was killed (or one still running); no edit was lost: "
                               "if no git command is running, delete that file and repeat "
                               "the command")
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

    def head(self) -> str | None:
        """The commit id of HEAD, or None in a repository without commits."""
        out = self.git("rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()
        return out or None

    def read_at(self, rev: str, paths: list[str]) -> tuple[str, list[tuple[str, bytes] | None]]:
        """The commit id of REV and, for each of PATHS at that commit, (blob id, content) or
        None where it does not exist: one git process, however many paths."""
        if not rev or rev.startswith("-") or "\n" in rev:
            raise IDEError(f"unknown revision: {rev!r}")
        proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.root,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            # The commit first, then the paths at that commit id (not at REV again, which
            # could move in between).
            proc.stdin.write(f"{rev}^{{commit}}\n".encode())
            proc.stdin.flush()
            commit = _read_object(proc.stdout)
            if commit is not None:
                proc.stdin.write("".join(f"{commit[0]}:{p}\n" for p in paths).encode())
            proc.stdin.close()
            found = [_read_object(proc.stdout) for _ in paths] if commit else []
        finally:
            proc.stdout.close()
            proc.wait()
        if commit is None:
            raise IDEError(f"unknown revision: {rev}")
        return commit[0], found


def _read_object(stream) -> tuple[str, bytes] | None:
    """One answer of `git cat-file --batch`: (object id, content), or None if missing."""
    header = stream.readline().split()
    if len(header) != 3:  # "<name> missing" (or "ambiguous")
        return None
    content = stream.read(int(header[2]) + 1)[:-1]  # the content, then a newline
    return header[0].decode(), content
