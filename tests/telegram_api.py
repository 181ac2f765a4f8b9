"""A local HTTP server on 127.0.0.1 that answers as the Telegram Bot API does.

It speaks the real wire format (``POST /bot<token>/<method>``, form or JSON parameters,
``{"ok": ..., "result": ...}`` answers with Telegram's error codes and descriptions) for the
methods qws uses: getMe, sendMessage, getUpdates (long polling), deleteWebhook,
answerCallbackQuery, editMessageText. Like Telegram it rejects unknown tokens (401), unknown
chats (400 chat not found), malformed HTML (400 can't parse entities) and over-long texts
(400 message is too long). Tests script faults with :meth:`FakeBotApi.fail_next`.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "s", "code", "pre", "a", "tg-spoiler"}
BOT_USER = {"id": 4242, "is_bot": True, "first_name": "qws", "username": "qws_test_bot"}


class _TelegramHtml(HTMLParser):
    """Telegram's HTML subset: known tags, balanced, entities only &lt; &gt; &amp; &quot;."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.error = ""
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.error = f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f'Unexpected end tag "{tag}"'
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.error = self.error or "Unescaped angle bracket"
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.error = self.error or f"Unsupported entity &{name};"
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))


def parse_telegram_html(text: str) -> tuple[str, str]:
    """(plain text, error) as Telegram would see an HTML-mode message."""
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.stack and not parser.error:
        parser.error = f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
    return "".join(parser.text), parser.error


@dataclass
class Sent:
    message_id: int
    chat_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    at: float


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    outcome: str


@dataclass
class _State:
    token: str
    chats: set[int]
    sent: list[Sent] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    faults: deque[tuple[str, str]] = field(default_factory=deque)
    next_message_id: int = 1
    next_update_id: int = 1
    delivered_offset: int = 0


