"""``qws serve``: the workstation served to a browser by textual-serve, behind a token.

Each browser session is its own ``qws run`` process (textual-serve starts one per websocket),
on the same store and settings as the server. Every request needs the token: the first one
carries it in the URL (``/?token=...``, printed once at start; a fresh token at every start,
or with ``--keep-token`` the one kept in the keyring), and gets a cookie (HttpOnly,
SameSite=Strict, scoped to this port) plus a redirect to a URL without it, so the
token is not left in the address bar or the browser's history. Anything else is answered 401
with one line and nothing of the app. The websocket also has to come from the page's own
origin. The access log is off: a logged request line would carry the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import secrets
import signal
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import WSCloseCode, web
from aiohttp.web_runner import GracefulExit
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

log = logging.getLogger("qws.serve")

TEMPLATES = Path(__file__).parent / "templates"
COOKIE_DAYS = 30
"""How long a browser keeps its cookie when the token is kept (``--keep-token``); otherwise the
cookie lasts the browser session, and a new start's token shuts it out anyway."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ServeError(ValueError):
    """A bad ``qws serve`` setting: one clear line."""


def new_token() -> str:
    """A random token for one server start (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether ``host`` binds only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """The server's TLS context from a certificate (and key) file, or None for plain HTTP."""
    if certfile is None:
        if keyfile is not None:
            raise ServeError("--keyfile needs --certfile")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ServeError(f"cannot load the TLS certificate {certfile}: {exc}") from exc
    return context


class WorkstationServer(Server):
    """textual-serve's server with the token guard, a session limit, TLS, and a page that
    needs no network (see ``templates/app_index.html``)."""

    def __init__(
        self,
        command: str,
        *,
        host: str,
        port: int,
        token: str,
        title: str = "qws",
        show_token: bool = True,
        persistent: bool = False,
        max_sessions: int = 4,
        ssl_context: ssl.SSLContext | None = None,
        announce: Callable[[str], None] = print,
    ) -> None:
        scheme = "https" if ssl_context else "http"
        shown = f"[{host}]" if ":" in host else host
        super().__init__(
            command,
            host=host,
            port=port,
            title=title,
            public_url=f"{scheme}://{shown}:{port}",
            templates_path=TEMPLATES,
        )
        if max_sessions < 1:
            raise ServeError("--max-sessions must be at least 1")
        self.token = token
        self.show_token = show_token
        self.persistent = persistent
        self.max_sessions = max_sessions
        self.ssl_context = ssl_context
        self.live: dict[AppService, web.WebSocketResponse] = {}
        self.refused = 0
        self.announce = announce
        self.cookie = f"qws_token_{port}"

    @property
    def url(self) -> str:
        """The URL to open, token included: printed once, at start."""
        return f"{self.public_url}/?token={self.token}"

    def authorised(self, request: web.Request) -> bool:
        """Whether ``request`` carries the token, in its query or in this server's cookie."""
        given = request.query.get("token") or request.cookies.get(self.cookie) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.authorised(request):
            self.refused += 1
            return web.Response(
                status=401,
                text="401 Unauthorized: open the URL with the token that qws serve printed\n",
            )
        if request.path == "/ws":
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                self.refused += 1
                return web.Response(status=403, text="403 Forbidden: cross-origin websocket\n")
        if "token" in request.query:
            query = {k: v for k, v in request.query.items() if k != "token"}
            target = request.rel_url.with_query(query)
            response = web.HTTPSeeOther(location=str(target))
            response.set_cookie(
                self.cookie,
                self.token,
                httponly=True,
                samesite="Strict",
                secure=self.ssl_context is not None,
                path="/",
                max_age=COOKIE_DAYS * 86_400 if self.persistent else None,
            )
            return response
        return await handler(request)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.guard)
        return app

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The app page, its URLs built from the request (so a LAN address or a proxy's host
        works); 503 with a reason when every session is taken."""
        if self.sessions >= self.max_sessions:
            return web.Response(
                status=503,
                text=f"503: {self.sessions} sessions are open (qws serve --max-sessions"
                f" {self.max_sessions}); close one and reload\n",
            )
        origin = f"{request.scheme}://{request.host}"
        ws_scheme = "wss" if request.scheme == "https" else "ws"
        context: dict[str, Any] = {
            "font_size": to_int(request.query.get("fontsize", ""), 16),
            "app_websocket_url": f"{ws_scheme}://{request.host}/ws",
            "config": {"static": {"url": f"{origin}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One browser session: its own app process for as long as its websocket lives
        (textual-serve's handler, with the session kept where shutdown can reach it)."""
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)

        async def close() -> None:
            await websocket.close()

        service = AppService(
            self.command,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=close,
            download_manager=self.download_manager,
            debug=self.debug,
        )
        self.live[service] = websocket
        try:
            width = to_int(request.query.get("width", ""), 80)
            await service.start(width, to_int(request.query.get("height", ""), 24))
            await self._process_messages(websocket, service)
        except Exception:
            log.exception("browser session failed")
        finally:
            self.live.pop(service, None)
            await service.stop()
        return websocket

    @property
    def sessions(self) -> int:
        return len(self.live)

    async def on_shutdown(self, app: web.Application) -> None:
        """Quit every session's app (each stores what it holds and exits) before the server's
        handlers are cancelled, then close their websockets."""
        live = list(self.live.items())
        await asyncio.gather(*(service.stop() for service, _ in live), return_exceptions=True)
        for _, websocket in live:
            await websocket.close(code=WSCloseCode.GOING_AWAY, message=b"qws serve stopped")

    async def on_startup(self, app: web.Application) -> None:
        if self.show_token:
            self.announce(f"qws serve: open {self.url}")
        else:
            self.announce(
                f"qws serve: open {self.public_url}/?token=TOKEN with the token kept in the"
                " keyring as qws:serve/token (a browser let in before comes in by its cookie)"
            )
        if not is_loopback(self.host) and self.ssl_context is None:
            self.announce(
                "warning: serving on a non-loopback address over plain HTTP: the token and"
                " every keystroke cross the network unencrypted (use --certfile/--keyfile)"
            )
        self.announce("Ctrl+C stops the server and its sessions")

    def serve(self, debug: bool = False) -> None:
        """Serve until Ctrl+C or SIGTERM, with TLS when given, and no access log."""
        self.debug = debug
        logging.getLogger("aiohttp.access").disabled = True
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.request_exit)
        try:
            web.run_app(
                self._make_app(),
                host=self.host,
                port=self.port,
                ssl_context=self.ssl_context,
                access_log=None,
                handle_signals=False,
                loop=loop,
                print=lambda *args: None,
            )
        except GracefulExit:
            pass
        finally:
            loop.close()
