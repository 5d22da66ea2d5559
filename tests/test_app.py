"""The Streamlit app, driven by AppTest: every page, the main actions, the bad states."""

import json
import re
from collections import Counter

import numpy as np
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

from ide.errors import IDEError
from ide.learn import runs
from ide.ops import worker
from ide.repo import commits, history, images, staged, state, versions
from ide.repo.workspace import Workspace
from ide.serve import backend
from ide.serve.server import app_command, check_host

from conftest import FLIPPED

ADA = "Ada Lovelace"


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
    app(trained_ws)  # one session open beside the other
    two = app(trained_ws)
    staged.relabel(trained_ws, "toy", {"h/003.png": "h"})
    commits.commit(trained_ws, "toy", "someone else's fix")
    two.sidebar.radio(key="page").set_value("History").run()
    assert "someone else's fix" in two.dataframe[0].value["message"].tolist()


def test_one_review_rerun_reads_head_and_the_staged_edits_once(trained_ws, app, monkeypatch):
    """HEAD is resolved once a rerun and the staged file read once, then passed down."""
    staged.relabel(trained_ws, "toy", {"h/001.png": "v"}, owner=ADA)
    staged.relabel(trained_ws, "toy", {"h/002.png": "v"}, owner="Bob")
    staged.mark_checked(trained_ws, "toy", ["d/001.png"], owner=ADA)
    at = app(trained_ws)
    reads = Counter()

    def counted(what, fn):
        def call(*args, **kwargs):
            reads[what] += 1
            return fn(*args, **kwargs)
        return call

    read_at = Workspace.read_at
    monkeypatch.setattr(staged, "load", counted("staged", staged.load))
    monkeypatch.setattr(Workspace, "head", counted("HEAD", Workspace.head))
    monkeypatch.setattr(Workspace, "read_at", lambda ws, rev, *args, **kwargs: (
        counted("HEAD", read_at) if rev == "HEAD" else read_at)(ws, rev, *args, **kwargs))
    at.run()
    assert not at.exception, at.exception
    assert ":gray-badge[staged v by Bob]" in texts(at.markdown)  # what was read is shown
    assert reads == {"staged": 1, "HEAD": 1}


def test_an_edit_reruns_only_the_focus_gallery_and_staged_list(trained_ws, app, monkeypatch):
    """A key that stages reruns the two fragments that show the edit, not the whole page
    (its ranking, log and filters), and the sidebar lists the edit all the same."""
    from ide.ops import views

    at = app(trained_ws)
    calls = Counter()
    log = views.log
    monkeypatch.setattr(views, "log", lambda *a, **k: calls.update(["log"]) or log(*a, **k))
    for key in ("k_accept", "k_keep", "k_class_0"):
        at.button(key=key).click().run()
        assert not at.exception, at.exception
    assert not calls  # the page itself did not run again
    assert "Your staged: 2 edit(s), 1 checked" in texts(at.sidebar.subheader)
    assert texts(at.markdown).count(":orange-badge[staged ") == 2
    at.sidebar.button(key=f"undo_{staged.read(trained_ws, 'toy', owner=ADA)['labels'][0]['id']}"
                      ).click().run()
    assert "Your staged: 1 edit(s), 1 checked" in texts(at.sidebar.subheader)
    assert texts(at.markdown).count(":orange-badge[staged ") == 1 and not calls


