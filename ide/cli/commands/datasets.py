"""The commands that make a workspace and its datasets, and take data in and out: `ide init`,
`import`, `add`, `classes`, `export` and `predictions`.
"""

from __future__ import annotations

import shtab

from ide.cli.command import Argument, Command, progress, workspace
from ide.cli.options import DATASET, REV
from ide.cli.progress import quiet
from ide.errors import IDEError
from ide.ops import transfer
from ide.repo import commits, versions


def _init(args):
    return {"root": str(commits.init(args.dir).root)}


def _show_init(res):
    print(f"workspace ready: {res['root']}")


INIT = Command(
    "init", "make DIR a workspace (git + DVC); safe to repeat", _init, _show_init,
    (Argument("dir", nargs="?", default=".", complete=shtab.DIRECTORY),))


def _import(args):
    with progress(args, logs=False) as bar:  # a terminal only: in scripts an error stays one line
        return transfer.import_dataset(
            workspace(args), args.name, args.src, labels_csv=args.labels,
            skip_bad=args.skip_bad, author=args.author, model=args.model,
            say=bar.say if bar else quiet, progress=bar)


def _show_import(res):
    print(f"imported {res['examples']} examples in {len(res['classes'])} classes "
          f"as {res['commit'][:10]}; model {res['model']}" + (
              " (the first training compares the CNN with the pretrained backbone and keeps the "
              "better; --model picks one)" if res["model_chosen"]
              else ""))
    for bad in res["skipped"]:
        print(f"skipped {bad}")


IMPORT = Command(
    "import", "import a folder of images as dataset NAME (one commit)", _import, _show_import,
    (Argument("name"),
     Argument("src", help="SRC/<class>/<image>, or any tree with --labels",
              complete=shtab.DIRECTORY),
     Argument("--labels", metavar="CSV", help="CSV with columns path,label",
              complete=shtab.FILE),
     Argument("--skip-bad", action="store_true", help="import the readable images, list the "
              "rest"),
     Argument("--model", help="auto, cnn, efficientnet-lite0, timm:ARCH or torchvision:ARCH "
              "(default: auto, the better of the CNN and efficientnet-lite0 on the first "
              "training)")),
    author=True)


def _add(args):
    from ide.ops import add

    with progress(args, logs=False) as bar:
        return {"dataset": args.name, **add.add(
            workspace(args), args.name, args.src, labels_csv=args.labels,
            skip_bad=args.skip_bad, author=args.author, say=bar.say if bar else quiet,
            progress=bar)}


def _show_add(res):
    print(f"added {res['added']} examples to {res['dataset']} ({res['unlabelled']} "
          f"unlabelled) as {res['commit'][:10]}")
    for c in res["new_classes"]:
        print(f"new class {c}")
    for skipped in [*res["skipped"], *res["bad"]]:  # already in the dataset, then bad files
        print(f"skipped {skipped}")


ADD = Command(
    "add", "add images to dataset NAME (one commit): SRC/<class>/<image>, and unlabelled "
    "images directly in SRC", _add, _show_add,
    (DATASET,
     Argument("src", help="SRC/<class>/<image> and SRC/<image> (unlabelled), or any tree "
              "with --labels"),
     Argument("--labels", metavar="CSV", help="CSV with columns path,label (an empty label: "
              "unlabelled)"),
     Argument("--skip-bad", action="store_true", help="add the readable images, list the "
              "rest")),
    author=True)


def _classes(args):
    from ide.ops import classes

    ws = workspace(args)
    # `is not None`: `--add ''` is an (invalid) class name, not a missing option
    if sum(x is not None for x in (args.add, args.rename, args.merge)) > 1:
        raise IDEError("give one of --add, --rename, --merge")
    if args.add is not None:
        return {"commit": classes.add_class(ws, args.name, args.add, author=args.author)}
    if args.rename:
        return {"commit": classes.rename(ws, args.name, *args.rename, author=args.author)}
    if args.merge:
        return {"commit": classes.merge(ws, args.name, *args.merge, author=args.author)}
    return {"classes": classes.counts(ws, args.name),
            "unlabelled": classes.unlabelled_count(ws, args.name)}


def _show_classes(res):
    if "commit" in res:
        return print(res["commit"])
    print(f"{'class':<20} {'labelled':>9} {'suggested':>10}")
    for r in res["classes"]:
        sug = "-" if r["suggested"] is None else r["suggested"]
        print(f"{r['class']:<20} {r['labelled']:>9} {sug:>10}")
    print(f"{'(unlabelled)':<20} {res['unlabelled']:>9}")


CLASSES = Command(
    "classes", "list classes with counts, or add, rename or merge one (a commit)", _classes,
    _show_classes,
    (DATASET,
     Argument("--add", metavar="CLASS", help="add a class"),
     Argument("--rename", nargs=2, metavar=("OLD", "NEW"), help="rename a class"),
     Argument("--merge", nargs=2, metavar=("A", "B"), help="A's examples become B; A is "
              "gone")),
    author=True)


def _export(args):
    n = transfer.export(workspace(args), args.name, args.out, fmt=args.format, rev=args.rev)
    return {"dataset": args.name, "examples": n, "out": str(args.out), "format": args.format}


def _show_export(res):
    print(f"exported {res['examples']} examples to {res['out']}")


EXPORT = Command(
    "export", "write a version out as ImageFolder or images + CSV, or its out-of-fold "
    "probabilities as a CSV (--format predictions)", _export, _show_export,
    (DATASET,
     Argument("out", help="a folder (a CSV file for --format predictions)",
              complete=shtab.FILE),
     Argument("--format", choices=transfer.FORMATS, default="imagefolder"),
     REV))


def _predictions(args):
    from ide.learn import runs

    ws = workspace(args)
    return {"dataset": args.name,
            **runs.load_predictions(ws, versions.resolve(ws, args.name), args.file)}


def _show_predictions(res):
    m = res["metrics"]
    print(f"{res['dataset']} at {res['commit'][:10]}: probabilities of {m['examples']} "
          f"examples loaded; out-of-fold accuracy {m['accuracy']:.4f}, {m['suspects']} "
          "suspected errors")


PREDICTIONS = Command(
    "predictions", "use your own out-of-sample probabilities for HEAD: a CSV (id + one column "
    "per class) or a .npy (N, K) in labels.csv order", _predictions, _show_predictions,
    (DATASET, Argument("file", complete=shtab.FILE)))
