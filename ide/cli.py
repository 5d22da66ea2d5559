"""`ide`: the command line. Thin: parse, call the API, print, return an exit code."""

from __future__ import annotations

import argparse
import json
import sys

from . import commits, history, staged, store, transfer, views
from .errors import IDEError
from .workspace import Workspace


def _print_json(data) -> None:
    print(json.dumps(data, indent=1))


def _ws(args) -> Workspace:
    return Workspace.find(args.C)


def _say(message: str) -> None:
    """Progress of a long step, on a terminal only (so errors stay one line in scripts)."""
    print(f"{message} ...", file=sys.stderr, flush=True)


def _pairs(values: list[str]) -> dict[str, str]:
    if not values or len(values) % 2:
        raise IDEError("give pairs of ID LABEL")
    return dict(zip(values[::2], values[1::2]))


# -- commands: each takes the parsed args and returns an exit code ----------------------
def cmd_init(args):
    ws = commits.init(args.dir)
    print(f"workspace ready: {ws.root}")


def cmd_import(args):
    res = transfer.import_dataset(_ws(args), args.name, args.src, labels_csv=args.labels,
                               skip_bad=args.skip_bad, author=args.author, model=args.model,
                               say=_say if sys.stderr.isatty() else lambda m: None)
    print(f"imported {res['examples']} examples in {len(res['classes'])} classes "
          f"as {res['commit'][:10]}")
    for bad in res["skipped"]:
        print(f"skipped {bad}")


def cmd_relabel(args):
    edits = staged.relabel(_ws(args), args.name, _pairs(args.edits))
    print(f"{len(edits)} edit(s) staged for {args.name}")


def cmd_check(args):
    staged.mark_checked(_ws(args), args.name, args.ids)
    print(f"{len(args.ids)} example(s) marked as checked (staged)")


def cmd_unstage(args):
    staged.unstage(_ws(args), args.name, args.ids or None)


def cmd_status(args):
    ws = _ws(args)
    names = [args.name] if args.name else store.datasets(ws)
    report = [views.status(ws, name) for name in names]
    if args.json:
        return _print_json(report)
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
            print(f"  merge conflict {c['id']}: ours {c['ours']}, theirs {c['theirs']} "
                  f"(was {c['base']}); settle with `ide resolve {r['dataset']} ID LABEL`")
        for c in r["conflicts"]:
            print(f"  conflict {c['id']}: yours {c['yours']}, theirs {c['theirs']} "
                  f"(you changed {c['base']}); `ide relabel` it again or `ide unstage` it")
        for e in r["labels"]:
            print(f"  relabel {e['id']}: {e['old']} -> {e['new']}")
        for i in r["checked"]:
            print(f"  checked {i}")
        if not r["labels"] and not r["checked"] and not r["conflicts"]:
            print("  nothing staged")


def cmd_commit(args):
    rev = commits.commit(_ws(args), args.name, args.message, author=args.author,
                         verify=not args.no_verify)
    print(rev)


def cmd_resolve(args):
    res = commits.resolve(_ws(args), args.name, _pairs(args.picks))
    if res["left"]:
        print(f"{len(res['left'])} conflict(s) left: {', '.join(res['left'])}")
    elif res["commit"]:
        print(f"all conflicts resolved; merge committed as {res['commit'][:10]}")
    else:
        print("all label conflicts resolved; other files are still unmerged: finish the "
              "merge with git")


def cmd_push(args):
    from . import sync

    res = sync.push(_ws(args), args.remote)
    print(f"pushed to {args.remote}, with the results of {res['results']} trained version(s)")


def cmd_pull(args):
    from . import sync

    res = sync.pull(_ws(args), args.remote)
    print(f"pulled from {args.remote}; {res['results']} new training result(s)")


def cmd_log(args):
    entries = views.log(_ws(args), args.name, args.rev)
    if args.json:
        return _print_json(entries)
    for e in entries:
        m = e["metrics"]
        score = (f"  acc {m['accuracy']:.4f}, {m['suspects']} suspects" if m else "")
        print(f"{e['commit'][:10]}  {e['date'][:16]}  {e['author']}  "
              f"({e['edits']} edits){score}\n    {e['message']}")


