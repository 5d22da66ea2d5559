"""A dataset IDE: the labelled dataset is the source code, training is the compiler.

The Python API that the CLI (`ide.cli`) and the app (`ide.app`) are thin layers over:
`ide.store` (a dataset `Version` resolved from any revision), `ide.staged` and `ide.commits`
(label edits and the commits they become), `ide.history` (log, diff, history),
`ide.transfer` (import, export), `ide.runs` (training results per version; `ide.train` is
the K-fold training itself), `ide.rank` (pure suspicion scores and metrics), `ide.views`
(what the CLI and the app show) and `ide.worker` (retrain on every commit).
See docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
