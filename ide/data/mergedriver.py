"""The git merge driver of labels.csv and checked.txt: a three-way merge keyed by example id.

`ide init` (and any ide command in a fresh clone) registers it with git as
`python -m ide.data.mergedriver %O %A %B %P`, so `git merge`, `git pull`, `git rebase` and
`git cherry-pick` use it too. Edits to different examples always merge, whatever lines
they sit on. An example changed to two different labels is a conflict: the merged file
keeps our label (so it stays a valid labels.csv), the driver records the conflicts in the
git folder (`ide-conflicts/<dataset>.json`, which `ide.repo.conflicts` reads and settles)
and exits 1, so git leaves the file unmerged. `--check` is the `prepare-commit-msg` hook's
call: it refuses a commit (a `rebase --continue` too) while a record has conflicts left,
even after a `git add`. Checked marks never conflict: a mark stays unless one side removed
it. The merge functions are pure (text in, text out); `main` is git's call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ide.data import formats as ds
from ide.errors import IDEError


def merge_labels(base: dict, ours: dict, theirs: dict) -> tuple[dict, list[dict]]:
    """Three-way merge of {id: label} maps -> (merged, conflicts), where a conflict is
    {"id", "base", "ours", "theirs"} (None: no such example on that side); the merged map
    holds our label for a conflicted id (or theirs, where we removed the example)."""
    merged, conflicts = {}, []
    for i in sorted(set(base) | set(ours) | set(theirs)):
        o, a, b = base.get(i), ours.get(i), theirs.get(i)
        if a == b or b == o:
            pick = a
        elif a == o:
            pick = b
        else:
            conflicts.append({"id": i, "base": o, "ours": a, "theirs": b})
            pick = a if a is not None else b
        if pick is not None:
            merged[i] = pick
    return merged, conflicts


def merge_checked(base: frozenset, ours: frozenset, theirs: frozenset) -> frozenset:
    """Marks both sides have, plus those either side added."""
    return (ours & theirs) | (ours - base) | (theirs - base)


def merge_file(path: str, base: str, ours: str, theirs: str) -> tuple[str, list[dict]]:
    """Merge the texts of the file at PATH (labels.csv or checked.txt) -> (text, conflicts)."""
    if Path(path).name == "checked.txt":
        return ds.format_checked(merge_checked(*map(ds.parse_checked, (base, ours, theirs)))), []
    maps = [ds.parse_labels(t, source=f"{path} ({side})") if t.strip() else {}
            for t, side in ((base, "base"), (ours, "ours"), (theirs, "theirs"))]
    merged, conflicts = merge_labels(*maps)
    return ds.format_labels(merged), conflicts


# What git is in the middle of, by the file it keeps meanwhile in its folder: a record is
# open while one of them is there.
OPERATIONS = (("MERGE_HEAD", "merge"), ("rebase-merge", "rebase"), ("rebase-apply", "rebase"),
              ("CHERRY_PICK_HEAD", "cherry-pick"), ("REVERT_HEAD", "revert"))


def record_path(git_dir: Path, name: str) -> Path:
    """Where the conflicts of dataset NAME's labels, recorded by the driver, are kept."""
    return git_dir / "ide-conflicts" / f"{name}.json"


def _git_dir() -> Path:
    out = subprocess.run(["git", "rev-parse", "--absolute-git-dir"], capture_output=True,
                         text=True, check=True).stdout.strip()
    return Path(out)


def _record(path: str, conflicts: list[dict]) -> None:
    """Keep CONFLICTS of the labels.csv at PATH where a later `git add` cannot erase them."""
    record = record_path(_git_dir(), Path(path).parent.name)
    record.parent.mkdir(exist_ok=True)
    tmp = record.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"path": path, "conflicts": conflicts, "resolved": {}}))
    os.replace(tmp, record)


def unsettled(record: dict) -> list[dict]:
    """The conflicts of RECORD not settled yet."""
    return [c for c in record["conflicts"] if c["id"] not in record["resolved"]]


def open_conflicts(git_dir: Path) -> dict[str, dict]:
    """{dataset: its record} of the driver's records with conflicts left (`unsettled`); a
    record left from a merge, rebase or cherry-pick that is over (aborted, say), or with
    none left, is deleted."""
    folder = git_dir / "ide-conflicts"
    records = sorted(folder.glob("*.json")) if folder.is_dir() else []
    going = any((git_dir / marker).exists() for marker, _ in OPERATIONS)
    found = {}
    for record in records:
        try:
            data = json.loads(record.read_text())
            left = [c["id"] for c in unsettled(data)]
        except (OSError, ValueError, KeyError, TypeError):
            left = None  # unreadable: not ours to keep
        if not going or not left:
            record.unlink(missing_ok=True)
        else:
            found[record.stem] = data
    return found


def check() -> int:
    """The hook's call: 1 (with a message) while a recorded label conflict is unsettled."""
    for name, record in open_conflicts(_git_dir()).items():
        left = [c["id"] for c in unsettled(record)]
        print(f"ide: {len(left)} label conflict(s) of {name} not settled ({', '.join(left[:5])}"
              f"{', ...' if len(left) > 5 else ''}): settle them with `ide resolve {name} "
              "ID LABEL` (see `ide status`), which also goes on with the commit", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    """git's call: BASE OURS THEIRS PATH; the result goes into OURS; exit 1 on conflicts."""
    if argv == ["--check"]:
        return check()
    base, ours, theirs, path = argv
    texts = [Path(p).read_text(encoding="utf-8") for p in (base, ours, theirs)]
    try:
        text, conflicts = merge_file(path, *texts)
    except IDEError as exc:  # a malformed side: leave ours as it is, as a conflict
        print(f"ide merge: {exc}", file=sys.stderr)
        return 1
    Path(ours).write_text(text, encoding="utf-8", newline="")
    for c in conflicts:
        print(f"ide merge: {path}: {c['id']}: ours {c['ours']}, theirs {c['theirs']}",
              file=sys.stderr)
    if conflicts:
        _record(path, conflicts)
    return 1 if conflicts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
