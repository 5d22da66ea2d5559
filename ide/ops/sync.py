"""How labels, images and training results reach other machines: `ide push`, `ide pull`,
and the trainer of `ide watch --remote`.

Labels travel by git (the current branch, merged: `git pull --no-rebase`), images by DVC
(when a DVC remote is set), and each run's probabilities, run record, metrics and model
(`_payload`) as the tree of one git ref, `refs/ide/results`, that lives beside the branches
and never touches the working tree; a pull attaches the runs it brings as DVC experiments
(`ide.ops.experiments`). Results are keyed by what they depend on, so results from two
machines never disagree: a push first takes in the remote's, then pushes the union of the
runs the branches reach. Anyone who can push writes that ref, so a pull checks all of it
before taking any of it (`_fetch_results`, `ide.learn.incoming`). `trainer` is a machine
(with a GPU, say) that pulls, trains every new commit and pushes, in a loop.
"""

from __future__ import annotations

import time
from pathlib import Path

from ide.data import formats as ds
from ide.errors import IDEError, InvalidInput, UnknownDataset
from ide.learn import incoming, runs
from ide.ops import experiments
from ide.repo import state, versions
from ide.repo.workspace import Workspace

RESULTS_REF = "refs/ide/results"
_FETCHED = "refs/ide/results-fetched"  # the remote's results ref, until it is checked
# What a run shares with other machines: enough for `ide log`, `ide suspects` and the app;
# the model (the fold models, small heads or CNNs) too where the run has one, so the next
# commit warm-starts from it. A run of predictions brought from a file has no model; runs
# shared before unlabelled examples existed have no unlabelled.npy.
SHARED_FILES = ("run.json", "probs.npy", "metrics.json")
OPTIONAL_FILES = ("model.pt", "unlabelled.npy")


def _reachable(ws: Workspace) -> set[str]:
    """Every commit that a branch, a remote branch or a tag reaches."""
    return set(ws.git("rev-list", "--branches", "--remotes", "--tags").split())


def _payload(ws: Workspace, name: str, reachable: set[str]) -> dict[str, Path]:
    """{path under NAME in the results tree: file} of NAME's finished runs of REACHABLE
    commits, and their index: a run no branch can reach any more stays here, unshared."""
    index = {c: k for c, k in runs.trained(ws, name).items() if c in reachable}
    files = {}
    for key in set(index.values()):
        run = runs.run_dir(ws, name, key)
        if (run / "metrics.json").exists():
            files.update({f"{key}/{f}": run / f for f in (*OPTIONAL_FILES, *SHARED_FILES)
                          if (run / f).exists()})
    if files:
        path = state.path(ws, state.RUNS, name, "shared-index.json")
        state.write_json(path, {c: k for c, k in index.items() if f"{k}/metrics.json" in files})
        files["index.json"] = path
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


def _merge_remote(ws: Workspace, remote: str, branch: str | None, dvc_remote: bool, *,
                  ff_only: bool = False) -> None:
    """git pull, always as a merge (`--no-rebase`): git's defaults since 2.27 refuse to
    choose for a diverged branch, and a rebase would replay label commits one by one.
    With a DVC remote (DVC_REMOTE), the images of the remote's commit are fetched first:
    DVC's merge driver reads both sides' listings of images.dvc from the cache."""
    if branch and dvc_remote:
        ws.git("fetch", "-q", remote, branch)
        _fetch_images(ws, ws.git("rev-parse", "FETCH_HEAD").strip())
    ws.git("pull", "-q", "--no-edit", "--no-rebase", *(["--ff-only"] if ff_only else []),
           remote, *([branch] if branch else []), env=ws.identity())


