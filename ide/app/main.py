"""The IDE in the browser: review suspects, relabel, commit, watch the model improve.

A shell: `main()` and small `*_ui()` functions over the same API and read model as the CLI
(`ide.views`, `ide.staged`, `ide.commits`, `ide.runs`, `ide.worker`); `ide serve` runs it
with the workspace in IDE_WORKSPACE. Pages (`PAGES`): Review (gallery of the most
suspicious examples of the viewed commit, the focused example, relabelling, removing, staged
edits, commit), Label (the unlabelled queue with the model's suggestions, `ide.label_page`)
and History (commits and metrics, growth, diffs as images, an example's label history,
confusion matrices that open their cells on the Review page).

Each reviewer gives a name (kept in the URL, so a reload or a bookmark keeps it); their
staged edits are theirs (`ide.staged` owners): a commit takes only their own, and the
others' pending edits are listed read-only. Messages are toasts, so the page never shifts.
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter

import numpy as np
import pandas as pd
import streamlit as st

from ide.app import label_page, thumbs
from ide.learn import ranking, runs
from ide.ops import views, worker
from ide.repo import commits, conflicts, history, images, staged, versions
from ide.errors import IDEError
from ide.repo.workspace import Workspace

PAGE_SIZE = 50
COLUMNS = 5
NO_NAME = "Give your name in the sidebar first: your edits are staged and committed under it"


# -- data, cached by what it depends on --------------------------------------------------
# cache_resource, not cache_data: these are read-only and large, and cache_data would
# unpickle a fresh copy on every call (51 calls a page).
@st.cache_resource(show_spinner=False, max_entries=8)
def load_ranking(root: str, name: str, commit: str) -> ranking.Ranking:
    ws = Workspace(root)
    return ranking.load(ws, versions.resolve(ws, name, commit))


@st.cache_resource(show_spinner=False, max_entries=8)
def load_images(root: str, name: str, commit: str) -> dict:
    ws = Workspace(root)
    return images.image_files(ws, versions.resolve(ws, name, commit))


@st.cache_resource(show_spinner=False, max_entries=8)
def id_array(root: str, name: str, commit: str) -> np.ndarray:
    """A ranking's ids as an array (for the id search): made once per commit, not per rerun."""
    return np.asarray(load_ranking(root, name, commit).ids)


@st.cache_data(show_spinner=False, max_entries=20000)
def load_thumb(root: str, md5: str, path: str, big: bool = False) -> bytes | None:
    ws = Workspace(root)
    return thumbs.zoom(ws, md5, path) if big else thumbs.thumbnail(ws, md5, path)


@st.cache_resource(show_spinner=False, max_entries=8)
def load_special(root: str, name: str, commit: str, kind: str) -> list[str]:
    """Ids of the commit's duplicates (pair by pair) or its 50 worst outliers."""
    from ide.ops import duplicates

    ws = Workspace(root)
    if kind == "duplicates":
        return [i for r in duplicates.duplicates(ws, name, rev=commit) for i in (r["a"], r["b"])]
    return [r["id"] for r in duplicates.outliers(ws, name, rev=commit, top=50)]


def image_of(ws, name, commit, example_id, big: bool = False):
    entry = load_images(str(ws.root), name, commit).get(example_id)
    return load_thumb(str(ws.root), entry[0], str(entry[1]), big) if entry else None


# -- session state and actions -----------------------------------------------------------
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
    """An action that stages or unstages as the reviewer (refused without a name); the
    whole page reruns after it, so the sidebar's staged list is current."""
    if owner() is None:
        st.session_state.flash = ("error", NO_NAME)
        return False
    st.session_state.refresh = True
    return act(fn, *args, done=done, owner=owner(), **kwargs)


def flash_ui() -> None:
    """The message of the last action, as a toast: it floats, so the page does not shift."""
    flash = st.session_state.pop("flash", None)
    if flash:
        kind, text = flash
        st.toast(text, icon={"success": "✅", "info": "ℹ️"}.get(kind, "⚠️"),
                 duration="short" if kind == "success" else "long")


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


