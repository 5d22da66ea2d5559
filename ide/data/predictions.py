"""Bring your own predictions: out-of-sample probabilities from a file, checked, as (N, K).

Two formats, both over the labelled examples of a version: a CSV with an `id` column and one
column per class (extra columns are ignored, so `ide export --format predictions` output
reads back), or a cleanlab-style `.npy` array (N, K) with rows in the order of labels.csv
and columns in the order of the classes. Pure: text or arrays in, an array out.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ide.data import formats as ds
from ide.errors import InvalidInput

TOLERANCE = 1e-3  # how far a row may sum from 1 (files written with 6 decimals pass)


def read(path: Path | str, ids: list[str], classes: list[str]) -> np.ndarray:
    """The probabilities in PATH for IDS (in that order) over CLASSES: (N, K) float32."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    if path.suffix.lower() == ".npy":
        try:
            probs = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{path.name}: not a numpy array file ({exc})") from None
        if probs.shape != (len(ids), len(classes)):
            raise InvalidInput(f"{path.name}: shape {probs.shape}, expected ({len(ids)}, "
                               f"{len(classes)}): one row per example of labels.csv, one "
                               "column per class")
        return _check(path.name, probs)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    return parse_csv(text, ids, classes, source=path.name)


def parse_csv(text: str, ids: list[str], classes: list[str], *,
              source: str = "predictions") -> np.ndarray:
    rows = (row for row in ds.csv_rows(text, source) if row)  # as csv.DictReader: no blanks
    columns = next(rows, None) or []
    missing = [c for c in ["id", *classes] if c not in columns]
    if missing:
        raise InvalidInput(f"{source}: missing column(s) {', '.join(missing)} (expected id "
                           "and one column per class)")
    row_of = {i: n for n, i in enumerate(ids)}
    probs = np.full((len(ids), len(classes)), np.nan)
    seen = np.zeros(len(ids), dtype=bool)
    for line, values in enumerate(rows, start=2):
        row = dict(zip(columns, values))  # a short row lacks its last columns: None below
        n = row_of.get(row.get("id"))
        if n is None:
            raise InvalidInput(f"{source}:{line}: unknown example id {row.get('id')!r}")
        if seen[n]:
            raise InvalidInput(f"{source}:{line}: duplicate id {row.get('id')!r}")
        seen[n] = True
        try:
            probs[n] = [float(row.get(c)) for c in classes]
        except (TypeError, ValueError):
            raise InvalidInput(f"{source}:{line}: probabilities must be numbers") from None
    if not seen.all():
        raise InvalidInput(f"{source}: {int(seen.sum())} rows, expected {len(ids)}: "
                           f"{ids[int(np.argmin(seen))]!r} has no row")
    return _check(source, probs)


def _check(source: str, probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if not np.isfinite(probs).all():
        raise InvalidInput(f"{source}: NaN or infinite probabilities")
    if (probs < 0).any() or (np.abs(probs.sum(1) - 1) > TOLERANCE).any():
        raise InvalidInput(f"{source}: each row must be probabilities summing to 1")
    return (probs / probs.sum(1, keepdims=True)).astype(np.float32)


def format_csv(ids: list[str], classes: list[str], probs: np.ndarray) -> str:
    """The CSV that `read` takes back: id, then one column per class."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", *classes])
    for i, row in zip(ids, probs):
        writer.writerow([i, *(f"{p:.6f}" for p in row)])
    return out.getvalue()