def _fetch_images(ws: Workspace, commit: str) -> None:
    """`dvc fetch` of COMMIT's DVC-tracked files (the command line has no --rev)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(ws.root)) as repo:
            repo.fetch(revs=[commit], workspace=False)
    except DvcException as exc:
        raise IDEError(f"dvc fetch of {commit[:10]} failed: {exc}") from None


def pull(ws: Workspace, remote: str = "origin", *, ff_only: bool = False) -> dict:
    """git pull (the current branch from REMOTE; with FF_ONLY only a fast-forward, never a
    merge), dvc pull, and the training results: {"results": runs added}."""
    fetched = _fetch_results(ws, remote)  # a bad results ref stops the pull before it starts
    branch = ws.branch()
    if branch is None or _remote_has(ws, remote, branch):
        _merge_remote(ws, remote, branch, _dvc_remote(ws), ff_only=ff_only)
    added = _store(ws, *fetched)
    if _dvc_remote(ws):  # asked again: the merge may have brought the DVC remote's config
        ws.dvc("pull")
    experiments.attach_all(ws)
    return {"results": added}


def _unchanged(ws: Workspace, files: dict[str, Path]) -> dict[str, str]:
    """{path: blob id} of FILES that the results ref already holds as they are here. A
    run's files change only with its run.json (a warm-started run trained again by
    `publish`), so only the run.json of each run is hashed, not its model."""
    old = ws.tree_blobs(RESULTS_REF)
    records = sorted(p for p in files if p.endswith("/run.json") and p in old)
    now = ws.git("hash-object", "--stdin-paths", input="".join(
        f"{files[p]}\n" for p in records)).split() if records else []
    same = {p.rsplit("/", 1)[0] for p, blob in zip(records, now) if old[p] == blob}
    return {p: blob for p, blob in old.items() if p in files and p.rsplit("/", 1)[0] in same}


def push(ws: Workspace, remote: str = "origin") -> dict:
    """dvc push, git push (the current branch to REMOTE, after merging what the remote has
    that we lack), and the training results of every dataset that the branches reach (the
    remote's merged in first): {"results": runs shared}."""
    fetched = _fetch_results(ws, remote)  # a bad results ref stops the push before it starts
    dvc_remote = _dvc_remote(ws)
    if dvc_remote:
        ws.dvc("push")
    branch = ws.branch()
    if branch and _remote_has(ws, remote, branch):
        _merge_remote(ws, remote, branch, dvc_remote)
    ws.git("push", "-q", remote, "HEAD")
    _store(ws, *fetched)
    reachable = _reachable(ws)
    files = {f"{name}/{rel}": path for name in versions.datasets(ws)
             for rel, path in _payload(ws, name, reachable).items()}
    ws.save_tree(RESULTS_REF, files, "ide: training results", blobs=_unchanged(ws, files))
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
            if runs.key_of(ws, version) is None:
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
    HEAD at the start), attach the results and push them; every INTERVAL seconds until
    interrupted (with ONCE, one round). A round that fails (the remote moved during a
    push, the network is down) is logged and tried again at the next."""
    if branch:
        follow(ws, remote, branch)
    while True:
        try:
            _train_round(ws, remote, device, log)
        except IDEError as exc:
            if once:
                raise
            if log:
                log({"commit": ws.head(), "error": f"{exc} (trying again in {interval:g} s)"})
        if once:
            return
        time.sleep(interval)


def _train_round(ws: Workspace, remote: str, device: str, log) -> None:
    """One round of `trainer`: pull, train what is new, attach, push."""
    # The last commit trained, kept across restarts: a trainer started again goes on from
    # there (a fresh one starts at HEAD).
    where = state.path(ws, state.TRAINER, "last.json")
    key = f"{remote} {ws.branch()}"
    pull(ws, remote)
    head = ws.head()
    seen = state.read_json(where, {}).get(key)
    known = isinstance(seen, str) and ws.git("rev-parse", "-q", "--verify",
                                             f"{seen}^{{commit}}", check=False).strip()
    new = ws.git("rev-list", "--reverse", f"{seen}..{head}").split() if known else [head]
    trained = 0
    for name, version in _untrained(ws, new):
        res = runs.retrain(ws, version, device=device)
        experiments.attach(ws, version)
        trained += 1
        if log:
            log({"dataset": name, **res})
    if trained:
        push(ws, remote)
    state.write_json(where, {**state.read_json(where, {}), key: head})
