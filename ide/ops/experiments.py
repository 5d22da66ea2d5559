"""Training results as DVC users see them: an experiment per trained commit, and `publish`.

Results never become commits on a branch by themselves: the branch holds people's commits.
`attach` hangs a trained commit's results on it as a DVC experiment, the hidden ref
`refs/exps/<commit>/ide-<name>`: a commit whose parent is the trained one and which changes
only the dataset's metrics.json and confusion.csv, so `dvc exp show` lists each trained
commit's numbers under it (docs/TEAM.md, "Why"). `publish` is the one explicit way to put
results on the branch (before a tag or a release): one commit with `dvc.lock` (written by
DVC itself), metrics.json, confusion.csv and history.csv, from a training that `dvc repro`
reproduces.
"""

from __future__ import annotations

from ide.data import formats as ds
from ide.errors import IDEError, NothingToDo, NotTrained
from ide.learn import ranking, runs
from ide.ops import pipeline
from ide.repo import commits, history, state, versions
from ide.repo.versions import Version
from ide.repo.workspace import RESULT_FILES, Workspace


def experiment(commit: str, name: str) -> str:
    """The DVC experiment ref that holds NAME's results of COMMIT (DVC's own layout:
    refs/exps/<first 2 hex>/<rest>/<experiment name>)."""
    return f"refs/exps/{commit[:2]}/{commit[2:]}/ide-{name}"


def _outputs(ws: Workspace, version: Version) -> tuple[dict[str, str], dict]:
    """({file: text} of the stage's git-kept outputs, metrics) of VERSION's stored run."""
    r = ranking.load(ws, version)
    m = runs.run_metrics(ws, version.name, runs.key_of(ws, version))
    return pipeline.results(r.ids, [r.classes[y] for y in r.labels], r.classes, r.probs,
                            m), m


def attach(ws: Workspace, version: Version) -> str | None:
    """Hang VERSION's stored results on its commit as a DVC experiment (the same commit on
    every machine); returns the experiment's commit, or None if VERSION is not trained."""
    try:
        files, m = _outputs(ws, version)
    except NotTrained:
        return None
    message = (f"ide: results of {version.name} at {version.commit[:10]}: accuracy "
               f"{m['accuracy']:.4f}, {m['suspects']} suspects")
    return ws.commit_onto(experiment(version.commit, version.name), version.commit,
                          {f"{version.folder}/{f}": t for f, t in files.items()}, message)


def attach_all(ws: Workspace) -> int:
    """Attach every trained commit of this clone that has no experiment yet (say, those a
    pull brought results for): how many were attached."""
    have = set(ws.git("for-each-ref", "--format=%(refname)", "refs/exps/").split())
    done = 0
    for name in versions.datasets(ws):
        todo = [c for c in runs.trained(ws, name) if experiment(c, name) not in have]
        here = ws.object_ids([f"{c}^{{commit}}" for c in todo])  # None: not in this clone
        for commit in (c for c, found in zip(todo, here) if found):
            try:
                done += attach(ws, versions.resolve(ws, name, commit)) is not None
            except IDEError:  # a commit whose dataset no longer reads: nothing to show
                continue
    return done


def _history(ws: Workspace, name: str) -> list[dict]:
    """Metrics of every trained commit of NAME in HEAD's history, oldest first."""
    entries = list(reversed(history.log(ws, name)))
    keys = runs.runs_of(ws, name, [e["commit"] for e in entries])
    rows = []
    for entry in entries:
        m = runs.run_metrics(ws, name, keys[entry["commit"]])
        if m is not None:
            rows.append({"commit": entry["commit"], **m})
    return rows


def publish(ws: Workspace, name: str, *, progress=None, device: str = "cpu") -> dict:
    """Commit HEAD's training results of NAME on the current branch, as the DVC stage would
    make them: dvc.lock (by `dvc commit`), metrics.json, confusion.csv and history.csv.
    A warm-started run is first trained again from scratch, since that is what `dvc repro`
    does. -> {"commit", "metrics", "retrained"}. Refused (one line) on a detached HEAD,
    during a merge, rebase, cherry-pick or revert, or while the dataset folder has
    uncommitted changes."""
    folder = ds.dataset_dir(name)
    root = ws.root / folder
    if ws.branch() is None:
        raise IDEError("HEAD is detached: check out a branch to publish on")
    operation = ws.operation()
    if operation:
        raise IDEError(f"a git {operation} is unfinished: finish it (`ide resolve`, git) "
                       "first")
    if ws.git("status", "--porcelain", "--", folder).strip():
        raise IDEError(f"{folder} has uncommitted changes: commit or stash them first")
    stage_file = root / "dvc.yaml"
    if not stage_file.exists() or "- confusion.csv:\n" not in stage_file.read_text():
        raise IDEError(f"{folder}/dvc.yaml is not ide's stage: nothing to publish")
    version = versions.resolve(ws, name)
    res = runs.retrain(ws, version, full=True, progress=progress, device=device)
    if not res["cached"]:  # it replaced a warm start: each commit of it shows the new run
        key = runs.run_key(version)
        for commit in [c for c, k in runs.trained(ws, name).items() if k == key]:
            attach(ws, versions.resolve(ws, name, commit))
    paths = [f"{folder}/{f}" for f in RESULT_FILES]
    m = res["metrics"]
    message = (f"Results of {name} at {version.commit[:10]}: accuracy "
               f"{m['accuracy']:.4f}, {m['suspects']} suspects")
    with state.lock(ws):
        with commits.committing(ws, paths, message, verify=False) as made:
            files, _ = _outputs(ws, version)
            for f, text in files.items():
                (root / f).write_text(text)
            pipeline.write_history(root, _history(ws, name))
            ws.dvc("commit", "-f", f"{folder}/dvc.yaml:train")
            if not ws.git("status", "--porcelain", "--", *paths).strip():
                raise NothingToDo(f"{name}'s results at {version.commit[:10]} are already "
                                  "published")
    # The results commit has HEAD's labels: the same run, so it is trained too.
    runs.run_of(ws, name, made.commit)
    return {"commit": made.commit, "metrics": m, "retrained": not res["cached"]}
