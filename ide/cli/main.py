"""`ide`: the command line. Thin: parse, call the API, print, return an exit code.

A command is a function `cmd_X(args)` that returns its result as plain data (or an exit
code); `main` prints that data as JSON with `--json`, or else through the text printer the
command was registered with (`show=`). Errors go through `main` too: an `IDEError` is one
line on stderr (`{"error": ...}` with `--json`) and exit code 1, whatever the command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import shtab

from ide import __version__
from ide.ops import transfer, views
from ide.repo import commits, conflicts, history, staged, versions
from ide.errors import IDEError
from ide.cli.progress import Progress, quiet
from ide.repo.workspace import Workspace


def _print_json(data) -> None:
    print(json.dumps(data, indent=1))


def _ws(args) -> Workspace:
    return Workspace.find(args.C)


def _progress(args, *, logs: bool = True):
    """Progress on stderr: a live bar on a terminal; elsewhere one line per step when LOGS
    (a long training), else nothing, and never with --json (stderr then holds at most the
    error)."""
    if sys.stderr.isatty():
        return Progress(sys.stderr, live=True)
    if logs and not getattr(args, "json", False):
        return Progress(sys.stderr, live=False)
    return None


def _label(label: str | None) -> str:
    """A label as text: None is an absent example, "" an unlabelled one."""
    return "(none)" if label is None else label or "(unlabelled)"


def _pairs(values: list[str]) -> dict[str, str]:
    if not values or len(values) % 2:
        raise IDEError("give pairs of ID LABEL")
    return dict(zip(values[::2], values[1::2]))


# -- commands: each takes the parsed args and returns its result (printed by `main`: as
# JSON with --json, else by the command's `show_*`), or an exit code --------------------
def cmd_init(args):
    return {"root": str(commits.init(args.dir).root)}


def show_init(res):
    print(f"workspace ready: {res['root']}")


def cmd_import(args):
    bar = _progress(args, logs=False)  # a terminal only: in scripts an error stays one line
    try:
        return transfer.import_dataset(
            _ws(args), args.name, args.src, labels_csv=args.labels, skip_bad=args.skip_bad,
            author=args.author, model=args.model, say=bar.say if bar else quiet,
            progress=bar)
    finally:
        if bar:
            bar.close()


def show_import(res):
    print(f"imported {res['examples']} examples in {len(res['classes'])} classes "
          f"as {res['commit'][:10]}")
    for bad in res["skipped"]:
        print(f"skipped {bad}")


def cmd_add(args):
    from ide.ops import add

    bar = _progress(args, logs=False)
    try:
        return {"dataset": args.name, **add.add(
            _ws(args), args.name, args.src, labels_csv=args.labels, skip_bad=args.skip_bad,
            author=args.author, say=bar.say if bar else quiet, progress=bar)}
    finally:
        if bar:
            bar.close()


def show_add(res):
    print(f"added {res['added']} examples to {res['dataset']} ({res['unlabelled']} "
          f"unlabelled) as {res['commit'][:10]}")
    for c in res["new_classes"]:
        print(f"new class {c}")
    for s in res["skipped"]:
        print(f"skipped {s}")
    for bad in res["bad"]:
        print(f"skipped {bad}")


def cmd_suggest(args):
    from ide.ops import suggest

    return {"dataset": args.name,
            "rows": suggest.suggestions(_ws(args), args.name, order=args.order, top=args.top)}


def show_suggest(res):
    if not res["rows"]:
        return print(f"no unlabelled examples in {res['dataset']} (with nothing staged)")
    print(f"{'id':<28} {'suggested':>10} {'probability':>11} {'margin':>7}")
    for r in res["rows"]:
        print(f"{r['id']:<28} {r['suggested']:>10} {r['probability']:>11.4f} "
              f"{r['margin']:>7.4f}")


def cmd_accept(args):
    from ide.ops import suggest

    return {"dataset": args.name,
            "staged": suggest.accept(_ws(args), args.name, ids=args.ids or None,
                                     min_probability=args.min_probability)}


def show_accept(res):
    print(f"{len(res['staged'])} suggestion(s) staged for {res['dataset']}; review with "
          f"`ide status {res['dataset']}`, then `ide commit`")


def cmd_remove(args):
    staged.remove(_ws(args), args.name, args.ids)
    return {"dataset": args.name, "removed": args.ids}


def show_remove(res):
    print(f"{len(res['removed'])} removal(s) staged for {res['dataset']}")


def cmd_classes(args):
    from ide.ops import classes

    ws = _ws(args)
    if sum(bool(x) for x in (args.add, args.rename, args.merge)) > 1:
        raise IDEError("give one of --add, --rename, --merge")
    if args.add:
        return {"commit": classes.add_class(ws, args.name, args.add, author=args.author)}
    if args.rename:
        return {"commit": classes.rename(ws, args.name, *args.rename, author=args.author)}
    if args.merge:
        return {"commit": classes.merge(ws, args.name, *args.merge, author=args.author)}
    return {"classes": classes.counts(ws, args.name),
            "unlabelled": classes.unlabelled_count(ws, args.name)}


def show_classes(res):
    if "commit" in res:
        return print(res["commit"])
    print(f"{'class':<20} {'labelled':>9} {'suggested':>10}")
    for r in res["classes"]:
        sug = "-" if r["suggested"] is None else r["suggested"]
        print(f"{r['class']:<20} {r['labelled']:>9} {sug:>10}")
    print(f"{'(unlabelled)':<20} {res['unlabelled']:>9}")


def cmd_duplicates(args):
    from ide.ops import duplicates

    return duplicates.duplicates(_ws(args), args.name, rev=args.rev, threshold=args.threshold,
                                 near_too=not args.exact)


def show_duplicates(rows):
    if not rows:
        print("no duplicates")
    for r in rows:
        two = "  TWO LABELS" if r["label_a"] != r["label_b"] else ""
        print(f"{r['kind']:<5} {r['similarity']:.4f}  {r['a']} ({_label(r['label_a'])})  "
              f"{r['b']} ({_label(r['label_b'])}){two}")


def cmd_outliers(args):
    from ide.ops import duplicates

    return duplicates.outliers(_ws(args), args.name, rev=args.rev, top=args.top)


def show_outliers(rows):
    print(f"{'id':<28} {'label':>12} {'score':>7}")
    for r in rows:
        print(f"{r['id']:<28} {_label(r['label']):>12} {r['score']:>7.4f}")


def cmd_relabel(args):
    return {"dataset": args.name, "staged": staged.relabel(_ws(args), args.name,
                                                          _pairs(args.edits))}


def show_relabel(res):
    print(f"{len(res['staged'])} edit(s) staged for {res['dataset']}")


def cmd_check(args):
    staged.mark_checked(_ws(args), args.name, args.ids)
    return {"dataset": args.name, "checked": args.ids}


def show_check(res):
    print(f"{len(res['checked'])} example(s) marked as checked (staged)")


def cmd_unstage(args):
    staged.unstage(_ws(args), args.name, args.ids or None)
    return {"dataset": args.name, "unstaged": args.ids or "all"}


def cmd_status(args):
    ws = _ws(args)
    names = [args.name] if args.name else versions.datasets(ws)
    return [views.status(ws, name) for name in names]


def show_status(report):
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
            print(f"  relabel {e['id']}: {_label(e['old'])} -> {e['new']}")
        for i in r["checked"]:
            print(f"  checked {i}")
        for e in r.get("removed", []):
            print(f"  remove {e['id']} ({_label(e['old'])})")
        if not r["labels"] and not r["checked"] and not r["conflicts"] and \
                not r.get("removed"):
            print("  nothing staged")


def cmd_commit(args):
    return {"dataset": args.name, "commit": commits.commit(
        _ws(args), args.name, args.message, author=args.author, verify=not args.no_verify)}


def show_commit(res):
    print(res["commit"])


def cmd_resolve(args):
    ws = _ws(args)
    versions.resolve(ws, args.name)  # an unknown dataset is said so, not "no conflicts"
    return conflicts.settle(ws, args.name, _pairs(args.picks))


def show_resolve(res):
    if res["left"]:
        print(f"{len(res['left'])} conflict(s) left: {', '.join(res['left'])}")
    elif res["commit"]:
        print(f"all conflicts resolved; merge committed as {res['commit'][:10]}")
    else:
        print("all label conflicts resolved; other files are still unmerged: finish the "
              "merge with git")


def cmd_push(args):
    from ide.ops import sync

    return {"remote": args.remote, **sync.push(_ws(args), args.remote)}


def show_push(res):
    print(f"pushed to {res['remote']}, with the results of {res['results']} trained "
          "version(s)")


def cmd_pull(args):
    from ide.ops import sync

    return {"remote": args.remote, **sync.pull(_ws(args), args.remote)}


def show_pull(res):
    print(f"pulled from {res['remote']}; {res['results']} new training result(s)")


def cmd_log(args):
    return views.log(_ws(args), args.name, args.rev)


def show_log(entries):
    for e in entries:
        m = e["metrics"]
        score = (f"  acc {m['accuracy']:.4f}, {m['suspects']} suspects" if m else "")
        grew = "".join(f", {e[k]} {k}" for k in ("added", "removed") if e.get(k))
        size = f", {e['examples']} examples" if e.get("examples") is not None else ""
        print(f"{e['commit'][:10]}  {e['date'][:16]}  {e['author']}  "
              f"({e['edits']} edits{grew}{size}){score}\n    {e['message']}")


def cmd_diff(args):
    return history.diff(_ws(args), args.name, args.rev, args.rev2)


def show_diff(changes):
    for c in changes:
        print(f"{c['id']}: {_label(c['old'])} -> {_label(c['new'])}")
    if not changes:
        print("no label changes")


def cmd_history(args):
    return history.history(_ws(args), args.name, args.id)


def show_history(found):
    for h in found:
        label = "(removed)" if h["label"] is None else _label(h["label"])
        print(f"{h['commit'][:10]}  {h['date'][:16]}  {h['author']}  {label}"
              f"    {h['message']}")


def cmd_checkout(args):
    return {"dataset": args.name, "commit": commits.checkout(_ws(args), args.name, args.rev,
                                                             author=args.author)}


def cmd_revert(args):
    return {"dataset": args.name, "commit": commits.revert(_ws(args), args.name, args.rev,
                                                           author=args.author)}


def cmd_export(args):
    n = transfer.export(_ws(args), args.name, args.out, fmt=args.format, rev=args.rev)
    return {"dataset": args.name, "examples": n, "out": str(args.out), "format": args.format}


def show_export(res):
    print(f"exported {res['examples']} examples to {res['out']}")


def cmd_predictions(args):
    from ide.learn import runs

    ws = _ws(args)
    return {"dataset": args.name,
            **runs.load_predictions(ws, versions.resolve(ws, args.name), args.file)}


def show_predictions(res):
    m = res["metrics"]
    print(f"{res['dataset']} at {res['commit'][:10]}: probabilities of {m['examples']} "
          f"examples loaded; out-of-fold accuracy {m['accuracy']:.4f}, {m['suspects']} "
          "suspected errors")


def _one_dataset(ws, name):
    if name:
        return name
    names = versions.datasets(ws)
    if len(names) != 1:
        raise IDEError("name the dataset: " + (", ".join(names) or "none yet"))
    return names[0]


def cmd_retrain(args):
    from ide.learn import runs

    ws = _ws(args)
    name = _one_dataset(ws, args.name)
    version = versions.resolve(ws, name, args.rev)
    bar = _progress(args)
    try:
        return {"dataset": name, **runs.retrain(ws, version, full=args.full,
                                                device=args.device, progress=bar)}
    finally:
        if bar:
            bar.close()


def show_retrain(res):
    m = res["metrics"]
    how = "cached" if res["cached"] else f"{res['seconds']:.1f} s" + (
        f", warm-started from {res['warm_start'][:10]}" if res["warm_start"] else "")
    print(f"{res['dataset']} at {res['commit'][:10]} ({how}): out-of-fold accuracy "
          f"{m['accuracy']:.4f}, mean loss {m['mean_loss']:.4f}, {m['suspects']} suspected "
          f"errors in {m['examples']} examples")


def cmd_suspects(args):
    from ide.learn import ranking

    ws = _ws(args)
    rows = ranking.suspects(ws, versions.resolve(ws, args.name, args.rev), top=args.top,
                         method=args.method)
    return [{k: r[k] for k in ("id", "label", "predicted", "loss", "score")} for r in rows]


def show_suspects(rows):
    print(f"{'id':<28} {'label':>10} {'predicted':>10} {'loss':>8} {'score':>7}")
    for r in rows:
        print(f"{r['id']:<28} {r['label']:>10} {r['predicted']:>10} {r['loss']:>8.3f} "
              f"{r['score']:>7.4f}")


def cmd_watch(args):
    from ide.ops import worker

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
        from ide.ops import sync

        print(f"training new commits of {args.remote} (Ctrl-C to stop)", file=sys.stderr,
              flush=True)
        return sync.trainer(_ws(args), args.remote, branch=args.branch, device=args.device,
                            interval=max(args.interval, 10.0), once=args.once, log=log)
    print("watching for new commits (Ctrl-C to stop)", file=sys.stderr, flush=True)
    worker.watch(_ws(args), interval=args.interval, once=args.once, device=args.device,
                 log=log, pull_every=args.pull_every, remote=args.pull_from)


def cmd_stage(args):
    from pathlib import Path

    from ide.ops import pipeline

    _print_json(pipeline.run(Path(args.C or ".").resolve(), progress=Progress(sys.stderr)))


def cmd_serve(args):
    from ide.serve import server

    return server.serve(_ws(args), host=args.host, port=args.port,
                       pull_every=args.pull_every, remote=args.pull_from)


def cmd_demo(args):
    from ide.learn import runs
    from ide.ops import demo
    from ide.serve import server

    ws, flips = demo.build(args.dir)
    if flips:
        print(f"demo workspace {ws.root}: {len(flips)} labels of `digits` flipped at random in "
              "the last commit; training it now", file=sys.stderr)
    with Progress(sys.stderr) as bar:
        res = runs.retrain(ws, versions.resolve(ws, "digits"), progress=bar)
    m = res["metrics"]
    print(f"out-of-fold accuracy {m['accuracy']:.4f}, {m['suspects']} suspected label "
          "errors", file=sys.stderr)
    if args.no_serve:
        return 0
    return server.serve(ws, host=args.host, port=args.port)


def cmd_completion(args):
    print(shtab.complete(build_parser(), args.shell, preamble=_COMPLETE_PREAMBLE))


def cmd_help(args):
    if not args.topic:
        return print(WALKTHROUGH.strip())
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    if args.topic not in sub.choices:
        raise IDEError(f"no command {args.topic!r} (see `ide --help`)")
    sub.choices[args.topic].print_help()


# Dataset names complete from the `datasets/` folder of the workspace around the current
# directory (plain shell, so that a Tab does not start Python).
_DATASETS = {"bash": "_ide_datasets", "zsh": "_ide_datasets"}
_COMPLETE_PREAMBLE = {
    "bash": '''_ide_datasets() {
  local d="$PWD"
  while [ "$d" != / ] && [ ! -d "$d/datasets" ]; do d="$(dirname "$d")"; done
  compgen -W "$(command ls "$d/datasets" 2>/dev/null)" -- "$1"
}''',
    "zsh": '''_ide_datasets() {
  local d=$PWD
  while [[ $d != / && ! -d $d/datasets ]]; do d=${d:h}; done
  compadd -- ${(f)"$(command ls $d/datasets 2>/dev/null)"}
}'''}

WALKTHROUGH = """
ide: a dataset IDE. Fix a model by fixing its labelled examples: train with K-fold
cross-validation, review the labels the model finds least believable, fix them, commit,
retrain. A workspace is a git repository with DVC in it; dataset NAME lives in
datasets/NAME/ (labels.csv in git, images in DVC).

  ide init work                        # make a workspace (then: cd work)
  ide import pets ~/photos             # ~/photos/<class>/<image>, as one commit
  ide retrain pets                     # K-fold training of HEAD: out-of-sample probabilities
  ide suspects pets --top 10           # most suspicious labels first
  ide relabel pets cat/0042.jpg dog    # stage a fix (`ide check pets ID`: the label is right)
  ide status pets                      # what is staged, and the state of HEAD's model
  ide commit pets -m "Dogs filed as cats"  # the staged fixes become one commit of labels.csv
  ide retrain pets                     # or keep `ide watch` running: every commit is trained
  ide log pets                         # commits with their edits, accuracy and suspects
  ide diff pets HEAD~1                 # what a commit changed: id: old -> new
  ide serve                            # all of it in the browser, with the retrain worker

