"""The commands that find what to review: `ide suspects` (the labels the model doubts),
`suggest` (its labels for unlabelled examples), `duplicates`, `outliers`, `issues`
(dark, blurry, odd-sized ... images) and `similar` (the examples most like one).
"""

from __future__ import annotations

from ide.cli.command import Argument, Command, label_text, progress, workspace
from ide.cli.options import DATASET, ISSUE_KINDS, REV, TOP
from ide.learn import rank
from ide.ops import atlas, duplicates, issues, suggest
from ide.repo import versions


def _suspects(args):
    from ide.learn import ranking

    ws = workspace(args)
    rows = ranking.suspects(ws, versions.resolve(ws, args.name, args.rev), top=args.top,
                            method=args.method)
    return [{k: r[k] for k in ("id", "label", "predicted", "loss", "score")} for r in rows]


def _show_suspects(rows):
    print(f"{'id':<28} {'label':>10} {'predicted':>10} {'loss':>8} {'score':>7}")
    for r in rows:
        print(f"{r['id']:<28} {r['label']:>10} {r['predicted']:>10} {r['loss']:>8.3f} "
              f"{r['score']:>7.4f}")


SUSPECTS = Command(
    "suspects", "examples ranked most-suspicious first", _suspects, _show_suspects,
    (DATASET, TOP, REV,
     Argument("--method", default=rank.DEFAULT_METHOD, choices=tuple(rank.METHODS))))


def _suggest(args):
    return {"dataset": args.name, "rows": suggest.suggestions(
        workspace(args), args.name, order=args.order, top=args.top)}


def _show_suggest(res):
    if not res["rows"]:
        return print(f"no unlabelled examples in {res['dataset']} (with nothing staged)")
    print(f"{'id':<28} {'suggested':>10} {'probability':>11} {'margin':>7}")
    for r in res["rows"]:
        print(f"{r['id']:<28} {r['suggested']:>10} {r['probability']:>11.4f} "
              f"{r['margin']:>7.4f}")


SUGGEST = Command(
    "suggest", "unlabelled examples with the model's suggested label", _suggest, _show_suggest,
    (DATASET, TOP,
     Argument("--order", choices=suggest.ORDERS, default="confident", help="confident "
              "first, or uncertain first (active learning: the labels that teach the model "
              "most)")))


def _duplicates(args):
    return duplicates.duplicates(workspace(args), args.name, rev=args.rev,
                                 threshold=args.threshold, near_too=not args.exact)


def _show_duplicates(rows):
    if not rows:
        print("no duplicates")
    for r in rows:
        two = "  TWO LABELS" if r["label_a"] != r["label_b"] else ""
        print(f"{r['kind']:<5} {r['similarity']:.4f}  {r['a']} ({label_text(r['label_a'])})  "
              f"{r['b']} ({label_text(r['label_b'])}){two}")


DUPLICATES = Command(
    "duplicates", "exact duplicates (same md5) and near-duplicates (close in the model's "
    "embedding space), with their labels", _duplicates, _show_duplicates,
    (DATASET,
     Argument("--threshold", type=float, default=duplicates.NEAR, help="cosine similarity "
              "at and above which two examples are near-duplicates (default "
              f"{duplicates.NEAR})"),
     Argument("--exact", action="store_true", help="exact duplicates only (no model needed)"),
     REV))


def _outliers(args):
    return duplicates.outliers(workspace(args), args.name, rev=args.rev, top=args.top)


def _show_outliers(rows):
    print(f"{'id':<28} {'label':>12} {'score':>7}")
    for r in rows:
        print(f"{r['id']:<28} {label_text(r['label']):>12} {r['score']:>7.4f}")


OUTLIERS = Command(
    "outliers", "the examples least like any other (in the model's embedding space), most "
    "unlike first", _outliers, _show_outliers, (DATASET, TOP, REV))


def _issues(args):
    issues.check_kind(args.kind)  # before any image is measured
    with progress(args, logs=False) as bar:
        if bar:
            bar.say("measuring images")
        return issues.issues(workspace(args), args.name, rev=args.rev, kind=args.kind,
                             top=args.top, progress=bar)


def _show_issues(rows):
    if not rows:
        print("no image issues")
        return
    print(f"{'id':<28} {'kind':<17} {'score':>7} {'label':>12}")
    for r in rows:
        print(f"{r['id']:<28} {r['kind']:<17} {r['score']:>7.4f} {label_text(r['label']):>12}")


ISSUES = Command(
    "issues", "images with issues beyond their labels: dark, light (overexposed), blurry, "
    "low_information, odd_size, odd_aspect_ratio, exact_duplicates; the worst (lowest "
    "score) first, --top of each kind", _issues, _show_issues,
    (DATASET,
     # No `choices`: an unknown kind is a one-line error that lists the kinds.
     Argument("--kind", help="only this kind: " + ", ".join(issues.KINDS),
              complete=ISSUE_KINDS),
     TOP,
     REV))


def _similar(args):
    return atlas.similar(workspace(args), args.name, args.id, rev=args.rev, top=args.top)


def _show_similar(rows):
    print(f"{'id':<28} {'label':>12} {'predicted':>10} {'similarity':>10}")
    for r in rows:
        print(f"{r['id']:<28} {label_text(r['label']):>12} {r['predicted']:>10} "
              f"{r['similarity']:>10.4f}")


SIMILAR = Command(
    "similar", "the examples most like one (cosine similarity in the model's embedding "
    "space), itself first", _similar, _show_similar,
    (DATASET, Argument("id", help="the example"),
     Argument("--top", type=int, default=20, help="how many, itself included (default 20)"),
     REV))
