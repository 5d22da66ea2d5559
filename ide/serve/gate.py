"""The gate in front of the app: every request, HTTP or websocket, `/media/` included, shows
the server's secret first (as Jupyter does), then is passed on to the app.

`ide serve` runs the app (`ide.serve.backend`) on a private loopback port and this reverse
proxy (aiohttp) on the public one. A request passes if it carries the server's cookie, or
the token of the URL that `ide serve` printed (`?token=...`: a page load with it gets the
cookie and a redirect to the same address without it, so the token stays out of the
address bar, the history and Referer headers), or, with IDE_PASSWORD set, after the
password was given on the login page. What passes carries the backend's secret
(`X-IDE-Gate`), which only the gate knows: the app answers nobody else.

Requests whose Host header is not the bound address are refused (DNS rebinding), as are
websockets from another origin. A token or password is compared only while the server's
budget allows (`Budget`: one a second, a few at once); beyond it the answer is 429 at once,
uncompared, so no queue forms. The cookie is compared always (256 random bits: guessing it
is hopeless at any rate), so a logged-in browser is never held up; a wrong one counts as
none. A login body is at most LOGIN_BODY bytes, any other body BODY bytes; a request that
is not let in never has its body read. While the app behind it starts, a page load gets 503
and a page that reloads itself.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import secrets
import time
from urllib.parse import quote, unquote, urlencode

from ide.serve.backend import HEADER

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
       "trailer", "transfer-encoding", "upgrade", "content-length", "host", HEADER.lower()}
LOGIN_BODY = 4096  # a password form, with room to spare
BODY = 16 * 1024 * 1024  # the app uploads no files: its requests are small
_LOGIN = """<!doctype html><title>Dataset IDE</title>
<form method=post action=/_ide/login style="font-family:sans-serif;margin:4em auto;width:20em">
<h2>Dataset IDE</h2>{error}<input type=password name=password autofocus placeholder=Password>
<input type=hidden name=next value="{next}"><button>Open</button></form>"""
# While Streamlit starts behind the gate, a browser's page load gets this, asking again by
# itself every second: the user never has to reload.
_STARTING = """<!doctype html><title>Dataset IDE</title><meta http-equiv="refresh" content="1">
<p style="font-family:sans-serif;margin:4em auto;width:20em">ide: the app is starting…</p>"""


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """The Host headers a request may carry; None: any (listening on all interfaces, where
    the token or the password is what protects)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    names = {host, "127.0.0.1", "localhost", "[::1]"} if host in (
        "127.0.0.1", "localhost", "::1") else {host}
    names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
    return {f"{n}:{port}" for n in names} | ({*names} if port == 80 else set())


def local_path(target: str) -> str:
    """TARGET, escaped, if a browser reads it as a path on this server; else "/". Browsers
    drop tabs and newlines from a URL and read `\\` as `/`, so `/%09/evil.example` would
    lead to `//evil.example`, another host: what is left after decoding and dropping
    whitespace and control characters must start with one `/` not followed by `/` or `\\`
    (which also leaves no room for a scheme)."""
    seen = "".join(c for c in unquote(target) if c.isprintable() and not c.isspace())
    if not seen.startswith("/") or seen[1:2] in ("/", "\\"):
        return "/"
    return quote(target, safe="/?&=%#+,;:@!$'()*~")


class Budget:
    """A token bucket: at most RATE comparisons of a secret a second for the whole server,
    BURST at once (a person's typos). `take` answers at once, so guesses beyond it are
    refused instead of waiting in a queue that would hold up the next honest login."""

    def __init__(self, rate: float = 1.0, burst: int = 3):
        self.rate, self.burst = rate, burst
        self.left, self.at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.left = min(self.burst, self.left + (now - self.at) * self.rate)
        self.at = now
        if self.left < 1:
            return False
        self.left -= 1
        return True


def _text(status: int, text: str, **headers):
    from aiohttp import web

    return web.Response(status=status, text=f"ide: {text}\n", headers=headers)


def _see_other(location: str):
    from aiohttp import web

    return web.Response(status=303, headers={"Location": location})


TOO_MANY = (429, "too many attempts for this server; wait a second and try again")