def cmd_diff(args):
    changes = history.diff(_ws(args), args.name, args.rev, args.rev2)
    if args.json:
        return _print_json(changes)
    for c in changes:
        print(f"{c['id']}: {c['old']} -> {c['new']}")
    if not changes:
        print("no label changes")


def cmd_history(args):
    found = history.history(_ws(args), args.name, args.id)
    if args.json:
        return _print_json(found)
    for h in found:
        print(f"{h['commit'][:10]}  {h['date'][:16]}  {h['author']}  {h['label']}"
              f"    {h['message']}")


def cmd_checkout(args):
    print(commits.checkout(_ws(args), args.name, args.rev, author=args.author))


def cmd_revert(args):
    print(commits.revert(_ws(args), args.name, args.rev, author=args.author))


def cmd_export(args):
    ws = _ws(args)
    if args.format == "predictions":
        from . import runs

        n = runs.export_predictions(ws, store.resolve(ws, args.name, args.rev), args.out)
    else:
        n = transfer.export(ws, args.name, args.out, fmt=args.format, rev=args.rev)
    print(f"exported {n} examples to {args.out}")


def cmd_predictions(args):
    from . import runs

    ws = _ws(args)
    res = runs.load_predictions(ws, store.resolve(ws, args.name), args.file)
    if args.json:
        return _print_json(res)
    m = res["metrics"]
    print(f"{args.name} at {res['commit'][:10]}: probabilities of {m['examples']} examples "
          f"loaded; out-of-fold accuracy {m['accuracy']:.4f}, {m['suspects']} suspected "
          "errors")


def _one_dataset(ws, name):
    if name:
        return name
    names = store.datasets(ws)
    if len(names) != 1:
        raise IDEError("name the dataset: " + (", ".join(names) or "none yet"))
    return names[0]


def cmd_retrain(args):
    from . import runs
    from .progress import progress_bar

    ws = _ws(args)
    name = _one_dataset(ws, args.name)
    res = runs.retrain(ws, store.resolve(ws, name, args.rev), full=args.full,
                       device=args.device, progress=progress_bar(sys.stderr))
    print(file=sys.stderr)
    if args.json:
        return _print_json(res)
    m = res["metrics"]
    how = "cached" if res["cached"] else f"{res['seconds']:.1f} s" + (
        f", warm-started from {res['warm_start'][:10]}" if res["warm_start"] else "")
    print(f"{name} at {res['commit'][:10]} ({how}): out-of-fold accuracy {m['accuracy']:.4f}, "
          f"mean loss {m['mean_loss']:.4f}, {m['suspects']} suspected errors in "
          f"{m['examples']} examples")


def cmd_suspects(args):
    from . import runs

    ws = _ws(args)
    rows = runs.suspects(ws, store.resolve(ws, args.name, args.rev), top=args.top,
                         method=args.method)
    if args.json:
        return _print_json([{k: r[k] for k in ("id", "label", "predicted", "loss", "score")}
                            for r in rows])
    print(f"{'id':<28} {'label':>10} {'predicted':>10} {'loss':>8} {'score':>7}")
    for r in rows:
        print(f"{r['id']:<28} {r['label']:>10} {r['predicted']:>10} {r['loss']:>8.3f} "
              f"{r['score']:>7.4f}")


def cmd_watch(args):
    from . import worker

    def log(done):
        if "pulled" in done:
            print(done.get("error") or f"pulled from {done['pulled']}; {done['results']} new "
                  "training result(s)", flush=True)
            return
        what = done.get("error") or "accuracy {accuracy:.4f}, {suspects} suspects".format(
            **done["metrics"])
        if done.get("publish_error"):
            what += f" (results not committed: {done['publish_error']})"
        print(f"{done['dataset']} at {done['commit'][:10]}: {what}", flush=True)

    if args.branch and not args.remote:
        raise IDEError("--branch goes with --remote (the branch a trainer follows)")
    if args.remote:
        from . import sync

        print(f"training new commits of {args.remote} (Ctrl-C to stop)", file=sys.stderr,
              flush=True)
        return sync.trainer(_ws(args), args.remote, branch=args.branch, device=args.device,
                            interval=max(args.interval, 10.0), once=args.once, log=log)
    print("watching for new commits (Ctrl-C to stop)", file=sys.stderr, flush=True)
    worker.watch(_ws(args), interval=args.interval, once=args.once, device=args.device,
                 log=log, pull_every=args.pull_every, remote=args.pull_from)


