"""Real-browser tests: `ide serve` on a temporary workspace, driven in Debian's Chromium.

Give a name (kept in the URL), move with the keyboard (examples and pages), relabel a
suspect with a click (a toast: the page does not shift), commit, and see the automatic
retrain's metrics of the new commit appear, without reloading the page. Waits follow
progress (the server's log, the worker's status), not a fixed guess of a loaded machine.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ide.ops import worker
from ide.repo import commits, history, staged

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(ws, tmp_path, *extra, env=None):
    """`ide serve` on WS; returns (process, the URL it printed, its public base URL).
    Waits for progress (the printed URL, then the app answering), at most two minutes."""
    port = free_port()
    env = env or {k: v for k, v in os.environ.items() if k != "IDE_PASSWORD"}
    log = tmp_path / f"serve-{port}.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "ide.cli", "-C", str(ws.root),
                                 "serve", "--port", str(port), *extra], env=env,
                                stdout=subprocess.DEVNULL, stderr=fh, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    printed = None
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()
        found = re.search(r"at (http://\S+)", log.read_text())
        if found:
            printed = found[1]
            try:
                opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
                with opener.open(printed, timeout=2) as r:
                    if r.status == 200:
                        return proc, printed, base
            except OSError:
                pass
        time.sleep(0.2)
    stop(proc)
    pytest.fail(f"ide serve did not come up: {log.read_text()}")


def stop(proc):
    os.killpg(proc.pid, 15)
    proc.wait(timeout=20)


@pytest.fixture
def served(trained_ws, tmp_path):
    """`ide serve` (app + worker) on a copy of the trained toy workspace: (ws, printed URL)."""
    proc, url, _ = start_serve(trained_ws, tmp_path)
    try:
        yield trained_ws, url
    finally:
        stop(proc)


def press_until(page, key, want, before):
    """Press KEY until WANT shows. Streamlit binds its shortcuts after the page first shows,
    and a key pressed during a rerun can be dropped; the key is pressed again only while
    BEFORE still shows, so a key that did land is never pressed twice."""
    from playwright.sync_api import TimeoutError

    deadline = time.time() + 60
    while True:
        page.keyboard.press(key)
        try:
            page.get_by_text(want, exact=True).wait_for(timeout=3000)
            return
        except TimeoutError:
            if time.time() > deadline or not page.get_by_text(before, exact=True).is_visible():
                page.get_by_text(want, exact=True).wait_for()
                return


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def wait_for_training(ws, name, commit, stall=180):
    """Wait until COMMIT of NAME is trained, as long as the worker makes progress: fail only
    when its status (state, phase, fraction) has not moved for STALL seconds."""
    seen, since = None, time.time()
    while True:
        status = worker.model_status(ws, name, commit)
        if status["state"] == "trained":
            return
        assert status["state"] != "failed", status
        now = (status["state"], status.get("progress"), status.get("fraction"))
        if now != seen:
            seen, since = now, time.time()
        assert time.time() - since < stall, f"no training progress for {stall} s: {status}"
        time.sleep(0.5)


def test_relabel_commit_and_see_the_retrained_metrics(served, page, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    ws, url = served
    page.goto(url)
    page.get_by_text("Out-of-fold accuracy").wait_for()
    page.get_by_text("1 / 90", exact=True).wait_for()
    assert not page.get_by_text("Deploy").is_visible()  # the toolbar has no Deploy button
    press_until(page, "n", "2 / 90", "1 / 90")  # the keyboard moves through the suspects
    press_until(page, "p", "1 / 90", "2 / 90")
    press_until(page, "Shift+N", "51 / 90", "1 / 90")  # and through the gallery's pages
    press_until(page, "Shift+P", "1 / 90", "51 / 90")
    page.get_by_text("Give your name").wait_for()  # asked before the first edit
    page.get_by_label("Your name").fill("Browser User")
    page.get_by_label("Your name").press("Enter")
    page.get_by_label("Your name").blur()  # shortcut keys are ignored inside a text input
    sync_api.expect(page).to_have_url(re.compile(r"name=Browser"))  # kept on reload
    metric = page.get_by_text("Out-of-fold accuracy").first
    before = metric.bounding_box()["y"]
    page.get_by_role("button", name=re.compile(r"^Accept .* \(A\)")).click()
    page.get_by_text("staged 1 edit(s)").wait_for()
    assert metric.bounding_box()["y"] == before  # a toast: nothing pushed down
    assert len(staged.read(ws, "toy", owner="Browser User")["labels"]) == 1

    page.get_by_label("Commit message").fill("Fixed in the browser")
    page.get_by_label("Commit message").press("Enter")
    page.get_by_role("button", name="Commit", exact=True).click()
    page.get_by_text("committed; retraining starts by itself").wait_for()
    head = ws.head()
    assert history.log(ws, "toy")[0]["message"] == "Fixed in the browser"
    assert history.log(ws, "toy")[0]["author"].startswith("Browser User <")
    # The worker inside `ide serve` retrains; the page picks up the new model by itself.
    try:
        wait_for_training(ws, "toy", head)
        viewing = page.get_by_label("Viewing the model of")
        sync_api.expect(viewing).to_have_value(re.compile(head[:8]), timeout=60_000)
    finally:
        page.screenshot(path=str(tmp_path / "after-commit.png"), full_page=True)
    page.get_by_text("History").click()
    page.get_by_text("Out-of-fold accuracy").first.wait_for()
    page.screenshot(path=str(tmp_path / "history.png"), full_page=True)
    from ide.learn import runs
    assert runs.commit_metrics(ws, "toy", head)["examples"] == 90


def test_the_starting_page_reloads_itself(page, tmp_path):
    """While the app behind the gate starts, a page load gets 503 and a page that asks again
    by itself: once the app answers, the browser shows it without a reload."""
    port, backend = free_port(), free_port()
    gate = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys; from ide.serve import gate; s = socket.socket(); "
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
        f"s.bind(('127.0.0.1', {port})); "
        f"gate.run([s], '127.0.0.1', {port}, {backend}, secret='s', token='t', password=None)")],
        start_new_session=True)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "index.html").write_text("<p>the app itself</p>")
    app = None
    try:
        deadline = time.time() + 30
        while True:  # the gate is up when its port answers
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline and gate.poll() is None
                time.sleep(0.1)
        answer = page.goto(f"http://127.0.0.1:{port}/?token=t")
        assert answer.status == 503 and "the app is starting" in page.content()
        app = subprocess.Popen([sys.executable, "-m", "http.server", str(backend), "--bind",
                                "127.0.0.1", "-d", str(tmp_path / "app")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        page.get_by_text("the app itself").wait_for(timeout=30_000)
    finally:
        stop(gate)
        if app:
            app.terminate()
            app.wait(timeout=20)


def cut_short(page) -> list[str]:
    """The labels of buttons and checkboxes that the page shows cut short ("Next pa..."):
    an element of theirs whose text is wider than its box."""
    return page.evaluate("""() => [...document.querySelectorAll(
        '[data-testid="stButton"] button *, [data-testid="stCheckbox"] label *')]
        .filter(e => e.scrollWidth > e.clientWidth + 1 && e.textContent.trim())
        .map(e => e.textContent.trim())""")


def test_no_label_is_cut_short(served, page):
    """At the default width of 1280 pixels, with the reviewer's name given (every button
    shows) and a card ticked (the bulk assign shows), no button or checkbox label is cut."""
    ws, url = served
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url + "&name=Ada")
    page.get_by_text("1 / 90", exact=True).wait_for()
    page.locator("[data-testid=stCheckbox]").filter(has_text="select").first.click()
    page.get_by_text("Assign 1 selected to").first.wait_for()
    page.wait_for_timeout(1000)  # the last widths settle
    assert cut_short(page) == []


def test_the_page_follows_a_burst_of_commits(served, page):
    """Bob's staged edit shows as pending; Bob commits it, and while the worker trains that
    commit Grace commits one that cannot train: without a reload the page drops Bob's
    committed edit from the pending ones, shows the model of Bob's commit once trained (the
    newest trained one), and says why HEAD has none."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ws, url = served
    staged.relabel(ws, "toy", {"v/010.jpg": "h"}, owner="Bob")
    page.goto(url + "&name=Ada")
    page.get_by_text("1 / 90", exact=True).wait_for()
    pending = page.get_by_text("Others' pending: 1 edit(s)", exact=False)
    pending.wait_for()
    bob = commits.commit(ws, "toy", "Bob's fix", owner="Bob")
    while worker.model_status(ws, "toy", bob)["state"] not in ("training", "trained"):
        time.sleep(0.2)
    (ws.root / "datasets/toy/params.yaml").write_text("folds: 1\n")
    ws.git("commit", "-qam", "Grace's bad params")
    sync_api.expect(pending).to_have_count(0, timeout=30_000)  # no click, no reload
    wait_for_training(ws, "toy", bob)
    viewing = page.get_by_label("Viewing the model of")
    sync_api.expect(viewing).to_have_value(re.compile(bob[:8]), timeout=30_000)
    page.get_by_text("Training HEAD failed").wait_for()


