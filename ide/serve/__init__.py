"""`ide serve`: the app behind its authenticating gate, plus the worker."""
