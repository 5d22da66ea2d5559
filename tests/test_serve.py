"""The open port: a real `ide serve` lets in only who shows its token or its password.

Every HTTP and websocket request, `/media/` included, needs the token of the printed URL
(or the cookie it sets); the app's own port refuses whatever did not come through the gate;
a foreign Host header (DNS rebinding) or Origin is refused; guesses beyond one a second are
refused at once (429) without being compared; IDE_PASSWORD is the alternative to the token,
and its login leads only to this server. A busy port or a second server on one workspace is
a one-line error; a kill of `ide serve` stops what it started.
"""

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from ide.repo import commits
from ide.serve import gate

from test_browser import free_port, start_serve, stop


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`ide serve` on an empty workspace (so its worker stays idle): (process, printed URL,
    base, workspace)."""
    tmp = tmp_path_factory.mktemp("serve")
    ws = commits.init(tmp / "ws")
    proc, url, base = start_serve(ws, tmp)
    yield proc, url, base, ws
    stop(proc)


@pytest.fixture(scope="module")
def server(served):
    """(printed URL, base) of the module's `ide serve`."""
    return served[1:3]


@pytest.fixture(scope="module")
def cookie(server):
    """The cookie that the printed URL sets."""
    return cookie_of(until_budget(lambda: get(server[0]))[1])


@pytest.fixture(scope="module")
def with_password(tmp_path_factory):
    """`ide serve` with IDE_PASSWORD=s3cret: (process, base)."""
    tmp = tmp_path_factory.mktemp("password")
    ws = commits.init(tmp / "ws")
    # start_serve opens the printed URL; with a password it answers the login page (200).
    proc, url, base = start_serve(ws, tmp, env={**os.environ, "IDE_PASSWORD": "s3cret"})
    assert "token" not in url
    yield proc, base
    stop(proc)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url, headers=None, data=None):
    """(status, headers, body) of a GET (a POST with DATA) that follows no redirect."""
    req = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def until_budget(ask):
    """ASK() again while the server's budget of guesses is spent (429), at most 10 s: for
    tests that compare a secret but are not about the limit."""
    deadline = time.time() + 10
    while (answer := ask())[0] == 429 and time.time() < deadline:
        time.sleep(0.3)
    return answer


def login(base, password, nxt="/"):
    data = urllib.parse.urlencode({"password": password, "next": nxt}).encode()
    return until_budget(lambda: get(base + "/_ide/login", data=data))


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


def test_the_printed_url_sets_a_cookie_and_leaves_the_address_bar(server):
    """The token moves into the cookie by a redirect to the same address without it, so it
    stays out of the history and of Referer headers (which are not sent at all)."""
    url, base = server
    assert "?token=" in url and len(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
                                   ["token"][0]) >= 32
    status, headers, _ = until_budget(lambda: get(url + "&name=Ann+Lee"))
    assert status == 303 and headers["Location"] == "/?name=Ann+Lee"
    assert headers["Referrer-Policy"] == "no-referrer"
    cookie = cookie_of(headers)
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    status, headers, body = get(base + "/", {"Cookie": cookie})
    assert status == 200 and b"<html" in body.lower()
    assert headers["Referrer-Policy"] == "no-referrer"
    assert get(base + "/_stcore/health", {"Cookie": cookie})[0] == 200
    origin = {"Origin": base, "Cookie": cookie}
    assert websocket_status(base, origin) == 101


@pytest.mark.parametrize("path", ["/", "/_stcore/health", "/media/abc.png", "/_stcore/stream",
                                  "/static/js/index.js", "/ide-thumb?dataset=d&id=x"])
def test_without_the_token_nothing_is_served(server, path):
    url, base = server
    status, _, body = get(base + path)
    assert status == 403 and b"token" in body


def _app_port(proc) -> tuple:
    """The port the app listens on, as `ss -ltnp` shows it to any local user."""
    import psutil

    for kid in psutil.Process(proc.pid).children(recursive=True):
        if "ide.serve.backend" in kid.cmdline():
            ports = [c.laddr.port for c in kid.net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN]
            if ports:
                return ports[0], kid
    raise AssertionError("the app listens on no port")


