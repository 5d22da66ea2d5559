"""What the app's buttons do: the session state they change, the actions over the API
(`ide.repo.staged`, `ide.repo.commits`, `ide.repo.conflicts`) that they run (staging and
committing as the reviewer), and the messages of those actions, shown as toasts on the next run.

The `on_*` functions are widget callbacks: Streamlit runs them before the rerun that the
click starts, so the page that follows already shows their result. Those that stage rerun
only the parts of the page that show staged edits (`edited`), not the whole page.
"""

from __future__ import annotations

import functools

import streamlit as st

from ide.errors import IDEError
from ide.repo import commits, conflicts, staged

PAGE_SIZE = 50  # examples on a page of the Review gallery
NO_NAME = "Give your name in the sidebar first: your edits are staged and committed under it"


# -- session state -----------------------------------------------------------------------
def init_state() -> None:
    """Session state the page reads, set once per session; name and email come from the
    URL, where `remember` keeps them."""
    for key, value in {"cursor": 0, "user_name": st.query_params.get("name", ""),
                       "user_email": st.query_params.get("email", ""), "commit_message": "",
                       "newest_trained": None, "gallery_page": 1}.items():
        if key not in st.session_state:
            st.session_state[key] = value


def remember() -> None:
    """Keep name and email in the URL (a reload or a bookmark keeps them)."""
    for key, param in (("user_name", "name"), ("user_email", "email")):
        value = st.session_state[key].strip()
        if value:
            st.query_params[param] = value
        else:
            st.query_params.pop(param, None)


def owner() -> str | None:
    """The reviewer's name: whose staged edits these are (None: not given yet)."""
    return st.session_state.user_name.strip() or None


def refusal(example_id: str, theirs: dict[str, str]) -> str | None:
    """Why staging anything for EXAMPLE_ID would be refused, for a disabled button's help:
    no name given, or another reviewer's staged example (THEIRS: {id: who}); None: it
    would not be."""
    if owner() is None:
        return NO_NAME
    if example_id in theirs:
        return f"staged by {theirs[example_id]}: theirs until they commit or unstage it"
    return None


# -- running actions, and their messages -------------------------------------------------
def act(fn, *args, done: str | None = None, **kwargs) -> bool:
    """Run an action; its error or DONE becomes a toast on the next run."""
    try:
        fn(*args, **kwargs)
        if done:
            st.session_state.flash = ("success", done)
        return True
    except IDEError as exc:
        st.session_state.flash = ("error", str(exc))
        return False


def staging(fn, *args, done: str, **kwargs) -> bool:
    """An action that stages or unstages as the reviewer (refused without a name)."""
    if owner() is None:
        st.session_state.flash = ("error", NO_NAME)
        return False
    return act(fn, *args, done=done, owner=owner(), **kwargs)


def show_edits_in(fragments: list[str] | str) -> None:
    """Name the fragments of the page that show staged edits, once all are drawn ("app":
    the page shows them outside fragments)."""
    st.session_state.edits_shown_in = fragments


def edited(callback):
    """A callback that stages: after it, rerun what shows staged edits (`show_edits_in`),
    whichever fragment its widget is in; the rest of the page stays as it is, since a
    whole rerun of the Review page takes seconds where its fragments take tenths."""
    @functools.wraps(callback)
    def rerunning(*args, **kwargs):
        callback(*args, **kwargs)
        st.rerun(st.session_state.get("edits_shown_in", "app"))  # raises: must come last
    return rerunning


def flash_ui() -> None:
    """The message of the last action, as a toast: it floats, so the page does not shift."""
    flash = st.session_state.pop("flash", None)
    if flash:
        kind, text = flash
        st.toast(text, icon={"success": "✅", "info": "ℹ️"}.get(kind, "⚠️"),
                 duration="short" if kind == "success" else "long")


# -- moving the focus and the gallery ----------------------------------------------------
def step(delta: int) -> None:
    """Move the focused example by DELTA; the gallery follows it to its page."""
    last = max(0, st.session_state.get("n_shown", 1) - 1)
    st.session_state.cursor = min(last, max(0, st.session_state.cursor + delta))
    st.session_state.gallery_page = st.session_state.cursor // PAGE_SIZE + 1


