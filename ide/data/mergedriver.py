"""The git merge driver of labels.csv and checked.txt: a three-way merge keyed by example id.

`ide init` (and any ide command in a fresh clone) registers it with git as
`python -m ide.data.mergedriver %O %A %B %P`, so `git merge` and `git pull` use it too. Edits to
different examples always merge, whatever lines they sit on. An example changed to two
different labels is a conflict: the merged file keeps our label (so it stays a valid
labels.csv), the driver exits 1 and git leaves the file unmerged; `conflicts` lists them
from git's three index stages and `ide resolve NAME ID LABEL` settles each. Checked marks
never conflict: a mark stays unless one side removed it. The merge functions are pure
(text in, text out); `main` is git's call, which reads and writes its temporary files.
"""

from __future__ import annotations

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


def main(argv: list[str]) -> int:
    """git's call: BASE OURS THEIRS PATH; the result goes into OURS; exit 1 on conflicts."""
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
    return 1 if conflicts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