def test_history_page(trained_ws, app):
    at = app(trained_ws)
    at.sidebar.radio(key="page").set_value("History").run()
    assert not at.exception
    commits = at.dataframe[0].value
    assert commits["message"].tolist()[0] == "Simulated annotation noise"
    # One format of percentages, "–" where a commit has none (not trained), never "None".
    accuracy = commits["accuracy"].tolist()
    assert re.fullmatch(r"\d+\.\d%", accuracy[0]) and accuracy[1] == "–"
    assert commits.notna().all().all() and "None" not in commits.astype(str).values
    trend = next(c for c in at.get("vega_lite_chart") if "accuracy" in c.proto.spec)
    points = convert_arrow_bytes_to_pandas_df(trend.proto.data.data)["accuracy"].tolist()
    assert [f"{p:.1f}%" for p in points] == accuracy[:1]  # same units as the table
    assert len(at.get("image")) >= 3  # the diff of the noise commit, as images
    assert "h → **v**" in texts(at.markdown)
    assert commits.columns.tolist()[:4] == ["commit", "edits", "accuracy", "suspects"]
    assert commits["commit"].str.len().tolist() == [8, 8]  # short ids
    hint = at.text_input(key="history_id").placeholder
    assert hint.removeprefix("e.g. ") in versions.resolve(trained_ws, "toy").labels  # a real id
    at.text_input(key="history_id").input("h/003.png").run()
    labels = at.dataframe[1].value
    assert labels["label"].tolist() == ["v", "h"] and labels.columns[:2].tolist() == \
        ["commit", "label"] and labels["commit"].str.len().max() == 8
    charts = lambda: [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")
                      if "orangered" in str(c.proto)]
    assert len(charts()) == 1  # a coloured heatmap of the newest trained commit
    assert at.selectbox(key="cm_other").options == ["none"]  # one trained commit only
    first = versions.resolve(trained_ws, "toy", "HEAD^")  # the import: trained too now
    probs = np.eye(3)[[first.classes.index(first.labels[i]) for i in sorted(first.labels)]]
    np.save(trained_ws.root / "p.npy", probs)
    runs.load_predictions(trained_ws, first, trained_ws.root / "p.npy")
    at.run()
    compared = at.selectbox(key="cm_other").options[-1]
    assert compared.startswith(f"{first.commit[:8]}  Import dataset toy")
    at.selectbox(key="cm_other").set_value(compared).run()
    assert not at.exception
    assert [c["title"] for c in charts()] == [at.selectbox(key="cm_commit").value, compared]


def test_no_stray_none_on_any_page(trained_ws, app):
    at = app(trained_ws)
    for page in ("Review", "History"):
        at.sidebar.radio(key="page").set_value(page).run()
        shown = [str(e.value).strip() for e in [*at.markdown, *at.text, *at.caption]]
        assert "None" not in shown and not at.get("json")


def test_each_reviewer_stages_and_commits_only_their_own(trained_ws, app):
    ada, bob = app(trained_ws), app(trained_ws, name="Bob")
    ada.button(key="k_accept").click().run()  # the top suspect
    first = staged.read(trained_ws, "toy", owner=ADA)["labels"][0]["id"]
    bob.button(key="k_next").click().run()
    bob.button(key="k_accept").click().run()  # the second suspect
    assert [e["owner"] for e in staged.others(trained_ws, "toy", owner="Bob")["labels"]] \
        == [ADA]
    bob.run()
    assert "staged d by Ada Lovelace" in texts(bob.markdown)  # her card, badged, read-only
    assert f"`{first}`" in texts(bob.sidebar.expander[0].markdown)
    bob.button(key="k_prev").click().run()
    bob.button(key="k_prev").click().run()
    assert f"`{first}`" in focus(bob)
    her = [bob.button(key=k) for k in ("k_class_2", "k_accept", "k_keep", "k_remove",
                                       f"rm_{first}")]
    assert all(b.disabled and "staged by Ada Lovelace" in b.help for b in her)  # not taken
    ada.sidebar.text_input(key="commit_message").input("Ada's fix").run()
    ada.sidebar.button(key="commit").click().run()
    log = history.log(trained_ws, "toy")
    assert log[0]["message"] == "Ada's fix" and log[0]["edits"] == 1
    assert log[0]["author"].startswith("Ada Lovelace <")
    assert len(staged.read(trained_ws, "toy", owner="Bob")["labels"]) == 1  # Bob's stays
    assert not staged.others(trained_ws, "toy", owner="Bob")["labels"]


def test_k_again_takes_a_check_back_and_others_marks_are_badged_and_locked(trained_ws, app):
    staged.mark_checked(trained_ws, "toy", ["h/001.png"], owner="Bob")
    staged.remove(trained_ws, "toy", ["h/002.png"], owner="Bob")
    at = app(trained_ws)
    first = focus(at).split("`")[1]
    at.button(key="k_keep").click().run()
    assert staged.read(trained_ws, "toy", owner=ADA)["checked"] == [first]
    at.button(key="k_prev").click().run()
    keep = at.button(key="k_keep")
    assert keep.label == "Uncheck (K)" and keep.proto.shortcut.lower() == "k"
    keep.click().run()
    assert staged.read(trained_ws, "toy", owner=ADA)["checked"] == []
    at.button(key="k_keep").click().run()  # and a button in the sidebar takes it back too
    at.sidebar.button(key=f"undo_{first}").click().run()
    assert staged.read(trained_ws, "toy", owner=ADA)["checked"] == []
    at.run()  # an edit reran only its fragments: AppTest holds only those until a full run
    at.multiselect(key="f_given").set_value(["h"]).run()
    assert ":gray-badge[checked by Bob]" in card(at, "h/001.png")
    assert ":gray-badge[removed by Bob]" in card(at, "h/002.png")
    assert at.button(key="rm_h/002.png").disabled
    assert "staged by Bob" in at.button(key="rm_h/002.png").help


