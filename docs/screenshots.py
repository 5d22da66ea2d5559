"""Screenshots of the app on the demo workspace, for the README.

    python docs/screenshots.py      # needs Debian's chromium and playwright; ~1 minute

Builds (or reuses) the demo workspace in /tmp/ide-screenshots, accepts the model's
suggestion for its 40 most suspicious digits in a commit (as a reviewer would), stages one
more edit for Ada and one for Grace, serves it, and saves the Review page (as Ada sees it)
as docs/gallery.png, the History page as docs/history.png and the Map page, with the
mouse on the most suspicious digit (its image shown), as docs/map.png.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main(workspace: str = "/tmp/ide-screenshots") -> None:
    from ide.learn import ranking, runs
    from ide.repo import commits, history, staged, versions
    from ide.repo.workspace import Workspace

    subprocess.run([sys.executable, "-m", "ide.cli", "demo", workspace, "--no-serve"],
                   check=True)
    ws = Workspace(workspace)
    if len(history.log(ws, "digits")) == 2:
        top = ranking.suspects(ws, versions.resolve(ws, "digits"), top=40)
        staged.relabel(ws, "digits", {r["id"]: r["predicted"] for r in top})
        commits.commit(ws, "digits", "Accept the model's suggestion for the top 40 suspects",
                     author="Ada Lovelace <ada@example.org>")
        runs.retrain(ws, versions.resolve(ws, "digits"))
    head = versions.resolve(ws, "digits")
    r = ranking.load(ws, head)
    if not staged.read(ws, "digits", head, "Ada Lovelace")["labels"]:
        # Pending edits of two reviewers: Ada's own (badged) and Grace's (read-only).
        for who, row in zip(["Ada Lovelace", "Grace Hopper"], r.rows(r.order[:2])):
            staged.relabel(ws, "digits", {row["id"]: row["predicted"]}, owner=who)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = Path(workspace) / ".ide" / "screenshots-serve.log"
    with open(log, "w") as fh:
        server = subprocess.Popen([sys.executable, "-m", "ide.cli", "-C", workspace, "serve",
                                   "--port", str(port)], start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=fh)
    try:
        for _ in range(120):  # the URL it prints holds the token the gate asks for
            found = re.search(r"at (http://\S+)", log.read_text())
            if found:
                try:
                    urllib.request.urlopen(found[1], timeout=1)
                    break
                except OSError:
                    pass
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(found[1] + "&name=Ada+Lovelace&email=ada%40example.org")
            page.get_by_text("Out-of-fold accuracy").wait_for(timeout=60_000)
            page.wait_for_timeout(2500)
            page.screenshot(path=str(HERE / "gallery.png"))
            page.get_by_text("History").click()
            page.get_by_text("What a commit changed").wait_for(timeout=60_000)
            page.get_by_text("Confusion matrix").wait_for(timeout=60_000)
            page.wait_for_timeout(4000)
            page.screenshot(path=str(HERE / "history.png"), full_page=True)
            map_page(page, ws, head, [row["id"] for row in r.rows(r.order[:50])
                                      if row["label"] != row["predicted"]])
            browser.close()
    finally:
        os.killpg(server.pid, 15)


def map_page(page, ws, head, candidates: list[str]) -> None:
    """docs/map.png: the Map page with the mouse on the dot of the first of CANDIDATES (the
    suspects, say) that no other dot hides, cut below the map."""
    from ide.app import map_canvas
    from ide.ops import atlas

    page.get_by_text("Map", exact=True).click()
    page.locator(".map[data-drawn]").wait_for(timeout=300_000)
    box = page.locator("canvas.ink").bounding_box()
    ids, xy = atlas.layout(ws, head)  # the server made it: read back
    where = map_canvas.on_screen(xy, box)
    for example_id in candidates:
        page.mouse.move(*map(float, where[ids.index(example_id)]))
        if example_id in page.locator(".tiptext").inner_text():
            break
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=page.locator(".tip img").element_handle())
    page.screenshot(path=str(HERE / "map.png"),
                    clip={"x": 300, "y": 0, "width": 1100, "height": box["y"] + box["height"] + 12})


if __name__ == "__main__":
    main(*sys.argv[1:])
