"""The commands that read a dataset's history and go back in it: `ide log`, `diff`,
`history`, and `checkout` and `revert` (each a new commit).
"""

from __future__ import annotations

from ide.cli.command import Argument, Command, label_text, workspace
from ide.cli.commands.staging import show_commit
from ide.cli.options import DATASET, REV
from ide.ops import views
from ide.repo import commits, history


def _log(args):
    return views.log(workspace(args), args.name, args.rev)


def _show_log(entries):
    for e in entries:
        m = e["metrics"]
        score = (f"  acc {m['accuracy']:.4f}, {m['suspects']} suspects" if m else "") + (
            f", model {views.model_text(m)}" if m and m.get("model") else "")
        grew = "".join(f", {e[k]} {k}" for k in ("added", "removed") if e.get(k))
        size = f", {e['examples']} examples" if e.get("examples") is not None else ""
        print(f"{e['commit'][:10]}  {e['date'][:16]}  {e['author']}  "
              f"({e['edits']} edits{grew}{size}){score}\n    {e['message']}")


LOG = Command("log", "dataset commits, newest first, with metrics", _log, _show_log,
              (DATASET, REV.but(help="a branch or commit (default HEAD)")))


def _diff(args):
    return history.diff(workspace(args), args.name, args.rev, args.rev2)


def _show_diff(changes):
    for c in changes:
        print(f"{c['id']}: {label_text(c['old'])} -> {label_text(c['new'])}")
    if not changes:
        print("no label changes")


DIFF = Command("diff", "label changes from REV to REV2 (default HEAD)", _diff, _show_diff,
               (DATASET, Argument("rev"), Argument("rev2", nargs="?")))


def _history(args):
    return history.history(workspace(args), args.name, args.id)


def _show_history(found):
    for h in found:
        label = "(removed)" if h["label"] is None else label_text(h["label"])
        print(f"{h['commit'][:10]}  {h['date'][:16]}  {h['author']}  {label}"
              f"    {h['message']}")


HISTORY = Command("history", "every label an example has had", _history, _show_history,
                  (DATASET, Argument("id")))


def _checkout(args):
    return {"dataset": args.name, "commit": commits.checkout(workspace(args), args.name,
                                                             args.rev, author=args.author)}


CHECKOUT = Command("checkout", "restore the labels of REV as a new commit", _checkout,
                   show_commit, (DATASET, Argument("rev")), author=True)


def _revert(args):
    return {"dataset": args.name, "commit": commits.revert(workspace(args), args.name,
                                                           args.rev, author=args.author)}


REVERT = Command("revert", "undo the label edits of commit REV as a new commit", _revert,
                 show_commit, (DATASET, Argument("rev")), author=True)