def test_the_app_port_answers_only_the_gate(served, cookie):
    """Another local process that finds the app's own port gets 403 for everything, whatever
    its Host header, a cookie of the gate, or a guessed secret; the secret is in neither the
    app's command line nor its environment."""
    proc, url, base, _ = served
    port, app = _app_port(proc)
    private = f"http://127.0.0.1:{port}"
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["token"][0]
    for path in ("/", "/_stcore/health", "/media/abc.png", "/static/js/index.js",
                 f"/?token={token}", "/_stcore/host-config", "/ide-thumb?dataset=d&id=x"):
        for headers in ({}, {"Host": urllib.parse.urlsplit(base).netloc}, {"Cookie": cookie},
                        {"X-IDE-Gate": "guess"}):
            assert get(private + path, headers)[0] == 403, (path, headers)
    assert get(private + "/_stcore/upload_file/x/y", data=b"x")[0] == 403
    assert websocket_status(private, {"Origin": private}) == 403
    assert websocket_status(private, {"Origin": private, "Cookie": cookie}) == 403
    seen = [v for v in [*app.environ().values(), *app.cmdline()] if len(v) >= 32]
    assert all(get(private + "/", {"X-IDE-Gate": v})[0] == 403 for v in seen)
    # Through the gate the same requests pass, and the app's session runs its script.
    assert get(base + "/_stcore/health", {"Cookie": cookie})[0] == 200
    assert "Dataset IDE" in asyncio.run(_first_run(base, cookie))
    # the Map page's thumbnail route too (this workspace has no dataset: no such image)
    assert get(base + "/ide-thumb?dataset=d&commit=x&id=y", {"Cookie": cookie})[0] == 404


async def _first_run(base, cookie) -> str:
    """The app's elements of a first run, as a browser's websocket session receives them."""
    import aiohttp
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    name, value = cookie.split("=", 1)
    async with aiohttp.ClientSession(cookies={name: value}) as client:
        async with client.ws_connect(base.replace("http", "ws") + "/_stcore/stream",
                                     protocols=["streamlit"], headers={"Origin": base}) as ws:
            rerun = BackMsg()
            rerun.rerun_script.query_string = ""
            await ws.send_bytes(rerun.SerializeToString())
            seen = []
            while (msg := await asyncio.wait_for(ws.receive(), 30)).type == \
                    aiohttp.WSMsgType.BINARY:
                forward = ForwardMsg.FromString(msg.data)
                seen.append(str(forward.delta))
                if forward.WhichOneof("type") == "script_finished":
                    break
    return "".join(seen)


def test_a_websocket_needs_the_cookie_and_our_origin(server, cookie):
    url, base = server
    assert websocket_status(base, {"Origin": base}) == 403
    assert websocket_status(base, {"Origin": "http://evil.example", "Cookie": cookie}) == 403


def test_dns_rebinding_a_foreign_host_is_refused(server, cookie):
    url, base = server
    port = urllib.parse.urlsplit(base).port
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        status, _, body = get(url, {"Host": host})
        assert status == 403 and b"Host" in body
    assert websocket_status(base, {"Host": f"evil.example:{port}", "Cookie": cookie,
                                   "Origin": f"http://evil.example:{port}"}) == 403
    assert get(base + "/", {"Host": f"localhost:{port}", "Cookie": cookie})[0] == 200


