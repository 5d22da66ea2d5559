"""The app's Label page: the model of HEAD (`ide.app.widgets.model_ui`), the unlabelled
queue, each example with the model's suggestion pre-selected (while HEAD trains, the newest
trained model's), labelled by the keyboard as on the Review page (A accepts the suggestion,
a class key assigns that class, N/P move, X removes), and a bulk "accept every suggestion
above P" that says how many edits it will stage. Everything it stages goes through
`ide.ops.suggest` and `ide.repo.staged` as the reviewer's, and is committed from the sidebar (the
staged edits, as on the Review page) like any other edit.
"""

from __future__ import annotations

import streamlit as st

from ide.app import actions, widgets
from ide.app.head import Head
from ide.errors import NotTrained
from ide.ops import suggest, views
from ide.repo import staged, versions


def _step(delta: int) -> None:
    st.session_state.label_cursor = max(0, st.session_state.get("label_cursor", 0) + delta)


def page(ws, name, author, head: Head) -> None:
    widgets.model_ui(ws, name, head)
    widgets.staged_ui(ws, name, author, head)
    version = head.version
    waiting = sum(lab == "" for lab in version.labels.values())
    order = st.radio("Order", ["confident", "uncertain"], horizontal=True, key="label_order",
                     help="uncertain first is active learning: the labels that teach the "
                          "model most")
    rows = suggestions(ws, name, order, head)
    if rows is None:
        st.info(f"{waiting} unlabelled example(s). The suggestions appear when HEAD "
                f"({version.commit[:8]}) is trained.")
        return
    st.caption(f"{len(rows)} unlabelled example(s) to label ({waiting} at HEAD; the rest "
               "have a staged edit).")
    if not rows:
        st.success("Nothing left to label: commit the staged edits from the sidebar.")
        return
    bulk_ui(ws, name, rows)
    focus_ui(ws, name, version, rows)


def suggestions(ws, name, order: str, head: Head) -> list[dict] | None:
    """The suggestions of HEAD's model or, while HEAD is not trained, of the newest trained
    commit's (said so above them); None when neither has one."""
    try:
        return suggest.suggestions(ws, name, order=order, version=head.version,
                                   everyone=head.everyone)
    except NotTrained:
        pass
    older = next((e["commit"] for e in views.log(ws, name, version=head.version)
                  if e["metrics"]), None)
    if older is None:
        return None
    try:
        rows = suggest.suggestions(ws, name, order=order, version=head.version,
                                   everyone=head.everyone,
                                   model=versions.resolve(ws, name, older))
    except NotTrained:
        return None
    st.caption(f"Suggestions of the model of {older[:8]}, the newest trained commit, until "
               f"HEAD ({head.version.commit[:8]}) is trained.")
    return rows


def bulk_ui(ws, name, rows) -> None:
    c1, c2 = st.columns([3, 2])
    p = c1.slider("Accept every suggestion with probability at least", 0.0, 1.0, 0.9, 0.01,
                  key="label_min_p")
    n = suggest.count_above(rows, p)
    why = actions.refusal("", {})  # no name given
    c2.button(f"Accept {n} suggestion(s) ≥ {p:.2f}", key="label_bulk",
              disabled=not n or bool(why), help=why,
              on_click=actions.staging, args=(suggest.accept, ws, name),
              kwargs={"min_probability": p, "done": f"staged {n} suggestion(s)"})


def focus_ui(ws, name, version, rows) -> None:
    """One unlabelled example at a time; a staged edit takes it out of the queue, so the
    cursor stays where it is and the next one moves up."""
    at = min(st.session_state.get("label_cursor", 0), len(rows) - 1)
    st.session_state.label_cursor = at
    row = rows[at]
    i, sug = row["id"], row["suggested"]
    left, right = st.columns([1, 3])
    widgets.picture(left, ws, name, version.commit, i, width=160)
    right.markdown(f"**{at + 1} / {len(rows)}** · `{i}` · suggested **{sug}** "
                   f"({row['probability']:.0%}, margin {row['margin']:.2f})")
    why = actions.refusal(i, {})  # staged examples are not in the queue: only a name lacks
    b = right.columns(4)
    b[0].button("Previous (P)", key="l_prev", shortcut="P", on_click=_step, args=(-1,))
    b[1].button("Next (N)", key="l_next", shortcut="N", on_click=_step, args=(1,))
    b[2].button(f"Accept {sug} (A)", key="l_accept", shortcut="A", type="primary",
                on_click=actions.staging, args=(staged.relabel, ws, name, {i: sug}),
                kwargs={"done": f"{i}: {sug} (staged)"}, disabled=bool(why), help=why)
    b[3].button("Remove (X)", key="l_remove", shortcut="X", on_click=actions.staging,
                args=(staged.remove, ws, name, [i]), kwargs={"done": f"{i}: removal staged"},
                disabled=bool(why), help=why)
    widgets.class_buttons(right, list(version.classes), "l_class", lambda cls: {
        "disabled": bool(why), "help": why,
        "type": "primary" if cls == sug else "secondary", "on_click": actions.staging,
        "args": (staged.relabel, ws, name, {i: cls}),
        "kwargs": {"done": f"{i}: {cls} (staged)"}})
