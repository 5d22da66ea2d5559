"""Import and export: a folder of images in as a new dataset (one commit), a version out.

An import copies the images into `datasets/<name>/images/`, has DVC track them, writes the
labels, classes, training parameters and the DVC stage beside them, and commits it all at
once; a failure leaves nothing behind, and what a `kill -9` left (a marker in the state's
`imports/` says so) the next import removes. An export writes the labels of a version with
its images from the DVC cache, as an ImageFolder or as images plus a `path,label` CSV; or its
out-of-fold probabilities as the CSV that `ide predictions` reads back.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ide.data import formats as ds
from ide.data import predictions
from ide.data.params import check_model, default_params, used_fields
from ide.errors import IDEError, InvalidInput
from ide.learn import ranking
from ide.ops import sources
from ide.ops.pipeline import stage_yaml
from ide.repo import state, versions
from ide.repo.commits import committing
from ide.repo.images import image_files
from ide.repo.workspace import Workspace

# The formats of `export`: a tree of class folders, images + labels.csv, or probabilities.
FORMATS = ("imagefolder", "csv", "predictions")


def import_dataset(ws: Workspace, name: str, src, *, labels_csv=None, skip_bad: bool = False,
                   author: str | None = None, model: str | None = None,
                   say=lambda message: None, progress=None) -> dict:
    """Copy a folder of images into datasets/NAME (DVC-tracked) with its labels; one commit.

    MODEL: the `model` of its params.yaml (default: the one measured best for such images);
    the answer says which ("model", and "model_chosen": true where ide chose it).
    SAY(message) is told each step as it starts (a large import takes a while), PROGRESS
    `{done, total, fraction}` within the steps that go over the files.
    """
    folder = ds.dataset_dir(name)
    if model is not None:
        check_model(model)
    with state.lock(ws):
        _check_new(ws, name, folder)
    say(f"checking every image in {src}")
    source = sources.read_source(src, labels_csv, verb="import", skip_bad=skip_bad,
                                 progress=progress)
    used = set(source.labels.values())
    classes = ds.check_classes([c for c in source.classes if c in used])
    if len(classes) < 2:  # one class: nothing to tell apart, and training would refuse it
        raise InvalidInput(f"{src}: {len(classes)} class(es) with examples; a dataset needs "
                           "at least 2")
    msg = f"Import dataset {name}: {len(source.files)} examples, {len(classes)} classes"
    if source.bad:
        msg += f"\n\nSkipped {len(source.bad)} bad file(s):\n" + \
            "\n".join(f"  {b}" for b in source.bad)
    # The whole folder is committed (git adds what DVC leaves to it: not images/) or removed.
    marker = state.path(ws, state.IMPORTS, name)
    with state.lock(ws):
        _check_new(ws, name, folder)
        state.write_atomic(marker, f"{os.getpid()}\n")
        try:
            params = default_params(model)
            made = _build(ws, name, folder, source, classes, msg, author, params, say,
                          progress)
        finally:
            marker.unlink(missing_ok=True)
    return {"commit": made.commit, "examples": len(source.files), "classes": classes,
            "skipped": source.bad, "model": params.model, "model_chosen": model is None}


def _check_new(ws: Workspace, name: str, folder: str) -> None:
    """NAME must be new; the remains of an import that was killed are removed first."""
    marker = state.path(ws, state.IMPORTS, name)
    if marker.exists():  # we hold the lock, so that import is dead
        if not ws.git("ls-tree", "HEAD", "--", f"{folder}/labels.csv", check=False).strip():
            ws.git("reset", "-q", "--", folder, check=False)
            shutil.rmtree(ws.root / folder, ignore_errors=True)
        marker.unlink(missing_ok=True)
    if (ws.root / folder).exists():
        raise InvalidInput(f"dataset {name!r} already exists ({folder})")


def _build(ws, name, folder, source, classes, msg, author, params, say, progress=None):
    """Copy, describe, DVC-track and commit the dataset: all of it, or nothing."""
    with committing(ws, [folder], msg, author) as made:
        say(f"copying {len(source.files)} images into {folder}/images")
        root = ws.root / folder
        _copy_files(source.files, root / "images", progress)
        state.write_atomic(root / "labels.csv", ds.format_labels(source.labels))
        state.write_atomic(root / "dataset.yaml",
                           ds.format_meta({"name": name, "classes": classes}))
        state.write_atomic(root / "params.yaml", ds.format_meta(used_fields(params)))
        state.write_atomic(root / "checked.txt", ds.format_checked(()))  # a stage dep
        state.write_atomic(root / "dvc.yaml", stage_yaml())
        say("tracking the images with DVC")
        ws.dvc("add", f"{folder}/images")
        ignore = root / ".gitignore"  # DVC wrote /images there; the stage's local outputs
        state.write_atomic(ignore, ignore.read_text() + "/model.pt\n/predictions.csv\n")
    return made


def _copy_files(files: dict[str, Path], dest: Path, progress=None) -> None:
    """Copy FILES ({relative path: source}) under DEST, several at a time: a copy waits on
    the disk, not the CPU (one at a time, 100,000 small files took longer than `dvc add`).
    PROGRESS, if given, is told `{done, total, fraction}` as copies finish."""
    from concurrent.futures import ThreadPoolExecutor

    for folder in sorted({os.path.dirname(rel) for rel in files}):
        (dest / folder).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(8) as pool:
        # list(): an error in any copy is raised here, and the import is rolled back
        for n, _ in enumerate(pool.map(
                lambda item: shutil.copyfile(item[1], f"{dest}/{item[0]}"), files.items()), 1):
            if progress:
                progress({"done": n, "total": len(files), "fraction": n / len(files)})


def export(ws: Workspace, name: str, out, *, fmt: str = "imagefolder",
           rev: str = "HEAD") -> int:
    """Write the labels of REV with their images to OUT: ImageFolder, or images +
    labels.csv; or with FMT "predictions" REV's out-of-fold probabilities as the CSV
    `ide predictions` takes. Returns how many examples were written."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r} ({', '.join(FORMATS)})")
    out = Path(out)
    if fmt == "predictions":
        return _export_predictions(ws, versions.resolve(ws, name, rev), out)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        raise InvalidInput(f"{out} exists and is not empty")
    version = versions.resolve(ws, name, rev)
    if fmt == "imagefolder":  # a commit from elsewhere may hold `Cat` and `cat`
        ds.check_classes(version.classes)
    lab = version.labels
    files = image_files(ws, version)
    missing = [i for i in lab if i not in files]
    if missing:
        raise IDEError(f"{len(missing)} image(s) missing from the DVC cache, e.g. {missing[0]}")
    try:
        return _write_export(out, lab, files, fmt)
    except OSError as exc:
        raise IDEError(f"cannot write to {out}: {exc.strerror or exc}") from None