def cmd_stage(args):
    from pathlib import Path

    from . import stage

    _print_json(stage.run(Path(args.C or ".").resolve()))


def cmd_serve(args):
    from . import serve

    return serve.serve(_ws(args), host=args.host, port=args.port,
                       pull_every=args.pull_every, remote=args.pull_from)


def cmd_demo(args):
    from . import demo, runs, serve
    from .progress import progress_bar

    ws, flips = demo.build(args.dir)
    if flips:
        print(f"demo workspace {ws.root}: {len(flips)} labels of `digits` flipped at random in "
              "the last commit; training it now", file=sys.stderr)
    res = runs.retrain(ws, store.resolve(ws, "digits"), progress=progress_bar(sys.stderr))
    m = res["metrics"]
    print(f"\nout-of-fold accuracy {m['accuracy']:.4f}, {m['suspects']} suspected label "
          "errors", file=sys.stderr)
    if args.no_serve:
        return 0
    return serve.serve(ws, host=args.host, port=args.port)


def _pull_every(c) -> None:
    c.add_argument("--pull-every", type=float, metavar="SECONDS", help="pull from "
                   "--pull-from that often (fast-forward only): teammates' commits and a "
                   "trainer's results arrive by themselves")
    c.add_argument("--pull-from", default="origin", metavar="REMOTE",
                   help="the remote of --pull-every (default origin)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ide", description="A dataset IDE: review suspected "
                                "label errors, fix them, commit, retrain.")
    p.add_argument("-C", metavar="DIR", help="run as if started in DIR")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help, *, json_flag=False, author=False):
        c = sub.add_parser(name, help=help, description=help)
        c.set_defaults(func=func)
        if json_flag:
            c.add_argument("--json", action="store_true", help="machine-readable output")
        if author:
            c.add_argument("--author", help='"Name <email>" (default: git\'s user)')
        return c

    c = command("init", cmd_init, "make DIR a workspace (git + DVC); safe to repeat")
    c.add_argument("dir", nargs="?", default=".")
    c = command("import", cmd_import, "import a folder of images as dataset NAME (one commit)",
                author=True)
    c.add_argument("name")
    c.add_argument("src", help="SRC/<class>/<image>, or any tree with --labels")
    c.add_argument("--labels", metavar="CSV", help="CSV with columns path,label")
    c.add_argument("--skip-bad", action="store_true", help="import the readable images, "
                   "list the rest")
    c.add_argument("--model", help="cnn, efficientnet-lite0, timm:ARCH or torchvision:ARCH "
                   "(default: cnn for small or grey images, efficientnet-lite0 for photos)")
    c = command("relabel", cmd_relabel, "stage label edits: ID LABEL [ID LABEL ...]")
    c.add_argument("name")
    c.add_argument("edits", nargs="+", metavar="ID LABEL")
    c = command("check", cmd_check, "stage 'checked, label is right' marks for ids")
    c.add_argument("name")
    c.add_argument("ids", nargs="+", metavar="ID")
    c = command("unstage", cmd_unstage, "drop staged edits (all, or of the given ids)")
    c.add_argument("name")
    c.add_argument("ids", nargs="*", metavar="ID")
    c = command("status", cmd_status, "staged edits, HEAD, and the state of its model",
                json_flag=True)
    c.add_argument("name", nargs="?")
    c = command("commit", cmd_commit, "commit the staged edits of NAME", author=True)
    c.add_argument("name")
    c.add_argument("-m", "--message", required=True)
    c.add_argument("--no-verify", action="store_true", help="skip the repository's git hooks")
    c = command("resolve", cmd_resolve, "settle label conflicts of a git merge: "
                "ID LABEL [ID LABEL ...]; commits the merge when none are left")
    c.add_argument("name")
    c.add_argument("picks", nargs="+", metavar="ID LABEL")
    c = command("push", cmd_push, "dvc push, git push of this branch, and the training "
                "results (refs/ide/results)")
    c.add_argument("--remote", default="origin")
    c = command("pull", cmd_pull, "git pull of this branch, dvc pull, and the training "
                "results others pushed: `ide log` and `ide suspects` without retraining")
    c.add_argument("--remote", default="origin")
    c = command("log", cmd_log, "dataset commits, newest first, with metrics", json_flag=True)
    c.add_argument("name")
    c.add_argument("--rev", default="HEAD", help="a branch or commit (default HEAD)")
    c = command("diff", cmd_diff, "label changes from REV to REV2 (default HEAD)",
                json_flag=True)
    c.add_argument("name")
    c.add_argument("rev")
    c.add_argument("rev2", nargs="?")
    c = command("history", cmd_history, "every label an example has had", json_flag=True)
    c.add_argument("name")
    c.add_argument("id")
    c = command("checkout", cmd_checkout, "restore the labels of REV as a new commit",
                author=True)
    c.add_argument("name")
    c.add_argument("rev")
    c = command("revert", cmd_revert, "undo the label edits of commit REV as a new commit",
                author=True)
    c.add_argument("name")
    c.add_argument("rev")
    c = command("export", cmd_export, "write a version out as ImageFolder or images + CSV, "
                "or its out-of-fold probabilities as a CSV (--format predictions)")
    c.add_argument("name")
    c.add_argument("out", help="a folder (a CSV file for --format predictions)")
    c.add_argument("--format", choices=["imagefolder", "csv", "predictions"],
                   default="imagefolder")
    c.add_argument("--rev", default="HEAD")
    c = command("predictions", cmd_predictions, "use your own out-of-sample probabilities "
                "for HEAD: a CSV (id + one column per class) or a .npy (N, K) in labels.csv "
                "order", json_flag=True)
    c.add_argument("name")
    c.add_argument("file")
    c = command("retrain", cmd_retrain, "train on a version now (K-fold, out-of-sample)",
                json_flag=True)
    c.add_argument("name", nargs="?")
    c.add_argument("--rev", default="HEAD")
    c.add_argument("--full", action="store_true", help="no warm start from an earlier version")
    c.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    c = command("suspects", cmd_suspects, "examples ranked most-suspicious first",
                json_flag=True)
    c.add_argument("name")
    c.add_argument("--top", type=int, default=20, help="how many (0: all)")
    c.add_argument("--rev", default="HEAD")
    c.add_argument("--method", default="self_confidence",
                   choices=["self_confidence", "normalized_margin"])
    c = command("watch", cmd_watch, "the worker: retrain every new commit")
    c.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    c.add_argument("--once", action="store_true", help="stop when nothing is queued")
    c.add_argument("--remote", metavar="REMOTE", help="a trainer for a team: pull this "
                   "branch from REMOTE, train every new commit, push the results (polls "
                   "every --interval seconds, at least 10)")
    c.add_argument("--branch", metavar="BRANCH", help="with --remote: the branch to follow "
                   "(checked out here; default: the current one)")
    c.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    _pull_every(c)
    command("stage", cmd_stage, "the DVC stage: train on the dataset folder it runs in and "
            "write model.pt, predictions.csv, metrics.json (what `dvc repro` runs)")
    for name, func, help in [
            ("serve", cmd_serve, "the app (http://127.0.0.1:8501) plus the retrain worker"),
            ("demo", cmd_demo, "a demo workspace of real handwritten digits with 5% label "
             "noise, trained, then served")]:
        c = command(name, func, help)
        if name == "demo":
            c.add_argument("dir", nargs="?", default="ide-demo")
            c.add_argument("--no-serve", action="store_true", help="build and train only")
        else:
            _pull_every(c)
        c.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; any but loopback needs IDE_PASSWORD")
        c.add_argument("--port", type=int, default=8501)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except IDEError as exc:
        print(f"ide: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ide: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
