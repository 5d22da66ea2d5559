"""Out-of-sample training, per-version results, the DVC stage and the retrain worker."""

import json
import os
import subprocess
import time

import numpy as np
import pytest
import yaml
from PIL import Image

from ide.data import params
from ide.errors import NotTrained
from ide.learn import ranking, runs, train
from ide.ops import transfer, worker
from ide.repo import commits, images, staged, versions

from conftest import FLIPPED


@pytest.fixture
def trained(trained_template):
    return trained_template


def test_planted_label_errors_rank_first(trained):
    ws, result = trained
    top = ranking.suspects(ws, versions.resolve(ws, "toy"), top=3)
    assert {r["id"] for r in top} == set(FLIPPED)
    assert all(r["predicted"] != r["label"] for r in top)
    assert set(top[0]) >= {"id", "label", "predicted", "loss", "score"}
    assert result["metrics"]["suspects"] >= 3 and not result["cached"]


def test_metrics_fill_the_log(trained, run):
    ws, result = trained
    code, out, _ = run(ws, "log", "toy", "--json")
    log = json.loads(out)
    m = log[0]["metrics"]
    assert log[0]["commit"] == result["commit"] and log[1]["metrics"] is None
    assert m["examples"] == 90 and 0.9 <= m["accuracy"] <= 1
    assert set(m) >= {"accuracy", "mean_loss", "examples", "suspects", "per_class_accuracy"}
    assert set(m["per_class_accuracy"]) == {"d", "h", "v"}


def test_a_second_retrain_is_a_cache_hit(trained):
    ws, first = trained
    start = time.time()
    again = runs.retrain(ws, versions.resolve(ws, "toy"))
    assert again["cached"] and again["metrics"] == first["metrics"]
    assert time.time() - start < 1


def test_results_belong_to_a_commit_not_the_working_tree(trained):
    ws, result = trained
    staged.relabel(ws, "toy", {"h/011.png": "v"})  # staged, not committed
    try:
        assert runs.retrain(ws, versions.resolve(ws, "toy"))["cached"]
        with pytest.raises(NotTrained):
            ranking.suspects(ws, versions.resolve(ws, "toy", "HEAD~1"))
    finally:
        staged.unstage(ws, "toy")


def test_a_commit_of_a_few_fixes_warm_starts_and_still_ranks(trained, trained_ws):
    ws = trained_ws
    staged.relabel(ws, "toy", {"h/003.png": "h"})  # fix one of the three
    commits.commit(ws, "toy", "Fix one")
    res = runs.retrain(ws, versions.resolve(ws, "toy"))
    assert res["warm_start"] == trained[1]["commit"]
    top = ranking.suspects(ws, versions.resolve(ws, "toy"), top=2)
    assert {r["id"] for r in top} == {"v/004.png", "d/005.png"}


def test_a_warm_start_only_up_to_the_share_of_changed_labels(trained, trained_ws):
    """A commit that changes at most WARM_MAX_CHANGED of the labels fine-tunes the previous
    version's fold models; one more change and it trains from scratch."""
    ws = trained_ws
    labels = versions.resolve(ws, "toy").labels
    most = int(runs.WARM_MAX_CHANGED * len(labels))  # 4 of 90
    ids = sorted(i for i in labels if i.startswith("d/"))[:2 * most + 1]

    def change(some):
        staged.relabel(ws, "toy", {i: "h" if labels[i] != "h" else "v" for i in some})
        commits.commit(ws, "toy", f"{len(some)} changes")
        return runs.retrain(ws, versions.resolve(ws, "toy"))
    assert change(ids[:most])["warm_start"] == trained[1]["commit"]
    assert change(ids[most:])["warm_start"] is None  # most + 1 changes since that version


def test_worker_retrains_a_plain_git_commit_and_leaves_the_tree_clean(trained_ws):
    ws = trained_ws
    path = ws.root / "datasets/toy/labels.csv"
    path.write_text(path.read_text().replace("v/004.png,d", "v/004.png,v"))
    ws.git("commit", "-qam", "fixed by hand")
    assert worker.model_status(ws, "toy")["state"] == "not trained"
    assert worker.scan(ws)[0]["commit"] == ws.head()
    assert worker.model_status(ws, "toy")["state"] == "queued"
    worker.watch(ws, once=True)
    assert worker.model_status(ws, "toy")["state"] == "trained"
    assert runs.commit_metrics(ws, "toy", ws.head())["examples"] == 90
    assert ws.git("status", "--porcelain") == ""


def test_a_burst_of_commits_is_coalesced(toy):
    heads = []
    for n, lab in enumerate(["v", "d", "v"]):
        staged.relabel(toy, "toy", {"h/001.png": lab})
        heads.append(commits.commit(toy, "toy", f"edit {n}"))
        worker.scan(toy)
    queue = worker.scan(toy)
    assert [q["commit"] for q in queue] == [heads[-1]]