def map_points(ws, box) -> dict:
    """{id: (x, y) in the page} of the Map page's dots in the canvas at BOX."""
    from ide.app import map_canvas
    from ide.ops import atlas
    from ide.repo import versions

    ids, xy = atlas.layout(ws, versions.resolve(ws, "toy"))  # the server made it: read back
    return {i: (float(x), float(y)) for i, (x, y) in zip(ids, map_canvas.on_screen(xy, box))}


def test_the_map_shows_images_on_hover_and_a_box_is_the_gallery(served, page, tmp_path):
    """On the Map page, the dot under the mouse shows its image; a box dragged around the
    dots of one class makes the gallery exactly the dots inside it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    ws, url = served
    page.goto(url + "&name=Ada")
    page.get_by_text("1 / 90", exact=True).wait_for()
    page.get_by_text("Map", exact=True).click()
    page.locator(".map[data-drawn]").wait_for()
    ink = page.locator("canvas.ink")
    where = map_points(ws, ink.bounding_box())
    x, y = where["h/001.png"]
    page.mouse.move(x, y)
    tip = page.locator(".tip img")
    page.wait_for_function("img => img.complete && img.naturalWidth === 96",
                           arg=tip.element_handle(), timeout=30_000)
    assert "h/001.png" in page.locator(".tiptext").inner_text()
    h = [p for i, p in where.items() if i.startswith("h/")]
    # whole pixels: where the mouse lands (a point on the box's edge is in it, as in the page)
    x0, x1 = int(min(p[0] for p in h)) - 3, int(max(p[0] for p in h)) + 3
    y0, y1 = int(min(p[1] for p in h)) - 3, int(max(p[1] for p in h)) + 3
    inside = {i for i, (px, py) in where.items() if x0 <= px <= x1 and y0 <= py <= y1}
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()
    page.get_by_text(f"{len(inside)} examples match", exact=False).wait_for()
    cards = page.locator("[data-testid=stCheckbox]").filter(has_text="select")
    sync_api.expect(cards).to_have_count(len(inside))  # the cards are drawn after the caption
    page.screenshot(path=str(tmp_path / "map.png"), full_page=True)
    shown = set(page.locator("[data-testid=stMarkdownContainer] code").all_inner_texts())
    assert shown & set(where) == inside
    # A lasso around the v dots (traced along a rectangle): the same, for its own dots.
    v = [p for i, p in where.items() if i.startswith("v/")]
    x0, x1 = int(min(p[0] for p in v)) - 3, int(max(p[0] for p in v)) + 3
    y0, y1 = int(min(p[1] for p in v)) - 3, int(max(p[1] for p in v)) + 3
    inside = {i for i, (px, py) in where.items() if x0 < px < x1 and y0 < py < y1}
    page.get_by_label("Lasso").check()
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)):
        page.mouse.move(x, y, steps=4)
    page.mouse.up()
    code = page.locator("[data-testid=stMarkdownContainer] code")
    gone = next(i for i in where if i.startswith("h/") and i not in inside)
    sync_api.expect(code.filter(has_text=gone)).to_have_count(0)  # the box's gallery went
    page.get_by_text(f"{len(inside)} examples match", exact=False).wait_for()
    sync_api.expect(cards).to_have_count(len(inside))
    assert set(code.all_inner_texts()) & set(where) == inside
