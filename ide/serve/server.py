"""`ide serve`: the Streamlit app behind its gate, plus the worker that retrains every commit.

Streamlit listens on a private loopback port; the public port is `ide.gate`, which lets in
only requests that show this server's token (printed in the URL) or, with IDE_PASSWORD set,
the password. The worker runs as a separate process (`ide watch`), so training never blocks
the app. Listening on anything but the loopback interface needs a password (IDE_PASSWORD).
A SIGTERM or SIGHUP (`kill`, a closed terminal) stops it like Ctrl-C: Streamlit and the
worker are stopped with it (on Linux even after a `kill -9`).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys

from ide.app import SCRIPT
from ide.errors import IDEError
from ide.repo.workspace import Workspace

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_host(host: str, password: str | None) -> None:
    if host not in LOOPBACK and not password:
        raise IDEError(f"refusing to listen on {host} without a password: set IDE_PASSWORD "
                       "(or use the default --host 127.0.0.1)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_parent():
    """In a child, before it runs: on Linux, get a SIGTERM when `ide serve` dies, even by
    `kill -9` (which leaves no chance to stop the children)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop(procs, timeout: float = 10) -> None:
    """Ask every child to stop at once, then wait; one that does not stop in TIMEOUT
    seconds is killed."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def streamlit_command(port: int) -> list[str]:
    """The command line that runs the app on loopback PORT, behind the gate."""
    return [sys.executable, "-m", "streamlit", "run", SCRIPT, "--server.address",
            "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--client.toolbarMode", "viewer"]  # no "Deploy" button


def serve(ws: Workspace, *, host: str = "127.0.0.1", port: int = 8501,
          worker: bool = True, pull_every: float | None = None, remote: str = "origin") -> int:
    """Run the app behind its gate until interrupted; returns 0, or Streamlit's exit code
    if it ended by itself. PULL_EVERY: the worker pulls from REMOTE that often."""
    from ide.serve import gate

    password = os.environ.get("IDE_PASSWORD") or None
    check_host(host, password)
    token = None if password else secrets.token_urlsafe(24)
    env = {**os.environ, "IDE_WORKSPACE": str(ws.root)}
    env.pop("IDE_PASSWORD", None)  # the gate checks it; the app never needs it
    private = _free_port()
    # Until the gate runs (it handles signals itself), a SIGTERM would end this process
    # without its `finally`, leaving the children serving: make it an interrupt.
    before = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    before[signal.SIGINT] = signal.getsignal(signal.SIGINT)
    children = []
    try:
        if worker:
            pulls = ["--pull-every", str(pull_every), "--pull-from", remote] if pull_every \
                else []
            children.append(subprocess.Popen([sys.executable, "-m", "ide.cli", "-C",
                                              str(ws.root), "watch", *pulls], env=env,
                                             preexec_fn=_with_parent))
        streamlit = subprocess.Popen(streamlit_command(private), env=env,
                                     preexec_fn=_with_parent)
        children.append(streamlit)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
        print(f"ide: serving {ws.root} at {url}" + (" (password: IDE_PASSWORD)" if password
                                                   else ""), file=sys.stderr, flush=True)
        gate.run(host, port, private, token=token, password=password)
        return streamlit.poll() or 0
    except KeyboardInterrupt:
        return 0
    finally:
        # A second signal while stopping must not cut the cleanup short.
        for sig in before:
            signal.signal(sig, signal.SIG_IGN)
        _stop(children)
        for sig, handler in before.items():
            signal.signal(sig, handler)
