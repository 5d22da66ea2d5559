"""The one exception root: the CLI and the app turn an IDEError into a one-line message."""


class IDEError(Exception):
    """Something the user can fix; its text is shown as it is, without a traceback."""


class NotAWorkspace(IDEError):
    pass


class UnknownDataset(IDEError):
    pass


class InvalidInput(IDEError):
    """A bad argument or file: unknown id or class, malformed CSV, unsafe path, bad image."""


class Conflict(IDEError):
    """Someone else changed what this edit was based on."""


class NothingToDo(IDEError):
    pass


class AlreadyCommitted(NothingToDo):
    """A commit found its edits committed already, by COMMIT (another process's commit)."""

    def __init__(self, message: str, commit: str):
        super().__init__(message)
        self.commit = commit


class NotTrained(IDEError):
    pass
