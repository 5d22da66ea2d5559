"""The commands that train: `ide retrain` (a version, now), `watch` (the worker that trains
every new commit, or a team's trainer) and `stage` (what `dvc repro` runs).
"""

from __future__ import annotations

import sys

from ide.cli.command import Argument, Command, print_json, progress, workspace
from ide.cli.options import DEVICE, OPTIONAL_DATASET, PULL_EVERY, REV
from ide.cli.progress import Progress
from ide.errors import IDEError
from ide.repo import versions


def _one_dataset(ws, name):
    if name:
        return name
    names = versions.datasets(ws)
    if len(names) != 1:
        raise IDEError("name the dataset: " + (", ".join(names) or "none yet"))
    return names[0]


def _retrain(args):
    from ide.learn import runs
    from ide.ops import experiments

    ws = workspace(args)
    name = _one_dataset(ws, args.name)
    version = versions.resolve(ws, name, args.rev)
    with progress(args) as bar:
        res = runs.retrain(ws, version, full=args.full, device=args.device, progress=bar)
    experiments.attach(ws, version)  # `dvc exp show` lists it, as it lists the worker's
    return {"dataset": name, **res}


def _show_retrain(res):
    from ide.ops import views

    m = res["metrics"]
    how = "cached" if res["cached"] else f"{res['seconds']:.1f} s" + (
        f", warm-started from {res['warm_start'][:10]}" if res["warm_start"] else "")
    print(f"{res['dataset']} at {res['commit'][:10]} ({how}): out-of-fold accuracy "
          f"{m['accuracy']:.4f}, mean loss {m['mean_loss']:.4f}, {m['suspects']} suspected "
          f"errors in {m['examples']} examples" + (
              f"; model {views.model_text(m)}" if m.get("model") else ""))


RETRAIN = Command(
    "retrain", "train on a version now (K-fold, out-of-sample); progress on stderr", _retrain,
    _show_retrain,
    (OPTIONAL_DATASET, REV,
     Argument("--full", action="store_true", help="no warm start from an earlier version"),
     DEVICE))


def _watch(args):
    from ide.ops import worker

    def log(done):
        if "pulled" in done:
            print(done.get("error") or f"pulled from {done['pulled']}; {done['results']} new "
                  "training result(s)", flush=True)
            return
        what = done.get("error") or "accuracy {accuracy:.4f}, {suspects} suspects".format(
            **done["metrics"])
        if done.get("attach_error"):
            what += f" (no DVC experiment: {done['attach_error']})"
        print(f"{done['dataset']} at {done['commit'][:10]}: {what}", flush=True)

    if args.branch and not args.remote:
        raise IDEError("--branch goes with --remote (the branch a trainer follows)")
    if args.remote:
        from ide.ops import sync

        print(f"training new commits of {args.remote} (Ctrl-C to stop)", file=sys.stderr,
              flush=True)
        return sync.trainer(workspace(args), args.remote, branch=args.branch,
                            device=args.device, interval=max(args.interval, 10.0),
                            once=args.once, log=log)
    print("watching for new commits (Ctrl-C to stop)", file=sys.stderr, flush=True)
    worker.watch(workspace(args), interval=args.interval, once=args.once, device=args.device,
                 log=log, pull_every=args.pull_every, remote=args.pull_from)


WATCH = Command(
    "watch", "the worker: retrain every new commit", _watch, arguments=(
        Argument("--interval", type=float, default=1.0, help="seconds between polls"),
        Argument("--once", action="store_true", help="stop when nothing is queued"),
        Argument("--remote", metavar="REMOTE", help="a trainer for a team: pull this branch "
                 "from REMOTE, train every new commit, push the results (polls every "
                 "--interval seconds, at least 10)"),
        Argument("--branch", metavar="BRANCH", help="with --remote: the branch to follow "
                 "(checked out here; default: the current one)"),
        DEVICE, *PULL_EVERY))


def _stage(args):
    from pathlib import Path

    from ide.ops import pipeline

    print_json(pipeline.run(Path(args.C or ".").resolve(), progress=Progress(sys.stderr)))


STAGE = Command("stage", "the DVC stage: train on the dataset folder it runs in and write "
                "model.pt, predictions.csv, metrics.json (what `dvc repro` runs)", _stage)
