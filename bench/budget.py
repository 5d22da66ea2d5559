"""How the CNN's training budget was chosen: folds, epochs and bfloat16, in one run.

    python bench/budget.py            # needs ../shared/data; ~17 min on 2 cores, run alone

On the real MNIST and Fashion-MNIST test sets (10,000 images each, their given labels), the
IDE's K-fold CNN (`ide.learn.train.cross_validate`, fold seed 0) under each setting:
out-of-fold accuracy and seconds for all folds. The targets: Fashion-MNIST at least 0.90
within 120 s and MNIST at least 0.992 within 90 s on 2 cores. The folds train two at a
time, so with 5 folds the fifth trains alone while a core idles; float32 is the step
before bfloat16 autocast (on a CPU without native bfloat16 every row runs in float32).
"""

import contextlib
import time

from models import accuracy, fashion, mnist, row, table

from ide.data.params import Params
from ide.learn import train

SETTINGS = [  # (label, Params fields, bfloat16)
    ("5 folds x 8 epochs, float32 (before)", dict(folds=5, epochs=8), False),
    ("5 folds x 8 epochs", dict(folds=5, epochs=8), True),
    ("4 folds x 12 epochs", dict(folds=4, epochs=12), True),
    ("4 folds x 16 epochs (default)", dict(folds=4, epochs=16), True),
    ("4 folds x 16 epochs, float32", dict(folds=4, epochs=16), False),
    ("4 folds x 20 epochs", dict(folds=4, epochs=20), True),
]


def main():
    ids, xm, ym = mnist()
    xf, yf = fashion()
    w = [38, 12, 10, 12, 10]
    table(["setting", "MNIST acc", "MNIST s", "Fashion acc", "Fashion s"], w)
    native = train._autocast
    for label, fields, bf16 in SETTINGS:
        train._autocast = native if bf16 else (lambda dev: contextlib.nullcontext())
        cells = []
        for x, y in ((xm, ym), (xf, yf)):
            start = time.time()
            probs, _ = train.cross_validate(ids, x, y, 10, Params(seed=0, **fields))
            cells += [f"{accuracy(y, probs):.4f}", f"{time.time() - start:.0f}"]
        row([label, *cells], w)
    train._autocast = native


if __name__ == "__main__":
    main()
