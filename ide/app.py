"""The IDE in the browser: review suspects, relabel, commit, watch the model improve.

A shell: `main()` and small `*_ui()` functions over the same API and read model as the CLI
(`ide.views`, `ide.staged`, `ide.commits`, `ide.runs`, `ide.worker`); `ide serve` runs it
with the workspace in IDE_WORKSPACE. Two pages: Review (gallery of the most suspicious
examples of the viewed commit, relabelling, staged edits, commit) and History (commits and
metrics, diffs as images, an example's label history, the confusion matrix).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import streamlit as st

from ide import commits, history, images, runs, staged, store, thumbs, views, worker
from ide.errors import IDEError
from ide.workspace import Workspace

PAGE_SIZE = 50
COLUMNS = 5


# -- data, cached by what it depends on --------------------------------------------------
# cache_resource, not cache_data: these are read-only and large, and cache_data would
# unpickle a fresh copy on every call (51 calls a page).
@st.cache_resource(show_spinner=False, max_entries=8)
def load_ranking(root: str, name: str, commit: str) -> runs.Ranking:
    ws = Workspace(root)
    return runs.ranking(ws, store.resolve(ws, name, commit))


@st.cache_resource(show_spinner=False, max_entries=8)
def load_images(root: str, name: str, commit: str) -> dict:
    ws = Workspace(root)
    return images.image_files(ws, store.resolve(ws, name, commit))


@st.cache_data(show_spinner=False, max_entries=20000)
def load_thumb(root: str, md5: str, path: str) -> bytes | None:
    return thumbs.thumbnail(Workspace(root), md5, path)


def image_of(ws, name, commit, example_id):
    entry = load_images(str(ws.root), name, commit).get(example_id)
    return load_thumb(str(ws.root), entry[0], str(entry[1])) if entry else None


# -- session state and actions -----------------------------------------------------------
def init_state() -> None:
    """Session state the page reads, set once per session."""
    for key, value in {"cursor": 0, "user_name": "",
                       "user_email": "", "commit_message": "", "newest_trained": None}.items():
        if key not in st.session_state:
            st.session_state[key] = value


def act(fn, *args, done: str | None = None, **kwargs) -> bool:
    """Run an action; its error or DONE becomes a message shown on the next run."""
    try:
        fn(*args, **kwargs)
        if done:
            st.session_state.flash = ("success", done)
        return True
    except IDEError as exc:
        st.session_state.flash = ("error", str(exc))
        return False


def flash_ui() -> None:
    flash = st.session_state.pop("flash", None)
    if flash:
        getattr(st, flash[0])(flash[1])


def step(delta: int) -> None:
    st.session_state.cursor = max(0, st.session_state.cursor + delta)


def on_relabel(ws, name, edits: dict, seen: dict, then: int = 0) -> None:
    """Stage EDITS made on the labels SEEN; then move the keyboard cursor by THEN."""
    act(staged.relabel, ws, name, edits, expected=seen, done=f"staged {len(edits)} edit(s)")
    step(then)


def on_check(ws, name, example_id: str) -> None:
    act(staged.mark_checked, ws, name, [example_id], done=f"{example_id} marked as checked")
    step(1)


def on_unstage(ws, name, example_id: str) -> None:
    act(staged.unstage, ws, name, [example_id])


def on_keep_mine(ws, name, example_id: str, label: str) -> None:
    act(staged.relabel, ws, name, {example_id: label}, done=f"{example_id}: kept {label}")


def on_resolve(ws, name, example_id: str, label: str) -> None:
    act(commits.resolve, ws, name, {example_id: label}, done=f"{example_id}: {label}")


def on_assign(ws, name, selected: list[str], current: dict) -> None:
    # A callback: read widget values from session state, not this run's.
    cls = st.session_state.bulk_class
    on_relabel(ws, name, {i: cls for i in selected}, {i: current[i] for i in selected})
    for i in selected:
        st.session_state[f"sel_{i}"] = False


def on_commit(ws, name, author) -> None:
    message = st.session_state.commit_message.strip()
    act(commits.commit, ws, name, message or "Label fixes from review", author=author,
        done="committed; retraining starts by itself")
    st.session_state.commit_message = ""


# -- pieces of the page ------------------------------------------------------------------
def sidebar_ui(ws) -> tuple[str | None, str | None, str]:
    st.sidebar.title("Dataset IDE")
    names = store.datasets(ws)
    page = st.sidebar.radio("Page", ["Review", "History"], key="page")
    name = st.sidebar.selectbox("Dataset", names, key="dataset") if names else None
    st.sidebar.caption(f"On branch `{ws.branch() or 'detached HEAD'}`")
    st.sidebar.text_input("Your name", key="user_name", placeholder="Ada Lovelace")
    st.sidebar.text_input("Your email", key="user_email", placeholder="ada@example.org")
    who, email = st.session_state.user_name.strip(), st.session_state.user_email.strip()
    author = f"{who} <{email or 'unknown@localhost'}>" if who else None
    return name, author, page


@st.fragment(run_every=2)
def status_ui(ws, name) -> None:
    """The model of HEAD: trained, training (with progress) or queued; reruns the page
    when a training finishes, so the new ranking appears without a manual refresh."""
    status = worker.model_status(ws, name)
    state = status["state"]
    if state == "training":
        st.progress(status.get("fraction", 0.0), text=f"Training HEAD: {status['progress']}")
    elif state == "queued":
        st.info("HEAD is queued for training" + ("" if status.get("worker") else
                " (no worker running: start `ide watch` or `ide serve`)"))
    elif state == "failed":
        st.error(f"Training HEAD failed: {status['error']}")
    elif state == "not trained":
        st.warning("HEAD is not trained" + ("" if status.get("worker") else
                   ": run `ide retrain` or keep `ide serve` running"))
    key = f"state_{name}"
    before = st.session_state.get(key)
    st.session_state[key] = (status["commit"], state)
    if before and before != (status["commit"], state) and state == "trained":
        st.rerun(scope="app")


def viewed_commit(ws, name) -> str | None:
    """HEAD if it is trained, else the newest trained commit (or the one picked)."""
    log = views.log(ws, name)
    done = [e for e in log if e["metrics"]]
    if not done:
        return None
    options = {f"{e['commit'][:8]}  {e['message'][:40]}": e["commit"] for e in done}
    newest = next(iter(options))
    if st.session_state.newest_trained != newest:
        # A training finished since the last run: show its ranking, not the one picked before.
        st.session_state.newest_trained = st.session_state.viewed = newest
    picked = st.sidebar.selectbox("Viewing the model of", list(options), key="viewed")
    commit = options[picked]
    if commit != log[0]["commit"]:
        st.caption(f"Showing the model of {commit[:8]}, not of HEAD ({log[0]['commit'][:8]}).")
    return commit


def filters_ui(r: runs.Ranking) -> np.ndarray:
    """Indices of the examples to show, most suspicious first."""
    c1, c2, c3, c4 = st.columns([2, 2, 3, 1.3])
    given = c1.multiselect("Given class", r.classes, key="f_given")
    predicted = c2.multiselect("Predicted class", r.classes, key="f_pred")
    pairs = {f"{a} → {b} ({n})": (a, b) for a, b, n in views.confusion_pairs(r)}
    pair = c3.selectbox("Confusion (given → predicted)", ["any", *pairs], key="f_pair")
    only = c4.checkbox("Only suspects", key="f_only")
    return views.shown(r, given=given, predicted=predicted, pair=pairs.get(pair),
                       only_suspects=only)


def shortcut_keys(classes: list[str]) -> list[str | None]:
    """Digit keys for classes: the class name itself for digit classes, else 1..9."""
    if all(len(c) == 1 and c.isdigit() for c in classes):
        return list(classes)
    return [str(j + 1) if j < 9 else None for j in range(len(classes))]


def focus_ui(ws, name, commit, r, shown, current) -> None:
    """One example at a time, driven by the keyboard: N/P move, A accepts, K keeps."""
    if not len(shown):
        return
    st.session_state.cursor = min(st.session_state.cursor, len(shown) - 1)
    row = r.rows([shown[st.session_state.cursor]])[0]
    i, now = row["id"], current[row["id"]]
    left, right = st.columns([1, 3])
    picture = image_of(ws, name, commit, i)
    if picture:
        left.image(picture, width=160)
    else:
        left.warning("image missing")
    right.markdown(f"**{st.session_state.cursor + 1} / {len(shown)}** · `{i}` · given "
                   f"**{now}** · suggested **{row['predicted']}** "
                   f"({row['probability']:.0%}) · loss {row['loss']:.2f}")
    b = right.columns(4)
    b[0].button("Previous (P)", key="k_prev", shortcut="P", on_click=step, args=(-1,))
    b[1].button("Next (N)", key="k_next", shortcut="N", on_click=step, args=(1,))
    b[2].button(f"Accept {row['predicted']} (A)", key="k_accept", shortcut="A",
                type="primary", disabled=row["predicted"] == now, on_click=on_relabel,
                args=(ws, name, {i: row["predicted"]}, {i: now}, 1))
    b[3].button("Label is right (K)", key="k_keep", shortcut="K", on_click=on_check,
                args=(ws, name, i))
    keys = shortcut_keys(r.classes)
    cols = right.columns(min(len(r.classes), 10))
    for j, (cls, key) in enumerate(zip(r.classes, keys)):
        cols[j % len(cols)].button(
            f"{cls}" + (f" ({key})" if key and key != cls else ""), key=f"k_class_{j}",
            shortcut=key, disabled=cls == now, on_click=on_relabel,
            args=(ws, name, {i: cls}, {i: now}, 1))


@st.fragment
def grid_ui(ws, name, commit, r, shown) -> None:
    """The review grid (bulk assign and gallery): a fragment, so that an Accept or a tick
    reruns the grid only, not the whole page. It reads the labels itself for that reason."""
    current = views.working_labels(ws, name, r)
    flash_ui()
    bulk_ui(ws, name, r.classes, current)
    gallery_ui(ws, name, commit, r, shown, current)


def gallery_ui(ws, name, commit, r, shown, current) -> None:
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    top = st.columns([1, 3])
    page = top[0].number_input(f"Page (of {pages})", 1, pages, key="gallery_page")
    top[1].caption(f"{len(shown)} examples match; most suspicious first. "
                   "Score: the model's probability of the given label.")
    rows = r.rows(shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE])
    for start in range(0, len(rows), COLUMNS):
        for col, row in zip(st.columns(COLUMNS), rows[start:start + COLUMNS]):
            i, now = row["id"], current[row["id"]]
            picture = image_of(ws, name, commit, i)
            if picture:
                col.image(picture, width=96)
            else:
                col.caption("image missing")
            flag = " ⚠" if row["suspect"] else ""
            col.markdown(f"`{i}`{flag}  \n{now} → **{row['predicted']}** "
                         f"({row['probability']:.0%})")
            if row["predicted"] != now:
                col.button(f"Accept {row['predicted']}", key=f"acc_{i}", on_click=on_relabel,
                           args=(ws, name, {i: row["predicted"]}, {i: now}))
            col.checkbox("select", key=f"sel_{i}")


def bulk_ui(ws, name, classes, current) -> None:
    selected = [k[4:] for k, v in st.session_state.items()
                if k.startswith("sel_") and v and k[4:] in current]
    if not selected:
        return
    c1, c2 = st.columns([1, 3])
    c1.selectbox(f"Assign {len(selected)} selected to", classes, key="bulk_class")
    c2.button("Assign", key="bulk_assign", on_click=on_assign,
              args=(ws, name, selected, current))


def conflicts_ui(ws, name, stage: dict) -> None:
    """Staged edits that HEAD changed under (keep mine, or take theirs), and the label
    conflicts of an unfinished git merge (pick one side)."""
    for c in stage["conflicts"]:
        st.sidebar.warning(f"`{c['id']}` changed to {c['theirs']} since you staged "
                           f"{c['yours']} (it was {c['base']})")
        c1, c2 = st.sidebar.columns(2)
        c1.button(f"Keep mine ({c['yours']})", key=f"mine_{c['id']}", on_click=on_keep_mine,
                  args=(ws, name, c["id"], c["yours"]))
        c2.button(f"Take theirs ({c['theirs']})", key=f"theirs_{c['id']}",
                  on_click=on_unstage, args=(ws, name, c["id"]))
    for c in commits.merge_conflicts(ws, name):
        st.sidebar.error(f"Merge conflict `{c['id']}`: ours {c['ours']}, theirs "
                         f"{c['theirs']} (was {c['base']})")
        for side in ("ours", "theirs"):
            if c[side] is not None:
                st.sidebar.button(f"Use {side} ({c[side]})", key=f"resolve_{side}_{c['id']}",
                                  on_click=on_resolve, args=(ws, name, c["id"], c[side]))


def staged_ui(ws, name, author, stage: dict) -> None:
    conflicts_ui(ws, name, stage)
    edits, marks = stage["labels"], stage["checked"]
    st.sidebar.subheader(f"Staged: {len(edits)} edit(s), {len(marks)} checked")
    for e in edits:
        c1, c2 = st.sidebar.columns([4, 1])
        c1.write(f"`{e['id']}` {e['old']} → {e['new']}")
        c2.button("↺", key=f"undo_{e['id']}", help="unstage", on_click=on_unstage,
                  args=(ws, name, e["id"]))
    for i in marks:
        st.sidebar.write(f"`{i}` ✓ checked")
    if edits or marks:
        st.sidebar.text_input("Commit message", key="commit_message",
                              placeholder="Fix mislabelled digits")
        st.sidebar.button("Commit", key="commit", type="primary", on_click=on_commit,
                          args=(ws, name, author))


def review_page(ws, name, author) -> None:
    status_ui(ws, name)
    commit = viewed_commit(ws, name)
    staged_ui(ws, name, author, staged.read(ws, name))
    if commit is None:
        st.info(f"No trained model for {name} yet: the ranking appears when the first "
                "training finishes.")
        return
    r = load_ranking(str(ws.root), name, commit)
    m = runs.metrics(ws, name, commit)
    c = st.columns(3)
    c[0].metric("Out-of-fold accuracy", f"{m['accuracy']:.2%}")
    c[1].metric("Suspected label errors", m["suspects"])
    c[2].metric("Examples", m["examples"])
    shown = filters_ui(r)
    focus_ui(ws, name, commit, r, shown, views.working_labels(ws, name, r))
    grid_ui(ws, name, commit, r, shown)


def history_page(ws, name) -> None:
    log = views.log(ws, name)
    table = pd.DataFrame([{
        "commit": e["commit"][:10], "date": e["date"][:16].replace("T", " "),
        "author": e["author"], "message": e["message"], "edits": e["edits"],
        "accuracy": e["metrics"]["accuracy"] if e["metrics"] else None,
        "suspects": e["metrics"]["suspects"] if e["metrics"] else None} for e in log])
    st.subheader("Commits")
    st.dataframe(table, hide_index=True, width="stretch")
    trend = table.dropna(subset=["accuracy"]).iloc[::-1]
    if len(trend):
        for col, field, title in zip(st.columns(2), ["accuracy", "suspects"],
                                     ["Out-of-fold accuracy", "Suspected label errors"]):
            # Points as well as lines: a single trained commit must still show. A Vega-Lite
            # spec, not altair: importing altair made the first History visit 0.7 s slower.
            col.vega_lite_chart(trend, {
                "title": title, "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": {"field": "commit", "type": "nominal", "sort": None,
                          "title": "commit (oldest first)"},
                    "y": {"field": field, "type": "quantitative", "scale": {"zero": False},
                          "title": None},
                    "tooltip": [{"field": f} for f in ("commit", "message", field)]}},
                width="stretch")

    st.subheader("What a commit changed")
    options = {f"{e['commit'][:10]}  {e['message'][:50]}": e["commit"] for e in log}
    picked = st.selectbox("Commit", list(options), key="diff_commit")
    changes = history.commit_diff(ws, store.resolve(ws, name, options[picked]))
    st.caption(f"{len(changes)} label change(s)")
    for start in range(0, min(len(changes), 100), COLUMNS):
        for col, ch in zip(st.columns(COLUMNS), changes[start:start + COLUMNS]):
            picture = image_of(ws, name, options[picked], ch["id"])
            if picture:
                col.image(picture, width=72)
            col.markdown(f"`{ch['id']}`  \n{ch['old']} → **{ch['new']}**")

    st.subheader("Label history of an example")
    example = st.text_input("Example id", key="history_id", placeholder="e.g. 7/0123.png")
    if example:
        try:
            st.dataframe(pd.DataFrame(history.history(ws, name, example.strip())),
                         hide_index=True, width="stretch")
        except IDEError as exc:
            st.error(str(exc))

    trained_log = [e for e in log if e["metrics"]]
    if trained_log:
        st.subheader(f"Confusion matrix of {trained_log[0]['commit'][:10]}")
        r = load_ranking(str(ws.root), name, trained_log[0]["commit"])
        counts = views.confusion_matrix(r)
        st.caption("Rows: given label; columns: out-of-fold prediction.")
        st.dataframe(pd.DataFrame(counts, index=[f"given {c}" for c in r.classes],
                                  columns=[f"pred {c}" for c in r.classes]))


def main() -> None:
    st.set_page_config(page_title="Dataset IDE", layout="wide")
    init_state()
    try:
        ws = Workspace.find(os.environ.get("IDE_WORKSPACE"))
    except IDEError as exc:
        st.error(str(exc))
        return
    name, author, page = sidebar_ui(ws)
    flash_ui()
    if name is None:
        st.info("No dataset yet: import one with `ide import NAME SRC` (or try `ide demo`).")
        return
    try:
        if page == "Review":
            review_page(ws, name, author)
        else:
            history_page(ws, name)
    except IDEError as exc:
        st.error(str(exc))


if __name__ == "__main__":  # how `streamlit run` and AppTest run this file
    main()
