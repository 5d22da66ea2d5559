"""How long a key of the Review page takes until the browser shows its result.

    python bench/keys.py                  # the digits demo (1,797 examples), 5 presses a key
    python bench/keys.py --repeat 10 --ws /tmp/digits   # reuse (or keep) the workspace

It builds `ide demo`'s workspace of digits without training it (probabilities from `ide
predictions`, 2% planted wrong, as bench/scale.py does), starts a fresh `ide serve`, opens
the app in Chromium as reviewer "bench", and presses each key REPEAT times: N and P (move),
A (accept the suggestion), a digit (relabel) and K (the label is right). Each time is from
the key press until the page shows the focused example moved on (A, a digit and K move on
once their edit is staged), with no run of the page going on before the press; the first
key counts from its first press (one pressed before the shortcuts are bound is lost, and
pressed again after 3 s). Then a second reviewer opens the page. Prints a table of median and max against the targets, with
the load average of the machine at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's `ide`
import web  # noqa: E402  (bench/web.py, beside this file)

from ide.repo import staged, versions  # noqa: E402
from ide.repo.workspace import Workspace  # noqa: E402

TARGET = 0.5  # seconds from a key until its result shows (issue 21)
# The given label of the focused example, as its panel says it: "... · given 3 (97%) · ...".
GIVEN_JS = r"""() => {
  const m = /given (\S+) \(/.exec(document.body.innerText);
  return m ? m[1] : null;
}"""
ACCEPT_JS = r"""() => {
  const b = [...document.querySelectorAll("button")].find(b => /^Accept .*\(A\)/.test(b.innerText));
  return !!b && !b.disabled;
}"""


def workspace(path: Path) -> Workspace:
    """The digits demo at PATH with planted probabilities (made once; reused after)."""
    from scale import planted_probs

    from ide.ops import demo

    ws, _ = demo.build(path)
    version = versions.resolve(ws, "digits")
    if not (ws.root / ".ide" / "bench-probs.npy").exists():
        probs = ws.root / ".ide" / "bench-probs.npy"
        np.save(probs, planted_probs(sorted(version.labels), version.labels))
        subprocess.run([sys.executable, "-m", "ide.cli", "-C", str(ws.root), "predictions",
                        "digits", str(probs)], env=web.ENV, check=True)
    return ws


def key_for(page, row: str) -> str | None:
    """The key to press for ROW on the focused example (None: it has none): its suggestion
    for A, if any; for "digit", a digit other than its label."""
    if row == "A":
        return "a" if page.evaluate(ACCEPT_JS) else None
    if row == "digit":
        given = page.evaluate(GIVEN_JS)
        return str((int(given) + 1) % 10) if given and given.isdigit() else None
    return row.lower()


def measure(root: Path, repeat: int) -> dict:
    from playwright.sync_api import sync_playwright

    proc, url, out = None, None, {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            proc, url, up = web.serve(root, Path(tmp) / "serve.log")
            out["serve_up"] = [up]
            with sync_playwright() as p:
                browser, page = web.launch(p)
                out["first"] = [web.first_load(page, url + "&name=bench")]
                out["key1"] = [web.bind(page)]
                for _ in range(repeat):
                    for row in ("N", "P", "A", "digit", "K"):
                        web.idle(page)
                        key = key_for(page, row)
                        if key is None:
                            continue
                        took = web.press(page, key)
                        out.setdefault(row, []).append(float("nan") if took is None else took)
                second = browser.new_page(viewport={"width": 1400, "height": 1000})
                out["second"] = [web.first_load(second, url + "&name=other")]
                browser.close()
        finally:
            if proc:
                web.stop(proc)
    return out


ROWS = [("serve_up", "ide serve answers (fresh process)", ""),
        ("first", "first page until shown, its run over", "< 3"),
        ("key1", "the first key (N) until shown", f"< {TARGET}"),
        ("N", "N until shown", f"< {TARGET}"), ("P", "P until shown", f"< {TARGET}"),
        ("A", "A (accept) until shown", f"< {TARGET}"),
        ("digit", "a digit (relabel) until shown", f"< {TARGET}"),
        ("K", "K (label is right) until shown", f"< {TARGET}"),
        ("second", "a second reviewer's first page", "< 3")]


def table(out: dict, loads: tuple[str, str]) -> str:
    lines = [f"{'seconds':<46} {'target':>7} {'median':>7} {'max':>7} {'n':>3}", "-" * 74]
    for key, what, target in ROWS:
        vals = out.get(key, [])
        if vals:
            lines.append(f"{what:<46} {target:>7} {statistics.median(vals):>7.3f} "
                         f"{max(vals):>7.3f} {len(vals):>3}")
    lines.append(f"load average (1, 5, 15 min): {loads[0]} at the start, {loads[1]} at the end")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="presses of each key")
    ap.add_argument("--ws", help="the workspace folder (made there if missing; kept)")
    ap.add_argument("--json", action="store_true", help="print the raw times as JSON too")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ide-keys-") as tmp:
        ws = workspace(Path(args.ws or Path(tmp) / "digits"))
        start = web.loadavg()
        out = measure(ws.root, args.repeat)
        staged.unstage(ws, "digits", owner="bench")  # a rerun starts from the same page
        if args.json:
            print(json.dumps(out))
        print(table(out, (start, web.loadavg())))


if __name__ == "__main__":
    main()
