"""The Streamlit app, driven by AppTest: every page, the main actions, the bad states."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ide import commits, history, images, staged, state, store, worker
from ide.serve import check_host
from ide.errors import IDEError
from ide.workspace import Workspace

from conftest import FLIPPED

APP = str(Path(__file__).resolve().parents[1] / "ide" / "app.py")
ADA = "Ada Lovelace"


@pytest.fixture
def app(monkeypatch):
    def _open(ws, password=None, name=ADA, email=None):
        """A browser session; NAME (and EMAIL) as a reviewer's URL remembers them."""
        monkeypatch.setenv("IDE_WORKSPACE", str(ws.root))
        if password:
            monkeypatch.setenv("IDE_PASSWORD", password)
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params.update({k: v for k, v in (("name", name), ("email", email)) if v})
        at.run()
        assert not at.exception, at.exception
        return at
    return _open


def texts(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


def toasts(at) -> str:
    return texts(at.toast)


def focus(at) -> str:
    """The focused example's line: "3 / 90 · `id` · given ..."."""
    return next(m.value for m in at.markdown if " / " in m.value and "given" in m.value)


def test_no_dataset_yet(ws, app):
    assert "No dataset yet" in texts(app(ws).info)


def test_not_trained_yet(toy, app):
    at = app(toy)
    assert "not trained" in texts(at.warning) and "No trained model" in texts(at.info)


def test_a_failed_training_is_shown(toy, app):
    (toy.root / "datasets/toy/params.yaml").write_text("folds: 1\n")
    toy.git("commit", "-qam", "bad params")
    worker.watch(toy, once=True)
    assert "Training HEAD failed" in texts(app(toy).error)


def test_review_shows_the_planted_errors_first_and_accepting_stages(trained_ws, app):
    at = app(trained_ws)
    assert [m.value for m in at.metric][2] == "90"
    first = next(i for i in FLIPPED if f"`{i}`" in focus(at))
    accept = at.button(key="k_accept")
    assert accept.label.startswith("Accept")
    accept.click().run()
    assert not at.exception
    edits = staged.read(trained_ws, "toy", owner=ADA)["labels"]
    assert [(e["id"], e["old"]) for e in edits] == [(first, FLIPPED[first])]
    assert "staged 1 edit" in toasts(at) and not at.success  # a toast: the page stays put


def test_commit_from_the_app_uses_the_sidebar_author(trained_ws, app):
    at = app(trained_ws, name=None)
    at.sidebar.text_input(key="user_name").input("Ada Lovelace")
    at.sidebar.text_input(key="user_email").input("ada@example.org").run()
    at.button(key="k_accept").click().run()
    at.sidebar.text_input(key="commit_message").input("Fix a suspect").run()
    at.sidebar.button(key="commit").click().run()
    assert not at.exception and "committed" in toasts(at)
    log = history.log(trained_ws, "toy")
    assert log[0]["author"] == "Ada Lovelace <ada@example.org>"
    assert log[0]["message"] == "Fix a suspect" and log[0]["edits"] == 1
    assert worker.model_status(trained_ws, "toy")["state"] == "not trained"  # new HEAD


def test_keyboard_panel_checks_and_steps(trained_ws, app):
    at = app(trained_ws)
    first = focus(at)
    at.button(key="k_keep").click().run()
    assert len(staged.read(trained_ws, "toy", owner=ADA)["checked"]) == 1
    assert focus(at) != first  # moved on to the next example
    at.button(key="k_prev").click().run()
    assert focus(at).split(" · ")[1] == first.split(" · ")[1]


def test_bulk_assign(trained_ws, app):
    at = app(trained_ws)
    at.multiselect(key="f_given").set_value(["h"]).run()
    at.checkbox(key="sel_h/001.png").check()
    at.checkbox(key="sel_h/002.png").check().run()
    at.selectbox(key="bulk_class").set_value("v")
    at.button(key="bulk_assign").click().run()
    assert {e["id"]: e["new"] for e in staged.read(trained_ws, "toy", owner=ADA)["labels"]} \
        == {"h/001.png": "v", "h/002.png": "v"}


def test_filters(trained_ws, app):
    at = app(trained_ws)
    at.checkbox(key="f_only").check().run()
    assert "matches" not in texts(at.caption)
    shown = [c.value for c in at.caption if "examples match" in c.value][0]
    assert int(shown.split()[0]) < 90
    at.multiselect(key="f_given").set_value(["v"]).run()
    assert not at.exception


def test_two_sessions_get_a_conflict_not_an_overwrite(trained_ws, app):
    one, two = app(trained_ws), app(trained_ws)
    one.button(key="k_accept").click().run()
    two.button(key="k_class_0").click().run()  # same example, based on the old label
    assert "someone else" in toasts(two)
    assert len(staged.read(trained_ws, "toy", owner=ADA)["labels"]) == 1


def test_the_other_sessions_commit_is_seen_on_the_next_action(trained_ws, app):
    _one, two = app(trained_ws), app(trained_ws)
    staged.relabel(trained_ws, "toy", {"h/003.png": "h"})
    commits.commit(trained_ws, "toy", "someone else's fix")
    two.sidebar.radio(key="page").set_value("History").run()
    assert "someone else's fix" in two.dataframe[0].value["message"].tolist()


def test_history_page(trained_ws, app):
    at = app(trained_ws)
    at.sidebar.radio(key="page").set_value("History").run()
    assert not at.exception
    commits = at.dataframe[0].value
    assert commits["message"].tolist()[0] == "Simulated annotation noise"
    assert commits["accuracy"].notna().tolist() == [True, False]
    assert len(at.get("image")) >= 3  # the diff of the noise commit, as images
    assert "h → **v**" in texts(at.markdown)
    at.text_input(key="history_id").input("h/003.png").run()
    assert at.dataframe[1].value["label"].tolist() == ["v", "h"]
    confusion = at.dataframe[-1].value
    assert confusion.shape == (3, 3) and confusion.values.sum() == 90


def test_a_missing_image_is_shown_not_crashed_on(trained_ws, app):
    files = images.image_files(trained_ws, store.resolve(trained_ws, "toy"))
    for i in FLIPPED:
        files[i][1].chmod(0o644)
        files[i][1].unlink()
        (trained_ws.root / "datasets/toy/images" / i).unlink(missing_ok=True)
    at = app(trained_ws)
    assert "image missing" in texts(at.warning) + texts(at.caption)


def test_serve_refuses_other_hosts_without_a_password(run, toy):
    check_host("127.0.0.1", None)
    check_host("0.0.0.0", "pw")
    with pytest.raises(IDEError):
        check_host("0.0.0.0", None)
    code, out, err = run(toy, "serve", "--host", "0.0.0.0")
    assert code == 1 and "IDE_PASSWORD" in err and "Traceback" not in err


def test_a_staged_edit_that_head_changed_under_is_shown_with_both_sides(toy, app):
    staged.relabel(toy, "toy", {"h/001.png": "v"}, owner=ADA)
    other = Workspace(toy.root)
    toy.git("checkout", "-q", "-b", "tmp")  # another session commits on this branch
    staged.relabel(other, "toy", {"h/001.png": "d"})
    commits.commit(other, "toy", "someone else")
    toy.git("checkout", "-q", "-")
    toy.git("merge", "-q", "--ff-only", "tmp")
    at = app(toy)
    assert "changed to d since you staged v" in texts(at.sidebar.warning)
    assert "On branch" in texts(at.sidebar.caption)
    at.sidebar.button(key="mine_h/001.png").click().run()
    assert not at.exception
    assert staged.read(toy, "toy", owner=ADA)["conflicts"] == []
    assert [e["new"] for e in staged.read(toy, "toy", owner=ADA)["labels"]] == ["v"]
