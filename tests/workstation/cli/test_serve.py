"""``qws serve`` as a user runs it: a real server process, real HTTP and websocket clients, and
headless Chromium driving the workstation in the page."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from PIL import Image

from tests.browser import browser  # noqa: F401  # the fixture
from tests.keyrings import memory_keyring
from workstation.cli import CliError, main
from workstation.cli.serve import free_port, serve_token

ANSI = re.compile(r"\x1b(\[[0-9;?$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z])")

# Installed before the page's own scripts: every binary frame the app sends is decoded and kept,
# so the test reads what the browser was given to draw (xterm.js paints it on a canvas).
TAP = r"""
window.__qws = {text: "", decoder: new TextDecoder()};
const Native = window.WebSocket;
class Tapped extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        const bytes = new Uint8Array(event.data);
        window.__qws.text += window.__qws.decoder.decode(bytes, {stream: true});
      }
    });
  }
}
window.WebSocket = Tapped;
"""


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str, lines: list[str]) -> None:
        self.proc = proc
        self.url = url
        self.lines = lines
        self.base = url.split("/?", 1)[0]
        self.token = url.rsplit("token=", 1)[1]


def start_serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    env = {
        **os.environ,
        "QWS_CONFIG": str(tmp_path / "none.toml"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    cmd = [sys.executable, "-m", "workstation.cli", "--db", str(tmp_path / "qws.db"), "serve"]
    proc = subprocess.Popen(
        [*cmd, *args], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    lines: list[str] = []
    while True:
        line = proc.stdout.readline()
        if not line:
            proc.wait(30)
            raise AssertionError(f"qws serve exited {proc.returncode}: {''.join(lines)}")
        lines.append(line)
        if line.startswith("qws serve: open "):
            url = line.removeprefix("qws serve: open ").split()[0]
            break
    served = Served(proc, url, lines)
    # the URL is printed from the server's start-up hook, just before it listens
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(served.base + "/", verify=False, timeout=5)
            return served
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"qws serve never answered at {served.base}")


def stop(served: Served) -> None:
    served.proc.terminate()
    try:
        served.proc.wait(30)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.wait(30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = start_serve(tmp_path, "--port", str(free_port("127.0.0.1")), *args)
        started.append(served)
        return served

    yield start
    for served in started:
        stop(served)


def screen_text(driver: Any) -> str:
    return ANSI.sub("", driver.execute_script("return window.__qws.text"))


def wait_for_text(driver: Any, *needles: str, since: int = 0, timeout: float = 180.0) -> str:
    """The decoded stream from offset ``since`` once it holds every needle."""
    deadline = time.monotonic() + timeout
    while True:
        text = screen_text(driver)[since:]
        if all(n in text for n in needles):
            return text
        if time.monotonic() > deadline:
            missing = [n for n in needles if n not in text]
            raise AssertionError(f"the page never showed {missing}; last: {text[-2000:]!r}")
        time.sleep(0.25)


def colours(png: bytes) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 24) or ())


def test_without_the_token_every_request_is_refused(serve: Callable[..., Served]) -> None:
    served = serve()
    assert served.url.startswith("http://127.0.0.1:")
    assert len(served.token) >= 40
    for path in ("/", "/static/js/textual.js", "/ws", "/download/x", "/?token=wrong"):
        r = httpx.get(served.base + path, timeout=30)
        assert r.status_code == 401, path
        assert "textual" not in r.text.lower()
        assert "set-cookie" not in r.headers
    other = f"qws_token_{int(served.base.rsplit(':', 1)[1]) + 1}"
    r = httpx.get(served.base + "/", headers={"Cookie": f"{other}=wrong"}, timeout=30)
    assert r.status_code == 401


def test_the_token_is_swapped_for_a_cookie_and_leaves_the_url(
    serve: Callable[..., Served],
) -> None:
    served = serve()
    port = served.base.rsplit(":", 1)[1]
    with httpx.Client(base_url=served.base, timeout=30) as client:
        first = client.get(f"/?token={served.token}&fontsize=14")
        assert first.status_code == 303
        assert first.headers["location"] == "/?fontsize=14"
        cookie = first.headers["set-cookie"]
        assert f"qws_token_{port}={served.token}" in cookie
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = client.get("/?fontsize=14")
        assert page.status_code == 200
        assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page.text
        assert "googleapis" not in page.text  # the page needs no network
        assert client.get("/static/js/textual.js").status_code == 200
    assert served.token not in "".join(served.lines[1:])  # printed once, in the URL


def test_a_cross_origin_websocket_is_refused(serve: Callable[..., Served]) -> None:
    served = serve()
    port = served.base.rsplit(":", 1)[1]
    ws_url = served.base.replace("http", "ws") + "/ws"
    cookie = {"Cookie": f"qws_token_{port}={served.token}"}

    async def connect(origin: str) -> int:
        try:
            async with websockets.connect(
                ws_url, origin=origin, additional_headers=cookie, open_timeout=60
            ):
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(connect("http://evil.example")) == 403


def test_the_session_limit_answers_503_with_the_reason(serve: Callable[..., Served]) -> None:
    served = serve("--max-sessions", "1")
    port = served.base.rsplit(":", 1)[1]
    ws_url = served.base.replace("http", "ws") + "/ws?width=100&height=30"
    cookie = {"Cookie": f"qws_token_{port}={served.token}"}

    async def second_page_while_one_session_is_open() -> httpx.Response:
        async with websockets.connect(ws_url, additional_headers=cookie, open_timeout=60) as ws:
            await asyncio.wait_for(ws.recv(), 180)  # the session's app process is drawing
            async with httpx.AsyncClient(timeout=30) as client:
                return await client.get(served.base + "/", headers=cookie)

    refused = asyncio.run(second_page_while_one_session_is_open())
    assert refused.status_code == 503
    assert "--max-sessions 1" in refused.text
    deadline = time.monotonic() + 60
    while httpx.get(served.base + "/", headers=cookie, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the session was never released"
        time.sleep(0.2)


def test_remote_binding_needs_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_a_bad_certificate_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cert.pem"
    bad.write_text("not a certificate\n")
    assert main(["--db", str(tmp_path / "q.db"), "serve", "--certfile", str(bad)]) == 2
    assert f"cannot load the TLS certificate {bad}" in capsys.readouterr().err
    assert main(["--db", str(tmp_path / "q.db"), "serve", "--keyfile", str(bad)]) == 2
    assert "--keyfile needs --certfile" in capsys.readouterr().err


def self_signed(tmp_path: Path) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "cert.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_tls_and_a_remote_address_warn_only_without_tls(tmp_path: Path) -> None:
    plain = start_serve(tmp_path, "--host", "0.0.0.0", "--allow-remote", "--port", "0")
    try:
        assert plain.proc.stdout is not None
        warning = plain.proc.stdout.readline()  # the line after the URL
        assert "plain HTTP" in warning
    finally:
        stop(plain)
    cert = self_signed(tmp_path)
    port = free_port("127.0.0.1")
    tls = start_serve(tmp_path, "--port", str(port), "--certfile", str(cert))
    try:
        assert tls.url.startswith(f"https://127.0.0.1:{port}/?token=")
        with httpx.Client(base_url=tls.base, verify=False, timeout=30) as client:
            assert client.get("/").status_code == 401
            first = client.get(f"/?token={tls.token}")
            assert first.status_code == 303
            assert "Secure" in first.headers["set-cookie"]
            page = client.get("/")
            assert f'data-session-websocket-url="wss://127.0.0.1:{port}/ws"' in page.text
    finally:
        stop(tls)


def test_the_workstation_in_chromium(
    serve: Callable[..., Served],
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    served = serve()
    browser.get(served.base + "/")
    assert "401" in browser.find_element(By.TAG_NAME, "body").text
    browser.get_log("browser")  # that refusal's own log line

    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TAP})
    browser.get(served.url)
    assert browser.current_url == served.base + "/"  # the token left the address bar
    wait_for_text(browser, "Quantum Workstation", "Symbol", "Last", "BTC/USDT · 1m", "ETH/USDT")
    wait_for_text(browser, "dominant", "feed demo: live")  # a spectrum, and quotes flowing
    shots = Path(os.environ.get("QWS_SCREENSHOTS") or tmp_path)  # the README's come from here
    first = browser.get_screenshot_as_png()
    (shots / "serve.png").write_bytes(first)
    assert colours(first) > 50  # a drawn screen, not a blank page

    terminal = browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
    mark = len(screen_text(browser))
    ActionChains(browser).send_keys_to_element(terminal, Keys.ARROW_DOWN).perform()
    wait_for_text(browser, "ETH/USDT · 1m", since=mark)  # the chart follows the selection

    mark = len(screen_text(browser))
    ActionChains(browser).send_keys_to_element(terminal, "b").perform()
    wait_for_text(browser, "Quantity", "Stop loss", "Take profit", since=mark)
    ticket = browser.get_screenshot_as_png()
    (shots / "serve-ticket.png").write_bytes(ticket)
    assert ticket != first
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def processes_using(path: Path, but: int) -> list[int]:
    """The processes other than ``but`` whose command line names ``path``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(path) in cmdline and int(proc.name) != but:
                found.append(int(proc.name))
    return found


