"""HEAD as one run of the app sees it: the `Version` of HEAD and the staged edits against it.

`Head.read` resolves HEAD once and reads the staged file once (`ide.repo.staged`); `main`
does it at the top of every run and passes the `Head` down to the page and its widgets, so
no one asks git or the file again in that run. A fragment that reruns by itself (a click in
it, its timer) is called again with the arguments of the run that drew it: `Head.first`
tells it so, and it asks again (another session may have staged or committed since).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ide.repo import staged, versions
from ide.repo.versions import Version


@dataclass(frozen=True)
class Head:
    """HEAD's version of a dataset and the staged edits against it, read once."""
    version: Version
    mine: dict         # the reviewer's staged edits (`staged.read`)
    theirs: dict       # the other reviewers' (`staged.others`)
    everyone: dict     # everyone's (`staged.everyone`)
    _drawn: set = field(default_factory=set, repr=False, compare=False)

    @classmethod
    def read(cls, ws, name: str, owner: str | None) -> Head:
        """HEAD of dataset NAME and the staged edits against it, OWNER's apart."""
        version = versions.resolve(ws, name)
        stage = staged.load(ws, name)
        return cls(version, staged.read(ws, name, version, owner, stage=stage),
                   staged.others(ws, name, version, owner, stage=stage),
                   staged.everyone(ws, name, version, stage=stage))

    def first(self, fragment: str) -> bool:
        """True the first time FRAGMENT asks: in the run that read this Head; False in the
        fragment's own reruns, which must read HEAD again."""
        if fragment in self._drawn:
            return False
        self._drawn.add(fragment)
        return True
