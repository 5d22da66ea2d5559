"""Training progress on a terminal: `fold 2/5 epoch 3/6 [#####-----] 41% 2300 ex/s`."""

from __future__ import annotations

import time


def progress_bar(stream, width: int = 24):
    """A progress callback for `train.cross_validate` that redraws one line of STREAM."""
    last = [0.0]

    def show(p: dict) -> None:
        now = time.time()
        if now - last[0] < 0.2 and p["fraction"] < 1:
            return
        last[0] = now
        filled = int(p["fraction"] * width)
        stream.write(f"\rfold {p['fold']}/{p['folds']} epoch {p['epoch']}/{p['epochs']} "
                     f"[{'#' * filled}{'-' * (width - filled)}] {p['fraction']:4.0%} "
                     f"{p['rate']:6.0f} ex/s ")
        stream.flush()

    return show
