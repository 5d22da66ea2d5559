"""Widgets that more than one page shows: an example's picture, the class buttons and their
keys, the gallery's pager, the badges of staged examples (whose they are), the model of HEAD
(a fragment that polls the worker every 2 s and reruns the page when it must follow), and
the sidebar's staged edits with the commit (and the conflicts to settle first).

HEAD and the staged edits come to them in the run's `Head` (`ide.app.head`), not read
again; every change is left to the callbacks of `ide.app.actions`.
"""

from __future__ import annotations

import time

import streamlit as st

from ide.app import actions, loaders
from ide.app.head import Head
from ide.learn import runs
from ide.ops import worker
from ide.repo import conflicts


def picture(where, ws, name, commit, example_id, *, width: int, big: bool = False,
            missing: str | None = "warning") -> None:
    """EXAMPLE_ID's image at COMMIT in WHERE (a column), WIDTH pixels wide (BIG: the whole
    image, not the square thumbnail); where it has none, "image missing" as a MISSING
    ("warning" or "caption"; None: nothing)."""
    data = loaders.image_of(ws, name, commit, example_id, big)
    if data:
        # PNG as it is: Streamlit's "auto" format re-encodes an opaque PNG as a JPEG on
        # every run (a tenth of a second a page of 50) and blurs the digits' pixels.
        where.image(data, width=width, output_format="PNG")
    elif missing:
        getattr(where, missing)("image missing")


def shortcut_keys(classes) -> list[str | None]:
    """Digit keys for classes: the class name itself for digit classes, else 1..9."""
    if all(len(c) == 1 and c.isdigit() for c in classes):
        return list(classes)
    return [str(j + 1) if j < 9 else None for j in range(len(classes))]


def class_buttons(where, classes, key: str, button) -> None:
    """A button per class in WHERE, at most 10 a row, each with its key (`shortcut_keys`)
    and the widget key KEY_<n>; BUTTON(cls) gives the rest of its arguments (its
    on_click, args, disabled, ...)."""
    cols = where.columns(min(len(classes), 10))
    for j, (cls, sc) in enumerate(zip(classes, shortcut_keys(classes))):
        cols[j % len(cols)].button(f"{cls}" + (f" ({sc})" if sc and sc != cls else ""),
                                   key=f"{key}_{j}", shortcut=sc, **button(cls))


def pager_ui(pages: int, where: str) -> None:
    """Previous / next page (Shift+P / Shift+N), above and below the gallery."""
    # Short labels, so that they and their shortcut fit whole at 1280 pixels.
    c = st.columns([1, 1, 1, 3] if where == "top" else [1, 1, 4])
    c[0].button("◀ Page", key=f"page_prev_{where}", on_click=actions.turn_page,
                args=(-1,), disabled=st.session_state.gallery_page <= 1,
                shortcut="Shift+P" if where == "top" else None, help="previous page")
    c[1].button("Page ▶", key=f"page_next_{where}", on_click=actions.turn_page,
                args=(1,), disabled=st.session_state.gallery_page >= pages,
                shortcut="Shift+N" if where == "top" else None, help="next page")
    if where == "top":
        c[2].number_input(f"Page (of {pages})", 1, pages, key="gallery_page",
                          on_change=actions.on_page, label_visibility="collapsed")
        c[3].caption(f"Page {st.session_state.gallery_page} of {pages}")
    else:
        c[2].caption(f"Page {st.session_state.gallery_page} of {pages}")


def badges(head: Head) -> dict[str, str]:
    """{id: badges} of the staged examples: the reviewer's edits (with the new label), checks
    and removals, and the other reviewers' (with whose they are)."""
    found: dict[str, list[str]] = {}
    for e in head.mine["labels"]:
        found.setdefault(e["id"], []).append(f":orange-badge[staged {e['new']}]")
    for i in head.mine["checked"]:
        found.setdefault(i, []).append(":green-badge[checked]")
    for e in head.mine["removed"]:
        found.setdefault(e["id"], []).append(":red-badge[removed]")
    for kind, what in (("labels", "staged {new} by"), ("checked", "checked by"),
                       ("removed", "removed by")):
        for e in head.theirs[kind]:
            text = what.format(new=e.get("new"))
            found.setdefault(e["id"], []).append(f":gray-badge[{text} {whose(e)}]")
    return {i: " ".join(b) for i, b in found.items()}


def whose(edit: dict) -> str:
    """Who staged EDIT, one of the others' (`staged.others`)."""
    return edit["owner"] or "the command line"


def others_at(head: Head) -> dict[str, str]:
    """{id: who} of the examples another reviewer has staged something for: theirs until
    they commit or unstage it."""
    return {e["id"]: whose(e) for kind in ("labels", "checked", "removed")
            for e in head.theirs[kind]}


