"""The app's Review page: the model of HEAD (`ide.app.widgets.model_ui`), the most
suspicious examples of the viewed commit with filters, the focused example driven by the
keyboard (N/P move, A accepts the suggestion, K keeps the label, X removes, M shows more
like it, a class key relabels), the gallery with its bulk assign, and in the sidebar the staged edits and the
commit.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import streamlit as st

from ide.app import actions, loaders, widgets
from ide.app.head import Head
from ide.learn import rank, ranking
from ide.ops import views

COLUMNS = 5


def page(ws, name, author, head: Head) -> None:
    widgets.model_ui(ws, name, head)
    viewed = viewed_commit(ws, name, head)
    widgets.staged_ui(ws, name, author, head)
    if viewed is None:
        st.info(f"No trained model for {name} yet: the ranking appears when the first "
                "training finishes.")
        return
    commit, m = viewed["commit"], viewed["metrics"]
    r = loaders.load_ranking(str(ws.root), name, commit)
    c = st.columns(3)
    c[0].metric("Out-of-fold accuracy", f"{m['accuracy']:.2%}")
    c[1].metric("Suspected label errors", m["suspects"])
    c[2].metric("Examples", m["examples"])
    if m.get("model"):
        st.caption(f"Model: {views.model_text(m)}")
    shown = filters_ui(ws, name, r)
    # An edit reruns these two only; the focus and gallery first, where the reviewer looks.
    actions.show_edits_in(["grid", "staged"])
    grid_ui(ws, name, commit, r, shown, head)


def viewed_commit(ws, name, head: Head) -> dict | None:
    """The log entry (commit, metrics, ...) of HEAD if it is trained, else of the newest
    trained commit (or of the one picked); None while none is trained."""
    log = views.log(ws, name, version=head.version)
    done = [e for e in log if e["metrics"]]
    if not done:
        return None
    options = {f"{e['commit'][:8]}  {e['message'][:40]}": e for e in done}
    newest = next(iter(options))
    if st.session_state.newest_trained != newest:
        # A training finished since the last run: show its ranking, not the one picked before.
        st.session_state.newest_trained = st.session_state.viewed = newest
    if st.session_state.get("viewed") not in options:
        st.session_state.viewed = newest
    picked = st.sidebar.selectbox("Viewing the model of", list(options), key="viewed")
    entry = options[picked]
    if entry["commit"] != log[0]["commit"]:
        st.caption(f"Showing the model of {entry['commit'][:8]}, not of HEAD "
                   f"({log[0]['commit'][:8]})" + (": HEAD's shows when its training ends."
                                                  if picked == newest else "."))
    return entry


def filters_ui(ws, name, r: ranking.Ranking) -> np.ndarray:
    """Indices of the examples to show, most suspicious first; the focus and the gallery
    go back to the top when the filters or the ranking change."""
    # Widths that fit "Only suspects" whole at 1280 pixels (tests/test_browser.py).
    c1, c2, c3, c4, c5, c6 = st.columns([1.8, 1.8, 2.6, 1.8, 2, 1.6])
    given = c1.multiselect("Given class", r.classes, key="f_given")
    predicted = c2.multiselect("Predicted class", r.classes, key="f_pred")
    pairs = {f"{a} → {b} ({n})": (a, b) for a, b, n in views.confusion_pairs(r)}
    if st.session_state.get("f_pair", "any") not in ("any", *pairs):
        st.session_state.f_pair = "any"
    pair = c3.selectbox("Confusion (given → predicted)", ["any", *pairs], key="f_pair")
    query = c4.text_input("Find id", key="f_id", placeholder=r.ids[0] if r.ids else "")
    only = c5.checkbox("Only suspects", key="f_only")
    special = c6.selectbox("Show", ["all", *loaders.SPECIAL], key="f_special")
    shown = views.shown(r, given=given, predicted=predicted, pair=pairs.get(pair),
                        only_suspects=only)
    if special != "all":
        shown = views.only(r, shown, loaders.load_special(str(ws.root), name, r.commit,
                                                          special))
    if query.strip():
        ids = loaders.id_array(str(ws.root), name, r.commit)
        shown = shown[np.char.find(ids[shown], query.strip()) >= 0]
    like = more_like_ui(r, shown)
    if like:
        shown = views.only(r, shown, like["ids"])
    where = (r.commit, tuple(given), tuple(predicted), pair, only, special, query.strip(),
             like and like["of"])
    if st.session_state.get("where") != where:
        st.session_state.where = where
        st.session_state.cursor, st.session_state.gallery_page = 0, 1
    st.session_state.n_shown = len(shown)
    return shown


def more_like_ui(r: ranking.Ranking, shown) -> dict | None:
    """The "More like this" filter, if one is set for R's commit: {"of", "ids"}, and a line
    that says so, with the button that drops it."""
    like = st.session_state.get("like")
    if not like or like["commit"] != r.commit:
        return None
    c1, c2 = st.columns([4, 1])
    c1.caption(f"More like `{like['of']}`: it and its {len(like['ids']) - 1} nearest "
               "neighbours in the model's embedding space, most alike first")
    c2.button("Show all examples", key="like_clear", on_click=actions.on_all_examples)
    return like


def focus_ui(ws, name, commit, r, shown, current, head: Head, marks: dict,
             theirs: dict) -> None:
    """One example at a time, driven by the keyboard: N/P move, A accepts, K keeps (K again
    takes the mark back). It is the example under the gallery's cursor: it follows the
    filters and the gallery page. MARKS: the staged examples' badges; THEIRS: {id: who}
    of the examples other reviewers have staged (their buttons are disabled)."""
    if not len(shown):
        st.info("No example matches the filters.")
        return
    st.session_state.cursor = min(st.session_state.cursor, len(shown) - 1)
    n = int(shown[st.session_state.cursor])
    row = r.rows([n])[0]
    i, now = row["id"], current[row["id"]]
    left, right = st.columns([1, 3])
    # The zoom: the whole image; its fullscreen button shows it at its own size.
    widgets.picture(left, ws, name, commit, i, width=220, big=True)
    given, p, loss = committed(r, n, head)
    top = rank.top_classes(r.probs[n:n + 1], 3)[0]
    right.markdown(f"**{st.session_state.cursor + 1} / {len(shown)}** · `{i}` · given "
                   f"**{given}** ({p:.0%}) · suggested **{row['predicted']}** "
                   f"({row['probability']:.0%}) · loss {loss:.2f}" +
                   (f" · {marks[i]}" if i in marks else ""))
    right.caption("Top 3: " + " · ".join(f"{r.classes[k]} {r.probs[n, k]:.0%}" for k in top))
    why = actions.refusal(i, theirs)
    checked = i in head.mine["checked"]
    b = right.columns(4)
    b[0].button("Previous (P)", key="k_prev", shortcut="P", on_click=actions.step, args=(-1,))
    b[1].button("Next (N)", key="k_next", shortcut="N", on_click=actions.step, args=(1,))
    b[2].button(f"Accept {row['predicted']} (A)", key="k_accept", shortcut="A",
                type="primary", disabled=row["predicted"] == now or bool(why), help=why,
                on_click=actions.on_relabel,
                args=(ws, name, {i: row["predicted"]}, {i: now}, 1))
    b[3].button("Uncheck (K)" if checked else "Label is right (K)", key="k_keep",
                shortcut="K", disabled=bool(why), help=why or ("take back your checked mark"
                                                               if checked else None),
                on_click=actions.on_uncheck if checked else actions.on_check,
                args=(ws, name, i))
    b = right.columns([1, 1.3, 1.7])  # room for "More like this (M)" whole at 1280 pixels
    b[0].button("Remove (X)", key="k_remove", shortcut="X", on_click=actions.on_remove,
                args=(ws, name, i), disabled=bool(why),
                help=why or "stage the removal of this example")
    b[1].button("More like this (M)", key="k_like", shortcut="M", on_click=actions.on_more_like,
                args=(ws, name, commit, i), help="the gallery shows this example and the "
                "examples most like it (in the model's embedding space)")
    widgets.class_buttons(right, r.classes, "k_class", lambda cls: {
        "disabled": cls == now or bool(why), "help": why, "on_click": actions.on_relabel,
        "args": (ws, name, {i: cls}, {i: now}, 1)})


def committed(r, n: int, head: Head) -> tuple[str, float, float]:
    """(label, probability, loss) of example N of R as committed at HEAD (a staged edit is
    shown beside it, not in its place); the ranking's label where HEAD has none."""
    label = head.version.labels.get(r.ids[n]) or r.classes[r.labels[n]]
    k = r.classes.index(label) if label in r.classes else r.labels[n]
    p = r.probs[n:n + 1]
    return r.classes[k], float(p[0, k]), float(rank.per_example_loss([k], p)[0])


