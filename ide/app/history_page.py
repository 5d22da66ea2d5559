"""The app's History page: the dataset's commits with their metrics, the trends of accuracy
and suspects (and of the examples, where the dataset grew or shrank), what a commit changed
as images, an example's label history, and confusion matrices whose cells open their
examples on the Review page.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from ide.app import actions, loaders, widgets
from ide.app.head import Head
from ide.errors import IDEError
from ide.learn import ranking
from ide.ops import views
from ide.repo import history, versions

if TYPE_CHECKING:  # pandas is imported where it is used: the Review page never needs it
    import pandas as pd

COLUMNS = 5


def page(ws, name, author, head: Head) -> None:
    import pandas as pd  # half a second the first time: not on the way to the Review page

    log = views.log(ws, name, version=head.version)
    numbers = pd.DataFrame([{
        "commit": e["commit"][:8], "edits": e["edits"],
        # In percent, as the table shows it: the chart and the table in the same units.
        "accuracy": 100 * e["metrics"]["accuracy"] if e["metrics"] else None,
        "suspects": e["metrics"]["suspects"] if e["metrics"] else None,
        "added": e.get("added"), "removed": e.get("removed"), "examples": e.get("examples"),
        "message": e["message"], "author": e["author"],
        "date": e["date"][:16].replace("T", " ")} for e in log])
    st.subheader("Commits")
    st.dataframe(shown_table(numbers), hide_index=True, width="stretch")
    trend = numbers.dropna(subset=["accuracy"]).iloc[::-1]
    if len(trend):
        for col, field, title in zip(st.columns(2), ["accuracy", "suspects"],
                                     ["Out-of-fold accuracy (%)", "Suspected label errors"]):
            col.vega_lite_chart(trend, line_spec(field, title), width="stretch")

    growth = numbers.dropna(subset=["examples"]).iloc[::-1]
    if growth["examples"].nunique() > 1:  # the dataset grew or shrank: examples per commit
        st.vega_lite_chart(growth, line_spec("examples", "Examples"), width="stretch")

    changes_ui(ws, name, log)
    example_ui(ws, name, head)
    confusion_ui(ws, name, log)


def shown_table(numbers: pd.DataFrame) -> pd.DataFrame:
    """NUMBERS as the table shows them: accuracy with one decimal and a % sign, counts as
    whole numbers, and "–" where a commit has no value (not trained; no count)."""
    import pandas as pd

    def text(value, percent: bool = False) -> str:
        if value is None or pd.isna(value):
            return "–"
        return f"{value:.1f}%" if percent else f"{int(value):,}"

    table = numbers.copy()
    table["accuracy"] = [text(v, percent=True) for v in numbers["accuracy"]]
    for col in ("edits", "suspects", "added", "removed", "examples"):
        table[col] = [text(v) for v in numbers[col]]
    return table


# Charts are Vega-Lite specs, not altair: importing altair made the first History visit
# 0.7 s slower.
def line_spec(field: str, title: str) -> dict:
    """FIELD over commits, oldest first; points as well as lines, so that a single commit
    still shows."""
    return {"title": title, "mark": {"type": "line", "point": True}, "encoding": {
        "x": {"field": "commit", "type": "nominal", "sort": None,
              "title": "commit (oldest first)"},
        "y": {"field": field, "type": "quantitative", "scale": {"zero": False}, "title": None},
        "tooltip": [{"field": f, **({"format": ".1f"} if f == "accuracy" else {})}
                    for f in ("commit", "message", field)]}}


def confusion_chart(r: ranking.Ranking, title: str) -> tuple[pd.DataFrame, dict]:
    """(data, spec) of a heatmap of R's confusion counts; mistakes (off the diagonal) are
    coloured, and a click on a cell selects it as "cell" (given, predicted)."""
    import pandas as pd

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
    cards_ui(ws, name, version.commit,
             [(ch["id"], f"{ch['old']} → **{ch['new']}**") for ch in changes[:100]])
    cards_ui(ws, name, version.commit,
             [(i, f"✓ checked **{version.labels.get(i)}**") for i in marks[:100]])


def cards_ui(ws, name, commit, cards: list[tuple[str, str]]) -> None:
    """Small cards (id, text) in rows of COLUMNS: the example's picture, its id, the text."""
    for start in range(0, len(cards), COLUMNS):
        for col, (i, text) in zip(st.columns(COLUMNS), cards[start:start + COLUMNS]):
            widgets.picture(col, ws, name, commit, i, width=72, missing=None)
            col.markdown(f"`{i}`  \n{text}")


def example_ui(ws, name, head: Head) -> None:
    """Every label an example has had, by its id."""
    st.subheader("Label history of an example")
    example = st.text_input("Example id", key="history_id",
                            placeholder=f"e.g. {next(iter(head.version.labels), '')}")
    if example:
        import pandas as pd

        try:
            found = pd.DataFrame(history.history(ws, name, example.strip(),
                                                 head=head.version))
            found["commit"] = found["commit"].str[:8]
            st.dataframe(found[["commit", "label", "message", "author", "date"]],
                         hide_index=True, width="stretch")
        except IDEError as exc:
            st.error(str(exc))


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
        r = loaders.load_ranking(str(ws.root), name, options[label])
        key = f"cm_{options[label][:8]}"
        data, spec = confusion_chart(r, label)
        col.vega_lite_chart(data, spec, key=key, selection_mode="cell",
                            on_select=functools.partial(actions.on_open_cell, key, r.classes,
                                                        label),
                            width="stretch")
