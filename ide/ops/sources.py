"""What `ide import` and `ide add` read from a folder: an ImageFolder tree, or a tree plus a
`path,label` CSV; every image checked (in a pool of processes for a large import) before
anything is copied, and the default parameters for those images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ide.data import formats as ds
from ide.errors import InvalidInput


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

    if path.suffix.lower() not in ds.IMAGE_SUFFIXES:
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
            if not f.startswith(".") and Path(f).suffix.lower() in ds.IMAGE_SUFFIXES and \
                    not os.path.isdir(path):
                labels[_safe_relpath(src_real, src, f) if os.path.islink(path) else f] = \
                    ds.UNLABELLED
    if not classes and not labels:
        raise InvalidInput(f"{src} has no class folders (expected SRC/<class>/<image>)"
                           + (" and no images" if unlabelled else ""))
    for cls in classes:
        ds.check_class(cls)
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
    rows = ds.csv_rows(text, csv_path.name)
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
                ds.check_class(label)
        except InvalidInput as exc:
            raise InvalidInput(f"{csv_path.name}:{n}: {exc}") from None
        rel = _safe_relpath(src_real, src, path)
        if rel in labels:
            raise InvalidInput(f"{csv_path.name}:{n}: duplicate path {path}")
        labels[rel] = label
    if not labels:
        raise InvalidInput(f"{csv_path.name}: no rows")
    return labels, sorted(set(labels.values()) - {ds.UNLABELLED})


def scan_source(src: Path | str, csv_path: Path | str | None = None, *,
                unlabelled: bool = False, progress=None) -> Source:
    """Read an ImageFolder tree, or a tree plus a `path,label` CSV, and check every image
    (PROGRESS, if given, is told `{done, total, fraction}` as it goes).

    ds.UNLABELLED: image files directly in SRC, and CSV rows with an empty label, are taken as
    unlabelled examples (label "") instead of being refused.
    """
    src = Path(src)
    if not src.is_dir():
        raise InvalidInput(f"not a folder: {src}")
    if csv_path is None:
        labels, classes = _scan_imagefolder(src, unlabelled)
    else:
        labels, classes = _read_csv_labels(src, Path(csv_path), unlabelled)
    reasons = {rel: "unsafe file name (control character or '\\')" if not ds.is_safe_id(rel)
               else "missing" if not os.path.isfile(os.path.join(src, rel)) else None
               for rel in labels}
    readable = [rel for rel, reason in reasons.items() if reason is None]
    checked = _check_images([os.path.join(src, r) for r in readable], progress)
    reasons.update(zip(readable, checked))
    files, bad = {}, []
    for rel, reason in reasons.items():
        path = os.path.join(src, rel)
        if reason:
            bad.append(f"{rel if ds.is_safe_id(rel) else ascii(rel)}: {reason}")
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