def _params(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    ctype = handler.headers.get("Content-Type", "")
    if "json" in ctype:
        return dict(json.loads(raw or b"{}"))
    out: dict[str, Any] = {}
    for key, values in parse_qs(raw.decode(), keep_blank_values=True).items():
        value = values[0]
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection we dropped on purpose


class FakeBotApi:
    """Start with ``with FakeBotApi(token, chats=[...]) as api:``; ``api.url`` is the api_url."""

    def __init__(self, token: str, chats: list[int], port: int = 0) -> None:
        self.state = _State(token, set(chats))
        self.cond = threading.Condition()
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeBotApi:
        server = _QuietServer(("127.0.0.1", self.port), self._handler_class())
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: the port refuses connections until :meth:`start` is called again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.cond:
            self.cond.notify_all()

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------------
    def fail_next(self, method: str, fault: str) -> None:
        """Fault for the next call of ``method``: 'retry_after:N', 'chat_not_found',
        'blocked', 'server_error', 'drop_after_accept' (records the message, then closes the
        connection without an answer: the acknowledgement is lost), 'hang:SECONDS' (records
        the message, answers after SECONDS)."""
        with self.cond:
            self.state.faults.append((method, fault))

    def push_message(self, chat_id: int, text: str, user_id: int | None = None) -> int:
        message: dict[str, Any] = {
            "message_id": self._new_message_id(),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": user_id or chat_id, "is_bot": False, "first_name": "u"},
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._push({"message": message})

    def push_callback(
        self, chat_id: int, data: str, message_id: int, user_id: int | None = None
    ) -> int:
        query = {
            "id": f"cb{message_id}-{time.monotonic_ns()}",
            "from": {"id": user_id or chat_id, "is_bot": False, "first_name": "u"},
            "chat_instance": str(chat_id),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "text": "confirm?",
            },
        }
        return self._push({"callback_query": query})

    def _push(self, body: dict[str, Any]) -> int:
        with self.cond:
            update_id = self.state.next_update_id
            self.state.next_update_id += 1
            self.state.updates.append({"update_id": update_id, **body})
            self.cond.notify_all()
        return update_id

    def _new_message_id(self) -> int:
        with self.cond:
            mid = self.state.next_message_id
            self.state.next_message_id += 1
        return mid

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.cond:
                if predicate(self.state):
                    return True
            time.sleep(0.01)
        with self.cond:
            return bool(predicate(self.state))

    def consumed(self, update_id: int) -> bool:
        """True once the client has confirmed ``update_id`` (asked for a later offset)."""
        with self.cond:
            return self.state.delivered_offset > update_id

    def sent_to(self, chat_id: int) -> list[Sent]:
        with self.cond:
            return [s for s in self.state.sent if s.chat_id == chat_id]

    # -- the HTTP side -----------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                api._serve(self)

            do_GET = do_POST

        return Handler

    def _reply(self, handler: BaseHTTPRequestHandler, code: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _error(self, handler: BaseHTTPRequestHandler, code: int, text: str, **params: Any) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": text}
        if params:
            body["parameters"] = params
        self._reply(handler, code, body)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        parts = path.strip("/").split("/")
        params = _params(handler)
        if len(parts) != 2 or not parts[0].startswith("bot"):
            self._error(handler, 404, "Not Found")
            return
        token, method = parts[0][3:], parts[1]
        now = time.monotonic()
        if token != self.state.token:
            self._record(method, params, now, "unauthorized")
            self._error(handler, 401, "Unauthorized")
            return
        fault = self._take_fault(method)
        self._record(method, params, now, fault or "ok")
        if fault.startswith("retry_after:"):
            seconds = int(fault.split(":")[1])
            self._error(
                handler, 429, f"Too Many Requests: retry after {seconds}", retry_after=seconds
            )
            return
        if fault == "chat_not_found":
            self._error(handler, 400, "Bad Request: chat not found")
            return
        if fault == "blocked":
            self._error(handler, 403, "Forbidden: bot was blocked by the user")
            return
        if fault == "server_error":
            self._error(handler, 500, "Internal Server Error")
            return
        route = getattr(self, f"_m_{method}", None)
        if route is None:
            self._error(handler, 404, "Not Found")
            return
        route(handler, params, fault)

    def _take_fault(self, method: str) -> str:
        with self.cond:
            for i, (m, fault) in enumerate(self.state.faults):
                if m == method:
                    del self.state.faults[i]
                    return fault
        return ""

    def _record(self, method: str, params: dict[str, Any], at: float, outcome: str) -> None:
        with self.cond:
            self.state.calls.append(Call(method, params, at, outcome))

    def _m_getMe(self, handler: BaseHTTPRequestHandler, params: dict[str, Any], fault: str) -> None:
        self._reply(handler, 200, {"ok": True, "result": BOT_USER})

    def _m_deleteWebhook(
        self, handler: BaseHTTPRequestHandler, params: dict[str, Any], fault: str
    ) -> None:
        self._reply(handler, 200, {"ok": True, "result": True})

    def _m_sendMessage(
        self, handler: BaseHTTPRequestHandler, params: dict[str, Any], fault: str
    ) -> None:
        chat_id = int(params.get("chat_id", 0))
        text = str(params.get("text", ""))
        if chat_id not in self.state.chats:
            self._error(handler, 400, "Bad Request: chat not found")
            return
        plain = text
        if params.get("parse_mode") == "HTML":
            plain, error = parse_telegram_html(text)
            if error:
                self._error(handler, 400, f"Bad Request: can't parse entities: {error}")
                return
        if not plain.strip():
            self._error(handler, 400, "Bad Request: message text is empty")
            return
        if len(plain.encode("utf-16-le")) // 2 > 4096:
            self._error(handler, 400, "Bad Request: message is too long")
            return
        mid = self._new_message_id()
        markup = params.get("reply_markup")
        with self.cond:
            self.state.sent.append(
                Sent(mid, chat_id, text, params.get("parse_mode"), markup, time.monotonic())
            )
            self.cond.notify_all()
        if fault.startswith("hang:"):
            time.sleep(float(fault.split(":")[1]))  # accepted, but the answer comes too late
        if fault == "drop_after_accept":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        result = {
            "message_id": mid,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": plain,
        }
        self._reply(handler, 200, {"ok": True, "result": result})

    def _m_getUpdates(
        self, handler: BaseHTTPRequestHandler, params: dict[str, Any], fault: str
    ) -> None:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self.cond:
            self.state.delivered_offset = max(self.state.delivered_offset, offset)
            while True:
                ready = [u for u in self.state.updates if u["update_id"] >= offset]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._server is None:
                    break
                self.cond.wait(min(remaining, 0.05))
        self._reply(handler, 200, {"ok": True, "result": ready})

    def _m_answerCallbackQuery(
        self, handler: BaseHTTPRequestHandler, params: dict[str, Any], fault: str
    ) -> None:
        with self.cond:
            self.state.answers.append(params)
        self._reply(handler, 200, {"ok": True, "result": True})

    def _m_editMessageText(
        self, handler: BaseHTTPRequestHandler, params: dict[str, Any], fault: str
    ) -> None:
        with self.cond:
            self.state.edits.append(params)
        result = {
            "message_id": int(params.get("message_id", 0)),
            "date": int(time.time()),
            "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
            "from": BOT_USER,
            "text": str(params.get("text", "")),
        }
        self._reply(handler, 200, {"ok": True, "result": result})
