"""`ide serve`: the Streamlit app behind its gate, plus the worker that retrains every commit.

The app (`ide.serve.backend`) listens on a private loopback port and answers only requests
that carry this server run's secret; the public port is `ide.serve.gate`, which lets in only
requests that show this server's token (printed in the URL) or, with IDE_PASSWORD set, the
password, and adds the secret. The worker runs as a separate process (`ide watch`), so
training never blocks the app. Listening on anything but the loopback interface needs a
password (IDE_PASSWORD). One `ide serve` per workspace (a lock held for the server's life),
and the public port is bound before anything starts, so a busy port or a second server is a
one-line error (`ide demo`, asked for no port, takes a free one if 8501 is busy). A SIGTERM
or SIGHUP (`kill`, a closed terminal) stops it like Ctrl-C: the app and the worker are
stopped with it (on Linux even after a `kill -9`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import socket
import subprocess
import sys

from filelock import Timeout

from ide.errors import IDEError
from ide.repo import state
from ide.repo.workspace import Workspace

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_PORT = 8501


def check_host(host: str, password: str | None) -> None:
    if host not in LOOPBACK and not password:
        raise IDEError(f"refusing to listen on {host} without a password: set IDE_PASSWORD "
                       "(or use the default --host 127.0.0.1)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listen(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to HOST:PORT (one per address of HOST, as aiohttp would bind), or a
    one-line error: bound before the app and the worker start, so none is left running."""
    try:
        addresses = {a[4][:2]: a[0] for a in socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)}
    except socket.gaierror as exc:
        raise IDEError(f"cannot listen on {host}: {exc.strerror}") from None
    socks = []
    try:
        for address, family in addresses.items():
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio does
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            # Listening at once: a browser that opens the printed URL before the gate runs
            # waits in the backlog instead of being refused.
            sock.listen(128)
    except OSError as exc:
        for sock in socks:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise IDEError(f"port {port} is in use (another `ide serve`?): pick another "
                           "with --port") from None
        raise IDEError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return socks


def _one_per_workspace(ws: Workspace):
    """The lock that `ide serve` holds on WS for its life; a second one is a one-line error
    that names the first one's address."""
    try:
        return state.lock(ws, "serve", timeout=0).acquire()
    except Timeout:
        where = state.read_json(state.path(ws, "serve.json"), {}).get("url", "?")
        raise IDEError(f"an `ide serve` is already running on this workspace (at {where})") \
            from None


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


def app_command(port: int) -> list[str]:
    """The command line that runs the app on loopback PORT, behind the gate."""
    return [sys.executable, "-m", "ide.serve.backend", str(port)]


def _listen_somewhere(host: str, port: int | None) -> tuple[list[socket.socket], int]:
    """Sockets bound to HOST:PORT, and the port; PORT None: DEFAULT_PORT, or a free port
    where that one is busy (`ide demo` must start whatever else runs on 8501)."""
    if port is not None:
        return listen(host, port), port
    try:
        return listen(host, DEFAULT_PORT), DEFAULT_PORT
    except IDEError:
        port = _free_port()
        return listen(host, port), port


def serve(ws: Workspace, *, host: str = "127.0.0.1", port: int | None = DEFAULT_PORT,
          worker: bool = True, pull_every: float | None = None, remote: str = "origin") -> int:
    """Run the app behind its gate until interrupted; returns 0, or the app's exit code if
    it ended by itself. PULL_EVERY: the worker pulls from REMOTE that often. PORT None:
    DEFAULT_PORT, or a free one if it is busy."""
    from ide.serve import gate

    password = os.environ.get("IDE_PASSWORD") or None
    check_host(host, password)
    token = None if password else secrets.token_urlsafe(24)
    env = {**os.environ, "IDE_WORKSPACE": str(ws.root)}
    env.pop("IDE_PASSWORD", None)  # the gate checks it; the app never needs it
    secret = secrets.token_urlsafe(32)
    private = _free_port()
    with _one_per_workspace(ws):
        socks, port = _listen_somewhere(host, port)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        address = f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"
        state.write_json(state.path(ws, "serve.json"), {"url": address, "pid": os.getpid()})
        # Until the gate runs (it handles signals itself), a SIGTERM would end this process
        # without its `finally`, leaving the children serving: make it an interrupt.
        before = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM,
                                                                  signal.SIGHUP)}
        before[signal.SIGINT] = signal.getsignal(signal.SIGINT)
        children = []
        try:
            if worker:
                pulls = ["--pull-every", str(pull_every), "--pull-from", remote] \
                    if pull_every else []
                children.append(subprocess.Popen([sys.executable, "-m", "ide.cli", "-C",
                                                  str(ws.root), "watch", *pulls], env=env,
                                                 preexec_fn=_with_parent))
            app = subprocess.Popen(app_command(private), env=env, stdin=subprocess.PIPE,
                                   preexec_fn=_with_parent)
            children.append(app)
            with contextlib.suppress(BrokenPipeError):  # an app that died: app.poll() says
                app.stdin.write(f"{secret}\n".encode())
                app.stdin.close()
            print(f"ide: serving {ws.root} at {address}" + (
                " (password: IDE_PASSWORD)" if password else f"?token={token}"),
                file=sys.stderr, flush=True)
            gate.run(socks, host, port, private, secret=secret, token=token, password=password)
            return app.poll() or 0
        except KeyboardInterrupt:
            return 0
        finally:
            # A second signal while stopping must not cut the cleanup short.
            for sig in before:
                signal.signal(sig, signal.SIG_IGN)
            _stop(children)
            for sig, handler in before.items():
                signal.signal(sig, handler)