def test_a_killed_worker_resumes_from_the_saved_folds(toy, monkeypatch):
    staged.relabel(toy, "toy", FLIPPED)
    commits.commit(toy, "toy", "noise")
    worker.scan(toy)
    real_fit, calls = train.fit, []

    def dying_fit(*a, **k):
        if len(calls) == 2:
            raise SystemExit("killed")  # not an error the worker records: it just dies
        calls.append(1)
        return real_fit(*a, **k)
    monkeypatch.setattr(train, "fit", dying_fit)
    with pytest.raises(SystemExit):
        worker.watch(toy, once=True)
    assert worker.model_status(toy, "toy")["state"] == "queued"
    calls.clear()
    monkeypatch.setattr(train, "fit", lambda *a, **k: (calls.append(1), real_fit(*a, **k))[1])
    worker.watch(toy, once=True)
    assert len(calls) == params.Params().folds - 2  # folds 1 and 2 were saved before the kill
    top = ranking.suspects(toy, versions.resolve(toy, "toy"), top=3)
    assert {r["id"] for r in top} == set(FLIPPED)


def test_a_failed_training_is_reported_not_retried(toy):
    (toy.root / "datasets/toy/params.yaml").write_text("folds: 1\n")
    toy.git("commit", "-qam", "bad params")
    worker.watch(toy, once=True)
    status = worker.model_status(toy, "toy")
    assert status["state"] == "failed" and "folds must be from 2 to 20" in status["error"]
    assert worker.scan(toy) == []


def test_dvc_repro_gives_the_same_metrics(trained, trained_ws):
    ws = trained_ws
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(["dvc", "repro", "-q"], cwd=ws.root / "datasets/toy",
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    got = json.loads((ws.root / "datasets/toy/metrics.json").read_text())
    want = trained[1]["metrics"]
    assert got["examples"] == want["examples"] and got["suspects"] == want["suspects"]
    assert got["accuracy"] == pytest.approx(want["accuracy"], abs=1e-9)
    assert got["mean_loss"] == pytest.approx(want["mean_loss"], rel=1e-4)
    preds = (ws.root / "datasets/toy/predictions.csv").read_text().splitlines()
    assert preds[0].startswith("id,label,predicted,loss,score") and len(preds) == 91
    # Commit the stage's results, fix a planted error, repro: `dvc metrics diff` compares.
    ws.git("add", "datasets/toy")
    ws.git("commit", "-qm", "dvc repro")
    staged.relabel(ws, "toy", {"h/003.png": "h"})
    commits.commit(ws, "toy", "Fix one")
    subprocess.run(["dvc", "repro", "-q"], cwd=ws.root / "datasets/toy", check=True, env=env)
    proc = subprocess.run(["dvc", "metrics", "diff", "--json"], cwd=ws.root, env=env,
                          capture_output=True, text=True, check=True)
    diff = json.loads(proc.stdout)["datasets/toy/metrics.json"]
    assert diff["suspects"]["old"] == got["suspects"] and "new" in diff["accuracy"]


def test_the_dvc_stage_keeps_the_folds_its_model_comparison_trained(toy, monkeypatch):
    """With `model: auto` the stage compares the models first; the CNN's folds trained for
    that are handed to the training, not trained again."""
    from ide.ops import pipeline

    folder = toy.root / "datasets/toy"
    data = yaml.safe_load((folder / "params.yaml").read_text())
    (folder / "params.yaml").write_text(yaml.safe_dump({**data, "model": "auto"}))
    real_fit, calls = train.fit, []
    monkeypatch.setattr(train, "fit", lambda *a, **k: (calls.append(1), real_fit(*a, **k))[1])
    metrics = pipeline.run(folder)
    folds = params.Params().folds
    assert len(calls) == (folds if metrics["model"] == "cnn" else 2), metrics


def test_images_of_any_size_and_mode(ws, tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "photos"
    for c, colour in [("red", (200, 30, 30)), ("blue", (30, 30, 200))]:
        (src / c).mkdir(parents=True)
        for n in range(12):
            arr = (np.array(colour) + rng.integers(-20, 20, (40 + n, 50, 3))).clip(0, 255)
            im = Image.fromarray(arr.astype(np.uint8))
            [im, im.convert("RGBA"), im.convert("P")][n % 3].save(src / c / f"{n}.png")
    transfer.import_dataset(ws, "photos", src)
    assert params.parse_params(
        (ws.root / "datasets/photos/params.yaml").read_text()).model == "auto"
    ids, x = images.arrays(ws, versions.resolve(ws, "photos"), 32)
    assert x.shape == (24, 3, 32, 32) and x.dtype == np.uint8
    res = runs.retrain(ws, versions.resolve(ws, "photos"))
    assert res["metrics"]["accuracy"] >= 0.9


def test_the_model_file_explains_itself(trained):
    import torch

    from ide.learn.model import ModelConfig, Net
    from ide.repo import state

    ws, result = trained
    version = versions.resolve(ws, "toy")
    path = state.path(ws, state.RUNS, "toy", runs.run_key(version), "model.pt")
    ck = torch.load(path, weights_only=True)  # plain data: it loads without running code
    config = ModelConfig(**ck["config"])
    assert config == train.model_config(version.params, 3, 1) and ck["classes"] == ["d", "h", "v"]
    Net(config).load_state_dict(ck["states"][0])  # the config builds the saved network