def on_relabel(ws, name, edits: dict, seen: dict, then: int = 0) -> None:
    """Stage EDITS made on the labels SEEN; if they were staged, move the focus by THEN."""
    if staging(staged.relabel, ws, name, edits, expected=seen,
               done=f"staged {len(edits)} edit(s)"):
        step(then)


def on_check(ws, name, example_id: str) -> None:
    if staging(staged.mark_checked, ws, name, [example_id],
               done=f"{example_id} marked as checked"):
        step(1)


def on_remove(ws, name, example_id: str) -> None:
    if staging(staged.remove, ws, name, [example_id], done=f"{example_id}: removal staged"):
        step(1)


def on_unstage(ws, name, example_id: str) -> None:
    staging(staged.unstage, ws, name, [example_id], done=f"{example_id} unstaged")


def on_keep_mine(ws, name, example_id: str, label: str) -> None:
    staging(staged.relabel, ws, name, {example_id: label}, done=f"{example_id}: kept {label}")


def on_resolve(ws, name, example_id: str, label: str) -> None:
    act(commits.resolve, ws, name, {example_id: label}, done=f"{example_id}: {label}")


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


# -- pieces of the page ------------------------------------------------------------------
def sidebar_ui(ws) -> tuple[str | None, str | None, str]:
    st.sidebar.title("Dataset IDE")
    names = versions.datasets(ws)
    page = st.sidebar.radio("Page", list(PAGES), key="page")
    name = st.sidebar.selectbox("Dataset", names, key="dataset") if names else None
    st.sidebar.caption(f"On branch `{ws.branch() or 'detached HEAD'}`")
    st.sidebar.text_input("Your name", key="user_name", placeholder="Ada Lovelace",
                          on_change=remember)
    st.sidebar.text_input("Your email", key="user_email", placeholder="ada@example.org",
                          on_change=remember)
    who, email = st.session_state.user_name.strip(), st.session_state.user_email.strip()
    author = f"{who} <{email or 'unknown@localhost'}>" if who else None
    return name, author, page


def eta(status: dict) -> str:
    """"ETA 1m 20s · 310 examples/s" of a training phase, from the worker's rate, or from
    how fast its fraction moved since this session first saw that phase."""
    key = f"eta_{status['commit']}_{status.get('phase')}"
    f = status.get("fraction", 0.0)
    t0, f0 = st.session_state.setdefault(key, (time.time(), f))
    speed = (f - f0) / (time.time() - t0) if f > f0 else 0.0
    rate = status.get("rate")
    parts = []
    if speed > 0:
        left = int((1 - f) / speed)
        parts.append(f"ETA {left // 60}m {left % 60:02d}s" if left >= 60 else f"ETA {left}s")
    if rate:
        parts.append(f"{rate:,.0f} examples/s")
    return " · ".join(parts)