@st.fragment(run_every=2)
def model_ui(ws, name, head: Head) -> None:
    """The model of HEAD: trained, training (with progress and ETA), queued (with its place,
    and what the worker trains first) or failed; every 2 s by itself, and the whole page
    reruns when it has to follow (`follow`)."""
    # A tick of its own asks HEAD again (model_status does, given no commit).
    whole = head.first("model")
    status = worker.model_status(ws, name, head.version.commit if whole else None)
    state, commit = status["state"], status["commit"][:8]
    now = status.get("now")
    if state == "training":
        st.progress(status["fraction"], text=f"Training HEAD ({commit}): "
                    f"{status['progress']}{eta(status)}")
    elif now:  # queued behind the worker's current run (an older commit, or another dataset)
        what = (f"the older commit {now['commit'][:8]}" if now["dataset"] == name
                else f"{now['dataset']} ({now['commit'][:8]})")
        place = status["position"]
        st.progress(now["fraction"], text=f"Training {what}: {now['progress']}{eta(now)} · "
                    f"HEAD ({commit}) is queued " + ("next" if place == 1 else
                                                     f"(position {place})"))
    elif state == "queued":
        st.info(f"HEAD ({commit}) is queued for training (position {status['position']})"
                + ("" if status.get("worker") else
                   " (no worker running: start `ide watch` or `ide serve`)"))
    elif state == "failed":
        st.error(f"Training HEAD failed: {status['error']}")
    elif state == "not trained":
        st.warning(f"HEAD ({commit}) is not trained" + ("" if status.get("worker") else
                   ": run `ide retrain` or keep `ide serve` running"))
    follow(ws, name, status["commit"], whole)


def follow(ws, name, commit: str, whole: bool) -> None:
    """Rerun the whole page when HEAD moved (to COMMIT) or a commit got trained since the
    page was drawn (WHOLE: this is that run): then it shows the new model, its suggestions
    and the staged edits as they are, without a reload."""
    key, seen = f"follow_{name}", (commit, runs.stamp(ws, name))
    before = st.session_state.get(key)
    st.session_state[key] = seen
    if not whole and before is not None and before != seen:
        st.rerun(scope="app")


def eta(status: dict) -> str:
    """" · ETA 1m 20s · 310 examples/s" of a training phase, from the worker's rate, or from
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
    return "".join(f" · {p}" for p in parts)


def conflicts_ui(ws, name, head: Head) -> None:
    """Staged edits that HEAD changed under (keep mine, or take theirs), and the label
    conflicts of an unfinished git merge (pick one side)."""
    for c in head.mine["conflicts"]:
        st.sidebar.warning(f"`{c['id']}` changed to {c['theirs']} since you staged "
                           f"{c['yours']} (it was {c['base']})")
        c1, c2 = st.sidebar.columns(2)
        c1.button(f"Keep mine ({c['yours']})", key=f"mine_{c['id']}",
                  on_click=actions.on_keep_mine, args=(ws, name, c["id"], c["yours"]))
        c2.button(f"Take theirs ({c['theirs']})", key=f"theirs_{c['id']}",
                  on_click=actions.on_unstage, args=(ws, name, c["id"]))
    what = (ws.operation() or "merge").capitalize()  # "Rebase conflict": ours is upstream
    for c in conflicts.unsettled(ws, name):
        st.sidebar.error(f"{what} conflict `{c['id']}`: ours {c['ours']}, theirs "
                         f"{c['theirs']} (was {c['base']})")
        for side in ("ours", "theirs"):
            if c[side] is not None:
                st.sidebar.button(f"Use {side} ({c[side]})", key=f"resolve_{side}_{c['id']}",
                                  on_click=actions.on_settle, args=(ws, name, c["id"], c[side]))


@st.fragment(key="staged")
def staged_ui(ws, name, author, head: Head) -> None:
    """Your staged edits (undo, commit) and, read-only, the other reviewers' ones: a
    fragment, so that an edit reruns this list and not the whole page."""
    if not head.first("staged"):  # a rerun of this part only: read what is staged now
        head = Head.read(ws, name, actions.owner())
    conflicts_ui(ws, name, head)
    mine = head.mine
    edits, marks, removed = mine["labels"], mine["checked"], mine["removed"]
    st.sidebar.subheader(f"Your staged: {len(edits)} edit(s), {len(marks)} checked"
                         + (f", {len(removed)} removed" if removed else ""))
    for e in edits:
        undo_ui(ws, name, e["id"], f"`{e['id']}` {e['old']} → {e['new']}")
    for i in marks:
        undo_ui(ws, name, i, f"`{i}` ✓ checked")
    for e in removed:
        undo_ui(ws, name, e["id"], f"`{e['id']}` ✗ removed")
    if edits or marks or removed:
        st.sidebar.text_input("Commit message", key="commit_message",
                              placeholder="Fix mislabelled digits")
        st.sidebar.button("Commit", key="commit", type="primary", on_click=actions.on_commit,
                          args=(ws, name, author),
                          disabled=author is None or not st.session_state.commit_message.strip(),
                          help="needs your name and a message")
    theirs = head.theirs
    if theirs["labels"] or theirs["checked"] or theirs["removed"]:
        with st.sidebar.expander(f"Others' pending: {len(theirs['labels'])} edit(s), "
                                 f"{len(theirs['checked'])} checked, "
                                 f"{len(theirs['removed'])} removed"):
            for e in theirs["labels"]:
                st.write(f"`{e['id']}` {e['old']} → {e['new']} · {whose(e)}")
            for e in theirs["checked"]:
                st.write(f"`{e['id']}` ✓ checked · {whose(e)}")
            for e in theirs["removed"]:
                st.write(f"`{e['id']}` ✗ removed · {whose(e)}")


def undo_ui(ws, name, example_id: str, text: str) -> None:
    """A line of the sidebar's staged list, with its unstage button."""
    c1, c2 = st.sidebar.columns([4, 1])
    c1.write(text)
    c2.button("↺", key=f"undo_{example_id}", help="unstage", on_click=actions.on_unstage,
              args=(ws, name, example_id))
