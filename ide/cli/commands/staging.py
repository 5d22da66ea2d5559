"""The commands that stage edits of a dataset's labels and commit them: `ide relabel`,
`check`, `remove`, `accept` (the model's suggestions), `unstage`, `status` and `commit`.
"""

from __future__ import annotations

import sys

from ide.cli.command import Argument, Command, label_text, pairs, workspace
from ide.cli.options import DATASET, OPTIONAL_DATASET
from ide.errors import AlreadyCommitted
from ide.ops import views
from ide.repo import commits, staged, versions

IDS = Argument("ids", nargs="+", metavar="ID")
SOME_IDS = Argument("ids", nargs="*", metavar="ID")


def _relabel(args):
    return {"dataset": args.name, "staged": staged.relabel(workspace(args), args.name,
                                                          pairs(args.edits))}


def _show_relabel(res):
    print(f"{len(res['staged'])} edit(s) staged for {res['dataset']}")


RELABEL = Command(
    "relabel", "stage label edits: ID LABEL [ID LABEL ...]", _relabel, _show_relabel,
    (DATASET, Argument("edits", nargs="+", metavar="ID LABEL")))


def _check(args):
    staged.mark_checked(workspace(args), args.name, args.ids)
    return {"dataset": args.name, "checked": args.ids}


def _show_check(res):
    print(f"{len(res['checked'])} example(s) marked as checked (staged)")


CHECK = Command("check", "stage 'checked, label is right' marks for ids", _check, _show_check,
                (DATASET, IDS))


def _remove(args):
    staged.remove(workspace(args), args.name, args.ids)
    return {"dataset": args.name, "removed": args.ids}


def _show_remove(res):
    print(f"{len(res['removed'])} removal(s) staged for {res['dataset']}")


REMOVE = Command(
    "remove", "stage removals: the examples leave labels.csv at the commit (their images stay "
    "in the history)", _remove, _show_remove, (DATASET, IDS))


def _accept(args):
    from ide.ops import suggest

    return {"dataset": args.name,
            "staged": suggest.accept(workspace(args), args.name, ids=args.ids or None,
                                     min_probability=args.min_probability)}


def _show_accept(res):
    print(f"{len(res['staged'])} suggestion(s) staged for {res['dataset']}; review with "
          f"`ide status {res['dataset']}`, then `ide commit`")


ACCEPT = Command(
    "accept", "stage the model's suggestions for unlabelled examples (the ids given, or all "
    "with --min-probability)", _accept, _show_accept,
    (DATASET, SOME_IDS,
     Argument("--min-probability", type=float, metavar="P", help="accept every suggestion "
              "with at least this probability")))


def _unstage(args):
    staged.unstage(workspace(args), args.name, args.ids or None)
    return {"dataset": args.name, "unstaged": args.ids or "all"}


UNSTAGE = Command("unstage", "drop staged edits (all, or of the given ids)", _unstage,
                  lambda res: None, (DATASET, SOME_IDS))


def _status(args):
    ws = workspace(args)
    names = [args.name] if args.name else versions.datasets(ws)
    return [views.status(ws, name) for name in names]


def _show_status(report):
    if not report:
        print("no datasets yet (use `ide import NAME SRC`)")
    for r in report:
        model = r["model"]
        state = model["state"] + (f" ({model['progress']})" if model.get("progress") else "")
        where = f"on {r['branch']}, " if r["branch"] else ""
        print(f"{r['dataset']}: {where}HEAD {r['head'][:10]}, model {state}")
        if model.get("error"):
            print(f"  last training failed: {model['error']}")
        for c in r["merge_conflicts"]:
            print(f"  {r['operation'] or 'merge'} conflict {c['id']}: ours {c['ours']}, "
                  f"theirs {c['theirs']} (was {c['base']}); settle with `ide resolve "
                  f"{r['dataset']} ID LABEL`")
        for path in r["unmerged"]:
            print(f"  unmerged {path}: git could not merge it; settle it with git and "
                  f"finish the {r['operation']}")
        for c in r["conflicts"]:
            print(f"  conflict {c['id']}: yours {c['yours']}, theirs {c['theirs']} "
                  f"(you changed {c['base']}); `ide relabel` it again or `ide unstage` it")
        for e in r["labels"]:
            print(f"  relabel {e['id']}: {label_text(e['old'])} -> {e['new']}")
        for i in r["checked"]:
            print(f"  checked {i}")
        for e in r.get("removed", []):
            print(f"  remove {e['id']} ({label_text(e['old'])})")
        if not r["labels"] and not r["checked"] and not r["conflicts"] and \
                not r.get("removed"):
            print("  nothing staged")


STATUS = Command("status", "staged edits, HEAD, and the state of its model", _status,
                 _show_status, (OPTIONAL_DATASET,))


def _commit(args):
    try:
        return {"dataset": args.name, "commit": commits.commit(
            workspace(args), args.name, args.message, author=args.author,
            verify=not args.no_verify)}
    except AlreadyCommitted as done:  # by another process, while this one waited: success
        return {"dataset": args.name, "commit": done.commit, "already": str(done)}


def show_commit(res):
    if res.get("already"):
        print(f"ide: {res['already']}", file=sys.stderr)
    print(res["commit"])


COMMIT = Command(
    "commit", "commit the staged edits of NAME", _commit, show_commit,
    (DATASET,
     Argument("-m", "--message", required=True),
     Argument("--no-verify", action="store_true", help="skip the repository's git hooks")),
    author=True)
