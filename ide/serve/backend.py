"""The Streamlit app as `ide serve` runs it behind its gate: `python -m ide.serve.backend PORT`.

It serves the app on loopback PORT (Streamlit's `st.App`) and answers 403 to every HTTP
request and websocket that lacks the header `X-IDE-Gate: <secret>`: pages, `/static/`,
`/media/`, `/_stcore/`, the app's websocket and the Map page's thumbnail route
(`ide.app.map_canvas.THUMB`: an example's thumbnail, for the image on hover) alike. The secret is this server run's,
read from the first line of standard input (not the command line or the environment, which
`ps` and /proc show); only the gate (`ide.serve.gate`) adds the header. So another local
process that finds the port gets nothing from it.
"""

from __future__ import annotations

import hmac
import sys

from ide.app import SCRIPT

HEADER = "X-IDE-Gate"
# As `streamlit run` flags would say: loopback only, no browser, no file watching, and the
# toolbar of a viewer (no "Deploy" button); no welcome message naming this port, which
# nobody but the gate can use.
CONFIG = {"server.address": "127.0.0.1", "server.headless": True,
          "browser.gatherUsageStats": False, "server.fileWatcherType": "none",
          "client.toolbarMode": "viewer", "logger.hideWelcomeMessage": True}


class GateOnly:
    """ASGI middleware: a request passes only with the gate's secret in HEADER."""

    def __init__(self, app, secret: str):
        self.app, self.secret = app, secret.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and not self._shown(scope):
            if scope["type"] == "websocket":  # closed before it is accepted: HTTP 403
                await send({"type": "websocket.close", "code": 1008})
                return
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body",
                        "body": b"ide: refused: open the app through `ide serve`'s URL\n"})
            return
        await self.app(scope, receive, send)

    def _shown(self, scope) -> bool:
        # ASGI gives header names in lower case; the gate sends exactly one.
        given = [v for k, v in scope["headers"] if k == HEADER.lower().encode()]
        return len(given) == 1 and hmac.compare_digest(given[0], self.secret)


async def thumbnail(request):
    """GET THUMB?dataset=NAME&commit=COMMIT&id=ID: the example's thumbnail (PNG), or 404."""
    import os

    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    from ide.app import loaders

    q = request.query_params
    png = await run_in_threadpool(loaders.thumbnail_png, os.environ.get("IDE_WORKSPACE", "."),
                                  q.get("dataset", ""), q.get("commit", ""), q.get("id", ""))
    if png is None:
        return Response(b"no such image", status_code=404, media_type="text/plain")
    # A commit's image never changes: the browser may keep it.
    return Response(png, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=86400"})


def main(port: int) -> None:
    import streamlit as st
    from starlette.middleware import Middleware
    from starlette.routing import Route

    from ide.app.map_canvas import THUMB

    secret = sys.stdin.readline().strip()
    if not secret:  # without one, anyone who finds the port would be let in
        sys.exit("ide: error: no secret on standard input; run the app with `ide serve`")
    app = st.App(SCRIPT, routes=[Route(THUMB, thumbnail)],
                 middleware=[Middleware(GateOnly, secret=secret)])
    app.run(config={**CONFIG, "server.port": port})


if __name__ == "__main__":
    main(int(sys.argv[1]))