def test_stopping_the_server_quits_every_session(tmp_path: Path) -> None:
    served = start_serve(tmp_path, "--port", str(free_port("127.0.0.1")))
    port = served.base.rsplit(":", 1)[1]
    ws_url = served.base.replace("http", "ws") + "/ws?width=100&height=30"
    cookie = {"Cookie": f"qws_token_{port}={served.token}"}

    async def session_across_a_stop() -> list[int]:
        async with websockets.connect(ws_url, additional_headers=cookie, open_timeout=60) as ws:
            await asyncio.wait_for(ws.recv(), 180)
            apps = processes_using(tmp_path / "qws.db", served.proc.pid)
            served.proc.terminate()
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 120)
            except websockets.ConnectionClosed:
                return apps  # the app quit, and its session with it

    apps = asyncio.run(session_across_a_stop())
    assert apps, "the session had no app process"
    assert served.proc.wait(60) == 0
    assert not processes_using(tmp_path / "qws.db", served.proc.pid)


def test_a_kept_token_is_not_printed_and_keeps_browsers_in(tmp_path: Path) -> None:
    kept = "kept-token-0123456789-abcdefghijklmnopqrstuvwxyz"
    port = free_port("127.0.0.1")
    served = start_serve(
        tmp_path, "--port", str(port), "--keep-token", env={"QWS_SERVE_TOKEN": kept}
    )
    try:
        assert kept not in "".join(served.lines)
        assert "qws:serve/token" in served.lines[-1]
        with httpx.Client(base_url=served.base, timeout=30) as client:
            assert client.get("/?token=wrong").status_code == 401
            first = client.get(f"/?token={kept}")
            assert first.status_code == 303
            assert "Max-Age=2592000" in first.headers["set-cookie"]  # 30 days
            assert client.get("/").status_code == 200
    finally:
        stop(served)


def test_a_fresh_token_at_every_start_is_printed() -> None:
    first, shown = serve_token(keep=False, rotate=False)
    second, _ = serve_token(keep=False, rotate=False)
    assert shown and first != second


def test_a_kept_token_is_made_once_printed_once_and_replaced_on_demand(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with memory_keyring() as ring:
        token, shown = serve_token(keep=True, rotate=False)
        assert shown
        assert ring.data[("qws:serve", "token")] == token
        assert "stored in the keyring as qws:serve/token" in capsys.readouterr().out
        again, shown = serve_token(keep=True, rotate=False)
        assert (again, shown) == (token, False)
        assert capsys.readouterr().out == ""
        new, shown = serve_token(keep=True, rotate=True)
        assert shown and new != token
        assert ring.data[("qws:serve", "token")] == new


def test_no_keyring_to_keep_it_in_says_what_to_do() -> None:
    with pytest.raises(CliError, match="QWS_SERVE_TOKEN"):
        serve_token(keep=True, rotate=False)  # the tests' keyring is the null one


def test_a_new_token_needs_keep_token() -> None:
    with pytest.raises(CliError, match="goes with --keep-token"):
        serve_token(keep=False, rotate=True)
