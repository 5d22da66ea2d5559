"""Widgets that more than one page shows: an example's picture, the class buttons and their
keys, the gallery's pager, the badges of staged examples, and the sidebar's staged edits
with the commit (and the conflicts to settle first).

HEAD and the staged edits come to them in the run's `Head` (`ide.app.head`), not read
again; every change is left to the callbacks of `ide.app.actions`.
"""

from __future__ import annotations

import streamlit as st

from ide.app import actions, loaders
from ide.app.head import Head
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
    c = st.columns([1, 1, 1, 3] if where == "top" else [1, 1, 4])
    c[0].button("◀ Previous page", key=f"page_prev_{where}", on_click=actions.turn_page,
                args=(-1,), disabled=st.session_state.gallery_page <= 1,
                shortcut="Shift+P" if where == "top" else None)
    c[1].button("Next page ▶", key=f"page_next_{where}", on_click=actions.turn_page,
                args=(1,), disabled=st.session_state.gallery_page >= pages,
                shortcut="Shift+N" if where == "top" else None)
    if where == "top":
        c[2].number_input(f"Page (of {pages})", 1, pages, key="gallery_page",
                          on_change=actions.on_page, label_visibility="collapsed")
        c[3].caption(f"Page {st.session_state.gallery_page} of {pages}")
    else:
        c[2].caption(f"Page {st.session_state.gallery_page} of {pages}")


def badges(head: Head) -> dict[str, str]:
    """{id: badge} of the staged examples: the reviewer's edits, checks and removals, and
    the other reviewers' edits (with whose they are)."""
    found = {e["id"]: ":orange-badge[staged]" for e in head.mine["labels"]}
    found.update({e["id"]: f":gray-badge[staged by {e['owner'] or 'command line'}]"
                  for e in head.theirs["labels"]})
    found.update({i: ":green-badge[checked]" for i in head.mine["checked"]})
    found.update({e["id"]: ":red-badge[removed]" for e in head.mine["removed"]})
    return found


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
        st.sidebar.write(f"`{i}` ✓ checked")
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
                st.write(f"`{e['id']}` {e['old']} → {e['new']} · {e['owner'] or 'command line'}")
            for e in theirs["checked"]:
                st.write(f"`{e['id']}` ✓ checked · {e['owner'] or 'command line'}")
            for e in theirs["removed"]:
                st.write(f"`{e['id']}` ✗ removed · {e['owner'] or 'command line'}")


def undo_ui(ws, name, example_id: str, text: str) -> None:
    """A line of the sidebar's staged list, with its unstage button."""
    c1, c2 = st.sidebar.columns([4, 1])
    c1.write(text)
    c2.button("↺", key=f"undo_{example_id}", help="unstage", on_click=actions.on_unstage,
              args=(ws, name, example_id))
