"""The app's Map page: every labelled example of the viewed commit (the Review page's) as a
dot in a 2-D projection of its embeddings (`ide.ops.atlas`), coloured by given label,
suggested label or suspicion; the image of a dot shows on hover. A box or lasso selection is the
gallery's filter below it (most suspicious first), with the Review page's focus, gallery
and bulk assign: select a cluster, tick its cards, assign them a class.
"""

from __future__ import annotations

import base64

import numpy as np
import streamlit as st

from ide.app import actions, loaders, map_canvas, review_page, widgets
from ide.app.head import Head
from ide.errors import NotTrained
from ide.ops import views

COLOURS = ("given label", "suggested label", "suspicion")
# Tableau's 10 and 20 colours; more classes cycle through them.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78",
           "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd", "#c5b0d5"]
HEAT = ["#d9d9d9", "#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#8c2d04"]

MAP = st.components.v2.component("ide_map", html=map_canvas.HTML, css=map_canvas.CSS,
                                 js=map_canvas.JS)


def page(ws, name, author, head: Head) -> None:
    widgets.model_ui(ws, name, head)
    viewed = review_page.viewed_commit(ws, name, head)
    widgets.staged_ui(ws, name, author, head)
    if viewed is None:
        st.info(f"No trained model for {name} yet: the map appears when the first training "
                "finishes.")
        return
    commit = viewed["commit"]
    r = loaders.load_ranking(str(ws.root), name, commit)
    c1, c2 = st.columns([1, 3])
    colour = c1.selectbox("Colour by", COLOURS, key="map_colour")
    c2.caption("Each dot is an example; dots close together look alike to the model (its "
               "embeddings, projected by UMAP). Hover a dot for its image; drag a box or a "
               "lasso around a cluster to review it below.")
    try:
        with st.spinner(f"Projecting {len(r.ids):,} examples (once per version)…"):
            ids, xy = loaders.load_layout(str(ws.root), name, commit)
    except NotTrained as exc:
        st.info(f"The map needs the model's embeddings: {exc}")
        return
    picked = selection(commit)
    data = points(str(ws.root), name, commit, colour) | {"selected": picked}
    MAP(key="map", data=data, on_selected_change=lambda: None, height="content")
    everyone = views.shown(r)
    shown = everyone[np.isin(everyone, [r.position[i] for i in picked if i in r.position])]
    where = ("map", commit, len(picked), hash(tuple(picked)))
    if st.session_state.get("where") != where:  # a new selection: its first example, page 1
        st.session_state.where = where
        st.session_state.cursor, st.session_state.gallery_page = 0, 1
    st.session_state.n_shown = len(shown)
    if not picked:
        st.info("Drag a box (or a lasso) around a cluster: its examples show here, to "
                "review and relabel together (tick cards, then Assign).")
        return
    actions.show_edits_in(["grid", "staged"])
    review_page.grid_ui(ws, name, commit, r, shown, head)


def selection(commit: str) -> list[str]:
    """The ids selected on the map of COMMIT ([] for none, or for another commit's map)."""
    state = st.session_state.get("map")
    chosen = (state or {}).get("selected") or {}
    return list(chosen.get("ids", [])) if chosen.get("key", "").startswith(commit) else []


@st.cache_resource(show_spinner=False, max_entries=8)
def points(root: str, name: str, commit: str, colour: str) -> dict:
    """The map's data for the component (`ide.app.map_canvas`), but the selection: made
    once per commit and colouring (a 100,000-point payload is a few megabytes)."""
    r = loaders.load_ranking(root, name, commit)
    ids, xy = loaders.load_layout(root, name, commit)
    at = r.position
    keep = [n for n, i in enumerate(ids) if i in at]
    rows = np.array([at[ids[n]] for n in keep], dtype=int)
    q = map_canvas.quantised(xy[keep])
    c, palette, legend = colours(r, rows, colour)
    text = np.stack([r.labels[rows], r.predicted[rows]], 1).astype(np.uint8)
    b64 = lambda a: base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()  # noqa: E731
    return {"key": f"{commit}:{colour}", "x": b64(q[:, 0]), "y": b64(q[:, 1]),
            "c": b64(c.astype(np.uint8)),
            "palette": palette, "legend": legend, "ids": "\n".join(r.ids[n] for n in rows),
            "text": b64(text), "classes": r.classes,
            "thumb": f"{map_canvas.THUMB}?dataset={name}&commit={commit}&id="}


def colours(r, rows: np.ndarray, colour: str) -> tuple[np.ndarray, list[str], list]:
    """(colour index of each point, palette, legend [name, colour]) for a COLOUR of COLOURS;
    suspicion: 1 - the label quality score in 7 steps, grey (trusted) to dark red."""
    if colour == "suspicion":
        steps = np.clip(((1 - r.score[rows]) * len(HEAT)).astype(int), 0, len(HEAT) - 1)
        legend = [["trusted", HEAT[0]], ["doubtful", HEAT[3]], ["suspect", HEAT[-1]]]
        return steps, HEAT, legend
    index = r.labels[rows] if colour == "given label" else r.predicted[rows]
    palette = [PALETTE[k % len(PALETTE)] for k in range(len(r.classes))]
    return index, palette, [[c, palette[k]] for k, c in enumerate(r.classes)]
