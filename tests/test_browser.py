"""Real-browser tests: `ide serve` on a temporary workspace, driven in Debian's Chromium.

Relabel a suspect with the keyboard and a click, commit, and see the automatic retrain's
metrics of the new commit appear, without reloading the page.
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

from ide import history, staged

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


@pytest.fixture
def served(trained_ws):
    """`ide serve` (app + worker) on a copy of the trained toy workspace."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "IDE_PASSWORD"}
    proc = subprocess.Popen([sys.executable, "-m", "ide.cli", "-C", str(trained_ws.root),
                             "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("ide serve did not come up")
        yield trained_ws, url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def test_relabel_commit_and_see_the_retrained_metrics(served, page, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    ws, url = served
    page.goto(url)
    page.get_by_text("Out-of-fold accuracy").wait_for()
    page.get_by_text("1 / 90").wait_for()
    page.keyboard.press("n")  # the keyboard moves through the suspects
    page.get_by_text("2 / 90").wait_for()
    page.keyboard.press("p")
    page.get_by_text("1 / 90").wait_for()
    page.get_by_role("button", name=re.compile(r"^Accept .* \(A\)")).click()
    page.get_by_text("staged 1 edit(s)").wait_for()
    assert len(staged.read(ws, "toy")["labels"]) == 1

    page.get_by_label("Your name").fill("Browser User")
    page.get_by_label("Your name").press("Enter")
    page.get_by_label("Commit message").fill("Fixed in the browser")
    page.get_by_label("Commit message").press("Enter")
    page.get_by_role("button", name="Commit", exact=True).click()
    page.get_by_text("committed; retraining starts by itself").wait_for()
    head = ws.head()
    assert history.log(ws, "toy")[0]["message"] == "Fixed in the browser"
    # The worker inside `ide serve` retrains; the page picks up the new model by itself.
    try:
        viewing = page.get_by_label("Viewing the model of")
        sync_api.expect(viewing).to_have_value(re.compile(head[:8]), timeout=120_000)
    finally:
        page.screenshot(path=str(tmp_path / "after-commit.png"), full_page=True)
    page.get_by_text("History").click()
    page.get_by_text("Out-of-fold accuracy").first.wait_for()
    page.screenshot(path=str(tmp_path / "history.png"), full_page=True)
    from ide import runs
    assert runs.metrics(ws, "toy", head)["examples"] == 90
