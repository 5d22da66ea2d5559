"""`ide add`: new images into an existing dataset, as one commit.

The source is read as `ide import` reads it (an ImageFolder, or a tree plus a `path,label`
CSV; every image decoded, paths checked), and more: image files directly in SRC, and CSV
rows with an empty label, come in unlabelled (`id,` in labels.csv). A label that is not a
class yet adds the class. Ids the dataset already has (labelled, unlabelled, or removed:
its image is still in the DVC folder) and images whose content it already has (same md5,
from the DVC manifest: nothing already tracked is read) are skipped and reported, as are
repeats within the batch. The images reach DVC through `ide.repo.dvcdir`, which hashes only the
new files; labels.csv, dataset.yaml and images.dvc are committed together.
"""

from __future__ import annotations

from ide.data import formats as ds
from ide.errors import InvalidInput, NothingToDo
from ide.ops import sources
from ide.repo import dvcdir, history, state, versions
from ide.repo.commits import committing, write_classes
from ide.repo.workspace import Workspace


def add(ws: Workspace, name: str, src, *, labels_csv=None, skip_bad: bool = False,
        author: str | None = None, say=lambda message: None, progress=None) -> dict:
    """Add the images of SRC to dataset NAME; one commit. Returns {"commit", "added",
    "unlabelled", "new_classes", "skipped": ["id: reason"], "bad": ["id: reason"]}."""
    versions.resolve(ws, name)  # an unknown dataset is an error before SRC is read
    say(f"checking every image in {src}")
    source = sources.read_source(src, labels_csv, verb="add", skip_bad=skip_bad,
                                 unlabelled=True, progress=progress)
    hashes = {i: dvcdir.file_md5(path) for i, path in source.files.items()}
    with state.lock(ws):
        version = versions.resolve(ws, name)
        if not version.images_hash:
            raise InvalidInput(f"{version.folder}/images.dvc does not describe a DVC-tracked "
                               "folder")
        cache = ws.cache_dir()
        tracked = {e["relpath"]: e["md5"] for e in dvcdir.read_manifest(
            cache, version.images_hash, f"{version.folder}/images")}
        by_md5 = {}
        for i, md5 in sorted(tracked.items()):
            by_md5.setdefault(md5, i)
        new, skipped = {}, []
        for i in sorted(source.files):
            md5 = hashes[i]
            if i in version.labels or i in tracked:
                skipped.append(f"{i}: id already in {name}" +
                               ("" if i in version.labels else " (removed; `ide checkout` "
                                "or `ide revert` brings it back)"))
            elif md5 in by_md5:
                skipped.append(f"{i}: same image as {by_md5[md5]}")
            else:
                by_md5[md5] = i
                new[i] = (md5, source.files[i])
        if not new:
            raise NothingToDo(f"nothing to add to {name}: " + "; ".join(skipped[:5]) +
                              (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""))
        labels = {i: source.labels[i] for i in new}
        added_classes = sorted(set(labels.values()) - set(version.classes) - {ds.UNLABELLED})
        classes = ds.check_classes([*version.classes, *added_classes])
        unlabelled = sum(lab == ds.UNLABELLED for lab in labels.values())
        message = _message(name, labels, unlabelled, added_classes, skipped, source.bad)
        folder = version.folder
        paths = [f"{folder}/labels.csv", f"{folder}/images.dvc"] + (
            [f"{folder}/dataset.yaml"] if added_classes else [])
        all_labels = {**version.labels, **labels}
        text = ds.format_labels(all_labels)
        try:
            with committing(ws, paths, message, author) as made:
                say(f"adding {len(new)} images to {folder}/images")
                dvcdir.extend(ws.root, cache, f"{folder}/images.dvc", new)
                state.write_atomic(ws.root / folder / "labels.csv", text)
                if added_classes:
                    write_classes(ws, folder, classes)
        except BaseException:  # committing restored the files; the new images go too
            for i in new:
                (ws.root / folder / "images" / i).unlink(missing_ok=True)
            raise
        history.record(ws, name, made.commit,
                       [{"id": i, "old": None, "new": lab} for i, lab in labels.items()],
                       examples=len(all_labels))
    return {"commit": made.commit, "added": len(new), "unlabelled": unlabelled,
            "new_classes": added_classes, "skipped": skipped, "bad": source.bad}


def _message(name, labels, unlabelled, added_classes, skipped, bad) -> str:
    parts = [f"Add {len(labels)} examples to {name}" +
             (f" ({unlabelled} unlabelled)" if unlabelled else "")]
    if added_classes:
        parts.append(f"New classes: {', '.join(added_classes)}")
    if skipped:
        parts.append(f"Skipped {len(skipped)} already in the dataset:\n" +
                     "\n".join(f"  {s}" for s in skipped))
    if bad:
        parts.append(f"Skipped {len(bad)} bad file(s):\n" + "\n".join(f"  {b}" for b in bad))
    return "\n\n".join(parts)