def test_no_edit_without_a_name_and_no_commit_without_a_message(trained_ws, app):
    at = app(trained_ws, name=None)
    assert "Give your name" in texts(at.info)
    first = focus(at).split("`")[1]
    for key in ("k_accept", "k_keep", "k_remove", "k_class_0", f"rm_{first}"):
        assert at.button(key=key).disabled and "Give your name" in at.button(key=key).help
    at.sidebar.text_input(key="user_name").input("Ada Lovelace").run()
    at.button(key="k_accept").click().run()
    assert at.sidebar.button(key="commit").disabled  # no message yet
    at.sidebar.text_input(key="commit_message").input("   ").run()
    assert at.sidebar.button(key="commit").disabled  # nor a blank one
    with pytest.raises(IDEError, match="empty commit message"):
        commits.commit(trained_ws, "toy", "  ", owner=ADA)
    assert len(history.log(trained_ws, "toy")) == 2  # nothing committed


def test_name_and_email_are_kept_in_the_url(trained_ws, app):
    at = app(trained_ws, name=None)
    at.sidebar.text_input(key="user_name").input("Ada Lovelace").run()
    at.sidebar.text_input(key="user_email").input("ada@example.org").run()
    assert at.query_params["name"] in ("Ada Lovelace", ["Ada Lovelace"])
    again = app(trained_ws, name="Ada Lovelace", email="ada@example.org")  # a reload
    assert again.sidebar.text_input(key="user_name").value == "Ada Lovelace"
    assert again.sidebar.text_input(key="user_email").value == "ada@example.org"


def test_the_focus_follows_filters_and_pages(trained_ws, app):
    at = app(trained_ws)
    at.button(key="k_next").click().run()
    at.button(key="k_next").click().run()
    assert focus(at).startswith("**3 / 90**")
    at.multiselect(key="f_given").set_value(["h"]).run()
    assert focus(at).startswith("**1 / 30**")  # the top of the filtered list
    at.multiselect(key="f_given").set_value([]).run()
    at.button(key="page_next_top").click().run()
    assert focus(at).startswith("**51 / 90**") and "Page 2 of 2" in texts(at.caption)
    at.button(key="page_prev_bottom").click().run()
    assert focus(at).startswith("**1 / 90**")
    assert at.button(key="page_next_top").proto.shortcut  # Shift+N
    at.text_input(key="f_id").input("h/00").run()  # search by id
    assert focus(at).startswith("**1 / 10**") and "`h/00" in focus(at)


def test_a_refused_edit_stays_and_a_no_op_bulk_says_so(trained_ws, app):
    at = app(trained_ws)
    first = focus(at)
    staged.relabel(trained_ws, "toy", {first.split("`")[1]: "v"})  # someone else's edit
    at.button(key="k_class_0").click().run()
    assert "nothing staged" in toasts(at) and focus(at).split(" · ")[1] == first.split(" · ")[1]
    at.run()  # the whole page: after an edit, AppTest holds only the fragments it reran
    at.multiselect(key="f_given").set_value(["h"]).run()
    at.checkbox(key="sel_h/001.png").check().run()
    assert at.selectbox(key="bulk_class").value == "h"  # the suggestion of the selection
    at.selectbox(key="bulk_class_bottom")  # repeated below the gallery
    at.button(key="bulk_assign").click().run()
    assert "nothing staged" in toasts(at) and "already have label h" in toasts(at)
    assert not staged.read(trained_ws, "toy", owner=ADA)["labels"]


def test_cards_show_both_probabilities_and_the_focus_its_top_3(trained_ws, app):
    at = app(trained_ws)
    assert "given **h** (0%) · suggested **d** (100%)" in focus(at)
    assert texts(at.caption).count("Top 3: ") == 1
    card = next(m.value for m in at.markdown if m.value.startswith("`d/005.png`"))
    assert "h → **d**" in card and "0% → 100%" in card