@st.fragment(run_every=2)
def status_ui(ws, name) -> None:
    """The model of HEAD: trained, training (with progress and ETA) or queued (with its
    place); reruns the page when a training finishes, so the new ranking appears without
    a manual refresh."""
    status = worker.model_status(ws, name)
    state = status["state"]
    if state == "training":
        more = eta(status)
        st.progress(status.get("fraction", 0.0), text=f"Training HEAD: {status['progress']}"
                    + (f" · {more}" if more else ""))
    elif state == "queued":
        place = status.get("position", 1)
        st.info("HEAD is queued for training" + (
            f" (position {place}" + (f"; training {status['training']} now" if
                                     status.get("training") else "") + ")"
            if place > 1 or status.get("training") else "") + (
            "" if status.get("worker") else
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
    if st.session_state.get("viewed") not in options:
        st.session_state.viewed = newest
    picked = st.sidebar.selectbox("Viewing the model of", list(options), key="viewed")
    commit = options[picked]
    if commit != log[0]["commit"]:
        st.caption(f"Showing the model of {commit[:8]}, not of HEAD ({log[0]['commit'][:8]}).")
    return commit


def filters_ui(ws, name, r: ranking.Ranking) -> np.ndarray:
    """Indices of the examples to show, most suspicious first; the focus and the gallery
    go back to the top when the filters or the ranking change."""
    c1, c2, c3, c4, c5, c6 = st.columns([2, 2, 3, 2, 1.3, 1.6])
    given = c1.multiselect("Given class", r.classes, key="f_given")
    predicted = c2.multiselect("Predicted class", r.classes, key="f_pred")
    pairs = {f"{a} → {b} ({n})": (a, b) for a, b, n in views.confusion_pairs(r)}
    if st.session_state.get("f_pair", "any") not in ("any", *pairs):
        st.session_state.f_pair = "any"
    pair = c3.selectbox("Confusion (given → predicted)", ["any", *pairs], key="f_pair")
    query = c4.text_input("Find id", key="f_id", placeholder=r.ids[0] if r.ids else "")
    only = c5.checkbox("Only suspects", key="f_only")
    special = c6.selectbox("Show", ["all", "duplicates", "outliers"], key="f_special")
    shown = views.shown(r, given=given, predicted=predicted, pair=pairs.get(pair),
                        only_suspects=only)
    if special != "all":
        shown = views.only(r, shown, load_special(str(ws.root), name, r.commit, special))
    if query.strip():
        ids = id_array(str(ws.root), name, r.commit)
        shown = shown[np.char.find(ids[shown], query.strip()) >= 0]
    where = (r.commit, tuple(given), tuple(predicted), pair, only, special, query.strip())
    if st.session_state.get("where") != where:
        st.session_state.where = where
        st.session_state.cursor, st.session_state.gallery_page = 0, 1
    st.session_state.n_shown = len(shown)
    return shown


def shortcut_keys(classes: list[str]) -> list[str | None]:
    """Digit keys for classes: the class name itself for digit classes, else 1..9."""
    if all(len(c) == 1 and c.isdigit() for c in classes):
        return list(classes)
    return [str(j + 1) if j < 9 else None for j in range(len(classes))]


def focus_ui(ws, name, commit, r, shown, current, editable: bool) -> None:
    """One example at a time, driven by the keyboard: N/P move, A accepts, K keeps. It is
    the example under the gallery's cursor: it follows the filters and the gallery page."""
    if not len(shown):
        st.info("No example matches the filters.")
        return
    st.session_state.cursor = min(st.session_state.cursor, len(shown) - 1)
    n = int(shown[st.session_state.cursor])
    row = r.rows([n])[0]
    i, now = row["id"], current[row["id"]]
    left, right = st.columns([1, 3])
    picture = image_of(ws, name, commit, i, big=True)
    if picture:
        # The zoom: the whole image; its fullscreen button shows it at its own size.
        left.image(picture, width=220)
    else:
        left.warning("image missing")
    index = {c: j for j, c in enumerate(r.classes)}
    top = np.argsort(-r.probs[n])[:3]
    right.markdown(f"**{st.session_state.cursor + 1} / {len(shown)}** · `{i}` · given "
                   f"**{now}** ({r.probs[n, index[now]]:.0%}) · suggested "
                   f"**{row['predicted']}** ({row['probability']:.0%}) · loss "
                   f"{row['loss']:.2f}")
    right.caption("Top 3: " + " · ".join(f"{r.classes[k]} {r.probs[n, k]:.0%}" for k in top))
    b = right.columns(4)
    b[0].button("Previous (P)", key="k_prev", shortcut="P", on_click=step, args=(-1,))
    b[1].button("Next (N)", key="k_next", shortcut="N", on_click=step, args=(1,))
    b[2].button(f"Accept {row['predicted']} (A)", key="k_accept", shortcut="A",
                type="primary", disabled=row["predicted"] == now or not editable,
                on_click=on_relabel, args=(ws, name, {i: row["predicted"]}, {i: now}, 1))
    b[3].button("Label is right (K)", key="k_keep", shortcut="K", on_click=on_check,
                args=(ws, name, i), disabled=not editable)
    right.button("Remove (X)", key="k_remove", shortcut="X", on_click=on_remove,
                 args=(ws, name, i), disabled=not editable,
                 help="stage the removal of this example")
    keys = shortcut_keys(r.classes)
    cols = right.columns(min(len(r.classes), 10))
    for j, (cls, key) in enumerate(zip(r.classes, keys)):
        cols[j % len(cols)].button(
            f"{cls}" + (f" ({key})" if key and key != cls else ""), key=f"k_class_{j}",
            shortcut=key, disabled=cls == now or not editable, on_click=on_relabel,
            args=(ws, name, {i: cls}, {i: now}, 1))


@st.fragment
def grid_ui(ws, name, commit, r, shown) -> None:
    """The focused example, the gallery and its bulk assign: a fragment, so that a tick or
    a page turn reruns this part only (an edit reruns the page: the sidebar lists it)."""
    if st.session_state.pop("refresh", False):
        st.rerun(scope="app")
    flash_ui()
    current = views.working_labels(ws, name, r)
    who = owner()
    if who is None:
        st.info(NO_NAME + ".")
    version = versions.resolve(ws, name)
    mine = staged.read(ws, name, version, who)
    theirs = staged.others(ws, name, version, who)
    badges = {e["id"]: ":orange-badge[staged]" for e in mine["labels"]}
    badges.update({e["id"]: f":gray-badge[staged by {e['owner'] or 'command line'}]"
                   for e in theirs["labels"]})
    badges.update({i: ":green-badge[checked]" for i in mine["checked"]})
    badges.update({e["id"]: ":red-badge[removed]" for e in mine["removed"]})
    focus_ui(ws, name, commit, r, shown, current, who is not None)
    st.divider()
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    st.session_state.gallery_page = min(st.session_state.gallery_page, pages)
    selected = [k[4:] for k, v in st.session_state.items()
                if k.startswith("sel_") and v and k[4:] in current]
    pager_ui(pages, "top")
    st.caption(f"{len(shown)} examples match; most suspicious first. Each card: given → "
               "**suggested** label, with the model's out-of-fold probability of each.")
    bulk_ui(ws, name, commit, r, selected, current, "top", who is not None)
    page = st.session_state.gallery_page
    gallery_ui(ws, name, commit, r, shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], current,
               badges, who is not None)
    bulk_ui(ws, name, commit, r, selected, current, "bottom", who is not None)
    pager_ui(pages, "bottom")


def pager_ui(pages: int, where: str) -> None:
    """Previous / next page (Shift+P / Shift+N), above and below the gallery."""
    c = st.columns([1, 1, 1, 3] if where == "top" else [1, 1, 4])
    c[0].button("◀ Previous page", key=f"page_prev_{where}", on_click=turn_page, args=(-1,),
                disabled=st.session_state.gallery_page <= 1,
                shortcut="Shift+P" if where == "top" else None)
    c[1].button("Next page ▶", key=f"page_next_{where}", on_click=turn_page, args=(1,),
                disabled=st.session_state.gallery_page >= pages,
                shortcut="Shift+N" if where == "top" else None)
    if where == "top":
        c[2].number_input(f"Page (of {pages})", 1, pages, key="gallery_page",
                          on_change=on_page, label_visibility="collapsed")
        c[3].caption(f"Page {st.session_state.gallery_page} of {pages}")
    else:
        c[2].caption(f"Page {st.session_state.gallery_page} of {pages}")


def gallery_ui(ws, name, commit, r, rows_at, current, badges, editable: bool) -> None:
    index = {c: j for j, c in enumerate(r.classes)}
    focused = st.session_state.cursor % PAGE_SIZE
    rows = r.rows(rows_at)
    for start in range(0, len(rows), COLUMNS):
        for at, col, row, n in zip(range(start, start + COLUMNS), st.columns(COLUMNS),
                                   rows[start:start + COLUMNS], rows_at[start:start + COLUMNS]):
            i, now = row["id"], current[row["id"]]
            picture = image_of(ws, name, commit, i)
            if picture:
                col.image(picture, width=96)
            else:
                col.caption("image missing")
            flag = " ⚠" if row["suspect"] else ""
            here = " ◀" if at == focused else ""
            col.markdown(f"`{i}`{flag}{here} {badges.get(i, '')}  \n{now} → "
                         f"**{row['predicted']}**  \n{r.probs[n, index[now]]:.0%} → "
                         f"{row['probability']:.0%}")
            if row["predicted"] != now:
                col.button(f"Accept {row['predicted']}", key=f"acc_{i}", on_click=on_relabel,
                           args=(ws, name, {i: row["predicted"]}, {i: now}),
                           disabled=not editable)
            col.checkbox("select", key=f"sel_{i}")
            col.button("Remove", key=f"rm_{i}", on_click=on_remove, args=(ws, name, i))


def bulk_ui(ws, name, commit, r, selected, current, where: str, editable: bool) -> None:
    """Assign the ticked examples one class, above and below the gallery (where they are
    ticked); the class offered first is the most common suggestion among them."""
    if not selected:
        return
    key = "bulk_class" if where == "top" else "bulk_class_bottom"
    if st.session_state.get(f"bulk_for_{where}") != selected:
        # A new selection: offer its most common suggestion.
        st.session_state[f"bulk_for_{where}"] = selected
        rows = r.position
        votes = Counter(r.classes[r.predicted[rows[i]]] for i in selected if i in rows)
        st.session_state[key] = votes.most_common(1)[0][0] if votes else r.classes[0]
    c1, c2 = st.columns([1, 3])
    c1.selectbox(f"Assign {len(selected)} selected to", r.classes, key=key)
    c2.button("Assign", key="bulk_assign" if where == "top" else "bulk_assign_bottom",
              on_click=on_assign, args=(ws, name, selected, current, key),
              disabled=not editable)


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
    for c in conflicts.unsettled(ws, name):
        st.sidebar.error(f"Merge conflict `{c['id']}`: ours {c['ours']}, theirs "
                         f"{c['theirs']} (was {c['base']})")
        for side in ("ours", "theirs"):
            if c[side] is not None:
                st.sidebar.button(f"Use {side} ({c[side]})", key=f"resolve_{side}_{c['id']}",
                                  on_click=on_resolve, args=(ws, name, c["id"], c[side]))


def staged_ui(ws, name, author) -> None:
    """Your staged edits (undo, commit) and, read-only, the other reviewers' ones."""
    version = versions.resolve(ws, name)
    stage = staged.read(ws, name, version, owner())
    conflicts_ui(ws, name, stage)
    edits, marks, removed = stage["labels"], stage["checked"], stage["removed"]
    st.sidebar.subheader(f"Your staged: {len(edits)} edit(s), {len(marks)} checked"
                         + (f", {len(removed)} removed" if removed else ""))
    for e in edits:
        c1, c2 = st.sidebar.columns([4, 1])
        c1.write(f"`{e['id']}` {e['old']} → {e['new']}")
        c2.button("↺", key=f"undo_{e['id']}", help="unstage", on_click=on_unstage,
                  args=(ws, name, e["id"]))
    for i in marks:
        st.sidebar.write(f"`{i}` ✓ checked")
    for e in removed:
        c1, c2 = st.sidebar.columns([4, 1])
        c1.write(f"`{e['id']}` ✗ removed")
        c2.button("↺", key=f"undo_{e['id']}", help="unstage", on_click=on_unstage,
                  args=(ws, name, e["id"]))
    if edits or marks or removed:
        st.sidebar.text_input("Commit message", key="commit_message",
                              placeholder="Fix mislabelled digits")
        st.sidebar.button("Commit", key="commit", type="primary", on_click=on_commit,
                          args=(ws, name, author),
                          disabled=author is None or not st.session_state.commit_message.strip(),
                          help="needs your name and a message")
    theirs = staged.others(ws, name, version, owner())
    if theirs["labels"] or theirs["checked"] or theirs["removed"]:
        with st.sidebar.expander(f"Others' pending: {len(theirs['labels'])} edit(s), "
                                 f"{len(theirs['checked'])} checked, "
                                 f"{len(theirs['removed'])} removed"):
            for e in theirs["labels"]:
                st.write(f"`{e['id']}` {e['old']} → {e['new']} · {e['owner'] or 'command line'}")
            for e in theirs["checked"]:
                st.write(f"`{e['id']}` ✓ checked · {e['owner'] or 'command line'}")
            for e in theirs["removed"]:
                st.write(f"`{e['id']}` ✗ removed · {e['owner'] or 'command line'}")


def review_page(ws, name, author) -> None:
    status_ui(ws, name)
    commit = viewed_commit(ws, name)
    staged_ui(ws, name, author)
    if commit is None:
        st.info(f"No trained model for {name} yet: the ranking appears when the first "
                "training finishes.")
        return
    r = load_ranking(str(ws.root), name, commit)
    m = runs.commit_metrics(ws, name, commit)
    c = st.columns(3)
    c[0].metric("Out-of-fold accuracy", f"{m['accuracy']:.2%}")
    c[1].metric("Suspected label errors", m["suspects"])
    c[2].metric("Examples", m["examples"])
    grid_ui(ws, name, commit, r, filters_ui(ws, name, r))


# Charts are Vega-Lite specs, not altair: importing altair made the first History visit
# 0.7 s slower.
def line_spec(field: str, title: str) -> dict:
    """FIELD over commits, oldest first; points as well as lines, so that a single commit
    still shows."""
    return {"title": title, "mark": {"type": "line", "point": True}, "encoding": {
        "x": {"field": "commit", "type": "nominal", "sort": None,
              "title": "commit (oldest first)"},
        "y": {"field": field, "type": "quantitative", "scale": {"zero": False}, "title": None},
        "tooltip": [{"field": f} for f in ("commit", "message", field)]}}


def confusion_chart(r: ranking.Ranking, title: str) -> tuple[pd.DataFrame, dict]:
    """(data, spec) of a heatmap of R's confusion counts; mistakes (off the diagonal) are
    coloured, and a click on a cell selects it as "cell" (given, predicted)."""
    counts = views.confusion_matrix(r)
    k, classes = len(r.classes), list(r.classes)
    data = pd.DataFrame({"given": np.repeat(classes, k), "predicted": np.tile(classes, k),
                         "count": counts.ravel()})
    data["mistakes"] = np.where(data["given"] != data["predicted"], data["count"], 0)
    axes = {"x": {"field": "predicted", "type": "nominal", "sort": classes,
                  "title": "out-of-fold prediction"},
            "y": {"field": "given", "type": "nominal", "sort": classes, "title": "given label"}}
    return data, {"title": title, "height": 40 * k + 60, "layer": [
        {"mark": "rect",
         "params": [{"name": "cell", "select": {"type": "point",
                                                "fields": ["given", "predicted"]}}],
         "encoding": {**axes, "color": {"field": "mistakes", "type": "quantitative",
                                        "scale": {"scheme": "orangered"}, "legend": None},
                      "tooltip": [{"field": f} for f in ("given", "predicted", "count")]}},
        {"mark": "text", "encoding": {**axes, "text": {"field": "count",
                                                       "type": "quantitative"}}}]}


def label_ui(ws, name, author) -> None:
    """The Label page (`ide.label_page`), with the staged edits and the commit in the
    sidebar as on the Review page; its edits are staged as the reviewer's."""
    staged_ui(ws, name, author)
    label_page.page(ws, name, image_of=image_of, act=staging, shortcut_keys=shortcut_keys)


def history_page(ws, name) -> None:
    log = views.log(ws, name)
    table = pd.DataFrame([{
        "commit": e["commit"][:8], "edits": e["edits"],
        "accuracy": e["metrics"]["accuracy"] if e["metrics"] else None,
        "suspects": e["metrics"]["suspects"] if e["metrics"] else None,
        "added": e.get("added"), "removed": e.get("removed"), "examples": e.get("examples"),
        "message": e["message"], "author": e["author"],
        "date": e["date"][:16].replace("T", " ")} for e in log])
    st.subheader("Commits")
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "accuracy": st.column_config.NumberColumn(format="percent")})
    trend = table.dropna(subset=["accuracy"]).iloc[::-1]
    if len(trend):
        for col, field, title in zip(st.columns(2), ["accuracy", "suspects"],
                                     ["Out-of-fold accuracy", "Suspected label errors"]):
            col.vega_lite_chart(trend, line_spec(field, title), width="stretch")

    growth = table.dropna(subset=["examples"]).iloc[::-1]
    if growth["examples"].nunique() > 1:  # the dataset grew or shrank: examples per commit
        st.vega_lite_chart(growth, line_spec("examples", "Examples"), width="stretch")

    changes_ui(ws, name, log)

    st.subheader("Label history of an example")
    head = versions.resolve(ws, name)
    example = st.text_input("Example id", key="history_id",
                            placeholder=f"e.g. {next(iter(head.labels), '')}")
    if example:
        try:
            found = pd.DataFrame(history.history(ws, name, example.strip()))
            found["commit"] = found["commit"].str[:8]
            st.dataframe(found[["commit", "label", "message", "author", "date"]],
                         hide_index=True, width="stretch")
        except IDEError as exc:
            st.error(str(exc))
    confusion_ui(ws, name, log)


