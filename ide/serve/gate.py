"""The gate in front of the app: every request, HTTP or websocket, `/media/` included, shows
the server's secret first (as Jupyter does), then is passed on to Streamlit.

`ide serve` runs Streamlit on a private loopback port and this reverse proxy (aiohttp) on
the public one. A request passes if it carries the server's cookie, or the token of the URL
that `ide serve` printed (`?token=...`, which sets the cookie), or, with IDE_PASSWORD set,
after the password was given on the login page. Requests whose Host header is not the bound
address are refused (DNS rebinding), as are websockets from another origin; a wrong token,
password or cookie is answered after a second, one at a time, so guessing is slow.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import secrets

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
       "trailer", "transfer-encoding", "upgrade", "content-length", "host"}
PENALTY_S = 1.0  # the answer to a wrong secret waits this long, one wrong answer at a time
_LOGIN = """<!doctype html><title>Dataset IDE</title>
<form method=post action=/_ide/login style="font-family:sans-serif;margin:4em auto;width:20em">
<h2>Dataset IDE</h2>{error}<input type=password name=password autofocus placeholder=Password>
<input type=hidden name=next value="{next}"><button>Open</button></form>"""


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """The Host headers a request may carry; None: any (listening on all interfaces, where
    the token or the password is what protects)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    names = {host, "127.0.0.1", "localhost", "[::1]"} if host in (
        "127.0.0.1", "localhost", "::1") else {host}
    names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
    return {f"{n}:{port}" for n in names} | ({*names} if port == 80 else set())


class Gate:
    def __init__(self, backend_port: int, *, token: str | None, password: str | None,
                 hosts: set[str] | None, cookie: str = "ide_auth"):
        self.backend = f"127.0.0.1:{backend_port}"
        self.token, self.password, self.hosts = token, password, hosts
        self.cookie = cookie
        self.session = secrets.token_urlsafe(32)  # the cookie's value: this server's only
        self._penalty = asyncio.Lock()

    # -- checks ----------------------------------------------------------------------------
    def _host_ok(self, request) -> bool:
        return self.hosts is None or request.host in self.hosts

    async def _wrong(self) -> None:
        async with self._penalty:  # one wrong guess a second, whoever guesses
            await asyncio.sleep(PENALTY_S)

    async def _authenticated(self, request) -> bool | None:
        """True: let in; None: no credentials; False: wrong ones (already slowed)."""
        given = request.query.get("token")
        cookie = request.cookies.get(self.cookie)
        if self.token and given is not None:
            if hmac.compare_digest(given.encode(), self.token.encode()):
                return True
            await self._wrong()
            return False
        if cookie is not None:
            if hmac.compare_digest(cookie.encode(), self.session.encode()):
                return True
            await self._wrong()
            return False
        return None

    # -- handlers --------------------------------------------------------------------------
    async def handle(self, request):
        from aiohttp import web

        if not self._host_ok(request):
            return web.Response(status=403, text="ide: refused: unknown Host header\n")
        if request.path == "/_ide/login" and self.password:
            return await self._login(request)
        ok = await self._authenticated(request)
        if not ok:
            if self.password and request.method == "GET" and \
                    request.headers.get("Upgrade", "").lower() != "websocket":
                raise web.HTTPSeeOther(f"/_ide/login?next={request.path}")
            return web.Response(status=403, text="ide: refused: open the URL that `ide serve`"
                                " printed (it holds the token)\n")
        if request.headers.get("Upgrade", "").lower() == "websocket":
            response = await self._websocket(request)
        else:
            response = await self._http(request)
        if request.cookies.get(self.cookie) != self.session:
            response.set_cookie(self.cookie, self.session, httponly=True, samesite="Strict",
                                path="/")
        return response

    async def _login(self, request):
        from aiohttp import web

        error, nxt = "", request.query.get("next", "/")
        if request.method == "POST":
            form = await request.post()
            nxt = str(form.get("next", "/"))
            if hmac.compare_digest(str(form.get("password", "")).encode(),
                                   self.password.encode()):
                response = web.HTTPSeeOther(nxt if nxt.startswith("/") and
                                            not nxt.startswith("//") else "/")
                response.set_cookie(self.cookie, self.session, httponly=True,
                                    samesite="Strict", path="/")
                raise response
            await self._wrong()
            error = "<p style=color:#b00>wrong password</p>"
        return web.Response(text=_LOGIN.format(error=error, next=html.escape(nxt)),
                            content_type="text/html", status=403 if error else 200)

    def _forwarded(self, request) -> dict:
        return {k: v for k, v in request.headers.items() if k.lower() not in HOP} | {
            "Host": request.host}

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
            return web.Response(status=503, text="ide: the app is starting; reload\n")

    async def _websocket(self, request):
        import aiohttp
        from aiohttp import web

        origin = request.headers.get("Origin")
        if origin and origin.split("://", 1)[-1] != request.host:
            return web.Response(status=403, text="ide: refused: websocket from another "
                                "origin\n")
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
            return web.Response(status=503, text="ide: the app is starting; reload\n")
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


def run(host: str, port: int, backend_port: int, *, token: str | None,
        password: str | None) -> None:
    """Serve the gate on HOST:PORT until interrupted."""
    from aiohttp import web

    gate = Gate(backend_port, token=token, password=password,
                hosts=allowed_hosts(host, port), cookie=f"ide_auth_{port}")
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", gate.handle)
    web.run_app(app, host=host, port=port, print=None, access_log=None,
                handle_signals=True)
