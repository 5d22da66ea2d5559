"""How training results reach git and other machines: `publish`, `ide push`, `ide pull`,
and `ide watch --remote`.

`publish` makes a trained HEAD current for DVC: one results commit on the branch that
changes only the dataset's `dvc.lock`, `metrics.json`, `confusion.csv` and `history.csv`,
so `dvc status` is clean, `dvc repro` has nothing to do and `dvc metrics diff`/`dvc plots
diff` compare commits (docs/TEAM.md, "Why"). It commits, never leaves
files changed, and does nothing while the dataset folder has changes of its own.

Labels travel by git (the current branch), images by DVC (when a DVC remote
is set), and each run's probabilities, run record, metrics and model (`_payload`)
as the tree of one git ref, `refs/ide/results`, that lives beside the branches and never
touches the working tree. Results are keyed by what they depend on, so results from two
machines never disagree: a push first takes in the remote's, then pushes the union. Anyone
who can push writes that ref, so a pull checks all of it before taking any of it
(`_fetch_results`, `ide.learn.incoming`).
`trainer` is a machine (with a GPU, say) that pulls, trains every new commit, publishes
and pushes, in a loop.
"""

from __future__ import annotations

import time
from pathlib import Path

from ide.data import formats as ds
from ide.errors import IDEError, InvalidInput, NotTrained, UnknownDataset
from ide.learn import incoming, ranking, runs
from ide.ops import pipeline
from ide.repo import commits, history, state, versions
from ide.repo.workspace import RESULT_FILES, Workspace

RESULTS_REF = "refs/ide/results"
_FETCHED = "refs/ide/results-fetched"  # the remote's results ref, until it is checked
# What a run shares with other machines: enough for `ide log`, `ide suspects` and the app;
# the model (the fold models, small heads or CNNs) too where the run has one, so the next
# commit warm-starts from it. A run of predictions brought from a file has no model; runs
# shared before unlabelled examples existed have no unlabelled.npy.
SHARED_FILES = ("run.json", "probs.npy", "metrics.json")
OPTIONAL_FILES = ("model.pt", "unlabelled.npy")


class _Current(Exception):
    """HEAD's committed results are already these: nothing to publish."""


def _history(ws: Workspace, name: str) -> list[dict]:
    """Metrics of every trained commit of NAME in HEAD's history, oldest first."""
    rows, index = [], runs.trained(ws, name)  # the index read once, not per commit
    for entry in reversed(history.log(ws, name)):
        m = runs.run_metrics(ws, name, index.get(entry["commit"]))
        if m is not None:
            rows.append({"commit": entry["commit"], **m})
    return rows


def publish(ws: Workspace, name: str) -> str | None:
    """Commit HEAD's training results of NAME (dvc.lock by `dvc commit`, metrics.json,
    confusion.csv, history.csv) as one results commit on the current branch; returns it,
    or None where HEAD is not trained, already published, detached, mid-merge, or the
    dataset folder has uncommitted changes (those are never touched)."""
    folder = ds.dataset_dir(name)
    root = ws.root / folder
    paths = [f"{folder}/{f}" for f in RESULT_FILES]
    with state.lock(ws):
        stage_file = root / "dvc.yaml"
        if ws.branch() is None or ws.merging() or not stage_file.exists() or \
                "- confusion.csv:\n" not in stage_file.read_text():  # an older import's
            return None
        version = versions.resolve(ws, name)
        try:
            r = ranking.load(ws, version)
        except NotTrained:
            return None
        if ws.git("status", "--porcelain", "--", folder).strip():
            return None
        m = runs.commit_metrics(ws, name, version.commit)
        message = (f"Results of {name} at {version.commit[:10]}: accuracy "
                   f"{m['accuracy']:.4f}, {m['suspects']} suspects")
        try:
            with commits.committing(ws, paths, message, verify=False) as made:
                pipeline.write_outputs(root, r.ids, [r.classes[y] for y in r.labels],
                                       r.classes, r.probs, m)
                pipeline.write_history(root, _history(ws, name))
                ws.dvc("commit", "-f", "-q", f"{folder}/dvc.yaml:train")
                if not ws.git("status", "--porcelain", "--", *paths).strip():
                    raise _Current
        except _Current:
            return None
    runs.index_commit(ws, versions.resolve(ws, name))  # the results commit: HEAD's labels, its run
    return made.commit


