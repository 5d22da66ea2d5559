"""The map of a version and "more like this": the 2-D layout (made once, then read back),
`ide similar` on a planted mislabel, its bad inputs, and the Map page and the "More like
this" button in the app (AppTest; the real browser's selection is in tests/test_browser.py).
"""

import json
from collections import Counter

import numpy as np
import pytest

from ide.learn import projection
from ide.ops import atlas, duplicates
from ide.repo import versions

from conftest import FLIPPED


def blobs(n_per: int = 60, k: int = 3, d: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 4
    y = np.repeat(np.arange(k), n_per)
    return (centres[y] + rng.standard_normal((len(y), d))).astype(np.float32), y


def test_projection_keeps_the_classes_apart():
    z, y = blobs()
    xy = projection.project(z)
    assert xy.shape == (len(z), 2) and xy.dtype == np.float32
    assert np.array_equal(xy, projection.project(z))  # deterministic
    # each point's nearest other point on the map is of its own class
    d = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (y[d.argmin(1)] == y).mean() > 0.95
    assert projection.project(z[:2]).shape == (2, 2)  # too few for a neighbour graph
    with pytest.raises(ValueError, match="unknown projection"):
        projection.project(z, method="nope")


def test_the_layout_is_made_once_per_version(trained_ws, monkeypatch):
    version = versions.resolve(trained_ws, "toy")
    calls = Counter()
    for module, name in ((projection, "project"), (duplicates, "embeddings")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _n=name, **k: (
            calls.update([_n]), _real(*a, **k))[1])
    ids, xy = atlas.layout(trained_ws, version)
    assert calls == {"project": 1, "embeddings": 1}
    assert sorted(ids) == sorted(version.labels) and xy.shape == (90, 2)
    again_ids, again = atlas.layout(trained_ws, versions.resolve(trained_ws, "toy"))
    assert calls == {"project": 1, "embeddings": 1}  # read back: no embedding, no projection
    assert again_ids == ids and np.array_equal(again, xy)
    assert atlas.layout_path(trained_ws, version).exists()


def test_nearest_puts_the_example_first_even_beside_a_duplicate():
    z = np.eye(4, dtype=np.float32)[[0, 1, 1, 2]]
    picked, sims = atlas.nearest(z, 2, 3)
    assert picked.tolist()[:2] == [2, 1] and sims.tolist()[:2] == [1.0, 1.0]
    assert atlas.nearest(z, 0, 10)[0].tolist()[0] == 0  # TOP beyond N: all of them


def test_similar_finds_a_planted_mislabels_true_class(trained_ws, run):
    code, out, err = run(trained_ws, "similar", "toy", "h/003.png", "--json", "--top", "10")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 10 and rows[0]["id"] == "h/003.png" and rows[0]["label"] == FLIPPED[
        "h/003.png"] and rows[0]["similarity"] == 1.0
    truly_h = [r for r in rows[1:] if r["id"].startswith("h/")]
    assert len(truly_h) >= 7, rows  # its neighbours are of its true class
    assert [r["similarity"] for r in rows[1:]] == sorted((r["similarity"] for r in rows[1:]),
                                                          reverse=True)
    code, out, _ = run(trained_ws, "similar", "toy", "h/003.png")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["id", "label", "predicted", "similarity"]
    assert len(lines) == 21 and lines[1].split()[:2] == ["h/003.png", "v"]


@pytest.mark.parametrize("argv, message", [
    (("nope", "h/003.png"), "nope"),
    (("toy", "h/999.png"), "unknown example id 'h/999.png'"),
    (("toy", "h/003.png", "--top", "0"), "--top must be at least 1"),
])
def test_similar_bad_inputs_are_one_line(trained_ws, run, argv, message):
    code, out, err = run(trained_ws, "similar", *argv)
    assert code == 1 and out == "" and err.startswith("ide: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_similar_on_an_untrained_version_is_one_line(toy, run):
    code, _, err = run(toy, "similar", "toy", "h/003.png")
    assert code == 1 and err.startswith("ide: error: ") and "retrain" in err
    assert len(err.strip().splitlines()) == 1


def test_the_map_page_and_its_selection(trained_ws, app):
    at = app(trained_ws, name="Ada", timeout=120)
    at.sidebar.radio(key="page").set_value("Map").run()
    assert not at.exception, at.exception
    assert "Drag a box" in " ".join(i.value for i in at.info)
    for colour in ("suggested label", "suspicion"):
        at.selectbox(key="map_colour").set_value(colour).run()
        assert not at.exception, at.exception
    # What the component sends when a box is drawn: the selection becomes the gallery.
    commit = versions.resolve(trained_ws, "toy").commit
    picked = ["h/003.png", "h/011.png", "v/004.png"]
    at.session_state["map"] = {"selected": {"key": f"{commit}:given label", "ids": picked}}
    at.run()
    assert not at.exception, at.exception
    assert "3 examples match" in " ".join(c.value for c in at.caption)
    assert {c.key[4:] for c in at.checkbox if c.key.startswith("sel_")} == set(picked)
    # another commit's selection is none
    at.session_state["map"] = {"selected": {"key": "0" * 40, "ids": picked}}
    at.run()
    assert "Drag a box" in " ".join(i.value for i in at.info)


def test_more_like_this_filters_the_gallery(trained_ws, app):
    at = app(trained_ws, name="Ada", timeout=120)
    at.text_input(key="f_id").set_value("h/003.png").run()
    at.button(key="k_like").click().run()
    at.text_input(key="f_id").set_value("").run()
    assert not at.exception, at.exception
    cards = [c.key[4:] for c in at.checkbox if c.key.startswith("sel_")]
    assert cards[0] == "h/003.png" and len(cards) == 50
    assert "More like `h/003.png`" in " ".join(c.value for c in at.caption)
    assert sum(c.startswith("h/") for c in cards[1:10]) >= 7
    at.button(key="like_clear").click().run()
    assert len([c for c in at.checkbox if c.key.startswith("sel_")]) == 50
    assert "More like" not in " ".join(c.value for c in at.caption)
