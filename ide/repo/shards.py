"""Values computed from an image's content, kept by the content's md5 in shards.

A `Shards` folder (under the workspace state) holds `<hash>.npz` files: the md5s of the
images one call computed and their values, one row each, under a field name of the
caller's. Nothing is rewritten: a crash loses at most the shard being written, and a grown
or relabelled dataset computes only images it has not seen. The backbone's embeddings
(`ide.learn.embeddings`) and the image measurements of `ide issues` (`ide.ops.issues`)
are kept this way.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from ide.repo import state


class Shards:
    """The values in FOLDER's shards (numpy field FIELD), by image md5 (`known`)."""

    def __init__(self, folder: Path, field: str):
        self.folder, self.field = folder, field
        self.known: dict[str, np.ndarray] = {}
        for shard in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
            with np.load(shard) as z:
                self.known.update(zip(z["md5"].tolist(), z[field]))

    def put(self, md5s: list[str], values: np.ndarray) -> None:
        """Keep VALUES (one row per md5 of MD5S) as a new shard."""
        buf = io.BytesIO()
        np.savez(buf, **{"md5": np.array(md5s), self.field: values})
        name = hashlib.sha256("\n".join(md5s).encode()).hexdigest()[:16]
        state.write_atomic(self.folder / f"{name}.npz", buf.getvalue())
        self.known.update(zip(md5s, values))