def card(at, example_id) -> str:
    return next(m.value for m in at.markdown if m.value.startswith(f"`{example_id}`"))


def test_a_staged_example_shows_its_committed_label_beside_the_staged_one(trained_ws, app):
    """The focus and the card of a staged example: the committed label with its probability
    and loss, the staged label as a badge (whose it is), the suggestion; the suspect mark
    stays, said handled. Another reviewer sees the same, the edit as Ada's."""
    ada, bob = app(trained_ws), app(trained_ws, name="Bob")
    before = focus(ada)
    assert "`d/005.png` · given **h** (0%) · suggested **d** (100%) · loss " in before
    assert card(ada, "d/005.png").startswith("`d/005.png` ⚠ ◀")  # a suspect, focused
    ada.button(key="k_accept").click().run()
    ada.button(key="k_prev").click().run()
    bob.run()
    for at, badge in ((ada, ":orange-badge[staged d]"),
                      (bob, ":gray-badge[staged d by Ada Lovelace]")):
        assert focus(at) == f"{before} · {badge}"
        assert card(at, "d/005.png") == \
            f"`d/005.png` :gray[⚠ handled] ◀ {badge}  \nh → **d**  \n0% → 100%"


def test_thumbnails_are_square_and_the_zoom_is_the_whole_image(tmp_path, ws):
    import io

    from PIL import Image

    from ide.app import thumbs

    src = tmp_path / "tall.png"
    Image.new("RGB", (300, 1000), (200, 0, 0)).save(src)
    thumb = Image.open(io.BytesIO(thumbs.thumbnail(ws, "ab" * 16, src)))
    assert thumb.size == (96, 96)
    assert thumb.getpixel((48, 48)) == (200, 0, 0) and thumb.getpixel((2, 48)) != (200, 0, 0)
    assert Image.open(io.BytesIO(thumbs.zoom(ws, "ab" * 16, src))).size == (300, 1000)
    small = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(small)
    assert Image.open(io.BytesIO(thumbs.zoom(ws, "cd" * 16, small))).size == (480, 480)


def test_training_shows_eta_rate_and_place_in_the_queue(toy, app):
    head = toy.head()
    path = state.path(toy, state.WORKER, "queue.json")
    state.write_json(path, [{"dataset": "other", "commit": head, "queued": 0},
                            {"dataset": "toy", "commit": head, "queued": 1}])
    status = state.path(toy, state.WORKER, "status.json")
    state.write_json(status, {"dataset": "other", "commit": head, "progress": {"fraction": 0.1}})
    with state.lock(toy, "worker-running"):  # a live worker
        at = app(toy)
        bar = at.get("progress")[0].proto.text
        assert f"Training other ({head[:8]})" in bar and "queued next" in bar
        state.write_json(status, {"dataset": "toy", "commit": head, "progress": {
            "fold": 1, "folds": 5, "epoch": 1, "epochs": 9, "rate": 1234.0, "fraction": 0.2}})
        at.run()
        state.write_json(status, {"dataset": "toy", "commit": head, "progress": {
            "fold": 2, "folds": 5, "epoch": 1, "epochs": 9, "rate": 1234.0, "fraction": 0.4}})
        at.run()
    text = at.get("progress")[0].proto.text
    assert "ETA" in text and "1,234 examples/s" in text


