"""The Map page's scatter plot: a Streamlit component (components v2, inline JavaScript)
that draws every example as a dot on a canvas, shows the image of the dot under the mouse
(fetched from the server's thumbnail route, `THUMB`, served by `ide.serve.backend`), and selects the
dots inside a dragged box or lasso.

Why a canvas of our own: Plotly's WebGL scatter selects by box and lasso, but its hover
shows text only, and the image on hover is what tells a cluster's story. A canvas draws
100,000 dots in tens of milliseconds; a grid of buckets finds the dot under the mouse
without scanning them all.

Data from Python (`data`): `key` (the layout's identity: a new one redraws from scratch),
`x`, `y` (base64 of uint16 coordinates, 0..65535), `c` (base64 of uint8 colour indices),
`palette` (CSS colours), `legend` ([name, colour] pairs), `ids` (newline-separated),
`text` (base64 of uint8 label pairs: given, predicted class index), `classes`, `thumb`
(the thumbnail URL, the id appended) and `selected` (the ids selected now). State back to
Python: `selected` = {"key", "ids"}, set when a drag ends or the selection is cleared.
"""

from __future__ import annotations

import numpy as np

# The path of the server's thumbnail route (`ide.serve.backend`): ?dataset=&commit=&id=
THUMB = "/ide-thumb"
HEIGHT, PAD = 520, 8  # the canvas's height and the margin around the dots (JS below)



def quantised(xy: np.ndarray) -> np.ndarray:
    """(N, 2) uint16 of the (N, 2) points XY scaled to 0..65535 each way: what `data` sends."""
    span = np.ptp(xy, axis=0) if len(xy) else np.ones(2)
    low = xy.min(0) if len(xy) else np.zeros(2)
    return np.round((xy - low) / np.where(span > 0, span, 1) * 65535).astype("<u2")


def on_screen(xy: np.ndarray, box: dict) -> np.ndarray:
    """(N, 2) positions in the page of the dots of points XY, as the canvas at BOX (its
    bounding box: x, y, width) draws them: for tests and benchmarks that aim the mouse."""
    q = quantised(xy) / 65535
    return np.stack([box["x"] + PAD + q[:, 0] * (box["width"] - 2 * PAD),
                     box["y"] + PAD + (1 - q[:, 1]) * (HEIGHT - 2 * PAD)], 1)


HTML = """<div class="map">
 <div class="bar">
  <label><input type="radio" name="mode" value="box" checked> Box</label>
  <label><input type="radio" name="mode" value="lasso"> Lasso</label>
  <button class="clear" type="button">Clear selection</button>
  <span class="count"></span><span class="legend"></span>
 </div>
 <div class="stage"><canvas class="dots"></canvas><canvas class="ink"></canvas>
  <div class="tip"><img alt=""><div class="tiptext"></div></div></div>
</div>"""

CSS = """
.map { font-family: var(--st-font, sans-serif); font-size: 13px; color: var(--st-text-color); }
.bar { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; margin-bottom: 4px; }
.bar button { font: inherit; padding: 2px 8px; cursor: pointer; }
.legend span { margin-right: 10px; white-space: nowrap; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 5px;
            margin-right: 4px; vertical-align: middle; }
.stage { position: relative; border: 1px solid rgba(128,128,128,.3); border-radius: 4px; }
.stage canvas { position: absolute; left: 0; top: 0; }
.ink { cursor: crosshair; }
.tip { position: absolute; display: none; pointer-events: none; padding: 4px;
       background: var(--st-background-color, white); border: 1px solid #999;
       border-radius: 4px; box-shadow: 0 2px 6px rgba(0,0,0,.3); z-index: 2; }
.tip img { display: block; width: 96px; height: 96px; image-rendering: pixelated; }
.tiptext { max-width: 160px; overflow-wrap: anywhere; }
"""

