"""Finding a workspace and talking to its git and DVC: the only place that runs either.

A workspace is a git repository with DVC initialised (`ide init`), or a folder of one
(`dvc init --subdir`): its root is the folder that holds `.dvc/`, and every path ide uses
is relative to it. Commands find it from the current directory upwards, as git does, or
from an explicit directory (`-C DIR`).
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
from pathlib import Path

from ide.data.mergedriver import OPERATIONS
from ide.errors import IDEError, NotAWorkspace

# DVC must never reach for the network (no analytics, no update check).
DVC_ENV = {"DVC_NO_ANALYTICS": "1", "DVC_NO_UPDATER": "1"}
# The name of ide's git merge driver (ide.data.mergedriver), as `.gitattributes` refers to it.
MERGE_DRIVER = "ide"
# Training results that `ide publish` commits: two sides' results of different labels are
# both stale after a merge (the merge is a new version, trained again), so ours is kept.
RESULTS_DRIVER = "ide-results"
RESULT_FILES = ("dvc.lock", "metrics.json", "confusion.csv", "history.csv")
# DVC's own driver merges the `.dir` listings of two `ide add`s to one images folder.
DVC_DRIVER = "dvc"
MERGE_ATTRIBUTES = [f"datasets/*/{f} merge={MERGE_DRIVER}" for f in ("labels.csv", "checked.txt")
                    ] + [f"datasets/*/{f} merge={RESULTS_DRIVER}" for f in RESULT_FILES
                         ] + [f"datasets/*/images.dvc merge={DVC_DRIVER}"]
# The hook that refuses a commit (a `git commit`, `rebase --continue`, `cherry-pick
# --continue`) while a label conflict the driver recorded is unsettled. Only when a record
# exists does it start Python, so an ordinary commit costs nothing.
HOOK = "prepare-commit-msg"
HOOK_MARK = "# ide: label conflicts must be settled first"
# Who commits where git has no identity configured (ide never fails a commit for want of one).
DEFAULT_IDENTITY = ("ide", "ide@localhost")


class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self._git_paths: dict[str, Path] = {}

    def __repr__(self):
        return f"Workspace({str(self.root)!r})"

    @classmethod
    def find(cls, start: Path | str | None = None) -> "Workspace":
        here = Path(start or os.getcwd()).resolve()
        if not here.exists():
            raise NotAWorkspace(f"no such directory: {here}")
        for d in (here, *here.parents):
            if (d / ".dvc").is_dir() and any((g / ".git").exists() for g in (d, *d.parents)):
                ws = cls(d)
                ws.install_merge_driver()
                return ws
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
            raise IDEError(f"git {args[0]} failed: {_reason(proc)}")
        return proc.stdout

    def dvc(self, *args: str) -> str:
        """Run DVC, the one installed beside ide (not whatever `dvc` is first on PATH). Never
        with `-q`: it silences DVC's errors too, and a failure must say DVC's reason."""
        proc = subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=self.root, capture_output=True,
            text=True,
            env={**os.environ, **DVC_ENV},
        )
        if proc.returncode != 0:
            raise IDEError(f"dvc {args[0]} failed: {_reason(proc)}")
        return proc.stdout

    def install_merge_driver(self) -> None:
        """Register the merge drivers the committed `.gitattributes` asks for (ide's for
        labels, DVC's for images.dvc) in this clone's git config, and the hook that keeps a
        commit from leaving a label conflict unsettled: git config and hooks are per clone,
        so a fresh clone gets them from its first ide command."""
        attributes = self.root / ".gitattributes"
        asked = attributes.read_text() if attributes.exists() else ""
        if f"merge={MERGE_DRIVER}" not in asked:
            return
        python = shlex.quote(sys.executable)
        drivers = [(MERGE_DRIVER, f"{python} -m ide.data.mergedriver %O %A %B %P",
                    "labels merged by example id"),
                   (RESULTS_DRIVER, "true", "training results: ours")]
        if f"merge={DVC_DRIVER}" in asked:
            drivers.append((DVC_DRIVER, f"{python} -m dvc git-hook merge-driver --ancestor %O "
                            "--our %A --their %B", "DVC merge driver"))
        config = self.git_path("config")
        text = config.read_text() if config.exists() else ""
        if all(f"driver = {value}\n" in text for _, value, _ in drivers):
            self._install_hook(python)
            return  # read without a git process: this runs before every command
        for name, value, about in drivers:
            if self.git("config", "--get", f"merge.{name}.driver", check=False).strip() != value:
                self.git("config", f"merge.{name}.name", f"ide: {about}")
                self.git("config", f"merge.{name}.driver", value)
        self._install_hook(python)

    def _install_hook(self, python: str) -> None:
        """Write the `prepare-commit-msg` hook, unless the clone has one of its own (which
        is left alone: docs/TEAM.md says how to call ide's from it)."""
        path = self.git_path(f"hooks/{HOOK}")
        text = path.read_text() if path.exists() else ""
        script = (f"#!/bin/sh\n{HOOK_MARK} (`ide resolve`)\n"
                  'd="$(git rev-parse --git-dir)/ide-conflicts"\n'
                  '[ -n "$(ls -A "$d" 2>/dev/null)" ] || exit 0\n'
                  f"exec {python} -m ide.data.mergedriver --check\n")
        if text == script or (text and HOOK_MARK not in text):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script)
        path.chmod(0o755)

    def identity(self) -> dict:
        """Environment for a git process that commits: empty where git has an identity,
        else DEFAULT_IDENTITY as author and committer (so no ide command fails for want
        of `git config user.email`)."""
        if self.git("config", "user.email", check=False).strip() or \
                os.environ.get("GIT_COMMITTER_EMAIL"):
            return {}
        name, email = DEFAULT_IDENTITY
        return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}

    def cache_dir(self) -> Path:
        """The folder of DVC's content-addressed files (`<md5[:2]>/<md5[2:]>`), as DVC itself
        resolves it: `dvc cache dir`, a shared or external cache, all honoured."""
        configs = [self.root / ".dvc" / f for f in ("config", "config.local")]
        key = (self.root, *(c.stat().st_mtime_ns if c.exists() else 0 for c in configs))
        cached = _CACHE_DIRS.get(key)
        if cached is None:
            from dvc.repo import Repo

            with Repo(str(self.root)) as repo:
                cached = _CACHE_DIRS[key] = Path(repo.cache.local.path)
        return cached

    def git_path(self, name: str) -> Path:
        """The path of NAME inside the git directory (`.git/NAME` in a plain clone)."""
        if (self.root / ".git").is_dir():
            return self.root / ".git" / name
        if name not in self._git_paths:
            out = self.git("rev-parse", "--git-path", name).strip()
            self._git_paths[name] = self.root / out
        return self._git_paths[name]

    def branch(self) -> str | None:
        """The current branch's short name, or None when HEAD is detached (read from the
        HEAD file: this runs on every read of the staged edits)."""
        try:
            head = self.git_path("HEAD").read_text().strip()
        except OSError:
            return None
        return head[len("ref: refs/heads/"):] if head.startswith("ref: refs/heads/") else None

    def merging(self) -> bool:
        """Whether a git merge is unfinished (MERGE_HEAD exists)."""
        return self.git_path("MERGE_HEAD").exists()

    def operation(self) -> str | None:
        """What git is in the middle of: "merge", "rebase", "cherry-pick", "revert", or
        None."""
        return next((op for marker, op in OPERATIONS if self.git_path(marker).exists()),
                    None)

    def save_tree(self, ref: str, files: dict[str, Path], message: str, *,
                  blobs: dict[str, str] | None = None) -> str | None:
        """Commit FILES {path in the tree: file on disk} as the whole tree of REF (its parent:
        REF's commit before), outside the working tree and the index; BLOBS {path: blob id}:
        files already in git, not hashed again. Returns the new commit, or None if REF
        already has that tree."""
        if not files:
            return None
        known = blobs or {}
        todo = sorted(n for n in files if n not in known)
        hashed = self.git("hash-object", "-w", "--stdin-paths",
                          input="".join(f"{files[n]}\n" for n in todo)).split() if todo else []
        ids = {**known, **dict(zip(todo, hashed))}
        index = {"GIT_INDEX_FILE": str(self.git_path(f"ide-{os.getpid()}.index"))}
        try:
            self.git("update-index", "--add", "--index-info", env=index,
                     input="".join(f"100644 {ids[n]}\t{n}\n" for n in sorted(files)))
            tree = self.git("write-tree", env=index).strip()
        finally:
            Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
        parent = self.git("rev-parse", "-q", "--verify", ref, check=False).strip()
        if parent and self.git("rev-parse", f"{parent}^{{tree}}").strip() == tree:
            return None
        commit = self.git("commit-tree", tree, *(["-p", parent] if parent else []),
                          "-m", message, env=self.identity()).strip()
        self.git("update-ref", ref, commit)
        return commit

    def commit_onto(self, ref: str, base: str, files: dict[str, str], message: str) -> str:
        """Point REF at a commit whose parent is BASE and whose tree is BASE's with FILES
        {path under the workspace root: content} replaced, outside the working tree, the
        index and the branches. The same inputs make the same commit on any machine (the
        date is BASE's, the author ide's), so two machines never make two of one thing."""
        prefix = self.git("rev-parse", "--show-prefix").strip()
        names = sorted(files)
        blobs = [self.git("hash-object", "-w", "--stdin", input=files[n]).strip()
                 for n in names]
        index = {"GIT_INDEX_FILE": str(self.git_path(f"ide-{os.getpid()}.index"))}
        try:
            self.git("read-tree", base, env=index)
            self.git("update-index", "--add", "--index-info", env=index, input="".join(
                f"100644 {b}\t{prefix}{n}\n" for b, n in zip(blobs, names)))
            tree = self.git("write-tree", env=index).strip()
        finally:
            Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
        date = self.git("log", "-1", "--format=%cI", base).strip()
        name, email = DEFAULT_IDENTITY
        commit = self.git("commit-tree", tree, "-p", base, "-m", message, env={
            f"GIT_{role}_{key}": value for role in ("AUTHOR", "COMMITTER")
            for key, value in (("NAME", name), ("EMAIL", email), ("DATE", date))}).strip()
        self.git("update-ref", ref, commit)
        return commit

    def tree_blobs(self, ref: str) -> dict[str, str]:
        """{path: object id} of every file in REF's tree (empty if there is no REF)."""
        if not self.git("rev-parse", "-q", "--verify", ref, check=False).strip():
            return {}
        # -z: each path as it is (not C-quoted), whatever characters it holds.
        return {path: meta.split()[2] for meta, path in (
            entry.split("\t", 1) for entry in
            self.git("ls-tree", "-r", "-z", "--full-tree", ref).split("\0") if entry)}

    def read_tree(self, ref: str) -> dict[str, bytes]:
        """{path: content} of every file in REF's tree (empty if there is no REF; an entry
        whose object is not here, such as a submodule's commit, reads as empty)."""
        ids = self.tree_blobs(ref)
        found = self.read_objects(set(ids.values()))
        return {path: found.get(i, b"") for path, i in ids.items()}

    def in_other_repository(self) -> bool:
        """Whether the root is a folder inside a git repository (rather than its top)."""
        top = self.git("rev-parse", "--show-toplevel", check=False).strip()
        return bool(top) and Path(top).resolve() != self.root

    def head(self) -> str | None:
        """The commit id of HEAD, or None in a repository without commits."""
        out = self.git("rev-parse", "--verify", "--quiet", "HEAD", check=False).strip()
        return out or None

    def object_ids(self, names: list[str]) -> list[str | None]:
        """The object id of each of NAMES (`<commit>:./<path>`, any name git reads), or
        None where there is none: one git process, nothing read but the ids."""
        if not names:
            return []
        out = subprocess.run(["git", "cat-file", "--batch-check=%(objectname)"],
                             cwd=self.root, input="".join(f"{n}\n" for n in names),
                             capture_output=True, text=True).stdout.split("\n")
        return [line if len(line) >= 40 and " " not in line else None
                for line in out[:len(names)]]

    def read_objects(self, ids: set[str]) -> dict[str, bytes]:
        """{object id: content} of IDS: one git process."""
        ids = sorted(ids)
        proc = subprocess.run(["git", "cat-file", "--batch"], cwd=self.root,
                              input="".join(f"{i}\n" for i in ids).encode(),
                              capture_output=True)
        stream = io.BytesIO(proc.stdout)
        return {i: found[1] for i in ids if (found := _read_object(stream)) is not None}

    def read_at(self, rev: str, paths: list[str], *, known=None
                ) -> tuple[str, list[tuple[str, bytes] | None] | None]:
        """The commit id of REV and, for each of PATHS at that commit, (blob id, content) or
        None where it does not exist: one git process, however many paths. KNOWN(commit):
        when it says True, the paths are not read (the caller has them) and None is returned
        in their place."""
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
            wanted = commit is not None and not (known and known(commit[0]))
            if wanted:
                # "./": relative to the workspace root, which may be a folder of the repository
                proc.stdin.write("".join(f"{commit[0]}:./{p}\n" for p in paths).encode())
            proc.stdin.close()
            found = [_read_object(proc.stdout) for _ in paths] if wanted else None
        finally:
            proc.stdout.close()
            proc.wait()
        if commit is None:
            raise IDEError(f"unknown revision: {rev}")
        return commit[0], found


# Asked of DVC once per process, workspace and DVC config (opening a repo takes a moment).
_CACHE_DIRS: dict[tuple, Path] = {}


def _reason(proc: subprocess.CompletedProcess) -> str:
    """Why a git or DVC process failed, as one line: DVC's last `ERROR:` line with the hint
    that follows it (the reason is in the first, what to do in the second), else the last
    line said, else the exit code."""
    lines = [line.strip() for line in (proc.stderr.strip() or proc.stdout.strip()).splitlines()
             if line.strip()]
    errors = [n for n, line in enumerate(lines) if line.startswith("ERROR:")]
    if errors:
        return " ".join(lines[errors[-1]:])[len("ERROR:"):].strip()
    return lines[-1] if lines else f"exit code {proc.returncode}"


def _read_object(stream) -> tuple[str, bytes] | None:
    """One answer of `git cat-file --batch`: (object id, content), or None if missing."""
    header = stream.readline().split()
    if len(header) != 3:  # "<name> missing" (or "ambiguous")
        return None
    content = stream.read(int(header[2]) + 1)[:-1]  # the content, then a newline
    return header[0].decode(), content