def _payload(ws: Workspace, name: str) -> dict[str, Path]:
    """{path under NAME in the results tree: file} of NAME's finished runs and its index."""
    index = runs.trained(ws, name)
    files = {"index.json": runs.index_path(ws, name)} if index else {}
    for key in set(index.values()):
        run = runs.run_dir(ws, name, key)
        if (run / "metrics.json").exists():
            files.update({f"{key}/{f}": run / f for f in (*OPTIONAL_FILES, *SHARED_FILES)
                          if (run / f).exists()})
    return files


def _fetch_results(ws: Workspace, remote: str) -> tuple[dict, str | None]:
    """REMOTE's results ref, fetched aside and checked whole before anything here changes:
    ({dataset: (runs {key: {file: content}}, index {commit: key})}, its commit or None
    where REMOTE has none). Anyone who can push wrote it, so a path or file that is not
    what `push` writes is InvalidInput naming it (`_check_dataset`)."""
    ws.git("update-ref", "-d", _FETCHED, check=False)
    ws.git("fetch", "-q", remote, f"+{RESULTS_REF}:{_FETCHED}", check=False)
    commit = ws.git("rev-parse", "-q", "--verify", _FETCHED, check=False).strip() or None
    tree = ws.read_tree(_FETCHED) if commit else {}
    ws.git("update-ref", "-d", _FETCHED, check=False)
    by_name: dict[str, dict[str, bytes]] = {}
    for path, data in tree.items():
        name, _, rest = path.partition("/")
        by_name.setdefault(name, {})[rest] = data
    try:
        return {name: _check_dataset(ws, name, files) for name, files in by_name.items()}, \
            commit
    except InvalidInput as exc:
        raise InvalidInput(f"results ref {RESULTS_REF} of {remote}: {exc}; nothing was "
                           "taken") from None


def _check_dataset(ws: Workspace, name: str, files: dict[str, bytes]) -> tuple[dict, dict]:
    """(runs, index) of dataset NAME's FILES {path under NAME: content}, laid out as
    `_payload` lays them out; every run not already here checked by `ide.learn.incoming`
    (those here are never read from the ref)."""
    ds.dataset_dir(name)  # a dataset name, so never a path of its own
    found: dict[str, dict[str, bytes]] = {}
    for rest in files:
        key, _, file = rest.partition("/")
        if rest != "index.json" and not (incoming.KEY.fullmatch(key) and file in (
                *SHARED_FILES, *OPTIONAL_FILES)):
            raise InvalidInput(f"{name}/{rest}: not a file ide pushes")
        if file:
            found.setdefault(key, {})[file] = files[rest]
    for key, run in sorted(found.items()):
        where = f"{name}/{key}"
        if not set(SHARED_FILES) <= set(run):
            raise InvalidInput(f"{where}: an incomplete run")
        if not (runs.run_dir(ws, name, key) / "metrics.json").exists():
            try:
                incoming.check_run(run)
            except InvalidInput as exc:
                raise InvalidInput(f"{where}/{exc}") from None
    try:
        index = incoming.check_index(files.get("index.json", b"{}"))
    except InvalidInput as exc:
        raise InvalidInput(f"{name}/index.json: {exc}") from None
    return found, index


def _store(ws: Workspace, checked: dict, commit: str | None) -> int:
    """Add the runs and index of CHECKED (`_fetch_results`) of the datasets here, and take
    the remote's results ref (COMMIT) as ours: how many runs were new here."""
    added = sum(runs.add_runs(ws, name, found, index)
                for name, (found, index) in checked.items() if name in versions.datasets(ws))
    if commit:
        ws.git("update-ref", RESULTS_REF, commit)
    return added


def _dvc_remote(ws: Workspace) -> bool:
    return bool(ws.dvc("remote", "list").strip())


def _remote_has(ws: Workspace, remote: str, branch: str) -> bool:
    return bool(ws.git("ls-remote", remote, f"refs/heads/{branch}").strip())