@st.fragment(key="grid")
def grid_ui(ws, name, commit, r, shown, head: Head) -> None:
    """The focused example, the gallery and its bulk assign: a fragment, so that a key, a
    tick or a page turn reruns this part only (an edit also the sidebar's staged list)."""
    actions.flash_ui()
    who = actions.owner()
    if not head.first("grid"):  # a rerun of this part only: what others did since shows
        head = Head.read(ws, name, who)
    current = views.working_labels(ws, name, r, version=head.version, everyone=head.everyone)
    if who is None:
        st.info(actions.NO_NAME + ".")
    marks, theirs = widgets.badges(head), widgets.others_at(head)
    focus_ui(ws, name, commit, r, shown, current, head, marks, theirs)
    st.divider()
    pages = max(1, -(-len(shown) // actions.PAGE_SIZE))
    st.session_state.gallery_page = min(st.session_state.gallery_page, pages)
    selected = [k[4:] for k, v in st.session_state.items()
                if k.startswith("sel_") and v and k[4:] in current]
    widgets.pager_ui(pages, "top")
    st.caption(f"{len(shown)} examples match; most suspicious first. Each card: given → "
               "**suggested** label, with the model's out-of-fold probability of each.")
    bulk_ui(ws, name, r, selected, current, "top", theirs)
    at = (st.session_state.gallery_page - 1) * actions.PAGE_SIZE
    gallery_ui(ws, name, commit, r, shown[at:at + actions.PAGE_SIZE], current, head, marks,
               theirs)
    bulk_ui(ws, name, r, selected, current, "bottom", theirs)
    widgets.pager_ui(pages, "bottom")


def gallery_ui(ws, name, commit, r, rows_at, current, head: Head, marks: dict,
               theirs: dict) -> None:
    """The cards of a gallery page: the committed label → the suggestion, with the model's
    probability of each, and the staged edit as a badge; a suspect that a staged edit
    handles keeps its mark, greyed and said so."""
    focused = st.session_state.cursor % actions.PAGE_SIZE
    rows = r.rows(rows_at)
    for start in range(0, len(rows), COLUMNS):
        for at, col, row, n in zip(range(start, start + COLUMNS), st.columns(COLUMNS),
                                   rows[start:start + COLUMNS], rows_at[start:start + COLUMNS]):
            i = row["id"]
            given, p, _ = committed(r, n, head)
            widgets.picture(col, ws, name, commit, i, width=96, missing="caption")
            flag = (" :gray[⚠ handled]" if i in marks else " ⚠") if row["suspect"] else ""
            here = " ◀" if at == focused else ""
            col.markdown(f"`{i}`{flag}{here} {marks.get(i, '')}  \n{given} → "
                         f"**{row['predicted']}**  \n{p:.0%} → {row['probability']:.0%}")
            why = actions.refusal(i, theirs)
            if row["predicted"] != given:
                col.button(f"Accept {row['predicted']}", key=f"acc_{i}",
                           on_click=actions.on_relabel,
                           args=(ws, name, {i: row["predicted"]}, {i: current[i]}),
                           disabled=row["predicted"] == current[i] or bool(why), help=why)
            col.checkbox("select", key=f"sel_{i}")
            col.button("Remove", key=f"rm_{i}", on_click=actions.on_remove, args=(ws, name, i),
                       disabled=bool(why), help=why)


def bulk_ui(ws, name, r, selected, current, where: str, theirs: dict) -> None:
    """Assign the ticked examples one class, above and below the gallery (where they are
    ticked); the class offered first is the most common suggestion among them. Disabled
    while a ticked example is another reviewer's (THEIRS: {id: who})."""
    if not selected:
        return
    key = "bulk_class" if where == "top" else "bulk_class_bottom"
    if st.session_state.get(f"bulk_for_{where}") != selected:
        # A new selection: offer its most common suggestion.
        st.session_state[f"bulk_for_{where}"] = selected
        rows = r.position
        votes = Counter(r.classes[r.predicted[rows[i]]] for i in selected if i in rows)
        st.session_state[key] = votes.most_common(1)[0][0] if votes else r.classes[0]
    why = next(filter(None, (actions.refusal(i, theirs) for i in selected)), None)
    c1, c2 = st.columns([1, 3])
    c1.selectbox(f"Assign {len(selected)} selected to", r.classes, key=key)
    c2.button("Assign", key="bulk_assign" if where == "top" else "bulk_assign_bottom",
              on_click=actions.on_assign, args=(ws, name, selected, current, key),
              disabled=bool(why), help=why)
