"""What a dataset is on disk, and reading and validating one: no git, no side effects.

A dataset lives in `datasets/<name>/`: `labels.csv` (header `id,label`, one line per example,
sorted by id, git-tracked), `images/` (DVC-tracked, recorded in `images.dvc`), `dataset.yaml`
(classes in order) and `checked.txt` (examples a reviewer confirmed). An example's id is its
image path relative to `images/`, in POSIX form. An unlabelled example has an empty label
(`id,`): it is predicted by each trained version but never fitted. Also here: scanning a
folder to import or add.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import InvalidInput

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
# A CSV field may hold a long path, never a megabyte (csv's own limit is 131,072 characters).
csv.field_size_limit(1 << 16)


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


def _csv_rows(text: str, source: str):
    try:
        yield from csv.reader(io.StringIO(text))
    except csv.Error as exc:
        raise InvalidInput(f"{source}: malformed CSV ({exc})") from None


# -- labels.csv ----------------------------------------------------------------------------
def parse_labels(text: str, *, source: str = "labels.csv") -> dict[str, str]:
    """`id,label` CSV text -> {id: label}, keeping the file's order; every id checked, each
    once."""
    rows = _csv_rows(text, source)
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
        raise InvalidInput(f"{source}: unknown class(es) {', '.join(map(repr, sorted(unknown)[:5]))}"
                           f" (classes: {', '.join(classes)})")


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


# -- importing -----------------------------------------------------------------------------
@dataclass
class Source:
    """What an import would bring in: {id: label}, {id: source file}, and the bad files."""
    labels: dict[str, str]
    files: dict[str, Path]
    classes: list[str]
    bad: list[str]


MAX_PIXELS = 50_000_000  # a larger image is refused before it is decoded (a decompression bomb)


def check_image(path: Path) -> str | None:
    """None if PIL can fully decode the image, else the reason it cannot."""
    from PIL import Image

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return "not an image file"
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > MAX_PIXELS:
                return (f"too large ({im.size[0]} x {im.size[1]} pixels; the limit is "
                        f"{MAX_PIXELS // 1_000_000} megapixels)")
            im.load()
    except Exception as exc:  # PIL raises many types for corrupt data
        return f"unreadable image ({type(exc).__name__})"
    return None


PARALLEL_FROM = 2000  # images; fewer are checked in this process (a pool takes a moment)


def _check_images(paths: list[str], progress=None) -> list[str | None]:
    """`check_image` of each path, on every core for a large import (decoding each image
    is most of an import's own time: 100,000 small PNGs took longer than `dvc add`).
    PROGRESS, if given, is told `{done, total, fraction}` as results come in."""
    def told(results):
        for n, reason in enumerate(results, 1):
            if progress:
                progress({"done": n, "total": len(paths), "fraction": n / len(paths)})
            yield reason

    if len(paths) < PARALLEL_FROM or (os.cpu_count() or 1) < 2:
        return list(told(check_image(Path(p)) for p in paths))
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(os.cpu_count() or 1, 8)) as pool:
        return list(told(pool.map(_check_path, paths, chunksize=500)))


def _check_path(path: str) -> str | None:
    return check_image(Path(path))


def _safe_relpath(src_real: str, src: Path, rel: str) -> str:
    """REL as a clean POSIX path inside SRC; rejects absolute paths, `..` and symlinks out.

    SRC_REAL is `os.path.realpath(src)`, computed once by the caller (this runs per file,
    so it is plain string work; only a path that exists is resolved).
    """
    p = rel.replace("\\", "/")
    if not rel or p.startswith("/") or ".." in p.split("/"):
        raise InvalidInput(f"path escapes the source folder: {rel}")
    clean = "/".join(x for x in p.split("/") if x not in ("", "."))
    full = os.path.join(src, clean)
    if os.path.lexists(full):
        real = os.path.realpath(full)
        if real != src_real and not real.startswith(src_real + os.sep):
            raise InvalidInput(f"path escapes the source folder (symlink): {rel}")
    return clean


def _scan_imagefolder(src: Path, unlabelled: bool) -> tuple[dict[str, str], list[str]]:
    labels = {}
    src_real = os.path.realpath(src)
    classes = sorted(d.name for d in src.iterdir() if d.is_dir() and not d.name.startswith("."))
    if unlabelled:  # image files directly in SRC have no class yet
        for f in sorted(os.listdir(src)):
            path = os.path.join(src, f)
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES and \
                    not os.path.isdir(path):
                labels[_safe_relpath(src_real, src, f) if os.path.islink(path) else f] = \
                    UNLABELLED
    if not classes and not labels:
        raise InvalidInput(f"{src} has no class folders (expected SRC/<class>/<image>)"
                           + (" and no images" if unlabelled else ""))
    for cls in classes:
        check_class(cls)
    for cls in classes:
        top = os.path.join(src, cls)
        # Symlinks are the only way out of SRC here: resolve just those (and the class folder).
        linked = os.path.islink(top)
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for f in filenames:
                if f.startswith("."):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, src).replace(os.sep, "/")
                if linked or os.path.islink(path):
                    rel = _safe_relpath(src_real, src, rel)
                labels[rel] = cls
    return labels, classes


def _read_csv_labels(src: Path, csv_path: Path,
                     unlabelled: bool) -> tuple[dict[str, str], list[str]]:
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {csv_path}: {exc}") from None
    rows = _csv_rows(text, csv_path.name)
    header = next(rows, None) or []
    missing = {"path", "label"} - set(header)
    if missing:
        raise InvalidInput(f"{csv_path.name}: missing column(s) {', '.join(sorted(missing))}"
                           " (expected path,label)")
    at_path, at_label = header.index("path"), header.index("label")
    labels = {}
    src_real = os.path.realpath(src)
    for n, row in enumerate(rows, start=2):
        if not row:
            continue
        row += [""] * (len(header) - len(row))
        path, label = row[at_path].strip(), row[at_label].strip()
        if not path:
            raise InvalidInput(f"{csv_path.name}:{n}: empty path")
        if not label and not unlabelled:
            raise InvalidInput(f"{csv_path.name}:{n}: empty label for {path}")
        try:
            if label:
                check_class(label)
        except InvalidInput as exc:
            raise InvalidInput(f"{csv_path.name}:{n}: {exc}") from None
        rel = _safe_relpath(src_real, src, path)
        if rel in labels:
            raise InvalidInput(f"{csv_path.name}:{n}: duplicate path {path}")
        labels[rel] = label
    if not labels:
        raise InvalidInput(f"{csv_path.name}: no rows")
    return labels, sorted(set(labels.values()) - {UNLABELLED})


def scan_source(src: Path | str, csv_path: Path | str | None = None, *,
                unlabelled: bool = False, progress=None) -> Source:
    """Read an ImageFolder tree, or a tree plus a `path,label` CSV, and check every image
    (PROGRESS, if given, is told `{done, total, fraction}` as it goes).

    UNLABELLED: image files directly in SRC, and CSV rows with an empty label, are taken as
    unlabelled examples (label "") instead of being refused.
    """
    src = Path(src)
    if not src.is_dir():
        raise InvalidInput(f"not a folder: {src}")
    if csv_path is None:
        labels, classes = _scan_imagefolder(src, unlabelled)
    else:
        labels, classes = _read_csv_labels(src, Path(csv_path), unlabelled)
    reasons = {rel: "unsafe file name (control character or '\\')" if not is_safe_id(rel)
               else "missing" if not os.path.isfile(os.path.join(src, rel)) else None
               for rel in labels}
    readable = [rel for rel, reason in reasons.items() if reason is None]
    checked = _check_images([os.path.join(src, r) for r in readable], progress)
    reasons.update(zip(readable, checked))
    files, bad = {}, []
    for rel, reason in reasons.items():
        path = os.path.join(src, rel)
        if reason:
            bad.append(f"{rel if is_safe_id(rel) else ascii(rel)}: {reason}")
        else:
            files[rel] = Path(path)
    return Source(labels={i: labels[i] for i in files}, files=files, classes=classes, bad=bad)


def read_source(src: Path | str, csv_path: Path | str | None = None, *, verb: str,
                skip_bad: bool = False, unlabelled: bool = False, progress=None) -> Source:
    """`scan_source`, refused as a whole when a file is bad (unless SKIP_BAD) or none is
    readable. VERB ("import", "add") names the command in the message."""
    source = scan_source(src, csv_path, unlabelled=unlabelled, progress=progress)
    if source.bad and not skip_bad:
        more = f"; and {len(source.bad) - 5} more" if len(source.bad) > 5 else ""
        raise InvalidInput(f"{len(source.bad)} bad file(s), nothing {verb}ed (use --skip-bad "
                           f"to {verb} the rest): " + "; ".join(source.bad[:5]) + more)
    if not source.files:
        raise InvalidInput(f"no readable images in {src}")
    return source


def images_hash(dvc_text: str) -> str:
    """The DVC hash of the images directory (`<md5>.dir`) recorded in an `images.dvc`."""
    outs = (yaml.safe_load(dvc_text) or {}).get("outs") or [{}]
    md5 = outs[0].get("md5", "")
    if not isinstance(md5, str) or not re.fullmatch(r"[0-9a-f]{32}\.dir", md5):
        raise InvalidInput("images.dvc does not describe a DVC-tracked folder")
    return md5
