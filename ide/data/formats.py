"""What a dataset is on disk, and reading and validating one: no git, no side effects.

A dataset lives in `datasets/<name>/`: `labels.csv` (header `id,label`, one line per example,
sorted by id, git-tracked), `images/` (DVC-tracked, recorded in `images.dvc`), `dataset.yaml`
(classes in order) and `checked.txt` (examples a reviewer confirmed). An example's id is its
image path relative to `images/`, in POSIX form. An unlabelled example has an empty label
(`id,`): it is predicted by each trained version but never fitted. Also here: the one
check of names that become paths (`check_class`, `check_id`), wherever they come from.
"""

from __future__ import annotations

import csv
import io
import re

import yaml

from ide.errors import InvalidInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
UNLABELLED = ""  # the label of an example that has none yet
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def dataset_dir(name: str) -> str:
    """The dataset's folder relative to the workspace root (validates the name)."""
    if not _NAME.match(name or ""):
        raise InvalidInput(f"invalid dataset name {name!r}: use letters, digits, '_', '-', '.'")
    return f"datasets/{name}"


# -- names that become paths: checked wherever they come from (import, a commit, a pull) --
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A CSV field may hold a long path, never a megabyte: checked per field here rather than by
# `csv.field_size_limit`, which would change every csv reader of the process.
MAX_FIELD = 1 << 16


def check_class(name) -> str:
    """NAME if it is a safe class name (it becomes an export folder), else InvalidInput."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"empty class name {name!r}")
    if "/" in name or "\\" in name or name in (".", "..") or _CONTROL.search(name):
        raise InvalidInput(f"invalid class name {name!r}: no '/', '\\', control characters,"
                           " '.' or '..'")
    return name


def check_id(i: str) -> str:
    """I if it is a safe example id (a relative POSIX path with no `..`), else InvalidInput."""
    if (not i or "\\" in i or _CONTROL.search(i) or i.startswith("/")
            or any(x in ("", ".", "..") for x in i.split("/"))):
        raise InvalidInput(f"invalid example id {i!r}: a relative path without '..', "
                           "'\\' or control characters")
    return i


def check_ids(ids) -> None:
    """`check_id` of every id in IDS, checked all at once with string methods (a labels.csv
    of 100,000 ids took 0.6 s one id at a time); the first unsafe one raises as `check_id`
    says."""
    ids = list(ids)
    joined = "\n".join(ids)
    path = "/" + joined.replace("\n", "/") + "/"  # an empty, '.' or '..' segment shows here
    if (joined.count("\n") != max(len(ids) - 1, 0) or "\\" in joined
            or not joined.replace("\n", "").isprintable() or "//" in path or "/./" in path
            or "/../" in path):
        for i in ids:  # something looks unsafe (or is only unusual): say which, if any
            check_id(i)


def is_safe_id(i: str) -> bool:
    try:
        check_id(i)
    except InvalidInput:
        return False
    return True


def csv_rows(text: str, source: str):
    """The rows of CSV TEXT; malformed CSV or a field over MAX_FIELD characters is
    InvalidInput naming SOURCE."""
    try:
        for row in csv.reader(io.StringIO(text)):
            if max(map(len, row), default=0) > MAX_FIELD:
                raise csv.Error(f"field larger than field limit ({MAX_FIELD})")
            yield row
    except csv.Error as exc:
        raise InvalidInput(f"{source}: malformed CSV ({exc})") from None


# -- labels.csv ----------------------------------------------------------------------------
def parse_labels(text: str, *, source: str = "labels.csv") -> dict[str, str]:
    """`id,label` CSV text -> {id: label}, keeping the file's order; every id checked, each
    once."""
    rows = csv_rows(text, source)
    header = next(rows, None)
    if header != ["id", "label"]:
        raise InvalidInput(f"{source}: header must be 'id,label', found {header}")
    labels = {}
    for n, row in enumerate(rows, start=2):
        if len(row) != 2:
            raise InvalidInput(f"{source}:{n}: expected 2 fields, found {len(row)}")
        if row[0] in labels:
            raise InvalidInput(f"{source}:{n}: duplicate id {row[0]!r}")
        labels[row[0]] = row[1]
    check_ids(labels)
    return labels


def check_labels(labels: dict[str, str], classes, *, source: str = "labels.csv") -> None:
    """Every label is one of CLASSES, or empty (unlabelled); a commit from elsewhere may hold
    anything."""
    unknown = set(labels.values()) - set(classes) - {UNLABELLED}
    if unknown:
        named = ", ".join(map(repr, sorted(unknown)[:5]))
        raise InvalidInput(f"{source}: unknown class(es) {named} (classes: {', '.join(classes)})")


def format_labels(labels: dict[str, str]) -> str:
    """{id: label} -> the canonical file text: sorted by id, so `git diff` shows edits."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "label"])
    writer.writerows(sorted(labels.items()))
    return out.getvalue()


def diff_labels(old: dict[str, str], new: dict[str, str]) -> list[dict]:
    """Label changes from OLD to NEW, sorted by id: `{"id", "old", "new"}` (None = absent,
    "" = unlabelled)."""
    ids = sorted(set(old) | set(new))
    return [{"id": i, "old": old.get(i), "new": new.get(i)}
            for i in ids if old.get(i) != new.get(i)]


def check_label(label: str, classes: list[str]) -> str:
    if label is None or not str(label).strip():
        raise InvalidInput("empty label")
    if label not in classes:
        raise InvalidInput(f"unknown class {label!r} (classes: {', '.join(classes)})")
    return label


# -- checked.txt: examples a reviewer confirmed, one id a line -------------------------------
def parse_checked(text: str | None) -> frozenset[str]:
    return frozenset(text.split("\n")) - {""} if text else frozenset()


def format_checked(ids) -> str:
    return "\n".join(sorted(ids)) + "\n"


# -- dataset.yaml --------------------------------------------------------------------------
def parse_meta(text: str) -> dict:
    meta = yaml.safe_load(text) or {}
    if not isinstance(meta.get("classes"), list):
        raise InvalidInput("dataset.yaml has no list of classes")
    meta["classes"] = [check_class(str(c)) for c in meta["classes"]]
    if len(set(meta["classes"])) != len(meta["classes"]):
        raise InvalidInput("dataset.yaml lists a class twice")
    return meta


def format_meta(meta: dict) -> str:
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


def images_hash(dvc_text: str) -> str:
    """The DVC hash of the images directory (`<md5>.dir`) recorded in an `images.dvc`."""
    outs = (yaml.safe_load(dvc_text) or {}).get("outs") or [{}]
    md5 = outs[0].get("md5", "")
    if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-f]{32}\.dir", md5):
        raise InvalidInput("images.dvc does not describe a DVC-tracked folder")
    return md5
