"""Operations over a workspace: import and export, add, classes, suggestions, duplicates,
the DVC stage, publishing and sharing results, the worker, the demo, and the read model
that the CLI and the app show."""
