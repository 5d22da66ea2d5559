"""What a dataset is on disk, and reading and validating one: no git, no side effects.

A dataset lives in `datasets/<name>/`: `labels.csv` (header `id,label`, one line per example,
sorted by id, git-tracked), `images/` (DVC-tracked, recorded in `images.dvc`), `dataset.yaml`
(classes in order) and `checked.txt` (examples a reviewer confirmed). An example's id is its
image path relative to `images/`, in POSIX form. An unlabelled example has an empty label
(`id,`): it is predicted by each trained version but never fitted. Also here: the one
check of names that become paths (`check_class`, `check_id`), wherever they come from. Every
reader names its file in its errors, and the YAML files are read through `load_yaml`, so a
malformed file from any commit is a one-line InvalidInput, never a traceback.
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
    try:
        check_ids(labels)
    except InvalidInput as exc:
        raise InvalidInput(f"{source}: {exc}") from None
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


# -- the YAML files: dataset.yaml, params.yaml, images.dvc ----------------------------------
def load_yaml(text: str | None, source: str) -> dict:
    """The mapping YAML TEXT holds ({} for an empty file or None); malformed YAML or any
    other top level (a list, a string, a number) is InvalidInput naming SOURCE."""
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InvalidInput(f"{source}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: must be a mapping of name: value, "
                           f"found {type(data).__name__}")
    return data


def parse_meta(text: str, source: str = "dataset.yaml") -> dict:
    """dataset.yaml TEXT -> its mapping, with "classes" a checked list of distinct names.
    A bare whole number is taken as a name (`classes: [0, 1]` means '0' and '1')."""
    meta = load_yaml(text, source)
    listed = meta.get("classes")
    if not isinstance(listed, list) or not all(
            isinstance(c, str) or type(c) is int for c in listed):
        raise InvalidInput(f"{source}: 'classes' must be a list of class names")
    try:
        meta["classes"] = [check_class(str(c)) for c in listed]
    except InvalidInput as exc:
        raise InvalidInput(f"{source}: {exc}") from None
    if len(set(meta["classes"])) != len(meta["classes"]):
        raise InvalidInput(f"{source}: a class is listed twice")
    return meta


def check_classes(classes) -> list[str]:
    """CLASSES if each is a safe name and no two are the same ignoring case: `Cat` and
    `cat` would be one folder of an export on macOS and Windows. Checked where a class list
    is made (import, adding or renaming a class) and before an ImageFolder export."""
    seen = {}
    for c in classes:
        other = seen.setdefault(check_class(c).casefold(), c)
        if other != c:
            raise InvalidInput(f"classes {other!r} and {c!r} differ only in case (they would "
                               "share a folder on macOS and Windows)")
    return list(classes)


def format_meta(meta: dict) -> str:
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


def parse_dvc(text: str, source: str = "images.dvc") -> dict:
    """A `.dvc` file's TEXT -> its mapping, checked to track one folder: "outs" a list
    whose first entry is a mapping with the folder's hash, `<md5>.dir`."""
    meta = load_yaml(text, source)
    outs = meta.get("outs")
    out = outs[0] if isinstance(outs, list) and outs else None
    md5 = out.get("md5") if isinstance(out, dict) else None
    if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-f]{32}\.dir", md5) \
            or not isinstance(out.get("path"), str):
        raise InvalidInput(f"{source}: does not describe a DVC-tracked folder")
    return meta


def images_hash(dvc_text: str, source: str = "images.dvc") -> str:
    """The DVC hash of the images directory (`<md5>.dir`) recorded in an `images.dvc`."""
    return parse_dvc(dvc_text, source)["outs"][0]["md5"]
