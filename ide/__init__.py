"""A dataset IDE: the labelled dataset is the source code, training is the compiler.

The Python API that the CLI (`ide.cli`) and the app (`ide.app`) are thin layers over:
`ide.store` (workspaces, label edits and commits), `ide.runs` (training results per
version; `ide.train` is the K-fold training itself),
`ide.rank` (pure suspicion scores) and `ide.worker` (retrain on every commit).
"""

__version__ = "0.1.0"