def test_a_burst_of_commits_shows_what_trains_and_the_newest_model(trained_ws, app, run):
    """Ada commits, then Grace, while the worker trains Ada's commit: the pages and `ide
    status` say which commit trains (with its progress) and that HEAD is queued after it,
    and the Review page shows the newest trained model meanwhile, saying which it is."""
    trained = trained_ws.head()
    staged.relabel(trained_ws, "toy", {"h/003.png": "h"}, owner=ADA)
    ada = commits.commit(trained_ws, "toy", "Ada's fix", owner=ADA)
    staged.relabel(trained_ws, "toy", {"v/004.png": "v"}, owner="Grace")
    grace = commits.commit(trained_ws, "toy", "Grace's fix", owner="Grace")
    state.write_json(state.path(trained_ws, state.WORKER, "queue.json"),
                     [{"dataset": "toy", "commit": ada, "queued": 0}])
    state.write_json(state.path(trained_ws, state.WORKER, "status.json"), {
        "dataset": "toy", "commit": ada, "progress": {
            "fold": 2, "folds": 5, "epoch": 1, "epochs": 9, "fraction": 0.4}})
    with state.lock(trained_ws, "worker-running"):  # a live worker, training Ada's commit
        status = worker.model_status(trained_ws, "toy")
        assert (status["state"], status["position"], status["now"]["commit"]) == \
            ("queued", 1, ada)
        code, out, _ = run(trained_ws, "status", "toy")
        assert f"model queued (training toy@{ada[:8]} first: fold 2/5, 40%)" in out
        at = app(trained_ws)
        for page in ("Review", "Label"):
            at.sidebar.radio(key="page").set_value(page).run()
            bar = at.get("progress")[0].proto.text
            assert f"Training the older commit {ada[:8]}: fold 2/5, 40%" in bar
            assert f"HEAD ({grace[:8]}) is queued next" in bar
            assert "not trained" not in texts(at.warning)
    at.sidebar.radio(key="page").set_value("Review").run()
    assert f"Showing the model of {trained[:8]}, not of HEAD ({grace[:8]})" in \
        texts(at.caption)


def test_the_deploy_button_is_hidden(toy, app):
    """By the config that `ide serve` runs the app with (toolbar mode "viewer") and by the
    page's own CSS."""
    assert app_command(8765)[-3:] == ["-m", "ide.serve.backend", "8765"]
    assert backend.CONFIG["client.toolbarMode"] == "viewer"
    css = " ".join(e.proto.body for e in app(toy).get("html"))
    assert "[data-testid='stAppDeployButton'] {display: none}" in css


def test_staged_owners_in_the_api(toy):
    staged.relabel(toy, "toy", {"h/001.png": "v"}, owner="Ann")
    staged.relabel(toy, "toy", {"h/002.png": "v"})  # the command line: the git identity
    staged.mark_checked(toy, "toy", ["d/001.png"], owner="Ann")
    assert [e["id"] for e in staged.read(toy, "toy")["labels"]] == ["h/002.png"]
    assert staged.others(toy, "toy")["checked"] == [{"id": "d/001.png", "owner": "Ann"}]
    with pytest.raises(IDEError, match="staged by Ann"):
        staged.relabel(toy, "toy", {"h/001.png": "d"})
    with pytest.raises(IDEError, match="it is Ann's"):
        staged.unstage(toy, "toy", ["h/001.png"])
    commits.commit(toy, "toy", "mine only")  # the command line's edit only
    assert versions.resolve(toy, "toy").labels["h/001.png"] == "h"
    assert staged.read(toy, "toy", owner="Ann") == {
        "labels": [{"id": "h/001.png", "old": "h", "new": "v"}], "checked": ["d/001.png"],
        "removed": [], "conflicts": []}
    staged.remove(toy, "toy", ["v/001.png"], owner="Ann")  # removals have owners too
    assert staged.others(toy, "toy")["removed"] == [{"id": "v/001.png", "old": "v",
                                                     "owner": "Ann"}]
    with pytest.raises(IDEError, match="staged by Ann"):
        staged.remove(toy, "toy", ["v/001.png"])
    staged.unstage(toy, "toy", owner="Ann")
    assert staged.read(toy, "toy", owner="Ann")["labels"] == []
    assert staged.read(toy, "toy", owner="Ann")["removed"] == []


def test_a_missing_image_is_shown_not_crashed_on(trained_ws, app):
    files = images.image_files(trained_ws, versions.resolve(trained_ws, "toy"))
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


def test_a_merge_conflict_is_settled_from_the_sidebar(toy, app):
    toy.git("checkout", "-q", "-b", "theirs")
    staged.relabel(toy, "toy", {"h/002.png": "v"})
    commits.commit(toy, "toy", "theirs")
    toy.git("checkout", "-q", "-")
    staged.relabel(toy, "toy", {"h/002.png": "d"})
    commits.commit(toy, "toy", "ours")
    toy.git("merge", "--no-edit", "theirs", check=False)
    at = app(toy)
    assert "Merge conflict `h/002.png`: ours d, theirs v (was h)" in texts(at.sidebar.error)
    at.sidebar.button(key="resolve_theirs_h/002.png").click().run()
    assert not at.exception and "h/002.png: v" in toasts(at)
    assert not toy.merging() and versions.resolve(toy, "toy").labels["h/002.png"] == "v"
