"""What keeps the app's per-run work independent of the dataset's size (issue 13): a version
once read is not read again, the working labels are looked up per id, confusions are
counted in numpy. bench/scale.py measures the times; these check the behaviour."""

from collections import Counter
from collections.abc import Mapping

import numpy as np
import pytest

from ide.learn import rank, runs
from ide.learn.ranking import Ranking
from ide.ops import views
from ide.repo import staged, versions


def test_a_version_already_read_is_not_read_again(toy, monkeypatch):
    first = versions.resolve(toy, "toy")
    real = versions._read_version
    reads = []
    monkeypatch.setattr(versions, "_read_version", lambda *a: reads.append(a[2]) or real(*a))
    assert versions.resolve(toy, "toy") is first  # HEAD again: only its commit id is asked
    assert versions.resolve(toy, "toy", first.commit) is first
    assert reads == []
    staged.relabel(toy, "toy", {"h/001.png": "v"})
    from ide.repo import commits
    new = commits.commit(toy, "toy", "one fix")
    after = versions.resolve(toy, "toy")  # a new HEAD is read, never a stale version
    assert after.commit == new and after.labels["h/001.png"] == "v"
    assert new in reads and versions.resolve(toy, "toy", "HEAD~1") is first


class NoScan(dict):
    """HEAD's labels that refuse to be copied or scanned whole: only looked up per id."""

    def __iter__(self):
        raise AssertionError("the whole of HEAD's labels was scanned")

    def items(self):
        raise AssertionError("the whole of HEAD's labels was scanned")

    keys = values = items


def ranking_of(ids, labels, probs, classes) -> Ranking:
    score = rank.label_quality(labels, probs)
    return Ranking("c0ffee", classes, ids, labels, probs, rank.predicted(probs), score,
                   rank.per_example_loss(labels, probs), rank.is_suspect(labels, probs),
                   np.argsort(score, kind="stable"))


def test_working_labels_are_looked_up_per_id_without_copying_head(toy, monkeypatch):
    version = versions.resolve(toy, "toy")
    ids = sorted(version.labels)
    classes = list(version.classes)
    y = np.array([classes.index(version.labels[i]) for i in ids])
    r = ranking_of(ids + ["gone.png"], np.append(y, 0),
                   np.full((len(ids) + 1, 3), 1 / 3), classes)
    staged.relabel(toy, "toy", {ids[0]: "v" if version.labels[ids[0]] != "v" else "d"})
    expected = {**version.labels, **{e["id"]: e["new"]
                                     for e in staged.read(toy, "toy")["labels"]}}
    real_resolve = versions.resolve

    def guarded(ws, name, rev="HEAD"):
        v = real_resolve(ws, name, rev)
        object.__setattr__(v, "labels", NoScan(v.labels))
        return v
    monkeypatch.setattr(versions, "resolve", guarded)
    now = views.working_labels(toy, "toy", r)
    assert isinstance(now, Mapping) and len(now) == len(ids) + 1
    assert all(now[i] == expected[i] for i in ids)
    assert now["gone.png"] == "d"  # no longer at HEAD: the ranking's own label
    assert "gone.png" in now and "nope.png" not in now
    with pytest.raises(KeyError):
        now["nope.png"]


def test_confusion_pairs_count_like_a_counter():
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c", "d"]
    labels = rng.integers(0, 4, 5000)
    probs = rng.dirichlet(np.ones(4), 5000)
    r = ranking_of([str(n) for n in range(5000)], labels, probs, classes)
    pairs = views.confusion_pairs(r)
    want = Counter((classes[a], classes[b]) for a, b in zip(labels, r.predicted) if a != b)
    assert {(a, b): n for a, b, n in pairs} == dict(want)
    assert [n for _, _, n in pairs] == sorted(want.values(), reverse=True)


def test_the_log_reads_the_run_index_once(toy, tmp_path, monkeypatch):
    version = versions.resolve(toy, "toy")
    np.save(tmp_path / "p.npy", np.full((len(version.labels), 3), 1 / 3))
    runs.load_predictions(toy, version, tmp_path / "p.npy")  # trained, without training
    real, calls = runs.trained, []
    monkeypatch.setattr(runs, "trained", lambda *a: calls.append(a) or real(*a))
    log = views.log(toy, "toy")
    assert len(calls) == 1 and log[0]["metrics"]["examples"] == 90


def test_ids_checked_at_once_agree_with_one_at_a_time():
    from ide.data import formats as ds
    from ide.errors import InvalidInput

    rng = np.random.default_rng(0)
    alphabet = list("a./\\\n\x01 \xa0é")
    for _ in range(5000):
        ids = ["".join(rng.choice(alphabet, rng.integers(0, 5))) for _ in range(rng.integers(0, 4))]
        try:
            ds.check_ids(ids)
            ok = True
        except InvalidInput as exc:
            ok = False
            first = next(i for i in ids if not ds.is_safe_id(i))
            assert repr(first) in str(exc)  # the message names the first unsafe id
        assert ok == all(ds.is_safe_id(i) for i in ids), ids


def test_the_history_page_draws_its_charts_without_altair(toy, tmp_path):
    """In a fresh process (as a new server): the charts are Vega-Lite specs, so the first
    History visit does not pay for importing altair."""
    import subprocess
    import sys

    version = versions.resolve(toy, "toy")
    np.save(tmp_path / "p.npy", np.full((len(version.labels), 3), 1 / 3))
    runs.load_predictions(toy, version, tmp_path / "p.npy")
    from ide.app import SCRIPT as app
    script = f"""
import os, sys
os.environ["IDE_WORKSPACE"] = {str(toy.root)!r}
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(app)!r}, default_timeout=120).run()
at.radio(key="page").set_value("History").run()
assert not at.exception, at.exception
charts = at.get("vega_lite_chart")
print(len(charts), "altair" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["3", "False"]  # two trends and the confusion matrix


@pytest.mark.parametrize("parallel_from", [0, 10**9])
def test_a_large_import_checks_on_every_core_with_the_same_verdicts(ws, tmp_path, run,
                                                                    monkeypatch, parallel_from):
    """The pool of image checks (used from PARALLEL_FROM images on) names the same bad files
    and imports the same examples as the check in process."""
    from ide.ops import sources

    from conftest import write_imagefolder
    monkeypatch.setattr(sources, "PARALLEL_FROM", parallel_from)
    src = write_imagefolder(tmp_path / "src", per_class=4)
    (src / "h" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (src / "v" / "notes.png").write_text("hello")
    code, out, err = run(ws, "import", "new", str(src))
    assert code == 1 and "2 bad file(s)" in err and "h/broken.png: unreadable image" in err
    assert not (ws.root / "datasets" / "new").exists()
    code, out, err = run(ws, "import", "new", str(src), "--skip-bad")
    assert code == 0 and "imported 12 examples" in out
    files = ws.root / "datasets" / "new" / "images"
    assert all((files / i).read_bytes() == (src / i).read_bytes()
               for i in versions.resolve(ws, "new").labels)
