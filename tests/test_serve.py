"""The open port: a real `ide serve` lets in only who shows its token or its password.

Every HTTP and websocket request, `/media/` included, needs the token of the printed URL
(or the cookie it sets); a foreign Host header (DNS rebinding) or Origin is refused; wrong
guesses are slowed; IDE_PASSWORD is the alternative to the token. A kill of `ide serve`
stops what it started.
"""

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from ide.repo import commits
from ide.serve import gate

from test_browser import free_port, start_serve, stop


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`ide serve` on an empty workspace (so its worker stays idle): (printed URL, base)."""
    tmp = tmp_path_factory.mktemp("serve")
    ws = commits.init(tmp / "ws")
    proc, url, base = start_serve(ws, tmp)
    yield url, base
    stop(proc)


def get(url, headers=None):
    """(status, headers, body) of a GET that follows no redirect."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def get_when_up(url, headers, proc):
    """GET, asked again while the gate says the app behind it is still starting (503)."""
    while (answer := get(url, headers))[0] == 503 and proc.poll() is None:
        time.sleep(0.2)
    return answer


def cookie_of(headers) -> str:
    return headers["Set-Cookie"].split(";")[0]


def websocket_status(base, headers) -> int:
    host = urllib.parse.urlsplit(base).netloc
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("GET", "/_stcore/stream", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "streamlit",
        **headers})
    status = conn.getresponse().status
    conn.close()
    return status


def test_the_printed_url_just_works_and_sets_a_cookie(server):
    url, base = server
    assert "?token=" in url and len(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
                                   ["token"][0]) >= 32
    status, headers, body = get(url)
    assert status == 200 and b"<html" in body.lower()
    cookie = cookie_of(headers)
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    assert get(base + "/_stcore/health", {"Cookie": cookie})[0] == 200
    origin = {"Origin": base, "Cookie": cookie}
    assert websocket_status(base, origin) == 101


@pytest.mark.parametrize("path", ["/", "/_stcore/health", "/media/abc.png", "/_stcore/stream",
                                  "/static/js/index.js"])
def test_without_the_token_nothing_is_served(server, path):
    url, base = server
    status, _, body = get(base + path)
    assert status == 403 and b"token" in body


def test_a_websocket_needs_the_cookie_and_our_origin(server):
    url, base = server
    cookie = cookie_of(get(url)[1])
    assert websocket_status(base, {"Origin": base}) == 403
    assert websocket_status(base, {"Origin": "http://evil.example", "Cookie": cookie}) == 403


def test_dns_rebinding_a_foreign_host_is_refused(server):
    url, base = server
    port = urllib.parse.urlsplit(base).port
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        status, _, body = get(url, {"Host": host})
        assert status == 403 and b"Host" in body
    cookie = cookie_of(get(url)[1])
    assert websocket_status(base, {"Host": f"evil.example:{port}", "Cookie": cookie,
                                   "Origin": f"http://evil.example:{port}"}) == 403
    assert get(url, {"Host": f"localhost:{port}"})[0] == 200


def test_wrong_guesses_are_slowed(server):
    url, base = server
    start = time.time()
    threads = [threading.Thread(target=get, args=(f"{base}/?token=guess{n}",))
               for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.time() - start >= 3 * gate.PENALTY_S * 0.9  # one guess a second, in all
    # A forged value of the server's own cookie (its name, from a real answer) is a wrong
    # guess too: refused, and only after the penalty.
    name = cookie_of(get(url)[1]).split("=")[0]
    start = time.time()
    assert get(base + "/", {"Cookie": f"{name}=forged"})[0] == 403
    assert time.time() - start >= gate.PENALTY_S * 0.9


def test_a_password_instead_of_the_token(tmp_path):
    ws = commits.init(tmp_path / "ws")
    env = {**os.environ, "IDE_PASSWORD": "s3cret"}
    proc, url, base = None, None, None
    # start_serve opens the printed URL; with a password it answers the login page (200).
    proc, url, base = start_serve(ws, tmp_path, env=env)
    try:
        assert "token" not in url
        status, headers, _ = get(base + "/")
        assert status == 303 and headers["Location"].startswith("/_ide/login")
        assert get(base + "/media/x.png")[0] == 303
        data = urllib.parse.urlencode({"password": "wrong", "next": "/"}).encode()
        bad = urllib.request.Request(base + "/_ide/login", data=data)
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(bad, timeout=30)
        assert exc.value.code == 403 and b"wrong password" in exc.value.read()
        data = urllib.parse.urlencode({"password": "s3cret", "next": "/"}).encode()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None
        try:
            urllib.request.build_opener(NoRedirect).open(
                urllib.request.Request(base + "/_ide/login", data=data), timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code == 303
            cookie = cookie_of(exc.headers)
        # The login page is the gate's own: Streamlit may still be starting behind it.
        assert get_when_up(base + "/_stcore/health", {"Cookie": cookie}, proc)[0] == 200
    finally:
        stop(proc)


def test_allowed_hosts():
    assert gate.allowed_hosts("127.0.0.1", 8501) == {
        "127.0.0.1:8501", "localhost:8501", "[::1]:8501"}
    assert gate.allowed_hosts("0.0.0.0", 8501) is None
    assert gate.allowed_hosts("10.0.0.5", 80) == {"10.0.0.5:80", "10.0.0.5"}


def _children(proc, count=2, within=120):
    """The processes `ide serve` started (Streamlit and the worker), once both are there."""
    import psutil

    deadline = time.time() + within
    while time.time() < deadline:
        assert proc.poll() is None
        kids = psutil.Process(proc.pid).children(recursive=True)
        if len(kids) >= count:
            return kids
        time.sleep(0.02)
    raise AssertionError("ide serve did not start its children")


@pytest.mark.parametrize("sig, when", [(signal.SIGTERM, "starting"), (signal.SIGTERM, "serving"),
                                       (signal.SIGKILL, "serving")])
def test_a_kill_stops_streamlit_and_the_worker(tmp_path, sig, when):
    """`kill` of `ide serve` (even before its gate runs, or `kill -9` on Linux) leaves no
    Streamlit serving and no worker running."""
    import psutil

    ws = commits.init(tmp_path / "ws")
    if when == "starting":
        proc = subprocess.Popen([sys.executable, "-m", "ide.cli", "-C", str(ws.root), "serve",
                                 "--port", str(free_port())], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    else:
        proc = start_serve(ws, tmp_path)[0]
    kids = _children(proc)
    try:
        proc.send_signal(sig)
        proc.wait(timeout=60)
        gone, alive = psutil.wait_procs(kids, timeout=60)
        assert not alive, [k.cmdline() for k in alive]
    finally:
        for k in kids:
            if k.is_running():
                k.kill()
