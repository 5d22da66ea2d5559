"""Reading datasets at a revision: one `Version`, resolved once, for everything downstream.

`resolve(ws, name, rev)` asks git once (one `git cat-file --batch`) for the commit of REV and
the dataset's files at it, and returns a frozen `Version`: its labels, classes, checked ids,
image hash and training parameters. Reads, staging, commits, training and ranking all take
it, so no one asks git the same question twice; a commit never changes, so a version once
read is kept in memory (by workspace, dataset and commit id) and a later `resolve` of the
same commit only asks git for the commit id. Nothing here writes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Mapping

from ide.data import formats as ds
from ide.data.params import Params, parse_params
from ide.errors import IDEError, InvalidInput, UnknownDataset
from ide.repo.workspace import Workspace

# The files of a dataset that a version is made of, in the order `resolve` reads them.
FILES = ("labels.csv", "dataset.yaml", "images.dvc", "params.yaml", "checked.txt")


@dataclass(frozen=True)
class Version:
    """Dataset NAME as committed at COMMIT."""
    name: str
    folder: str                 # datasets/<name>, relative to the workspace root
    commit: str
    labels_blob: str            # git blob id of labels.csv: names its content
    images_hash: str            # DVC hash (`<md5>.dir`) of images/; "" if not DVC-tracked
    classes: tuple[str, ...]
    checked: frozenset[str]     # ids a reviewer marked as "label is right"
    params_text: str | None = field(repr=False)  # params.yaml (None: absent)
    labels: Mapping[str, str] = field(repr=False, compare=False)  # {id: label}, read-only

    @cached_property
    def params(self) -> Params:
        """The training parameters (parsed on first use: a bad params.yaml is an error of
        training, not of reading the labels)."""
        try:
            return parse_params(self.params_text)
        except InvalidInput as exc:
            raise InvalidInput(_at(self.folder, self.commit, exc)) from None


def _at(folder: str, commit: str, exc: InvalidInput) -> str:
    """The error EXC of a file of FOLDER at COMMIT (EXC's text starts with the file's name):
    `datasets/toy/params.yaml: not valid YAML (line 3) (at commit 1a2b3c4d5e)`."""
    return f"{folder}/{exc} (at commit {commit[:10]})"


def resolve(ws: Workspace, name: str, rev: str = "HEAD") -> Version:
    """Dataset NAME at REV (anything git accepts); UnknownDataset if REV has no such dataset."""
    folder = ds.dataset_dir(name)
    key = (str(ws.root), folder)
    try:
        # A version seen before is not read again (the app resolves HEAD several times a
        # run: 2.4 MB of labels.csv each time at 100,000 examples).
        commit, found = ws.read_at(rev, [f"{folder}/{f}" for f in FILES],
                                   known=lambda c: _versions.get((*key, c)) is not None)
    except IDEError:
        if rev == "HEAD":  # an empty repository: no commit yet, so no dataset either
            raise _unknown(ws, name) from None
        raise
    if found is None:
        hit = _versions.get((*key, commit))
        # (Another thread may have pushed it out of the cache since: then read it again.)
        return hit if hit is not None else resolve(ws, name, commit)
    version = _read_version(name, folder, commit, found)
    if version is None:
        raise _unknown(ws, name)
    _versions.put((*key, commit), version)
    return version


def _read_version(name: str, folder: str, commit: str, found: list) -> Version | None:
    """The Version of FOUND, the files of `FILES` at COMMIT; None without a labels.csv."""
    labels, meta, dvc, params, checked = found
    if labels is None:
        return None
    try:
        text = [None if f is None else f[1].decode("utf-8") for f in found]
    except UnicodeDecodeError:
        raise InvalidInput(f"{folder} at {commit[:10]}: a file is not UTF-8 text") from None
    # A commit may come from anyone (a pull, a hand edit): its files are checked here.
    try:
        images = ds.images_hash(text[2]) if dvc else ""
        classes = tuple(ds.parse_meta(text[1] or "")["classes"])
        parsed = _parsed_labels(labels[0], text[0], classes)
    except InvalidInput as exc:
        raise InvalidInput(_at(folder, commit, exc)) from None
    return Version(name=name, folder=folder, commit=commit, labels_blob=labels[0],
                   images_hash=images, classes=classes,
                   checked=ds.parse_checked(text[4]), params_text=text[3], labels=parsed)


def datasets(ws: Workspace) -> list[str]:
    """Names of the datasets committed at HEAD."""
    out = ws.git("ls-tree", "-r", "--name-only", "HEAD", "--", "datasets/", check=False)
    return sorted(p.split("/")[1] for p in out.split("\n")
                  if p.count("/") == 2 and p.endswith("/labels.csv"))


def _unknown(ws: Workspace, name: str) -> UnknownDataset:
    known = ", ".join(datasets(ws)) or "none yet; use `ide import`"
    return UnknownDataset(f"unknown dataset {name!r} (datasets: {known})")


class _Memo:
    """A small LRU map shared by the app's sessions, which read from several threads."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


# A commit never changes, and a blob id names its content: what is read or parsed from
# them once per process is always right.
_versions = _Memo(8)    # (workspace root, folder, commit) -> Version
_parsed = _Memo(16)     # (blob id, classes) -> labels


def _parsed_labels(blob: str, text: str, classes: tuple[str, ...]) -> Mapping[str, str]:
    """The labels of blob BLOB (TEXT), checked against CLASSES; parsed once per process."""
    key = (blob, classes)
    hit = _parsed.get(key)
    if hit is None:
        labels = ds.parse_labels(text)
        ds.check_labels(labels, classes)
        hit = MappingProxyType(labels)
        _parsed.put(key, hit)
    return hit
