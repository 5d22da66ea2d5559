"""Progress of long steps on stderr, drawn by tqdm: on a terminal a live bar with the rate
and the time left; anywhere else (a log file, a pipe) one plain line per step, so a log
holds a few readable lines instead of hundreds of redrawn frames.

A `Progress` is the `progress` callback the API takes. It is given plain dicts:
- a training step, from `train.cross_validate`:
  `{"fold", "folds", "epoch", "epochs", "fraction", "rate", "fold_fraction"}` (fraction of
  the whole run and of the fold, rate in examples/s); one line per epoch of a fold, printed
  when the fold's next epoch starts or the fold ends (folds train two at a time: their
  reports interleave);
- a count, from `embeddings` (images embedded) or `transfer` (files checked, copied):
  `{"done", "total", "fraction"}`, `"rate"` optional; one line per tenth of the total. No
  rate is shown ("?") until one is measured: the given one, or from the reports after the
  first.
`say(message)` announces the next step (`ide import`'s "checking every image in SRC");
a count is named by the last message, or is the backbone "embedding images" if none.
A count or a training run closes its bar when its fraction reaches 1.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

_TRAIN = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"
_COUNT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"


def _plain(bar_format: str) -> str:
    return bar_format.replace("|{bar}|", "")


class Progress:
    """A progress callback drawing on STREAM (default stderr): live when LIVE (default:
    when STREAM is a terminal), else one line per step."""

    def __init__(self, stream=None, *, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = bool(self.stream.isatty()) if live is None else live
        self.bar = None        # the live tqdm bar of the current step
        self.kind = None       # "train" or "count": a change of kind starts a new bar
        self.name = None       # the count's name, from say()
        self.start = 0.0
        self.initial = 0       # a count's done at its first report: not measured work
        self.shown = None      # non-live: the tenth of a count last printed
        self.last = None       # non-live: the last report not printed yet

    def say(self, message: str) -> None:
        """Start a new step named MESSAGE (its own line; a count that follows is named by it)."""
        self.close()
        self.name = message
        self._write(f"{message} ...")

    def __call__(self, p: dict) -> None:
        kind = "train" if "fold" in p else "count"
        if kind != self.kind:
            self.close(keep_name=True)
            self.kind, self.start, self.shown = kind, time.time(), 0
            # What was done before the first report (a first batch, cached images) took an
            # unknown time: a rate over it would be a number in the millions, not a rate.
            self.initial = p.get("done", 0)
        if self.live:
            self._draw(p)
        else:
            self._line(p)
        if p["fraction"] >= 1:
            self.close()

    def close(self, keep_name: bool = False) -> None:
        """End the current bar (a non-live step not yet printed is printed)."""
        if self.bar is not None:
            self.bar.close()
        elif self.kind == "train":
            for p in sorted((self.last or {}).values(), key=lambda p: p["fraction"]):
                self._write(self._format(p))
        elif self.last is not None:
            self._write(self._format(self.last))
        self.bar = self.last = self.shown = self.kind = None
        if not keep_name:
            self.name = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- drawing ---------------------------------------------------------------------
    def _desc(self, p: dict) -> str:
        if self.kind == "train":
            return f"fold {p['fold']}/{p['folds']} epoch {p['epoch']}/{p['epochs']}"
        return self.name or "embedding images"

    def _unit(self) -> str:
        return " ex" if self.kind == "train" else " files" if self.name else " images"

    def _draw(self, p: dict) -> None:
        if self.bar is None:
            train = self.kind == "train"
            self.bar = tqdm(total=100 if train else p["total"], file=self.stream,
                            desc=self._desc(p), bar_format=_TRAIN if train else _COUNT,
                            unit=self._unit(), dynamic_ncols=True,
                            initial=0 if train else self.initial)
        self.bar.set_description_str(self._desc(p), refresh=False)
        if self.kind == "train":
            self.bar.set_postfix_str(f"{p['rate']:.0f} ex/s", refresh=False)
            self.bar.update(p["fraction"] * 100 - self.bar.n)
        else:
            self.bar.update(p["done"] - self.bar.n)

    def _line(self, p: dict) -> None:
        # An epoch is printed when it ends (the next one starts, or the run ends), so its
        # line has its last rate and an ETA from the whole run so far; a count is printed
        # at each tenth.
        if self.kind == "train":  # the last report of each fold
            self.last = self.last or {}
            before = self.last.get(p["fold"])
            if before is not None and before["epoch"] != p["epoch"]:
                self._write(self._format(before))
            self.last[p["fold"]] = p
            if p.get("fold_fraction", 0) >= 1:
                self._write(self._format(self.last.pop(p["fold"])))
        elif self._step(p) != self.shown:
            self.shown = self._step(p)
            self.last = None
            self._write(self._format(p))
        else:
            self.last = p

    def _step(self, p: dict):
        if self.kind == "train":
            return (p["fold"], p["epoch"])
        return int(p["fraction"] * 10)

    def _format(self, p: dict) -> str:
        elapsed = time.time() - self.start
        if self.kind == "train":
            return tqdm.format_meter(p["fraction"] * 100, 100, elapsed, prefix=self._desc(p),
                                     bar_format=_plain(_TRAIN),
                                     postfix=f"{p['rate']:.0f} ex/s")
        return tqdm.format_meter(p["done"], p["total"], elapsed, prefix=self._desc(p),
                                 bar_format=_plain(_COUNT), unit=self._unit(),
                                 initial=self.initial, rate=p.get("rate"))

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


def quiet(*_args, **_kwargs) -> None:
    """A progress (or say) callback that shows nothing."""