`ide COMMAND --help` shows a command's options; `--json` gives output a program can read
(errors as {"error": ...} on stderr). Shell completion:
  ide completion bash > ~/.local/share/bash-completion/completions/ide
  ide completion zsh > ~/.zfunc/_ide   # with fpath+=(~/.zfunc) before compinit
The README has the rest: teams (push, pull, merge), models, the app.
"""

class _Parser(argparse.ArgumentParser):
    """argparse that raises on a malformed command line, so that `main` reports it (as JSON
    with --json); argparse's exit code 2 for it is kept."""

    def error(self, message):
        raise _UsageError(self, message)


class _UsageError(Exception):
    def __init__(self, parser, message):
        super().__init__(message)
        self.parser = parser


def _pull_every(c) -> None:
    c.add_argument("--pull-every", type=float, metavar="SECONDS", help="pull from "
                   "--pull-from that often (fast-forward only): teammates' commits and a "
                   "trainer's results arrive by themselves")
    c.add_argument("--pull-from", default="origin", metavar="REMOTE",
                   help="the remote of --pull-every (default origin)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ide", description="A dataset IDE: review suspected label errors, fix "
                "them, commit, retrain. `ide help` walks through it.")
    p.add_argument("--version", action="version", version=f"ide {__version__}")
    p.add_argument("-C", metavar="DIR", help="run as if started in DIR").complete = \
        shtab.DIRECTORY
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help, *, show=None, json_flag=False, author=False):
        """A subcommand. With SHOW (the text printer of FUNC's result) or JSON_FLAG it takes
        --json. HELP is plain text (argparse %-formats the help of the command list)."""
        c = sub.add_parser(name, help=help.replace("%", "%%"), description=help)
        c.set_defaults(func=func, show=show)
        if show or json_flag:
            c.add_argument("--json", action="store_true", help="machine-readable output "
                           '(and errors as {"error": ...} on stderr)')
        if author:
            c.add_argument("--author", help='"Name <email>" (default: git\'s user)')
        return c

    def dataset(c):
        c.add_argument("name", help="the dataset").complete = _DATASETS

    c = command("init", cmd_init, "make DIR a workspace (git + DVC); safe to repeat",
                show=show_init)
    c.add_argument("dir", nargs="?", default=".").complete = shtab.DIRECTORY
    c = command("import", cmd_import, "import a folder of images as dataset NAME (one commit)",
                show=show_import, author=True)
    c.add_argument("name")
    c.add_argument("src", help="SRC/<class>/<image>, or any tree with --labels").complete = \
        shtab.DIRECTORY
    c.add_argument("--labels", metavar="CSV", help="CSV with columns path,label").complete = \
        shtab.FILE
    c.add_argument("--skip-bad", action="store_true", help="import the readable images, "
                   "list the rest")
    c.add_argument("--model", help="cnn, efficientnet-lite0, timm:ARCH or torchvision:ARCH "
                   "(default: cnn for small or grey images, efficientnet-lite0 for photos)")
    c = command("add", cmd_add, "add images to dataset NAME (one commit): SRC/<class>/<image>, "
                "and unlabelled images directly in SRC", author=True, show=show_add)
    dataset(c)
    c.add_argument("src", help="SRC/<class>/<image> and SRC/<image> (unlabelled), or any "
                   "tree with --labels")
    c.add_argument("--labels", metavar="CSV", help="CSV with columns path,label (an empty "
                   "label: unlabelled)")
    c.add_argument("--skip-bad", action="store_true", help="add the readable images, "
                   "list the rest")
    c = command("suggest", cmd_suggest, "unlabelled examples with the model's suggested "
                "label", show=show_suggest)
    dataset(c)
    c.add_argument("--top", type=int, default=20, help="how many (0: all)")
    c.add_argument("--order", choices=["confident", "uncertain"], default="confident",
                   help="confident first, or uncertain first (active learning: the labels "
                   "that teach the model most)")
    c = command("accept", cmd_accept, "stage the model's suggestions for unlabelled examples "
                "(the ids given, or all with --min-probability)", show=show_accept)
    dataset(c)
    c.add_argument("ids", nargs="*", metavar="ID")
    c.add_argument("--min-probability", type=float, metavar="P",
                   help="accept every suggestion with at least this probability")
    c = command("remove", cmd_remove, "stage removals: the examples leave labels.csv at the "
                "commit (their images stay in the history)", show=show_remove)
    dataset(c)
    c.add_argument("ids", nargs="+", metavar="ID")
    c = command("classes", cmd_classes, "list classes with counts, or add, rename or merge "
                "one (a commit)", author=True, show=show_classes)
    dataset(c)
    c.add_argument("--add", metavar="CLASS", help="add a class")
    c.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"), help="rename a class")
    c.add_argument("--merge", nargs=2, metavar=("A", "B"), help="A's examples become B; A "
                   "is gone")
    c = command("duplicates", cmd_duplicates, "exact duplicates (same md5) and "
                "near-duplicates (close in the model's embedding space), with their labels",
                show=show_duplicates)
    dataset(c)
    c.add_argument("--threshold", type=float, default=0.98, help="cosine similarity at and "
                   "above which two examples are near-duplicates (default 0.98)")
    c.add_argument("--exact", action="store_true", help="exact duplicates only (no model "
                   "needed)")
    c.add_argument("--rev", default="HEAD")
    c = command("outliers", cmd_outliers, "the examples least like any class (in the model's "
                "embedding space), most unlike first", show=show_outliers)
    dataset(c)
    c.add_argument("--top", type=int, default=20, help="how many (0: all)")
    c.add_argument("--rev", default="HEAD")
    c = command("relabel", cmd_relabel, "stage label edits: ID LABEL [ID LABEL ...]",
                show=show_relabel)
    dataset(c)
    c.add_argument("edits", nargs="+", metavar="ID LABEL")
    c = command("check", cmd_check, "stage 'checked, label is right' marks for ids",
                show=show_check)
    dataset(c)
    c.add_argument("ids", nargs="+", metavar="ID")
    c = command("unstage", cmd_unstage, "drop staged edits (all, or of the given ids)",
                show=lambda res: None)
    dataset(c)
    c.add_argument("ids", nargs="*", metavar="ID")
    c = command("status", cmd_status, "staged edits, HEAD, and the state of its model",
                show=show_status)
    c.add_argument("name", nargs="?").complete = _DATASETS
    c = command("commit", cmd_commit, "commit the staged edits of NAME", show=show_commit,
                author=True)
    dataset(c)
    c.add_argument("-m", "--message", required=True)
    c.add_argument("--no-verify", action="store_true", help="skip the repository's git hooks")
    c = command("resolve", cmd_resolve, "settle label conflicts of a git merge: "
                "ID LABEL [ID LABEL ...]; commits the merge when none are left",
                show=show_resolve)
    dataset(c)
    c.add_argument("picks", nargs="+", metavar="ID LABEL")
    c = command("push", cmd_push, "dvc push, git push of this branch, and the training "
                "results (refs/ide/results)", show=show_push)
    c.add_argument("--remote", default="origin")
    c = command("pull", cmd_pull, "git pull of this branch, dvc pull, and the training "
                "results others pushed: `ide log` and `ide suspects` without retraining",
                show=show_pull)
    c.add_argument("--remote", default="origin")
    c = command("log", cmd_log, "dataset commits, newest first, with metrics", show=show_log)
    dataset(c)
    c.add_argument("--rev", default="HEAD", help="a branch or commit (default HEAD)")
    c = command("diff", cmd_diff, "label changes from REV to REV2 (default HEAD)",
                show=show_diff)
    dataset(c)
    c.add_argument("rev")
    c.add_argument("rev2", nargs="?")
    c = command("history", cmd_history, "every label an example has had", show=show_history)
    dataset(c)
    c.add_argument("id")
    c = command("checkout", cmd_checkout, "restore the labels of REV as a new commit",
                show=show_commit, author=True)
    dataset(c)
    c.add_argument("rev")
    c = command("revert", cmd_revert, "undo the label edits of commit REV as a new commit",
                show=show_commit, author=True)
    dataset(c)
    c.add_argument("rev")
    c = command("export", cmd_export, "write a version out as ImageFolder or images + CSV, "
                "or its out-of-fold probabilities as a CSV (--format predictions)",
                show=show_export)
    dataset(c)
    c.add_argument("out", help="a folder (a CSV file for --format predictions)").complete = \
        shtab.FILE
    c.add_argument("--format", choices=["imagefolder", "csv", "predictions"],
                   default="imagefolder")
    c.add_argument("--rev", default="HEAD")
    c = command("predictions", cmd_predictions, "use your own out-of-sample probabilities "
                "for HEAD: a CSV (id + one column per class) or a .npy (N, K) in labels.csv "
                "order", show=show_predictions)
    dataset(c)
    c.add_argument("file").complete = shtab.FILE
    c = command("retrain", cmd_retrain, "train on a version now (K-fold, out-of-sample); "
                "progress on stderr", show=show_retrain)
    c.add_argument("name", nargs="?").complete = _DATASETS
    c.add_argument("--rev", default="HEAD")
    c.add_argument("--full", action="store_true", help="no warm start from an earlier version")
    c.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    c = command("suspects", cmd_suspects, "examples ranked most-suspicious first",
                show=show_suspects)
    dataset(c)
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
            c.add_argument("dir", nargs="?", default="ide-demo").complete = shtab.DIRECTORY
            c.add_argument("--no-serve", action="store_true", help="build and train only")
        else:
            _pull_every(c)
        c.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; any but loopback needs IDE_PASSWORD")
        c.add_argument("--port", type=int, default=8501)
    c = command("completion", cmd_completion, "print the shell completion script (bash or "
                "zsh); see `ide help`")
    c.add_argument("shell", choices=["bash", "zsh"])
    c = command("help", cmd_help, "a short walkthrough; `ide help COMMAND` = `ide COMMAND "
                "--help`")
    c.add_argument("topic", nargs="?", metavar="COMMAND")
    return p


def _fail(message: str, as_json: bool) -> None:
    print(json.dumps({"error": message}) if as_json else f"ide: error: {message}",
          file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code: 0, 1 for an error it reports, 2 for a malformed
    command line, 130 when interrupted, 141 when its output pipe was closed."""
    argv = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in argv
    try:
        try:
            args = build_parser().parse_args(argv)
        except _UsageError as exc:
            if as_json:
                _fail(f"{exc.parser.prog}: {exc}", True)
            else:
                exc.parser.print_usage(sys.stderr)
                print(f"{exc.parser.prog}: error: {exc}", file=sys.stderr)
            return 2
        as_json = getattr(args, "json", False)
        result = args.func(args)
        if isinstance(result, int):
            return result
        if result is not None:
            _print_json(result) if as_json else args.show(result)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
        return 0
    except IDEError as exc:
        _fail(str(exc), as_json)
        return 1
    except KeyboardInterrupt:
        print("ide: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `ide log | head`: the reader has gone. Stop quietly, as git does; stdout is pointed
        # at /dev/null so that Python's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