class Gate:
    def __init__(self, backend_port: int, *, secret: str, token: str | None,
                 password: str | None, hosts: set[str] | None, cookie: str = "ide_auth"):
        self.backend = f"127.0.0.1:{backend_port}"
        self.secret, self.token, self.password, self.hosts = secret, token, password, hosts
        self.cookie = cookie
        self.session = secrets.token_urlsafe(32)  # the cookie's value: this server's only
        self.budget = Budget()

    # -- checks ----------------------------------------------------------------------------
    def _host_ok(self, request) -> bool:
        return self.hosts is None or request.host in self.hosts

    def _cookie_ok(self, request) -> bool:
        given = request.cookies.get(self.cookie)
        return given is not None and hmac.compare_digest(given.encode(), self.session.encode())

    def _let_in(self, response) -> None:
        response.set_cookie(self.cookie, self.session, httponly=True, samesite="Strict",
                            path="/")

    # -- handlers --------------------------------------------------------------------------
    async def handle(self, request):
        if not self._host_ok(request):
            return _text(403, "refused: unknown Host header")
        if request.path == "/_ide/login" and self.password:
            return await self._login(request)
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        page = request.method in ("GET", "HEAD") and not websocket
        given = request.query.get("token") if self.token else None
        known = self._cookie_ok(request)
        if not known:
            if given is None:
                if self.password and page:
                    return _see_other("/_ide/login?" + urlencode({"next": request.path_qs}))
                return _text(403, "refused: open the URL that `ide serve` printed (it holds "
                             "the token)")
            if not self.budget.take():
                return _text(*TOO_MANY, **{"Retry-After": "1"})
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return _text(403, "refused: wrong token")
        if given is not None and page:  # the token moves into the cookie, off the URL
            query = urlencode([(k, v) for k, v in request.query.items() if k != "token"])
            response = _see_other(quote(request.path) + (f"?{query}" if query else ""))
        elif websocket:
            response = await self._websocket(request)
        else:
            response = await self._http(request)
        if not known:
            self._let_in(response)
        return response

    async def _login(self, request):
        from aiohttp import web

        error, status, nxt = "", 200, request.query.get("next", "/")
        if request.method == "POST":
            if request.content_length is None or request.content_length > LOGIN_BODY:
                return _text(413, f"refused: a login is at most {LOGIN_BODY} bytes")
            form = await request.post()
            nxt = str(form.get("next", "/"))
            if not self.budget.take():
                status, error = TOO_MANY
            elif hmac.compare_digest(str(form.get("password", "")).encode(),
                                     self.password.encode()):
                response = _see_other(local_path(nxt))
                self._let_in(response)
                return response
            else:
                status, error = 403, "wrong password"
        error = f"<p style=color:#b00>{error}</p>" if error else ""
        return web.Response(text=_LOGIN.format(error=error, next=html.escape(nxt)),
                            content_type="text/html", status=status,
                            headers={"Retry-After": "1"} if status == 429 else None)

    def _forwarded(self, request) -> dict:
        return {k: v for k, v in request.headers.items() if k.lower() not in HOP} | {
            "Host": request.host, HEADER: self.secret}

    async def _http(self, request):
        import aiohttp
        from aiohttp import web

        url = f"http://{self.backend}{request.rel_url}"
        try:
            async with aiohttp.ClientSession(auto_decompress=False) as client:
                async with client.request(request.method, url, headers=self._forwarded(request),
                                          data=await request.read(),
                                          allow_redirects=False) as up:
                    body = await up.read()
                    headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP
                               and k.lower() != "set-cookie"}
                    response = web.Response(status=up.status, body=body, headers=headers)
                    for c in up.headers.getall("Set-Cookie", []):
                        response.headers.add("Set-Cookie", c)
                    return response
        except aiohttp.ClientConnectionError:
            if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                return web.Response(text=_STARTING, content_type="text/html", status=503,
                                    headers={"Retry-After": "1"})
            return _text(503, "the app is starting; reload")

    async def _websocket(self, request):
        import aiohttp
        from aiohttp import web

        origin = request.headers.get("Origin")
        if origin and origin.split("://", 1)[-1] != request.host:
            return _text(403, "refused: websocket from another origin")
        protocols = [p.strip() for p in
                     request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        headers = {k: v for k, v in self._forwarded(request).items() if not
                   k.lower().startswith("sec-websocket")}
        client = aiohttp.ClientSession()
        try:
            up = await client.ws_connect(f"ws://{self.backend}{request.rel_url}",
                                         headers=headers, protocols=protocols, max_msg_size=0)
        except aiohttp.ClientError:
            await client.close()
            return _text(503, "the app is starting; reload")
        down = web.WebSocketResponse(protocols=[up.protocol] if up.protocol else (),
                                     max_msg_size=0)
        await down.prepare(request)

        async def pump(src, dst):
            async for msg in src:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await dst.send_bytes(msg.data)
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    await dst.send_str(msg.data)
                else:
                    break
            await dst.close()

        try:
            await asyncio.gather(pump(down, up), pump(up, down), return_exceptions=True)
        finally:
            await up.close()
            await client.close()
        return down


async def _no_referrer(request, response) -> None:
    response.headers["Referrer-Policy"] = "no-referrer"  # no address leaves with a link


def run(socks, host: str, port: int, backend_port: int, *, secret: str, token: str | None,
        password: str | None) -> None:
    """Serve the gate on SOCKS (bound to HOST:PORT) until interrupted."""
    from aiohttp import web

    gate = Gate(backend_port, secret=secret, token=token, password=password,
                hosts=allowed_hosts(host, port), cookie=f"ide_auth_{port}")
    app = web.Application(client_max_size=BODY)
    app.router.add_route("*", "/{tail:.*}", gate.handle)
    app.on_response_prepare.append(_no_referrer)
    web.run_app(app, sock=socks, print=None, access_log=None, handle_signals=True)
