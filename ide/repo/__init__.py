"""The repository layer: the workspace (git and DVC), its local state (`.ide/`), dataset
versions at a commit, staged edits, commits, history and the image files of a version."""