def pull(ws: Workspace, remote: str = "origin", *, ff_only: bool = False) -> dict:
    """git pull (the current branch from REMOTE; with FF_ONLY only a fast-forward, never a
    merge), dvc pull, and the training results: {"results": runs added}."""
    fetched = _fetch_results(ws, remote)  # a bad results ref stops the pull before it starts
    branch = ws.branch()
    if branch is None or _remote_has(ws, remote, branch):
        ws.git("pull", "-q", "--no-edit", *(["--ff-only"] if ff_only else []), remote,
               *([branch] if branch else []), env=ws.identity())
    added = _store(ws, *fetched)
    if _dvc_remote(ws):
        ws.dvc("pull", "-q")
    return {"results": added}


def push(ws: Workspace, remote: str = "origin") -> dict:
    """dvc push, git push (the current branch to REMOTE, after merging what the remote has
    that we lack, such as a trainer's results commits), and the training results of every
    dataset (the remote's merged in first): {"results": runs shared}."""
    fetched = _fetch_results(ws, remote)  # a bad results ref stops the push before it starts
    if _dvc_remote(ws):
        ws.dvc("push", "-q")
    branch = ws.branch()
    if branch and _remote_has(ws, remote, branch):
        ws.git("pull", "-q", "--no-edit", remote, branch, env=ws.identity())
    ws.git("push", "-q", remote, "HEAD")
    _store(ws, *fetched)
    files = {f"{name}/{rel}": path for name in versions.datasets(ws)
             for rel, path in _payload(ws, name).items()}
    ws.save_tree(RESULTS_REF, files, "ide: training results")
    if files:
        ws.git("push", "-q", remote, f"{RESULTS_REF}:{RESULTS_REF}")
    return {"results": sum(rel.endswith("/metrics.json") for rel in files)}


def _untrained(ws: Workspace, commits: list[str]):
    """(name, version) of every dataset at each of COMMITS that has no results yet."""
    for commit in commits:
        for name in versions.datasets(ws):
            try:
                version = versions.resolve(ws, name, commit)
            except UnknownDataset:
                continue
            if runs.commit_metrics(ws, name, commit) is None:
                yield name, version


def follow(ws: Workspace, remote: str, branch: str) -> None:
    """Check out BRANCH (as REMOTE has it, if there is no such branch here)."""
    if ws.branch() != branch:
        ws.git("fetch", "-q", remote, branch)
        if ws.git("status", "--porcelain", "--untracked-files=no").strip():
            raise IDEError(f"cannot switch to {branch}: the working tree has changes")
        ws.git("checkout", "-q", branch) if ws.git(
            "rev-parse", "-q", "--verify", f"refs/heads/{branch}", check=False).strip() \
            else ws.git("checkout", "-q", "-b", branch, "FETCH_HEAD")
        ws.git("branch", "-q", f"--set-upstream-to={remote}/{branch}", check=False)


def trainer(ws: Workspace, remote: str = "origin", *, branch: str | None = None,
            device: str = "cpu", interval: float = 60.0, once: bool = False,
            log=None) -> None:
    """Pull REMOTE's BRANCH (default: the current one), train each new commit of it (and
    HEAD at the start), publish HEAD's results and push them; every INTERVAL seconds until
    interrupted (with ONCE, one round)."""
    if branch:
        follow(ws, remote, branch)
    # The last commit trained, kept across restarts: a trainer started again goes on from
    # there (a fresh one starts at HEAD).
    where = state.path(ws, state.TRAINER, "last.json")
    key = f"{remote} {ws.branch()}"
    while True:
        pull(ws, remote)
        head = ws.head()
        seen = state.read_json(where, {}).get(key)
        known = isinstance(seen, str) and ws.git("rev-parse", "-q", "--verify",
                                                 f"{seen}^{{commit}}", check=False).strip()
        new = ws.git("rev-list", "--reverse", f"{seen}..{head}").split() if known else [head]
        trained = 0
        for name, version in _untrained(ws, new):
            res = runs.retrain(ws, version, device=device)
            trained += 1
            if log:
                log({"dataset": name, **res})
        published = 0
        for name in versions.datasets(ws):
            try:
                published += bool(publish(ws, name))
            except IDEError as exc:  # the results still travel by the results ref
                if log:
                    log({"dataset": name, "commit": ws.head(), "error": f"publish: {exc}"})
        if trained or published:
            push(ws, remote)
        state.write_json(where, {**state.read_json(where, {}), key: ws.head()})
        if once:
            return
        time.sleep(interval)
