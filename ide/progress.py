"""Training progress on a terminal: `fold 2/5 epoch 3/6 [#####-----] 41% 2300 ex/s`, or
`embedding 640/3000 images [...]` while a backbone embeds new images."""

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
        what = (f"embedding {p['done']}/{p['total']} images" if "done" in p else
                f"fold {p['fold']}/{p['folds']} epoch {p['epoch']}/{p['epochs']}")
        stream.write(f"\r{what} [{'#' * filled}{'-' * (width - filled)}] "
                     f"{p['fraction']:4.0%} {p['rate']:6.0f} ex/s ")
        stream.flush()

    return show