def changes_ui(ws, name, log) -> None:
    """What a picked commit changed: its label edits as images, and its checked marks."""
    st.subheader("What a commit changed")
    options = {f"{e['commit'][:8]}  {e['message'][:50]}": e["commit"] for e in log}
    picked = st.selectbox("Commit", list(options), key="diff_commit")
    version = versions.resolve(ws, name, options[picked])
    changes = history.commit_diff(ws, version)
    try:
        before = versions.resolve(ws, name, f"{version.commit}^").checked
    except IDEError:  # the dataset's first commit
        before = frozenset()
    marks = sorted(version.checked - before)
    st.caption(f"{len(changes)} label change(s), {len(marks)} checked mark(s)")
    for start in range(0, min(len(changes), 100), COLUMNS):
        for col, ch in zip(st.columns(COLUMNS), changes[start:start + COLUMNS]):
            picture = image_of(ws, name, options[picked], ch["id"])
            if picture:
                col.image(picture, width=72)
            col.markdown(f"`{ch['id']}`  \n{ch['old']} → **{ch['new']}**")
    for start in range(0, min(len(marks), 100), COLUMNS):
        for col, i in zip(st.columns(COLUMNS), marks[start:start + COLUMNS]):
            picture = image_of(ws, name, options[picked], i)
            if picture:
                col.image(picture, width=72)
            col.markdown(f"`{i}`  \n✓ checked **{version.labels.get(i)}**")


