"""`ide serve`: the Streamlit app plus the worker that retrains every new commit.

The worker runs as a separate process (`ide watch`), so training never blocks the app.
Listening on anything but the loopback interface needs a password (IDE_PASSWORD).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .errors import IDEError
from .workspace import Workspace

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_host(host: str, password: str | None) -> None:
    if host not in LOOPBACK and not password:
        raise IDEError(f"refusing to listen on {host} without a password: set IDE_PASSWORD "
                       "(or use the default --host 127.0.0.1)")


def serve(ws: Workspace, *, host: str = "127.0.0.1", port: int = 8501,
          worker: bool = True) -> int:
    """Run the app until interrupted; returns streamlit's exit code."""
    check_host(host, os.environ.get("IDE_PASSWORD"))
    env = {**os.environ, "IDE_WORKSPACE": str(ws.root)}
    watcher = None
    if worker:
        watcher = subprocess.Popen([sys.executable, "-m", "ide.cli", "-C", str(ws.root),
                                    "watch"], env=env)
    app = Path(__file__).with_name("app.py")
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", host,
           "--server.port", str(port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    print(f"ide: serving {ws.root} on http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        if watcher:
            watcher.terminate()
            watcher.wait(timeout=10)
