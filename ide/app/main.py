"""The IDE in the browser: review suspects, relabel, commit, watch the model improve.

The script that Streamlit runs (`ide serve` runs it in `ide.serve.backend`, with the
workspace in IDE_WORKSPACE): the sidebar (page, dataset, the reviewer's name and email)
and the page picked there, one module each (`PAGES`): Review (`ide.app.review_page`), Map
(`ide.app.map_page`), Label (`ide.app.label_page`) and History (`ide.app.history_page`).
Each run resolves HEAD and reads the staged edits once (`ide.app.head`) and hands them to
the page.

Each reviewer gives a name (kept in the URL, so a reload or a bookmark keeps it); their
staged edits are theirs (`ide.repo.staged` owners): a commit takes only their own, and the
others' pending edits are listed read-only. Messages are toasts, so the page never shifts.
"""

from __future__ import annotations

import os

import streamlit as st

from ide.app import actions, history_page, label_page, map_page, review_page
from ide.app.head import Head
from ide.errors import IDEError
from ide.repo import versions
from ide.repo.workspace import Workspace

# Page name -> page(ws, name, author, head): a new page is one entry here.
PAGES = {"Review": review_page.page, "Map": map_page.page, "Label": label_page.page,
         "History": history_page.page}


def sidebar_ui(ws) -> tuple[str | None, str | None, str]:
    """(dataset, author "name <email>", page) as picked in the sidebar (None: none yet)."""
    st.sidebar.title("Dataset IDE")
    names = versions.datasets(ws)
    page = st.sidebar.radio("Page", list(PAGES), key="page")
    name = st.sidebar.selectbox("Dataset", names, key="dataset") if names else None
    st.sidebar.caption(f"On branch `{ws.branch() or 'detached HEAD'}`")
    st.sidebar.text_input("Your name", key="user_name", placeholder="Ada Lovelace",
                          on_change=actions.remember)
    st.sidebar.text_input("Your email", key="user_email", placeholder="ada@example.org",
                          on_change=actions.remember)
    who, email = st.session_state.user_name.strip(), st.session_state.user_email.strip()
    author = f"{who} <{email or 'unknown@localhost'}>" if who else None
    return name, author, page


def main() -> None:
    st.set_page_config(page_title="Dataset IDE", layout="wide")
    st.set_option("client.toolbarMode", "viewer")  # no "Deploy" button (sessions to come)
    st.html("<style>[data-testid='stAppDeployButton'] {display: none}</style>")  # and this one
    actions.init_state()
    actions.show_edits_in("app")  # unless the page names its fragments that show them
    try:
        ws = Workspace.find(os.environ.get("IDE_WORKSPACE"))
    except IDEError as exc:
        st.error(str(exc))
        return
    name, author, page = sidebar_ui(ws)
    actions.flash_ui()
    if name is None:
        st.info("No dataset yet: import one with `ide import NAME SRC` (or try `ide demo`).")
        return
    try:
        PAGES[page](ws, name, author, Head.read(ws, name, actions.owner()))
    except IDEError as exc:
        st.error(str(exc))


if __name__ == "__main__":  # how `streamlit run` and AppTest run this file
    main()