JS = r"""
const HEIGHT = %d, PAD = %d, CELL = 8, HIT = 6;

function bytes(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function load(data, width) {
  // Screen positions of the dots, and a grid of buckets over them for the hover search.
  const x = new Uint16Array(bytes(data.x).buffer), y = new Uint16Array(bytes(data.y).buffer);
  const n = x.length, px = new Float64Array(n), py = new Float64Array(n);
  const w = width - 2 * PAD, h = HEIGHT - 2 * PAD;
  for (let i = 0; i < n; i++) { px[i] = PAD + x[i] / 65535 * w; py[i] = PAD + (1 - y[i] / 65535) * h; }
  const cols = Math.ceil(width / CELL), rows = Math.ceil(HEIGHT / CELL);
  const cell = new Int32Array(n), start = new Int32Array(cols * rows + 1);
  for (let i = 0; i < n; i++) {
    cell[i] = Math.floor(py[i] / CELL) * cols + Math.floor(px[i] / CELL);
    start[cell[i] + 1]++;
  }
  for (let k = 0; k < cols * rows; k++) start[k + 1] += start[k];
  const fill = start.slice(0, -1), items = new Int32Array(n);
  for (let i = 0; i < n; i++) items[fill[cell[i]]++] = i;
  const ids = data.ids.split("\n"), at = new Map(ids.map((id, i) => [id, i]));
  const picked = new Uint8Array(n);
  for (const id of data.selected) if (at.has(id)) picked[at.get(id)] = 1;
  return { key: data.key, width, n, px, py, cols, rows, start, items, ids, picked,
           c: bytes(data.c), text: bytes(data.text), any: data.selected.length > 0 };
}

function draw(m, canvas, palette) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, m.width, HEIGHT);
  const r = m.n > 20000 ? 1.5 : m.n > 2000 ? 3 : 6;  // dots as big as the crowd allows
  // One path per colour (and dimmed pass for the unselected): few fill calls, high colour last.
  for (const dim of m.any ? [1, 0] : [0]) {
    for (let k = 0; k < palette.length; k++) {
      ctx.fillStyle = palette[k];
      ctx.globalAlpha = dim ? 0.12 : 0.85;
      ctx.beginPath();
      for (let i = 0; i < m.n; i++) {
        if (m.c[i] !== k || (m.any && m.picked[i] === dim)) continue;
        ctx.rect(m.px[i] - r / 2, m.py[i] - r / 2, r, r);
      }
      ctx.fill();
    }
  }
  ctx.globalAlpha = 1;
}

function under(m, mx, my) {
  // The dot nearest the mouse within HIT pixels, or -1: only the 3 x 3 buckets around it.
  let best = -1, bestD = HIT * HIT;
  const cx = Math.floor(mx / CELL), cy = Math.floor(my / CELL);
  for (let gy = cy - 1; gy <= cy + 1; gy++) for (let gx = cx - 1; gx <= cx + 1; gx++) {
    if (gx < 0 || gy < 0 || gx >= m.cols || gy >= m.rows) continue;
    const k = gy * m.cols + gx;
    for (let j = m.start[k]; j < m.start[k + 1]; j++) {
      const i = m.items[j], d = (m.px[i] - mx) ** 2 + (m.py[i] - my) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    }
  }
  return best;
}

function inside(poly, x, y) {
  let yes = false;
  for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
    const [xa, ya] = poly[a], [xb, yb] = poly[b];
    if ((ya > y) !== (yb > y) && x < (xb - xa) * (y - ya) / (yb - ya) + xa) yes = !yes;
  }
  return yes;
}

function select(m, poly, box) {
  const xs = poly.map(p => p[0]), ys = poly.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const ids = [];
  m.picked.fill(0);
  for (let i = 0; i < m.n; i++) {
    const x = m.px[i], y = m.py[i];
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    if (box || inside(poly, x, y)) { m.picked[i] = 1; ids.push(m.ids[i]); }
  }
  m.any = ids.length > 0;
  return ids;
}

export default function ({ data, parentElement, setStateValue }) {
  const root = parentElement.querySelector(".map");
  const stage = root.querySelector(".stage"), dots = root.querySelector(".dots");
  const ink = root.querySelector(".ink"), tip = root.querySelector(".tip");
  const img = tip.querySelector("img"), tiptext = tip.querySelector(".tiptext");
  const width = Math.max(300, Math.floor(root.clientWidth || 800));
  for (const c of [dots, ink]) { c.width = width; c.height = HEIGHT; }
  stage.style.height = HEIGHT + "px";
  const m = load(data, width);
  const count = root.querySelector(".count");
  const say = () => { count.textContent = m.any ? `${m.picked.reduce((a, b) => a + b, 0)} selected` : `${m.n} examples: drag to select`; };
  root.querySelector(".legend").innerHTML = data.legend.map(
    ([name, colour]) => `<span><i style="background:${colour}"></i>${name}</span>`).join("");
  draw(m, dots, data.palette);
  say();
  root.dataset.drawn = m.key;  // for tests: this layout is on the canvas

  let drag = null, hovered = -1;
  const pos = e => { const b = ink.getBoundingClientRect(); return [e.clientX - b.left, e.clientY - b.top]; };
  const mode = () => root.querySelector("input[name=mode]:checked").value;
  const send = ids => setStateValue("selected", { key: m.key, ids });
  ink.onmousedown = e => { drag = [pos(e)]; tip.style.display = "none"; };
  ink.onmousemove = e => {
    const [mx, my] = pos(e);
    if (drag) {
      if (mode() === "lasso") drag.push([mx, my]); else drag[1] = [mx, my];
      const ctx = ink.getContext("2d");
      ctx.clearRect(0, 0, width, HEIGHT);
      ctx.strokeStyle = "#333"; ctx.setLineDash([4, 3]); ctx.beginPath();
      if (mode() === "lasso") { drag.forEach(([x, y], i) => i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)); ctx.closePath(); }
      else ctx.rect(drag[0][0], drag[0][1], mx - drag[0][0], my - drag[0][1]);
      ctx.stroke();
      return;
    }
    const i = under(m, mx, my);
    if (i < 0) { tip.style.display = "none"; hovered = -1; return; }
    if (i !== hovered) {
      hovered = i;
      img.src = data.thumb + encodeURIComponent(m.ids[i]);
      tiptext.textContent = `${m.ids[i]} · ${data.classes[m.text[2 * i]]} → ${data.classes[m.text[2 * i + 1]]}`;
    }
    tip.style.left = Math.min(mx + 12, width - 180) + "px";
    tip.style.top = Math.min(my + 12, HEIGHT - 140) + "px";
    tip.style.display = "block";
  };
  ink.onmouseleave = () => { tip.style.display = "none"; hovered = -1; };
  ink.onmouseup = e => {
    if (!drag) return;
    const [mx, my] = pos(e), [x0, y0] = drag[0];
    ink.getContext("2d").clearRect(0, 0, width, HEIGHT);
    const poly = mode() === "lasso" ? drag.concat([[mx, my]]) : [[x0, y0], [mx, y0], [mx, my], [x0, my]];
    drag = null;
    // A click is no selection; a lasso ends where it began, so its size is what counts.
    const xs = poly.map(p => p[0]), ys = poly.map(p => p[1]);
    if (Math.max(...xs) - Math.min(...xs) + Math.max(...ys) - Math.min(...ys) <= 4) return;
    const ids = select(m, poly, mode() === "box");
    draw(m, dots, data.palette);
    say();
    send(ids);
  };
  root.querySelector(".clear").onclick = () => { m.picked.fill(0); m.any = false; draw(m, dots, data.palette); say(); send([]); };
}
""" % (HEIGHT, PAD)