def turn_page(delta: int) -> None:
    """Go DELTA gallery pages on; the focus starts at the top of the page."""
    pages = max(1, -(-st.session_state.get("n_shown", 0) // PAGE_SIZE))
    st.session_state.gallery_page = min(pages, max(1, st.session_state.gallery_page + delta))
    on_page()


def on_page() -> None:
    st.session_state.cursor = (st.session_state.gallery_page - 1) * PAGE_SIZE


def on_more_like(ws, name, commit: str, example_id: str) -> None:
    """More like this: the Review page's gallery shows EXAMPLE_ID and its nearest
    neighbours in COMMIT's embedding space (a page of them, itself first); the whole page
    reruns, since the filters (`ide.app.review_page.filters_ui`) change."""
    from ide.app import loaders
    from ide.ops import atlas

    try:
        ids, z = loaders.load_embeddings(str(ws.root), name, commit)
    except IDEError as exc:
        st.session_state.flash = ("error", str(exc))
        return
    if example_id in ids:
        picked, _ = atlas.nearest(z, ids.index(example_id), PAGE_SIZE)
        st.session_state.like = {"commit": commit, "of": example_id,
                                 "ids": [ids[n] for n in picked]}
        st.session_state.page = "Review"  # from the Map page too
    st.rerun()


def on_all_examples() -> None:
    st.session_state.pop("like", None)


# -- staging, committing -----------------------------------------------------------------
@edited
def on_relabel(ws, name, edits: dict, seen: dict, then: int = 0) -> None:
    """Stage EDITS made on the labels SEEN; if they were staged, move the focus by THEN."""
    if staging(staged.relabel, ws, name, edits, expected=seen,
               done=f"staged {len(edits)} edit(s)"):
        step(then)


@edited
def on_check(ws, name, example_id: str) -> None:
    if staging(staged.mark_checked, ws, name, [example_id],
               done=f"{example_id} marked as checked"):
        step(1)


@edited
def on_uncheck(ws, name, example_id: str) -> None:
    """Take back the reviewer's checked mark of EXAMPLE_ID (K again)."""
    staging(staged.unmark_checked, ws, name, [example_id],
            done=f"{example_id}: checked mark undone")


@edited
def on_remove(ws, name, example_id: str) -> None:
    if staging(staged.remove, ws, name, [example_id], done=f"{example_id}: removal staged"):
        step(1)


@edited
def on_unstage(ws, name, example_id: str) -> None:
    staging(staged.unstage, ws, name, [example_id], done=f"{example_id} unstaged")


@edited
def on_keep_mine(ws, name, example_id: str, label: str) -> None:
    staging(staged.relabel, ws, name, {example_id: label}, done=f"{example_id}: kept {label}")


def on_settle(ws, name, example_id: str, label: str) -> None:
    """Settle a label conflict with LABEL (the merge is committed, or the rebase goes on,
    once none is left); the whole page reruns, as HEAD may have moved."""
    act(conflicts.settle, ws, name, {example_id: label}, done=f"{example_id}: {label}")
    st.rerun()


@edited
def on_assign(ws, name, selected: list[str], current: dict, key: str) -> None:
    # A callback: read widget values from session state, not this run's.
    cls = st.session_state[key]
    edits = {i: cls for i in selected if current[i] != cls}
    if not edits:
        st.session_state.flash = ("info", f"nothing staged: the {len(selected)} selected "
                                          f"already have label {cls}")
        return
    if staging(staged.relabel, ws, name, edits, expected={i: current[i] for i in edits},
               done=f"staged {len(edits)} edit(s)" + (
                   f" ({len(selected) - len(edits)} already {cls})"
                   if len(edits) < len(selected) else "")):
        for i in selected:
            st.session_state[f"sel_{i}"] = False


def on_commit(ws, name, author) -> None:
    message = st.session_state.commit_message.strip()
    if not message:
        st.session_state.flash = ("error", "empty commit message: say what you fixed")
    elif owner() is None:
        st.session_state.flash = ("error", NO_NAME)
    elif act(commits.commit, ws, name, message, author=author, owner=owner(),
             done="committed; retraining starts by itself"):
        st.session_state.commit_message = ""
    st.rerun()  # the whole page, from the sidebar's fragment: HEAD moved


# -- from the History page to the Review page --------------------------------------------
def on_open_cell(key: str, classes: list[str], viewed: str) -> None:
    """A click on a confusion-matrix cell: its examples on the Review page."""
    points = st.session_state[key].selection.get("cell", [])
    if points:
        given, predicted = points[0]["given"], points[0]["predicted"]
        if given in classes and predicted in classes:
            open_in_review([given], [predicted], viewed)


def open_in_review(given: list[str], predicted: list[str], viewed: str | None) -> None:
    st.session_state.update(f_given=given, f_pred=predicted, f_pair="any", f_only=False,
                            f_id="", page="Review")
    if viewed:
        st.session_state.viewed = viewed
