"""The commands of a team's work: `ide push` and `pull` (commits, images and training
results), `resolve` (the label conflicts of a merge, rebase or cherry-pick) and `publish`
(a training's results as a commit of the branch).
"""

from __future__ import annotations

from ide.cli.command import Argument, Command, pairs, progress, workspace
from ide.cli.options import DATASET, DEVICE, REMOTE
from ide.repo import conflicts, versions


def _push(args):
    from ide.ops import sync

    return {"remote": args.remote, **sync.push(workspace(args), args.remote)}


def _show_push(res):
    print(f"pushed to {res['remote']}, with the results of {res['results']} trained "
          "version(s)")


PUSH = Command("push", "dvc push, git push of this branch (after merging the remote's: git "
               "pull --no-rebase), and the training results (refs/ide/results)", _push,
               _show_push, (REMOTE,))


def _pull(args):
    from ide.ops import sync

    return {"remote": args.remote, **sync.pull(workspace(args), args.remote)}


def _show_pull(res):
    print(f"pulled from {res['remote']}; {res['results']} new training result(s)")


PULL = Command("pull", "git pull --no-rebase of this branch (a merge), dvc pull, and the "
               "training results others pushed: `ide log` and `ide suspects` without "
               "retraining", _pull, _show_pull, (REMOTE,))


def _resolve(args):
    ws = workspace(args)
    versions.resolve(ws, args.name)  # an unknown dataset is said so, not "no conflicts"
    return conflicts.settle(ws, args.name, pairs(args.picks))


def _show_resolve(res):
    what = res["operation"] or "merge"
    if res["left"]:
        print(f"{len(res['left'])} conflict(s) left: {', '.join(res['left'])}")
    elif res["commit"] and what == "merge":
        print(f"all conflicts resolved; merge committed as {res['commit'][:10]}")
    elif res["commit"]:
        print(f"all conflicts resolved; {what} continued, HEAD is {res['commit'][:10]}")
    elif res["operation"] and not res.get("unmerged"):
        print(f"all conflicts resolved; the {what} stopped again at a later commit: see "
              "`ide status`")
    else:
        print("all label conflicts resolved; other files are still unmerged: finish the "
              f"{what} with git")


RESOLVE = Command(
    "resolve", "settle label conflicts of a git merge, rebase or cherry-pick: ID LABEL [ID "
    "LABEL ...]; commits the merge (or continues) when none are left", _resolve, _show_resolve,
    (DATASET, Argument("picks", nargs="+", metavar="ID LABEL")))


def _publish(args):
    from ide.ops import experiments

    with progress(args) as bar:
        res = experiments.publish(workspace(args), args.name, progress=bar, device=args.device)
    return {"dataset": args.name, **res}


def _show_publish(res):
    m = res["metrics"]
    print(f"published {res['dataset']} as {res['commit'][:10]}: dvc.lock, metrics.json, "
          f"confusion.csv, history.csv (accuracy {m['accuracy']:.4f}, {m['suspects']} "
          "suspects" + (", trained again from scratch as `dvc repro` would" if
                        res["retrained"] else "") + ")")


PUBLISH = Command(
    "publish", "commit HEAD's training results on the branch (dvc.lock and metrics, as `dvc "
    "repro` makes them), say before a tag or a release", _publish, _show_publish,
    (DATASET, DEVICE))
