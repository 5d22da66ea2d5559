"""A dataset IDE: the labelled dataset is the source code, training is the compiler.

The Python API that the CLI (`ide.cli`) and the app (`ide.app`) are thin layers over, in
layers that import only downwards: `ide.data` (file formats, training parameters),
`ide.repo` (the workspace's git and DVC, a dataset `Version` at any revision, staged edits,
commits, history), `ide.learn` (the pure ranking core, K-fold training, the run store and
the `Ranking` read model) and `ide.ops` (import, export, classes, suggestions, duplicates,
sync, the retrain worker, and `ide.ops.views`: what the CLI and the app show). Every error
meant for the user is an `ide.errors.IDEError`. See docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
