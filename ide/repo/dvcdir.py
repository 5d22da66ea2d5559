"""Adding files to a DVC-tracked folder without `dvc add`: what DVC would write, for the new
files only.

`dvc add` of a folder stats (and on a fresh state database re-hashes) every file in it: for
a dataset of 100,000 images that is most of the cost of adding 1,000. A DVC folder is a
manifest (a JSON list of `{"md5", "relpath"}` sorted by path, itself stored in the cache
under the md5 of its bytes plus `.dir`) and one cache file per content. Here the new files
are hashed and copied into the cache and the working folder, the manifest is the old one
plus their entries, and the `.dvc` file gets the new manifest's hash, size and file count:
the same bytes `dvc add` writes (the tests compare with `dvc status`), the old images
never read. The other DVC files come from DVC itself (`ws.dvc`: `dvc add` at import,
`dvc commit` of `dvc.lock` in `ide.ops.sync`), except `dvc.yaml`, which `ide.ops.transfer`
writes from `ide.ops.pipeline.stage_yaml`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import yaml

from ide.data import formats as ds
from ide.errors import IDEError
from ide.repo import state


def file_md5(path: Path) -> str:
    """The md5 DVC gives a file (of its bytes)."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(cache: Path, dir_hash: str, what: str):
    """The parsed manifest of the DVC folder DIR_HASH (`<md5>.dir`): a list of entries
    `{"md5", "relpath"}`, unchecked. WHAT names the folder in the error when it is missing."""
    try:
        return json.loads((cache / dir_hash[:2] / dir_hash[2:]).read_text())
    except (FileNotFoundError, ValueError):
        raise IDEError(f"the DVC cache has no manifest for {what}; run `dvc pull` or "
                       "`dvc checkout`") from None


def _to_cache(cache: Path, md5: str, src: Path) -> None:
    dest = cache / md5[:2] / md5[2:]
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o444)  # DVC keeps its cache files read-only
    os.replace(tmp, dest)


def extend(root: Path, cache: Path, dvcfile: str, new: dict[str, tuple[str, Path]]) -> None:
    """Add NEW {relpath: (md5, source file)} to the folder that DVCFILE (relative to ROOT)
    tracks: into the cache, into the working folder, into the manifest and DVCFILE.

    The working copies are written first and removed again if anything fails after them;
    cache files are content-addressed, so one left behind is harmless.
    """
    meta = ds.parse_dvc((root / dvcfile).read_text(), dvcfile)
    out = meta["outs"][0]
    entries = read_manifest(cache, out["md5"], dvcfile)
    folder = (root / dvcfile).parent / out["path"]
    written = []
    try:
        for rel, (md5, src) in new.items():
            _to_cache(cache, md5, src)
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            written.append(dest)
        entries = sorted([*entries, *({"md5": md5, "relpath": rel}
                                      for rel, (md5, _) in new.items())],
                         key=lambda e: e["relpath"])
        data = json.dumps(entries, sort_keys=True).encode("utf-8")  # as dvc-data writes it
        dir_hash = hashlib.md5(data).hexdigest() + ".dir"
        manifest = cache / dir_hash[:2] / dir_hash[2:]
        if not manifest.exists():
            state.write_atomic(manifest, data)
            os.chmod(manifest, 0o444)
        out["md5"] = dir_hash
        out["nfiles"] = len(entries)
        if "size" in out:
            out["size"] = out["size"] + sum(os.path.getsize(src) for _, src in new.values())
        state.write_atomic(root / dvcfile, yaml.safe_dump(meta, sort_keys=False))
    except BaseException:
        for dest in written:
            dest.unlink(missing_ok=True)
        raise