def confusion_ui(ws, name, log) -> None:
    """The confusion matrix of a picked trained commit, beside another one to compare; a
    click on a cell opens its examples on the Review page."""
    trained_log = [e for e in log if e["metrics"]]
    if not trained_log:
        return
    st.subheader("Confusion matrix")
    options = {f"{e['commit'][:8]}  {e['message'][:40]}": e["commit"] for e in trained_log}
    c1, c2 = st.columns(2)
    picked = c1.selectbox("Of commit", list(options), key="cm_commit")
    other = c2.selectbox("Compare with", ["none", *(o for o in options if o != picked)],
                         key="cm_other")
    st.caption("Rows: given label; columns: out-of-fold prediction; mistakes are coloured. "
               "Click a cell to review its examples.")
    shown = [picked] + ([other] if other != "none" else [])
    for col, label in zip(st.columns(len(shown)), shown):
        r = load_ranking(str(ws.root), name, options[label])
        key = f"cm_{options[label][:8]}"
        data, spec = confusion_chart(r, label)
        col.vega_lite_chart(data, spec, key=key, selection_mode="cell",
                            on_select=functools.partial(on_open_cell, key, r.classes, label),
                            width="stretch")


def main() -> None:
    st.set_page_config(page_title="Dataset IDE", layout="wide")
    st.set_option("client.toolbarMode", "viewer")  # no "Deploy" button (sessions to come)
    st.html("<style>[data-testid='stAppDeployButton'] {display: none}</style>")  # and this one
    init_state()
    st.session_state.pop("refresh", None)  # this run is the whole page already
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
        PAGES[page](ws, name, author)
    except IDEError as exc:
        st.error(str(exc))


# Page name -> function(ws, name, author): a new page is one entry here.
PAGES = {"Review": review_page,
         "Label": label_ui,
         "History": lambda ws, name, author: history_page(ws, name)}


if __name__ == "__main__":  # how `streamlit run` and AppTest run this file
    main()