def _export_predictions(ws: Workspace, version, out: Path) -> int:
    if out.exists():
        raise InvalidInput(f"{out} exists: give a new file name")
    r = ranking.load(ws, version)
    state.write_atomic(out, predictions.format_csv(r.ids, r.classes, r.probs))
    return len(r.ids)


def _write_export(out: Path, lab, files, fmt: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    real = os.path.realpath(out)

    def copy(i: str, rel: str) -> None:
        # Ids and classes are checked when read; this makes sure of it where it matters.
        dest = os.path.realpath(os.path.join(real, rel))
        if not dest.startswith(real + os.sep):
            raise InvalidInput(f"export path escapes {out}: {rel}")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(files[i][1], dest)

    if fmt == "csv":
        rows = {}
        for i, label in lab.items():
            copy(i, f"images/{i}")
            rows[f"images/{i}"] = label
        text = ds.format_labels(rows).replace("id,label", "path,label", 1)
        state.write_atomic(out / "labels.csv", text)
        return len(rows)
    used = set()
    for i, label in sorted(lab.items()):
        # An unlabelled example goes directly in OUT, where `ide add` reads it back as one.
        folder = f"{label}/" if label else ""
        base = Path(i).name
        rel = f"{folder}{base}" if f"{folder}{base}" not in used else \
            f"{folder}{i.replace('/', '__')}"
        used.add(rel)
        copy(i, rel)
    return len(lab)
