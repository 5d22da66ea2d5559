"""The app in a real browser, for the benchmarks: `ide serve` in a fresh process, Chromium
through Playwright, and the time from a key press until the page shows its result.

The focused example's position ("3 / 1,797") is the change a key makes: N and P move it,
and A, K and a class key stage their edit and move it on, in the same run of the page. The
position is read in the page itself (`wait_for_function`, polled each animation frame), so
the time is the browser's, not Playwright's polling.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(ROOT)}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# The focused example's position as the page shows it: an element whose text is "3 / 1797".
POSITION_JS = r"""() => {
  for (const e of document.querySelectorAll('strong, p, span')) {
    const m = /^\s*([\d,]+) \/ ([\d,]+)\s*$/.exec(e.textContent);
    if (m && e.children.length === 0) return parseInt(m[1].replace(/,/g, ''));
  }
  return null;
}"""
# Streamlit's "running" indicator: shown while a run of the page (or a fragment) goes on.
RUNNING_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


def loadavg() -> str:
    """The machine's load average over 1, 5 and 15 minutes, as /proc/loadavg says it."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(root: Path, log: Path):
    """`ide serve` on the workspace ROOT, a fresh process: (process, the URL with its
    token, seconds until that URL answered)."""
    port = free_port()
    env = {k: v for k, v in ENV.items() if k != "IDE_PASSWORD"}
    start = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "ide.cli", "-C", str(root), "serve",
                                 "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=fh,
                                start_new_session=True)
    # One opener: the gate's cookie, once given, lets the next tries in without spending
    # its budget of token comparisons (one a second), which the browser needs next.
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        found = re.search(r"at (http://\S+)", log.read_text())
        if found:
            try:
                with opener.open(found[1], timeout=2) as r:
                    if r.status == 200:
                        return proc, found[1], time.perf_counter() - start
            except OSError:
                pass
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"ide serve did not come up: {log.read_text()[-2000:]}")


def stop(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def launch(p):
    """A page of a fresh headless Chromium (Debian's), 1400 x 1000."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    return browser, page


def position(page) -> int | None:
    return page.evaluate(POSITION_JS)


# The page is whole once its last part, the gallery's pager, is shown: the focused
# example's panel comes first, and the buttons that bind the keys (N among them) half a
# second later at 100,000 examples; a key pressed before them was lost.
WHOLE_JS = "() => [...document.querySelectorAll('button')].some(b => b.innerText.includes('Page ▶'))"


def first_load(page, url: str) -> float:
    """Seconds from opening URL until the whole page shows (the focused example's panel,
    its buttons and the gallery, whose keys are then bound) and its run is over."""
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function(f"() => ({POSITION_JS})() === 1", polling="raf")
    page.wait_for_function(WHOLE_JS, polling="raf")
    page.wait_for_function(RUNNING_JS, polling="raf")
    return time.perf_counter() - start


def idle(page, settle: float = 0.3) -> None:
    """Wait until no run of the page goes on, then SETTLE seconds: a key pressed during a
    run can be dropped, which is not what is measured."""
    page.wait_for_function(RUNNING_JS, polling=50)
    time.sleep(settle)


def press(page, key: str, timeout: float = 30) -> float | None:
    """Seconds from pressing KEY until the focused example's position changes; None if it
    did not within TIMEOUT (the key was not bound yet, or was dropped)."""
    before = position(page)
    start = time.perf_counter()
    page.keyboard.press(key)
    try:
        page.wait_for_function(f"() => {{ const p = ({POSITION_JS})(); "
                               f"return p !== null && p !== {before}; }}",
                               polling="raf", timeout=timeout * 1000)
    except Exception:  # Playwright's TimeoutError
        return None
    return time.perf_counter() - start


def bind(page) -> float:
    """Press N until it lands (a key pressed before Streamlit bound its shortcuts is lost);
    seconds from the first press until the page showed one. Leaves the focus one on."""
    start, deadline = time.perf_counter(), time.time() + 120
    while press(page, "n", timeout=3) is None:
        if time.time() > deadline:
            raise RuntimeError("the N key never moved the focused example")
    took = time.perf_counter() - start
    idle(page)
    return took