async def _at_once(requests):
    """The statuses of REQUESTS ((method, url, kwargs)), all sent at once."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=30)) as client:
        async def one(method, url, kwargs):
            async with client.request(method, url, allow_redirects=False, **kwargs) as r:
                return r.status
        return await asyncio.gather(*(one(*r) for r in requests))


def test_wrong_tokens_beyond_the_budget_are_refused_uncompared(server, cookie):
    """Many wrong tokens at once: a few are compared (403), the rest get 429 at once; a
    forged cookie is refused at once too, and the real cookie still works meanwhile."""
    url, base = server
    start = time.time()
    statuses = asyncio.run(_at_once([("GET", f"{base}/?token=guess{n}", {})
                                     for n in range(200)]))
    took = time.time() - start
    assert set(statuses) <= {403, 429}
    assert statuses.count(403) <= gate.Budget().burst + took + 1 and took < 10
    name = cookie.split("=")[0]
    start = time.time()
    assert get(base + "/", {"Cookie": f"{name}=forged"})[0] == 403
    assert get(base + "/_stcore/health", {"Cookie": cookie})[0] == 200
    assert time.time() - start < 1


def test_a_password_instead_of_the_token(with_password):
    proc, base = with_password
    status, headers, _ = get(base + "/?name=Ann")
    assert status == 303 and headers["Location"] == "/_ide/login?next=%2F%3Fname%3DAnn"
    assert get(base + "/media/x.png")[0] == 303
    status, _, body = login(base, "wrong")
    assert status == 403 and b"wrong password" in body
    status, headers, _ = login(base, "s3cret", "/?name=Ann")
    assert status == 303 and headers["Location"] == "/?name=Ann"
    # The login page is the gate's own: Streamlit may still be starting behind it.
    cookie = cookie_of(headers)
    assert get_when_up(base + "/_stcore/health", {"Cookie": cookie}, proc)[0] == 200


@pytest.mark.parametrize("target", [
    "/%09/evil.example", "/\t/evil.example", "//evil.example", "/\\evil.example",
    "/%5C/evil.example", "%2F%2Fevil.example", " //evil.example", "/\n/evil.example",
    "http://evil.example", "javascript:alert(1)", "evil.example", "", "/%2F/evil.example"])
def test_after_login_only_a_path_of_this_server(target):
    assert gate.local_path(target) == "/"


def test_after_login_a_path_of_this_server_is_kept():
    assert gate.local_path("/?name=Ann+Lee") == "/?name=Ann+Lee"
    assert gate.local_path("/a b") == "/a%20b"


def test_the_login_redirect_stays_on_this_server(with_password):
    _, base = with_password
    for target in ("/%09/evil.example", "/\t/evil.example", "/\\evil.example"):
        status, headers, _ = login(base, "s3cret", target)
        assert status == 303 and headers["Location"] == "/", target


def test_a_big_login_is_refused_unread(with_password):
    """A login body over a few KB gets 413 before it is sent in full (and nothing waits)."""
    _, base = with_password
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=10)
    start = time.time()
    conn.putrequest("POST", "/_ide/login")
    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
    conn.putheader("Content-Length", str(60 * 1024 * 1024))
    conn.endheaders(b"password=" + b"x" * 1000)
    assert conn.getresponse().status == 413 and time.time() - start < 2
    conn.close()


def login_once(base, password) -> int:
    data = urllib.parse.urlencode({"password": password, "next": "/"}).encode()
    return get(base + "/_ide/login", data=data)[0]


def test_password_guesses_beyond_the_budget_are_refused_uncompared(with_password):
    """The right password among hundreds of wrong ones at once: only about one guess a
    second is compared, the rest get 429 at once (no queue); a logged-in browser is not held
    up meanwhile, and a person's login right after the burst gets in within two seconds."""
    proc, base = with_password
    cookie = cookie_of(login(base, "s3cret")[1])
    guesses = [f"guess{n}" for n in range(300)]
    guesses.insert(150, "s3cret")
    start = time.time()
    statuses = asyncio.run(_at_once([("POST", base + "/_ide/login", {"data": {
        "password": p, "next": "/"}}) for p in guesses]))
    took = time.time() - start
    compared = [s for s in statuses if s != 429]
    assert set(compared) <= {403, 303} and took < 10
    assert len(compared) <= gate.Budget().burst + took + 1
    assert get_when_up(base + "/_stcore/health", {"Cookie": cookie}, proc)[0] == 200
    start = time.time()
    while (status := login_once(base, "s3cret")) == 429 and time.time() - start < 5:
        time.sleep(0.1)
    assert status == 303 and time.time() - start < 2


def _serve(ws, port, timeout=60):
    return subprocess.run([sys.executable, "-m", "ide.cli", "-C", str(ws.root), "serve",
                           "--port", str(port)], capture_output=True, text=True,
                          timeout=timeout)


def _started_for(ws) -> list:
    """Processes that an `ide serve` of WS started: its worker, its app."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if str(ws.root) in " ".join(p.info["cmdline"] or []) or \
                    p.environ().get("IDE_WORKSPACE") == str(ws.root):
                found.append(p)
        except psutil.Error:
            pass
    return found


def test_a_busy_port_is_one_line_and_starts_nothing(tmp_path):
    ws = commits.init(tmp_path / "ws")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve(ws, port)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"ide: error: port {port} is in use (another `ide serve`?): pick another with --port"]
    assert _started_for(ws) == []


def test_a_second_serve_on_one_workspace_names_the_first(served):
    _, _, base, ws = served
    done = _serve(ws, free_port())
    assert done.returncode != 0 and done.stderr.strip().splitlines() == [
        f"ide: error: an `ide serve` is already running on this workspace (at {base}/)"]


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
